"""The built-in recipes on a dataset version's Parquet parts: preprocessing reads exactly the parts
the version lists (Parquet or CSV alike), and training and evaluation read Parquet splits too.

Each recipe runs as its container runs it: a subprocess of the script in an `/opt/ml`-style tree
(processing: `processing/input/{code,config,data,model,sourcedir}`; training: script mode with the
`SM_*` variables), on the packaged recipes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cirrus_core.pipelines.prepare import SOURCE_FILES_PARAMETER
from cirrus_core.pipelines.recipes_upload import RecipeBundle, load_recipes
from examples.demo_data import generate

ROWS = 240
SPLITS = ("train", "validation", "test")
# A subprocess of the recipes starts pandas and scikit-learn: generous, as the cores are shared.
TIMEOUT_SECONDS = 300


@pytest.fixture(scope="module")
def bundle() -> RecipeBundle:
    return load_recipes()


def frame_with_rich_types(rows: int, seed: int) -> pd.DataFrame:
    """Demo rows plus the types a database snapshot brings: a UTC timestamp and a decimal."""
    frame = generate(rows, seed=seed)
    frame["signed_up_at"] = pd.date_range("2024-01-01", periods=rows, freq="h", tz="UTC")
    frame["balance"] = [Decimal(f"{index}.25") for index in range(rows)]
    return frame


def write_part(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.Schema.from_pandas(frame, preserve_index=False).set(
        frame.columns.get_loc("balance"), pa.field("balance", pa.decimal128(12, 2))
    )
    pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), path)


@dataclass(frozen=True)
class Finished:
    """A recipe's run: its exit status, what it printed, and the container root it ran in."""

    returncode: int
    output: str
    root: Path

    def message(self) -> str:
        """The refusal the recipe wrote for the job's ExitMessage or FailureReason."""
        for name in ("output/message", "output/failure"):
            path = self.root / name
            if path.is_file():
                return path.read_text()
        return ""


