"""Transformations: declared SQL, Python or processor code that makes a new dataset version from pinned
versions of other datasets, with lineage (docs/data.md, "Lineage").

`PUT /data/transformations/{name}` declares one: its inputs (aliases naming `dataset:<name>[@<version>]`
references), the output dataset, the runtime (DuckDB in a Lambda, or the same transformation as an AWS
Glue or EMR Serverless Spark job) and exactly one of `sql`, `python` or `processor`.
`POST .../{name}/runs` pins every input to a ready version, allocates the output version and starts the
transformation state machine; the run is read back at `GET .../{name}/runs/{run_id}`.

Everything here is checked without DuckDB: the request's shape, the Python module's entry point (parsed
with `ast`, never imported) and the statement kind of Spark SQL. DuckDB SQL and processor parameters are
checked by the frames layer's checker (cirrus_frames.transform.check_transformation) before anything is
written.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Self

from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from cirrus_core.data.datasets import DataName, VersionNumber
from cirrus_core.data.http import JOB_ID_PATTERN
from cirrus_core.errors import (
    InvalidTransformation,
    InvalidTransformationSql,
    PythonEntrypointMissing,
    TransformationStepError,
)

# Input aliases become DuckDB views (and Spark temporary views): lower-case SQL identifiers, because
# both engines fold unquoted identifiers, so `Orders` and `orders` would be one table.
ALIAS_PATTERN: Final = r"^[a-z_][a-z0-9_]{0,62}$"
PYTHON_IDENTIFIER_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
PROCESSOR_NAME_PATTERN: Final = r"^[a-z][a-z0-9_]{0,62}$"
MAX_INPUTS: Final = 10
MAX_SQL_BYTES: Final = 65_536
MAX_MODULE_BYTES: Final = 262_144
MAX_PARAMETERS_CHARS: Final = 16_384
MAX_FAILURE: Final = 2048
# `dataset:<name>` (the latest ready version when a run starts) or `dataset:<name>@<version>`.
REFERENCE_PATTERN: Final = r"^dataset:[a-z0-9][a-z0-9_-]{0,62}(@[1-9][0-9]{0,9})?$"

Alias = Annotated[str, StringConstraints(pattern=ALIAS_PATTERN)]
Reference = Annotated[str, StringConstraints(pattern=REFERENCE_PATTERN, max_length=80)]
RunIdPath = Annotated[
    str, Path(pattern=JOB_ID_PATTERN, description="A transformation run's id (32 hex digits).")
]


class TransformationRuntime(StrEnum):
    """Where a transformation runs: DuckDB in a Lambda, or Spark on AWS Glue or EMR Serverless."""

    DUCKDB = "duckdb"
    GLUE = "glue"
    EMR_SERVERLESS = "emr_serverless"

    @property
    def spark(self) -> bool:
        return self is not TransformationRuntime.DUCKDB


class TransformationKind(StrEnum):
    SQL = "sql"
    PYTHON = "python"
    PROCESSOR = "processor"


class PythonEngine(StrEnum):
    """The DataFrame library a Python transformation's inputs and result are frames of."""

    PANDAS = "pandas"
    POLARS = "polars"


class PythonSpec(BaseModel):
    """A Python transformation: a module defining `entrypoint(inputs, parameters) -> DataFrame`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    module: str = Field(
        min_length=1,
        max_length=MAX_MODULE_BYTES,
        description="The module's source text (UTF-8, at most 256 KB); stored, never imported by the API.",
    )
    entrypoint: str = Field(
        default="transform",
        pattern=PYTHON_IDENTIFIER_PATTERN,
        description="The module-level function called as `entrypoint(inputs: dict[str, DataFrame], "
        "parameters: dict) -> DataFrame`.",
    )
    engine: PythonEngine = Field(default=PythonEngine.PANDAS, description="pandas or polars DataFrames.")

    @field_validator("module")
    @classmethod
    def _size(cls, value: str) -> str:
        if len(value.encode("utf-8")) > MAX_MODULE_BYTES:
            raise ValueError(f"the module is larger than {MAX_MODULE_BYTES} bytes")
        return value


class ProcessorSpec(BaseModel):
    """A built-in processor (cirrus_frames.processors) and its parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=PROCESSOR_NAME_PATTERN, description="deduplicate, select, cast, fill_missing, ..."
    )
    parameters: dict[str, JsonValue] = Field(default_factory=dict)


