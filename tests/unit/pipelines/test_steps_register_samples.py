"""`Register version` writes the version's sample payloads (the deployments' smoke test) and registers
them as `sample_payloads_uri`: raw records from preprocess's held-out test split for the built-in
recipes, the split the model was trained on otherwise, none (logged) when there is no split to use."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from cirrus_core.caller import Caller
from cirrus_core.pipelines import samples as samples_module
from cirrus_core.pipelines.registration import VersionRegistrar
from cirrus_core.pipelines.run_state import read_state
from cirrus_core.pipelines.samples import MAX_RECORDS, READ_BYTES, SamplePayloads
from cirrus_core.principal import Principal
from cirrus_core.registry.wiring import registry_service
from tests.support.aws import ALLOWLISTED_BUCKET, ARTIFACT_BUCKET, AwsResources
from tests.support.registry import REVIEWER_CLAIMS
from tests.unit.pipelines.steps_support import (
    LINEAR,
    PIPELINE_ID,
    RUN_ID,
    definition,
    execution_event,
    finished_state,
    make_prepare,
    put_dataset,
    sagemaker_client,
    step,
    write_recipes,
)

REVIEWER = Principal(
    sub=REVIEWER_CLAIMS["sub"],
    username=REVIEWER_CLAIMS["cognito:username"],
    groups=frozenset({"model_reviewer"}),
)
SAMPLES_KEY = f"pipelines/{PIPELINE_ID}/runs/{RUN_ID}/register-version/samples.jsonl"
SAMPLES_URI = f"s3://{ARTIFACT_BUCKET}/{SAMPLES_KEY}"
# preprocess's output: `zip` looks numeric but is a category (schema.json says so), `label` is the target
RAW_TEST = (
    "tenure,charges,zip,plan,label\n"
    "1,20.5,02134,basic,0\n"
    "30,80.1,10001,premium,1\n"
    "12,55.25,94107,basic,0\n"
    "7,19.0,60601,family,1\n"
    "44,101.75,73301,premium,0\n"
    "3,25.0,02134,basic,1\n"
    "18,60.0,10001,family,0\n"
)
SCHEMA = {
    "target_column": "label",
    "columns": [
        {"name": "tenure", "role": "numeric", "fill_value": 12.0},
        {"name": "charges", "role": "numeric", "fill_value": 55.25},
        {"name": "zip", "role": "categorical", "fill_value": "__missing__"},
        {"name": "plan", "role": "categorical", "fill_value": "__missing__"},
        {"name": "label", "role": "target", "fill_value": None},
    ],
}
ENGINEERED_TEST = "features__tenure,features__charges,features__plan=basic,label\n-1.2,0.5,1,0\n0.8,1.5,0,1\n"


def prepared_state(
    aws: AwsResources, tmp_path: Path, steps: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A run whose jobs all ran (the training job exists in SageMaker)."""
    put_dataset(aws)
    prepared = make_prepare(aws, write_recipes(tmp_path / "recipes")).prepare(
        execution_event(definition(steps))
    )
    sagemaker_client().create_training_job(
        **prepared["jobs"]["train"]["request"], RoleArn=os.environ["SAGEMAKER_ROLE_ARN"]
    )
    return finished_state(prepared, evaluation={"metrics": {"accuracy": 0.9}, "gate": None})


def put_text(aws: AwsResources, uri: str, text: str) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    aws.s3.put_object(Bucket=bucket, Key=key, Body=text.encode())


def put_output(aws: AwsResources, state: dict[str, Any], step_id: str, files: dict[str, str]) -> None:
    """Files of a data step's output, where the run's state says it is."""
    for name, text in files.items():
        put_text(aws, f"{state['jobs'][step_id]['output']['data_uri']}{name}", text)


def registrar() -> VersionRegistrar:
    samples = SamplePayloads(boto3.client("s3", region_name="us-east-1"), ARTIFACT_BUCKET)
    return VersionRegistrar(registry_service, sagemaker_client(), samples)


def register(state: dict[str, Any]) -> dict[str, Any]:
    return registrar().register(read_state({"state": state}))


def registered_uri(number: int = 1) -> str | None:
    return registry_service().get_version(PIPELINE_ID, number, Caller(REVIEWER)).sample_payloads_uri


def samples(aws: AwsResources) -> list[dict[str, str]]:
    body = aws.s3.get_object(Bucket=ARTIFACT_BUCKET, Key=SAMPLES_KEY)["Body"].read().decode()
    assert body.endswith("\n")
    return [json.loads(line) for line in body.splitlines()]


def no_samples(aws: AwsResources) -> bool:
    listed = aws.s3.list_objects_v2(Bucket=ARTIFACT_BUCKET, Prefix=SAMPLES_KEY)
    return not listed.get("Contents")


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """What is logged at info level about sample payloads: (message, extra)."""
    lines: list[tuple[str, dict[str, Any]]] = []

    def info(message: str, extra: dict[str, Any] | None = None) -> None:
        if "sample payloads" in message:
            lines.append((message, extra or {}))

    monkeypatch.setattr(samples_module.logger, "info", info)
    return lines


