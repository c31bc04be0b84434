"""`Profile baseline`: the version's drift baseline, from its training data in the features it serves.

The built-in recipes serve RAW records (the columns preprocess read, the target absent), so the
baseline profiles the same columns: the training split `train.csv` of the run's one built-in
`data_preprocessing` step (its output, or the cached run's), with the kinds that step's
`schema.json` gives each column (`numeric` or `categorical`; the `target` left out). Which runs have
such a source is `cirrus_core.pipelines.samples.sample_source`'s rule, the one the sample payloads
follow (docs/pipelines.md, "Sample payloads"). Any other run (custom data steps, a user's own
training script) has no raw split to profile: the step returns `{"baseline_uri": null, "reason"}`,
logs the reason, and the version registers without a baseline (the monitoring API builds one later).

The split is streamed from S3 line by line and at most `max_rows` rows are read (its head: preprocess
writes the train split in the data's original order). Numeric values are kept in `array('d')`
columns, so 200 000 rows of 50 features hold about 80 MB. The baseline itself is built by the science
layer (`cirrus_science.drift.baseline.build_baseline`, numpy), which is imported only when a baseline
is built: this module is in the core layer, which every function loads, and the science layer is
attached only to the functions that need it (`ProfileBaselineFunction` here).

It is written to `s3://<artifact bucket>/pipelines/<pipeline_id>/runs/<run_id>/profile-baseline/
baseline.json` (`profile-baseline` has a `-`, so no step id names it); the content depends only on
the split and the settings, so a retried Lambda writes the same object again.

Missing values: preprocess fills them in its splits (schema.json's `fill_value`: `__missing__` for a
category, the train median for a number), but clients send them missing, and a baseline with the fills
in would show a point mass at the median that live traffic never has. A categorical cell holding its
fill is missing again. A numeric filled cell cannot be told from a real one, but a profile needs only
the column's distribution: the split's missing count before filling (schema.json's
`missing.train`) says how many cells equal to the fill were filled, and that many of them are turned
back into missing values, which restores the column's raw distribution exactly (when only the head of
the split is read, the count is scaled to the rows read).
"""

from __future__ import annotations

import csv
import json
import math
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from botocore.exceptions import ClientError

from cirrus_core.errors import PipelineStepError
from cirrus_core.observability import logger
from cirrus_core.pipelines.definition import JobType
from cirrus_core.pipelines.samples import SCHEMA_FILE, sample_source

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from mypy_boto3_s3 import S3Client

    from cirrus_core.pipelines.run_state import WorkingState

    Column = array[float] | list[str | None]

BASELINE_DIR = "profile-baseline"
BASELINE_FILE = "baseline.json"
TRAIN_FILE = "train.csv"
# How much of schema.json is read (a column takes about 200 bytes of it).
SCHEMA_READ_BYTES = 4 * 1024 * 1024
# The split is read in chunks of this size; a line longer than MAX_LINE_BYTES is refused rather
# than buffered (the object's size is not trusted).
CHUNK_BYTES = 256 * 1024
MAX_LINE_BYTES = 4 * 1024 * 1024

FeatureKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class BuiltBaseline:
    """A baseline as stored: its JSON document and its fingerprint."""

    body: bytes
    fingerprint: str


class BuildBaseline(Protocol):
    """Builds a baseline from columns of values (numeric columns as floats, NaN for missing)."""

    def __call__(
        self,
        columns: Mapping[str, Sequence[Any]],
        kinds: Mapping[str, FeatureKind],
        *,
        max_sample_size: int,
        metadata: Mapping[str, Any],
    ) -> BuiltBaseline: ...


def build_with_science(
    columns: Mapping[str, Sequence[Any]],
    kinds: Mapping[str, FeatureKind],
    *,
    max_sample_size: int,
    metadata: Mapping[str, Any],
) -> BuiltBaseline:
    """The science layer's baseline: numpy is imported here, in the one function that needs it.

    Numeric columns (`array('d')`) become float64 arrays without a copy; text columns object arrays.
    """
    import numpy as np
    from cirrus_science.drift.baseline import build_baseline

    arrays: dict[str, Any] = {}
    for name, values in columns.items():
        if isinstance(values, array):
            arrays[name] = np.frombuffer(values, dtype=np.float64)
        else:
            arrays[name] = np.empty(len(values), dtype=object)
            arrays[name][:] = list(values)
    baseline = build_baseline(arrays, kinds=kinds, max_sample_size=max_sample_size, metadata=metadata)
    return BuiltBaseline(baseline.to_json(), baseline.fingerprint)


