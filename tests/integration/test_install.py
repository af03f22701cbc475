"""``pip install .`` (and ``-e .``) of a copy of the checkout gives a working ``aurea`` command.

Each test makes a fresh virtualenv (no --system-site-packages) and installs the copy into it
with --no-deps --no-build-isolation: offline and in seconds. The dependencies, pip and
setuptools are the ones requirements.txt installed in the running venv, made visible to the
new one by a .pth file placed after its own site-packages, so the ``aurea`` package imported
is the one pip installed, not the checkout's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import requests

from tests.support.server import ROOT, free_port, wait_until_serving

pytestmark = pytest.mark.slow

# Not part of a fresh clone.
LEFT_OUT = shutil.ignore_patterns(
    ".git", ".venv", "venv", "instance", "build", "*.egg-info", "__pycache__", ".*_cache", "bench"
)


def site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.check_output([str(python), "-c", code], text=True).strip())


def make_venv(tmp_path: Path, editable: bool) -> Path:
    """A new venv with a copy of the checkout installed in it; its bin directory."""
    source = tmp_path / "aurea-src"
    shutil.copytree(ROOT, source, ignore=LEFT_OUT)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    current = Path(sysconfig.get_paths()["purelib"])
    (site_packages(python) / "zz-running-venv.pth").write_text(f"{current}\n")
    install = [str(python), "-m", "pip", "install", "--quiet", "--no-deps"]
    install += ["--no-build-isolation", "--no-index"]
    install += ["-e", str(source)] if editable else [str(source)]
    subprocess.run(install, check=True, cwd=tmp_path, capture_output=True)
    return venv / "bin"


def aurea(bin_dir: Path, *args: str, cwd: Path, env: dict) -> str:
    result = subprocess.run(
        [str(bin_dir / "aurea"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def clean_env(**variables: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUREA_", "PYTHON"))}
    return {**env, **variables}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    return make_venv(tmp_path_factory.mktemp("install"), editable=False)


def test_the_installed_aurea_command_lists_every_command(installed, tmp_path):
    out = aurea(installed, "--help", cwd=tmp_path, env=clean_env())
    for command in ("serve", "migrate", "optimize", "simulate", "tokens", "prune"):
        assert f"  {command} " in out


def test_the_installed_package_is_imported_from_the_venv_with_its_migrations(installed, tmp_path):
    code = "import aurea.settings as s; print(s.PACKAGE_DIR); print(s.MIGRATIONS_DIR)"
    python = installed / "python"
    lines = subprocess.check_output([str(python), "-c", code], cwd=tmp_path, text=True).split()
    package, migrations = (Path(line) for line in lines)
    assert package.is_relative_to(installed.parent) and not package.is_relative_to(ROOT)
    assert (migrations / "env.py").is_file() and any((migrations / "versions").glob("0001_*.py"))


def test_aurea_migrate_then_optimize_on_a_relative_sqlite_url(installed, tmp_path):
    env = clean_env(AUREA_DATABASE_URL="sqlite:///data/aurea.db")
    (tmp_path / "data").mkdir()
    aurea(installed, "migrate", cwd=tmp_path, env=env)
    assert (tmp_path / "data" / "aurea.db").is_file()  # from the current directory
    out = aurea(installed, "optimize", "--dry-run", cwd=tmp_path, env=env)
    assert "status:" in out and "dry run:   nothing was changed" in out
    out = aurea(
        installed, "tokens", "create", "--name", "ops", "--role", "admin", cwd=tmp_path, env=env
    )
    assert out.startswith("aurea_")


def test_aurea_simulate_finds_the_shipped_scenarios(installed, tmp_path):
    args = ("simulate", "steady", "--policy", "seed", "--hours", "1", "--requests-per-hour", "5")
    assert "steady" in aurea(installed, *args, cwd=tmp_path, env=clean_env())


def test_aurea_serve_runs_gunicorn_on_port_and_names_the_address(installed, tmp_path):
    database = f"sqlite:///{tmp_path / 'aurea.db'}"
    env = clean_env(AUREA_DATABASE_URL=database)
    aurea(installed, "migrate", cwd=tmp_path, env=env)
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(installed / "aurea"), "serve", "--workers", "1"],
            cwd=tmp_path,
            env={**env, "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_until_serving(base_url, process, log_path)
            assert requests.get(base_url + "/readyz", timeout=5).status_code == 200
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
    assert f"Listening at: http://127.0.0.1:{port} (" in log_path.read_text()


def test_an_editable_install_migrates_from_the_checkouts_own_migrations(tmp_path):
    bin_dir = make_venv(tmp_path, editable=True)
    env = clean_env(AUREA_DATABASE_URL=f"sqlite:///{tmp_path / 'aurea.db'}")
    out = aurea(bin_dir, "migrate", cwd=tmp_path, env=env)
    assert "Running upgrade" in out
    code = "import aurea.settings as s; print(s.MIGRATIONS_DIR)"
    python = str(bin_dir / "python")
    migrations = subprocess.check_output([python, "-c", code], cwd=tmp_path, text=True).strip()
    assert Path(migrations) == tmp_path / "aurea-src" / "migrations"
