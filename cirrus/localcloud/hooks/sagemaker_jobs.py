"""Hook: SageMaker training, processing and batch transform jobs really run.

Stock moto 5.2.5 stores these jobs and reports them Completed at once, running nothing. This hook
runs each one on a background thread, so the Create call returns at once with the job InProgress,
as in AWS:

- **Training** (script mode, as the scikit-learn, XGBoost and PyTorch framework images run it): the
  entry point is the `sagemaker_program` hyperparameter and its code the `sagemaker_submit_directory`
  tarball. Input channels are downloaded into `input/data/<channel>`, `input/config/*.json` written,
  and the script runs in a subprocess (`sys.executable`) with the `SM_*` environment, the
  hyperparameters as `--name value` arguments, and the emulator's endpoint and fake credentials.
  `model/` and `output/data/` become `model.tar.gz` and `output.tar.gz` under
  `<S3OutputPath>/<job>/output/`; `MetricDefinitions` regexes over the output fill
  `FinalMetricDataList`; `output/failure` becomes `FailureReason`; the output streams to the log
  group `/aws/sagemaker/TrainingJobs`. `MaxRuntimeInSeconds` and StopTrainingJob send SIGTERM and,
  after AWS's 120 s grace, SIGKILL; the job ends Stopped (SecondaryStatus MaxRuntimeExceeded or
  Stopped) with whatever model it saved uploaded.
- **Processing**: `ContainerEntrypoint` + `ContainerArguments` run with `/opt/ml` paths mapped to the
  job directory, S3 inputs downloaded to their `LocalPath`, outputs uploaded from theirs on success,
  `Environment` passed, `output/message` reported as `ExitMessage`, logs in
  `/aws/sagemaker/ProcessingJobs`.
- **Batch transform**: the model's inference script (loaded as endpoints load it) runs over every
  object under the input prefix, honouring `ContentType`, `SplitType` (Line or None),
  `BatchStrategy`, `MaxPayloadInMB` and `AssembleWith`; each input `<name>` gives `<name>.out` under
  `S3OutputPath`.

Jobs only run what they are given: a training job without script-mode hyperparameters, a processing
job without an entrypoint, or data sources other than S3 prefixes fail with a ClientError reason that
says so, rather than pretending.

Job state lives here, not on moto's job objects: moto 5.2.5 builds Describe output from every
attribute of those objects (`BaseObject.gen_response_object`), so extra attributes would leak into
responses. The Describe and List methods are wrapped to overlay the state, matched to moto's object by
identity so a moto reset or a re-created name never shows a stale run.

moto 5.2.5 internals touched:
- `moto.sagemaker.responses.SageMakerResponse.create_training_job`, `.create_processing_job`,
  `.create_transform_job` (wrapped): the jobs start from the request as sent, because moto drops
  fields on the way to its backend (`Environment`) and overwrites `MetricDefinitions` with a canned one;
- `SageMakerResponse.stop_training_job` and `.stop_transform_job` (added: moto lacks both APIs);
- `moto.sagemaker.models.SageMakerModelBackend.describe_training_job`, `.describe_processing_job`,
  `.describe_transform_job`, `.list_training_jobs`, `.list_processing_jobs`, `.list_transform_jobs`,
  `.stop_processing_job` (wrapped), and its `training_jobs`, `processing_jobs`, `transform_jobs`
  and `_models` dictionaries (read).
"""

from __future__ import annotations

