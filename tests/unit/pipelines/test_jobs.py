"""Job names and requests as SageMaker takes them, and the recipes they run."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from cirrus_core.errors import InvalidRunParameters
from cirrus_core.pipelines.definition import StepResources
from cirrus_core.pipelines.jobs import (
    JOB_NAME_PATTERN,
    TrainingSpec,
    encode_hyperparameter,
    framework_version,
    job_name,
    training_request,
)
from cirrus_core.pipelines.recipes_upload import (
    RECIPES_DIR,
    RecipeError,
    RecipeStore,
    load_recipes,
    pack_sourcedir,
    read_metric_definitions,
)
from tests.support.aws import ARTIFACT_BUCKET, AwsResources
from tests.unit.pipelines.steps_support import write_recipes

# -- job names -------------------------------------------------------------------------------------


def test_a_job_name_joins_pipeline_step_and_run_with_underscores_as_hyphens() -> None:
    assert job_name("fraud_v2", "20240603T020000Z-7c1e9a2b", "feature_eng") == (
        "fraud-v2-feature-eng-20240603T020000Z-7c1e9a2b"
    )


def test_a_long_job_name_is_cut_to_63_characters_and_ends_with_a_hash() -> None:
    name = job_name("a" * 63, "20240603T020000Z-7c1e9a2b", "preprocess")

    assert len(name) == 63
    assert JOB_NAME_PATTERN.fullmatch(name)


def test_long_names_that_share_their_start_stay_distinct() -> None:
    first = job_name("a" * 63, "20240603T020000Z-7c1e9a2b", "preprocess")
    second = job_name("a" * 63, "20240603T020000Z-00000000", "preprocess")

    assert first != second


@pytest.mark.parametrize("run_id", ["run.with.dots", "_leading", "x" * 80, "a--b"])
def test_any_run_id_gives_a_valid_job_name(run_id: str) -> None:
    assert JOB_NAME_PATTERN.fullmatch(job_name("churn", run_id, "train"))


# -- framework versions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3", "1.2-1"),
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", "1.7-1"),
        ("localhost:5000/my-image:latest", "latest"),
        ("my-image", "unknown"),
    ],
)
def test_the_framework_version_is_read_from_the_image_tag(image: str, version: str) -> None:
    assert framework_version(image) == version


# -- training requests -----------------------------------------------------------------------------


def spec(**changes: object) -> TrainingSpec:
    values: dict[str, object] = {
        "job_name": "churn-train-run",
        "image_uri": "image:1.7-1",
        "region": "us-east-1",
        "entry_point": "train.py",
        "sourcedir_uri": "s3://bucket/sourcedir.tar.gz",
        "hyperparameters": {"eta": 0.1},
        "channels": [],
        "output_uri": "s3://bucket/out/",
        "checkpoint_uri": "s3://bucket/out/checkpoints/",
        "resources": StepResources(),
        "metric_definitions": [],
    }
    values.update(changes)
    return TrainingSpec(**values)  # type: ignore[arg-type]


def test_hyperparameters_are_encoded_as_json_values() -> None:
    assert [encode_hyperparameter(value) for value in ("train.py", 0.1, 3, True)] == [
        '"train.py"',
        "0.1",
        "3",
        "true",
    ]


def test_spot_without_a_wait_waits_as_long_as_it_may_run() -> None:
    request = training_request(spec(resources=StepResources(spot=True, max_runtime_seconds=600)))

    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 600}


def test_on_demand_training_has_no_checkpoints() -> None:
    request = training_request(spec())

    assert "CheckpointConfig" not in request
    assert "MaxWaitTimeInSeconds" not in request["StoppingCondition"]


def test_more_hyperparameters_than_sagemaker_takes_are_refused() -> None:
    too_many = {f"p{index}": index for index in range(100)}

    with pytest.raises(InvalidRunParameters, match="hyperparameters"):
        training_request(spec(hyperparameters=too_many))


def test_a_hyperparameter_value_longer_than_sagemaker_takes_is_refused() -> None:
    with pytest.raises(InvalidRunParameters, match="longer"):
        training_request(spec(hyperparameters={"notes": "x" * 2600}))


# -- recipes ---------------------------------------------------------------------------------------


def test_a_sourcedir_packs_the_same_bytes_from_the_same_files(tmp_path: Path) -> None:
    first = write_recipes(tmp_path / "one") / "sklearn"
    second = write_recipes(tmp_path / "two") / "sklearn"
    (second / "train.py").touch()  # a later mtime changes nothing

    assert pack_sourcedir(first) == pack_sourcedir(second)


def test_a_sourcedir_holds_its_files_at_the_root_sorted_with_no_owner_or_time(tmp_path: Path) -> None:
    directory = write_recipes(tmp_path / "recipes") / "xgboost"
    (directory / "__pycache__").mkdir()
    (directory / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\0")

    with tarfile.open(fileobj=io.BytesIO(pack_sourcedir(directory)), mode="r:gz") as archive:
        members = archive.getmembers()

    assert [member.name for member in members] == ["requirements.txt", "train.py"]
    assert {(member.mtime, member.uid, member.gid, member.uname) for member in members} == {(0, 0, 0, "")}


def test_a_sourcedir_gzip_header_carries_no_time(tmp_path: Path) -> None:
    packed = pack_sourcedir(write_recipes(tmp_path / "recipes") / "sklearn")

    with gzip.GzipFile(fileobj=io.BytesIO(packed)) as archive:
        archive.read()
        assert archive.mtime == 0


def test_metric_definitions_are_read_without_importing_the_module() -> None:
    source = (
        "import module_no_lambda_has\n"
        'METRIC_DEFINITIONS = [{"Name": "validation:f1", "Regex": "f1=([0-9.]+)"}]\n'
    )

    assert read_metric_definitions(source) == (("validation:f1", "f1=([0-9.]+)"),)


@pytest.mark.parametrize(
    "source",
    ["X = 1\n", "METRIC_DEFINITIONS = build()\n", "METRIC_DEFINITIONS = [{'Name': 'x'}]\n", "def (:\n"],
    ids=["missing", "not_literal", "no_regex", "syntax"],
)
def test_a_training_recipe_without_literal_metric_definitions_is_refused(source: str) -> None:
    with pytest.raises(RecipeError):
        read_metric_definitions(source)


def test_the_packaged_recipes_load_with_metric_definitions_for_each_model_type() -> None:
    bundle = load_recipes(RECIPES_DIR)

    assert {"sklearn", "xgboost"} <= set(bundle.sourcedir_digests)
    for model_type in ("sklearn", "xgboost"):
        names = {item["Name"] for item in bundle.metrics_for(model_type)}
        assert {"validation:accuracy", "validation:rmse"} <= names


def test_the_digest_changes_with_any_recipe_file(tmp_path: Path) -> None:
    root = write_recipes(tmp_path / "recipes")
    before = load_recipes(root)
    (root / "processing" / "features.py").write_text("print('changed')\n")

    after = load_recipes(root)

    assert after.digest != before.digest
    assert after.script_identity("features.py") != before.script_identity("features.py")
    assert after.script_identity("preprocess.py") == before.script_identity("preprocess.py")
    assert after.training_identity("sklearn") == before.training_identity("sklearn")


def test_uploading_twice_writes_nothing_the_second_time(aws: AwsResources, tmp_path: Path) -> None:
    bundle = load_recipes(write_recipes(tmp_path / "recipes"))
    store = RecipeStore(aws.s3, ARTIFACT_BUCKET)

    first = store.upload(bundle)
    second = store.upload(bundle)

    assert len(first) == len(bundle.files) == 5
    assert second == []


def test_uploaded_recipes_are_the_bundles_bytes(aws: AwsResources, tmp_path: Path) -> None:
    bundle = load_recipes(write_recipes(tmp_path / "recipes"))
    RecipeStore(aws.s3, ARTIFACT_BUCKET).upload(bundle)

    for relative, body in bundle.files:
        stored = aws.s3.get_object(Bucket=ARTIFACT_BUCKET, Key=f"{bundle.prefix}{relative}")["Body"].read()
        assert stored == body, relative
    assert bundle.prefix == f"pipelines/recipes/{bundle.digest[:16]}/"
    assert json.dumps(bundle.metrics_for("sklearn"))