def run_processing(
    bundle: RecipeBundle,
    root: Path,
    script: str,
    parameters: dict[str, Any],
    data: dict[str, Path] | None = None,
    **inputs: bytes,
) -> Finished:
    """Run a processing recipe in `root` as a processing job would: code, config, data inputs."""
    code = root / "processing" / "input" / "code"
    code.mkdir(parents=True)
    for name, body in bundle.files:
        if name.startswith("processing/"):
            (code / name.removeprefix("processing/")).write_bytes(body)
    config = root / "processing" / "input" / "config"
    config.mkdir(parents=True)
    (config / "parameters.json").write_text(json.dumps(parameters))
    for channel, source in (data or {}).items():
        target = root / "processing" / "input" / "data" / channel
        target.parent.mkdir(parents=True, exist_ok=True)
        source.rename(target)
    for name, body in inputs.items():
        directory = root / "processing" / "input" / name
        directory.mkdir(parents=True)
        (directory / f"{name}.tar.gz").write_bytes(body)
    done = subprocess.run(  # noqa: S603 - the packaged recipe, run as its container runs it
        [sys.executable, str(code / script)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return Finished(done.returncode, done.stdout + done.stderr, root)


def run_training(bundle: RecipeBundle, root: Path, channels: dict[str, Path], *arguments: str) -> Finished:
    """Run the scikit-learn recipe in script mode on `channels`, its sourcedir unpacked as SageMaker does."""
    code = root / "code"
    code.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(dict(bundle.files)["sklearn/sourcedir.tar.gz"])) as archive:
        archive.extractall(code, filter="data")
    environment = {
        **os.environ,
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_INPUT_DIR": str(root / "input"),
        "SM_CHANNELS": json.dumps(sorted(channels)),
        **{f"SM_CHANNEL_{name.upper()}": str(path) for name, path in channels.items()},
    }
    done = subprocess.run(  # noqa: S603 - the packaged recipe, run as its container runs it
        [sys.executable, str(code / "train.py"), *arguments],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
        cwd=code,
        env=environment,
    )
    return Finished(done.returncode, done.stdout + done.stderr, root)


def model_archive(model_dir: Path) -> bytes:
    """model.tar.gz as SageMaker packs the model directory."""
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as archive:
        for path in sorted(model_dir.rglob("*")):
            archive.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    return packed.getvalue()


# -- one chain: a dataset version's parts -> preprocess -> Parquet splits -> training -> evaluation ---------


@dataclass(frozen=True)
class Chain:
    source: pd.DataFrame
    preprocess: Finished
    training: Finished
    evaluation: Finished


@pytest.fixture(scope="module")
def chain(bundle: RecipeBundle, tmp_path_factory: pytest.TempPathFactory) -> Chain:
    base = tmp_path_factory.mktemp("chain")
    source = frame_with_rich_types(ROWS, seed=11)
    half = ROWS // 2
    version_dir = base / "version"
    write_part(version_dir / "part-00000.parquet", source.iloc[:half])
    write_part(version_dir / "part-00001.parquet", source.iloc[half:])
    # Left under the prefix by an earlier attempt: not one of the version's parts.
    write_part(version_dir / "part-00002.parquet", frame_with_rich_types(50, seed=99))
    parameters = {
        SOURCE_FILES_PARAMETER: ["part-00000.parquet", "part-00001.parquet"],
        "seed": 5,
        "target_column": "label",
    }
    preprocess = run_processing(
        bundle, base / "preprocess", "preprocess.py", parameters, {"source": version_dir}
    )

    # A custom data step's output: the same splits, as Parquet.
    splits = base / "splits"
    splits.mkdir()
    output = preprocess.root / "processing" / "output"
    for split in SPLITS:
        pd.read_csv(output / f"{split}.csv").to_parquet(splits / f"{split}.parquet", index=False)
    training = run_training(bundle, base / "training", {"prepared": splits}, "--n_estimators", "5")

    evaluation_data = base / "evaluation-data"
    evaluation_data.mkdir()
    (evaluation_data / "test.parquet").write_bytes((splits / "test.parquet").read_bytes())
    evaluation = run_processing(
        bundle,
        base / "evaluation",
        "evaluate.py",
        {"entry_point": "train.py", "target_column": "label"},
        {"prepared": evaluation_data},
        model=model_archive(training.root / "model"),
        sourcedir=dict(bundle.files)["sklearn/sourcedir.tar.gz"],
    )
    return Chain(source=source, preprocess=preprocess, training=training, evaluation=evaluation)


def test_preprocessing_reads_exactly_the_listed_parts(chain: Chain) -> None:
    assert chain.preprocess.returncode == 0, chain.preprocess.output
    schema = json.loads((chain.preprocess.root / "processing" / "output" / "schema.json").read_text())

    assert schema["sources"] == ["part-00000.parquet", "part-00001.parquet"]
    assert schema["rows"]["input"] == ROWS


def test_parquet_times_and_decimals_are_read_as_a_csv_would_give_them(chain: Chain) -> None:
    output = chain.preprocess.root / "processing" / "output"
    splits = pd.concat([pd.read_csv(output / f"{split}.csv") for split in SPLITS])
    expected = {
        timestamp.isoformat(): float(balance)
        for timestamp, balance in zip(chain.source["signed_up_at"], chain.source["balance"], strict=True)
    }

    assert dict(zip(splits["signed_up_at"], splits["balance"], strict=True)) == expected
    assert splits["signed_up_at"].iloc[0].endswith("+00:00")


def test_training_reads_parquet_splits(chain: Chain) -> None:
    assert chain.training.returncode == 0, chain.training.output
    metadata = json.loads((chain.training.root / "model" / "metadata.json").read_text())

    train_rows = len(pd.read_csv(chain.preprocess.root / "processing" / "output" / "train.csv"))
    assert metadata["rows"]["train"] == train_rows
    assert "validation:accuracy=" in chain.training.output


def test_evaluation_reads_a_parquet_test_split(chain: Chain) -> None:
    assert chain.evaluation.returncode == 0, chain.evaluation.output
    report = json.loads((chain.evaluation.root / "processing" / "output" / "evaluation.json").read_text())

    test_rows = len(pd.read_csv(chain.preprocess.root / "processing" / "output" / "test.csv"))
    assert report["rows"] == test_rows
    assert 0.0 <= report["metrics"]["accuracy"] <= 1.0


# -- refusals -----------------------------------------------------------------------------------------------


def test_a_listed_part_that_is_missing_is_refused(bundle: RecipeBundle, tmp_path: Path) -> None:
    version_dir = tmp_path / "version"
    write_part(version_dir / "part-00000.parquet", frame_with_rich_types(20, seed=1))
    parameters = {SOURCE_FILES_PARAMETER: ["part-00000.parquet", "part-00001.parquet"]}

    done = run_processing(bundle, tmp_path / "job", "preprocess.py", parameters, {"source": version_dir})

    assert done.returncode == 1
    assert done.message() == "the dataset version's part 'part-00001.parquet' is missing from the data source"
    assert not (tmp_path / "job" / "processing" / "output" / "train.csv").exists()


@pytest.mark.parametrize("listed", [["../escape.parquet"], ["/etc/passwd"], "part-00000.parquet", [""]])
def test_a_listed_path_outside_the_source_or_malformed_is_refused(
    bundle: RecipeBundle, tmp_path: Path, listed: Any
) -> None:
    version_dir = tmp_path / "version"
    write_part(version_dir / "part-00000.parquet", frame_with_rich_types(20, seed=1))

    done = run_processing(
        bundle, tmp_path / "job", "preprocess.py", {SOURCE_FILES_PARAMETER: listed}, {"source": version_dir}
    )

    assert done.returncode == 1
    assert SOURCE_FILES_PARAMETER in done.message()


def test_without_a_list_every_parquet_and_csv_file_under_the_prefix_is_read(
    bundle: RecipeBundle, tmp_path: Path
) -> None:
    prefix = tmp_path / "prefix"
    write_part(prefix / "a" / "part-00000.parquet", frame_with_rich_types(30, seed=2))
    generate(30, seed=3).to_csv(prefix / "b.csv", index=False)

    done = run_processing(bundle, tmp_path / "job", "preprocess.py", {"seed": 5}, {"source": prefix})

    assert done.returncode == 0, done.output
    schema = json.loads((tmp_path / "job" / "processing" / "output" / "schema.json").read_text())
    assert schema["sources"] == ["a/part-00000.parquet", "b.csv"]
    assert schema["rows"]["input"] == 60
