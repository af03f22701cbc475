"""The docs hold together: links resolve, and every setting and command is documented."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest

from aurea.cli import aurea_cli
from tests.support.server import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and ![alt](target); not inside code.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
SETTINGS_SOURCES = ("aurea/settings.py", "config.py", "aurea/gunicorn_conf.py")


def prose(text: str) -> str:
    """``text`` without fenced blocks and inline code, where brackets are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    heading = re.sub(r"`|\*\*|\*", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found, seen = set(), {}
    for line in prose(page.read_text()).splitlines():
        match = re.match(r"#{1,6} (.+)", line)
        if match:
            base = slug(match[1])
            n = seen.get(base, 0)
            found.add(base if n == 0 else f"{base}-{n}")
            seen[base] = n + 1
    return found


def links(page: Path) -> list[str]:
    return LINK.findall(prose(page.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no such heading")
    assert broken == []


def test_the_link_check_sees_links_and_anchors():
    readme = ROOT / "README.md"
    assert any(target.startswith("docs/") for target in links(readme))
    assert "health-checks" in anchors(ROOT / "docs" / "http-api.md")


def env_names(source: str) -> set[str]:
    """Names of the environment variables a module reads: os.environ.get("X", ...) and the
    settings' _float_env("X", ...) helpers."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        first = node.args[0]
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        reads_env = (name == "get" and "environ" in ast.unparse(func)) or name.endswith("_env")
        if reads_env and isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
    return names


def test_every_setting_is_in_the_settings_page():
    names = set().union(*(env_names((ROOT / path).read_text()) for path in SETTINGS_SOURCES))
    assert {"AUREA_DATABASE_URL", "AUREA_MAX_BODY_BYTES", "PORT"} <= names
    page = (ROOT / "docs" / "settings.md").read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", page))
    assert sorted(names - documented) == []


def commands(group: click.Group, prefix: str = "aurea") -> list[str]:
    found = []
    for name, command in group.commands.items():
        found.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            found.extend(commands(command, f"{prefix} {name}"))
    return found


def test_every_command_is_in_the_cli_page():
    registered = commands(aurea_cli)
    assert "aurea tokens create" in registered and "aurea simulate" in registered
    page = (ROOT / "docs" / "cli.md").read_text()
    spans = re.findall(r"`([^`\n]+)`", page)
    missing = [
        c for c in registered if not any(re.match(re.escape(c) + r"(\s|$)", s) for s in spans)
    ]
    assert missing == []
