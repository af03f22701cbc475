"""A small Python client for Aurea's HTTP API.

.. code-block:: python

    client = AureaClient("http://127.0.0.1:8000", token="aurea_...")
    model = client.select(task="code")["selected_model"]
    with client.track(model, task="code") as call:
        answer = call_the_llm(model)
        call.cost = 0.002

Retries: connection errors, timeouts and 502/503/504 answers are retried up to
``retries`` times, waiting ``backoff * 2**n`` seconds (or the server's ``Retry-After``,
capped at ``max_retry_after``). Other answers are never retried. A record is retried on
every such failure only when it carries a ``request_id`` (``track`` always sends one), since
the server then counts a repeat once; without one it is retried only when the server
surely did not store it (the connection could not be opened, or the server answered 503).

Errors are typed: :class:`AuthenticationError` (401), :class:`PermissionDeniedError`
(403), :class:`ValidationError` (400, 422), :class:`UnavailableError` (502/503/504,
connection failures, retries exhausted), else :class:`AureaHTTPError`. Each carries the
server's message and its per-field ``errors``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from time import perf_counter, sleep
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

__all__ = [
    "AureaClient",
    "AureaError",
    "AureaHTTPError",
    "AuthenticationError",
    "ERROR_CLASSES",
    "PermissionDeniedError",
    "RETRY_STATUSES",
    "SAFE_RETRY_STATUSES",
    "TrackedCall",
    "UnavailableError",
    "ValidationError",
    "error_from_response",
    "retry_after_seconds",
]

RETRY_STATUSES = frozenset({502, 503, 504})
# Retried even for a record without request_id: the server answers 503 before storing.
SAFE_RETRY_STATUSES = frozenset({503})


class AureaError(Exception):
    """Anything that went wrong talking to Aurea."""


class AureaHTTPError(AureaError):
    """Aurea (or a proxy in front of it) refused the call; ``status`` is None without an answer."""

    def __init__(
        self,
        status: int | None,
        message: str,
        errors: dict[str, Any] | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {message}" if status is not None else message)
        self.status = status
        self.message = message
        self.errors = errors or {}
        self.body = body
        # The answer's Retry-After header in seconds (None without one).
        self.retry_after = retry_after


class AuthenticationError(AureaHTTPError):
    """401: the token is missing, unknown or revoked."""


class PermissionDeniedError(AureaHTTPError):
    """403: the token's role does not allow the call."""


class ValidationError(AureaHTTPError):
    """400 or 422: the request was refused as invalid; ``errors`` says which fields."""


class UnavailableError(AureaHTTPError):
    """502/503/504, a connection failure or a timeout, after the retries were used up."""


