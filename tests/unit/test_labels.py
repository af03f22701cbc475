"""The OpenAPI pattern of model and task labels says what the validator accepts."""

import re

import marshmallow as ma
from hypothesis import example, given
from hypothesis import strategies as st

from aurea.domain.histogram import BIN_COUNT, bin_of
from aurea.schemas import LABEL_PATTERN, validate_label

# Mostly the characters the rule is about: controls, Unicode spaces, and a few letters.
TRICKY = st.sampled_from(
    "\x00\x1f\x7f\x85\x9f\xa0 \t\n\u1680\u2000\u200a\u2028\u202f\u3000\ufeff\u200bab\xe9\u4e2d"
)
LABELS = st.text(st.one_of(TRICKY, st.characters(exclude_categories=["Cs"])), max_size=6)


def accepted(label: str) -> bool:
    try:
        validate_label(label)
    except ma.ValidationError:
        return False
    return label != ""


@given(LABELS)
@example(" gpt")
@example("gpt\u3000")
@example("a\u3000b")
def test_documented_label_pattern_matches_the_validator(label):
    assert bool(re.fullmatch(LABEL_PATTERN, label)) == accepted(label)


def test_huge_latency_falls_in_the_last_histogram_bin():
    assert bin_of(1e308) == bin_of(float("inf")) == BIN_COUNT - 1
