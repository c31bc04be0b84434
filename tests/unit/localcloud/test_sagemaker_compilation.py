"""The sagemaker_compilation hook: a Neo compilation job copies the model, unchanged, to Neo's output name.

A test that needs to see a job still running holds its copy at a gate (an Event the patched run
waits for), so nothing here sleeps or times anything.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cirrus.localcloud.emulator import Emulator
from cirrus.localcloud.hooks import sagemaker_compilation
from tests.unit.localcloud.helpers import unique
from tests.unit.localcloud.sagemaker_support import ROLE_ARN, SageMakerWorld, tarball, wait_until

EMULATOR_HOOKS = ("cirrus.localcloud.hooks.sagemaker_compilation",)
TERMINAL = frozenset({"COMPLETED", "FAILED", "STOPPED"})
MODEL = tarball({"model.joblib": b"weights", "code/inference.py": b"def model_fn(d): return d\n"})
DATA_INPUT = '{"input": [1, 4]}'


@pytest.fixture(scope="module")
def world(emulator: Emulator) -> SageMakerWorld:
    return SageMakerWorld(emulator)


def compile_model(
    world: SageMakerWorld,
    model_uri: str,
    *,
    output: str | None = None,
    target: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """Start a compilation job; returns its name and its output location."""
    name = unique("compile")
    output = output or world.uri(f"compiled/{name}")
    world.sagemaker.create_compilation_job(
        CompilationJobName=name,
        RoleArn=ROLE_ARN,
        InputConfig={"S3Uri": model_uri, "DataInputConfig": DATA_INPUT, "Framework": "SKLEARN"},
        OutputConfig={"S3OutputLocation": output, **(target or {"TargetDevice": "rasp3b"})},
        StoppingCondition={"MaxRuntimeInSeconds": 900},
    )
    return name, output


def finished(world: SageMakerWorld, name: str) -> dict[str, Any]:
    return wait_until(
        lambda: world.sagemaker.describe_compilation_job(CompilationJobName=name),
        lambda job: job["CompilationJobStatus"] in TERMINAL,
    )


def test_the_model_is_copied_unchanged_under_neos_name_for_the_device(world: SageMakerWorld) -> None:
    model_uri = world.put(f"models/{unique('m')}/model.tar.gz", MODEL)
    name, output = compile_model(world, model_uri)

    job = finished(world, name)

    assert job["CompilationJobStatus"] == "COMPLETED"
    assert job["ModelArtifacts"] == {"S3ModelArtifacts": f"{output}/model-rasp3b.tar.gz"}
    key = f"{output}/model-rasp3b.tar.gz".removeprefix(f"s3://{world.bucket}/")
    assert world.get(key) == MODEL
    assert job["CompilationEndTime"] >= job["CompilationStartTime"]


def test_describe_carries_none_of_motos_placeholders(world: SageMakerWorld) -> None:
    name, _ = compile_model(world, world.put(f"models/{unique('m')}/model.tar.gz", MODEL))

    job = finished(world, name)

    # An uncompiled model has no inference image or Neo digest; AWS omits empty fields.
    for absent in ("InferenceImage", "ModelDigests", "DerivedInformation", "FailureReason"):
        assert absent not in job
    assert job["InputConfig"]["Framework"] == "SKLEARN"
    assert job["OutputConfig"]["TargetDevice"] == "rasp3b"


def test_a_target_platform_names_the_artifact_os_arch_accelerator(world: SageMakerWorld) -> None:
    model_uri = world.put(f"models/{unique('m')}/model.tar.gz", MODEL)
    platform = {"TargetPlatform": {"Os": "LINUX", "Arch": "ARM64", "Accelerator": "NVIDIA"}}
    name, output = compile_model(world, model_uri, target=platform)

    job = finished(world, name)

    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"{output}/model-LINUX_ARM64_NVIDIA.tar.gz"


def test_the_artifact_keeps_the_input_files_name(world: SageMakerWorld) -> None:
    model_uri = world.put(f"models/{unique('m')}/resnet18_model.tar.gz", MODEL)
    name, output = compile_model(
        world, model_uri, target={"TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"}}
    )

    job = finished(world, name)

    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"{output}/resnet18_model-LINUX_X86_64.tar.gz"


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Holds every compilation's copy until set (set at teardown in any case)."""
    opened = threading.Event()
    original = sagemaker_compilation.CompilationRun._compile

    def held(self: Any) -> Any:
        opened.wait(30)
        return original(self)

    monkeypatch.setattr(sagemaker_compilation.CompilationRun, "_compile", held)
    yield opened
    opened.set()


def test_a_job_is_in_progress_until_its_artifact_exists(world: SageMakerWorld, gate: threading.Event) -> None:
    name, _ = compile_model(world, world.put(f"models/{unique('m')}/model.tar.gz", MODEL))

    running = world.sagemaker.describe_compilation_job(CompilationJobName=name)
    listed = world.sagemaker.list_compilation_jobs(NameContains=name, StatusEquals="INPROGRESS")
    gate.set()
    done = finished(world, name)

    assert running["CompilationJobStatus"] == "INPROGRESS"
    assert "ModelArtifacts" not in running
    assert "CompilationEndTime" not in running
    assert [job["CompilationJobName"] for job in listed["CompilationJobSummaries"]] == [name]
    assert done["CompilationJobStatus"] == "COMPLETED"


def test_a_missing_model_fails_the_job_with_a_reason_and_writes_nothing(world: SageMakerWorld) -> None:
    missing = world.uri(f"models/{unique('m')}/model.tar.gz")
    name, output = compile_model(world, missing)

    job = finished(world, name)

    assert job["CompilationJobStatus"] == "FAILED"
    assert missing in job["FailureReason"]
    assert job["FailureReason"].startswith("ClientError: InputConfiguration:")
    assert "ModelArtifacts" not in job
    assert world.keys(output.removeprefix(f"s3://{world.bucket}/")) == []


def test_a_model_that_is_not_a_tarball_fails_the_job(world: SageMakerWorld) -> None:
    model_uri = world.put(f"models/{unique('m')}/model.joblib", b"weights")
    name, _ = compile_model(world, model_uri)

    job = finished(world, name)

    assert job["CompilationJobStatus"] == "FAILED"
    assert ".tar.gz" in job["FailureReason"]


def test_a_job_name_in_use_is_refused(world: SageMakerWorld) -> None:
    name, _ = compile_model(world, world.put(f"models/{unique('m')}/model.tar.gz", MODEL))
    finished(world, name)

    with pytest.raises(ClientError) as refused:
        world.sagemaker.create_compilation_job(
            CompilationJobName=name,
            RoleArn=ROLE_ARN,
            InputConfig={"S3Uri": world.uri("models/x/model.tar.gz"), "Framework": "SKLEARN"},
            OutputConfig={"S3OutputLocation": world.uri("compiled/x"), "TargetDevice": "rasp3b"},
            StoppingCondition={"MaxRuntimeInSeconds": 900},
        )

    assert "already exists" in str(refused.value)
