"""`Prepare run`: the working state, complete job requests, wired inputs, the cache, refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cirrus_core.errors import DataSourceUnavailable, InvalidPipeline, InvalidRunParameters, PipelineStepError
from cirrus_core.pipelines.cache import StepCache
from cirrus_core.pipelines.compiler import PROCESSING_FIELDS, SPOT_TRAINING_FIELDS, TRAINING_FIELDS
from cirrus_core.pipelines.jobs import JOB_NAME_PATTERN
from cirrus_core.pipelines.prepare import PrepareRun, ScriptUnavailable
from cirrus_core.pipelines.recipes_upload import load_recipes
from tests.support.api import LambdaContextStub
from tests.support.aws import ALLOWLISTED_BUCKET, ARTIFACT_BUCKET, AwsResources
from tests.unit.pipelines.steps_support import (
    ACTOR,
    DATA_URI,
    DIAMOND,
    EXECUTION_ARN,
    PIPELINE_ID,
    PIPELINES_TABLE,
    PROCESSING_IMAGE,
    RUN_ID,
    XGBOOST_IMAGE,
    definition,
    execution_event,
    make_prepare,
    put_dataset,
    read_json,
    sagemaker_client,
    step,
    write_recipes,
)

PREFIX = f"s3://{ARTIFACT_BUCKET}/pipelines/{PIPELINE_ID}/runs/{RUN_ID}/"


@pytest.fixture
def recipes_root(tmp_path: Path) -> Path:
    return write_recipes(tmp_path / "recipes")


@pytest.fixture
def prepare(aws: AwsResources, recipes_root: Path) -> PrepareRun:
    put_dataset(aws)
    return make_prepare(aws, recipes_root)


def inputs_of(request: dict[str, Any]) -> dict[str, str]:
    """A processing request's inputs: local path -> S3 URI."""
    return {item["S3Input"]["LocalPath"]: item["S3Input"]["S3Uri"] for item in request["ProcessingInputs"]}


def channels_of(request: dict[str, Any]) -> dict[str, str]:
    return {
        channel["ChannelName"]: channel["DataSource"]["S3DataSource"]["S3Uri"]
        for channel in request["InputDataConfig"]
    }


# -- the working state -----------------------------------------------------------------------------


def test_the_working_state_carries_the_input_and_the_run(prepare: PrepareRun) -> None:
    event = execution_event()

    state = prepare.prepare(event)

    assert state["pipeline"] == event["input"]["pipeline"]
    assert state["actor"] == ACTOR
    assert state["trigger"] == {"type": "api", "detail": {}}
    assert state["run"] == {
        "run_id": RUN_ID,
        "execution_arn": EXECUTION_ARN,
        "started_at": "2024-06-03T02:00:00.123Z",
        "model_name": PIPELINE_ID,
        "dataset": {"uri": DATA_URI, "version": state["run"]["dataset"]["version"]},
        "prefix": PREFIX,
    }
    assert state["steps"] == {}
    assert set(state["jobs"]) == {"preprocess", "features", "train", "evaluate", "deploy"}
    assert set(state["cache"]) == {"preprocess", "features", "train", "evaluate"}


def test_parameters_are_the_run_parameters_over_the_definition_defaults(prepare: PrepareRun) -> None:
    pipeline = definition(seed=7, task="classification", custom_flag="on", target_accuracy=0.5)

    state = prepare.prepare(execution_event(pipeline, {"target_accuracy": 0.9}))

    parameters = state["parameters"]
    assert parameters["seed"] == 7
    assert parameters["target_accuracy"] == 0.9
    assert parameters["custom_flag"] == "on"
    assert parameters["model_type"] == "xgboost"  # RunParameters' default


def test_the_gate_takes_target_accuracy_for_accuracy_and_approval_its_timeout(prepare: PrepareRun) -> None:
    state = prepare.prepare(
        execution_event(parameters={"target_accuracy": 0.9, "approval_timeout_seconds": 3600})
    )

    assert state["gate"] == {"metric": "accuracy", "threshold": 0.9, "direction": "max", "enforced": True}
    assert state["approval"] == {"timeout_seconds": 3600}