@pytest.fixture
def built_in(aws: AwsResources, tmp_path: Path) -> dict[str, Any]:
    """The built-in pipeline's run, preprocess's test split and schema in its output."""
    state = prepared_state(aws, tmp_path)
    put_output(aws, state, "preprocess", {"test.csv": RAW_TEST, "schema.json": json.dumps(SCHEMA)})
    return state


# -- what is written ----------------------------------------------------------------------------------


def test_the_version_is_registered_with_the_runs_samples(aws: AwsResources, built_in: dict[str, Any]) -> None:
    register(built_in)

    assert registered_uri() == SAMPLES_URI
    head = aws.s3.head_object(Bucket=ARTIFACT_BUCKET, Key=SAMPLES_KEY)
    assert head["ContentType"] == "application/x-ndjson"


def test_raw_records_from_preprocess_test_split_one_json_request_each_then_one_csv(
    aws: AwsResources, built_in: dict[str, Any]
) -> None:
    register(built_in)

    lines = samples(aws)
    assert [line["content_type"] for line in lines] == ["application/json"] * MAX_RECORDS + ["text/csv"]
    assert all(set(line) == {"content_type", "body"} for line in lines)
    assert len(lines) <= 20
    assert json.loads(lines[0]["body"]) == {
        "instances": [{"tenure": 1, "charges": 20.5, "zip": "02134", "plan": "basic"}]
    }
    assert json.loads(lines[4]["body"]) == {
        "instances": [{"tenure": 44, "charges": 101.75, "zip": "73301", "plan": "premium"}]
    }
    # raw rows after a header row of the raw columns, target removed, the same five rows
    assert lines[-1]["body"] == (
        "tenure,charges,zip,plan\n"
        "1,20.5,02134,basic\n"
        "30,80.1,10001,premium\n"
        "12,55.25,94107,basic\n"
        "7,19.0,60601,family\n"
        "44,101.75,73301,premium\n"
    )


def test_a_cached_preprocess_step_gives_the_earlier_runs_split(aws: AwsResources, tmp_path: Path) -> None:
    state = prepared_state(aws, tmp_path)
    earlier = f"s3://{ARTIFACT_BUCKET}/pipelines/{PIPELINE_ID}/runs/old/preprocess/"
    put_text(aws, f"{earlier}test.csv", RAW_TEST.replace("basic", "starter"))
    state["cache"]["preprocess"] = {
        "key": "k",
        "hit": True,
        "output": {"data_uri": earlier, "job_name": "old"},
    }

    register(state)

    assert "starter" in samples(aws)[0]["body"]
    assert registered_uri() == SAMPLES_URI


def test_without_a_schema_values_that_read_as_numbers_are_numbers(aws: AwsResources, tmp_path: Path) -> None:
    state = prepared_state(aws, tmp_path)
    put_output(aws, state, "preprocess", {"test.csv": "a,b,label\n1.5,x,0\n,007,1\n"})

    register(state)

    records = [json.loads(line["body"])["instances"][0] for line in samples(aws)[:-1]]
    assert records == [{"a": 1.5, "b": "x"}, {"a": None, "b": 7}]


def test_a_users_own_training_script_gets_the_split_it_was_evaluated_on_as_csv_rows(
    aws: AwsResources, tmp_path: Path
) -> None:
    # GIVEN a training step running the user's script on the features step
    source_uri = f"s3://{ARTIFACT_BUCKET}/code/churn/sourcedir.tar.gz"
    put_text(aws, source_uri, "not really a tarball")
    steps = [
        *LINEAR[:2],
        step(
            "train", "model_training", "features", script={"source_uri": source_uri, "entry_point": "fit.py"}
        ),
        *LINEAR[3:],
    ]
    state = prepared_state(aws, tmp_path, steps)
    put_output(aws, state, "preprocess", {"test.csv": RAW_TEST})
    put_output(aws, state, "features", {"test.csv": ENGINEERED_TEST})

    # WHEN it registers
    register(state)

    # THEN the samples are the engineered rows, header-less, as the evaluation sends them
    assert samples(aws) == [{"content_type": "text/csv", "body": "-1.2,0.5,1\n0.8,1.5,0\n"}]


