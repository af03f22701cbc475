"""What the README and the docs tell a new user works as written: commands, headers, examples."""

from __future__ import annotations

import re

import pytest
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from config import MIGRATIONS_DIR
from tests.support.server import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# decisions.md names the command (`flask aurea optimize`) in prose, not as a line to run; its
# content belongs to another page owner.
COMMAND_PAGES = [page for page in PAGES if page.name != "decisions.md"]
HTTP_API = (ROOT / "docs" / "http-api.md").read_text()


def code_spans(text: str) -> list[str]:
    """A page's code: the lines of fenced blocks and the inline `spans`."""
    spans = []
    for i, block in enumerate(re.split(r"^```.*$", text, flags=re.M)):
        if i % 2:  # inside a fence
            spans.extend(block.splitlines())
        else:
            spans.extend(re.findall(r"`([^`\n]+)`", block))
    return spans


def test_the_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    fence = re.search(r"```bash\n(.*?)```", text, re.S)[1]
    assert [line.split()[:2] for line in fence.splitlines()] == [["make", "run"], ["make", "test"]]


@pytest.mark.parametrize("page", COMMAND_PAGES, ids=lambda p: p.name)
def test_every_flask_command_names_the_venvs_flask(page):
    # A fresh clone has no flask on PATH: `make` puts it in .venv/bin (or `aurea` once installed).
    spans = code_spans(page.read_text())
    commands = [span for span in spans if re.search(r"\bflask (--app|aurea|db)", span)]
    bare = [span for span in commands if re.search(r"(?<![/\w.-])flask (--app|aurea|db)", span)]
    assert bare == []


def test_the_history_total_header_the_api_page_names_is_the_one_sent_and_documented(client):
    (row,) = [
        line for line in HTTP_API.splitlines() if line.startswith("| `GET /router/weights/history`")
    ]
    (header,) = re.findall(r"`(X-[\w-]+)` header", row)
    for weights in ((0.5, 0.3, 0.2), (0.2, 0.5, 0.3)):
        body = dict(zip(("cost_weight", "quality_weight", "latency_weight"), weights, strict=True))
        assert client.put("/router/weights", json=body).status_code == 200
    response = client.get("/router/weights/history?page=1&page_size=1")
    assert response.status_code == 200 and len(response.get_json()) == 1
    assert response.headers[header] == str(3)  # the seeded row and the two changes
    spec = client.get("/openapi.json").get_json()
    documented = spec["paths"]["/router/weights/history"]["get"]["responses"]["200"]["headers"]
    assert list(documented) == [header]


def test_the_readyz_examples_name_the_head_revision():
    scripts = ScriptDirectory.from_config(
        AlembicConfig(attributes={}, config_args={"script_location": str(MIGRATIONS_DIR)})
    )
    head = ", ".join(sorted(scripts.get_heads()))
    section = HTTP_API[HTTP_API.index("- `GET /readyz`") :][:1000]
    examples = re.findall(r'"revision": "([^"]+)"', section) + re.findall(
        r"head: ([^)]+)\)", section
    )
    assert len(examples) == 2
    assert set(examples) == {head}
