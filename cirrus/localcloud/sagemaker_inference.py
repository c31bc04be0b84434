"""The SageMaker framework containers' inference contract, run in-process.

A SageMaker model is a `model.tar.gz` plus an inference script. The framework containers (scikit-learn,
XGBoost, PyTorch) find the script through the model's environment: `SAGEMAKER_PROGRAM` names it and
`SAGEMAKER_SUBMIT_DIRECTORY` says where its code lives (an S3 tarball, or `/opt/ml/model/code` when
the code was packed into the model archive). They call `model_fn(model_dir)` once, then per request
`input_fn(body, content_type) -> predict_fn(data, model) -> output_fn(prediction, accept)`, or
`transform_fn(model, body, content_type, accept)` when the script defines it.

Real endpoints (sagemaker_endpoints hook) and batch transform (sagemaker_jobs hook) both load models
through `load_inference_model`. Differences from the containers, on purpose:
- the script runs in the emulator's process (no container): the model's `Environment` is not put
  into `os.environ`, and a `requirements.txt` beside the script is not installed;
- the default handlers work on plain Python values (numpy is not assumed): CSV becomes a list of
  rows of floats and JSON whatever `json.loads` returns, where the containers give numpy arrays.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from cirrus.localcloud.sagemaker_common import (
    S3Uri,
    download_object,
    download_prefix,
    extract_archive,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
    from types import ModuleType

JSON = "application/json"
CSV = "text/csv"
ANY = "*/*"
# The containers decode these request bodies to text before input_fn sees them; others stay bytes.
TEXT_CONTENT_TYPES = frozenset({JSON, CSV})
DEFAULT_PROGRAM = "inference.py"
MODEL_CODE_DIR = "/opt/ml/model"

_MODULE_PREFIX = "cirrus_inference_"
# sys.path and sys.modules are process-wide: loading two scripts at once must not interleave.
_IMPORT_LOCK = threading.Lock()


class InferenceError(Exception):
    """The model container answered with an HTTP error (AWS wraps it in a ModelError)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def media_type(content_type: str | None) -> str:
    """`text/csv; charset=utf-8` -> `text/csv`; empty for None."""
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class ContainerDefinition:
    """What a SageMaker model's container needs: where its artifact is and its environment."""

    model_data_url: str | None
    environment: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of_model(
        cls, primary_container: Mapping[str, Any] | None, containers: Sequence[Any]
    ) -> ContainerDefinition:
        """The definition of a model's serving container: `PrimaryContainer`, else the first of `Containers`.

        Inference pipelines (several containers chained) are not emulated: the first container serves.
        """
        container = primary_container or (containers[0] if containers else {})
        return cls(container.get("ModelDataUrl"), dict(container.get("Environment") or {}))

    def with_environment(self, overrides: Mapping[str, str]) -> ContainerDefinition:
        """This container with `overrides` over its environment (a transform job's Environment)."""
        return ContainerDefinition(self.model_data_url, {**self.environment, **overrides})


@dataclass(frozen=True)
class InferenceResult:
    """What the container answered: the body and its content type."""

    body: bytes
    content_type: str


class InferenceModel:
    """One loaded model: the inference script's module and the object its `model_fn` returned."""

    def __init__(self, module: ModuleType, model: object, model_dir: Path, default_accept: str) -> None:
        self.module = module
        self.model = model
        self.model_dir = model_dir
        self.default_accept = default_accept

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> InferenceResult:
        """Run one request through the script's handlers, as the framework containers do.

        Raises InferenceError with the status the container would send: the handler's own
        `status_code` when an exception carries one, else 500.
        """
        content_type = content_type or JSON
        if not accept or media_type(accept) == ANY:
            accept = self.default_accept
        payload: str | bytes = body
        if media_type(content_type) in TEXT_CONTENT_TYPES:
            try:
                payload = body.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InferenceError(400, f"{content_type} body is not UTF-8: {error}") from error
        try:
            transform_fn = getattr(self.module, "transform_fn", None)
            if transform_fn is not None:
                result = transform_fn(self.model, payload, content_type, accept)
            else:
                input_fn = getattr(self.module, "input_fn", default_input_fn)
                predict_fn = getattr(self.module, "predict_fn", default_predict_fn)
                output_fn = getattr(self.module, "output_fn", default_output_fn)
                result = output_fn(predict_fn(input_fn(payload, content_type), self.model), accept)
        except InferenceError:
            raise
        except Exception as error:
            raise InferenceError(_status_of(error), f"{type(error).__name__}: {error}") from error
        return _as_result(result, accept)


