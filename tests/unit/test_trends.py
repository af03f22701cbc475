"""The dashboard's trend series, chart layout, colours and state chips (aurea.trends, pure)."""

from datetime import UTC, datetime, timedelta

import pytest

from aurea.domain.estimators import HourRow
from aurea.domain.histogram import bin_of, representative
from aurea.services.decisions import Decision, DecisionLog
from aurea.trends import (
    BOTTOM,
    DASHES,
    HEIGHT,
    LEFT,
    MAX_POINTS,
    PALETTE,
    RIGHT,
    TOP,
    WIDTH,
    HourBin,
    bucket_hours,
    bucket_range,
    bucket_start,
    build_trends,
    line_path,
    model_styles,
    nice_ceiling,
    state_chips,
    style_of,
    trend_chart,
    trend_charts,
)

H = timedelta(hours=1)
T0 = datetime(2026, 6, 15, 8, tzinfo=UTC)


def row(hour: int, model: str, requests: int, successes: int, cost: float, task: str = ""):
    start = T0 + hour * H
    return HourRow(start, model, task, requests, successes, 0.5 * requests, cost, start)


def hour_bin(hour: int, model: str, latency: float, requests: int, task: str = ""):
    return HourBin(T0 + hour * H, model, task, bin_of(latency), requests)


@pytest.mark.parametrize(
    ("span", "hours"),
    [
        (1, 1),
        (25, 1),  # 24h window
        (169, 1),  # 7d
        (200, 1),
        (201, 2),  # 201 hourly points: 2 h buckets, at most 101 of them
        (721, 4),  # 30d: 3 h would need 241 buckets, 4 h needs at most 181
        (24 * 365, 48),  # a year: 24 h needs 366 buckets, 48 h at most 184
    ],
)
def test_buckets_are_hours_or_coarser_to_stay_within_200_points(span, hours):
    assert bucket_hours(span) == hours
    # whatever the alignment, the span never straddles more than MAX_POINTS buckets
    for offset in range(hours):
        first = T0 + offset * H
        assert len(bucket_range(first, first + (span - 1) * H, hours)) <= MAX_POINTS


def test_buckets_are_aligned_on_the_epoch():
    assert bucket_start(datetime(2026, 6, 15, 10, tzinfo=UTC), 4) == datetime(
        2026, 6, 15, 8, tzinfo=UTC
    )
    assert bucket_start(datetime(2026, 6, 15, 10, tzinfo=UTC), 1) == datetime(
        2026, 6, 15, 10, tzinfo=UTC
    )
    assert bucket_range(T0 + H, T0 + 5 * H, 2) == [T0, T0 + 2 * H, T0 + 4 * H]


def test_hourly_points_are_the_sums_of_each_hour_with_gaps_where_nothing_ran():
    rows = [
        row(0, "a", 4, 3, 0.4),
        row(0, "a", 1, 1, 0.1, task="code"),  # same hour, another task: added up
        row(2, "a", 2, 0, 0.2),
        row(1, "b", 10, 9, 1.0),
    ]
    bins = [hour_bin(0, "a", 0.2, 4), hour_bin(0, "a", 3.0, 1), hour_bin(1, "b", 1.0, 10)]
    trends = build_trends(rows, bins, T0, T0 + 2 * H)
    assert trends.hours == 1
    assert trends.starts == (T0, T0 + H, T0 + 2 * H)
    a, b = trends.series
    assert (a.model, b.model) == ("a", "b")
    assert [p.requests for p in a.points] == [5, 0, 2]
    assert [p.success_rate for p in a.points] == [0.8, None, 0.0]
    assert [p.cost_per_hour for p in a.points] == pytest.approx([0.5, 0.0, 0.2])
    # p95 of 5 requests is the 5th: the 3 s one; no histogram in hour 2: no p95
    assert [p.p95_latency for p in a.points] == [representative(bin_of(3.0)), None, None]
    assert [p.requests for p in b.points] == [0, 10, 0]
    assert [p.success_rate for p in b.points] == [None, 0.9, None]
    assert b.points[1].p95_latency == representative(bin_of(1.0))


def test_a_task_keeps_only_its_rows_and_models_without_them_drop_out():
    rows = [row(0, "a", 4, 3, 0.4), row(0, "a", 2, 2, 0.3, task="code"), row(1, "b", 1, 1, 0.1)]
    bins = [hour_bin(0, "a", 0.2, 4), hour_bin(0, "a", 0.9, 2, task="code")]
    trends = build_trends(rows, bins, T0, T0 + H, task="code")
    [a] = trends.series
    assert [p.requests for p in a.points] == [2, 0]
    assert a.points[0].success_rate == 1.0
    assert a.points[0].p95_latency == representative(bin_of(0.9))


def test_coarser_buckets_add_up_their_hours_and_cost_is_per_hour():
    rows = [row(0, "a", 1, 1, 0.2), row(1, "a", 3, 1, 0.6), row(2, "a", 2, 2, 0.1)]
    trends = build_trends(rows, [], T0, T0 + 2 * H, max_points=2)
    assert trends.hours == 2
    assert trends.starts == (T0, T0 + 2 * H)  # 08:00 and 10:00: aligned on the epoch
    [a] = trends.series
    assert [p.requests for p in a.points] == [4, 2]
    assert [p.success_rate for p in a.points] == [0.5, 1.0]
    assert [p.cost_per_hour for p in a.points] == pytest.approx([0.4, 0.05])


