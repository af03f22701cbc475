"""pyproject.toml's distribution: the packages it ships and the versions it pins."""

from __future__ import annotations

import re
import tomllib

from tests.support.server import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[3]
    return pins


def test_every_dependency_of_the_distribution_is_pinned_as_in_requirements_txt():
    pins = requirement_pins()
    declared = PROJECT["project"]["dependencies"] + [
        dep for extra in PROJECT["project"]["optional-dependencies"].values() for dep in extra
    ]
    for dependency in declared:
        name, _, version = re.sub(r"\[[^\]]*\]", "", dependency).partition("==")
        assert pins.get(re.sub(r"[-_.]+", "-", name).lower()) == version, dependency


def test_every_package_under_aurea_is_shipped():
    listed = set(PROJECT["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "aurea").rglob("__init__.py")
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_the_migrations_and_scenarios_shipped_are_the_checkouts_folders():
    mapped = PROJECT["tool"]["setuptools"]["package-dir"]
    assert (ROOT / mapped["aurea.migrations"] / "env.py").is_file()
    assert any((ROOT / mapped["aurea.scenarios"]).glob("*.json"))


def test_the_console_script_is_the_flask_aurea_group():
    from aurea.cli import aurea_cli, main

    module, _, function = PROJECT["project"]["scripts"]["aurea"].partition(":")
    assert (module, function) == (main.__module__, main.__name__)
    assert {"serve", "migrate", "optimize", "simulate", "tokens", "prune"} <= set(
        aurea_cli.commands
    )
