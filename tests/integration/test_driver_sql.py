"""The record path writes at driver level; what it stores must look like what the ORM stores."""

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from aurea.extensions import db
from aurea.models import ModelStatsHourly, RegisteredModel, RequestMetric
from aurea.services.records import Record, record_requests

# Whole seconds: a driver's own datetime adapter would drop the ".000000" the ORM writes.
AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def test_timestamps_written_by_the_record_path_are_stored_like_the_orms(ctx):
    record_requests([Record("driver-level", 0.5, 0.01, True, request_id="d-1", at=AT)])
    db.session.add(
        RequestMetric(model="driver-level", latency=0.5, cost=0.01, success=True, created_at=AT)
    )
    db.session.commit()
    by_driver, by_orm = db.session.scalars(
        sa.select(sa.cast(RequestMetric.created_at, sa.String))
        .where(RequestMetric.model == "driver-level")
        .order_by(RequestMetric.id)
    ).all()
    assert by_driver == by_orm
    # the hour's aggregate is found by an ORM equality on its start
    assert (
        db.session.scalar(
            sa.select(ModelStatsHourly.requests).where(
                ModelStatsHourly.model == "driver-level",
                ModelStatsHourly.bucket_start == AT.replace(minute=0),
            )
        )
        == 1
    )


def test_rows_written_at_driver_level_are_found_by_timestamp_comparisons(ctx):
    record_requests([Record("driver-level", 0.5, 0.01, False, at=AT)])
    found = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(RequestMetric)
        .where(
            RequestMetric.created_at >= AT,
            RequestMetric.created_at < AT + timedelta(seconds=1),
        )
    )
    assert found == 1
    assert (
        db.session.scalar(
            sa.select(RegisteredModel.created_at).where(RegisteredModel.name == "driver-level")
        ).tzinfo
        is not None
    )


def test_rows_beyond_one_statements_parameter_limit_go_in_several_statements(ctx, monkeypatch):
    from aurea.services import driver_sql

    monkeypatch.setattr(driver_sql, "PARAMETERS_PER_STATEMENT", 14)  # two raw rows each
    built = []
    original = driver_sql._values_statement

    def recording(statement, rows, width, qmark):
        built.append(rows * width)
        return original(statement, rows, width, qmark)

    monkeypatch.setattr(driver_sql, "_values_statement", recording)
    batch = [Record(f"chunked-{i % 3}", 0.1 * (i + 1), 0.01, i % 2 == 0) for i in range(7)]
    assert record_requests(batch) == ["recorded"] * 7
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(RequestMetric.model.like("chunked-%")))
        == 7
    )
    assert (
        db.session.scalar(
            sa.select(sa.func.sum(ModelStatsHourly.requests)).where(
                ModelStatsHourly.model.like("chunked-%")
            )
        )
        == 7
    )
    assert built and max(built) <= 14  # no statement over the limit
    assert built.count(14) >= 3  # the 7 raw rows went in as 2 + 2 + 2 + 1


def test_a_remembered_timestamp_is_converted_as_the_column_type_converts_it(ctx):
    from aurea.models import UTCDateTime
    from aurea.services.driver_sql import DriverSql

    dialect = db.engine.dialect
    convert = UTCDateTime().dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
    sql = DriverSql(dialect)
    plus_two = timezone(timedelta(hours=2))
    moments = [AT, AT.replace(microsecond=123456), AT.astimezone(plus_two), AT]
    for moment in moments:
        assert sql.timestamp(moment) == convert(moment)
    # the same instant in another zone is stored the same way, converted or remembered
    assert sql.timestamp(AT.astimezone(plus_two)) == sql.timestamp(AT)


def test_remembered_timestamps_are_bounded(ctx, monkeypatch):
    from aurea.services import driver_sql

    monkeypatch.setattr(driver_sql, "TIMESTAMPS_REMEMBERED", 3)
    sql = driver_sql.DriverSql(db.engine.dialect)
    converted = []
    convert = sql._timestamp
    sql._timestamp = lambda value: converted.append(value) or convert(value)
    stored = [sql.timestamp(AT + timedelta(seconds=n)) for n in range(10)]
    assert len(sql._converted) <= 3
    assert len(set(stored)) == 10 and len(converted) == 10
    assert sql.timestamp(AT + timedelta(seconds=9)) == stored[9]  # the latest: remembered
    assert len(converted) == 10
    assert sql.timestamp(AT + timedelta(seconds=1)) == stored[1]  # forgotten: converted again
    assert len(converted) == 11