def test_model_name_defaults_to_the_pipeline_id_and_follows_the_parameter(prepare: PrepareRun) -> None:
    state = prepare.prepare(execution_event(parameters={"model_name": "churn_model"}))

    assert state["run"]["model_name"] == "churn_model"


def test_a_deployment_step_deploys_to_staging_with_one_instance_by_default(prepare: PrepareRun) -> None:
    state = prepare.prepare(execution_event())

    assert state["jobs"]["deploy"] == {
        "kind": "deployment",
        "environments": ["staging"],
        "deployment": {
            "instance_type": "ml.m5.large",
            "initial_instance_count": 1,
            "serverless": None,
            "autoscaling": None,
            "data_capture_percentage": 100,
        },
    }


def test_the_run_chooses_the_environments_a_deployment_step_deploys_to(prepare: PrepareRun) -> None:
    state = prepare.prepare(execution_event(parameters={"deploy_to": ["staging", "prod"]}))

    assert state["jobs"]["deploy"]["environments"] == ["staging", "prod"]


def test_a_run_may_deploy_nowhere(prepare: PrepareRun) -> None:
    state = prepare.prepare(execution_event(parameters={"deploy_to": []}))

    assert state["jobs"]["deploy"]["environments"] == []


def test_an_unknown_environment_in_deploy_to_is_refused(prepare: PrepareRun) -> None:
    with pytest.raises(InvalidRunParameters):
        prepare.prepare(execution_event(parameters={"deploy_to": ["production"]}))


# -- job requests ----------------------------------------------------------------------------------


def test_job_names_are_valid_sagemaker_names_unique_per_step(prepare: PrepareRun) -> None:
    state = prepare.prepare(execution_event(definition(DIAMOND)))

    names = [job["job_name"] for job in state["jobs"].values() if job["kind"] != "deployment"]
    assert all(JOB_NAME_PATTERN.fullmatch(name) for name in names), names
    assert len(set(names)) == len(names)
    for job in state["jobs"].values():
        if job["kind"] == "processing":
            assert job["request"]["ProcessingJobName"] == job["job_name"]
        elif job["kind"] == "training":
            assert job["request"]["TrainingJobName"] == job["job_name"]


def test_sagemaker_accepts_every_request(prepare: PrepareRun) -> None:
    steps = definition(DIAMOND)
    steps["steps"][3]["resources"] = {"spot": True, "max_wait_seconds": 7200}
    state = prepare.prepare(execution_event(steps))
    client = sagemaker_client()  # botocore checks each request against SageMaker's API model
    role = {"RoleArn": os.environ["SAGEMAKER_ROLE_ARN"]}  # the task adds ${SageMakerRoleArn}

    for job in state["jobs"].values():
        if job["kind"] == "processing":
            client.create_processing_job(**job["request"], **role)
        elif job["kind"] == "training":
            client.create_training_job(**job["request"], **role)

    assert client.describe_training_job(TrainingJobName=state["jobs"]["train"]["job_name"])[
        "EnableManagedSpotTraining"
    ]


def test_job_names_differ_between_runs(prepare: PrepareRun) -> None:
    first = prepare.prepare(execution_event())
    second = prepare.prepare(execution_event(run_id="20240604T020000Z-0d4f6e81"))

    assert first["jobs"]["train"]["job_name"] != second["jobs"]["train"]["job_name"]


def test_processing_requests_fill_every_field_the_task_passes(prepare: PrepareRun) -> None:
    state = prepare.prepare(execution_event())

    for step_id in ("preprocess", "features", "evaluate"):
        request = state["jobs"][step_id]["request"]
        assert set(request) == set(PROCESSING_FIELDS), step_id
        assert all(request[field] not in (None, "", [], {}) for field in PROCESSING_FIELDS), step_id


def test_training_requests_fill_every_field_the_task_passes(prepare: PrepareRun) -> None:
    state = prepare.prepare(execution_event())

    request = state["jobs"]["train"]["request"]
    assert set(request) == set(TRAINING_FIELDS)
    assert request["EnableManagedSpotTraining"] is False
    assert all(
        request[field] not in (None, "", [], {})
        for field in TRAINING_FIELDS
        if field != "EnableManagedSpotTraining"
    )


