"""The batch endpoint sends its answer undumped: it must be what the schema would dump."""

from hypothesis import given
from hypothesis import strategies as st

from aurea.api.router import batch_answer
from aurea.schemas import RecordBatchResponseSchema
from aurea.services.records import DUPLICATE, RECORDED

SCHEMA = RecordBatchResponseSchema()


@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=20), st.sampled_from([RECORDED, DUPLICATE])),
        min_size=1,
        max_size=50,
    )
)
def test_batch_answer_is_already_in_the_form_the_response_schema_dumps(outcomes):
    items = [{"model": model} for model, _ in outcomes]
    statuses = [status for _, status in outcomes]
    answer = batch_answer(items, statuses)
    assert SCHEMA.dump(answer) == answer
    assert list(SCHEMA.dump(answer)["results"][0]) == list(answer["results"][0])


def test_batch_answer_counts_recorded_and_duplicates_and_lists_each_in_order():
    items = [{"model": m} for m in ("a", "b", "a")]
    answer = batch_answer(items, [RECORDED, DUPLICATE, RECORDED])
    assert answer == {
        "status": "recorded",
        "recorded": 2,
        "duplicates": 1,
        "results": [
            {"index": 0, "status": RECORDED, "model": "a"},
            {"index": 1, "status": DUPLICATE, "model": "b"},
            {"index": 2, "status": RECORDED, "model": "a"},
        ],
    }
