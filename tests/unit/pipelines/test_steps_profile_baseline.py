"""`Profile baseline` profiles the run's raw training split (preprocess's train.csv, the target left
out, the kinds schema.json gives) into the version's drift baseline; `Register version` links it.
Runs without a raw split get none, and say why."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import boto3
import pytest

from cirrus_core.caller import Caller
from cirrus_core.observability import logger
from cirrus_core.pipelines import baseline_profile as profile_module
from cirrus_core.pipelines import steps as steps_wiring
from cirrus_core.pipelines.baseline_profile import BaselineProfiler, BuiltBaseline, FeatureKind
from cirrus_core.pipelines.run_state import read_state
from cirrus_core.pipelines.settings import get_pipeline_settings
from cirrus_core.registry.models import ModelVersion
from cirrus_core.registry.wiring import registry_service
from tests.support.api import LambdaContextStub
from tests.support.aws import ALLOWLISTED_BUCKET, ARTIFACT_BUCKET, AwsResources
from tests.unit.pipelines.steps_support import (
    LINEAR,
    PIPELINE_ID,
    RUN_ID,
    definition,
    execution_event,
    finished_state,
    make_prepare,
    put_dataset,
    step,
    write_recipes,
)
from tests.unit.pipelines.test_steps_register_samples import (
    REVIEWER,
    SCHEMA,
    put_output,
    put_text,
    register,
)

BASELINE_KEY = f"pipelines/{PIPELINE_ID}/runs/{RUN_ID}/profile-baseline/baseline.json"
BASELINE_URI = f"s3://{ARTIFACT_BUCKET}/{BASELINE_KEY}"
# preprocess's train split: `zip` reads as numbers but schema.json calls it categorical, `label` is
# the target; `__missing__` is what preprocess filled a missing category with.
RAW_TRAIN = (
    "tenure,charges,zip,plan,label\n"
    "1,20.5,02134,basic,0\n"
    "30,80.1,10001,premium,1\n"
    "12,55.25,94107,__missing__,0\n"
    "7,19.0,60601,family,1\n"
)
SCHEMA_WITH_COUNTS: dict[str, Any] = {
    **SCHEMA,
    "rows": {"input": 10, "train": 4, "validation": 3, "test": 3},
    "columns": [
        {**column, "missing": {"train": 1 if column["name"] == "plan" else 0}}
        for column in cast("list[dict[str, Any]]", SCHEMA["columns"])
    ],
}


class FakeBuild:
    """Stands in for the science layer: records what it was given, returns a document of it."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        columns: Mapping[str, Sequence[Any]],
        kinds: Mapping[str, FeatureKind],
        *,
        max_sample_size: int,
        metadata: Mapping[str, Any],
    ) -> BuiltBaseline:
        call = {
            "columns": {name: list(values) for name, values in columns.items()},
            "kinds": dict(kinds),
            "max_sample_size": max_sample_size,
            "metadata": dict(metadata),
        }
        self.calls.append(call)
        document = {"kinds": call["kinds"], "rows": metadata["rows"]}
        return BuiltBaseline(json.dumps(document, sort_keys=True).encode(), "fingerprint")


@pytest.fixture
def build() -> FakeBuild:
    return FakeBuild()


def profiler(build: Any, *, max_rows: int = 200_000) -> BaselineProfiler:
    return BaselineProfiler(
        boto3.client("s3", region_name="us-east-1"),
        ARTIFACT_BUCKET,
        max_rows=max_rows,
        max_sample_size=500,
        build=build,
    )


_PREPARED: dict[str, dict[str, Any]] = {}