def test_processing_runs_its_recipe_script_on_the_processing_image(prepare: PrepareRun) -> None:
    state = prepare.prepare(execution_event(parameters={"model_type": "sklearn"}))

    request = state["jobs"]["features"]["request"]
    assert request["AppSpecification"] == {
        "ImageUri": PROCESSING_IMAGE,
        "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/features.py"],
    }
    code = inputs_of(request)["/opt/ml/processing/input/code"]
    assert code.startswith(f"s3://{ARTIFACT_BUCKET}/pipelines/recipes/")
    assert code.endswith("/processing/")
    assert request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == f"{PREFIX}features/"


def test_training_and_evaluation_run_on_the_model_types_image(prepare: PrepareRun) -> None:
    state = prepare.prepare(execution_event(parameters={"model_type": "xgboost"}))

    assert state["jobs"]["train"]["request"]["AlgorithmSpecification"]["TrainingImage"] == XGBOOST_IMAGE
    # The evaluation loads the model with the training module, which needs its framework.
    assert state["jobs"]["evaluate"]["request"]["AppSpecification"]["ImageUri"] == XGBOOST_IMAGE
    assert state["jobs"]["preprocess"]["request"]["AppSpecification"]["ImageUri"] == PROCESSING_IMAGE


def test_resources_come_from_the_step(prepare: PrepareRun) -> None:
    steps = [
        step(
            "preprocess",
            "data_preprocessing",
            resources={"instance_type": "ml.c5.xlarge", "volume_size_gb": 50},
        ),
        step(
            "train",
            "model_training",
            "preprocess",
            resources={"instance_count": 2, "max_runtime_seconds": 7200},
        ),
    ]

    state = prepare.prepare(execution_event(definition(steps)))

    processing = state["jobs"]["preprocess"]["request"]
    assert processing["ProcessingResources"] == {
        "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.c5.xlarge", "VolumeSizeInGB": 50}
    }
    assert processing["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    training = state["jobs"]["train"]["request"]
    assert training["ResourceConfig"] == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 2,
        "VolumeSizeInGB": 30,
    }
    assert training["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}


def test_spot_training_asks_for_managed_spot_with_a_wait_and_checkpoints(prepare: PrepareRun) -> None:
    steps = [
        step("preprocess", "data_preprocessing"),
        step("train", "model_training", "preprocess", resources={"spot": True, "max_wait_seconds": 7200}),
    ]

    state = prepare.prepare(execution_event(definition(steps)))

    request = state["jobs"]["train"]["request"]
    assert set(request) == set(TRAINING_FIELDS) | set(SPOT_TRAINING_FIELDS)
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert request["CheckpointConfig"]["S3Uri"] == f"{PREFIX}train/checkpoints/"


def test_training_hyperparameters_are_json_encoded_as_the_sdk_sends_them(prepare: PrepareRun) -> None:
    steps = [
        step("preprocess", "data_preprocessing"),
        step("train", "model_training", "preprocess", parameters={"max_depth": 8, "eta": 0.2}),
    ]
    parameters = {
        "model_type": "sklearn",
        "target_column": "churned",
        "seed": 3,
        "hyperparameters": {"max_depth": 4, "subsample": 0.8},
    }

    state = prepare.prepare(execution_event(definition(steps), parameters))

    hyperparameters = state["jobs"]["train"]["request"]["HyperParameters"]
    sourcedir = hyperparameters.pop("sagemaker_submit_directory")
    assert json.loads(sourcedir).endswith("/sklearn/sourcedir.tar.gz")
    assert hyperparameters == {
        "sagemaker_program": '"train.py"',
        "sagemaker_region": '"us-east-1"',
        "sagemaker_container_log_level": "20",
        "target_column": '"churned"',
        "task": '"classification"',
        "seed": "3",
        "max_depth": "8",  # the step's parameter over the run's hyperparameter
        "subsample": "0.8",
        "eta": "0.2",
    }


def test_metric_definitions_come_from_the_training_recipe(prepare: PrepareRun) -> None:
    state = prepare.prepare(execution_event())

    assert state["jobs"]["train"]["request"]["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": "validation:accuracy", "Regex": r"validation:accuracy=([0-9.]+);"},
        {"Name": "train:accuracy", "Regex": r"train:accuracy=([0-9.]+);"},
    ]


