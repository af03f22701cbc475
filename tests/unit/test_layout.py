"""The package's layout: imports point one way, pure code stays pure, modules stay small.

Read from the source with ``ast`` (nothing is imported), imports inside functions included:
an import moved into a function to dodge a cycle is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "aurea"
MAX_LINES = 400
PURE = "aurea.domain"
NOT_IN_PURE = ("flask", "sqlalchemy", "flask_sqlalchemy", "psycopg", "aurea.services", "aurea.api")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def source_module(node: ast.ImportFrom, path: Path, name: str) -> str:
    """The absolute module a ``from ... import`` in module ``name`` (at ``path``) reads."""
    base = node.module or ""
    if not node.level:
        return base
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*anchor, base] if base else anchor)


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The names ``path`` imports (``from a import b`` counts as a.b when a.b is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = source_module(node, path, name)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known)
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imported(path, name, known) & known - {name} for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle_and_nothing_else():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_the_package_imports_itself_back_through_others():
    # A package importing its own submodules (aurea.api -> aurea.api.router) is not a cycle
    # unless a submodule imports the package back.
    assert cycles(import_graph()) == []


def test_the_domain_imports_no_web_framework_database_or_outer_layer():
    graph = import_graph()
    found = modules()
    for name in (n for n in found if n.startswith(PURE)):
        every = imported(found[name], name, set())
        bad = sorted(
            m for m in every if m.split(".")[0] in NOT_IN_PURE or m.startswith(NOT_IN_PURE)
        )
        assert not bad, f"{name} imports {bad}"
        outside = {m for m in graph[name] if not m.startswith("aurea.domain")} - {"aurea"}
        assert not outside, f"{name} imports {sorted(outside)}"


SERVICE_CLOCK_NAMES = {"now_in", "utcnow", "FrozenClock"}


def test_services_take_plain_arguments_and_read_no_flask_globals():
    # A use case gets its session, settings and shared state in a Context
    # (aurea.services.context), so it runs from a view, the CLI, the simulator or a test.
    found = modules()
    for name in (n for n in found if n.startswith("aurea.services")):
        every = imported(found[name], name, set())
        bad = sorted(
            m
            for m in every
            if m.split(".")[0] in ("flask", "flask_sqlalchemy") or m == "aurea.storage.extensions"
        )
        assert not bad, f"{name} imports {bad}"
        source = found[name].read_text()
        assert "current_app" not in source and "db.session" not in source.replace(
            "flask-sqlalchemy's db.session", ""
        ), name
        # aurea.clock.now reads the running app's AUREA_CLOCK: services ask the Context. Of
        # aurea.clock a service may import only these names (never the module itself).
        app_clock = [
            node.lineno
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom)
            and source_module(node, found[name], name) == "aurea.clock"
            and any(alias.name not in SERVICE_CLOCK_NAMES for alias in node.names)
            or isinstance(node, ast.ImportFrom)
            and source_module(node, found[name], name) == "aurea"
            and any(alias.name == "clock" for alias in node.names)
            or isinstance(node, ast.Import)
            and any(alias.name == "aurea.clock" for alias in node.names)
        ]
        assert not app_clock, f"{name} reaches the app's clock (aurea.clock) at {app_clock}"


@pytest.mark.parametrize("name", sorted(modules()))
def test_a_module_over_400_lines_says_why_at_its_top(name):
    path = modules()[name]
    lines = len(path.read_text().splitlines())
    if lines <= MAX_LINES:
        return
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    first_paragraph = " ".join(docstring.split("\n\n")[0].split()).lower()
    assert "over 400 lines because" in first_paragraph, f"{name}: {lines} lines"
