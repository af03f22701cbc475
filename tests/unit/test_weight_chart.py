"""The weight-history chart's layout: one point per row, step lines, labels (pure)."""

from datetime import UTC, datetime, timedelta

import pytest

from aurea.charts import (
    HEIGHT,
    MAX_X_LABELS,
    WIDTH,
    HistoryPoint,
    marker_path,
    weight_chart,
)
from aurea.domain.scoring import DEFAULT_WEIGHTS, Weights

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def history(*rows: tuple[str, Weights], step: timedelta = timedelta(days=1)) -> list:
    return [
        HistoryPoint(i + 1, START + i * step, source, "ops" if source != "default" else None, w)
        for i, (source, w) in enumerate(rows)
    ]


def test_every_row_is_one_point_with_its_id_source_and_three_markers():
    rows = history(
        ("default", DEFAULT_WEIGHTS),
        ("manual", Weights(0.5, 0.3, 0.2)),
        ("optimize", Weights(0.2, 0.6, 0.2)),
        ("rollback", Weights(0.5, 0.3, 0.2)),
    )
    chart = weight_chart(rows)
    assert [(p.id, p.source, p.css_source) for p in chart.points] == [
        (1, "default", "default"),
        (2, "manual", "manual"),
        (3, "optimize", "optimize"),
        (4, "rollback", "rollback"),
    ]
    assert all(
        [m.criterion for m in p.markers] == ["cost", "quality", "latency"] for p in chart.points
    )
    xs = [p.x for p in chart.points]
    assert xs == sorted(xs) and len(set(xs)) == 4  # oldest on the left, evenly apart
    assert chart.points[1].title == (
        "#2 manual by ops, 2026-06-02 09:00:00 UTC: cost 0.500, quality 0.300, latency 0.200"
    )


def test_each_source_has_its_own_marker_shape_and_unknown_sources_are_other():
    shapes = {s: marker_path(s, 10, 10) for s in ("default", "manual", "optimize", "rollback")}
    assert len(set(shapes.values())) == 4
    [point] = weight_chart(history(("<script>", DEFAULT_WEIGHTS))).points
    assert (point.source, point.css_source) == ("<script>", "other")


def test_weights_map_to_heights_between_the_plot_edges():
    chart = weight_chart(history(("manual", Weights(1.0, 0.0, 0.0))))
    cost, quality, _ = chart.points[0].markers
    assert 0 < chart.top < chart.bottom < HEIGHT and 0 < chart.left < chart.right < WIDTH
    top_line = next(line for line in chart.lines if line.criterion == "cost")
    bottom_line = next(line for line in chart.lines if line.criterion == "quality")
    assert top_line.points.split()[0].endswith(f",{chart.top:g}")
    assert bottom_line.points.split()[0].endswith(f",{chart.bottom:g}")
    assert cost.value == 1.0 and quality.value == 0.0


def test_lines_are_steps_held_until_the_next_change_and_then_until_now():
    chart = weight_chart(history(("default", DEFAULT_WEIGHTS), ("manual", Weights(0.5, 0.3, 0.2))))
    cost = next(line for line in chart.lines if line.criterion == "cost")
    coordinates = [tuple(map(float, pair.split(","))) for pair in cost.points.split()]
    (x0, y0), (x1, y_held), (x1_again, y1), (x_end, y_end) = coordinates
    assert y_held == y0 and x1 == x1_again and y1 < y0  # 0.33 held, then up to 0.5
    assert x_end == chart.right and y_end == y1


def test_x_labels_are_thinned_and_show_seconds_when_changes_are_close():
    many = history(*[("manual", DEFAULT_WEIGHTS)] * 40, step=timedelta(hours=5))
    chart = weight_chart(many)
    assert len(chart.points) == 40
    assert 2 <= len(chart.x_ticks) <= MAX_X_LABELS
    assert chart.x_ticks[0].label == "06-01 09:00"
    burst = weight_chart(history(*[("manual", DEFAULT_WEIGHTS)] * 3, step=timedelta(seconds=2)))
    assert [t.label for t in burst.x_ticks] == [
        "06-01 09:00:00",
        "06-01 09:00:02",
        "06-01 09:00:04",
    ]


def test_an_empty_history_has_no_points_and_no_lines():
    chart = weight_chart([])
    assert chart.points == () and chart.lines == () and chart.x_ticks == ()


@pytest.mark.parametrize("count", [1, 2, 7])
def test_points_stay_inside_the_plot(count):
    chart = weight_chart(history(*[("optimize", Weights(0.2, 0.7, 0.1))] * count))
    assert all(chart.left <= p.x <= chart.right for p in chart.points)
