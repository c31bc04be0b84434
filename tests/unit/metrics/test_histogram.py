"""The latency histogram: buckets by bound, and percentiles close to the exact ones."""

from __future__ import annotations

import numpy as np
import pytest

from cirrus_core.metrics import histogram


def test_a_latency_on_a_bound_falls_in_that_bounds_bucket() -> None:
    assert histogram.bucket_of(1.0) == 0
    assert histogram.bucket_of(2.0) == 4
    assert histogram.bucket_of(2.0001) == 5
    assert histogram.bucket_of(0.01) == 0


def test_latencies_beyond_the_last_bound_fall_in_the_overflow_bucket() -> None:
    assert histogram.bucket_of(40_000.0) == histogram.FINITE_BUCKETS
    assert histogram.bucket_of(32_768.0) == histogram.FINITE_BUCKETS - 1


def test_every_latency_lies_within_its_buckets_bounds() -> None:
    for latency in np.geomspace(0.5, 30_000, 997):
        index = histogram.bucket_of(float(latency))
        lower = histogram.bound_ms(index - 1) if index > 0 else 0.0
        assert lower < latency <= histogram.bound_ms(index)


@pytest.mark.parametrize("quantile", [0.5, 0.95, 0.99])
def test_percentiles_read_from_the_buckets_are_within_one_bucket_of_numpys(quantile: float) -> None:
    latencies = np.random.default_rng(7).lognormal(mean=np.log(40), sigma=0.8, size=5000)
    counts = [0.0] * histogram.BUCKETS
    for latency in latencies:
        counts[histogram.bucket_of(float(latency))] += 1

    estimate = histogram.percentile(counts, quantile)
    exact = float(np.percentile(latencies, quantile * 100))

    assert estimate is not None
    assert abs(estimate - exact) / exact < 2 ** (1 / histogram.STEPS_PER_DOUBLING) - 1


def test_the_percentile_of_one_repeated_latency_is_inside_its_bucket() -> None:
    counts = [0.0] * histogram.BUCKETS
    counts[histogram.bucket_of(100.0)] = 10

    value = histogram.percentile(counts, 0.5)

    assert value is not None
    assert (
        histogram.bound_ms(histogram.bucket_of(100.0) - 1)
        < value
        <= histogram.bound_ms(histogram.bucket_of(100.0))
    )


def test_no_latencies_have_no_percentile() -> None:
    assert histogram.percentile([0.0] * histogram.BUCKETS, 0.99) is None
