"""Hook: SageMaker Neo compilation jobs produce their artifact (the model, honestly uncompiled).

Stock moto 5.2.5 stores a CreateCompilationJob and reports it COMPLETED at once, producing nothing:
its ModelArtifacts point at the output prefix, and Describe carries placeholders (`InferenceImage`,
a canned `ModelDigests`, `DerivedInformation`). No compiler for Neo's targets runs on this machine,
so this hook does the one part that can be done honestly, on a background thread as AWS runs jobs:

- **CreateCompilationJob** returns at once with the job `INPROGRESS`. The input model artifact
  (`InputConfig.S3Uri`, a single `.tar.gz`) is copied unchanged to where Neo writes its output,
  `<OutputConfig.S3OutputLocation>/<name>-<target>.tar.gz` (`model.tar.gz` compiled for `rasp3b`
  gives `model-rasp3b.tar.gz`; for a TargetPlatform the target reads `LINUX_ARM64[_NVIDIA]`), and the
  job becomes `COMPLETED` with `ModelArtifacts.S3ModelArtifacts` naming that object.
- A model that cannot be read (missing object, not an `s3://` `.tar.gz`, or a ModelPackageVersionArn
  input, which is not emulated) ends the job `FAILED` with a `FailureReason`.
- **DescribeCompilationJob** reports the run: no `ModelArtifacts` before completion, no
  `FailureReason` unless failed, no `CompilationEndTime` while running, and none of moto's
  placeholders (an uncompiled model has no inference image or Neo digest to report).

Nothing here says "emulated" in an API answer: AWS would not. Whoever packages the output says so
(the edge service reads the local cloud's `CIRRUS_LOCAL_CLOUD` flag).

moto 5.2.5 internals touched:
- `moto.sagemaker.responses.SageMakerResponse.create_compilation_job` (wrapped; the request is read
  from `response.body`, the backend from `response.sagemaker_backend`);
- `moto.sagemaker.models.CompilationJob.describe` (wrapped, to drop placeholders and empty fields);
- moto's `CompilationJob` objects in `SageMakerModelBackend.compilation_jobs`: their existing
  attributes `compilation_job_status`, `compilation_end_time`, `last_modified_time`,
  `failure_reason` and `model_artifacts` are written (moto's Describe, List and its StatusEquals
  filter read them); nothing is added to them.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from moto.sagemaker.models import CompilationJob
from moto.sagemaker.responses import SageMakerResponse

from cirrus.localcloud.clients import new_client
from cirrus.localcloud.hooks._patching import combine, patch_attribute
from cirrus.localcloud.sagemaker_common import S3Uri, utc_now

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from cirrus.localcloud.hooks import HookContext, Undo

logger = logging.getLogger(__name__)

IN_PROGRESS, COMPLETED, FAILED = "INPROGRESS", "COMPLETED", "FAILED"
ARCHIVE_SUFFIX = ".tar.gz"
# moto's canned Describe fields, which describe no real compilation.
_PLACEHOLDERS = ("InferenceImage", "ModelDigests", "DerivedInformation")
# Describe fields AWS leaves out when they have no value.
_OMITTED_WHEN_EMPTY = (
    "FailureReason",
    "ModelArtifacts",
    "CompilationEndTime",
    "ModelPackageVersionArn",
    "VpcConfig",
)
# When the emulator shuts down, nobody waits for a copy to finish.
SHUTDOWN_GRACE_SECONDS = 5.0


def target_name(output_config: Mapping[str, Any]) -> str:
    """Neo's name for the target in its artifact's file name: the device, or OS_ARCH[_ACCELERATOR]."""
    device = output_config.get("TargetDevice")
    if device:
        return str(device)
    platform = output_config.get("TargetPlatform") or {}
    parts = [platform.get("Os"), platform.get("Arch"), platform.get("Accelerator")]
    return "_".join(str(part) for part in parts if part)


def compiled_artifact(input_uri: str, output_config: Mapping[str, Any]) -> S3Uri:
    """Where Neo writes the compiled model: `<S3OutputLocation>/<name>-<target>.tar.gz`."""
    source = S3Uri.parse(input_uri)
    file_name = source.key.rsplit("/", 1)[-1]
    stem = file_name.removesuffix(ARCHIVE_SUFFIX)
    return S3Uri.parse(str(output_config["S3OutputLocation"])).child(
        f"{stem}-{target_name(output_config)}{ARCHIVE_SUFFIX}"
    )


class _CompilationFailed(Exception):
    """The job cannot produce its artifact; the message becomes FailureReason."""


class CompilationRun:
    """One job's run: copies the model to Neo's output location, then completes or fails moto's job."""

    def __init__(self, s3: Any, job: Any, request: Mapping[str, Any]) -> None:
        self._s3 = s3
        self.job = job
        self.request = request
        self.thread = threading.Thread(
            target=self._main, name=f"sagemaker-compilation-{job.compilation_job_name}", daemon=True
        )

    def start(self) -> None:
        """Enter INPROGRESS (moto created the job COMPLETED) and start the copy."""
        job = self.job
        job.compilation_job_status = IN_PROGRESS
        job.compilation_end_time = None
        job.model_artifacts = None
        job.failure_reason = ""
        job.last_modified_time = utc_now()
        self.thread.start()

    def _main(self) -> None:
        try:
            artifact = self._compile()
        except _CompilationFailed as error:
            self._finish(FAILED, failure_reason=str(error))
        except Exception as error:  # a bug here must still end the job, as AWS would
            logger.exception("Compilation job %s failed in the local cloud", self.job.compilation_job_name)
            self._finish(FAILED, failure_reason=f"InternalServerError: {type(error).__name__}: {error}")
        else:
            self._finish(COMPLETED, artifacts={"S3ModelArtifacts": str(artifact)})

    def _compile(self) -> S3Uri:
        input_config = self.request.get("InputConfig")
        if not input_config:
            raise _CompilationFailed(
                "ClientError: the local cloud compiles InputConfig.S3Uri models only "
                "(ModelPackageVersionArn inputs are not emulated)"
            )
        uri = str(input_config.get("S3Uri", ""))
        try:
            source = S3Uri.parse(uri)
        except ValueError as error:
            raise _CompilationFailed(f"ClientError: InputConfiguration: {error}") from error
        if not source.key.endswith(ARCHIVE_SUFFIX):
            raise _CompilationFailed(
                f"ClientError: InputConfiguration: the model artifact {uri} must be a single "
                f"{ARCHIVE_SUFFIX} file"
            )
        target = compiled_artifact(uri, self.request["OutputConfig"])
        try:
            self._s3.copy_object(
                Bucket=target.bucket,
                Key=target.key,
                CopySource={"Bucket": source.bucket, "Key": source.key},
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            raise _CompilationFailed(
                f"ClientError: InputConfiguration: Unable to download the model artifact {uri} ({code})"
            ) from error
        return target

    def _finish(
        self, status: str, *, artifacts: dict[str, str] | None = None, failure_reason: str = ""
    ) -> None:
        job = self.job
        now = utc_now()
        job.model_artifacts = artifacts
        job.failure_reason = failure_reason
        job.compilation_end_time = now
        job.last_modified_time = now
        # The status last: a reader that sees it terminal sees the rest too.
        job.compilation_job_status = status


class CompilationJobs:
    """Every run this hook started."""

    def __init__(self, context: HookContext) -> None:
        self.s3 = new_client("s3", context.endpoint_url, context.region)
        self._lock = threading.Lock()
        self._runs: list[CompilationRun] = []

    def start(self, job: Any, request: Mapping[str, Any]) -> None:
        run = CompilationRun(self.s3, job, request)
        with self._lock:
            self._runs.append(run)
        run.start()

    def shutdown(self) -> None:
        """Wait briefly for copies still running (each is one S3 CopyObject)."""
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            run.thread.join(timeout=SHUTDOWN_GRACE_SECONDS)


def _wrap_create(jobs: CompilationJobs, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def create_compilation_job(response: Any) -> Any:
        """CreateCompilationJob: moto stores the job (and refuses a duplicate name), then it runs here."""
        request = json.loads(response.body)
        result = original(response)
        job = response.sagemaker_backend.compilation_jobs[request["CompilationJobName"]]
        jobs.start(job, request)
        return result

    return create_compilation_job


def _wrap_describe(original: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    def describe(self: Any) -> dict[str, Any]:
        """DescribeCompilationJob as AWS reports the run: no placeholders, no empty fields."""
        described = dict(original(self))
        for key in _PLACEHOLDERS:
            described.pop(key, None)
        for key in _OMITTED_WHEN_EMPTY:
            if not described.get(key):
                described.pop(key, None)
        return described

    return describe


def install(context: HookContext) -> Undo:
    """Make compilation jobs produce their artifact; the returned callable restores moto."""
    jobs = CompilationJobs(context)
    return combine(
        [
            patch_attribute(
                SageMakerResponse,
                "create_compilation_job",
                _wrap_create(jobs, SageMakerResponse.create_compilation_job),
            ),
            patch_attribute(CompilationJob, "describe", _wrap_describe(CompilationJob.describe)),
        ],
        then=jobs.shutdown,
    )
