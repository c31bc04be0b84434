"""Processors: named, versioned, parameterised transformations of one input, each built as SQL.

A processor is registered with `@processor(name, version=..., parameters=Model)` on a function that
builds one SELECT over the input view from its validated parameters and the input's columns. The SQL is
written for a `Dialect`: DuckDB's (the Lambda runtime) or Spark's (the Glue and EMR Serverless jobs run
the same processor as the SQL the plan step renders for them), so a processor is written once.

The version is part of the transformation's code hash: change what a processor does, bump its version.
A run whose transformation was declared with another version of a processor than the one installed is
refused rather than run with code its lineage does not name.

This module imports pydantic only: the API validates processor parameters with it at PUT.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Final, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from cirrus_core.data.transformations import ProcessorCall
from cirrus_core.errors import InvalidProcessorParameters, TransformationFailed, UnknownProcessor

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Scalar = str | bool | int | float
_MAX_COLUMNS: Final = 1000
_BUCKETS: Final = 1 << 32


# -- dialects ------------------------------------------------------------------------------------------


class CastType(StrEnum):
    """Types a column may be cast to (Arrow's names where they have one)."""

    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT = "float"
    DOUBLE = "double"
    STRING = "string"
    BOOL = "bool"
    DATE = "date"
    TIMESTAMP = "timestamp"
    TIMESTAMP_UTC = "timestamp_utc"


@dataclass(frozen=True)
class Dialect:
    """How one SQL engine spells identifiers, literals, types and a stable 32-bit hash."""

    name: str
    quote: str
    types: Mapping[CastType, str]
    backslash_escapes: bool
    string_type: str

    def identifier(self, name: str) -> str:
        return self.quote + name.replace(self.quote, self.quote * 2) + self.quote

    def string(self, text: str) -> str:
        if self.backslash_escapes:
            return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + text.replace("'", "''") + "'"

    def literal(self, value: Scalar | None) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return repr(value)
        return self.string(value)

    def cast(self, expression: str, to: CastType, *, safe: bool = False) -> str:
        return f"{'TRY_CAST' if safe else 'CAST'}({expression} AS {self.types[to]})"

    def text(self, expression: str) -> str:
        return f"CAST({expression} AS {self.string_type})"

    def bucket(self, parts: Sequence[str]) -> str:
        """An integer in [0, 2^32) from the MD5 of the parts joined with `|` (the same on both engines)."""
        digest = f"substr(md5(concat_ws('|', {', '.join(parts)})), 1, 8)"
        if self.name == "spark":
            return f"CAST(conv({digest}, 16, 10) AS BIGINT)"
        return f"('0x' || {digest})::BIGINT"


DUCKDB: Final = Dialect(
    name="duckdb",
    quote='"',
    types={
        CastType.INT8: "TINYINT",
        CastType.INT16: "SMALLINT",
        CastType.INT32: "INTEGER",
        CastType.INT64: "BIGINT",
        CastType.FLOAT: "FLOAT",
        CastType.DOUBLE: "DOUBLE",
        CastType.STRING: "VARCHAR",
        CastType.BOOL: "BOOLEAN",
        CastType.DATE: "DATE",
        CastType.TIMESTAMP: "TIMESTAMP",
        CastType.TIMESTAMP_UTC: "TIMESTAMPTZ",
    },
    backslash_escapes=False,
    string_type="VARCHAR",
)
SPARK: Final = Dialect(
    name="spark",
    quote="`",
    types={
        CastType.INT8: "TINYINT",
        CastType.INT16: "SMALLINT",
        CastType.INT32: "INT",
        CastType.INT64: "BIGINT",
        CastType.FLOAT: "FLOAT",
        CastType.DOUBLE: "DOUBLE",
        CastType.STRING: "STRING",
        CastType.BOOL: "BOOLEAN",
        CastType.DATE: "DATE",
        CastType.TIMESTAMP: "TIMESTAMP_NTZ",
        CastType.TIMESTAMP_UTC: "TIMESTAMP",
    },
    backslash_escapes=True,
    string_type="STRING",
)
DIALECTS: Final = {DUCKDB.name: DUCKDB, SPARK.name: SPARK}


# -- the registry ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessorInput:
    """What a processor builds its SQL over: the input's view (its alias) and columns, in order."""

    view: str
    columns: Sequence[str]
    dialect: Dialect = DUCKDB

    @property
    def table(self) -> str:
        return self.dialect.identifier(self.view)

    def column(self, name: str, processor: str) -> str:
        """The quoted column, or TransformationFailed naming the input's columns."""
        if name not in self.columns:
            raise TransformationFailed(
                f"{processor}: {name!r} is not a column of input {self.view} "
                f"(columns: {', '.join(self.columns[:50])}).",
                [{"processor": processor, "column": name}],
            )
        return self.dialect.identifier(name)

    def unused_name(self, base: str) -> str:
        name, counter = base, 0
        while name in self.columns:
            counter += 1
            name = f"{base}_{counter}"
        return name


Builder = Callable[[Any, ProcessorInput], str]


@dataclass(frozen=True)
class Processor:
    """A registered processor: its name, version, parameters model and SQL builder."""

    name: str
    version: int
    parameters: type[BaseModel]
    build: Builder
    summary: str

    def validate(self, parameters: Mapping[str, Any]) -> BaseModel:
        try:
            return self.parameters.model_validate(dict(parameters))
        except ValidationError as error:
            details = [
                {
                    "field": ".".join(["processor.parameters", *(str(part) for part in item["loc"])]),
                    "message": item["msg"],
                    "type": item["type"],
                }
                for item in error.errors(include_url=False, include_input=False)
            ]
            raise InvalidProcessorParameters(
                f"The parameters of processor {self.name} are invalid.", details[:50]
            ) from None


PROCESSORS: dict[str, Processor] = {}


def processor(name: str, *, version: int, parameters: type[BaseModel]) -> Callable[[Builder], Builder]:
    """Register a SQL builder as the processor `name` (a second registration of a name is an error)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name) or version < 1:
        raise ValueError(f"bad processor registration {name!r} version {version}")

    def register(build: Builder) -> Builder:
        if name in PROCESSORS:
            raise ValueError(f"processor {name} is registered already")
        summary = (build.__doc__ or "").strip().splitlines()[0] if build.__doc__ else ""
        PROCESSORS[name] = Processor(name, version, parameters, build, summary)
        return build

    return register


def get_processor(name: str) -> Processor:
    found = PROCESSORS.get(name)
    if found is None:
        raise UnknownProcessor(
            f"There is no processor named {name!r}.",
            [{"field": "processor.name", "processors": sorted(PROCESSORS)}],
        )
    return found


def prepare(name: str, parameters: Mapping[str, Any]) -> ProcessorCall:
    """The call to store for a declared processor: its version and validated, defaulted parameters."""
    found = get_processor(name)
    validated = found.validate(parameters)
    return ProcessorCall(name=name, version=found.version, parameters=validated.model_dump(mode="json"))


def render(call: ProcessorCall, source: ProcessorInput) -> str:
    """The SELECT a stored processor call runs over its input."""
    found = get_processor(call.name)
    if found.version != call.version:
        raise TransformationFailed(
            f"Processor {call.name} is version {found.version} here, but the transformation was declared "
            f"with version {call.version}: PUT the transformation again to use this version.",
            [{"processor": call.name, "declared": call.version, "installed": found.version}],
        )
    return found.build(found.validate(call.parameters), source)


def _select(source: ProcessorInput, expressions: Sequence[str], tail: str = "") -> str:
    # Every name in the SQL is quoted by the dialect and every value is a literal it escaped.
    return f"SELECT {', '.join(expressions)} FROM {source.table}{tail}"  # noqa: S608  # nosec B608


class _Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- deduplicate -----------------------------------------------------------------------------------------


class Keep(StrEnum):
    LATEST = "latest"
    EARLIEST = "earliest"


class DeduplicateParameters(_Parameters):
    keys: list[ColumnName] = Field(
        min_length=1, max_length=32, description="The columns that identify a row."
    )
    order_by: ColumnName | None = Field(
        default=None, description="Which row of a key to keep, by this column."
    )
    keep: Keep = Keep.LATEST


@processor("deduplicate", version=1, parameters=DeduplicateParameters)
def deduplicate(parameters: DeduplicateParameters, source: ProcessorInput) -> str:
    """One row per key: the latest (or earliest) by `order_by`; ties go to the smallest row."""
    name = "deduplicate"
    partition = ", ".join(source.column(key, name) for key in parameters.keys)
    order = []
    if parameters.order_by is not None:
        direction = "DESC" if parameters.keep is Keep.LATEST else "ASC"
        order.append(f"{source.column(parameters.order_by, name)} {direction} NULLS LAST")
    # Every column breaks ties, so the same input always keeps the same row.
    order.extend(f"{source.dialect.identifier(column)} ASC NULLS LAST" for column in source.columns)
    rank = source.dialect.identifier(source.unused_name("__cirrus_rank"))
    columns = ", ".join(source.dialect.identifier(column) for column in source.columns)
    return (
        f"SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY {partition} "  # noqa: S608  # nosec B608
        f"ORDER BY {', '.join(order)}) AS {rank} FROM {source.table}) AS ranked WHERE {rank} = 1"
    )


# -- select ----------------------------------------------------------------------------------------------


class SelectParameters(_Parameters):
    columns: list[ColumnName] | None = Field(
        default=None, min_length=1, max_length=_MAX_COLUMNS, description="The columns to keep, in order."
    )
    rename: dict[ColumnName, ColumnName] = Field(default_factory=dict, max_length=_MAX_COLUMNS)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.columns is None and not self.rename:
            raise ValueError("give columns, rename or both")
        if self.columns is not None and len(set(self.columns)) != len(self.columns):
            raise ValueError("columns names a column twice")
        return self


@processor("select", version=1, parameters=SelectParameters)
def select(parameters: SelectParameters, source: ProcessorInput) -> str:
    """Keep some columns (in the given order) and rename some."""
    name = "select"
    chosen = list(parameters.columns) if parameters.columns is not None else list(source.columns)
    for old in parameters.rename:
        if old not in chosen:
            source.column(old, name)
            raise TransformationFailed(f"{name}: rename names {old!r}, which columns does not keep.")
    names = [parameters.rename.get(column, column) for column in chosen]
    if len(set(names)) != len(names):
        raise TransformationFailed(f"{name}: the renamed columns are not unique: {', '.join(names[:50])}.")
    dialect = source.dialect
    return _select(
        source,
        [
            f"{source.column(column, name)} AS {dialect.identifier(new)}"
            for column, new in zip(chosen, names, strict=True)
        ],
    )


# -- cast ------------------------------------------------------------------------------------------------


class CastParameters(_Parameters):
    columns: dict[ColumnName, CastType] = Field(min_length=1, max_length=_MAX_COLUMNS)
    safe: bool = Field(
        default=False, description="A value that does not convert becomes null (else the run fails)."
    )


@processor("cast", version=1, parameters=CastParameters)
def cast(parameters: CastParameters, source: ProcessorInput) -> str:
    """Convert columns to other types, keeping the column order."""
    for column in parameters.columns:
        source.column(column, "cast")
    dialect = source.dialect
    expressions = [
        f"{dialect.cast(dialect.identifier(column), parameters.columns[column], safe=parameters.safe)} "
        f"AS {dialect.identifier(column)}"
        if column in parameters.columns
        else dialect.identifier(column)
        for column in source.columns
    ]
    return _select(source, expressions)


# -- fill_missing ----------------------------------------------------------------------------------------


class FillMissingParameters(_Parameters):
    values: dict[ColumnName, Scalar] = Field(min_length=1, max_length=_MAX_COLUMNS)

    @model_validator(mode="after")
    def _finite(self) -> Self:
        if any(isinstance(value, float) and not math.isfinite(value) for value in self.values.values()):
            raise ValueError("values must be finite")
        return self


@processor("fill_missing", version=1, parameters=FillMissingParameters)
def fill_missing(parameters: FillMissingParameters, source: ProcessorInput) -> str:
    """Replace nulls in some columns with a constant (converted to the column's type by the engine)."""
    for column in parameters.values:
        source.column(column, "fill_missing")
    dialect = source.dialect
    expressions = [
        f"COALESCE({dialect.identifier(column)}, {dialect.literal(parameters.values[column])}) "
        f"AS {dialect.identifier(column)}"
        if column in parameters.values
        else dialect.identifier(column)
        for column in source.columns
    ]
    return _select(source, expressions)


# -- filter_range ----------------------------------------------------------------------------------------


class FilterRangeParameters(_Parameters):
    column: ColumnName
    min: float | int | str | None = Field(
        default=None, description="Rows with column >= min (> if exclusive)."
    )
    max: float | int | str | None = Field(
        default=None, description="Rows with column <= max (< if exclusive)."
    )
    inclusive: bool = True

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        bounds = [bound for bound in (self.min, self.max) if bound is not None]
        if any(isinstance(bound, float) and not math.isfinite(bound) for bound in bounds):
            raise ValueError("bounds must be finite")
        if len({isinstance(bound, str) for bound in bounds}) > 1:
            raise ValueError("min and max must both be numbers or both be strings")
        if self.min is not None and self.max is not None and self.min > self.max:  # type: ignore[operator]
            raise ValueError("min is greater than max")
        return self


@processor("filter_range", version=1, parameters=FilterRangeParameters)
def filter_range(parameters: FilterRangeParameters, source: ProcessorInput) -> str:
    """Keep the rows whose column lies between min and max (rows where it is null are dropped)."""
    column = source.column(parameters.column, "filter_range")
    dialect = source.dialect
    low, high = (">=", "<=") if parameters.inclusive else (">", "<")
    conditions = [f"{column} IS NOT NULL"]
    if parameters.min is not None:
        conditions.append(f"{column} {low} {dialect.literal(parameters.min)}")
    if parameters.max is not None:
        conditions.append(f"{column} {high} {dialect.literal(parameters.max)}")
    return _select(source, ["*"], " WHERE " + " AND ".join(conditions))


# -- train_test_split ------------------------------------------------------------------------------------


class TrainTestSplitParameters(_Parameters):
    fraction: float = Field(gt=0, lt=1, description="The share of rows labelled test.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    column: ColumnName = Field(default="split", description="The added column: 'train' or 'test'.")
    key: list[ColumnName] | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="The columns a row's side is decided by (rows with the same key go together); "
        "default: every column.",
    )


@processor("train_test_split", version=1, parameters=TrainTestSplitParameters)
def train_test_split(parameters: TrainTestSplitParameters, source: ProcessorInput) -> str:
    """Label each row train or test by a seeded hash of its key: deterministic, no row moves between runs."""
    name = "train_test_split"
    if parameters.column in source.columns:
        raise TransformationFailed(f"{name}: input {source.view} has a column {parameters.column!r} already.")
    dialect = source.dialect
    keys = parameters.key if parameters.key is not None else list(source.columns)
    parts = [dialect.string(str(parameters.seed))] + [dialect.text(source.column(key, name)) for key in keys]
    threshold = int(parameters.fraction * _BUCKETS)
    label = f"CASE WHEN {dialect.bucket(parts)} < {threshold} THEN 'test' ELSE 'train' END"
    return _select(source, ["*", f"{label} AS {dialect.identifier(parameters.column)}"])