def test_training_writes_its_model_under_the_run_prefix(prepare: PrepareRun) -> None:
    state = prepare.prepare(execution_event())

    job = state["jobs"]["train"]
    assert job["request"]["OutputDataConfig"] == {"S3OutputPath": f"{PREFIX}train/"}
    assert job["output"] == {"model_uri": f"{PREFIX}train/{job['job_name']}/output/model.tar.gz"}


# -- inputs ----------------------------------------------------------------------------------------


def test_preprocessing_reads_the_data_source_as_its_source_input(prepare: PrepareRun) -> None:
    state = prepare.prepare(execution_event())

    inputs = inputs_of(state["jobs"]["preprocess"]["request"])
    assert inputs["/opt/ml/processing/input/data/source"] == DATA_URI
    assert inputs["/opt/ml/processing/input/config"] == f"{PREFIX}config/preprocess/"


def test_in_a_diamond_each_step_reads_each_upstream_data_step(prepare: PrepareRun) -> None:
    state = prepare.prepare(execution_event(definition(DIAMOND)))

    jobs = state["jobs"]
    for side in ("left", "right"):
        assert (
            inputs_of(jobs[side]["request"])["/opt/ml/processing/input/data/preprocess"]
            == f"{PREFIX}preprocess/"
        )
    assert channels_of(jobs["train"]["request"]) == {"left": f"{PREFIX}left/", "right": f"{PREFIX}right/"}


def test_evaluation_reads_the_model_its_code_and_the_training_data(prepare: PrepareRun) -> None:
    state = prepare.prepare(execution_event(definition(DIAMOND)))

    evaluation = inputs_of(state["jobs"]["evaluate"]["request"])
    training = state["jobs"]["train"]
    assert evaluation["/opt/ml/processing/input/data/right"] == f"{PREFIX}right/"
    assert evaluation["/opt/ml/processing/input/data/left"] == f"{PREFIX}left/"  # the training step's too
    assert evaluation["/opt/ml/processing/input/model"] == training["output"]["model_uri"]
    assert evaluation["/opt/ml/processing/input/sourcedir"] == json.loads(
        training["request"]["HyperParameters"]["sagemaker_submit_directory"]
    )
    assert state["jobs"]["evaluate"]["output"] == {"evaluation_uri": f"{PREFIX}evaluate/evaluation.json"}


def test_each_step_gets_its_parameters_json(aws: AwsResources, prepare: PrepareRun) -> None:
    steps = [
        step("preprocess", "data_preprocessing", parameters={"test_fraction": 0.2}),
        step("train", "model_training", "preprocess"),
        step("evaluate", "model_evaluation", "train", "preprocess"),
    ]

    prepare.prepare(execution_event(definition(steps), {"seed": 5}))

    written = read_json(aws, f"{PREFIX}config/preprocess/parameters.json")
    assert written["test_fraction"] == 0.2
    assert written["seed"] == 5
    assert written["data_source"] == DATA_URI
    assert (written["_step_id"], written["_pipeline_id"], written["_run_id"]) == (
        "preprocess",
        PIPELINE_ID,
        RUN_ID,
    )
    evaluation = read_json(aws, f"{PREFIX}config/evaluate/parameters.json")
    assert evaluation["entry_point"] == "train.py"


# -- user scripts ----------------------------------------------------------------------------------


