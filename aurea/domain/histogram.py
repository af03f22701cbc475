"""Log-scale latency histogram: fixed bins, so per-hour histograms add up.

Bin 0 holds latencies below 1 ms; bin k >= 1 holds [1 ms * r^(k-1), 1 ms * r^k)
with r = 1.1, up to the last bin, which also takes everything longer. A percentile
is reported as the geometric middle of the bin holding the nearest-rank value, so
it is within sqrt(r) - 1 (4.9 %) of the exact nearest-rank percentile, or within
0.5 ms for latencies under 1 ms.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

BASE_SECONDS = 0.001
RATIO = 1.1
BIN_COUNT = 200  # bin 199 starts at about 1.4e5 s (39 h)
RELATIVE_ERROR = math.sqrt(RATIO) - 1
ABSOLUTE_ERROR_BELOW_BASE = BASE_SECONDS / 2
_LOG_RATIO = math.log(RATIO)


_LAST_BIN_START = BASE_SECONDS * RATIO ** (BIN_COUNT - 2)


def bin_of(latency: float) -> int:
    """Return the histogram bin of a latency in seconds."""
    if latency < BASE_SECONDS:
        return 0
    if latency >= _LAST_BIN_START:
        return BIN_COUNT - 1  # also where latency / BASE_SECONDS would overflow
    k = int(math.floor(math.log(latency / BASE_SECONDS) / _LOG_RATIO)) + 1
    return min(k, BIN_COUNT - 1)


def representative(k: int) -> float:
    """Return the value reported for bin ``k``: its geometric middle (0.5 ms for bin 0)."""
    if k == 0:
        return BASE_SECONDS / 2
    return BASE_SECONDS * RATIO ** (k - 1) * math.sqrt(RATIO)


def percentile(counts: Mapping[int, int], q: float) -> float | None:
    """Estimate the nearest-rank ``q``-quantile (0 < q <= 1) from bin counts."""
    total = sum(counts.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for k in sorted(counts):
        seen += counts[k]
        if seen >= rank:
            return representative(k)
    raise AssertionError("unreachable: rank is at most the total")


def exact_percentile(values: list[float], q: float) -> float:
    """Return the nearest-rank ``q``-quantile of ``values`` (the reference the bins approximate)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]