def test_the_all_window_starts_at_the_oldest_row():
    trends = build_trends([row(3, "a", 1, 1, 0.1)], [], None, T0 + 5 * H)
    assert trends.starts[0] == T0 + 3 * H and len(trends.starts) == 3


def test_a_30_day_window_has_at_most_200_points_per_series():
    rows = [row(h, "a", 1, 1, 0.01) for h in range(0, 721, 7)]
    trends = build_trends(rows, [], T0, T0 + 720 * H)
    assert trends.hours == 4
    assert len(trends.series[0].points) <= MAX_POINTS
    assert sum(p.requests for p in trends.series[0].points) == len(rows)


def test_twelve_distinct_colours_then_the_same_with_dashes():
    styles = [style_of(i) for i in range(12 * len(DASHES))]
    assert len({s.colour for s in styles[:12]}) == 12
    assert all(s.dash == "" for s in styles[:12])
    assert styles[12].colour == styles[0].colour and styles[12].dash == DASHES[1]
    assert styles[25].colour == PALETTE[1] and styles[25].dash == DASHES[2]
    assert len({(s.colour, s.dash) for s in styles[: 12 * len(DASHES)]}) == 12 * len(DASHES)
    # by name, whatever the order given
    assert model_styles(["b", "a", "a"]) == {"a": style_of(0), "b": style_of(1)}


def test_line_paths_break_at_gaps_and_draw_lone_points_as_dots():
    assert line_path([(1, 2), (3, 4.25)]) == "M1,2L3,4.2"
    assert line_path([(1, 2), None, (5, 6), (7, 8)]) == "M1,2h0M5,6L7,8"
    assert line_path([None, None]) == ""


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (0.7, 1), (1, 1), (1.2, 2), (2.2, 2.5), (3, 5), (7, 10)]
)
def test_nice_ceiling(value, ceiling):
    assert nice_ceiling(value) == pytest.approx(ceiling)


def test_the_chart_places_points_from_the_left_edge_to_the_right_with_a_round_maximum():
    rows = [row(0, "a", 2, 2, 0.0), row(1, "a", 8, 8, 0.0), row(2, "a", 4, 4, 0.0)]
    trends = build_trends(rows, [], T0, T0 + 2 * H)
    chart = trend_chart(
        "requests", "Requests", trends, lambda p: p.requests, model_styles(["a"]), str
    )
    # y from 0 (bottom) to 10 (top): 8 is 0.8 of the way up
    bottom, top = HEIGHT - BOTTOM, TOP
    xs = [LEFT, (LEFT + WIDTH - RIGHT) / 2, WIDTH - RIGHT]
    ys = [bottom - v / 10 * (bottom - top) for v in (2, 8, 4)]
    [line] = chart.lines
    assert line.path == line_path(list(zip(xs, ys, strict=True)))
    assert line.colour == PALETTE[0] and line.dash == ""
    assert [t.label for t in chart.y_ticks] == ["0.0", "2.5", "5.0", "7.5", "10.0"]
    assert [t.label for t in chart.x_ticks] == ["08:00", "09:00", "10:00"]


def test_the_four_charts_and_success_rate_is_always_zero_to_one():
    trends = build_trends([row(0, "a", 2, 1, 0.01)], [hour_bin(0, "a", 0.2, 2)], T0, T0)
    charts = trend_charts(trends, model_styles(["a"]))
    assert [c.key for c in charts] == ["requests", "success_rate", "p95_latency", "cost_per_hour"]
    assert [t.label for t in charts[1].y_ticks] == ["0 %", "25 %", "50 %", "75 %", "100 %"]
    assert charts[0].title == "Requests per hour"
    assert all(c.lines[0].path.endswith("h0") for c in charts)  # one bucket: a dot each


UNTIL = datetime(2026, 6, 15, 10, 50, tzinfo=UTC)


def kinds(chips):
    return [c.kind for c in chips]


def test_state_chips():
    assert kinds(state_chips(False, {"code": UNTIL}, 3, None, None)) == ["disabled"]
    assert kinds(state_chips(True, {}, 50, None, None)) == ["active"]
    assert kinds(state_chips(True, {}, 9, None, None)) == ["new", "active"]
    assert kinds(state_chips(True, {}, 10, None, None)) == ["active"]
    # cooling on "code" only: still active without a task, not for "code"
    chips = state_chips(True, {"code": UNTIL}, 50, None, None)
    assert kinds(chips) == ["cooling_down", "active"]
    assert chips[0].label == "cooling · code" and "10:50 UTC" in chips[0].title
    assert kinds(state_chips(True, {"code": UNTIL}, 50, "code", UNTIL)) == ["cooling_down"]
    assert state_chips(True, {"": UNTIL}, 50, None, UNTIL)[0].label == "cooling · (no task)"


def decision(i: int) -> Decision:
    return Decision(T0, f"m{i}", "highest_score", "weighted", "7d", None, 0.5, False, 3, ())


def test_the_decision_log_keeps_the_newest_200_newest_first():
    log = DecisionLog()
    for i in range(250):
        log.append(decision(i))
    kept = log.newest_first()
    assert len(kept) == len(log) == 200
    assert kept[0].selected_model == "m249" and kept[-1].selected_model == "m50"
