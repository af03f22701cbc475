"""Estimates with uncertainty from hourly aggregates: success posteriors, cost and latency.

Success is a Beta posterior built from three parts (docs/decisions.md, "Estimates"):

- the **prior**: ``prior_strength`` pseudo-requests at ``prior_mean`` (Beta(1, 1) for a
  model; for a model x task, the model's posterior mean at ``task_prior`` pseudo-requests,
  so a task with little data is shrunk toward its model's rate instead of switching at N rows);
- the **recent** counts: every request weighs ``0.5 ** (age / half_life)``, and the requests
  before a detected change point weigh 0 (aurea.domain.changes);
- a **long memory** of what the discounting let go: the rest of each request's weight, its
  total capped at ``memory`` pseudo-requests, at the rate those requests had. A model not
  used for a while falls back toward its long-run rate with a wide posterior, so it is tried
  again after an incident, instead of being remembered forever by its worst hour.

After a detected *drop*, the hours from the change on fade faster, with an incident half-life
of ``sqrt(incident_request_hours / requests an hour)`` (or a fixed one). Retrying a model that
may be repaired costs its gap once if it is not, and saves the gap on every following request
if it is: the best retry interval shrinks like one over the square root of the traffic (the
classic inspection trade-off), so a busy deployment retries within the hour and a quiet one
within a few.

Cost and latency are means weighted by ``0.5 ** (age / half_life)``: a price change or a
latency drift is followed within a few of their half-lives.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from aurea.domain.changes import latest_change


@dataclass(frozen=True)
class HourCounts:
    """One hour of one model (and task): what the hourly aggregates hold."""

    age_hours: float  # from the middle of the hour (or its start, if in the future) to now
    requests: int
    successes: int
    latency_sum: float
    cost_sum: float

    @property
    def failures(self) -> int:
        return self.requests - self.successes


def weight(age_hours: float, half_life_hours: float | None) -> float:
    """0.5 ** (age / half_life); 1 without a half-life."""
    if half_life_hours is None or math.isinf(half_life_hours):
        return 1.0
    return 0.5 ** (max(age_hours, 0.0) / half_life_hours)


@dataclass(frozen=True)
class BetaPosterior:
    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def strength(self) -> float:
        """Pseudo-requests behind the estimate (alpha + beta)."""
        return self.alpha + self.beta

    @property
    def sd(self) -> float:
        a, b = self.alpha, self.beta
        return math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))

    def interval(self, z: float = 1.645) -> tuple[float, float]:
        """An approximate central interval (normal approximation; 90 % by default)."""
        return (max(0.0, self.mean - z * self.sd), min(1.0, self.mean + z * self.sd))

    def sample(self, rng: random.Random) -> float:
        return rng.betavariate(self.alpha, self.beta)


UNIFORM = BetaPosterior(1.0, 1.0)


def success_posterior(
    hours: Sequence[HourCounts],
    half_life_hours: float | None,
    memory: float,
    prior_mean: float = 0.5,
    prior_strength: float = 2.0,
    change_at: int = 0,
    after_change_half_life_hours: float | None = None,
) -> BetaPosterior:
    """The posterior of P(success) from ``hours`` (oldest first); see the module docstring.

    ``change_at`` is the index of the first hour after a detected change: the hours before
    it count only in the long memory. ``after_change_half_life_hours``, when given, is the
    half-life of the hours from ``change_at`` on (an incident's data fades faster).
    """
    recent_s = recent_f = old_s = old_f = 0.0
    for i, h in enumerate(hours):
        hl = half_life_hours
        if after_change_half_life_hours is not None and change_at and i >= change_at:
            hl = after_change_half_life_hours
        w = weight(h.age_hours, hl) if i >= change_at else 0.0
        recent_s += w * h.successes
        recent_f += w * h.failures
        old_s += (1.0 - w) * h.successes
        old_f += (1.0 - w) * h.failures
    alpha = prior_strength * prior_mean + recent_s
    beta = prior_strength * (1.0 - prior_mean) + recent_f
    old = old_s + old_f
    if old > 0 and memory > 0:
        kept = min(memory, old)
        alpha += kept * old_s / old
        beta += kept * old_f / old
    return BetaPosterior(alpha, beta)


@dataclass(frozen=True)
class Trend:
    """A weighted least-squares line through the hourly success rates: ``level`` at the
    counts' weighted mean age ``mean_age``, ``slope`` per hour of age (positive: the rate was
    higher before), and the slope's variance."""

    level: float
    mean_age: float
    slope: float
    slope_variance: float
    weight: float  # the requests' total weight
    misfit: float  # sum(w n (rate - line)^2) / (p (1 - p)), against about sum(w) for a line
    hours_weight: float  # sum(w) over the hours with requests

    @property
    def is_line(self) -> bool:
        """The rates scatter about the line no more than binomial noise would: the chi-square
        of the residuals within three of its standard deviations of its mean (a step or a
        burst is not a drift, and has the change test and the cooldown)."""
        return self.misfit <= self.hours_weight + 3 * math.sqrt(2 * self.hours_weight)

    @property
    def z(self) -> float:
        return abs(self.slope) / math.sqrt(self.slope_variance) if self.slope_variance else 0.0