def test_a_steps_own_script_replaces_the_recipe(aws: AwsResources, prepare: PrepareRun) -> None:
    aws.s3.put_object(Bucket=ARTIFACT_BUCKET, Key="code/prep/clean.py", Body=b"print('clean')")
    aws.s3.put_object(Bucket=ARTIFACT_BUCKET, Key="code/model/sourcedir.tar.gz", Body=b"tarball")
    steps = [
        step(
            "preprocess",
            "data_preprocessing",
            script={"source_uri": f"s3://{ARTIFACT_BUCKET}/code/prep/", "entry_point": "clean.py"},
        ),
        step(
            "train",
            "model_training",
            "preprocess",
            script={
                "source_uri": f"s3://{ARTIFACT_BUCKET}/code/model/sourcedir.tar.gz",
                "entry_point": "fit.py",
            },
        ),
    ]

    state = prepare.prepare(execution_event(definition(steps)))

    processing = state["jobs"]["preprocess"]["request"]
    assert processing["AppSpecification"]["ContainerEntrypoint"] == [
        "python3",
        "/opt/ml/processing/input/code/clean.py",
    ]
    assert inputs_of(processing)["/opt/ml/processing/input/code"] == f"s3://{ARTIFACT_BUCKET}/code/prep/"
    hyperparameters = state["jobs"]["train"]["request"]["HyperParameters"]
    assert hyperparameters["sagemaker_program"] == '"fit.py"'
    assert (
        hyperparameters["sagemaker_submit_directory"]
        == f'"s3://{ARTIFACT_BUCKET}/code/model/sourcedir.tar.gz"'
    )


def test_a_script_outside_the_allowed_buckets_is_refused(aws: AwsResources, prepare: PrepareRun) -> None:
    steps = [
        step(
            "preprocess",
            "data_preprocessing",
            script={"source_uri": "s3://someone-elses-bucket/code/", "entry_point": "x.py"},
        )
    ]

    with pytest.raises(ScriptUnavailable, match="allowlist"):
        prepare.prepare(execution_event(definition(steps)))


def test_a_missing_training_script_is_refused(prepare: PrepareRun) -> None:
    steps = [
        step("preprocess", "data_preprocessing"),
        step(
            "train",
            "model_training",
            "preprocess",
            script={"source_uri": f"s3://{ARTIFACT_BUCKET}/code/none.tar.gz", "entry_point": "fit.py"},
        ),
    ]

    with pytest.raises(ScriptUnavailable, match="does not exist"):
        prepare.prepare(execution_event(definition(steps)))


# -- recipes ---------------------------------------------------------------------------------------


def test_recipes_are_uploaded_under_their_content_digest(
    aws: AwsResources, prepare: PrepareRun, recipes_root: Path
) -> None:
    prepare.prepare(execution_event())

    digest = load_recipes(recipes_root).digest[:16]
    listed = aws.s3.list_objects_v2(Bucket=ARTIFACT_BUCKET, Prefix="pipelines/recipes/")["Contents"]
    assert sorted(item["Key"] for item in listed) == [
        f"pipelines/recipes/{digest}/processing/evaluate.py",
        f"pipelines/recipes/{digest}/processing/features.py",
        f"pipelines/recipes/{digest}/processing/preprocess.py",
        f"pipelines/recipes/{digest}/sklearn/sourcedir.tar.gz",
        f"pipelines/recipes/{digest}/xgboost/sourcedir.tar.gz",
    ]


# -- the data source -------------------------------------------------------------------------------


def test_a_data_source_outside_the_allowed_buckets_is_unavailable(prepare: PrepareRun) -> None:
    with pytest.raises(DataSourceUnavailable, match="allowlist"):
        prepare.prepare(execution_event(parameters={"data_source": "s3://someone-elses-bucket/data.csv"}))


def test_a_missing_data_source_is_unavailable(prepare: PrepareRun) -> None:
    with pytest.raises(DataSourceUnavailable, match="no objects"):
        prepare.prepare(
            execution_event(parameters={"data_source": f"s3://{ARTIFACT_BUCKET}/datasets/none.csv"})
        )


def test_named_data_sources_wait_for_the_data_module(prepare: PrepareRun) -> None:
    with pytest.raises(DataSourceUnavailable, match="data module"):
        prepare.prepare(execution_event(parameters={"data_source": "churn-events"}))


