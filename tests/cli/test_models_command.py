"""`flask aurea models list | set-price`."""

import pytest


def listed(runner) -> dict[str, list[str]]:
    result = runner.invoke(args=["aurea", "models", "list"])
    assert result.exit_code == 0, result.output
    header, *rows = result.output.strip().splitlines()
    assert header.split("\t")[0] == "name"
    return {row.split("\t")[0]: row.split("\t")[1:] for row in rows}


def test_list_shows_each_model_with_its_state_and_prices(runner, client):
    client.patch("/router/models/llama-2-70b", json={"enabled": False})
    models = listed(runner)
    assert sorted(models) == [
        "claude-3-opus",
        "claude-3-sonnet",
        "gpt-3.5-turbo",
        "gpt-4",
        "llama-2-70b",
    ]
    assert models["gpt-4"] == ["active", "-", "-"]
    assert models["llama-2-70b"][0] == "disabled"


def test_set_price_sets_what_is_given_and_none_clears_it(runner, client):
    result = runner.invoke(args=["aurea", "models", "set-price", "gpt-4", "--input", "30"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["aurea", "models", "set-price", "gpt-4", "--output", "60"])
    assert result.exit_code == 0, result.output
    assert listed(runner)["gpt-4"] == ["active", "30", "60"]
    entry = [m for m in client.get("/router/models").get_json() if m["name"] == "gpt-4"][0]
    assert entry["input_usd_per_million_tokens"] == 30.0

    runner.invoke(args=["aurea", "models", "set-price", "gpt-4", "--input", "none"])
    assert listed(runner)["gpt-4"] == ["active", "-", "60"]


def test_prices_set_from_the_cli_price_token_records(runner, client):
    runner.invoke(args=["aurea", "models", "set-price", "gpt-4", "--input", "2", "--output", "8"])
    body = {"model": "gpt-4", "latency": 0.3, "success": True}
    client.post("/router/record", json={**body, "input_tokens": 500_000, "output_tokens": 125_000})
    metrics = client.get("/router/metrics").get_json()["gpt-4"]
    assert metrics["average_cost"] == pytest.approx(2.0)


def test_set_price_refuses_an_unknown_model_unless_told_to_register_it(runner):
    refused = runner.invoke(args=["aurea", "models", "set-price", "new-model", "--input", "1"])
    assert refused.exit_code != 0
    assert "--register" in refused.output
    assert "new-model" not in listed(runner)
    made = runner.invoke(
        args=["aurea", "models", "set-price", "new-model", "--output", "4", "--register"]
    )
    assert made.exit_code == 0, made.output
    assert listed(runner)["new-model"] == ["active", "-", "4"]


@pytest.mark.parametrize(
    "args",
    [
        ["gpt-4", "--input", "-1"],
        ["gpt-4", "--input", "inf"],
        ["gpt-4", "--output", "nan"],
        ["gpt-4", "--output", "cheap"],
        ["gpt-4"],  # nothing to set
        [" spaced ", "--input", "1", "--register"],
    ],
)
def test_set_price_refuses_bad_prices_and_names(runner, args):
    result = runner.invoke(args=["aurea", "models", "set-price", *args])
    assert result.exit_code == 2, result.output
    assert listed(runner)["gpt-4"] == ["active", "-", "-"]
    assert " spaced " not in listed(runner)
