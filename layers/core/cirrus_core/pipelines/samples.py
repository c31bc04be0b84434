"""Sample payloads for a run's version: the requests its deployments send as their smoke test.

`Register version` writes
`s3://<artifact bucket>/pipelines/<pipeline_id>/runs/<run_id>/register-version/samples.jsonl`
(docs/serving.md, "Sample payloads"): JSON Lines, one request per line, `{"content_type", "body"}`,
from the first rows of a held-out test split with the target removed. Which split, and in which
shape, follows what the run's model takes (docs/pipelines.md, "Sample payloads"):

- the built-in training recipe on data made by the built-in data steps alone, from one
  data_preprocessing step: RAW records, that step's `test.csv` (what clients have; the model bundles
  the fitted preprocessing). One `application/json` request per record (`{"instances": [record]}`,
  numbers as JSON numbers for the columns preprocess's `schema.json` calls numeric), then one
  `text/csv` request of the same rows after a header row of the raw column names;
- otherwise, a training step that reads exactly one data step: that step's `test.csv` as the model
  was evaluated on it, one `text/csv` request of header-less rows in column order (what evaluation
  sends, so a user's own script following the serving contract takes it), plus one JSON request per
  record for the built-in recipe;
- otherwise (several channels from custom steps, or the split is missing, empty or unreadable):
  no file, and a log line saying why; the version registers without `sample_payloads_uri`.

The key is the run's, and the content a function of the split: a retried Lambda writes the same
object again. Only the head of `test.csv` is read (a ranged GET), so a large split costs nothing.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cirrus_core.errors import PipelineStepError
from cirrus_core.observability import logger
from cirrus_core.pipelines.definition import DATA_TYPES, JobType

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from cirrus_core.pipelines.definition import StepDefinition
    from cirrus_core.pipelines.run_state import WorkingState

SAMPLES_FILE = "samples.jsonl"
# Not a step id (those take no `-`): never a step's output prefix.
SAMPLES_DIR = "register-version"
TEST_FILE = "test.csv"
SCHEMA_FILE = "schema.json"
MAX_RECORDS = 5
# How much of test.csv and schema.json is read.
READ_BYTES = 256 * 1024
JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"
_INTEGER = re.compile(r"^[+-]?\d{1,15}$")


@dataclass(frozen=True)
class SampleSource:
    """Where a run's samples come from, and in which shape."""

    data_uri: str  # the data step's output prefix
    step_id: str
    raw: bool  # the preprocess input's columns (else the columns the model was trained on)
    json_records: bool  # the model takes JSON records (the built-in recipes do)


def sample_source(state: WorkingState, training: StepDefinition) -> SampleSource | str:
    """The split the samples come from, or why there is none (see the module docstring)."""
    by_id = {step.id: step for step in state.definition.steps}
    ancestors: list[str] = []
    pending = [dep for dep in training.depends_on if dep in by_id and by_id[dep].type in DATA_TYPES]
    while pending:
        step_id = pending.pop(0)
        if step_id in ancestors:
            continue
        ancestors.append(step_id)
        pending += [dep for dep in by_id[step_id].depends_on if dep in by_id]
    preprocessing = [step_id for step_id in ancestors if by_id[step_id].type is JobType.DATA_PREPROCESSING]
    built_in = training.script is None
    if built_in and len(preprocessing) == 1 and all(by_id[step_id].script is None for step_id in ancestors):
        return SampleSource(_data_uri(state, preprocessing[0]), preprocessing[0], raw=True, json_records=True)
    channels = [
        dep for dep in dict.fromkeys(training.depends_on) if dep in by_id and by_id[dep].type in DATA_TYPES
    ]
    if len(channels) == 1:
        return SampleSource(_data_uri(state, channels[0]), channels[0], raw=False, json_records=built_in)
    return (
        f"the training step reads {len(channels)} data steps and its model is not known to take the "
        "raw records of a single data_preprocessing step"
    )


def _data_uri(state: WorkingState, step_id: str) -> str:
    uri = state.output_of(step_id).get("data_uri")
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise PipelineStepError(f"Data step {step_id!r} left no output to take sample payloads from.")
    return uri if uri.endswith("/") else f"{uri}/"


def samples_key(state: WorkingState) -> str:
    """The run's samples.jsonl key in the artifact bucket."""
    return f"pipelines/{state.pipeline.pipeline_id}/runs/{state.run.run_id}/{SAMPLES_DIR}/{SAMPLES_FILE}"


