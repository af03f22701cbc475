"""A fast path for the common record batch: plain items checked without marshmallow.

Marshmallow validates a 500-record batch field by field, and that was about half of the
batch endpoint's time (``python -m bench.inprocess --profile-batch``). Most batches are
plain: every item has the four required fields, maybe ``task`` and ``request_id``, JSON
numbers in range, plain labels. :func:`plain_batch` accepts exactly such batches and
returns what ``RecordBatchSchema`` would load from them; for anything else (a timestamp,
an unknown key, a value marshmallow would refuse or convert) it returns None and the
schema validates as usual, with its per-field messages. So the fast path can only accept
a subset of what the schema accepts, with the same result:
``tests/unit/test_plain_records.py`` checks that against the schema on generated batches.
"""

from __future__ import annotations

import re
from typing import Any

from aurea.models import MODEL_NAME_LENGTH, REQUEST_ID_LENGTH, TASK_LENGTH

REQUIRED = frozenset({"model", "latency", "cost", "success"})
OPTIONAL = frozenset({"task", "request_id"})
ALLOWED = REQUIRED | OPTIONAL
# Names with no control characters (Cc) and no lone surrogates (Cs): the common case, also
# checked first by schemas.validate_label (which then explains a refusal character by character).
PLAIN_LABEL = re.compile(r"[^\x00-\x1f\x7f-\x9f\ud800-\udfff]*")


def is_plain_label(name: str) -> bool:
    return PLAIN_LABEL.fullmatch(name) is not None and name == name.strip()


def _label(value: Any, max_length: int) -> bool:
    return type(value) is str and 1 <= len(value) <= max_length and is_plain_label(value)


def _number(value: Any, limit: float) -> float | None:
    kind = type(value)
    if kind is float:
        return value if 0 <= value <= limit else None  # NaN fails both comparisons
    if kind is int:
        return float(value) if 0 <= value <= limit else None
    return None


def plain_item(item: Any, limit: float) -> dict | None:
    if type(item) is not dict or not REQUIRED <= item.keys() <= ALLOWED:
        return None
    model, success = item["model"], item["success"]
    latency, cost = _number(item["latency"], limit), _number(item["cost"], limit)
    if latency is None or cost is None or type(success) is not bool:
        return None
    if not _label(model, MODEL_NAME_LENGTH):
        return None
    task, request_id = item.get("task"), item.get("request_id")
    if task is not None and not _label(task, TASK_LENGTH):
        return None
    if request_id is not None and not _label(request_id, REQUEST_ID_LENGTH):
        return None
    return {
        "model": model,
        "latency": latency,
        "cost": cost,
        "success": success,
        "task": task,
        "request_id": request_id,
        "at": None,
    }


def plain_batch(data: Any, max_items: int, limit: float) -> dict | None:
    """``{"records": [...]}`` as RecordBatchSchema loads it, or None: let the schema decide."""
    if type(data) is not dict or data.keys() != {"records"}:
        return None
    items = data["records"]
    if type(items) is not list or not 1 <= len(items) <= max_items:
        return None
    loaded = []
    for item in items:
        plain = plain_item(item, limit)
        if plain is None:
            return None
        loaded.append(plain)
    return {"records": loaded}
