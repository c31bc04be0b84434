"""Reading a window of an endpoint's data capture from S3 (docs/monitoring.md, "Data capture").

SageMaker writes capture objects under `<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/`, each a JSON
Lines file of records `{"captureData": {"endpointInput": {"observedContentType", "mode", "data",
"encoding"}, ...}, "eventMetadata": {"eventId", "inferenceTime", "inferenceId"?}, "eventVersion"}`.
A window reads the hour folders it overlaps, keeps the records whose `inferenceTime` lies in
`[start, end)`, and turns each request body into feature rows: JSON `{"instances": [...]}`, a list, or
one object (records as objects; rows as lists in the baseline's column order), and CSV with or without
the header row. Requests that cannot be read are counted, never fatal: the run reports them.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from mypy_boto3_s3 import S3Client

CAPTURE_PREFIX = "capture"
_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class CapturedRows:
    """The feature rows of a window, as dicts keyed by column name, and what could not be read."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    unreadable_requests: int = 0
    truncated: bool = False  # the window held more rows than the run reads (the newest are kept)


def parse_inference_time(text: str) -> datetime | None:
    for pattern in _TIME_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def hour_prefixes(base: str, start: datetime, end: datetime) -> list[str]:
    """The `yyyy/mm/dd/hh/` folders under `base` that `[start, end)` overlaps."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last = end.astimezone(UTC)
    prefixes = []
    while hour < last:
        prefixes.append(f"{base}{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return prefixes


def request_rows(captured: Mapping[str, Any], columns: Sequence[str]) -> list[dict[str, Any]]:
    """The feature rows of one captured request body; ValueError when it cannot be read."""
    data = captured.get("data")
    if not isinstance(data, str):
        raise ValueError("the capture record has no data")
    if captured.get("encoding") == "BASE64":
        data = base64.b64decode(data).decode("utf-8")
    content_type = str(captured.get("observedContentType", "")).split(";")[0].strip().lower()
    if content_type == "text/csv" or (not content_type and not data.lstrip().startswith(("{", "["))):
        return _csv_rows(data, columns)
    return _json_rows(json.loads(data), columns)


def _json_rows(document: Any, columns: Sequence[str]) -> list[dict[str, Any]]:
    if isinstance(document, dict) and "instances" in document:
        document = document["instances"]
    items = document if isinstance(document, list) else [document]
    rows = []
    for item in items:
        if isinstance(item, dict):
            rows.append(item)
        elif isinstance(item, list) and len(item) == len(columns):
            rows.append(dict(zip(columns, item, strict=True)))
        else:
            raise ValueError("a JSON instance is neither a record nor a row of the baseline's columns")
    return rows


def _csv_rows(text: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    lines = list(csv.reader(io.StringIO(text)))
    if not lines:
        return []
    header: Sequence[str] = columns
    if set(columns) <= {cell.strip() for cell in lines[0]}:
        header, lines = [cell.strip() for cell in lines[0]], lines[1:]
    rows = []
    for cells in lines:
        if not cells:
            continue
        if len(cells) != len(header):
            raise ValueError("a CSV row has a different number of cells than the header")
        rows.append({name: _csv_value(cell) for name, cell in zip(header, cells, strict=True)})
    return rows


def _csv_value(cell: str) -> Any:
    if cell == "":
        return None
    try:
        return float(cell)
    except ValueError:
        return cell


class CaptureReader:
    """Reads a window of capture records of one endpoint from the capture bucket."""

    def __init__(self, client: S3Client, bucket: str, *, concurrency: int = 16) -> None:
        self._client = client
        self._bucket = bucket
        self._concurrency = concurrency

    def read_window(
        self, endpoint_name: str, start: datetime, end: datetime, columns: Sequence[str], max_rows: int
    ) -> CapturedRows:
        """Every request captured for `endpoint_name` in `[start, end)`, as feature rows (newest kept)."""
        keys = [key for prefix in self._hour_folders(endpoint_name, start, end) for key in self._keys(prefix)]
        records: list[tuple[datetime, Mapping[str, Any]]] = []
        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            for lines in pool.map(self._lines, keys):
                for record in lines:
                    metadata = record.get("eventMetadata") or {}
                    moment = parse_inference_time(str(metadata.get("inferenceTime", "")))
                    if moment is not None and start <= moment < end:
                        records.append((moment, record))
        records.sort(key=lambda pair: pair[0], reverse=True)
        result = CapturedRows()
        for _, record in records:
            captured = (record.get("captureData") or {}).get("endpointInput")
            result.requests += 1
            if not isinstance(captured, dict):
                result.unreadable_requests += 1
                continue
            try:
                rows = request_rows(captured, columns)
            except (ValueError, UnicodeDecodeError, TypeError):
                result.unreadable_requests += 1
                continue
            if len(result.rows) + len(rows) > max_rows:
                result.truncated = True
                break
            result.rows.extend(rows)
        return result

    def _hour_folders(self, endpoint_name: str, start: datetime, end: datetime) -> list[str]:
        base = f"{CAPTURE_PREFIX}/{endpoint_name}/"
        variants = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=base, Delimiter="/"):
            variants += [entry["Prefix"] for entry in page.get("CommonPrefixes", []) if "Prefix" in entry]
        return [prefix for variant in variants for prefix in hour_prefixes(variant, start, end)]

    def _keys(self, prefix: str) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                yield entry["Key"]

    def _lines(self, key: str) -> list[Mapping[str, Any]]:
        body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read().decode("utf-8")
        records: list[Mapping[str, Any]] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records
