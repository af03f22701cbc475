"""AureaClient retries, backoff, Retry-After and error mapping, against a scripted stub server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aurea_client import (
    AureaClient,
    AureaHTTPError,
    AuthenticationError,
    PermissionDeniedError,
    UnavailableError,
    ValidationError,
    retry_after_seconds,
)
from aurea_client import client as client_module

from tests.support.server import free_port
from tests.support.stub_http import Canned, StubServer

SELECTED = {"selected_model": "gpt-4", "score": 1.0, "reason": "highest_score"}
UNAVAILABLE = {"code": 503, "status": "Service Unavailable", "message": "The database is down."}
RECORDED = {"status": "recorded", "model": "gpt-4"}


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Record the client's waits instead of waiting."""
    waited: list[float] = []
    monkeypatch.setattr(client_module, "sleep", waited.append)
    return waited


def test_a_503_is_retried_with_exponential_backoff_until_it_succeeds(sleeps):
    with StubServer(Canned(503, UNAVAILABLE), Canned(503, UNAVAILABLE), Canned(200, SELECTED)) as s:
        answer = AureaClient(s.url, backoff=0.2).select(task="code")
    assert answer == SELECTED
    assert len(s.seen) == 3
    assert all(seen.query == "task=code" for seen in s.seen)
    assert sleeps == pytest.approx([0.2, 0.4])


def test_retry_after_replaces_the_backoff_and_is_capped(sleeps):
    with StubServer(
        Canned(503, UNAVAILABLE, headers={"Retry-After": "2"}),
        Canned(503, UNAVAILABLE, headers={"Retry-After": "3600"}),
        Canned(200, SELECTED),
    ) as s:
        AureaClient(s.url, backoff=0.2, max_retry_after=5.0).select()
    assert sleeps == [2.0, 5.0]


def test_the_real_wait_honours_retry_after():
    with StubServer(
        Canned(503, UNAVAILABLE, headers={"Retry-After": "0.3"}), Canned(200, SELECTED)
    ) as s:
        AureaClient(s.url, backoff=0.0).select()
    first, second = s.seen
    assert second.at - first.at >= 0.3


def test_retry_after_may_be_an_http_date():
    now = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert retry_after_seconds(later, now=now) == pytest.approx(7.0)
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_exhausted_retries_raise_unavailable_with_the_servers_message(sleeps):
    with StubServer(Canned(503, UNAVAILABLE)) as s:
        with pytest.raises(UnavailableError) as raised:
            AureaClient(s.url, retries=2).select()
    assert len(s.seen) == 3
    assert raised.value.status == 503
    assert raised.value.message == "The database is down."
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_are_retried_for_reads_and_for_records_with_a_request_id(sleeps, status):
    with StubServer(Canned(status, {"message": "gateway"}), Canned(200, RECORDED)) as s:
        client = AureaClient(s.url)
        assert client.record("gpt-4", 0.5, 0.01, True, request_id="r-1") == RECORDED
    assert len(s.seen) == 2
    assert s.seen[0].body == s.seen[1].body  # the same request_id both times


@pytest.mark.parametrize("status", [502, 504])
def test_a_record_without_request_id_is_not_retried_after_a_gateway_error(sleeps, status):
    with StubServer(Canned(status, {"message": "gateway"}), Canned(200, RECORDED)) as s:
        with pytest.raises(UnavailableError) as raised:
            AureaClient(s.url).record("gpt-4", 0.5, 0.01, True)
    assert raised.value.status == status
    assert len(s.seen) == 1  # the proxy may have forwarded it: a retry could count it twice


def test_a_record_without_request_id_is_retried_after_a_503(sleeps):
    with StubServer(Canned(503, UNAVAILABLE), Canned(200, RECORDED)) as s:
        assert AureaClient(s.url).record("gpt-4", 0.5, 0.01, True) == RECORDED
    assert len(s.seen) == 2
    assert "request_id" not in s.seen[0].body and "task" not in s.seen[0].body


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, ValidationError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, AureaHTTPError),
        (409, AureaHTTPError),
        (422, ValidationError),
        (500, AureaHTTPError),
    ],
)
def test_other_errors_are_never_retried_and_are_typed(sleeps, status, error_class):
    body = {"code": status, "status": "x", "message": f"refused {status}"}
    with StubServer(Canned(status, body)) as s:
        with pytest.raises(error_class) as raised:
            AureaClient(s.url).select()
    assert len(s.seen) == 1
    assert sleeps == []
    assert type(raised.value) is error_class
    assert (raised.value.status, raised.value.message) == (status, f"refused {status}")


def test_validation_errors_carry_the_per_field_errors(sleeps):
    body = {
        "code": 422,
        "status": "Unprocessable Entity",
        "errors": {"json": {"latency": ["Must be greater than or equal to 0."]}},
    }
    with StubServer(Canned(422, body)) as s:
        with pytest.raises(ValidationError) as raised:
            AureaClient(s.url).record("gpt-4", -1.0, 0.0, True)
    assert raised.value.errors == body["errors"]
    assert raised.value.message == "Unprocessable Entity"


def test_a_non_json_error_page_keeps_its_text_as_the_message(sleeps):
    with StubServer(Canned(502, text="<html>Bad gateway</html>")) as s:
        with pytest.raises(UnavailableError) as raised:
            AureaClient(s.url, retries=1).select()
    assert "Bad gateway" in raised.value.message
    assert len(s.seen) == 2


def test_a_refused_connection_is_retried_then_raises_unavailable(sleeps):
    client = AureaClient(f"http://127.0.0.1:{free_port()}", retries=2)
    with pytest.raises(UnavailableError) as raised:
        client.record("gpt-4", 0.5, 0.01, True)  # safe to retry: nothing was sent
    assert raised.value.status is None
    assert "3 attempt(s)" in raised.value.message
    assert len(sleeps) == 2


def test_a_timeout_is_retried_for_reads(sleeps):
    with StubServer(Canned(200, SELECTED, delay=1.0), Canned(200, SELECTED)) as s:
        assert AureaClient(s.url, timeout=0.2).select() == SELECTED
    assert len(s.seen) == 2


def test_a_read_timeout_is_not_retried_for_a_record_without_request_id(sleeps):
    with StubServer(Canned(200, RECORDED, delay=1.0)) as s:
        with pytest.raises(UnavailableError):
            AureaClient(s.url, timeout=0.2).record("gpt-4", 0.5, 0.01, True)
    assert len(s.seen) == 1


def test_the_token_is_sent_as_a_bearer_header(sleeps):
    with StubServer(Canned(200, SELECTED)) as s:
        AureaClient(s.url + "/", token="aurea_abc").select()
    assert s.seen[0].headers["Authorization"] == "Bearer aurea_abc"
    assert s.seen[0].path == "/router/select"


def test_no_retries_means_one_attempt(sleeps):
    with StubServer(Canned(503, UNAVAILABLE)) as s:
        with pytest.raises(UnavailableError):
            AureaClient(s.url, retries=0).select()
    assert len(s.seen) == 1
    assert sleeps == []