def json_value(text: str, numeric: bool | None) -> Any:
    """A CSV cell as a JSON value: null when empty; a number for a numeric column (`numeric` None:
    whenever it reads as one); else the text."""
    if text == "":
        return None
    if numeric is False:
        return text
    if _INTEGER.fullmatch(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return text if numeric is None else None
    return number if math.isfinite(number) else None


def sample_lines(
    header: list[str], rows: list[list[str]], source: SampleSource, numeric: set[str] | None
) -> list[dict[str, str]]:
    """The requests: one JSON request per record (when the model takes records), then one CSV request."""
    lines: list[dict[str, str]] = []
    if source.json_records:
        for row in rows:
            record = {
                column: json_value(value, None if numeric is None else column in numeric)
                for column, value in zip(header, row, strict=True)
            }
            lines.append({"content_type": JSON_TYPE, "body": json.dumps({"instances": [record]})})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if source.raw:
        writer.writerow(header)  # raw rows say so: the recipes tell them from engineered ones by it
    writer.writerows(rows)
    lines.append({"content_type": CSV_TYPE, "body": buffer.getvalue()})
    return lines


class SamplePayloads:
    """Writes a run's samples.jsonl into the artifact bucket."""

    def __init__(self, s3: S3Client, artifact_bucket: str) -> None:
        self._s3 = s3
        self._bucket = artifact_bucket

    def write(self, state: WorkingState, training: StepDefinition, target: str) -> str | None:
        """The samples' s3:// URI, or None (logged) when the run has no split to take them from."""
        source = sample_source(state, training)
        if isinstance(source, str):
            self._skip(state, source)
            return None
        bucket, _, prefix = source.data_uri.removeprefix("s3://").partition("/")
        if bucket != self._bucket:
            self._skip(state, f"step {source.step_id}'s output is outside the artifact bucket")
            return None
        numeric: set[str] | None = None
        if source.raw:
            schema = self._read_json(bucket, f"{prefix}{SCHEMA_FILE}")
            if isinstance(schema, dict) and isinstance(schema.get("columns"), list):
                target = str(schema.get("target_column") or target)
                numeric = {
                    str(column.get("name"))
                    for column in schema["columns"]
                    if isinstance(column, dict) and column.get("role") == "numeric"
                }
        table = self._read_head(bucket, f"{prefix}{TEST_FILE}")
        if isinstance(table, str):
            self._skip(state, f"step {source.step_id}'s {TEST_FILE}: {table}")
            return None
        header, rows = table
        keep = [position for position, column in enumerate(header) if column != target]
        header = [header[position] for position in keep]
        rows = [[row[position] for position in keep] for row in rows[:MAX_RECORDS]]
        if not header or not rows:
            self._skip(state, f"step {source.step_id}'s {TEST_FILE} holds no feature values")
            return None

        lines = sample_lines(header, rows, source, numeric)
        body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
        key = samples_key(state)
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body.encode("utf-8"),
            ContentType="application/x-ndjson",
            ChecksumAlgorithm="SHA256",
        )
        uri = f"s3://{self._bucket}/{key}"
        logger.info(
            "Wrote sample payloads",
            extra={"uri": uri, "requests": len(lines), "source": source.step_id, "raw": source.raw},
        )
        return uri

    @staticmethod
    def _skip(state: WorkingState, reason: str) -> None:
        logger.info(
            "No sample payloads for the version: its deployments must bring their own",
            extra={"run_id": state.run.run_id, "reason": reason},
        )

    def _get_head(self, bucket: str, key: str) -> tuple[bytes, bool] | str:
        """The first READ_BYTES of an object and whether that is all of it; or why it cannot be read."""
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{READ_BYTES - 1}")
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code == "InvalidRange":  # an empty object has no byte 0
                return b"", True
            return f"not readable ({code or 'error'})"
        data = response["Body"].read()
        total = str(response.get("ContentRange", "")).rpartition("/")[2]
        complete = not total.isdigit() or int(total) <= len(data)
        return data, complete

    def _read_json(self, bucket: str, key: str) -> Any:
        head = self._get_head(bucket, key)
        if isinstance(head, str) or not head[1]:
            return None
        try:
            return json.loads(head[0])
        except ValueError:
            return None

    def _read_head(self, bucket: str, key: str) -> tuple[list[str], list[list[str]]] | str:
        """The header and the first complete rows of a CSV object (rows of the header's width)."""
        head = self._get_head(bucket, key)
        if isinstance(head, str):
            return head
        data, complete = head
        if not complete:  # the last line may be cut short
            data = data[: data.rfind(b"\n") + 1]
        try:
            text = data.decode("utf-8-sig")
            parsed = list(csv.reader(io.StringIO(text)))
        except (UnicodeDecodeError, csv.Error) as error:
            return f"not a CSV file ({error})"
        if not parsed or not parsed[0]:
            return "empty"
        header = parsed[0]
        rows = [row for row in parsed[1:] if len(row) == len(header)]
        return header, rows