def test_an_allowlisted_prefix_is_read_with_a_digest_version(aws: AwsResources, prepare: PrepareRun) -> None:
    aws.s3.create_bucket(Bucket=ALLOWLISTED_BUCKET)
    put_dataset(aws, key="shared/churn/part-1.csv", bucket=ALLOWLISTED_BUCKET)

    state = prepare.prepare(
        execution_event(parameters={"data_source": f"s3://{ALLOWLISTED_BUCKET}/shared/churn"})
    )

    assert state["run"]["dataset"]["uri"] == f"s3://{ALLOWLISTED_BUCKET}/shared/churn/"
    assert state["run"]["dataset"]["version"].startswith("sha256:")


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parameters",
    [
        {"model_type": "pytorch"},
        {"target_accuracy": 1.5},
        {"approval_timeout_seconds": 5},
        {"task": "regression", "target_accuracy": 0.9},  # a threshold for a metric the gate does not check
        {"metric": "bleu", "metric_threshold": 0.5},
    ],
    ids=["model_type", "target_accuracy_range", "timeout", "target_accuracy_for_rmse", "unknown_metric"],
)
def test_bad_parameters_are_refused(prepare: PrepareRun, parameters: dict[str, Any]) -> None:
    with pytest.raises(InvalidRunParameters):
        prepare.prepare(execution_event(parameters=parameters))


def test_bad_parameters_are_refused_before_anything_is_written(
    aws: AwsResources, prepare: PrepareRun
) -> None:
    with pytest.raises(InvalidRunParameters) as refused:
        prepare.prepare(execution_event(parameters={"seed": -1}))

    assert refused.value.details[0]["field"] == "seed"
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=ARTIFACT_BUCKET, Prefix="pipelines/")


def test_a_threshold_without_an_evaluation_step_is_refused(prepare: PrepareRun) -> None:
    steps = [step("preprocess", "data_preprocessing"), step("train", "model_training", "preprocess")]

    with pytest.raises(InvalidRunParameters, match="no model_evaluation step"):
        prepare.prepare(execution_event(definition(steps), {"target_accuracy": 0.9}))


def test_a_malformed_actor_is_refused(prepare: PrepareRun) -> None:
    event = execution_event()
    event["input"]["actor"] = {"username": "alice"}

    with pytest.raises(PipelineStepError, match="actor"):
        prepare.prepare(event)


def test_an_invalid_definition_is_refused(prepare: PrepareRun) -> None:
    steps = [step("train", "model_training")]

    with pytest.raises(InvalidPipeline):
        prepare.prepare(execution_event(definition(steps)))


# -- the cache -------------------------------------------------------------------------------------


def test_without_use_cache_no_step_is_looked_up(aws: AwsResources, prepare: PrepareRun) -> None:
    first = prepare.prepare(execution_event())
    StepCache(aws.dynamodb, PIPELINES_TABLE).store(
        first["cache"]["preprocess"]["key"],
        {"data_uri": "s3://x/y/"},
        run_id="old",
        pipeline_id=PIPELINE_ID,
        step_id="preprocess",
    )

    state = prepare.prepare(execution_event(run_id="20240604T020000Z-0d4f6e81"))

    assert all(
        entry == {"key": entry["key"], "hit": False, "output": None} for entry in state["cache"].values()
    )


def test_a_cached_upstream_step_feeds_its_earlier_output_downstream(
    aws: AwsResources, prepare: PrepareRun
) -> None:
    first = prepare.prepare(execution_event(parameters={"use_cache": True}))
    earlier = {
        "data_uri": f"s3://{ARTIFACT_BUCKET}/pipelines/churn/runs/old/preprocess/",
        "job_name": "old-job",
        "status": "Cached",
    }
    StepCache(aws.dynamodb, PIPELINES_TABLE).store(
        first["cache"]["preprocess"]["key"],
        earlier,
        run_id="old",
        pipeline_id=PIPELINE_ID,
        step_id="preprocess",
    )

    state = prepare.prepare(
        execution_event(parameters={"use_cache": True}, run_id="20240604T020000Z-0d4f6e81")
    )

    assert state["cache"]["preprocess"] == {
        "key": first["cache"]["preprocess"]["key"],
        "hit": True,
        "output": earlier,
    }
    assert state["cache"]["features"]["hit"] is False
    features_input = inputs_of(state["jobs"]["features"]["request"])[
        "/opt/ml/processing/input/data/preprocess"
    ]
    assert features_input == earlier["data_uri"]


