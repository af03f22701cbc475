"""`make bench` replaces the latest tables in bench/results.md and keeps the history under them."""

from bench.run import with_history

OLD = """# Benchmark results

old tables

## Why the last run moved (2026-12-07)

notes

## How these numbers are made

method
"""


def test_a_bench_run_replaces_the_latest_tables_and_keeps_every_history_section():
    new = "# Benchmark results\n\nnew tables\n"
    out = with_history(new, OLD)
    assert out.startswith(new + "\n## Why the last run moved (2026-12-07)\n")
    assert "old tables" not in out
    assert out.endswith("## How these numbers are made\n\nmethod\n")


def test_a_first_bench_run_writes_only_its_tables():
    assert with_history("# Benchmark results\n\nnew\n", "") == "# Benchmark results\n\nnew\n"
    assert with_history("# Benchmark results\n\nnew\n", "# Benchmark results\n\nold\n") == (
        "# Benchmark results\n\nnew\n"
    )
