"""scripts/screenshot_dashboard.py writes outside the tracked docs unless told otherwise."""

import subprocess
from pathlib import Path

from scripts.screenshot_dashboard import parse_args
from tests.support.server import ROOT


def tracked(path: Path) -> bool:
    listed = subprocess.run(
        ["git", "ls-files", "--error-unmatch", str(path)], cwd=ROOT, capture_output=True
    )
    return listed.returncode == 0


def ignored(path: Path) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT).returncode == 0


def test_by_default_the_screenshot_goes_to_an_ignored_path_not_over_docs():
    out = parse_args([]).out
    assert out == Path("instance/dashboard.png")
    assert not tracked(out) and ignored(out)
    assert tracked(Path("docs/dashboard.png"))  # the copy the default must not overwrite


def test_out_writes_where_asked():
    assert parse_args(["--out", "docs/dashboard.png"]).out == Path("docs/dashboard.png")