def test_a_cached_training_step_feeds_its_earlier_model_to_evaluation(
    aws: AwsResources, prepare: PrepareRun
) -> None:
    first = prepare.prepare(execution_event(parameters={"use_cache": True}))
    earlier = {
        "model_uri": f"s3://{ARTIFACT_BUCKET}/pipelines/churn/runs/old/train/job/output/model.tar.gz",
        "job_name": "job",
    }
    StepCache(aws.dynamodb, PIPELINES_TABLE).store(
        first["cache"]["train"]["key"], earlier, run_id="old", pipeline_id=PIPELINE_ID, step_id="train"
    )

    state = prepare.prepare(
        execution_event(parameters={"use_cache": True}, run_id="20240604T020000Z-0d4f6e81")
    )

    assert (
        inputs_of(state["jobs"]["evaluate"]["request"])["/opt/ml/processing/input/model"]
        == earlier["model_uri"]
    )


def test_the_same_inputs_give_the_same_keys_in_another_run(prepare: PrepareRun) -> None:
    first = prepare.prepare(execution_event())
    second = prepare.prepare(execution_event(run_id="20240604T020000Z-0d4f6e81"))

    assert {k: v["key"] for k, v in first["cache"].items()} == {
        k: v["key"] for k, v in second["cache"].items()
    }


def test_a_new_dataset_version_changes_every_key(aws: AwsResources, prepare: PrepareRun) -> None:
    first = prepare.prepare(execution_event())
    put_dataset(aws, body=b"tenure,charges,label\n2,21.0,1\n")

    second = prepare.prepare(execution_event(run_id="20240604T020000Z-0d4f6e81"))

    assert all(first["cache"][k]["key"] != second["cache"][k]["key"] for k in first["cache"])


def test_a_gate_only_change_keeps_every_key(prepare: PrepareRun) -> None:
    first = prepare.prepare(execution_event(parameters={"target_accuracy": 0.5}))
    second = prepare.prepare(
        execution_event(
            parameters={
                "target_accuracy": 0.99,
                "use_cache": True,
                "model_name": "other",
                "approval_timeout_seconds": 600,
            }
        )
    )

    assert {k: v["key"] for k, v in first["cache"].items()} == {
        k: v["key"] for k, v in second["cache"].items()
    }


def test_a_training_parameter_changes_training_and_below_only(prepare: PrepareRun) -> None:
    first = prepare.prepare(execution_event())
    steps = definition()
    steps["steps"][2]["parameters"] = {"max_depth": 3}

    second = prepare.prepare(execution_event(steps))

    changed = {k for k in first["cache"] if first["cache"][k]["key"] != second["cache"][k]["key"]}
    assert changed == {"train", "evaluate"}


# -- the handler -----------------------------------------------------------------------------------


def test_the_handler_prepares_with_the_packaged_recipes(aws: AwsResources) -> None:
    from functions.pipelines.steps.prepare_run import lambda_handler

    put_dataset(aws)
    steps = [step("preprocess", "data_preprocessing"), step("train", "model_training", "preprocess")]

    state = lambda_handler(execution_event(definition(steps), {"model_type": "sklearn"}), LambdaContextStub())

    assert state["run"]["run_id"] == RUN_ID
    definitions = state["jobs"]["train"]["request"]["AlgorithmSpecification"]["MetricDefinitions"]
    assert {"Name": "validation:accuracy", "Regex": r"validation:accuracy=(-?[0-9.]+);"} in definitions


def test_new_hyperparameters_change_the_model_steps_keys_and_keep_the_data_steps_keys(
    prepare: PrepareRun,
) -> None:
    first = prepare.prepare(execution_event(parameters={"hyperparameters": {"max_depth": 4}}))
    second = prepare.prepare(execution_event(parameters={"hyperparameters": {"max_depth": 8}}))

    changed = {step for step in first["cache"] if first["cache"][step]["key"] != second["cache"][step]["key"]}
    assert changed == {"train", "evaluate"}
