"""Sweep Aurea settings over every shipped scenario and several seeds; print total regret.

The evidence behind the defaults in README "Tuning the defaults". Each cell is one
``aurea`` policy run (the real service on a throwaway SQLite, as ``flask aurea simulate``),
so a row is 6 scenarios x len(seeds) runs:

    .venv/bin/python -m scripts.tune_defaults --grid min_requests --seeds 1 2 3
    .venv/bin/python -m scripts.tune_defaults --set AUREA_WINDOW=24h --set AUREA_MIN_REQUESTS=5

Grids are named below; ``--set`` runs a single row. ``--jobs`` runs that many in parallel.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SCENARIOS = ("steady", "outage", "price_cut", "new_model", "latency_drift", "task_mix")

# Each grid: the settings that vary, every combination of their values.
GRIDS = {
    "warmup": {"AUREA_WARMUP": ["off", "listed"]},
    "min_requests": {"AUREA_MIN_REQUESTS": [1, 3, 5, 10, 20, 40]},
    "window": {"AUREA_WINDOW": ["24h", "7d", "30d"]},
    "exploration": {"AUREA_EXPLORATION": [0.0, 0.02, 0.05, 0.1]},
    # with --scenario busy_outage: the only shipped scenario busy enough to trip a cooldown
    "cooldown": {
        "AUREA_COOLDOWN_FAILURE_RATE": [0.3, 0.5],
        "AUREA_COOLDOWN_SECONDS": [60, 300, 1800],
    },
    "cooldown_sample": {
        "AUREA_COOLDOWN_MIN_REQUESTS": [3, 5, 20],
        "AUREA_COOLDOWN_LOOKBACK_SECONDS": [60, 300],
    },
    "cooldown_combined": {
        "AUREA_COOLDOWN_FAILURE_RATE": [0.3, 0.5],
        "AUREA_COOLDOWN_SECONDS": [300, 1800],
        "AUREA_COOLDOWN_LOOKBACK_SECONDS": [60],
    },
    # with --policy aurea-weighted-optimize: the weekly optimize's floor and step
    "optimize": {"AUREA_MIN_WEIGHT": [0.05, 0.1, 0.2], "AUREA_MAX_WEIGHT_STEP": [1.0, 0.1]},
    # the utility mode's estimators (docs/decisions.md, "Estimates with uncertainty")
    "half_life": {"AUREA_SUCCESS_HALF_LIFE_HOURS": [12, 16, 24, 48]},
    "incident": {"AUREA_INCIDENT_HALF_LIFE_HOURS": [1, 2, 4, 8, 24]},
    "incident_traffic": {"AUREA_INCIDENT_REQUEST_HOURS": [0, 300, 600, 2400]},
    "memory": {"AUREA_MEMORY": [0, 25, 50, 100]},
}


def rows(grid: dict) -> list[dict]:
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def one_run(job: tuple) -> tuple:
    """Regret of the ``aurea`` (or given) policy on one scenario and seed with ``settings``."""
    scenario_name, seed, settings, policy, rph = job
    from aurea.simulation.report import summarize
    from aurea.simulation.runner import simulate
    from aurea.simulation.scenario import load_scenario, rescale, resolve_scenario

    scenario = rescale(load_scenario(resolve_scenario(scenario_name)), requests_per_hour=rph)
    steps, runs = simulate(scenario, (policy,), seed, settings)
    summary = summarize(scenario, steps, runs[0])
    return scenario_name, seed, summary["cumulative_regret"], summary.get("incident_share")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(GRIDS))
    parser.add_argument("--set", dest="settings", action="append", default=[])
    parser.add_argument("--scenario", dest="scenarios", action="append", help="default: all")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--policy", default="aurea")
    parser.add_argument(
        "--requests-per-hour", type=float, help="default: 10, or the scenario's own with --scenario"
    )
    parser.add_argument("--base", action="append", default=[], help="AUREA_X=V under every row")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="Append the rows to this JSON file.")
    args = parser.parse_args()

    scenarios = tuple(args.scenarios or SCENARIOS)
    if args.requests_per_hour is None and not args.scenarios:
        args.requests_per_hour = 10
    base = dict(_parse(item) for item in args.base)
    if args.grid:
        settings_rows = [{**base, **row} for row in rows(GRIDS[args.grid])]
    else:
        settings_rows = [{**base, **dict(_parse(item) for item in args.settings)}]
    jobs = [
        (scenario, seed, settings, args.policy, args.requests_per_hour)
        for settings in settings_rows
        for scenario in scenarios
        for seed in args.seeds
    ]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(one_run, jobs))

    header = "| settings | " + " | ".join(scenarios) + " | total (mean of seeds) | per seed |"
    print(header)
    print("| --- |" + " ---: |" * (len(scenarios) + 2))
    out = []
    per_row = len(scenarios) * len(args.seeds)
    for i, settings in enumerate(settings_rows):
        chunk = results[i * per_row : (i + 1) * per_row]
        by_scenario = {
            s: statistics.mean(r for name, _seed, r, _i in chunk if name == s) for s in scenarios
        }
        by_seed = [sum(r for _n, seed, r, _i in chunk if seed == s) for s in args.seeds]
        shares = [i for *_rest, i in chunk if i is not None]
        label = " ".join(f"{k.removeprefix('AUREA_').lower()}={v}" for k, v in settings.items())
        cells = " | ".join(f"{by_scenario[s]:.0f}" for s in scenarios)
        seeds = " / ".join(f"{t:.0f}" for t in by_seed)
        print(f"| {label or 'defaults'} | {cells} | {statistics.mean(by_seed):.0f} | {seeds} |")
        if shares:
            print(f"|   incident share (mean) | {statistics.mean(shares):.1%} |")
        out.append(
            {"settings": settings, "by_scenario": by_scenario, "by_seed": by_seed, "shares": shares}
        )
    if args.json:
        existing = json.loads(args.json.read_text()) if args.json.exists() else []
        args.json.write_text(json.dumps(existing + out, indent=2) + "\n")


def _parse(item: str) -> tuple[str, object]:
    key, _, raw = item.partition("=")
    for kind in (int, float):
        try:
            return key, kind(raw)
        except ValueError:
            continue
    return key, raw


if __name__ == "__main__":
    main()
