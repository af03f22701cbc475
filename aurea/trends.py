"""The dashboard's trend charts and model state chips, laid out on the server. Pure. Over 400
lines because bucketing, the four series, the axes' ticks and the colours of 12+ models are
one layout that is read and tested together (tests/unit/test_trends.py).

Hourly aggregate rows (as aurea.services.statistics reads them) in, per-model series out:
requests, success rate, p95 latency and cost per hour, one point per bucket of whole hours.
A bucket is one hour, or a coarser step (2, 3, 4, 6, 8, 12 h, then whole days) so that no
series has more than MAX_POINTS points.
Buckets are aligned on multiples of their length since the Unix epoch, so they stay put as
time moves on. The newest bucket is still filling up: its cost per hour counts the whole
bucket's length.

Models get a colour each from PALETTE (12 colours that stay apart, and apart for the common
colour-vision deficiencies as far as 12 can); the 13th model reuses the first colour with
the first dash pattern, and so on. The legend is HTML, not SVG text.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aurea.domain.estimators import HourRow
from aurea.domain.histogram import percentile

MAX_POINTS = 200
BUCKET_STEPS = (1, 2, 3, 4, 6, 8, 12, 24)  # hours; beyond a day, whole days
HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEW_MODEL_ROWS = 10  # fewer rows than this in the window: the model is "new"

PALETTE = (
    "#4e79a7",  # blue
    "#f28e2b",  # orange
    "#e15759",  # red
    "#76b7b2",  # teal
    "#59a14f",  # green
    "#edc948",  # yellow
    "#b07aa1",  # purple
    "#ff9da7",  # pink
    "#9c755f",  # brown
    "#17becf",  # cyan
    "#7f7f7f",  # grey
    "#1f3a93",  # navy
)
DASHES = ("", "7 4", "2 3", "9 3 2 3")  # solid, dashed, dotted, dash-dot

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 14, 12, 30
MAX_X_LABELS = 6
Y_TICKS = 4


# ---------------------------------------------------------------- colours


@dataclass(frozen=True)
class Style:
    colour: str
    dash: str  # SVG stroke-dasharray ("" for a solid line)


def style_of(index: int) -> Style:
    """The style of the ``index``-th model: 12 colours, then the same with dashes."""
    return Style(PALETTE[index % len(PALETTE)], DASHES[(index // len(PALETTE)) % len(DASHES)])


def model_styles(models: Iterable[str]) -> dict[str, Style]:
    """A style per model, in sorted name order (the same model keeps its style on every chart)."""
    return {name: style_of(i) for i, name in enumerate(sorted(set(models)))}


# ---------------------------------------------------------------- buckets


def bucket_hours(span_hours: int, max_points: int = MAX_POINTS) -> int:
    """The shortest bucket (in hours, from BUCKET_STEPS then whole days) that keeps a span of
    ``span_hours`` hourly aggregates within ``max_points`` buckets, whatever its alignment."""
    for step in BUCKET_STEPS:
        if _buckets_needed(span_hours, step) <= max_points:
            return step
    days = 2
    while _buckets_needed(span_hours, 24 * days) > max_points:
        days += 1
    return 24 * days


def _buckets_needed(span_hours: int, step: int) -> int:
    # At worst the span's first hour is the last of an aligned bucket.
    return math.ceil((span_hours - 1) / step) + 1


def bucket_start(moment: datetime, hours: int) -> datetime:
    """The start of the ``hours``-long bucket holding ``moment`` (aligned on the epoch)."""
    elapsed = int((moment - EPOCH) // HOUR)
    return EPOCH + HOUR * (elapsed - elapsed % hours)


def bucket_range(first_hour: datetime, last_hour: datetime, hours: int) -> list[datetime]:
    """Every bucket start from the one holding ``first_hour`` to the one holding ``last_hour``."""
    start, end = bucket_start(first_hour, hours), bucket_start(last_hour, hours)
    count = int((end - start) // (HOUR * hours)) + 1
    return [start + HOUR * hours * i for i in range(count)]


# ---------------------------------------------------------------- series


@dataclass(frozen=True)
class HourBin:
    """One hourly latency histogram row (latency_histogram_hourly)."""

    bucket_start: datetime
    model: str
    task: str
    bin: int
    requests: int


@dataclass(frozen=True)
class Point:
    start: datetime
    requests: int
    success_rate: float | None  # None: no requests in the bucket
    p95_latency: float | None
    cost_per_hour: float


@dataclass(frozen=True)
class Series:
    model: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Trends:
    hours: int  # bucket length
    starts: tuple[datetime, ...]
    series: tuple[Series, ...]  # one per model with data, by name


def build_trends(
    rows: Iterable[HourRow],
    bins: Iterable[HourBin],
    first_hour: datetime | None,
    last_hour: datetime,
    task: str | None = None,
    max_points: int = MAX_POINTS,
) -> Trends:
    """Bucket the hourly rows of ``task`` (None: every task) from ``first_hour`` (None: the
    oldest row's) to ``last_hour`` into at most ``max_points`` buckets per model."""
    rows = [r for r in rows if task is None or r.task == task]
    if first_hour is None:
        first_hour = min((r.bucket_start for r in rows), default=last_hour)
    span = int((last_hour - first_hour) // HOUR) + 1
    hours = bucket_hours(span, max_points)
    starts = bucket_range(first_hour, last_hour, hours)
    sums: dict[tuple[str, datetime], list] = defaultdict(lambda: [0, 0, 0.0])
    for r in rows:
        s = sums[(r.model, bucket_start(r.bucket_start, hours))]
        s[0] += r.requests
        s[1] += r.successes
        s[2] += r.cost_sum
    counts: dict[tuple[str, datetime], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for b in bins:
        if task is None or b.task == task:
            counts[(b.model, bucket_start(b.bucket_start, hours))][b.bin] += b.requests
    series = []
    for model in sorted({r.model for r in rows}):
        points = []
        for start in starts:
            requests, successes, cost = sums.get((model, start), (0, 0, 0.0))
            points.append(
                Point(
                    start=start,
                    requests=requests,
                    success_rate=successes / requests if requests else None,
                    p95_latency=percentile(counts.get((model, start), {}), 0.95),
                    cost_per_hour=cost / hours,
                )
            )
        series.append(Series(model, tuple(points)))
    return Trends(hours, tuple(starts), tuple(series))


# ---------------------------------------------------------------- chart layout


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class ChartLine:
    model: str
    colour: str
    dash: str
    path: str  # SVG path data; a gap (no value) starts a new subpath
    title: str


@dataclass(frozen=True)
class TrendChart:
    key: str  # requests, success_rate, p95_latency, cost_per_hour
    title: str
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    lines: tuple[ChartLine, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above ``value`` (1 for nothing to show)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exponent = math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        candidate = m * 10.0**exponent
        if candidate >= value * (1 - 1e-12):
            return candidate
    return 10.0 ** (exponent + 1)  # pragma: no cover - the loop ends at 10


def line_path(coordinates: Sequence[tuple[float, float] | None]) -> str:
    """SVG path data through the coordinates; None breaks the line. A lone point is drawn
    as a dot (a zero-length segment with round caps)."""
    parts: list[str] = []
    run: list[tuple[float, float]] = []

    def flush():
        if len(run) == 1:
            x, y = run[0]
            parts.append(f"M{_num(x)},{_num(y)}h0")
        elif run:
            parts.append("M" + "L".join(f"{_num(x)},{_num(y)}" for x, y in run))
        run.clear()

    for c in coordinates:
        if c is None:
            flush()
        else:
            run.append(c)
    flush()
    return "".join(parts)


def _time_label(at: datetime, hours: int, span: timedelta) -> str:
    if hours >= 24:
        return at.strftime("%m-%d")
    return at.strftime("%H:%M") if span <= timedelta(hours=24) else at.strftime("%m-%d %H:%M")


def _label_indices(count: int, most: int = MAX_X_LABELS) -> list[int]:
    if count <= most:
        return list(range(count))
    step = (count - 1) / (most - 1)
    return sorted({round(i * step) for i in range(most)})


def trend_chart(
    key: str,
    title: str,
    trends: Trends,
    value: Callable[[Point], float | None],
    styles: Mapping[str, Style],
    label: Callable[[float], str],
    fixed_max: float | None = None,
) -> TrendChart:
    """Lay out one metric of every series: x is the bucket (oldest left), y from 0 to a round
    maximum (``fixed_max`` if given)."""
    plot_left, plot_right = LEFT, WIDTH - RIGHT
    plot_top, plot_bottom = TOP, HEIGHT - BOTTOM
    count = len(trends.starts)
    values = [[value(p) for p in s.points] for s in trends.series]
    top = fixed_max or nice_ceiling(max((v for vs in values for v in vs if v), default=0.0))

    def x_of(i: int) -> float:
        if count == 1:
            return (plot_left + plot_right) / 2
        return plot_left + i * (plot_right - plot_left) / (count - 1)

    def y_of(v: float) -> float:
        return plot_bottom - min(v, top) / top * (plot_bottom - plot_top)

    lines = []
    for s, vs in zip(trends.series, values, strict=True):
        style = styles[s.model]
        coordinates = [None if v is None else (x_of(i), y_of(v)) for i, v in enumerate(vs)]
        lines.append(ChartLine(s.model, style.colour, style.dash, line_path(coordinates), s.model))
    y_ticks = tuple(
        Tick(y_of(top * i / Y_TICKS), label(top * i / Y_TICKS)) for i in range(Y_TICKS + 1)
    )
    span = trends.starts[-1] - trends.starts[0] if count else timedelta(0)
    x_ticks = tuple(
        Tick(x_of(i), _time_label(trends.starts[i], trends.hours, span))
        for i in _label_indices(count)
    )
    return TrendChart(
        key,
        title,
        WIDTH,
        HEIGHT,
        plot_left,
        plot_right,
        plot_top,
        plot_bottom,
        tuple(lines),
        y_ticks,
        x_ticks,
    )


def _count_label(v: float) -> str:
    return f"{v:.0f}" if v >= 10 or v == int(v) else f"{v:.1f}"


def _percent_label(v: float) -> str:
    return f"{v * 100:.0f} %"


def _seconds_label(v: float) -> str:
    if v == 0:
        return "0"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2g} s" if v < 10 else f"{v:.0f} s"


def _usd_label(v: float) -> str:
    if v == 0:
        return "$0"
    return f"${v:.2f}" if v >= 1 else f"${v:.2g}"


def trend_charts(trends: Trends, styles: Mapping[str, Style]) -> tuple[TrendChart, ...]:
    """The four charts: requests per bucket, success rate, p95 latency, cost per hour."""
    per = "hour" if trends.hours == 1 else f"{trends.hours} h"
    return (
        trend_chart(
            "requests",
            f"Requests per {per}",
            trends,
            lambda p: float(p.requests),
            styles,
            _count_label,
        ),
        trend_chart(
            "success_rate",
            "Success rate",
            trends,
            lambda p: p.success_rate,
            styles,
            _percent_label,
            fixed_max=1.0,
        ),
        trend_chart(
            "p95_latency",
            "p95 latency",
            trends,
            lambda p: p.p95_latency,
            styles,
            _seconds_label,
        ),
        trend_chart(
            "cost_per_hour",
            "Cost per hour (USD)",
            trends,
            lambda p: p.cost_per_hour,
            styles,
            _usd_label,
        ),
    )


# ---------------------------------------------------------------- state chips


@dataclass(frozen=True)
class Chip:
    kind: str  # disabled, cooling_down, new, active
    label: str
    title: str


def _hm(at: datetime) -> str:
    return at.strftime("%H:%M UTC")


def state_chips(
    enabled: bool,
    cooling: Mapping[str, datetime],
    rows: int,
    task: str | None,
    cooling_on_scope: datetime | None,
    no_task_label: str = "(no task)",
) -> tuple[Chip, ...]:
    """A model's state at a glance.

    ``cooling`` holds the tasks it is cooling down on now (the empty task: records without
    one) and their ends; ``cooling_on_scope`` is when it may serve the dashboard's task again
    (None: it may now). ``disabled`` stands alone. Otherwise: a ``cooling_down`` chip per
    task, ``new`` below NEW_MODEL_ROWS rows in the window, and ``active`` when select may
    pick it for the dashboard's task now.
    """
    if not enabled:
        return (Chip("disabled", "disabled", "disabled: select never picks it"),)
    chips = []
    for name, until in sorted(cooling.items()):
        shown = name or no_task_label
        chips.append(
            Chip(
                "cooling_down",
                f"cooling · {shown}",
                f"cooling down on task {shown} until {_hm(until)}",
            )
        )
    if rows < NEW_MODEL_ROWS:
        chips.append(Chip("new", "new", f"{rows} rows in the window (fewer than {NEW_MODEL_ROWS})"))
    if cooling_on_scope is None:
        where = f"task {task}" if task else "requests without a task"
        chips.append(Chip("active", "active", f"select may pick it now for {where}"))
    return tuple(chips)
