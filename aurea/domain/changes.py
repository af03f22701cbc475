"""Change-point detection on a success rate: the Bernoulli GLR test over hourly counts.

The generalized likelihood ratio of "one rate before hour k, another from k on" against
"one rate throughout" is

    GLR(k) = n1 * kl(p1, p) + n2 * kl(p2, p)

(n1, p1: requests and success rate before k; n2, p2: from k; p: both together; kl the
Bernoulli Kullback-Leibler divergence). A change is detected when max_k GLR(k) exceeds
``threshold(n) = ln(3 n^1.5 / delta)`` (Besson & Kaufmann, "Efficient change-point detection
for tackling piecewise-stationary bandits", JMLR 2022). The latest change is found by
testing again after each detected one (binary segmentation to the right).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

DEFAULT_DELTA = 0.05


def kl_bernoulli(p: float, q: float) -> float:
    """KL(Ber(p) || Ber(q)), with 0 log 0 = 0; q is clamped away from 0 and 1."""
    eps = 1e-12
    q = min(max(q, eps), 1 - eps)
    out = 0.0
    if p > 0:
        out += p * math.log(p / q)
    if p < 1:
        out += (1 - p) * math.log((1 - p) / (1 - q))
    return out


def threshold(n: float, delta: float = DEFAULT_DELTA) -> float:
    return math.log(3 * n**1.5 / delta)


def glr_split(counts: Sequence[tuple[int, int]]) -> tuple[int, float] | None:
    """The best split (k, GLR(k)) of (requests, successes) pairs, or None with < 2 non-empty."""
    total_n = sum(n for n, _ in counts)
    total_s = sum(s for _, s in counts)
    if total_n == 0:
        return None
    p = total_s / total_n
    best: tuple[int, float] | None = None
    n1 = s1 = 0
    for k in range(1, len(counts)):
        n1 += counts[k - 1][0]
        s1 += counts[k - 1][1]
        n2, s2 = total_n - n1, total_s - s1
        if n1 == 0 or n2 == 0:
            continue
        stat = n1 * kl_bernoulli(s1 / n1, p) + n2 * kl_bernoulli(s2 / n2, p)
        if best is None or stat > best[1]:
            best = (k, stat)
    return best


def latest_change(counts: Sequence[tuple[int, int]], delta: float = DEFAULT_DELTA) -> int:
    """Index of the first hour after the latest detected change (0: no change)."""
    start = 0
    while True:
        segment = counts[start:]
        split = glr_split(segment)
        n = sum(c[0] for c in segment)
        if split is None or split[1] <= threshold(n, delta):
            return start
        start += split[0]