def test_a_retry_writes_the_same_object_and_registers_once(
    aws: AwsResources, built_in: dict[str, Any]
) -> None:
    # GIVEN the samples written once (the attempt that then timed out before registering)
    working = read_state({"state": built_in})
    writer = SamplePayloads(boto3.client("s3", region_name="us-east-1"), ARTIFACT_BUCKET)
    first = writer.write(working, working.definition.steps[2], "label")
    written = aws.s3.get_object(Bucket=ARTIFACT_BUCKET, Key=SAMPLES_KEY)["Body"].read()

    # WHEN the step runs again, and once more after registering
    result = register(built_in)
    again = register(built_in)

    # THEN the same key holds the same bytes, and one version names it
    assert first == SAMPLES_URI
    assert aws.s3.get_object(Bucket=ARTIFACT_BUCKET, Key=SAMPLES_KEY)["Body"].read() == written
    assert again == result
    listed = aws.s3.list_objects_v2(
        Bucket=ARTIFACT_BUCKET, Prefix=f"pipelines/{PIPELINE_ID}/runs/{RUN_ID}/register-version/"
    )
    assert [item["Key"] for item in listed["Contents"]] == [SAMPLES_KEY]
    assert registered_uri() == SAMPLES_URI


def test_only_the_head_of_a_large_split_is_read(aws: AwsResources, tmp_path: Path) -> None:
    state = prepared_state(aws, tmp_path)
    row = "1," + "x" * 200 + ",0\n"
    put_output(aws, state, "preprocess", {"test.csv": "n,text,label\n" + row * (3 * READ_BYTES // len(row))})

    register(state)

    lines = samples(aws)
    assert len(lines) == MAX_RECORDS + 1
    assert lines[-1]["body"].splitlines()[1] == "1," + "x" * 200


# -- no samples: logged, registered without -----------------------------------------------------------


def test_a_missing_test_split_registers_without_samples_and_says_why(
    aws: AwsResources, tmp_path: Path, logged: list[tuple[str, dict[str, Any]]]
) -> None:
    state = prepared_state(aws, tmp_path)  # preprocess wrote nothing

    result = register(state)

    assert result["version"] == 1
    assert registered_uri() is None
    assert no_samples(aws)
    assert logged == [
        (
            "No sample payloads for the version: its deployments must bring their own",
            {"run_id": RUN_ID, "reason": "step preprocess's test.csv: not readable (NoSuchKey)"},
        )
    ]


@pytest.mark.parametrize(
    "text", ["", "tenure,label\n", "label\n0\n1\n"], ids=["empty", "header only", "target only"]
)
def test_a_split_without_feature_values_gives_no_samples(
    aws: AwsResources, tmp_path: Path, text: str
) -> None:
    state = prepared_state(aws, tmp_path)
    put_output(aws, state, "preprocess", {"test.csv": text})

    register(state)

    assert registered_uri() is None
    assert no_samples(aws)


def test_several_channels_from_custom_steps_give_no_samples(
    aws: AwsResources, tmp_path: Path, logged: list[tuple[str, dict[str, Any]]]
) -> None:
    # GIVEN training on two feature branches, one of them the user's own script
    script_uri = f"s3://{ARTIFACT_BUCKET}/code/churn/features/"
    put_text(aws, f"{script_uri}crossed.py", "print('crossed')\n")
    steps = [
        step("preprocess", "data_preprocessing"),
        step("left", "feature_engineering", "preprocess"),
        step(
            "right",
            "feature_engineering",
            "preprocess",
            script={"source_uri": script_uri, "entry_point": "crossed.py"},
        ),
        step("train", "model_training", "left", "right"),
        step("evaluate", "model_evaluation", "train", "right"),
    ]
    state = prepared_state(aws, tmp_path, steps)
    put_output(aws, state, "preprocess", {"test.csv": RAW_TEST})

    register(state)

    assert registered_uri() is None
    [(_, extra)] = logged
    assert extra["reason"].startswith("the training step reads 2 data steps and its model is not known")


def test_built_in_branches_of_one_preprocess_step_give_raw_samples(aws: AwsResources, tmp_path: Path) -> None:
    steps = [
        step("preprocess", "data_preprocessing"),
        step("left", "feature_engineering", "preprocess"),
        step("right", "feature_engineering", "preprocess"),
        step("train", "model_training", "left", "right"),
        step("evaluate", "model_evaluation", "train", "right"),
    ]
    state = prepared_state(aws, tmp_path, steps)
    put_output(aws, state, "preprocess", {"test.csv": RAW_TEST, "schema.json": json.dumps(SCHEMA)})

    register(state)

    assert samples(aws)[-1]["body"].startswith("tenure,charges,zip,plan\n")


def test_a_split_outside_the_artifact_bucket_gives_no_samples(aws: AwsResources, tmp_path: Path) -> None:
    state = prepared_state(aws, tmp_path)
    elsewhere = f"s3://{ALLOWLISTED_BUCKET}/prepared/"
    aws.s3.create_bucket(Bucket=ALLOWLISTED_BUCKET)
    put_text(aws, f"{elsewhere}test.csv", RAW_TEST)
    state["cache"]["preprocess"] = {
        "key": "k",
        "hit": True,
        "output": {"data_uri": elsewhere, "job_name": "x"},
    }

    register(state)

    assert registered_uri() is None