class _Unusable(Exception):
    """The split cannot be profiled; the message says why (it becomes the step's `reason`)."""


@dataclass
class _Table:
    rows: int
    truncated: bool
    skipped: int  # lines whose width is not the header's


def baseline_key(state: WorkingState) -> str:
    """The run's baseline.json key in the artifact bucket."""
    return f"pipelines/{state.pipeline.pipeline_id}/runs/{state.run.run_id}/{BASELINE_DIR}/{BASELINE_FILE}"


class BaselineProfiler:
    """Profiles a run's raw training split into the version's drift baseline (see the module docstring)."""

    def __init__(
        self,
        s3: S3Client,
        artifact_bucket: str,
        *,
        max_rows: int,
        max_sample_size: int,
        build: BuildBaseline = build_with_science,
    ) -> None:
        self._s3 = s3
        self._bucket = artifact_bucket
        self._max_rows = max_rows
        self._max_sample_size = max_sample_size
        self._build = build

    def profile(self, state: WorkingState) -> dict[str, Any]:
        """`{"baseline_uri": <s3 URI>, "reason": None}`, or `{"baseline_uri": None, "reason": <why>}`."""
        training = state.step_of_type(JobType.MODEL_TRAINING)
        if training is None:
            raise PipelineStepError(
                "The pipeline has no model_training step: there is no model to profile for."
            )
        source = sample_source(state, training)
        if isinstance(source, str):
            return self._skip(state, source)
        if not source.raw:
            return self._skip(
                state,
                "the model is not known to take the raw records of one built-in data_preprocessing "
                "step (a training script of the user's own, or custom data steps upstream)",
            )
        bucket, _, prefix = source.data_uri.removeprefix("s3://").partition("/")
        if bucket != self._bucket:
            return self._skip(state, f"step {source.step_id}'s output is outside the artifact bucket")
        target = str(state.parameters.get("target_column") or "label")
        try:
            schema = self._schema(bucket, f"{prefix}{SCHEMA_FILE}")
            target = str(schema.get("target_column") or target)
            columns, kinds, table = self._read_split(bucket, f"{prefix}{TRAIN_FILE}", target, schema)
        except _Unusable as problem:
            return self._skip(state, f"step {source.step_id}'s {problem}")
        # A feature without one value in the rows read cannot be profiled: it is left out, and named.
        empty = [name for name, values in columns.items() if not _any_present(values)]
        if len(empty) == len(columns):
            return self._skip(state, f"step {source.step_id}'s {TRAIN_FILE} holds no feature values")
        for name in empty:
            del columns[name], kinds[name]
        _unfill_numbers(columns, kinds, schema, table)

        metadata = {
            "source_uri": f"s3://{bucket}/{prefix}{TRAIN_FILE}",
            "source_step": source.step_id,
            "pipeline_id": state.pipeline.pipeline_id,
            "run_id": state.run.run_id,
            "model_id": state.run.model_name,
            "dataset": {"uri": state.run.dataset.uri, "version": state.run.dataset.version},
            "target_column": target,
            "rows": table.rows,
            "max_rows": self._max_rows,
            "truncated": table.truncated,
            "skipped_rows": table.skipped,
            "features_without_values": empty,
            # preprocess filled the split's missing values; these are the counts before filling.
            "split_rows": _split_rows(schema),
            "split_missing": _split_missing(schema, kinds),
        }
        try:
            built = self._build(columns, kinds, max_sample_size=self._max_sample_size, metadata=metadata)
        except (ValueError, TypeError) as error:  # the data, not the code: no baseline, and why
            return self._skip(state, f"step {source.step_id}'s {TRAIN_FILE} could not be profiled ({error})")
        key = baseline_key(state)
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=built.body,
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
        )
        uri = f"s3://{self._bucket}/{key}"
        logger.info(
            "Wrote drift baseline",
            extra={
                "uri": uri,
                "fingerprint": built.fingerprint,
                "features": len(kinds),
                "rows": table.rows,
                "truncated": table.truncated,
                "source": source.step_id,
            },
        )
        return {"baseline_uri": uri, "reason": None}

    @staticmethod
    def _skip(state: WorkingState, reason: str) -> dict[str, Any]:
        logger.info(
            "No drift baseline for the version: build one through the monitoring API",
            extra={"run_id": state.run.run_id, "reason": reason},
        )
        return {"baseline_uri": None, "reason": reason}

    # -- reading ------------------------------------------------------------------------------------

    def _schema(self, bucket: str, key: str) -> dict[str, Any]:
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{SCHEMA_READ_BYTES - 1}")
        except ClientError as error:
            raise _Unusable(f"{SCHEMA_FILE} is not readable ({_code(error)})") from error
        data = response["Body"].read()
        total = str(response.get("ContentRange", "")).rpartition("/")[2]
        if total.isdigit() and int(total) > len(data):
            raise _Unusable(f"{SCHEMA_FILE} is larger than {SCHEMA_READ_BYTES} bytes")
        try:
            schema = json.loads(data)
        except ValueError as error:
            raise _Unusable(f"{SCHEMA_FILE} is not JSON") from error
        if not isinstance(schema, dict) or not isinstance(schema.get("columns"), list):
            raise _Unusable(f"{SCHEMA_FILE} lists no columns")
        return schema

    def _read_split(
        self, bucket: str, key: str, target: str, schema: Mapping[str, Any]
    ) -> tuple[dict[str, Column], dict[str, FeatureKind], _Table]:
        """The split's feature columns (at most `max_rows` lines read), their kinds, and what was read.

        A categorical cell holding the column's fill value (preprocess's `__missing__`) was missing
        before preprocess filled it, and is missing again here.
        """
        roles, fills = _roles(schema), _category_fills(schema)
        try:
            body = self._s3.get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as error:
            raise _Unusable(f"{TRAIN_FILE} is not readable ({_code(error)})") from error
        try:
            reader = csv.reader(_lines(body))
            header = next(reader, None)
            if not header or not any(header):
                raise _Unusable(f"{TRAIN_FILE} is empty")
            features = [
                (position, name)
                for position, name in enumerate(header)
                if name != target and roles.get(name) != "target"
            ]
            if not features:
                raise _Unusable(f"{TRAIN_FILE} has no feature columns")
            if len({name for _, name in features}) != len(features):
                raise _Unusable(f"{TRAIN_FILE} names a column twice")
            kinds: dict[str, FeatureKind] = {
                name: "numeric" if roles.get(name) == "numeric" else "categorical" for _, name in features
            }
            known = {name for _, name in features if name in roles}
            numeric = [(position, name) for position, name in features if kinds[name] == "numeric"]
            textual = [
                (position, name, fills.get(name))
                for position, name in features
                if kinds[name] == "categorical"
            ]
            numbers: dict[str, array[float]] = {name: array("d") for _, name in numeric}
            texts: dict[str, list[str | None]] = {name: [] for _, name, _ in textual}
            interned: dict[str, str] = {}
            rows = skipped = 0
            truncated = False
            width = len(header)
            for row in reader:
                if not row:  # a blank line is not a row
                    continue
                if rows + skipped == self._max_rows:
                    truncated = True
                    break
                if len(row) != width:
                    skipped += 1
                    continue
                for position, name in numeric:
                    numbers[name].append(_number(row[position]))
                for position, name, fill in textual:
                    cell = row[position]
                    missing = not cell or cell == fill
                    # Repeated categories share one string: a column of 200 000 cells stays small.
                    texts[name].append(None if missing else interned.setdefault(cell, cell))
                rows += 1
        except (csv.Error, UnicodeDecodeError) as error:
            raise _Unusable(f"{TRAIN_FILE} is not a readable CSV file ({error})") from error
        finally:
            body.close()
        if rows == 0:
            raise _Unusable(f"{TRAIN_FILE} has no rows")
        columns: dict[str, Column] = {}
        for _, name in features:
            if name in numbers:
                columns[name] = numbers[name]
            elif name not in known and _all_numbers(texts[name]):
                # A column schema.json does not describe: numeric when every value reads as one.
                columns[name] = array("d", (_number(cell or "") for cell in texts[name]))
                kinds[name] = "numeric"
            else:
                columns[name] = texts[name]
        return columns, kinds, _Table(rows, truncated, skipped)