def _status_of(error: Exception) -> int:
    """The HTTP status a handler's exception asks for (the toolkits' errors carry `status_code`)."""
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) and 400 <= status <= 599 else 500


def _as_result(result: object, accept: str) -> InferenceResult:
    """Normalise a handler's return: `(body, content_type)` or a body in the `accept` type."""
    content_type = accept
    if isinstance(result, tuple) and len(result) == 2:
        body, declared = result
        result, content_type = body, str(declared)
    if isinstance(result, str):
        return InferenceResult(result.encode("utf-8"), content_type)
    if isinstance(result, bytes | bytearray):
        return InferenceResult(bytes(result), content_type)
    raise InferenceError(500, f"output_fn returned {type(result).__name__}; expected str or bytes")


def default_input_fn(input_data: str | bytes, content_type: str) -> Any:
    """The scikit-learn container's default decoding: JSON and CSV (as rows of floats)."""
    kind = media_type(content_type)
    if kind not in TEXT_CONTENT_TYPES:
        raise InferenceError(415, f"Content type {content_type} is not supported by this framework.")
    text = input_data.decode("utf-8") if isinstance(input_data, bytes) else input_data
    if kind == JSON:
        return json.loads(text)
    return [[float(value) for value in line.split(",")] for line in text.splitlines() if line.strip()]


def default_predict_fn(data: Any, model: Any) -> Any:
    """The scikit-learn container's default: `model.predict(data)`."""
    return model.predict(data)


def default_output_fn(prediction: Any, accept: str) -> tuple[str, str]:
    """The scikit-learn container's default encoding: JSON, or CSV one row per line."""
    value = prediction.tolist() if hasattr(prediction, "tolist") else prediction
    kind = media_type(accept)
    if kind == JSON:
        return json.dumps(value), accept
    if kind == CSV:
        rows = value if isinstance(value, list | tuple) else [value]
        lines = (",".join(map(str, row)) if isinstance(row, list | tuple) else str(row) for row in rows)
        return "\n".join(lines), accept
    raise InferenceError(415, f"Accept type {accept} is not supported by this framework.")


