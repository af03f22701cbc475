"""What a simulation measured, per policy: regret, utility, incidents, recovery; table, JSON, plot.

- **regret** of a request: the oracle's true expected utility (the best model available at
  that moment, for that task) minus that of the chosen model; summed over the run.
- **mean utility**: the chosen models' true expected utility per request (``realized``: the
  utility of the outcomes actually drawn).
- **incident share**: of the requests made while some available model was in one of the
  scenario's incident windows (``"incident": true``), the share sent to a model in one.
- **recovery** after each change point (a change, its end, a model appearing): hours from
  it until the policy's hourly share of requests sent to a best model (within 1e-9 of the
  oracle's utility) stays above 50 % up to the next change point or the end; None if never.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from aurea.simulation.runner import PolicyRun
from aurea.simulation.scenario import Scenario

HOUR = timedelta(hours=1)
TIE = 1e-9


def summarize(scenario: Scenario, steps, run: PolicyRun) -> dict:
    requests = [r for _, step in steps for r in step]
    regrets = [r.best - r.utilities[m] for r, m in zip(requests, run.chosen, strict=True)]
    hours = int(scenario.duration / HOUR)
    curve = [0.0] * hours
    for r, regret in zip(requests, regrets, strict=True):
        curve[min(int(r.elapsed / HOUR), hours - 1)] += regret
    total = 0.0
    for h in range(hours):
        total += curve[h]
        curve[h] = round(total, 6)

    during = [
        (r, m)
        for r, m in zip(requests, run.chosen, strict=True)
        if any(scenario.failing(a, r.elapsed) for a in r.utilities)
    ]
    incident_share = (
        round(sum(scenario.failing(m, r.elapsed) for r, m in during) / len(during), 4)
        if during
        else None
    )
    choices: dict[str, int] = {}
    for m in run.chosen:
        choices[m] = choices.get(m, 0) + 1
    n = len(requests)
    chosen = zip(requests, run.chosen, strict=True)
    return {
        "requests": n,
        "cumulative_regret": round(sum(regrets), 4),
        "mean_utility": round(sum(r.utilities[m] for r, m in chosen) / n, 5),
        "mean_realized_utility": round(sum(run.realized) / n, 5),
        "incident_share": incident_share,
        "incident_shares": incident_shares(scenario, requests, run.chosen),
        "recovery": recovery(scenario, requests, run.chosen),
        "choices": dict(sorted(choices.items())),
        "database": run.database,
        "optimize_runs": run.optimize_runs,
        "seconds": round(run.seconds, 2),
        "regret_by_hour": curve,
    }


def incident_shares(scenario: Scenario, requests, chosen) -> list[dict]:
    """Per incident window: the share of its requests sent to the failing model."""
    out = []
    for c in scenario.changes:
        if not c.incident:
            continue
        inside = [
            m
            for r, m in zip(requests, chosen, strict=True)
            if c.model in r.utilities  # the model is available
            and c.at <= r.elapsed
            and (c.until is None or r.elapsed < c.until)
        ]
        share = round(sum(m == c.model for m in inside) / len(inside), 4) if inside else None
        out.append({"change": c.label or f"{c.model} incident", "share": share})
    return out


def recovery(scenario: Scenario, requests, chosen) -> list[dict]:
    points = scenario.change_points()
    out = []
    for i, (at, label) in enumerate(points):
        end = points[i + 1][0] if i + 1 < len(points) else scenario.duration
        hourly: dict[int, list[int]] = {}
        for r, m in zip(requests, chosen, strict=True):
            if at <= r.elapsed < end:
                bucket = hourly.setdefault(int((r.elapsed - at) / HOUR), [0, 0])
                bucket[0] += r.utilities[m] >= r.best - TIE
                bucket[1] += 1
        recovered = None
        for hour in sorted(hourly, reverse=True):
            good, total = hourly[hour]
            if good / total <= 0.5:
                break
            recovered = hour
        out.append({"change": label, "at_hours": at / HOUR, "hours": recovered})
    return out


def build_report(scenario: Scenario, steps, runs: list[PolicyRun], seed: int) -> dict:
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "seed": seed,
        "hours": scenario.duration / HOUR,
        "requests_per_hour": scenario.requests_per_hour,
        "utility": {"cost": scenario.utility.cost, "latency": scenario.utility.latency},
        "policies": {run.name: summarize(scenario, steps, run) for run in runs},
    }


def _recovery_text(items: list[dict]) -> str:
    if not items:
        return "-"
    return " ".join("never" if i["hours"] is None else f"{i['hours']}h" for i in items)


def table(report: dict) -> str:
    """A plain-text table, one row per policy."""
    head = (
        f"{'policy':<16}{'regret':>10}{'mean utility':>14}{'incident share':>16}"
        f"  recovery (per change)   seconds"
    )
    title = f"scenario {report['scenario']} (seed {report['seed']})"
    if report.get("settings"):
        title += " with " + " ".join(f"{k}={v}" for k, v in report["settings"].items())
    lines = [title, head]
    for name, p in report["policies"].items():
        share = "-" if p["incident_share"] is None else f"{p['incident_share']:.3f}"
        lines.append(
            f"{name:<16}{p['cumulative_regret']:>10.2f}{p['mean_utility']:>14.4f}{share:>16}"
            f"  {_recovery_text(p['recovery']):<24}{p['seconds']:>8.1f}"
        )
    return "\n".join(lines)


def write_json(report: dict, path: Path) -> None:
    path.write_text(json.dumps(report, indent=1) + "\n")


def plot(report: dict, path: Path) -> None:
    """Cumulative regret over simulated time, one line per policy (PNG, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    styles = ["-", "--", ":", "-."]
    for i, (name, p) in enumerate(report["policies"].items()):
        curve = p["regret_by_hour"]
        days = [h / 24 for h in range(1, len(curve) + 1)]
        # Policies that choose alike draw the same line: vary the style so each shows.
        ax.plot(days, curve, styles[i % 4], linewidth=max(3.4 - 0.4 * i, 0.8), label=name)
    ax.set_xlabel("simulated day")
    ax.set_ylabel("cumulative regret (utility)")
    ax.set_title(f"{report['scenario']}: cumulative regret against the oracle")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
