"""The batch fast path accepts only what RecordBatchSchema accepts, and loads it the same."""

import marshmallow as ma
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurea.plain_records import plain_batch, plain_item
from aurea.schemas import MAX_BATCH, MAX_RECORDED_VALUE, RecordBatchSchema, RecordRequestSchema

SCHEMA = RecordBatchSchema()


def schema_load(data):
    """What marshmallow alone makes of ``data`` (the fast path bypassed), or its errors."""
    try:
        return super(RecordBatchSchema, SCHEMA).load(data)
    except ma.ValidationError as error:
        return error


def fast(data):
    return plain_batch(data, MAX_BATCH, MAX_RECORDED_VALUE)


labels = st.one_of(
    st.sampled_from(["gpt-4", "claude-3-opus", "code", "req-1", "é模型", "a b", ""]),
    st.text(max_size=8),
    st.sampled_from([" gpt-4", "gpt-4 ", "gpt\x00", "\ud800", "x" * 129, "x" * 65, "\u3000a"]),
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, 0.0, -0.0, 1e9, 1e9 + 1, 10**9, 10**9 + 1, -1e-300]),
)
values = st.one_of(labels, numbers, st.booleans(), st.none(), st.just([]), st.just({}))
keys = st.sampled_from(
    ["model", "latency", "cost", "success", "task", "request_id", "timestamp", "extra"]
)
item_values = {
    "model": st.one_of(labels, values),
    "latency": st.one_of(numbers, values),
    "cost": st.one_of(numbers, values),
    "success": st.one_of(st.booleans(), values),
    "task": st.one_of(labels, st.none(), values),
    "request_id": st.one_of(labels, st.none(), values),
    "timestamp": st.just("2026-01-01T00:00:00+00:00"),
    "extra": values,
}


@st.composite
def items(draw):
    item = {
        "model": draw(labels),
        "latency": draw(numbers),
        "cost": draw(numbers),
        "success": draw(st.booleans()),
    }
    for key in draw(st.lists(keys, max_size=3)):
        if draw(st.booleans()):
            item.pop(key, None)
        else:
            item[key] = draw(item_values[key])
    return item


batches = st.one_of(
    st.builds(lambda xs: {"records": xs}, st.lists(items(), max_size=4)),
    st.builds(lambda xs: {"records": xs, "more": 1}, st.lists(items(), max_size=2)),
    values,
)


@settings(max_examples=600, deadline=None)
@given(batches)
def test_whatever_the_fast_path_accepts_the_schema_loads_to_the_same_records(data):
    loaded = fast(data)
    if loaded is not None:
        assert schema_load(data) == loaded


def test_a_typical_batch_takes_the_fast_path_with_the_schemas_result():
    data = {
        "records": [
            {"model": "gpt-4", "latency": 0.5, "cost": 0.01, "success": True},
            {"model": "gpt-4", "latency": 2, "cost": 0, "success": False, "task": "code"},
            {"model": "llama", "latency": 1.0, "cost": 0.0, "success": True, "request_id": "r"},
            {"model": "llama", "latency": 1.0, "cost": 0.0, "success": True, "task": None},
        ]
    }
    loaded = fast(data)
    assert loaded is not None and loaded == schema_load(data)
    assert loaded["records"][1]["latency"] == 2.0 and type(loaded["records"][1]["latency"]) is float


@pytest.mark.parametrize(
    "item",
    [
        {"model": "gpt-4", "latency": "0.5", "cost": 0.01, "success": True},
        {"model": "gpt-4", "latency": 0.5, "cost": -0.01, "success": True},
        {"model": "gpt-4", "latency": 0.5, "cost": 0.01, "success": 1},
        {"model": " gpt-4", "latency": 0.5, "cost": 0.01, "success": True},
        {"model": "gpt-4", "latency": 0.5, "cost": 0.01, "success": True, "timestamp": "x"},
        {"model": "gpt-4", "latency": 0.5, "cost": 0.01},
    ],
)
def test_anything_unusual_is_left_to_the_schema(item):
    assert fast({"records": [item]}) is None


RECORD_SCHEMA = RecordRequestSchema()


@settings(max_examples=600, deadline=None)
@given(st.one_of(items(), values))
def test_whatever_the_single_record_fast_path_accepts_the_schema_loads_the_same(data):
    loaded = plain_item(data, MAX_RECORDED_VALUE)
    if loaded is not None:
        assert RECORD_SCHEMA.load(data) == loaded


def test_the_single_record_fast_path_takes_a_plain_body():
    body = {"model": "gpt-4", "latency": 1, "cost": 0.5, "success": True, "task": "code"}
    assert plain_item(body, MAX_RECORDED_VALUE) == RECORD_SCHEMA.load(body)


plain_labels = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=64,
)
plain_numbers = st.one_of(
    st.floats(min_value=0, max_value=MAX_RECORDED_VALUE), st.integers(0, 10**9)
)


@st.composite
def plain_items(draw):
    item = {
        "model": draw(plain_labels),
        "latency": draw(plain_numbers),
        "cost": draw(plain_numbers),
        "success": draw(st.booleans()),
    }
    for key in ("task", "request_id"):
        if draw(st.booleans()):
            item[key] = draw(st.one_of(st.none(), plain_labels))
    return item


@settings(max_examples=300, deadline=None)
@given(st.lists(plain_items(), min_size=1, max_size=4))
def test_plain_items_take_the_fast_path_and_load_as_the_schema_loads_them(items):
    for item in items:
        assert plain_item(item, MAX_RECORDED_VALUE) == RECORD_SCHEMA.load(item)
    assert fast({"records": items}) == schema_load({"records": items})
