"""Read answers are reused briefly, and a write through the same process is seen at once."""

import pytest

from aurea.app_context import service_context
from aurea.services.metrics import metrics_summary
from aurea.services.records import record_request
from aurea.services.scope import Scope
from aurea.services.selection import select_model
from aurea.storage.extensions import db

# These tests state the seed's weighted mode (AUREA_OBJECTIVE=weighted).
pytestmark = pytest.mark.weighted_objective


@pytest.fixture
def cached(app):
    app.extensions["aurea_read_cache"].ttl = 60.0
    with app.app_context():
        yield app
        db.session.remove()


def test_select_reuses_its_answer_while_nothing_is_written(cached):
    record_request(service_context(), "gpt-4", 1.0, 0.01, True)
    first = select_model(service_context(), Scope.from_request(service_context().config))
    # A change committed by another process (here: a bare connection) is not seen yet.
    with db.engine.begin() as conn:
        conn.execute(db.text("UPDATE model_stats_hourly SET successes = 0"))
    assert first.score == pytest.approx(1.0)
    assert select_model(
        service_context(), Scope.from_request(service_context().config)
    ).score == pytest.approx(1.0)  # still the cached data


def test_a_write_through_this_process_clears_cached_answers(cached):
    record_request(service_context(), "gpt-4", 1.0, 0.01, True)
    before = metrics_summary(service_context(), Scope.from_request(service_context().config))
    record_request(service_context(), "gpt-4", 1.0, 0.01, False)
    after = metrics_summary(service_context(), Scope.from_request(service_context().config))
    assert before["gpt-4"]["total_requests"] == 1
    assert after["gpt-4"]["total_requests"] == 2


def test_other_scopes_are_cached_separately(cached):
    record_request(service_context(), "gpt-4", 1.0, 0.01, True, task="code")
    assert (
        metrics_summary(
            service_context(), Scope.from_request(service_context().config, task="code")
        )["gpt-4"]["task_fallback"]
        is False
    )
    assert (
        "task"
        not in metrics_summary(service_context(), Scope.from_request(service_context().config))[
            "gpt-4"
        ]
    )


def test_answers_expire_after_the_configured_seconds(cached):
    cache = cached.extensions["aurea_read_cache"]
    cache.clock = lambda: 1000.0
    record_request(service_context(), "gpt-4", 1.0, 0.01, True)
    first = select_model(service_context(), Scope.from_request(service_context().config))
    with db.engine.begin() as conn:
        conn.execute(db.text("UPDATE model_stats_hourly SET successes = 0"))
    cache.clock = lambda: 1059.0
    assert (
        select_model(service_context(), Scope.from_request(service_context().config)).score
        == first.score
    )
    cache.clock = lambda: 1061.0
    db.session.remove()  # a new request gets a new session
    assert select_model(
        service_context(), Scope.from_request(service_context().config)
    ).score == pytest.approx(0.66)