import abc
import contextlib
import copy
import gzip
import inspect
import json
import logging
import math
import re
import sys
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError
from moto.core.responses import EmptyResult
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from cirrus.localcloud.clients import new_client
from cirrus.localcloud.hooks._patching import combine, patch_attribute
from cirrus.localcloud.sagemaker_common import (
    S3Uri,
    container_path,
    download_object,
    download_prefix,
    extract_archive,
    list_keys,
    pack_directory,
    relative_name,
    rewrite_container_paths,
    upload_directory,
    upload_file,
    utc_now,
)
from cirrus.localcloud.sagemaker_inference import (
    ContainerDefinition,
    InferenceError,
    InferenceModel,
    load_inference_model,
    unload,
)
from cirrus.localcloud.sagemaker_process import (
    STOP_GRACE_SECONDS,
    OutputSink,
    ProcessOutcome,
    ProcessStartError,
    Stopper,
    base_environment,
    run_process,
)
from cirrus.localcloud.sagemaker_toolkit import (
    CURRENT_HOST,
    ScriptMode,
    TrainingPaths,
    interpreter_for,
    resource_config,
    to_cmd_args,
    training_environment,
    write_input_config,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from datetime import datetime

    from cirrus.localcloud.hooks import HookContext, Undo

logger = logging.getLogger(__name__)

IN_PROGRESS, STOPPING, COMPLETED, FAILED, STOPPED = "InProgress", "Stopping", "Completed", "Failed", "Stopped"
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
PROCESSING_LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
# Where SageMaker requires a processing job's inputs and outputs to live in its container.
PROCESSING_ROOT = "/opt/ml/processing"
# When the emulator shuts down, nobody waits for a job's results.
SHUTDOWN_GRACE_SECONDS = 2.0
DEFAULT_MAX_RUNTIME_SECONDS = 86400
# FailureReason and ExitMessage carry at most the first 1024 characters of the container's file.
MESSAGE_LIMIT = 1024
DEFAULT_MAX_PAYLOAD_MB = 6
_UNIQUE_JOB_NAME = (
    "Job name must be unique within an AWS account and region, and a job with this name already exists"
)
_PYTHON_NAMES = re.compile(r"python(3(\.\d+)?)?")


class JobSetupError(Exception):
    """The job cannot run as specified (a missing script, an unsupported data source): a ClientError."""


def _first_chars(path: Path) -> str | None:
    """The first MESSAGE_LIMIT characters of a file the container wrote, or None if it wrote none."""
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8", errors="replace")[:MESSAGE_LIMIT]


# -- job records ----------------------------------------------------------------------------------------


class _Job(abc.ABC):
    """One run of a job: its state as Describe reports it, and the thread that runs it."""

    kind: ClassVar[str]
    collection: ClassVar[str]  # the moto backend's dictionary of these jobs
    name_field: ClassVar[str]  # the request's name field

    def __init__(self, runtime: SageMakerJobs, backend: Any, request: dict[str, Any]) -> None:
        self.runtime = runtime
        self.account_id = str(backend.account_id)
        self.region = str(backend.region_name)
        self.name = name = str(request[self.name_field])
        self.moto_job = getattr(backend, self.collection)[name]
        self.request = request
        self.lock = threading.RLock()
        self.stopper = Stopper()
        self.status = IN_PROGRESS
        self.failure_reason: str | None = None
        self.last_modified = utc_now()
        self.start_time: datetime | None = None
        self.end_time: datetime | None = None
        self.root = runtime.work_dir / self.kind / self.account_id / self.region / name / uuid.uuid4().hex[:8]
        self.thread = threading.Thread(target=self._main, name=f"sagemaker-{self.kind}-{name}", daemon=True)

    @property
    def arn(self) -> str:
        """The job's ARN, as moto made it."""
        return str(self.moto_job.arn)

    def _main(self) -> None:
        try:
            self.run()
        except (JobSetupError, ProcessStartError) as error:
            self.finish(FAILED, f"ClientError: {error}"[:MESSAGE_LIMIT])
        except Exception as error:
            logger.exception("SageMaker %s job %s failed in the local cloud", self.kind, self.name)
            self.finish(FAILED, f"InternalServerError: {type(error).__name__}: {error}"[:MESSAGE_LIMIT])

    @abc.abstractmethod
    def run(self) -> None:
        """Do the job's work, ending with `finish`."""

    def finish(self, status: str, failure_reason: str | None = None) -> None:
        """Enter a terminal status."""
        with self.lock:
            self.status = status
            self.failure_reason = failure_reason
            self.end_time = self.last_modified = utc_now()

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Stop the job as the Stop API does: Stopping now, Stopped once its process has gone."""
        with self.lock:
            if self.status != IN_PROGRESS:
                label = self.kind.capitalize()
                raise ValidationError(
                    message=f"{label} job {self.name} is {self.status}; only InProgress jobs can be stopped."
                )
            self.status = STOPPING
            self.last_modified = utc_now()
        self.stopper.request("Stopped", grace_seconds)

    def stopped_early(self) -> bool:
        """Whether a stop was requested before the job's work began (so it ends Stopped at once)."""
        return self.stopper.requested.is_set()

    @abc.abstractmethod
    def describe(self, described: dict[str, Any]) -> dict[str, Any]:
        """moto's Describe output with this run's state laid over it."""

    @abc.abstractmethod
    def summarize(self, summary: dict[str, Any]) -> dict[str, Any]:
        """moto's List summary with this run's status and times."""

    @staticmethod
    def _times(out: dict[str, Any], fields: Mapping[str, datetime | None]) -> None:
        for key, value in fields.items():
            out.pop(key, None)
            if value is not None:
                out[key] = value


class TrainingJob(_Job):
    """A script-mode training job."""

    kind = "training"
    collection = "training_jobs"
    name_field = "TrainingJobName"

    def __init__(self, runtime: SageMakerJobs, backend: Any, request: dict[str, Any]) -> None:
        super().__init__(runtime, backend, request)
        self.metric_patterns = _metric_patterns(request)
        self.secondary_status = "Starting"
        self.transitions: list[dict[str, Any]] = [
            {
                "Status": "Starting",
                "StartTime": self.last_modified,
                "StatusMessage": "Preparing the instances for training",
            }
        ]
        self.model_artifacts: str | None = None
        self.metrics: list[dict[str, Any]] = []

    def _transition(self, status: str, message: str) -> None:
        with self.lock:
            now = utc_now()
            self.transitions[-1]["EndTime"] = now
            self.transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
            self.secondary_status = status
            self.last_modified = now

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """StopTrainingJob: Stopping (status and secondary status), Stopped once the process has gone."""
        super().stop(grace_seconds)
        self._transition("Stopping", "Stopping the training job")

    def finish(self, status: str, failure_reason: str | None = None) -> None:
        """Enter a terminal status; the last secondary transition names it."""
        secondary = {COMPLETED: "Completed", FAILED: "Failed"}.get(status, self.stopper.reason or "Stopped")
        message = {
            "Completed": "Training job completed",
            "Failed": "Training job failed",
            "MaxRuntimeExceeded": "Training job runtime exceeded MaxRuntimeInSeconds provided",
        }.get(secondary, "Training job stopped")
        with self.lock:
            self._transition(secondary, message)
            self.transitions[-1]["EndTime"] = self.transitions[-1]["StartTime"]
            super().finish(status, failure_reason)

    def run(self) -> None:
        """Fetch code and data, run the entry point, upload what it produced."""
        hyperparameters = dict(self.request.get("HyperParameters") or {})
        script = ScriptMode.of(hyperparameters)
        if script is None:
            raise JobSetupError(
                "the local cloud runs script-mode training only: set the hyperparameters sagemaker_program "
                "(the entry point) and sagemaker_submit_directory (an s3:// sourcedir.tar.gz)"
            )
        deadline = time.monotonic() + _max_runtime(self.request)
        paths = TrainingPaths(self.root)
        paths.create()
        code_dir = _fetch_code(self.runtime.s3, script.submit_directory, paths.code)
        entry_point = code_dir / script.program
        if not entry_point.is_file():
            raise JobSetupError(f"entry point {script.program} not found in {script.submit_directory}")
        with self.lock:
            self.start_time = utc_now()
        channels = self.request.get("InputDataConfig") or []
        if channels:
            self._transition("Downloading", "Downloading input data")
            for channel in channels:
                _download_channel(self.runtime.s3, channel, paths.data / channel["ChannelName"])
        write_input_config(paths, hyperparameters, self.request)
        if self.stopped_early():
            self.finish(STOPPED)
            return
        self._transition("Training", "Training image download completed. Training in progress.")
        argv = [*interpreter_for(script.program, entry_point), *to_cmd_args(script.hyperparameters)]
        env = {
            **base_environment(self.runtime.context),
            **self.request.get("Environment", {}),
            **training_environment(
                job_name=self.name, job_arn=self.arn, request=self.request, paths=paths, script=script
            ),
        }
        sink = self.runtime.sink(TRAINING_LOG_GROUP, self.name, self.metric_patterns)
        outcome = run_process(
            argv,
            cwd=code_dir,
            env=env,
            max_runtime_seconds=max(0.0, deadline - time.monotonic()),
            stopper=self.stopper,
            sink=sink,
        )
        with self.lock:
            self.metrics = [
                {"MetricName": name, "Value": value, "Timestamp": when}
                for name, (value, when) in sorted(sink.metrics.items())
            ]
        if outcome.stop_reason is None and outcome.exit_code != 0:
            self.finish(FAILED, self._failure_reason(paths, outcome, sink, argv))
            return
        self._transition("Uploading", "Uploading generated training model")
        self._upload_artifacts(paths)
        self.finish(COMPLETED if outcome.stop_reason is None else STOPPED)

    def _upload_artifacts(self, paths: TrainingPaths) -> None:
        """model/ and output/data/ as model.tar.gz and output.tar.gz under <S3OutputPath>/<job>/output/."""
        output = S3Uri.parse(self.request["OutputDataConfig"]["S3OutputPath"]).child(self.name, "output")
        for source, name in ((paths.model, "model.tar.gz"), (paths.output_data, "output.tar.gz")):
            archive = pack_directory(source, paths.root / "upload" / name)
            with _uploading(output):
                upload_file(self.runtime.s3, archive, output.child(name))
        with self.lock:
            self.model_artifacts = str(output.child("model.tar.gz"))

    def _failure_reason(
        self, paths: TrainingPaths, outcome: ProcessOutcome, sink: OutputSink, argv: Sequence[str]
    ) -> str:
        written = _first_chars(paths.output / "failure")
        if written is not None:
            return written
        # The framework toolkits' wording when the script wrote no failure file.
        tail = "\n".join(sink.tail)
        command = " ".join(argv)
        reason = (
            f"AlgorithmError: ExecuteUserScriptError:\nExitCode {outcome.exit_code}\n"
            f'ErrorMessage "{tail}"\nCommand "{command}"'
        )
        return reason[:MESSAGE_LIMIT]

    def describe(self, described: dict[str, Any]) -> dict[str, Any]:
        """DescribeTrainingJob as AWS reports this run."""
        out = dict(described)
        with self.lock:
            out["AlgorithmSpecification"] = copy.deepcopy(self.request["AlgorithmSpecification"])
            out["TrainingJobStatus"] = self.status
            out["SecondaryStatus"] = self.secondary_status
            out["SecondaryStatusTransitions"] = [dict(transition) for transition in self.transitions]
            out["LastModifiedTime"] = self.last_modified
            for key in (
                "ModelArtifacts",
                "FinalMetricDataList",
                "FailureReason",
                "TrainingTimeInSeconds",
                "BillableTimeInSeconds",
            ):
                out.pop(key, None)
            self._times(out, {"TrainingStartTime": self.start_time, "TrainingEndTime": self.end_time})
            if self.start_time is not None and self.end_time is not None:
                seconds = max(1, math.ceil((self.end_time - self.start_time).total_seconds()))
                out["TrainingTimeInSeconds"] = out["BillableTimeInSeconds"] = seconds
            if self.model_artifacts is not None:
                out["ModelArtifacts"] = {"S3ModelArtifacts": self.model_artifacts}
            if self.metrics:
                out["FinalMetricDataList"] = [dict(metric) for metric in self.metrics]
            if self.failure_reason is not None:
                out["FailureReason"] = self.failure_reason
            if self.request.get("Environment"):
                out["Environment"] = dict(self.request["Environment"])
        return out

    def summarize(self, summary: dict[str, Any]) -> dict[str, Any]:
        """A TrainingJobSummary as AWS reports this run."""
        out = dict(summary)
        with self.lock:
            out["TrainingJobStatus"] = self.status
            out["LastModifiedTime"] = self.last_modified
            self._times(out, {"TrainingEndTime": self.end_time})
        return out


def _metric_patterns(request: Mapping[str, Any]) -> list[tuple[str, re.Pattern[str]]]:
    """The job's MetricDefinitions, compiled; ValidationError for a bad regex, as CreateTrainingJob does."""
    patterns = []
    for definition in (request.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []:
        try:
            patterns.append((str(definition["Name"]), re.compile(definition["Regex"])))
        except (KeyError, re.error) as error:
            raise ValidationError(message=f"Invalid metric definition {definition!r}: {error}") from error
    return patterns


def _fetch_code(s3: Any, submit_dir: str, code_dir: Path) -> Path:
    """The entry point's code: a sourcedir.tar.gz (as the SDK uploads it) or an S3 prefix."""
    try:
        location = S3Uri.parse(submit_dir)
    except ValueError as error:
        raise JobSetupError(f"sagemaker_submit_directory must be an s3:// URI: {error}") from error
    try:
        if location.key.endswith((".tar.gz", ".tgz")):
            archive = download_object(s3, location, code_dir.parent / "sourcedir.tar.gz")
            return extract_archive(archive, code_dir)
        download_prefix(s3, location, code_dir)
    except (ClientError, tarfile.TarError, ValueError) as error:
        raise JobSetupError(f"cannot fetch {submit_dir}: {error}") from error
    return code_dir


def _download_channel(s3: Any, channel: Mapping[str, Any], target: Path) -> None:
    source = (channel.get("DataSource") or {}).get("S3DataSource")
    if source is None:
        raise JobSetupError(f"channel {channel['ChannelName']}: only S3 data sources are emulated")
    _download_s3_prefix(s3, source.get("S3DataType", "S3Prefix"), source["S3Uri"], target)


def _download_s3_prefix(s3: Any, data_type: str, uri: str, target: Path) -> None:
    if data_type != "S3Prefix":
        raise JobSetupError(f"{uri}: S3DataType {data_type} is not emulated (only S3Prefix)")
    try:
        download_prefix(s3, S3Uri.parse(uri), target)
    except (ClientError, ValueError) as error:
        raise JobSetupError(f"cannot download {uri}: {error}") from error


@contextlib.contextmanager
def _uploading(destination: S3Uri) -> Iterator[None]:
    """S3 refusing an upload (a missing bucket, say) fails the job as a ClientError, as in AWS."""
    try:
        yield
    except ClientError as error:
        raise JobSetupError(f"cannot upload to {destination}: {error}") from error


def _max_runtime(request: Mapping[str, Any]) -> float:
    return float(
        (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS)
    )


class ProcessingJob(_Job):
    """A processing job: the container's entrypoint, with its inputs and outputs in place."""

    kind = "processing"
    collection = "processing_jobs"
    name_field = "ProcessingJobName"

    def __init__(self, runtime: SageMakerJobs, backend: Any, request: dict[str, Any]) -> None:
        super().__init__(runtime, backend, request)
        self.exit_message: str | None = None

    def run(self) -> None:
        """Download inputs, run the entrypoint, upload outputs."""
        app = self.request.get("AppSpecification") or {}
        entrypoint = list(app.get("ContainerEntrypoint") or [])
        if not entrypoint:
            raise JobSetupError(
                "the local cloud runs a processing container's ContainerEntrypoint; it cannot run the image"
            )
        deadline = time.monotonic() + _max_runtime(self.request)
        with self.lock:
            self.start_time = utc_now()
        self._download_inputs()
        outputs = self._prepare_outputs()
        self._write_config()
        if self.stopped_early():
            self.finish(STOPPED)
            return
        outcome = run_process(
            self._command(entrypoint, app.get("ContainerArguments") or []),
            cwd=self.root,
            env=self._environment(),
            max_runtime_seconds=max(0.0, deadline - time.monotonic()),
            stopper=self.stopper,
            sink=self.runtime.sink(PROCESSING_LOG_GROUP, self.name, []),
        )
        with self.lock:
            self.exit_message = _first_chars(self.root / "output" / "message")
        if outcome.stop_reason is not None:
            self.finish(STOPPED)
        elif outcome.exit_code != 0:
            self.finish(FAILED, "AlgorithmError: See job logs for more information")
        else:
            for local, location in outputs:
                with _uploading(location):
                    upload_directory(self.runtime.s3, local, location)
            self.finish(COMPLETED)

    def _download_inputs(self) -> None:
        for item in self.request.get("ProcessingInputs") or []:
            source = item.get("S3Input")
            if source is None:
                raise JobSetupError(f"input {item.get('InputName')}: only S3Input is emulated")
            target = self._local(source["LocalPath"])
            _download_s3_prefix(
                self.runtime.s3, source.get("S3DataType", "S3Prefix"), source["S3Uri"], target
            )

    def _prepare_outputs(self) -> list[tuple[Path, S3Uri]]:
        """Each output's local directory (created, as SageMaker does) and its destination."""
        outputs = []
        for item in (self.request.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
            target = item.get("S3Output")
            if target is None:
                raise JobSetupError(f"output {item.get('OutputName')}: only S3Output is emulated")
            local = self._local(target["LocalPath"])
            local.mkdir(parents=True, exist_ok=True)
            outputs.append((local, S3Uri.parse(target["S3Uri"])))
        return outputs

    def _write_config(self) -> None:
        """/opt/ml/config/processingjobconfig.json and resourceconfig.json, as the container finds them."""
        (self.root / "output").mkdir(parents=True, exist_ok=True)
        config = self.root / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "processingjobconfig.json").write_text(json.dumps(self.request, indent=2, default=str))
        (config / "resourceconfig.json").write_text(json.dumps(resource_config(), indent=2))

    def _command(self, entrypoint: Sequence[str], arguments: Sequence[str]) -> list[str]:
        """The entrypoint and arguments, with /opt/ml paths in the job directory."""
        rest = [rewrite_container_paths(arg, self.root) for arg in [*entrypoint[1:], *arguments]]
        return [_executable(entrypoint[0], self.root), *rest]

    def _environment(self) -> dict[str, str]:
        env = base_environment(self.runtime.context)
        for name, value in (self.request.get("Environment") or {}).items():
            env[name] = rewrite_container_paths(value, self.root)
        env.update(PROCESSING_JOB_NAME=self.name, PROCESSING_JOB_ARN=self.arn)
        return env

    def _local(self, path: str) -> Path:
        if not PurePosixPath(path).is_relative_to(PROCESSING_ROOT):
            raise JobSetupError(f"LocalPath {path} must be under {PROCESSING_ROOT}")
        return container_path(self.root, path)

    def describe(self, described: dict[str, Any]) -> dict[str, Any]:
        """DescribeProcessingJob as AWS reports this run."""
        out = dict(described)
        with self.lock:
            out["ProcessingJobStatus"] = self.status
            out["LastModifiedTime"] = self.last_modified
            self._times(out, {"ProcessingStartTime": self.start_time, "ProcessingEndTime": self.end_time})
            for key, value in (
                ("FailureReason", self.failure_reason),
                ("ExitMessage", self.exit_message),
                ("Environment", self.request.get("Environment")),
            ):
                out.pop(key, None)
                if value:
                    out[key] = value
        return out

    def summarize(self, summary: dict[str, Any]) -> dict[str, Any]:
        """A ProcessingJobSummary as AWS reports this run."""
        out = dict(summary)
        with self.lock:
            out["ProcessingJobStatus"] = self.status
            out["LastModifiedTime"] = self.last_modified
            self._times(out, {"ProcessingEndTime": self.end_time})
            for key, value in (("FailureReason", self.failure_reason), ("ExitMessage", self.exit_message)):
                out.pop(key, None)
                if value:
                    out[key] = value
        return out


def _executable(program: str, root: Path) -> str:
    """The host's equivalent of a container's entrypoint program: Python is this interpreter."""
    if _PYTHON_NAMES.fullmatch(PurePosixPath(program).name):
        return sys.executable
    return rewrite_container_paths(program, root)


class TransformJob(_Job):
    """A batch transform job: the model's inference script over every input object."""

    kind = "transform"
    collection = "transform_jobs"
    name_field = "TransformJobName"
    # DataProcessing's values that change nothing; anything else (JSONPath filters, joins) is not emulated.
    IDENTITY_DATA_PROCESSING: ClassVar[dict[str, str]] = {
        "InputFilter": "$",
        "OutputFilter": "$",
        "JoinSource": "None",
    }

    def __init__(self, runtime: SageMakerJobs, backend: Any, request: dict[str, Any]) -> None:
        super().__init__(runtime, backend, request)
        model = backend._models[request["ModelName"]]
        self.container = ContainerDefinition.of_model(
            model.primary_container, model.containers
        ).with_environment(request.get("Environment") or {})

    def run(self) -> None:
        """Load the model, then transform each input object into `<name>.out`."""
        for field, identity in self.IDENTITY_DATA_PROCESSING.items():
            value = (self.request.get("DataProcessing") or {}).get(field)
            if value not in (None, identity):
                raise JobSetupError(f"DataProcessing.{field} {value} is not emulated")
        transform_input = self.request["TransformInput"]
        source = transform_input["DataSource"]["S3DataSource"]
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise JobSetupError(f"S3DataType {source['S3DataType']} is not emulated (only S3Prefix)")
        with self.lock:
            self.start_time = utc_now()
        try:
            model = load_inference_model(self.runtime.s3, self.container, self.root / "model")
        except InferenceError as error:
            raise JobSetupError(error.message) from error
        try:
            self._transform_all(model, S3Uri.parse(source["S3Uri"]), transform_input)
        finally:
            unload(model)

    def _transform_all(
        self, model: InferenceModel, source: S3Uri, transform_input: Mapping[str, Any]
    ) -> None:
        output = self.request["TransformOutput"]
        target = S3Uri.parse(output["S3OutputPath"])
        content_type = transform_input.get("ContentType")
        accept = output.get("Accept")
        line_endings = output.get("AssembleWith", "None") == "Line"
        for key in list_keys(self.runtime.s3, source):
            if self.stopper.requested.is_set():
                self.finish(STOPPED)
                return
            data = self.runtime.s3.get_object(Bucket=source.bucket, Key=key)["Body"].read()
            if transform_input.get("CompressionType") == "Gzip":
                data = gzip.decompress(data)
            answers = []
            for batch in self._batches(data, transform_input):
                try:
                    answers.append(model.invoke(batch, content_type, accept).body)
                except InferenceError as error:
                    self.finish(FAILED, f"ClientError: {key}: {error.message}"[:MESSAGE_LIMIT])
                    return
            if line_endings:
                body = b"".join(answer if answer.endswith(b"\n") else answer + b"\n" for answer in answers)
            else:
                body = b"".join(answers)
            out_key = target.child(relative_name(source.key, key) + ".out")
            with _uploading(out_key):
                self.runtime.s3.put_object(Bucket=out_key.bucket, Key=out_key.key, Body=body)
        # A stop that came during the last object still ends the job Stopped, as StopTransformJob does.
        self.finish(STOPPED if self.stopper.requested.is_set() else COMPLETED)

    def _batches(self, data: bytes, transform_input: Mapping[str, Any]) -> Iterator[bytes]:
        """The request bodies for one object: the whole object, or its lines singly or packed
        into mini-batches up to MaxPayloadInMB (BatchStrategy SingleRecord or MultiRecord)."""
        split = transform_input.get("SplitType", "None")
        if split == "None":
            yield data
            return
        if split != "Line":
            raise JobSetupError(f"SplitType {split} is not emulated (only Line and None)")
        records = [line for line in data.split(b"\n") if line.strip()]
        # Without a BatchStrategy the records go in mini-batches (MultiRecord).
        if self.request.get("BatchStrategy") == "SingleRecord":
            yield from records
            return
        limit = int(self.request.get("MaxPayloadInMB") or DEFAULT_MAX_PAYLOAD_MB) * 1024 * 1024
        batch: list[bytes] = []
        size = 0
        for record in records:
            if batch and size + len(record) + 1 > limit:
                yield b"\n".join(batch)
                batch, size = [], 0
            batch.append(record)
            size += len(record) + 1
        if batch:
            yield b"\n".join(batch)

    def describe(self, described: dict[str, Any]) -> dict[str, Any]:
        """DescribeTransformJob as AWS reports this run."""
        out = dict(described)
        with self.lock:
            out["TransformJobStatus"] = self.status
            out["LastModifiedTime"] = self.last_modified
            self._times(out, {"TransformStartTime": self.start_time, "TransformEndTime": self.end_time})
            out.pop("FailureReason", None)
            if self.failure_reason is not None:
                out["FailureReason"] = self.failure_reason
        return out

    def summarize(self, summary: dict[str, Any]) -> dict[str, Any]:
        """A TransformJobSummary as AWS reports this run."""
        out = dict(summary)
        with self.lock:
            out["TransformJobStatus"] = self.status
            out["LastModifiedTime"] = self.last_modified
            self._times(out, {"TransformEndTime": self.end_time})
            out.pop("FailureReason", None)
            if self.failure_reason is not None:
                out["FailureReason"] = self.failure_reason
        return out


# -- the runtime: jobs by name, and the API surface ------------------------------------------------------


class SageMakerJobs:
    """Every job this hook runs, found by kind, account, region and name."""

    def __init__(self, context: HookContext) -> None:
        self.context = context
        self.work_dir = context.work_dir / "sagemaker"
        self.s3 = new_client("s3", context.endpoint_url, context.region)
        self.logs = new_client("logs", context.endpoint_url, context.region)
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str, str, str], _Job] = {}

    def start(self, job: _Job) -> _Job:
        """Record a job and start its thread."""
        with self._lock:
            self._jobs[(job.kind, job.account_id, job.region, job.name)] = job
        job.thread.start()
        return job

    def find(self, kind: str, backend: Any, name: str) -> _Job | None:
        """The run behind moto's job `name`, if this hook started it (and moto still holds that job)."""
        job = self._jobs.get((kind, str(backend.account_id), str(backend.region_name), name))
        if job is None or job.moto_job is not getattr(backend, job.collection).get(name):
            return None
        return job

    def sink(self, group: str, job_name: str, metrics: Sequence[tuple[str, re.Pattern[str]]]) -> OutputSink:
        """Where a job's output goes: a new stream `<job>/algo-1-<epoch>` in `group`."""
        return OutputSink(self.logs, group, f"{job_name}/{CURRENT_HOST}-{int(time.time())}", metrics)

    def shutdown(self) -> None:
        """Stop every running job quickly and wait for their threads."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            if job.thread.is_alive():
                job.stopper.request("Stopped", SHUTDOWN_GRACE_SECONDS)
        for job in jobs:
            job.thread.join(timeout=SHUTDOWN_GRACE_SECONDS + 10)


@dataclass(frozen=True)
class _JobApi:
    """How one kind of job appears in the SageMaker API: `Training` -> TrainingJobName, ... ."""

    job_class: type[_Job]
    # AWS's wording for a name already taken (CreateTrainingJob says ResourceInUse, the others too).
    duplicate_message: str
    validate: Callable[[Any, dict[str, Any]], None]

    @property
    def kind(self) -> str:
        """training, processing or transform."""
        return self.job_class.kind

    @property
    def collection(self) -> str:
        """The moto backend's dictionary of these jobs."""
        return self.job_class.collection

    def field(self, suffix: str) -> str:
        """An API field name: `field("Name")` is TrainingJobName for training jobs."""
        return f"{self.kind.capitalize()}Job{suffix}"


