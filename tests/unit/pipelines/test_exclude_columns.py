"""The run parameter `exclude_columns`: columns of the data that are not features.

It is validated with the other run parameters (422 `invalid_run_parameters`, naming the field, nothing
started), reaches the preprocessing step's parameters.json as a list, and is part of every step's
cache key: excluding other columns makes other data, and so another model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cirrus_core.errors import InvalidRunParameters
from cirrus_core.pipelines.definition import MAX_EXCLUDED_COLUMNS, RunParameters
from cirrus_core.pipelines.prepare import PrepareRun
from tests.support.aws import ARTIFACT_BUCKET, AwsResources
from tests.unit.pipelines.api_support import PipelineWorld, Untouched, api, ok, sample_execute
from tests.unit.pipelines.steps_support import (
    PIPELINE_ID,
    RUN_ID,
    definition,
    execution_event,
    make_prepare,
    put_dataset,
    read_json,
    write_recipes,
)

PREFIX = f"s3://{ARTIFACT_BUCKET}/pipelines/{PIPELINE_ID}/runs/{RUN_ID}/"
OTHER_RUN = "20240604T020000Z-0d4f6e81"


# -- the parameter ------------------------------------------------------------------------------------


def test_no_column_is_excluded_by_default() -> None:
    assert RunParameters(data_source="s3://data/x.csv").exclude_columns == []


def test_the_excluded_columns_are_kept_in_the_order_given() -> None:
    parameters = RunParameters.model_validate(
        {"data_source": "s3://data/x.csv", "exclude_columns": ["transaction_id", "label_time", "a.b-c_1"]}
    )

    assert parameters.exclude_columns == ["transaction_id", "label_time", "a.b-c_1"]


def test_comma_separated_text_is_a_list_of_names() -> None:
    # a definition's default_parameters and a trigger's parameters hold scalars only
    parameters = RunParameters.model_validate(
        {"data_source": "s3://data/x.csv", "exclude_columns": " transaction_id, label_time ,"}
    )

    assert parameters.exclude_columns == ["transaction_id", "label_time"]


def test_the_schema_documents_the_constraints() -> None:
    schema = RunParameters.model_json_schema()["properties"]["exclude_columns"]

    assert schema["type"] == "array"
    assert schema["maxItems"] == MAX_EXCLUDED_COLUMNS == 100
    assert schema["items"] == {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,128}$"}
    assert "not features" in schema["description"]


def test_a_target_column_of_another_name_leaves_label_excludable() -> None:
    parameters = RunParameters.model_validate(
        {"data_source": "s3://data/x.csv", "target_column": "is_fraud", "exclude_columns": ["label"]}
    )

    assert parameters.exclude_columns == ["label"]


# -- through the API ----------------------------------------------------------------------------------


@pytest.fixture
def world(aws: AwsResources) -> PipelineWorld:
    world = PipelineWorld(aws)
    world.define()
    return world


@pytest.fixture
def untouched(world: PipelineWorld) -> Untouched:
    return Untouched(world)


def execute(parameters: dict[str, Any]) -> Any:
    return api("execute_pipeline", body=sample_execute(parameters=parameters))


def test_a_run_carries_its_excluded_columns_in_its_input(world: PipelineWorld) -> None:
    body = ok(execute({"exclude_columns": ["transaction_id", "label_time"]}), 202)

    parameters = world.execution_input(body["execution_arn"])["parameters"]
    assert parameters["exclude_columns"] == ["transaction_id", "label_time"]


def test_a_run_without_them_excludes_nothing(world: PipelineWorld) -> None:
    body = ok(execute({}), 202)

    assert world.execution_input(body["execution_arn"])["parameters"]["exclude_columns"] == []


def test_the_definitions_default_is_text_and_a_run_may_replace_it(world: PipelineWorld) -> None:
    # GIVEN a definition whose defaults exclude two columns, comma-separated
    world.define(
        default_parameters={"data_source": "s3://cirrus-data/x.csv", "exclude_columns": "customer_id,as_of"}
    )

    # WHEN one run keeps the default and another gives its own list
    kept = ok(execute({}), 202)
    replaced = ok(execute({"exclude_columns": ["as_of"]}), 202)

    # THEN the runs carry lists
    assert world.execution_input(kept["execution_arn"])["parameters"]["exclude_columns"] == [
        "customer_id",
        "as_of",
    ]
    assert world.execution_input(replaced["execution_arn"])["parameters"]["exclude_columns"] == ["as_of"]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"exclude_columns": ["transaction_id", "label"]}, "names the target column 'label'"),
        (
            {"target_column": "is_fraud", "exclude_columns": "transaction_id,is_fraud"},
            "names the target column 'is_fraud'",
        ),
        ({"exclude_columns": ["as_of", "id", "as_of"]}, "lists as_of more than once"),
        ({"exclude_columns": ["transaction id"]}, "should match pattern"),
        ({"exclude_columns": ["x" * 129]}, "should match pattern"),
        ({"exclude_columns": [f"c{n}" for n in range(101)]}, "at most 100 items"),
        ({"exclude_columns": {"transaction_id": True}}, "valid list"),
        ({"exclude_columns": [7]}, "valid string"),
    ],
    ids=["target", "named_target", "twice", "space", "too_long", "too_many", "object", "number"],
)
def test_bad_excluded_columns_are_refused_naming_the_field(
    untouched: Untouched, parameters: dict[str, Any], message: str
) -> None:
    with untouched:
        response = execute(parameters)

    assert (response.status, response.error_code) == (422, "invalid_run_parameters")
    [detail] = response.body["error"]["details"]
    assert detail["field"].startswith("parameters.exclude_columns")
    assert message in detail["message"]


def test_a_schedule_with_bad_excluded_columns_is_refused(untouched: Untouched) -> None:
    body = sample_execute(schedule="0 2 * * *", parameters={"exclude_columns": ["label"]})

    with untouched:
        response = api("execute_pipeline", body=body)

    assert (response.status, response.error_code) == (422, "invalid_run_parameters")


# -- Prepare: the step's parameters and the cache -------------------------------------------------------


@pytest.fixture
def prepare(aws: AwsResources, tmp_path: Path) -> PrepareRun:
    put_dataset(aws)
    return make_prepare(aws, write_recipes(tmp_path / "recipes"))


def test_the_preprocessing_step_gets_the_list_in_its_parameters_json(
    aws: AwsResources, prepare: PrepareRun
) -> None:
    prepare.prepare(execution_event(parameters={"exclude_columns": ["tenure"]}))

    written = read_json(aws, f"{PREFIX}config/preprocess/parameters.json")
    assert written["exclude_columns"] == ["tenure"]


def test_prepare_refuses_the_target_column_too(prepare: PrepareRun) -> None:
    with pytest.raises(InvalidRunParameters) as refused:
        prepare.prepare(execution_event(parameters={"exclude_columns": ["label"]}))

    assert refused.value.details[0]["field"] == "exclude_columns"


def keys(state: dict[str, Any]) -> dict[str, str]:
    return {step_id: entry["key"] for step_id, entry in state["cache"].items()}


def test_other_excluded_columns_change_the_preprocessing_key_and_every_key_below(
    prepare: PrepareRun,
) -> None:
    none = keys(prepare.prepare(execution_event()))
    one = keys(prepare.prepare(execution_event(parameters={"exclude_columns": ["tenure"]}, run_id=OTHER_RUN)))
    two = keys(
        prepare.prepare(
            execution_event(parameters={"exclude_columns": ["tenure", "charges"]}, run_id=OTHER_RUN)
        )
    )

    assert set(none) == {"preprocess", "features", "train", "evaluate"}
    assert all(none[step] != one[step] != two[step] != none[step] for step in none)


def test_the_same_excluded_columns_give_the_same_keys(prepare: PrepareRun) -> None:
    listed = keys(prepare.prepare(execution_event(parameters={"exclude_columns": ["tenure", "charges"]})))
    # the same names as text, as a definition's default: the same validated list
    as_text = keys(
        prepare.prepare(execution_event(definition(exclude_columns="tenure,charges"), run_id=OTHER_RUN))
    )

    assert listed == as_text
