"""The client is its own package (clients/python): it installs and imports without the server."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "python"
SERVER_MODULES = ("flask", "sqlalchemy", "werkzeug", "marshmallow", "psycopg", "alembic", "aurea")

# Imports the client's modules, then prints what got imported and whether Flask can be found.
PROBE = """
import importlib.util, json, sys
import aurea_client, aurea_client.client, aurea_client.reporter
reporter = aurea_client.BufferedReporter("http://127.0.0.1:9", flush_interval=60)
reporter.close(0)
try:
    flask_findable = importlib.util.find_spec("flask") is not None
except ModuleNotFoundError:
    flask_findable = False
print(json.dumps({
    "file": aurea_client.__file__,
    "loaded": sorted({name.split(".")[0] for name in sys.modules}),
    "flask_findable": flask_findable,
}))
"""

# Makes the server's libraries unimportable, as if they were not installed.
BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Absent())
"""


def run_probe(python: str | Path, prelude: str = "") -> dict:
    # -I: no PYTHONPATH, no current directory, no user site: only what is installed.
    done = subprocess.run(
        [str(python), "-I", "-c", prelude + PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_old_import_path_re_exports_the_client_package():
    import aurea_client

    from aurea import client as old

    assert old.AureaClient is aurea_client.AureaClient
    assert old.BufferedReporter is aurea_client.BufferedReporter
    assert old.ValidationError is aurea_client.ValidationError
    assert old.retry_after_seconds is aurea_client.retry_after_seconds


def test_importing_the_client_loads_no_server_library():
    result = run_probe(sys.executable)
    assert result["file"].startswith(str(PACKAGE))
    assert not set(result["loaded"]) & set(SERVER_MODULES), result["loaded"]
    assert "litellm" not in result["loaded"]  # only aurea_client.litellm imports it


def test_the_client_imports_when_the_server_libraries_are_absent():
    result = run_probe(sys.executable, BLOCKER.format(blocked=set(SERVER_MODULES)))
    assert not result["flask_findable"]
    assert "requests" in result["loaded"]


def requests_closure() -> list[importlib.metadata.Distribution]:
    """requests and what it needs at run time, as installed here."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    pending = ["requests"]
    while pending:
        name = re.split(r"[\s\[<>=!~;(]", pending.pop(), maxsplit=1)[0].lower()
        if name in seen:
            continue
        dist = importlib.metadata.distribution(name)
        seen[name] = dist
        pending += [r for r in dist.requires or [] if "extra ==" not in r]
    return list(seen.values())


@pytest.mark.slow
def test_the_client_package_installs_into_a_virtualenv_without_flask(tmp_path):
    """pip install ./clients/python into a new virtualenv (pip fetches the build backend, as
    for any install from source); requests comes from this environment (only its files,
    linked), and the server's libraries are not there at all."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(PACKAGE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    site = Path(
        subprocess.check_output(
            [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            text=True,
        ).strip()
    )
    linked = tmp_path / "requests-only"
    linked.mkdir()
    for dist in requests_closure():
        for top in {Path(str(f)).parts[0] for f in dist.files or []}:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (linked / top).exists():
                (linked / top).symlink_to(source)
    (site / "requests-only.pth").write_text(f"{linked}\n")

    result = run_probe(python)
    assert result["file"].startswith(str(site))  # the installed copy, not the source tree
    assert not result["flask_findable"]
    assert not set(result["loaded"]) & set(SERVER_MODULES)
    requires = subprocess.check_output(
        [
            str(python),
            "-I",
            "-c",
            "import importlib.metadata as m; print(m.requires('aurea-client'))",
        ],
        text=True,
    )
    assert "requests" in requires and "flask" not in requires.lower()