def load_inference_model(s3: Any, definition: ContainerDefinition, target_dir: Path) -> InferenceModel:
    """Fetch a model's artifact and code into `target_dir`, import its script and call `model_fn` once.

    Raises InferenceError (status 500) when the artifact, the script or `model_fn` fails, which is
    what a container that cannot start its model answers.
    """
    model_dir = target_dir / "model"
    try:
        if definition.model_data_url:
            location = S3Uri.parse(definition.model_data_url)
            if location.key.endswith("/"):
                # An uncompressed model (ModelDataSource S3Prefix): the objects are the model dir.
                download_prefix(s3, location, model_dir)
            else:
                archive = download_object(
                    s3, location, target_dir / "artifact" / PurePosixPath(location.key).name
                )
                extract_archive(archive, model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        code_dir = _code_dir(s3, definition.environment, model_dir, target_dir / "code")
        program = definition.environment.get("SAGEMAKER_PROGRAM") or DEFAULT_PROGRAM
        script = code_dir / program
        if not script.is_file():
            raise InferenceError(500, f"inference script {program} not found in the model's code")
        # model_fn runs with the code importable too: it often imports what it unpickles.
        with _importable(code_dir):
            module = _import_script(script)
            try:
                model_fn = getattr(module, "model_fn", None)
                if model_fn is None:
                    raise InferenceError(500, f"{program} defines no model_fn (the framework has no default)")
                model = model_fn(str(model_dir))
            except BaseException:
                sys.modules.pop(module.__name__, None)
                raise
    except InferenceError:
        raise
    except Exception as error:
        raise InferenceError(500, f"model failed to load: {type(error).__name__}: {error}") from error
    default_accept = definition.environment.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or JSON
    return InferenceModel(module, model, model_dir, default_accept)


def _code_dir(s3: Any, environment: Mapping[str, str], model_dir: Path, download_dir: Path) -> Path:
    """Where the inference code lives, as the framework containers resolve SAGEMAKER_SUBMIT_DIRECTORY."""
    submit = environment.get("SAGEMAKER_SUBMIT_DIRECTORY")
    if submit and submit.startswith("s3://"):
        location = S3Uri.parse(submit)
        if location.key.endswith(".tar.gz"):
            archive = download_object(s3, location, download_dir.with_suffix(".tar.gz"))
            return extract_archive(archive, download_dir)
        download_prefix(s3, location, download_dir)
        return download_dir
    if submit and PurePosixPath(submit).is_relative_to(MODEL_CODE_DIR):
        return model_dir / PurePosixPath(submit).relative_to(MODEL_CODE_DIR)
    return model_dir / "code"


@contextlib.contextmanager
def _importable(code_dir: Path) -> Iterator[None]:
    """Let the script import its sibling modules while it loads, as it would from its container's cwd.

    The siblings are then taken out of sys.modules again (the script keeps its references), so a
    second model's `utils.py` is imported afresh rather than served from the first model's.
    """
    with _IMPORT_LOCK:
        before = set(sys.modules)
        sys.path.insert(0, str(code_dir))
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(code_dir))
            for name in set(sys.modules) - before:
                if name.startswith(_MODULE_PREFIX):
                    continue
                origin = getattr(sys.modules[name], "__file__", None)
                if origin and Path(origin).resolve().is_relative_to(code_dir.resolve()):
                    del sys.modules[name]


def _import_script(script: Path) -> ModuleType:
    """Import a script under a unique module name, so two models' `inference.py` never collide.

    The module is registered in sys.modules because dataclasses and pickle look classes up there.
    """
    name = f"{_MODULE_PREFIX}{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        raise InferenceError(500, f"cannot import {script.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def unload(model: InferenceModel) -> None:
    """Forget a model's module, so replaced models do not accumulate in sys.modules."""
    sys.modules.pop(model.module.__name__, None)


class ModelCache:
    """Loaded models by slot (e.g. account, region, model name), reloaded when their version changes.

    A version is whatever identifies the artifact (its URL and ETag): a new `model.tar.gz` under the
    same name is loaded afresh, and the old one is dropped. Loads of one slot are serialised, so
    concurrent first requests load the model once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slot_locks: dict[Hashable, threading.Lock] = {}
        self._entries: dict[Hashable, tuple[Hashable, InferenceModel]] = {}

    def get(self, slot: Hashable, version: Hashable, load: Callable[[], InferenceModel]) -> InferenceModel:
        """The model loaded for `slot` at `version`, calling `load` only when there is none yet."""
        entry = self._entries.get(slot)
        if entry is not None and entry[0] == version:
            return entry[1]
        with self._lock:
            slot_lock = self._slot_locks.setdefault(slot, threading.Lock())
        with slot_lock:
            entry = self._entries.get(slot)
            if entry is not None and entry[0] == version:
                return entry[1]
            model = load()
            self._entries[slot] = (version, model)
        if entry is not None:
            unload(entry[1])
        return model

    def clear(self) -> None:
        """Drop every loaded model."""
        with self._lock:
            entries, self._entries = self._entries, {}
        for _, model in entries.values():
            unload(model)
