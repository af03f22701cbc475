"""What the README tells a new user works as written: its commands, headers and examples."""

from __future__ import annotations

import re

from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from config import MIGRATIONS_DIR
from tests.support.server import ROOT

README = (ROOT / "README.md").read_text()


def code_spans(text: str) -> list[str]:
    """The README's code: the lines of fenced blocks and the inline `spans`."""
    spans = []
    for i, block in enumerate(re.split(r"^```.*$", text, flags=re.M)):
        if i % 2:  # inside a fence
            spans.extend(block.splitlines())
        else:
            spans.extend(re.findall(r"`([^`\n]+)`", block))
    return spans


def test_every_flask_command_in_the_readme_names_the_venvs_flask():
    # A fresh clone has no flask on PATH: `make` puts it in .venv/bin (or `aurea` once installed).
    commands = [span for span in code_spans(README) if re.search(r"\bflask (--app|aurea|db)", span)]
    assert commands
    bare = [span for span in commands if re.search(r"(?<![/\w.-])flask (--app|aurea|db)", span)]
    assert bare == []


def test_the_history_total_header_the_readme_names_is_the_one_sent_and_documented(client):
    (row,) = [
        line for line in README.splitlines() if line.startswith("| `GET /router/weights/history`")
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


def test_the_readme_readyz_examples_name_the_head_revision():
    scripts = ScriptDirectory.from_config(
        AlembicConfig(attributes={}, config_args={"script_location": str(MIGRATIONS_DIR)})
    )
    head = ", ".join(sorted(scripts.get_heads()))
    section = README[README.index("- `GET /readyz`") :][:1000]
    examples = re.findall(r'"revision": "([^"]+)"', section) + re.findall(
        r"head: ([^)]+)\)", section
    )
    assert len(examples) == 2
    assert set(examples) == {head}