def _validate_training(backend: Any, request: dict[str, Any]) -> None:
    del backend
    _metric_patterns(request)


def _validate_transform(backend: Any, request: dict[str, Any]) -> None:
    if request.get("ModelName") not in backend._models:
        raise ValidationError(message=f'Could not find model "{request.get("ModelName")}".')


def _no_validation(backend: Any, request: dict[str, Any]) -> None:
    del backend, request


_APIS = (
    _JobApi(
        TrainingJob,
        "Training job names must be unique within an AWS account and region, and a training job with "
        "this name already exists",
        _validate_training,
    ),
    _JobApi(ProcessingJob, _UNIQUE_JOB_NAME, _no_validation),
    _JobApi(TransformJob, _UNIQUE_JOB_NAME, _validate_transform),
)


def _wrap_create(jobs: SageMakerJobs, api: _JobApi, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def create(response: Any) -> Any:
        """Create<Kind>Job: moto stores the job, then it starts running here."""
        # The request as sent: moto drops fields (Environment) and rewrites others (MetricDefinitions).
        request = json.loads(response.body)
        backend = response.sagemaker_backend
        # AWS refuses a name already used in the account and region; moto 5.2.5 would overwrite the job.
        existing = getattr(backend, api.collection).get(request[api.job_class.name_field])
        if existing is not None:
            raise ResourceInUseException(message=f"{api.duplicate_message} ({existing.arn})")
        api.validate(backend, request)
        result = original(response)
        jobs.start(api.job_class(jobs, backend, request))
        return result

    return create


def _wrap_describe(
    jobs: SageMakerJobs, api: _JobApi, original: Callable[..., dict[str, Any]]
) -> Callable[..., dict[str, Any]]:
    signature = inspect.signature(original)

    def describe(*args: Any, **kwargs: Any) -> dict[str, Any]:
        """Describe<Kind>Job with the run's state."""
        # moto passes the name by keyword (`transform_job_name=`) or position, depending on the API.
        bound = signature.bind(*args, **kwargs)
        described = original(*bound.args, **bound.kwargs)  # moto's ValidationError for an unknown name
        job = jobs.find(api.kind, bound.arguments["self"], bound.arguments[f"{api.kind}_job_name"])
        return described if job is None else job.describe(described)

    return describe


def _wrap_list(
    jobs: SageMakerJobs, api: _JobApi, original: Callable[..., dict[str, Any]]
) -> Callable[..., dict[str, Any]]:
    signature = inspect.signature(original)
    summaries, name_field, status_field = api.field("Summaries"), api.field("Name"), api.field("Status")

    def list_jobs(*args: Any, **kwargs: Any) -> dict[str, Any]:
        """List<Kind>Jobs with each run's status, filtered on it."""
        bound = signature.bind(*args, **kwargs)
        backend = bound.arguments["self"]
        # moto filters on its own (always Completed) status: filter on ours instead.
        status_equals = bound.arguments.get("status_equals")
        bound.arguments["status_equals"] = None
        listed = original(*bound.args, **bound.kwargs)
        rows = []
        for summary in listed[summaries]:
            job = jobs.find(api.kind, backend, summary[name_field])
            row = summary if job is None else job.summarize(summary)
            if status_equals is None or row[status_field] == status_equals:
                rows.append(row)
        return {**listed, summaries: rows}

    return list_jobs


def _stop_api(jobs: SageMakerJobs, api: _JobApi) -> Callable[[Any], Any]:
    """StopTrainingJob / StopTransformJob, which moto 5.2.5 does not serve."""

    def stop(response: Any) -> Any:
        """Stop<Kind>Job."""
        name = response._get_param(api.field("Name"))
        backend = response.sagemaker_backend
        job = jobs.find(api.kind, backend, name)
        if job is None:
            if name not in getattr(backend, api.collection):
                raise ValidationError(message=f"Could not find {api.kind} job '{name}'.")
            raise ValidationError(
                message=f"{api.kind.capitalize()} job {name} is not running; it cannot be stopped."
            )
        job.stop()
        return EmptyResult()

    return stop


def _add_method(owner: type, name: str, method: Callable[..., Any]) -> Undo:
    """Give a moto class a method for an API it does not serve; refuses if moto has gained one."""
    if hasattr(owner, name):
        raise AttributeError(f"{owner.__name__} already has {name}: moto now serves it, review this hook")
    setattr(owner, name, method)
    return lambda: delattr(owner, name)


def install(context: HookContext) -> Undo:
    """Make SageMaker jobs run; the returned callable restores moto and stops running jobs."""
    jobs = SageMakerJobs(context)
    original_stop_processing = SageMakerModelBackend.stop_processing_job

    def stop_processing_job(self: Any, processing_job_name: str) -> None:
        """StopProcessingJob stops the process; moto would only relabel the job."""
        job = jobs.find("processing", self, processing_job_name)
        if job is None:
            original_stop_processing(self, processing_job_name)  # moto's not-found error
        else:
            job.stop()

    undos = [patch_attribute(SageMakerModelBackend, "stop_processing_job", stop_processing_job)]
    for api in _APIS:
        create, describe, list_ = (
            f"create_{api.kind}_job",
            f"describe_{api.kind}_job",
            f"list_{api.kind}_jobs",
        )
        undos += [
            patch_attribute(
                SageMakerResponse, create, _wrap_create(jobs, api, getattr(SageMakerResponse, create))
            ),
            patch_attribute(
                SageMakerModelBackend,
                describe,
                _wrap_describe(jobs, api, getattr(SageMakerModelBackend, describe)),
            ),
            patch_attribute(
                SageMakerModelBackend, list_, _wrap_list(jobs, api, getattr(SageMakerModelBackend, list_))
            ),
        ]
        if api.kind != "processing":  # moto serves StopProcessingJob (wrapped above), not the other two
            undos.append(_add_method(SageMakerResponse, f"stop_{api.kind}_job", _stop_api(jobs, api)))
    return combine(undos, then=jobs.shutdown)
