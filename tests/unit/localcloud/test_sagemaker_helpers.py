"""The pieces the SageMaker hooks are built from, without an emulator: paths, archives, contracts."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from cirrus.localcloud.sagemaker_common import (
    S3Uri,
    extract_archive,
    relative_name,
    rewrite_container_paths,
    safe_join,
)
from cirrus.localcloud.sagemaker_inference import (
    InferenceError,
    default_input_fn,
    default_output_fn,
)
from cirrus.localcloud.sagemaker_toolkit import ScriptMode, to_cmd_args


def test_s3_uris_parse_and_join() -> None:
    uri = S3Uri.parse("s3://bucket/models/run-1/")

    assert (uri.bucket, uri.key) == ("bucket", "models/run-1/")
    assert str(uri.child("output", "model.tar.gz")) == "s3://bucket/models/run-1/output/model.tar.gz"
    assert str(S3Uri.parse("s3://bucket").child("a")) == "s3://bucket/a"
    with pytest.raises(ValueError, match="not an s3"):
        S3Uri.parse("https://bucket/key")


@pytest.mark.parametrize(
    ("prefix", "key", "local"),
    [
        ("data/train/", "data/train/a.csv", "a.csv"),
        ("data/train/", "data/train/2024/b.csv", "2024/b.csv"),
        ("data/train.csv", "data/train.csv", "train.csv"),
        ("data/train", "data/train/a.csv", "train/a.csv"),
    ],
)
def test_objects_land_where_sagemaker_puts_them(prefix: str, key: str, local: str) -> None:
    assert relative_name(prefix, key) == local


def test_object_keys_cannot_climb_out_of_the_job_directory(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "a/b.csv") == (tmp_path / "a" / "b.csv").resolve()
    with pytest.raises(ValueError, match="escapes"):
        safe_join(tmp_path, "../../etc/passwd")


def test_archives_cannot_write_outside_their_target(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))

    with pytest.raises(tarfile.TarError):
        extract_archive(archive, tmp_path / "target")
    assert not (tmp_path / "escaped.txt").exists()


def test_container_paths_map_onto_the_job_directory(tmp_path: Path) -> None:
    root = tmp_path / "job"

    assert (
        rewrite_container_paths("--input=/opt/ml/processing/input", root)
        == f"--input={root}/processing/input"
    )
    assert rewrite_container_paths("/opt/ml", root) == str(root)
    assert rewrite_container_paths("/opt/mlflow/x", root) == "/opt/mlflow/x"


def test_hyperparameters_become_arguments_as_in_the_framework_containers() -> None:
    script = ScriptMode.of(
        {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://b/sourcedir.tar.gz"',
            "epochs": "10",
            "lr": "0.1",
            "k": "3",
            "name": "plain text",
            "flags": '{"b": 2, "a": 1}',
        }
    )

    assert script is not None
    assert script.program == "train.py"
    assert script.framework_parameters["sagemaker_submit_directory"] == "s3://b/sourcedir.tar.gz"
    assert to_cmd_args(script.hyperparameters) == [
        "--epochs", "10", "--flags", "a=1,b=2", "-k", "3", "--lr", "0.1", "--name", "plain text",
    ]  # fmt: skip
    assert ScriptMode.of({"epochs": "1"}) is None


def test_default_handlers_decode_csv_and_json_and_refuse_other_types() -> None:
    assert default_input_fn("1,2\n3,4\n", "text/csv; charset=utf-8") == [[1.0, 2.0], [3.0, 4.0]]
    assert default_input_fn(b'{"x": 1}', "application/json") == {"x": 1}
    assert default_output_fn([[1, 2], [3, 4]], "text/csv") == ("1,2\n3,4", "text/csv")
    with pytest.raises(InferenceError) as refused:
        default_input_fn(b"\x00", "application/x-npy")
    assert refused.value.status_code == 415
