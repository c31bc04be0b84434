"""SageMaker names for model ids: no `_`, at most 63 characters, the same name every time."""

from __future__ import annotations

import hashlib

import pytest

from cirrus_core.registry.naming import SAGEMAKER_NAME_LIMIT, sagemaker_base_name, sagemaker_name


@pytest.mark.parametrize(
    ("model_id", "base_name"),
    [
        pytest.param("fraud_detection_v2", "fraud-detection-v2", id="underscores-become-hyphens"),
        pytest.param("churn-model", "churn-model", id="hyphens-stay"),
        pytest.param("a__b", "a-b", id="runs-collapse-to-one-hyphen"),
        pytest.param("a_-_b", "a-b", id="mixed-runs-collapse"),
        pytest.param("model_", "model", id="trailing-separator-dropped"),
        pytest.param("7", "7", id="single-character"),
    ],
)
def test_the_base_name_maps_underscores_to_hyphens(model_id: str, base_name: str) -> None:
    assert sagemaker_base_name(model_id) == base_name


def test_ids_differing_only_in_separators_share_a_base_name() -> None:
    # This is why the registry reserves base names: the second id must be refused.
    assert sagemaker_base_name("fraud_model") == sagemaker_base_name("fraud-model")


def test_a_short_name_is_base_hyphen_suffix() -> None:
    assert sagemaker_name("fraud-detection-v2", "v1") == "fraud-detection-v2-v1"


def test_a_name_of_exactly_the_limit_is_kept_whole() -> None:
    base = "m" * (SAGEMAKER_NAME_LIMIT - len("-v1"))

    assert sagemaker_name(base, "v1") == f"{base}-v1"


def test_a_long_name_is_cut_to_the_limit_and_keeps_its_suffix() -> None:
    name = sagemaker_name("a" * 63, "v1000000000")

    assert len(name) == SAGEMAKER_NAME_LIMIT
    assert name.endswith("-v1000000000")


def test_a_long_name_carries_a_hash_of_the_whole_base_name() -> None:
    base = "fraud-" + "x" * 60

    name = sagemaker_name(base, "v1")

    assert hashlib.sha256(base.encode()).hexdigest()[:8] in name


def test_long_bases_that_differ_only_past_the_cut_get_different_names() -> None:
    shared = "model-" + "x" * 54

    first = sagemaker_name(shared + "-first", "v1")
    second = sagemaker_name(shared + "-second", "v1")

    assert len(first) == len(second) == SAGEMAKER_NAME_LIMIT
    assert first != second


def test_a_long_name_is_the_same_every_time() -> None:
    base = "b" * 63

    assert sagemaker_name(base, "v7") == sagemaker_name(base, "v7")


def test_a_cut_name_does_not_leave_a_double_hyphen_where_it_was_cut() -> None:
    base = "a" * 50 + "-" + "b" * 12  # 63 characters; with suffix "v1" the cut keeps 51: "a" * 50 + "-"

    assert "--" not in sagemaker_name(base, "v1")
