"""The fixed latency histogram: log-spaced buckets whose counts are flat, ADD-able numbers.

Bucket `i` (0 <= i <= FINITE_BUCKETS - 1) holds latencies in (bound(i-1), bound(i)] milliseconds, with
bound(i) = 2^(i/4) ms (bound(-1) = 0), from 1 ms to 32.768 s; the last bucket (index FINITE_BUCKETS)
holds everything slower. Four buckets per doubling keep a percentile read from the counts within one
bucket of the exact one: at most 19% off, whatever the traffic. Every fourth bound is a power of two
of milliseconds; those are the `le` bounds the Prometheus histogram exposes (cumulative counts there
are exact).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

STEPS_PER_DOUBLING: Final = 4
FINITE_BUCKETS: Final = 61  # bounds 2^0 .. 2^15 ms
BUCKETS: Final = FINITE_BUCKETS + 1  # the last is the overflow bucket
PREFIX: Final = "h"


def bound_ms(index: int) -> float:
    """The upper bound of finite bucket `index`, in milliseconds."""
    return float(2.0 ** (index / STEPS_PER_DOUBLING))


def attribute(index: int) -> str:
    """The item attribute holding bucket `index`'s count (`h0` .. `h61`)."""
    return f"{PREFIX}{index}"


def bucket_of(latency_ms: float) -> int:
    """The bucket a latency falls in."""
    if latency_ms <= 1.0:
        return 0
    index = math.ceil(math.log2(latency_ms) * STEPS_PER_DOUBLING - 1e-9)
    # Guard the float edge: bound(index - 1) < latency <= bound(index).
    while index > 0 and latency_ms <= bound_ms(index - 1):
        index -= 1
    while index < FINITE_BUCKETS and latency_ms > bound_ms(index):
        index += 1
    return min(index, FINITE_BUCKETS)


def counts_of(counters: Mapping[str, float]) -> list[float]:
    """The bucket counts held in an aggregate's counters (absent buckets are 0)."""
    return [float(counters.get(attribute(index), 0)) for index in range(BUCKETS)]


def percentile(counts: Sequence[float], quantile: float) -> float | None:
    """The `quantile` (0..1) of the latencies counted, in ms; None when nothing was counted.

    The rank's bucket is found from the cumulative counts and the value interpolated geometrically
    inside it (linearly in the first bucket, which starts at 0); the overflow bucket answers its
    lower bound.
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = min(max(quantile, 0.0), 1.0) * total
    seen = 0.0
    for index, count in enumerate(counts):
        if count <= 0:
            continue
        if seen + count >= rank:
            if index == FINITE_BUCKETS:
                return bound_ms(FINITE_BUCKETS - 1)
            share = (rank - seen) / count
            upper = bound_ms(index)
            if index == 0:
                return upper * share
            lower = bound_ms(index - 1)
            return float(lower * (upper / lower) ** share)
        seen += count
    return bound_ms(FINITE_BUCKETS - 1)


def prometheus_bounds() -> list[tuple[float, int]]:
    """(upper bound in seconds, last fine bucket index) for each exposed `le`: 1 ms, 2 ms, ... 32.768 s."""
    return [(bound_ms(index) / 1000.0, index) for index in range(0, FINITE_BUCKETS, STEPS_PER_DOUBLING)]
