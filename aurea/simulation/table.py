"""Every scenario over several seeds: the medians the docs' decision table shows.

    python -m aurea.simulation.table [--seeds 1-5] [--jobs 2] [--out DIR]
        [--policies aurea,seed,latency,random] [SCENARIO ...]

Runs each scenario (default: all of ``scenarios/``) once per seed with every policy (or the
``--policies`` given, with the oracle and ``aurea`` always), in ``--jobs`` processes, and prints
a Markdown table of the median cumulative regret, incident share (pooled, and per incident)
and recovery of each policy, and the ratio of Aurea's mean regret to the best baseline's mean
(one unlucky seed moves a median of five less than a mean, but a mean shows the tail);
``--out`` also writes each run's JSON (the fields of ``flask aurea simulate --out``) and
``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from aurea.simulation.names import POLICIES
from aurea.simulation.scenario import SCENARIOS_DIR

BASELINES = ("seed", "latency", "random")


class RunFailed(RuntimeError):
    """One scenario and seed failed: says which, and what the service refused (its
    per-candidate ``errors`` when it is an AureaError such as NoModelQualifies). Its only
    argument is the message, so the process pool can pickle it back to the parent."""

    @classmethod
    def of(cls, scenario: str, seed: int, exc: Exception) -> RunFailed:
        detail = getattr(exc, "errors", None)
        message = f"{scenario} seed {seed}: {type(exc).__name__}: {exc}"
        return cls(message + (f" {detail}" if detail else ""))


def run_one(job: tuple[str, int, tuple[str, ...] | None]) -> dict:
    from aurea.simulation.report import build_report
    from aurea.simulation.runner import DEFAULT_POLICIES, simulate
    from aurea.simulation.scenario import load_scenario, resolve_scenario

    name, seed, policies = job
    scenario = load_scenario(resolve_scenario(name))
    try:
        steps, runs = simulate(scenario, policies or DEFAULT_POLICIES, seed)
    except Exception as exc:  # a pool re-raises without saying which job failed
        raise RunFailed.of(name, seed, exc) from exc
    report = build_report(scenario, steps, runs, seed)
    for p in report["policies"].values():
        p.pop("regret_by_hour", None)
    return report


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def recovery_hours(items: list[dict]) -> str:
    return " ".join("never" if i["hours"] is None else f"{i['hours']}h" for i in items) or "-"


def per_incident(items: list[dict]) -> str:
    return " ".join("-" if i["share"] is None else f"{i['share']:.3f}" for i in items) or "-"


def summarize(reports: list[dict]) -> dict:
    by_scenario: dict[str, list[dict]] = {}
    for r in reports:
        by_scenario.setdefault(r["scenario"], []).append(r)
    out = {}
    for scenario, runs in sorted(by_scenario.items()):
        policies = {}
        for name in runs[0]["policies"]:
            ps = [r["policies"][name] for r in runs]
            changes = len(ps[0]["recovery"])
            recovery = []
            for i in range(changes):
                hours = [p["recovery"][i]["hours"] for p in ps]
                never = sum(h is None for h in hours)
                recovery.append(
                    {
                        "change": ps[0]["recovery"][i]["change"],
                        "hours": None if never > len(hours) / 2 else _median(hours),
                    }
                )
            policies[name] = {
                "cumulative_regret": _median([p["cumulative_regret"] for p in ps]),
                "mean_regret": statistics.mean(p["cumulative_regret"] for p in ps),
                "incident_share": _median([p["incident_share"] for p in ps]),
                "incident_shares": [
                    {
                        "change": item["change"],
                        "share": _median([p["incident_shares"][i]["share"] for p in ps]),
                    }
                    for i, item in enumerate(ps[0]["incident_shares"])
                ],
                "recovery": recovery,
                "oracle_utility": None,
            }
        oracle_total = statistics.median(
            r["policies"]["oracle"]["mean_utility"] * r["policies"]["oracle"]["requests"]
            for r in runs
        )
        out[scenario] = {
            "seeds": sorted(r["seed"] for r in runs),
            "policies": policies,
            "oracle_total_utility": oracle_total,
        }
    return out


def markdown(summary: dict) -> str:
    names = list(next(iter(summary.values()))["policies"])
    names = [n for n in names if n != "oracle"]
    lines = [
        "| scenario | " + " | ".join(names) + " | aurea / best baseline | of the means "
        "| incident share (aurea) | per incident (aurea) | recovery (aurea) |",
        "| --- | " + " | ".join("---:" for _ in names) + " | ---: | ---: | ---: | --- | --- |",
    ]
    for scenario, s in summary.items():
        p = s["policies"]
        # No baseline asked for (--policies): the ratios are "-".
        best = min((p[b]["cumulative_regret"] for b in BASELINES if b in p), default=0)
        best_mean = min((p[b]["mean_regret"] for b in BASELINES if b in p), default=0)
        share = p["aurea"]["incident_share"]
        lines.append(
            f"| {scenario} | "
            + " | ".join(f"{p[n]['cumulative_regret']:.1f}" for n in names)
            + (f" | {p['aurea']['cumulative_regret'] / best:.2f}" if best > 0 else " | -")
            + (f" | {p['aurea']['mean_regret'] / best_mean:.2f} | " if best_mean > 0 else " | - | ")
            + ("-" if share is None else f"{share:.3f}")
            + f" | {per_incident(p['aurea']['incident_shares'])}"
            + f" | {recovery_hours(p['aurea']['recovery'])} |"
        )
    return "\n".join(lines)


def _seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(x) for x in text.split(",")]


def _policies(text: str) -> tuple[str, ...]:
    asked = [p.strip() for p in text.split(",") if p.strip()]
    unknown = sorted(set(asked) - set(POLICIES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown policies: {', '.join(unknown)}")
    return tuple(dict.fromkeys(["oracle", "aurea", *asked]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*")
    parser.add_argument("--seeds", default="1-5", type=_seeds)
    parser.add_argument("--jobs", default=2, type=int)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--policies",
        type=_policies,
        help="comma-separated; default: every default policy (the oracle and aurea always run)",
    )
    args = parser.parse_args(argv)
    names = args.scenarios or sorted(p.stem for p in SCENARIOS_DIR.glob("*.json"))
    jobs = [(name, seed, args.policies) for name in names for seed in args.seeds]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        reports = list(pool.map(run_one, jobs))
    summary = summarize(reports)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for r in reports:
            (args.out / f"{r['scenario']}-seed{r['seed']}.json").write_text(json.dumps(r, indent=1))
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(markdown(summary))


if __name__ == "__main__":
    main()