def success_trend(hours: Sequence[HourCounts], half_life_hours: float | None) -> Trend | None:
    """The line through the hours' success rates, each request weighing as in the recent
    counts; None with fewer than three hours with requests (a line needs a spread of ages).

    The slope's variance is that of a weighted mean of Bernoulli outcomes at the pooled rate:
    ``p (1 - p) sum(w^2 n (a - abar)^2) / sum(w n (a - abar)^2)^2``."""
    rows = [
        (weight(h.age_hours, half_life_hours), h.requests, h.age_hours, h.successes / h.requests)
        for h in hours
        if h.requests
    ]
    total = sum(w * n for w, n, _, _ in rows)
    if len(rows) < 3 or total <= 0:
        return None
    mean_age = sum(w * n * a for w, n, a, _ in rows) / total
    level = sum(w * n * r for w, n, _, r in rows) / total
    spread = sum(w * n * (a - mean_age) ** 2 for w, n, a, _ in rows)
    if spread <= 0:
        return None
    slope = sum(w * n * (a - mean_age) * (r - level) for w, n, a, r in rows) / spread
    pq = max(level * (1 - level), 1e-4)
    variance = pq * sum(w * w * n * (a - mean_age) ** 2 for w, n, a, _ in rows) / spread**2
    misfit = sum(w * n * (r - level - slope * (a - mean_age)) ** 2 for w, n, a, r in rows) / pq
    return Trend(level, mean_age, slope, variance, total, misfit, sum(w for w, *_ in rows))


def trend_corrected(
    posterior: BetaPosterior,
    hours: Sequence[HourCounts],
    half_life_hours: float | None,
    z: float,
) -> BetaPosterior:
    """The posterior moved from the recent counts' mean age to now along their trend, when
    the trend's slope is at least ``z`` standard errors from 0 and the rates lie along a line
    (``Trend.is_line``); else unchanged.

    A discounted mean lags a steady drift by the drift times its mean age (34.6 h at a 24 h
    half-life: a model losing two points a day is over-rated by three points). The recent
    counts' share of the posterior (their weight over its strength) is moved by
    ``-slope x mean_age``, and the posterior widened by that move's variance, keeping the
    mean and variance (a Beta of at least 2 pseudo-requests)."""
    trend = success_trend(hours, half_life_hours)
    if trend is None or trend.z < z or not trend.is_line:
        return posterior
    share = min(1.0, trend.weight / posterior.strength)
    mean = min(max(posterior.mean - share * trend.slope * trend.mean_age, 1e-3), 1 - 1e-3)
    variance = posterior.sd**2 + (share * trend.mean_age) ** 2 * trend.slope_variance
    strength = max(mean * (1 - mean) / variance - 1, 2.0)
    return BetaPosterior(mean * strength, (1 - mean) * strength)


def weighted_means(
    hours: Sequence[HourCounts], half_life_hours: float | None
) -> tuple[float, float] | None:
    """(cost, latency) per request, each hour weighted by its requests and its age; None
    without requests."""
    total = cost = latency = 0.0
    for h in hours:
        w = weight(h.age_hours, half_life_hours)
        total += w * h.requests
        cost += w * h.cost_sum
        latency += w * h.latency_sum
    if total <= 0:
        return None
    return cost / total, latency / total


def shrink(specific: float, specific_requests: float, general: float, strength: float) -> float:
    """A task's mean shrunk toward its model's: ``strength`` pseudo-requests at ``general``."""
    return (strength * general + specific_requests * specific) / (strength + specific_requests)


@dataclass(frozen=True)
class HourRow:
    """A row of the hourly aggregates, as storage reads it."""

    bucket_start: datetime
    model: str
    task: str
    requests: int
    successes: int
    latency_sum: float
    cost_sum: float
    last_recorded_at: datetime


@dataclass(frozen=True)
class EstimatorSettings:
    success_half_life_hours: float | None = 24.0
    price_half_life_hours: float | None = 3.0  # cost and latency
    memory: float = 50.0  # pseudo-requests of long memory
    task_prior: float = 5.0  # pseudo-requests a task is shrunk toward its model with
    change_delta: float | None = 0.05  # None: no change detection
    incident_half_life_hours: float | None = None  # the hours after a detected drop
    incident_request_hours: float | None = None  # else sqrt(this / the scope's requests an hour)
    trend_z: float | None = None  # None: no drift correction (trend_corrected)


@dataclass(frozen=True)
class ModelEstimate:
    posterior: BetaPosterior
    cost: float | None
    latency: float | None
    requests: int  # in the scope (the task's, when one is asked for)
    model_requests: int  # in the window, every task
    last_seen_hours: float | None
    change_at: datetime | None  # the start of the hour the latest detected change began in


HOUR = timedelta(hours=1)