def _lines(body: Any) -> Iterator[str]:
    """The object's lines, endings kept (csv joins quoted newlines), read CHUNK_BYTES at a time."""
    pending = b""
    first = True
    while True:
        chunk = body.read(CHUNK_BYTES)
        if not chunk:
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            text = (line + b"\n").decode("utf-8")
            if first:
                text, first = text.removeprefix("\ufeff"), False
            yield text
        if len(pending) > MAX_LINE_BYTES:
            raise _Unusable(f"{TRAIN_FILE} has a line longer than {MAX_LINE_BYTES} bytes")
    if pending:
        text = pending.decode("utf-8")
        yield text.removeprefix("\ufeff") if first else text


def _number(text: str) -> float:
    """A cell of a numeric column: NaN (missing) when empty or not a finite number."""
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _any_present(values: Column) -> bool:
    if isinstance(values, array):
        return any(not math.isnan(value) for value in values)
    return any(value is not None for value in values)


def _all_numbers(cells: list[str | None]) -> bool:
    present = [cell for cell in cells if cell is not None]
    return bool(present) and all(not math.isnan(_number(cell)) for cell in present)


def _roles(schema: Mapping[str, Any]) -> dict[str, str]:
    """Each column's role in schema.json: `target`, `numeric` or `categorical`."""
    return {
        str(column["name"]): str(column.get("role"))
        for column in schema.get("columns", [])
        if isinstance(column, dict) and isinstance(column.get("name"), str)
    }


