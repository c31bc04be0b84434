"""The built-in recipes as a run's jobs fetch them: packed, content-addressed, uploaded once.

`recipes/processing/*.py` are uploaded one by one (a processing job's code input is that prefix);
each `recipes/<model_type>/` is packed as a script-mode `sourcedir.tar.gz` with `recipes/common/`
and `recipes/processing/feature_transforms.py` beside its entry point, byte for byte the same
from the same files (sorted entries, mtime 0, owner 0). Everything lands under
`pipelines/recipes/<sha256[:16]>/`, the digest taken over what is uploaded, so a changed recipe gets
a new prefix and an unchanged one is never uploaded twice.

A training recipe's `METRIC_DEFINITIONS` is read from its source without importing it: the module
imports scikit-learn or XGBoost, which no Lambda carries.
"""

from __future__ import annotations

import ast
import functools
import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cirrus_core.errors import PipelineStepError
from cirrus_core.pipelines.definition import JobType

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

RECIPES_DIR = Path(__file__).with_name("recipes")
RECIPES_PREFIX = "pipelines/recipes"
PROCESSING_DIR = "processing"
COMMON_DIR = "common"
SOURCEDIR_NAME = "sourcedir.tar.gz"
TRAINING_ENTRY_POINT = "train.py"
METRIC_DEFINITIONS = "METRIC_DEFINITIONS"
PROCESSING_SCRIPTS = {
    JobType.DATA_PREPROCESSING: "preprocess.py",
    JobType.FEATURE_ENGINEERING: "features.py",
    JobType.MODEL_EVALUATION: "evaluate.py",
}
# Processing modules every training sourcedir carries too (beside train.py and script_mode.py).
TRAINING_SHARED_MODULES = ("feature_transforms.py",)
_SKIPPED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
# SageMaker's limits on a job's MetricDefinitions.
MAX_METRIC_DEFINITIONS = 40
MAX_METRIC_REGEX = 500


class RecipeError(PipelineStepError):
    """The built-in recipes are missing or malformed (a packaging fault, not the user's)."""

    code = "recipe_error"


