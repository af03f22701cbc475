"""API documentation is served by the app itself and works with no internet."""

import re

import pytest

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)
ASSET = re.compile(r"""(?:src|href)\s*=\s*["'](/[^"']+)["']""")


def test_openapi_document_describes_every_seed_endpoint(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    operations = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert operations >= {
        ("/", "get"),
        ("/router/select", "get"),
        ("/router/record", "post"),
        ("/router/metrics", "get"),
        ("/router/optimize", "post"),
        ("/router/weights", "get"),
        ("/router/weights", "put"),
    }


def test_openapi_request_schema_is_the_validating_schema(client):
    spec = client.get("/openapi.json").get_json()
    record = spec["components"]["schemas"]["RecordRequest"]
    assert set(record["required"]) == {"model", "latency", "success"}
    # and a cost, or token counts to price it from
    assert record["anyOf"] == [
        {"required": ["cost"]},
        {"required": ["input_tokens"]},
        {"required": ["output_tokens"]},
    ]
    assert record["properties"]["input_tokens"]["minimum"] == 0
    assert record["properties"]["model"]["maxLength"] == 128
    assert record["properties"]["latency"]["minimum"] == 0
    weights = spec["components"]["schemas"]["Weights"]
    assert weights["properties"]["cost_weight"]["maximum"] == 1


def test_openapi_document_is_identical_across_app_instances(app, database_url):
    from tests.conftest import make_app

    other = make_app(database_url)
    assert (
        other.test_client().get("/openapi.json").get_json()
        == app.test_client().get("/openapi.json").get_json()
    )


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_loads_only_local_assets(client, page):
    response = client.get(page)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert not EXTERNAL.search(html), "docs page must not load anything from the internet"
    assets = ASSET.findall(html)
    assert assets, "expected the page to load its scripts from this server"
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