ERROR_CLASSES: dict[int, type[AureaHTTPError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    422: ValidationError,
    502: UnavailableError,
    503: UnavailableError,
    504: UnavailableError,
}


def error_from_response(response: requests.Response) -> AureaHTTPError:
    """Build the typed error for a non-2xx answer from its JSON body (or its text)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("status") or response.reason or "error"
        errors = body.get("errors") if isinstance(body.get("errors"), dict) else None
    else:
        message = response.text.strip()[:200] or response.reason or "error"
        errors = None
    cls = ERROR_CLASSES.get(response.status_code, AureaHTTPError)
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    return cls(response.status_code, str(message), errors, body, retry_after)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP date. None if absent or invalid."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _sent_nothing(error: requests.RequestException) -> bool:
    """True when the connection could not even be opened, so the server saw nothing."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = error.args[0] if error.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


@dataclass
class TrackedCall:
    """One call timed by :meth:`AureaClient.track`. Set ``cost`` (and ``success``) inside."""

    model: str
    task: str | None
    request_id: str
    cost: float = 0.0
    # None: decided on exit (False if an exception escaped, else True).
    success: bool | None = None
    latency: float | None = None
    # Aurea's answer to the record, once sent.
    response: dict[str, Any] | None = field(default=None, repr=False)


class AureaClient:
    """Talk to one Aurea server over one ``requests.Session`` (give each thread its own client).

    Use it as a context manager, or call :meth:`close` when done.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.2,
        max_retry_after: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        if retries < 0 or backoff < 0 or timeout <= 0:
            raise ValueError("retries and backoff must be >= 0 and timeout > 0")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.session = session or requests.Session()
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    # -- the API --------------------------------------------------------------------------

    def select(self, **constraints: Any) -> dict[str, Any]:
        """GET /router/select: the best model now.

        Constraints as in the API: ``models`` and ``exclude`` (lists of names), ``max_cost``,
        ``max_latency``, ``min_success_rate``, ``min_requests``, ``window``, ``task``. Listing
        the models you can call lets Aurea warm each one up (see README "Choosing a model").
        """
        return self._request("GET", "/router/select", params=_present(constraints))

    def record(
        self,
        model: str,
        latency: float,
        cost: float,
        success: bool,
        request_id: str | None = None,
        task: str | None = None,
    ) -> dict[str, Any]:
        """POST /router/record. Pass a ``request_id`` to make retries safe (``track`` does)."""
        body: dict[str, Any] = {
            "model": model,
            "latency": latency,
            "cost": cost,
            "success": success,
        }
        if request_id is not None:
            body["request_id"] = request_id
        if task is not None:
            body["task"] = task
        return self._request("POST", "/router/record", json=body, idempotent=request_id is not None)

    def record_many(self, records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """POST /router/records: 1 to 1,000 records, stored all or none."""
        items = [dict(r) for r in records]
        idempotent = all(item.get("request_id") is not None for item in items)
        return self._request(
            "POST", "/router/records", json={"records": items}, idempotent=idempotent
        )

    def metrics(self, **scope: Any) -> dict[str, dict[str, Any]]:
        """GET /router/metrics: every registered model's statistics. Scope: window, task, ..."""
        return self._request("GET", "/router/metrics", params=_present(scope))

    def weights(self) -> dict[str, float]:
        """GET /router/weights: the weights in force."""
        return self._request("GET", "/router/weights")

    def set_weights(self, cost: float, quality: float, latency: float) -> dict[str, float]:
        """PUT /router/weights (admin): replace the weights; they must sum to 1."""
        body = {"cost_weight": cost, "quality_weight": quality, "latency_weight": latency}
        return self._request("PUT", "/router/weights", json=body)

    def optimize(self, window: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        """POST /router/optimize (admin): re-tune the weights from the data."""
        params = _present({"window": window, "dry_run": "true" if dry_run else None})
        return self._request("POST", "/router/optimize", params=params, idempotent=dry_run)

    @contextmanager
    def track(self, model: str, task: str | None = None) -> Iterator[TrackedCall]:
        """Time the block and record it: success, or failure if an exception escapes.

        The exception is re-raised after the failure is recorded; if recording that
        failure fails too, a note on the exception says so. ``KeyboardInterrupt`` and
        ``SystemExit`` are not recorded. Every call gets a fresh uuid4
        ``request_id``, so a retried record is counted once.
        """
        call = TrackedCall(model=model, task=task, request_id=str(uuid.uuid4()))
        started = perf_counter()
        try:
            yield call
        except Exception as exc:
            call.latency = perf_counter() - started
            call.success = False
            try:
                self._record_call(call)
            except AureaError as error:
                exc.add_note(f"Aurea could not record this failure: {error}")
            raise
        call.latency = perf_counter() - started
        if call.success is None:
            call.success = True
        self._record_call(call)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> AureaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------

    def _record_call(self, call: TrackedCall) -> None:
        assert call.latency is not None and call.success is not None
        call.response = self.record(
            call.model,
            call.latency,
            call.cost,
            call.success,
            request_id=call.request_id,
            task=call.task,
        )

    def _delay(self, attempt: int, response: requests.Response | None) -> float:
        if response is not None:
            asked = retry_after_seconds(response.headers.get("Retry-After"))
            if asked is not None:
                return min(asked, self.max_retry_after)
        return self.backoff * 2**attempt

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send, retrying as the module docstring says; return the JSON body or raise."""
        if idempotent is None:
            idempotent = method == "GET"  # a repeated PUT /router/weights adds a history row
        url = self.base_url + path
        attempt = 0
        while True:
            response: requests.Response | None = None
            try:
                response = self.session.request(
                    method, url, params=params, json=json, timeout=self.timeout
                )
            except requests.RequestException as exc:
                retryable = isinstance(exc, requests.ConnectionError | requests.Timeout) and (
                    idempotent or _sent_nothing(exc)
                )
                if not retryable or attempt >= self.retries:
                    raise UnavailableError(
                        None, f"{method} {path} failed after {attempt + 1} attempt(s): {exc}"
                    ) from exc
            else:
                if response.ok:
                    return _json(response)
                error = error_from_response(response)
                statuses = RETRY_STATUSES if idempotent else SAFE_RETRY_STATUSES
                if response.status_code not in statuses or attempt >= self.retries:
                    raise error
            sleep(self._delay(attempt, response))
            attempt += 1


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop unset values; lists of names go as the API's comma-separated lists."""
    return {
        k: ",".join(v) if isinstance(v, list | tuple | set | frozenset) else v
        for k, v in values.items()
        if v is not None
    }


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise AureaHTTPError(
            response.status_code, "the answer is not JSON", body=response.text
        ) from exc
