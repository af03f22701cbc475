"""The dashboard's weight-history chart, laid out on the server as SVG geometry.

Pure: weight_history rows in, coordinates and labels out; the template only draws them.
Changes are spaced evenly from oldest (left) to newest (right), whatever the time between
them, so a burst of changes stays readable; each point's tooltip gives its time. Lines are
steps: a weight holds until the next change (the newest until now, at the right edge).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aurea.domain.scoring import CRITERIA, Weights

WIDTH, HEIGHT = 960, 280
LEFT, RIGHT, TOP, BOTTOM = 52, 48, 14, 44
MARKER_RADIUS = 4.5
MAX_X_LABELS = 8
KNOWN_SOURCES = ("default", "manual", "optimize", "rollback")


@dataclass(frozen=True)
class HistoryPoint:
    """One weight_history row."""

    id: int
    created_at: datetime
    source: str
    actor: str | None
    weights: Weights


@dataclass(frozen=True)
class Marker:
    criterion: str
    value: float
    path: str  # SVG path data of the marker's shape


@dataclass(frozen=True)
class ChartPoint:
    id: int
    source: str
    css_source: str  # the source if known, else "other": safe in a class name
    title: str
    x: float
    markers: tuple[Marker, ...]


@dataclass(frozen=True)
class Line:
    criterion: str
    points: str  # SVG polyline points


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class WeightChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    lines: tuple[Line, ...]
    points: tuple[ChartPoint, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def marker_path(source: str, x: float, y: float, r: float = MARKER_RADIUS) -> str:
    """The marker shape of a source: circle (default), square (manual), diamond (optimize),
    triangle (rollback), small circle (anything else)."""
    n = _num
    if source == "manual":
        return f"M{n(x - r)},{n(y - r)}h{n(2 * r)}v{n(2 * r)}h{n(-2 * r)}Z"
    if source == "optimize":
        d = r * 1.35
        return f"M{n(x)},{n(y - d)}L{n(x + d)},{n(y)}L{n(x)},{n(y + d)}L{n(x - d)},{n(y)}Z"
    if source == "rollback":
        d = r * 1.35
        return f"M{n(x)},{n(y - d)}L{n(x + d)},{n(y + r)}L{n(x - d)},{n(y + r)}Z"
    if source != "default":
        r *= 0.7
    return f"M{n(x - r)},{n(y)}a{n(r)},{n(r)} 0 1,0 {n(2 * r)},0a{n(r)},{n(r)} 0 1,0 {n(-2 * r)},0"


def css_source(source: str) -> str:
    return source if source in KNOWN_SOURCES else "other"


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def point_title(point: HistoryPoint) -> str:
    w = point.weights
    by = f" by {point.actor}" if point.actor else ""
    return (
        f"#{point.id} {point.source}{by}, {_time(point.created_at)}: "
        f"cost {w.cost:.3f}, quality {w.quality:.3f}, latency {w.latency:.3f}"
    )


def _label_indices(count: int) -> list[int]:
    if count <= MAX_X_LABELS:
        return list(range(count))
    step = (count - 1) / (MAX_X_LABELS - 1)
    return sorted({round(i * step) for i in range(MAX_X_LABELS)})


def weight_chart(history: Sequence[HistoryPoint]) -> WeightChart:
    """Lay out ``history`` (oldest first): one point per row, three step lines."""
    plot_left, plot_right = LEFT, WIDTH - RIGHT
    plot_top, plot_bottom = TOP, HEIGHT - BOTTOM

    def x_of(i: int) -> float:
        if len(history) == 1:
            return (plot_left + plot_right) / 2
        return plot_left + 10 + i * (plot_right - plot_left - 20) / (len(history) - 1)

    def y_of(value: float) -> float:
        value = min(1.0, max(0.0, value))
        return plot_bottom - value * (plot_bottom - plot_top)

    points, coordinates = [], {c: [] for c in CRITERIA}
    for i, row in enumerate(history):
        x = x_of(i)
        w = row.weights
        values = {"cost": w.cost, "quality": w.quality, "latency": w.latency}
        markers = []
        for criterion, value in values.items():
            y = y_of(value)
            markers.append(Marker(criterion, value, marker_path(row.source, x, y)))
            if coordinates[criterion]:  # a step: hold the previous value until this change
                coordinates[criterion].append((x, coordinates[criterion][-1][1]))
            coordinates[criterion].append((x, y))
        points.append(
            ChartPoint(
                row.id, row.source, css_source(row.source), point_title(row), x, tuple(markers)
            )
        )
    for line in coordinates.values():
        if line:  # the newest weights are in force until now
            line.append((plot_right, line[-1][1]))
    lines = tuple(
        Line(c, " ".join(f"{_num(x)},{_num(y)}" for x, y in coordinates[c]))
        for c in CRITERIA
        if coordinates[c]
    )
    y_ticks = tuple(Tick(y_of(v), f"{v:.2f}") for v in (0.0, 0.25, 0.5, 0.75, 1.0))
    labelled = _label_indices(len(history))
    time_format = "%m-%d %H:%M"
    if len({history[i].created_at.strftime(time_format) for i in labelled}) < len(labelled):
        time_format = "%m-%d %H:%M:%S"  # changes minutes apart: show the seconds too
    x_ticks = tuple(Tick(x_of(i), history[i].created_at.strftime(time_format)) for i in labelled)
    return WeightChart(
        WIDTH,
        HEIGHT,
        plot_left,
        plot_right,
        plot_top,
        plot_bottom,
        lines,
        tuple(points),
        y_ticks,
        x_ticks,
    )


# (source, marker shape centred in an 18 x 18 box) for the chart's legend
SOURCE_LEGEND = tuple((source, marker_path(source, 9, 9)) for source in KNOWN_SOURCES)
