"""Fuzzing from the OpenAPI document: no request gets a 5xx, every answer is as documented.

schemathesis reads /openapi.json from the app (in process, through WSGI: no network) and
generates requests for every operation: valid ones (which must be accepted) and invalid
ones (which must be refused with a 4xx). Each response goes through schemathesis's checks:
no server error, a documented status code, content type and headers, a body matching the
documented schema, and valid data accepted / invalid data refused.

The budget is small and fixed (derandomized, no example database) so CI runs the same
cases every time; run with a larger AUREA_FUZZ_EXAMPLES to search longer.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from aurea.app_context import service_context
from aurea.services.tokens import create_token

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("AUREA_FUZZ_EXAMPLES", "30"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def takes_input(operation) -> bool:
    return bool(operation.query or operation.path_parameters or operation.headers or operation.body)


def excluded_checks(operation) -> list:
    # Weights must also sum to 1 (and select's overrides come as a set of three), which
    # JSON Schema cannot say, and select may find that no model qualifies: a schema-valid
    # request may get the documented 400/422. Everything else about those answers is checked.
    if operation.label in ("PUT /router/weights", "GET /router/select"):
        return [positive_data_acceptance]
    # Any bytes are a schema-valid protobuf body; few are an ExportTraceServiceRequest.
    if operation.label == "POST /v1/traces":
        return [positive_data_acceptance]
    return []


def carries_timestamp_or_tokens(case) -> bool:
    # A record's timestamp must also be at most 300 s in the future, and token counts
    # without a cost need a model with token prices, which JSON Schema cannot say: such a
    # schema-valid record may get the documented 422. Cases without them are checked in full.
    body = case.body if isinstance(case.body, dict) else {}
    items = body.get("records") if isinstance(body.get("records"), list) else [body]
    return any(
        isinstance(item, dict) and ("timestamp" in item or "cost" not in item) for item in items
    )


def invalid_only_in_its_query(case) -> bool:
    # A query string carries text only: an "invalid" query often reaches the app as a valid
    # one (`exclude=false` is a list of one name; a parameter with an empty name, an object
    # or an empty list is not sent at all), and is rightly accepted. Such cases are still
    # checked for a 5xx and for an answer as documented; bodies are checked for refusal too.
    return case.method.upper() == "GET"


def fuzz(operation, mode: GenerationMode, token: str) -> None:
    excluded = excluded_checks(operation)
    headers = {"Authorization": f"Bearer {token}"}

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        skip = [positive_data_acceptance] if carries_timestamp_or_tokens(case) else []
        if invalid_only_in_its_query(case):
            skip.append(negative_data_rejection)
        response = case.call_and_validate(headers=headers, excluded_checks=excluded + skip)
        assert response.status_code < 500, case.as_curl_command()

    run()


def test_fuzzed_requests_never_get_a_5xx_and_every_response_matches_its_schema(app):
    # With a token in place, schemathesis also checks that calls without it are refused.
    with app.app_context():
        token = create_token(service_context(), "fuzzer", "admin")
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    failures = {}
    for operation in operations:
        modes = [GenerationMode.POSITIVE]
        if takes_input(operation):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            try:
                fuzz(operation, mode, token)
            except Exception as error:  # report every operation's failure, not the first
                failures[f"{operation.label} ({mode.value})"] = error
    assert not failures, "\n\n".join(f"{name}:\n{error}" for name, error in failures.items())
