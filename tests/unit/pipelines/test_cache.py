"""Cache keys change when, and only when, what decides a step's result changes."""

from __future__ import annotations

from typing import Any

import pytest

from cirrus_core.pipelines.cache import StepCache, cache_key
from tests.support.aws import AwsResources
from tests.unit.pipelines.steps_support import PIPELINES_TABLE

BASE: dict[str, Any] = {
    "step_type": "model_training",
    "step_parameters": {"max_depth": 6},
    "run_parameters": {
        "data_source": "s3://bucket/data.csv",
        "model_type": "xgboost",
        "task": "classification",
        "seed": 42,
        "hyperparameters": {"eta": 0.1},
        "target_accuracy": 0.9,
        "metric_threshold": None,
        "use_cache": True,
        "approval_timeout_seconds": 3600,
        "model_name": "churn",
    },
    "script": "recipe:abc",
    "image_uri": "image:1.7-1",
    "dataset_version": None,
    "upstream": {"features": "f" * 64},
}


def key(**changes: Any) -> str:
    values = {**BASE, **changes}
    if "run" in changes:
        values["run_parameters"] = {**BASE["run_parameters"], **values.pop("run")}
    return cache_key(**values)


def test_a_key_is_a_sha256_hex_digest() -> None:
    assert len(key()) == 64
    int(key(), 16)


def test_equal_inputs_give_equal_keys_whatever_the_order() -> None:
    reordered = dict(reversed(list(BASE["run_parameters"].items())))

    assert key(run_parameters=reordered) == key()


@pytest.mark.parametrize(
    "changes",
    [
        {"step_type": "model_evaluation"},
        {"step_parameters": {"max_depth": 7}},
        {"run": {"seed": 43}},
        {"run": {"hyperparameters": {"eta": 0.2}}},
        {"run": {"model_type": "sklearn"}},
        {"run": {"extra_flag": "on"}},
        {"script": "recipe:abd"},
        {"image_uri": "image:1.7-2"},
        {"dataset_version": "v2"},
        {"upstream": {"features": "e" * 64}},
    ],
    ids=lambda changes: next(iter(changes.get("run", changes))),
)
def test_a_result_changing_input_changes_the_key(changes: dict[str, Any]) -> None:
    assert key(**changes) != key()


@pytest.mark.parametrize(
    "run",
    [
        {"target_accuracy": 0.99},
        {"metric_threshold": 0.5},
        {"use_cache": False},
        {"approval_timeout_seconds": 60},
        {"model_name": "other"},
    ],
    ids=lambda run: next(iter(run)),
)
def test_what_only_judges_or_names_the_result_keeps_the_key(run: dict[str, Any]) -> None:
    assert key(run=run) == key()


def test_a_stored_entry_is_found_by_its_key(aws: AwsResources) -> None:
    cache = StepCache(aws.dynamodb, PIPELINES_TABLE)
    output = {
        "data_uri": "s3://bucket/run/preprocess/",
        "job_name": "churn-preprocess-run",
        "status": "Cached",
    }

    cache.store("k" * 64, output, run_id="run", pipeline_id="churn", step_id="preprocess")

    assert cache.lookup("k" * 64) == output
    assert cache.lookup("j" * 64) is None


def test_an_entry_is_the_documented_item(aws: AwsResources) -> None:
    StepCache(aws.dynamodb, PIPELINES_TABLE).store(
        "k" * 64, {"data_uri": "s3://b/p/"}, run_id="run", pipeline_id="churn", step_id="preprocess"
    )

    item = aws.dynamodb.get_item(
        TableName=PIPELINES_TABLE, Key={"pk": {"S": "CACHE#" + "k" * 64}, "sk": {"S": "CACHE"}}
    )["Item"]
    assert set(item) == {"pk", "sk", "output", "run_id", "pipeline_id", "step_id", "created_at"}
    assert (item["run_id"]["S"], item["pipeline_id"]["S"], item["step_id"]["S"]) == (
        "run",
        "churn",
        "preprocess",
    )