@dataclass(frozen=True)
class RecipeBundle:
    """The recipes as uploaded: file bodies by relative key, digests, and the metric definitions."""

    digest: str
    files: tuple[tuple[str, bytes], ...]
    processing_identity: dict[str, str]  # processing script -> sha256 of what it runs with
    sourcedir_digests: dict[str, str]  # model_type -> sha256 of its sourcedir.tar.gz
    metric_definitions: dict[str, tuple[tuple[str, str], ...]]  # model_type -> (Name, Regex)

    @property
    def prefix(self) -> str:
        """The key prefix every file of this bundle is under (ends with `/`)."""
        return f"{RECIPES_PREFIX}/{self.digest[:16]}/"

    def processing_uri(self, bucket: str) -> str:
        """The S3 prefix of the processing scripts: a processing job's code input."""
        return f"s3://{bucket}/{self.prefix}{PROCESSING_DIR}/"

    def sourcedir_uri(self, bucket: str, model_type: str) -> str:
        """The model type's sourcedir.tar.gz: a training job's `sagemaker_submit_directory`."""
        self._require_model_type(model_type)
        return f"s3://{bucket}/{self.prefix}{model_type}/{SOURCEDIR_NAME}"

    def script_identity(self, script: str) -> str:
        """What a processing step runs, as a digest (its script and the shared modules beside it)."""
        if script not in self.processing_identity:
            raise RecipeError(f"the built-in recipes have no processing script {script!r}")
        return self.processing_identity[script]

    def training_identity(self, model_type: str) -> str:
        self._require_model_type(model_type)
        return self.sourcedir_digests[model_type]

    def metrics_for(self, model_type: str) -> list[dict[str, str]]:
        """The training recipe's MetricDefinitions, as CreateTrainingJob takes them."""
        self._require_model_type(model_type)
        return [{"Name": name, "Regex": regex} for name, regex in self.metric_definitions[model_type]]

    def _require_model_type(self, model_type: str) -> None:
        if model_type not in self.sourcedir_digests:
            raise RecipeError(f"the built-in recipes have no training recipe for {model_type!r}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _recipe_files(directory: Path) -> list[Path]:
    """The files of a recipe directory, sorted by relative path, caches and bytecode left out."""
    found = []
    for path in directory.rglob("*"):
        relative = path.relative_to(directory)
        if not path.is_file() or _SKIPPED_PARTS & set(relative.parts):
            continue
        if path.name.endswith(_SKIPPED_SUFFIXES):
            continue
        found.append(path)
    return sorted(found, key=lambda path: path.relative_to(directory).as_posix())


def pack_sourcedir(directory: Path, *shared: Path) -> bytes:
    """A deterministic `sourcedir.tar.gz` of a directory and the `shared` directories or files: all
    their files side by side at the archive's root (a name in two of them is refused)."""
    members: dict[str, Path] = {}
    for source in (directory, *shared):
        if source.is_file():
            found = [(source.name, source)]
        else:
            found = [(path.relative_to(source).as_posix(), path) for path in _recipe_files(source)]
        for name, path in found:
            if name in members:
                raise RecipeError(f"{name} is both in {members[name].parent} and in {source}")
            members[name] = path
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, path in sorted(members.items()):
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as compressed:
        compressed.write(raw.getvalue())
    return packed.getvalue()


def read_metric_definitions(source: str, filename: str = TRAINING_ENTRY_POINT) -> tuple[tuple[str, str], ...]:
    """The module's top-level `METRIC_DEFINITIONS` literal, read without importing the module."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as error:
        raise RecipeError(f"{filename} does not parse: {error}") from error
    value: Any = None
    found = False
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, expression = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, expression = [node.target], node.value
        if any(isinstance(target, ast.Name) and target.id == METRIC_DEFINITIONS for target in targets):
            try:
                value = ast.literal_eval(expression)
            except ValueError as error:
                raise RecipeError(f"{filename}: {METRIC_DEFINITIONS} is not a literal") from error
            found = True
    if not found:
        raise RecipeError(f"{filename} defines no {METRIC_DEFINITIONS}")
    return _checked_definitions(value, filename)


def _checked_definitions(value: Any, filename: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list | tuple) or len(value) > MAX_METRIC_DEFINITIONS:
        raise RecipeError(f"{filename}: {METRIC_DEFINITIONS} is not a list of at most 40 definitions")
    definitions = []
    for item in value:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("Name"), str)
            or not isinstance(item.get("Regex"), str)
            or len(item["Regex"]) > MAX_METRIC_REGEX
        ):
            raise RecipeError(f"{filename}: each metric definition is {{'Name': str, 'Regex': str}}")
        definitions.append((item["Name"], item["Regex"]))
    return tuple(definitions)


def load_recipes(root: Path = RECIPES_DIR) -> RecipeBundle:
    """Read, pack and digest the recipes under `root`."""
    processing = root / PROCESSING_DIR
    if not processing.is_dir():
        raise RecipeError(f"the built-in recipes are missing: no {processing}")
    files: list[tuple[str, bytes]] = []
    scripts = {path.name: path.read_bytes() for path in _recipe_files(processing) if path.suffix == ".py"}
    for name, body in sorted(scripts.items()):
        files.append((f"{PROCESSING_DIR}/{name}", body))
    # A processing job gets the whole prefix: its identity covers any helper module beside it.
    shared = [name for name in sorted(scripts) if name not in PROCESSING_SCRIPTS.values()]
    identity = {
        name: _sha256(
            b"\0".join(name.encode() + b"\0" + scripts[part] for part in [name, *shared] if part in scripts)
        )
        for name in scripts
    }
    sourcedirs: dict[str, str] = {}
    metrics: dict[str, tuple[tuple[str, str], ...]] = {}
    # What every training recipe imports from beside its entry script: the common modules, and the
    # processing modules the served model applies the data steps' fitted transforms with.
    shared_code = [root / COMMON_DIR] if (root / COMMON_DIR).is_dir() else []
    shared_code += [processing / name for name in TRAINING_SHARED_MODULES if (processing / name).is_file()]
    for directory in sorted(path for path in root.iterdir() if path.is_dir()):
        entry = directory / TRAINING_ENTRY_POINT
        if directory.name == PROCESSING_DIR or not entry.is_file():
            continue
        packed = pack_sourcedir(directory, *shared_code)
        files.append((f"{directory.name}/{SOURCEDIR_NAME}", packed))
        sourcedirs[directory.name] = _sha256(packed)
        metrics[directory.name] = read_metric_definitions(entry.read_text(encoding="utf-8"), str(entry))
    manifest = "\n".join(f"{key} {_sha256(body)}" for key, body in sorted(files))
    return RecipeBundle(
        digest=_sha256(manifest.encode()),
        files=tuple(sorted(files)),
        processing_identity=identity,
        sourcedir_digests=sourcedirs,
        metric_definitions=metrics,
    )


@functools.cache
def builtin_recipes() -> RecipeBundle:
    """The packaged recipes, read once per execution environment."""
    return load_recipes()


class RecipeStore:
    """Uploads a bundle into the artifact bucket, skipping files already there (HeadObject)."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        return self._bucket

    def upload(self, bundle: RecipeBundle) -> list[str]:
        """Put each file of the bundle that is missing; returns the keys written."""
        written = []
        for relative, body in bundle.files:
            key = f"{bundle.prefix}{relative}"
            if self._exists(key):
                continue
            self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ChecksumAlgorithm="SHA256",
                ContentType="application/gzip" if key.endswith(".tar.gz") else "text/x-python",
            )
            written.append(key)
        return written

    def _exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True