class OutputSpec(BaseModel):
    """The dataset whose next version a run makes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: DataName
    description: str = Field(default="", max_length=1024, description="Given to each version it makes.")


class PutTransformationRequest(BaseModel):
    """The body of `PUT /data/transformations/{name}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(default="", max_length=1024)
    inputs: dict[Alias, Reference] = Field(
        min_length=1,
        max_length=MAX_INPUTS,
        description="Alias -> `dataset:<name>[@<version>]`; each alias is a table (view) of the SQL, a key "
        "of the Python entry point's `inputs`, the processor's input. No version: the latest ready one "
        "when a run starts.",
    )
    output: OutputSpec
    runtime: TransformationRuntime = TransformationRuntime.DUCKDB
    sql: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SQL_BYTES,
        description="One SELECT (or WITH ... SELECT) over the aliases: DuckDB SQL, or Spark SQL on glue and "
        "emr_serverless.",
    )
    python: PythonSpec | None = None
    processor: ProcessorSpec | None = None
    parameters: dict[str, JsonValue] = Field(
        default_factory=dict, description="Given to a Python entry point; recorded in the lineage."
    )

    @field_validator("sql")
    @classmethod
    def _sql_size(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode("utf-8")) > MAX_SQL_BYTES:
            raise ValueError(f"the SQL is larger than {MAX_SQL_BYTES} bytes")
        return value

    @field_validator("parameters")
    @classmethod
    def _parameters_size(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        if len(canonical_json(value)) > MAX_PARAMETERS_CHARS:
            raise ValueError(f"the parameters exceed {MAX_PARAMETERS_CHARS} characters as JSON")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [name for name in ("sql", "python", "processor") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of sql, python or processor (got {', '.join(given) or 'none'})"
            )
        if self.python is not None and self.runtime.spark:
            raise ValueError("python transformations run on the duckdb runtime only")
        if self.processor is not None and len(self.inputs) != 1:
            raise ValueError("a processor transforms exactly one input")
        return self

    @property
    def kind(self) -> TransformationKind:
        if self.sql is not None:
            return TransformationKind.SQL
        return TransformationKind.PYTHON if self.python is not None else TransformationKind.PROCESSOR


class PythonModule(BaseModel):
    """A stored Python transformation module: where its immutable source lies, and how it is called."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="transformations/<name>/<sha256 of the source>.py in the data bucket.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    entrypoint: str
    engine: PythonEngine


class ProcessorCall(BaseModel):
    """A processor as stored: its version and its parameters, validated and with defaults filled in."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: int = Field(ge=1)
    parameters: dict[str, JsonValue] = Field(default_factory=dict)


class TransformationSpec(BaseModel):
    """What a run executes: frozen on the run, so replacing the transformation never changes a run."""

    model_config = ConfigDict(frozen=True)

    inputs: dict[str, str]
    output: OutputSpec
    runtime: TransformationRuntime
    kind: TransformationKind
    sql: str | None = None
    python: PythonModule | None = None
    processor: ProcessorCall | None = None
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    code_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")


class Transformation(TransformationSpec):
    """A declared transformation, as stored and shown."""

    name: DataName
    description: str = ""
    revision: int = Field(ge=1, description="1 when created, +1 on each PUT that replaces it.")
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    def spec(self) -> TransformationSpec:
        return TransformationSpec.model_validate(
            self.model_dump(include=set(TransformationSpec.model_fields))
        )


class TransformationSummary(BaseModel):
    """A transformation in a listing."""

    model_config = ConfigDict(frozen=True)

    name: DataName
    description: str
    output: OutputSpec
    runtime: TransformationRuntime
    kind: TransformationKind
    code_hash: str
    revision: int
    updated_at: datetime


class TransformationPage(BaseModel):
    items: list[TransformationSummary]
    next_token: str | None = None


class TransformationRunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class PinnedInput(BaseModel):
    """An input alias and the ready version it was pinned to when the run started."""

    model_config = ConfigDict(frozen=True)

    alias: str
    dataset: DataName
    version: VersionNumber
    reference: str


class RunOutput(BaseModel):
    model_config = ConfigDict(frozen=True)

    dataset: DataName
    version: VersionNumber
    reference: str = Field(description="`dataset:<name>@<version>`: ready when the run has succeeded.")


class TransformationRun(BaseModel):
    """One run of a transformation, as stored and shown."""

    model_config = ConfigDict(frozen=True)

    run_id: str = Field(pattern=JOB_ID_PATTERN)
    transformation: DataName
    revision: int
    status: TransformationRunStatus
    runtime: TransformationRuntime
    code_hash: str
    inputs: list[PinnedInput]
    output: RunOutput
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    row_count: int | None = None
    content_hash: str | None = None
    failure: str | None = Field(default=None, max_length=MAX_FAILURE)
    execution_arn: str
    started_at: datetime
    started_by: str
    finished_at: datetime | None = None


class StoredRun(TransformationRun):
    """A run with the spec it executes (kept on the run item, not shown)."""

    spec: TransformationSpec

    def view(self) -> TransformationRun:
        return TransformationRun.model_validate(self.model_dump(exclude={"spec"}))


def outcome(run: TransformationRun) -> dict[str, Any]:
    """What a state machine step returns: the run's id, status and output."""
    return {
        "run_id": run.run_id,
        "transformation": run.transformation,
        "status": run.status.value,
        "output": run.output.reference,
        "row_count": run.row_count,
    }


class RunTarget(BaseModel):
    """What a run request is about (a run takes no body): the idempotency record's request."""

    model_config = ConfigDict(frozen=True)

    transformation: DataName


class RunExecutionInput(BaseModel):
    """The transformation state machine's execution input; the steps read the rest from the run item."""

    model_config = ConfigDict(frozen=True)

    run_id: str = Field(pattern=JOB_ID_PATTERN)
    transformation: DataName
    runtime: TransformationRuntime


class TransformationStepEvent(BaseModel):
    """What the state machine passes each step: the execution input (plus the caught error)."""

    input: RunExecutionInput
    execution_name: str = ""
    error: dict[str, Any] | None = None


def read_step_event(document: Any) -> TransformationStepEvent:
    """The step's payload (statemachines/data_transformation.asl.json), or TransformationStepError."""
    try:
        return TransformationStepEvent.model_validate(document)
    except ValidationError as error:
        raise TransformationStepError(
            f"Not a transformation step payload: {error.error_count()} errors."
        ) from None


# -- code hashes and checks ------------------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same document always hashes the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sql_code_hash(sql: str) -> str:
    return "sha256:" + sha256_hex(sql)


def module_code_hash(source: str) -> str:
    return "sha256:" + sha256_hex(source)


def processor_code_hash(call: ProcessorCall) -> str:
    """SHA-256 of the processor's name, version and canonical (validated, defaulted) parameters."""
    return "sha256:" + sha256_hex(canonical_json(call.model_dump(mode="json")))


def module_key(name: str, source_sha256: str) -> str:
    """Where a registered module's source lies in the data bucket (content-addressed, so immutable)."""
    return f"transformations/{name}/{source_sha256}.py"


def check_python_entrypoint(spec: PythonSpec) -> None:
    """The module parses and defines `def <entrypoint>(inputs, parameters)` at its top level (else 422).

    The source is parsed with `ast`, never imported or run: the API function executes no user code.
    """
    try:
        tree = ast.parse(spec.module, filename="<transformation>")
    except SyntaxError as error:
        raise InvalidTransformation(
            f"python.module does not parse: {error.msg} (line {error.lineno}).",
            [{"field": "python.module", "line": error.lineno, "message": error.msg}],
        ) from None
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    function = functions.get(spec.entrypoint)
    if function is None:
        raise PythonEntrypointMissing(
            f"python.module defines no top-level function {spec.entrypoint}(inputs, parameters).",
            [
                {
                    "field": "python.entrypoint",
                    "entrypoint": spec.entrypoint,
                    "functions": sorted(functions)[:20],
                }
            ],
        )
    arguments = function.args
    positional = len(arguments.posonlyargs) + len(arguments.args)
    required_keywords = [
        arg.arg
        for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
        if default is None
    ]
    if (positional < 2 and arguments.vararg is None) or required_keywords:
        raise PythonEntrypointMissing(
            f"{spec.entrypoint} must take two positional arguments: (inputs, parameters).",
            [{"field": "python.entrypoint", "entrypoint": spec.entrypoint}],
        )


_SQL_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_SQL_STRING = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`", re.DOTALL)
_QUERY_START = re.compile(r"^\s*\(*\s*(select|with|from|values|table)\b", re.IGNORECASE)


def check_spark_sql(sql: str) -> None:
    """A lexical check of Spark SQL: one statement that starts as a query (else 422).

    DuckDB cannot parse Spark's dialect (backquoted identifiers, for one); the Spark job checks again
    that the parsed plan is a query before it runs anything (glue/cirrus_transform_job.py).
    """
    stripped = _SQL_STRING.sub("''", _SQL_COMMENT.sub(" ", sql)).strip().rstrip(";").strip()
    if ";" in stripped:
        raise InvalidTransformationSql(
            "sql must be a single statement.", [{"field": "sql", "reason": "multiple_statements"}]
        )
    if not _QUERY_START.match(stripped):
        raise InvalidTransformationSql(
            "sql must be a query (SELECT or WITH ... SELECT).", [{"field": "sql", "reason": "not_a_query"}]
        )