def _category_fills(schema: Mapping[str, Any]) -> dict[str, str]:
    """What preprocess filled each categorical column's missing cells with (`__missing__`)."""
    return {
        str(column["name"]): column["fill_value"]
        for column in schema.get("columns", [])
        if isinstance(column, dict)
        and isinstance(column.get("name"), str)
        and column.get("role") == "categorical"
        and isinstance(column.get("fill_value"), str)
    }


def _unfill_numbers(
    columns: dict[str, Column], kinds: Mapping[str, FeatureKind], schema: Mapping[str, Any], table: _Table
) -> None:
    """Turn back into NaN as many fill-valued cells of each numeric column as preprocess filled (see
    the module docstring)."""
    split_rows = _split_rows(schema)
    missing = _split_missing(schema, kinds)
    for column in schema.get("columns", []):
        name = column.get("name") if isinstance(column, dict) else None
        values = columns.get(name) if isinstance(name, str) else None
        fill = column.get("fill_value") if isinstance(column, dict) else None
        if not isinstance(values, array) or not isinstance(fill, int | float) or isinstance(fill, bool):
            continue
        filled = missing.get(str(name), 0)
        if table.truncated and split_rows:
            filled = round(filled * table.rows / split_rows)
        for index, value in enumerate(values):
            if filled <= 0:
                break
            if value == fill:
                values[index] = math.nan
                filled -= 1


def _split_rows(schema: Mapping[str, Any]) -> int | None:
    rows = schema.get("rows")
    count = rows.get("train") if isinstance(rows, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _split_missing(schema: Mapping[str, Any], kinds: Mapping[str, FeatureKind]) -> dict[str, int]:
    missing: dict[str, int] = {}
    for column in schema.get("columns", []):
        if not isinstance(column, dict) or column.get("name") not in kinds:
            continue
        count = (
            (column.get("missing") or {}).get("train") if isinstance(column.get("missing"), dict) else None
        )
        if isinstance(count, int) and not isinstance(count, bool):
            missing[str(column["name"])] = count
    return missing


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "")) or "error"
