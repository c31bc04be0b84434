"""The pure helpers of the registry, concurrency and handler-cost benchmarks."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.common import Figure
from benchmarks.concurrency import check_versions, failed
from benchmarks.handler_cost import billed_ms, cost_per_million, cumulative
from benchmarks.registry_mlflow import alternating, block_order, report_duration_ms


def test_billed_duration_rounds_up_to_the_next_millisecond() -> None:
    assert billed_ms(0.2) == 1
    assert billed_ms(12.0) == 12
    assert billed_ms(12.01) == 13


def test_cost_per_million_is_gb_seconds_at_the_arm_price_plus_the_request_charge() -> None:
    # 100 ms at 1024 MB: 0.1 GB-s a request, 100,000 GB-s a million.
    assert cost_per_million(100, 1024) == pytest.approx(100_000 * 0.0000133334 + 0.20)
    assert cost_per_million(0.5, 128) == pytest.approx(1_000_000 * 0.001 * 0.125 * 0.0000133334 + 0.20)


def test_cumulative_finds_a_function_by_file_suffix_and_name() -> None:
    stats = {
        ("/x/site-packages/botocore/client.py", 10, "_make_api_call"): (6, 6, 0.1, 0.5, {}),
        ("/x/site-packages/moto/core/botocore_stubber.py", 3, "__call__"): (6, 6, 0.1, 0.3, {}),
    }
    assert cumulative(stats, ("botocore/client.py", "_make_api_call")) == (6, 0.5)
    assert cumulative(stats, ("botocore/client.py", "absent")) == (0, 0.0)


def test_a_run_passes_only_with_every_answer_201_and_versions_one_to_n() -> None:
    assert check_versions(Counter({201: 3}), [3, 1, 2], [1, 2, 3], 3) == []
    problems = check_versions(Counter({201: 2, 409: 1}), [1, 1], [1, 2], 3)
    assert len(problems) == 3
    assert "409" in problems[0]
    assert "duplicates [1]" in problems[1]


def test_a_failed_run_is_found_by_its_figure_name() -> None:
    assert failed([Figure("64 concurrent registrations, run 2 FAILED", "/s", [1.0])])
    assert not failed([Figure("64 concurrent registrations, run 2", "/s", [1.0])])


def test_blocks_alternate_which_system_goes_first() -> None:
    assert block_order(0) == ("cirrus", "mlflow")
    assert block_order(1) == ("mlflow", "cirrus")


def test_alias_versions_alternate() -> None:
    following = alternating(2, 1)
    assert [following() for _ in range(4)] == [2, 1, 2, 1]


def test_report_duration_is_read_from_the_report_line() -> None:
    logs = "START RequestId: r1 Version: 1\nREPORT RequestId: r1\tDuration: 12.34 ms\tBilled Duration: 13 ms"
    assert report_duration_ms(logs) == 12.34
    assert report_duration_ms("START RequestId: r1") is None