def run_state(aws: AwsResources, tmp_path: Path, steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A run that got past training (no SageMaker job needed: profiling reads S3 only).

    Prepared once per definition: the working state does not depend on the test's S3 contents.
    """
    key = json.dumps(steps, sort_keys=True)
    if key not in _PREPARED:
        put_dataset(aws)
        prepared = make_prepare(aws, write_recipes(tmp_path / "recipes")).prepare(
            execution_event(definition(steps))
        )
        _PREPARED[key] = finished_state(prepared)
    return copy.deepcopy(_PREPARED[key])


@pytest.fixture
def built_in(aws: AwsResources, tmp_path: Path) -> dict[str, Any]:
    """The built-in pipeline's run, preprocess's train split and schema in its output."""
    state = run_state(aws, tmp_path)
    put_output(
        aws, state, "preprocess", {"train.csv": RAW_TRAIN, "schema.json": json.dumps(SCHEMA_WITH_COUNTS)}
    )
    return state


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """What the profiler logs at info level: (message, extra)."""
    lines: list[tuple[str, dict[str, Any]]] = []

    def info(message: str, extra: dict[str, Any] | None = None) -> None:
        lines.append((message, extra or {}))

    monkeypatch.setattr(logger, "info", info)
    return lines


def profile(build: Any, state: dict[str, Any], **options: Any) -> dict[str, Any]:
    return profiler(build, **options).profile(read_state({"state": state}))


def stored_keys(aws: AwsResources) -> list[str]:
    listed = aws.s3.list_objects_v2(
        Bucket=ARTIFACT_BUCKET, Prefix=f"pipelines/{PIPELINE_ID}/runs/{RUN_ID}/profile-baseline/"
    )
    return [item["Key"] for item in listed.get("Contents", [])]


# -- a baseline ---------------------------------------------------------------------------------------


def test_the_raw_features_are_profiled_with_schema_kinds_and_without_the_target(
    aws: AwsResources, built_in: dict[str, Any], build: FakeBuild
) -> None:
    result = profile(build, built_in)

    assert result == {"baseline_uri": BASELINE_URI, "reason": None}
    [call] = build.calls
    assert call["kinds"] == {
        "tenure": "numeric",
        "charges": "numeric",
        "zip": "categorical",
        "plan": "categorical",
    }
    assert list(call["columns"]) == ["tenure", "charges", "zip", "plan"]  # the split's order
    assert call["columns"]["tenure"] == [1.0, 30.0, 12.0, 7.0]
    assert call["columns"]["charges"] == [20.5, 80.1, 55.25, 19.0]
    assert call["columns"]["zip"] == ["02134", "10001", "94107", "60601"]  # leading zeros kept
    assert call["columns"]["plan"] == ["basic", "premium", None, "family"]  # filled, then missing again
    assert call["max_sample_size"] == 500
    stored = aws.s3.get_object(Bucket=ARTIFACT_BUCKET, Key=BASELINE_KEY)
    assert stored["ContentType"] == "application/json"
    assert json.loads(stored["Body"].read())["kinds"] == call["kinds"]


def test_the_baseline_says_where_it_came_from(built_in: dict[str, Any], build: FakeBuild) -> None:
    profile(build, built_in)

    metadata = build.calls[0]["metadata"]
    assert metadata["source_uri"] == f"{built_in['jobs']['preprocess']['output']['data_uri']}train.csv"
    assert (metadata["source_step"], metadata["pipeline_id"], metadata["run_id"]) == (
        "preprocess",
        PIPELINE_ID,
        RUN_ID,
    )
    assert (metadata["rows"], metadata["truncated"], metadata["target_column"]) == (4, False, "label")
    assert metadata["split_rows"] == 4
    assert metadata["split_missing"] == {"tenure": 0, "charges": 0, "zip": 0, "plan": 1}
    json.dumps(metadata, allow_nan=False)  # stored as JSON


def test_at_most_the_row_maximum_is_read(aws: AwsResources, tmp_path: Path, build: FakeBuild) -> None:
    state = run_state(aws, tmp_path)
    rows = "".join(f"{index},{index * 0.5},z{index % 3},p,{index % 2}\n" for index in range(50))
    put_output(
        aws,
        state,
        "preprocess",
        {"train.csv": "tenure,charges,zip,plan,label\n" + rows, "schema.json": json.dumps(SCHEMA)},
    )

    profile(build, state, max_rows=20)

    [call] = build.calls
    assert {name: len(values) for name, values in call["columns"].items()} == dict.fromkeys(
        ["tenure", "charges", "zip", "plan"], 20
    )
    assert call["columns"]["tenure"] == [float(index) for index in range(20)]  # the head of the split
    assert (call["metadata"]["rows"], call["metadata"]["truncated"], call["metadata"]["max_rows"]) == (
        20,
        True,
        20,
    )


def test_the_split_is_streamed_not_read_whole(
    aws: AwsResources, built_in: dict[str, Any], build: FakeBuild, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading in small chunks still gives every row: lines cut across chunks are joined.
    monkeypatch.setattr(profile_module, "CHUNK_BYTES", 7)

    profile(build, built_in)

    assert build.calls[0]["columns"]["charges"] == [20.5, 80.1, 55.25, 19.0]


def test_empty_and_unreadable_numbers_are_missing(
    aws: AwsResources, tmp_path: Path, build: FakeBuild
) -> None:
    state = run_state(aws, tmp_path)
    train = "\ufefftenure,charges,zip,plan,label\n,inf,1,a,0\nx,2,,b,1\n3,-1e400,5,c,0\n"
    put_output(aws, state, "preprocess", {"train.csv": train, "schema.json": json.dumps(SCHEMA)})

    profile(build, state)

    columns = build.calls[0]["columns"]
    assert list(columns) == ["tenure", "charges", "zip", "plan"]  # the byte order mark is not a name
    assert [math.isnan(value) for value in columns["tenure"]] == [True, True, False]
    assert [math.isnan(value) for value in columns["charges"]] == [True, False, True]
    assert columns["zip"] == ["1", None, "5"]


def test_as_many_median_filled_numbers_as_preprocess_filled_are_missing_again(
    aws: AwsResources, tmp_path: Path, build: FakeBuild
) -> None:
    # GIVEN a train split where preprocess filled 2 missing `tenure` cells with the median, 12, and
    # one row really had 12
    state = run_state(aws, tmp_path)
    train = "tenure,charges,zip,plan,label\n12,1,a,b,0\n3,2,a,b,1\n12,3,a,b,0\n12,4,a,b,1\n"
    schema = {
        **SCHEMA,
        "rows": {"train": 4},
        "columns": [
            {**column, "missing": {"train": 2 if column["name"] == "tenure" else 0}}
            for column in cast("list[dict[str, Any]]", SCHEMA["columns"])
        ],
    }
    put_output(aws, state, "preprocess", {"train.csv": train, "schema.json": json.dumps(schema)})

    # WHEN the split is profiled
    profile(build, state)

    # THEN the column has its raw distribution back: two values missing, one 12 and one 3 present
    tenure = build.calls[0]["columns"]["tenure"]
    assert sum(math.isnan(value) for value in tenure) == 2
    assert sorted(value for value in tenure if not math.isnan(value)) == [3.0, 12.0]
    assert build.calls[0]["columns"]["charges"] == [1.0, 2.0, 3.0, 4.0]


def test_a_feature_without_values_is_left_out_and_named(
    aws: AwsResources, tmp_path: Path, build: FakeBuild
) -> None:
    state = run_state(aws, tmp_path)
    train = "tenure,charges,zip,plan,label\n1,,,__missing__,0\n3,,,__missing__,1\n"
    put_output(aws, state, "preprocess", {"train.csv": train, "schema.json": json.dumps(SCHEMA)})

    profile(build, state)

    [call] = build.calls
    assert list(call["columns"]) == list(call["kinds"]) == ["tenure"]
    assert call["metadata"]["features_without_values"] == ["charges", "zip", "plan"]


def test_a_retry_writes_the_same_object_again(
    aws: AwsResources, built_in: dict[str, Any], build: FakeBuild
) -> None:
    first = profile(build, built_in)
    written = aws.s3.get_object(Bucket=ARTIFACT_BUCKET, Key=BASELINE_KEY)["Body"].read()

    again = profile(build, built_in)

    assert again == first
    assert aws.s3.get_object(Bucket=ARTIFACT_BUCKET, Key=BASELINE_KEY)["Body"].read() == written
    assert stored_keys(aws) == [BASELINE_KEY]


def test_a_cached_preprocess_step_gives_the_earlier_runs_split(
    aws: AwsResources, tmp_path: Path, build: FakeBuild
) -> None:
    state = run_state(aws, tmp_path)
    earlier = f"s3://{ARTIFACT_BUCKET}/pipelines/{PIPELINE_ID}/runs/old/preprocess/"
    put_text(aws, f"{earlier}train.csv", RAW_TRAIN.replace("basic", "starter"))
    put_text(aws, f"{earlier}schema.json", json.dumps(SCHEMA))
    state["cache"]["preprocess"] = {
        "key": "k",
        "hit": True,
        "output": {"data_uri": earlier, "job_name": "old"},
    }

    assert profile(build, state)["baseline_uri"] == BASELINE_URI  # this run's key

    assert build.calls[0]["columns"]["plan"][0] == "starter"


# -- no baseline: null, and why -----------------------------------------------------------------------


def test_a_users_own_training_script_gets_no_baseline_and_says_why(
    aws: AwsResources, tmp_path: Path, build: FakeBuild, logged: list[tuple[str, dict[str, Any]]]
) -> None:
    source_uri = f"s3://{ARTIFACT_BUCKET}/code/churn/sourcedir.tar.gz"
    put_text(aws, source_uri, "not really a tarball")
    steps = [
        *LINEAR[:2],
        step(
            "train", "model_training", "features", script={"source_uri": source_uri, "entry_point": "fit.py"}
        ),
        *LINEAR[3:],
    ]
    state = run_state(aws, tmp_path, steps)
    put_output(aws, state, "preprocess", {"train.csv": RAW_TRAIN, "schema.json": json.dumps(SCHEMA)})

    result = profile(build, state)

    assert result["baseline_uri"] is None
    assert result["reason"].startswith("the model is not known to take the raw records of one built-in")
    assert build.calls == []
    assert stored_keys(aws) == []
    assert logged == [
        (
            "No drift baseline for the version: build one through the monitoring API",
            {"run_id": RUN_ID, "reason": result["reason"]},
        )
    ]


def test_several_channels_from_custom_steps_give_no_baseline(
    aws: AwsResources, tmp_path: Path, build: FakeBuild
) -> None:
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
    ]
    state = run_state(aws, tmp_path, steps)

    result = profile(build, state)

    assert result["baseline_uri"] is None
    assert result["reason"].startswith("the training step reads 2 data steps")


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"schema.json": json.dumps(SCHEMA)}, "step preprocess's train.csv is not readable (NoSuchKey)"),
        ({"train.csv": RAW_TRAIN}, "step preprocess's schema.json is not readable (NoSuchKey)"),
        ({"train.csv": RAW_TRAIN, "schema.json": "{"}, "step preprocess's schema.json is not JSON"),
        ({"train.csv": "", "schema.json": json.dumps(SCHEMA)}, "step preprocess's train.csv is empty"),
        (
            {"train.csv": "tenure,label\n", "schema.json": json.dumps(SCHEMA)},
            "step preprocess's train.csv has no rows",
        ),
        (
            {"train.csv": "label\n0\n1\n", "schema.json": json.dumps(SCHEMA)},
            "step preprocess's train.csv has no feature columns",
        ),
    ],
    ids=["no split", "no schema", "bad schema", "empty", "header only", "target only"],
)
def test_a_split_that_cannot_be_profiled_gives_no_baseline(
    aws: AwsResources, tmp_path: Path, build: FakeBuild, files: dict[str, str], reason: str
) -> None:
    state = run_state(aws, tmp_path)
    put_output(aws, state, "preprocess", files)

    assert profile(build, state) == {"baseline_uri": None, "reason": reason}
    assert stored_keys(aws) == []


def test_a_split_outside_the_artifact_bucket_gives_no_baseline(
    aws: AwsResources, tmp_path: Path, build: FakeBuild
) -> None:
    state = run_state(aws, tmp_path)
    elsewhere = f"s3://{ALLOWLISTED_BUCKET}/prepared/"
    state["cache"]["preprocess"] = {
        "key": "k",
        "hit": True,
        "output": {"data_uri": elsewhere, "job_name": "x"},
    }

    result = profile(build, state)

    assert result == {
        "baseline_uri": None,
        "reason": "step preprocess's output is outside the artifact bucket",
    }


def test_data_the_science_layer_refuses_gives_no_baseline(
    aws: AwsResources, built_in: dict[str, Any]
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> BuiltBaseline:
        raise ValueError("every value of tenure is missing")

    result = profile(refuse, built_in)

    assert result == {
        "baseline_uri": None,
        "reason": "step preprocess's train.csv could not be profiled (every value of tenure is missing)",
    }


# -- registration -------------------------------------------------------------------------------------


def test_register_version_links_the_baseline_and_registers_without_one_when_there_is_none(
    aws: AwsResources, tmp_path: Path
) -> None:
    # The training job is not in SageMaker: the version's artifact is the one Prepare planned.
    state = run_state(aws, tmp_path)
    with_baseline = {**state, "baseline": {"baseline_uri": BASELINE_URI, "reason": None}}
    register(with_baseline)
    assert registered(1).baseline_uri == BASELINE_URI

    state["run"] = {**state["run"], "execution_arn": state["run"]["execution_arn"] + "-2"}
    register({**state, "baseline": {"baseline_uri": None, "reason": "no raw split"}})
    assert registered(2).baseline_uri is None


def registered(version: int) -> ModelVersion:
    return registry_service().get_version(PIPELINE_ID, version, Caller(REVIEWER))


# -- the handler, with the science layer --------------------------------------------------------------


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("BASELINE_MAX_ROWS", "3")
    steps_wiring.baseline_profiler.cache_clear()
    get_pipeline_settings.cache_clear()
    from functions.pipelines.steps.profile_baseline import lambda_handler

    yield lambda_handler
    steps_wiring.baseline_profiler.cache_clear()
    get_pipeline_settings.cache_clear()


def test_the_handler_writes_the_science_layers_baseline(
    aws: AwsResources, built_in: dict[str, Any], handler: Any
) -> None:
    from cirrus_science.drift.baseline import Baseline

    result = handler({"state": built_in}, LambdaContextStub())  # BASELINE_MAX_ROWS is 3

    assert result == {"baseline_uri": BASELINE_URI, "reason": None}
    body = aws.s3.get_object(Bucket=ARTIFACT_BUCKET, Key=BASELINE_KEY)["Body"].read()
    baseline = Baseline.from_json(body)
    assert [(spec.name, spec.kind) for spec in baseline.features] == [
        ("tenure", "numeric"),
        ("charges", "numeric"),
        ("zip", "categorical"),
        ("plan", "categorical"),
    ]
    assert baseline.row_count == 3
    assert (baseline.metadata["truncated"], baseline.metadata["target_column"]) == (True, "label")
    assert baseline.summary["tenure"]["max"] == 30.0
    assert baseline.summary["plan"]["missing_share"] == pytest.approx(1 / 3)
    assert {item["category"] for item in baseline.summary["zip"]["top"]} == {"02134", "10001", "94107"}