def _hours(rows: Iterable[HourRow], now: datetime) -> list[tuple[datetime, HourCounts]]:
    by_hour: dict[datetime, list[float]] = {}
    for r in rows:
        t = by_hour.setdefault(r.bucket_start, [0, 0, 0.0, 0.0])
        t[0] += r.requests
        t[1] += r.successes
        t[2] += r.latency_sum
        t[3] += r.cost_sum
    out = []
    for start in sorted(by_hour):
        n, s, latency, cost = by_hour[start]
        age = max(0.0, (now - start) / HOUR - 0.5)
        out.append((start, HourCounts(age, int(n), int(s), latency, cost)))
    return out


def _success(
    hours: list[tuple[datetime, HourCounts]],
    settings: EstimatorSettings,
    prior_mean: float,
    prior_strength: float,
    incident_half_life: float | None = None,
    tripped: datetime | None = None,
) -> tuple[BetaPosterior, datetime | None]:
    counts = [h for _, h in hours]
    change_at = 0
    if settings.change_delta is not None:
        change_at = latest_change(
            [(h.requests, h.successes) for h in counts], settings.change_delta
        )
    if tripped is not None:
        # A cooldown is a drop the failure burst already showed: from the hour it tripped
        # in, the hours count as after a change, even before the test can tell.
        k = next((i for i, (start, _) in enumerate(hours) if start + HOUR > tripped), 0)
        if k > change_at and _rate(counts[k:]) < _rate(counts[:k]):
            change_at = k
    after = None
    if change_at and incident_half_life is not None:
        before, since = counts[:change_at], counts[change_at:]
        if _rate(since) < _rate(before):  # a drop: an incident's data fades faster
            after = min(incident_half_life, settings.success_half_life_hours or math.inf)
    posterior = success_posterior(
        counts,
        settings.success_half_life_hours,
        settings.memory,
        prior_mean,
        prior_strength,
        change_at,
        after,
    )
    if settings.trend_z is not None and not change_at:  # a step has its own test (above)
        posterior = trend_corrected(
            posterior, counts, settings.success_half_life_hours, settings.trend_z
        )
    return posterior, (hours[change_at][0] if change_at else None)


def _incident_half_life(
    rows: Sequence[HourRow], now: datetime, settings: EstimatorSettings
) -> float | None:
    if settings.incident_half_life_hours is not None:
        return settings.incident_half_life_hours
    if not settings.incident_request_hours:
        return None
    # Requests an hour over the hours that started in the last day: from the oldest of them
    # to now (at least an hour, so that the first minutes do not look busier than they are).
    day = [r for r in rows if now - r.bucket_start < 24 * HOUR]
    requests = sum(r.requests for r in day)
    if requests <= 0:
        return None
    hours = max(1.0, (now - min(r.bucket_start for r in day)) / HOUR)
    return math.sqrt(settings.incident_request_hours * hours / requests)


def _rate(hours: Sequence[HourCounts]) -> float:
    n = sum(h.requests for h in hours)
    return sum(h.successes for h in hours) / n if n else 0.0


def estimate_models(
    rows: Iterable[HourRow],
    task: str | None,
    now: datetime,
    settings: EstimatorSettings,
    trips: Mapping[str, datetime] | None = None,
) -> dict[str, ModelEstimate]:
    """Each model's estimate over every task (``task`` None) or for one task, shrunk toward
    the model's. ``trips``: per model, when its latest cooldown in this scope (the task, or
    records without one) tripped; it counts as a detected drop in success."""
    trips = trips or {}
    rows = list(rows)
    per_model: dict[str, list[HourRow]] = {}
    for r in rows:
        per_model.setdefault(r.model, []).append(r)
    fade = _incident_half_life(rows, now, settings)
    # A task's decisions route the task's traffic: its incidents fade at its own pace.
    task_rows = [r for r in rows if r.task == task] if task is not None else []
    task_fade = _incident_half_life(task_rows, now, settings) if task is not None else None
    out = {}
    for model, model_rows in per_model.items():
        hours = _hours(model_rows, now)
        posterior, change_at = _success(
            hours, settings, 0.5, 2.0, fade, trips.get(model) if task is None else None
        )
        means = weighted_means([h for _, h in hours], settings.price_half_life_hours)
        total = sum(h.requests for _, h in hours)
        newest = max(r.last_recorded_at for r in model_rows)
        last_seen = max(0.0, (now - newest) / HOUR)
        requests = total
        if task is not None:
            task_hours = _hours([r for r in model_rows if r.task == task], now)
            requests = sum(h.requests for _, h in task_hours)
            posterior, change_at = _success(
                task_hours,
                settings,
                posterior.mean,
                settings.task_prior,
                task_fade,
                trips.get(model),
            )
            task_means = weighted_means([h for _, h in task_hours], settings.price_half_life_hours)
            if task_means is not None and means is not None:
                means = (
                    shrink(task_means[0], requests, means[0], settings.task_prior),
                    shrink(task_means[1], requests, means[1], settings.task_prior),
                )
        out[model] = ModelEstimate(
            posterior=posterior,
            cost=means[0] if means else None,
            latency=means[1] if means else None,
            requests=requests,
            model_requests=total,
            last_seen_hours=last_seen,
            change_at=change_at,
        )
    return out
