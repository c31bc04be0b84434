"""AWS adapters of monitoring: baselines, calibrations and reports in S3; the registry; the schedules.

Monitoring bucket layout (docs/monitoring.md, "Storage"):
  baselines/<model_id>/v<version>/<fingerprint[:16]>/baseline.json   baselines built through the API
  calibrations/<baseline fingerprint>.json                           the last calibration of a baseline
  drift/<model_id>/<environment>/<run_id>/{report.html, constraint_violations.json, result.json}
"""

from __future__ import annotations

import codecs
import csv
import functools
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cirrus_core.errors import InvalidBaselineSource
from cirrus_core.monitoring.models import BaselineFeature, BaselineView, CreateBaselineRequest, DatasetFormat
from cirrus_core.registry.artifacts import check_s3_uri
from cirrus_core.registry.primitives import model_pk, version_sk

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from cirrus_science.drift.baseline import Baseline
    from cirrus_science.drift.calibration import Calibration
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

    from cirrus_core.caller import Caller
    from cirrus_core.registry.models import ModelVersion, RegisteredModel
    from cirrus_core.registry.repository import RegistryRepository
    from cirrus_core.registry.service import RegistryService

# Baselines are read again and again by the same warm function: keep a few parsed.
_BASELINE_CACHE_SIZE = 8


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


class S3Documents:
    """Objects of one bucket written and read as whole documents."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def write(self, key: str, body: bytes, content_type: str) -> str:
        """Put the object; its s3:// URI."""
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)
        return f"s3://{self._bucket}/{key}"

    def read_text(self, uri: str) -> str:
        bucket, key = split_uri(uri)
        return self._client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")

    def read_bytes_or_none(self, key: str) -> bytes | None:
        try:
            return self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise


class BaselineFeatures:
    """The features (name: kind) of a stored baseline (read without the science layer)."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def features(self, baseline_uri: str) -> dict[str, str]:
        bucket, key = split_uri(baseline_uri)
        body = self._client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return features_of(json.loads(body))


class BaselineStore:
    """Baselines (from any allowed bucket) and calibrations (in the monitoring bucket)."""

    def __init__(self, client: S3Client, documents: S3Documents) -> None:
        self._client = client
        self._documents = documents

    @functools.lru_cache(maxsize=_BASELINE_CACHE_SIZE)  # noqa: B019 - one store per execution environment
    def load(self, uri: str) -> Baseline:
        from cirrus_science.drift.baseline import Baseline

        bucket, key = split_uri(uri)
        return Baseline.from_json(self._client.get_object(Bucket=bucket, Key=key)["Body"].read())

    def calibration(self, fingerprint: str) -> Calibration | None:
        from cirrus_science.drift.calibration import Calibration

        body = self._documents.read_bytes_or_none(f"calibrations/{fingerprint}.json")
        return Calibration.from_dict(json.loads(body)) if body else None

    def save_calibration(self, calibration: Calibration) -> None:
        self._documents.write(
            f"calibrations/{calibration.baseline_fingerprint}.json",
            json.dumps(calibration.to_dict(), separators=(",", ":"), allow_nan=False).encode("utf-8"),
            "application/json",
        )


class RegistryAccess:
    """The registry's models and versions (read from its table), and linking a baseline (through the
    registry's own service, which checks, audits and writes the change)."""

    def __init__(self, repository: RegistryRepository, service: Callable[[], RegistryService]) -> None:
        self._repository = repository
        self._service = service

    def model(self, model_id: str) -> RegisteredModel | None:
        record = self._repository.get_model(model_id)
        return record.model if record is not None else None

    def version(self, model_id: str, version: int) -> ModelVersion | None:
        return self._repository.get_version(model_id, version)

    def link_baseline(self, model_id: str, version: int, baseline_uri: str, caller: Caller) -> None:
        self._service().link_baseline(model_id, version, baseline_uri, caller)


class RegistryBaselineLinks:
    """The baseline linked to a version, read straight from the registry's table (the version's
    stored document) without the registry's models: the drift step's cold start is measured."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def baseline_uri(self, model_id: str, version: int) -> str | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": model_pk(model_id)}, "sk": {"S": version_sk(version)}},
            ProjectionExpression="doc",
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        uri = json.loads(item["doc"]["S"]).get("baseline_uri")
        return uri if isinstance(uri, str) and uri else None


class DatasetBaselineBuilder:
    """Builds a baseline from a dataset object (CSV with a header, or JSON Lines) and stores it."""

    def __init__(
        self, client: S3Client, documents: S3Documents, allowed_buckets: frozenset[str], max_rows: int
    ) -> None:
        self._client = client
        self._documents = documents
        self._buckets = allowed_buckets
        self._max_rows = max_rows

    def build(self, request: CreateBaselineRequest, actor: str) -> BaselineView:
        from cirrus_science.drift.baseline import build_baseline

        bucket, key = check_s3_uri(
            request.dataset_uri, self._buckets, field="dataset_uri", error=InvalidBaselineSource
        )
        columns = self._read_columns(bucket, key, request)
        left_out = {*request.exclude_columns} | ({request.target_column} if request.target_column else set())
        missing = sorted(name for name in left_out if name not in columns)
        if missing:
            raise InvalidBaselineSource(
                f"The dataset has no column {', '.join(map(repr, missing))}.",
                [{"field": "target_column/exclude_columns", "missing": missing}],
            )
        features = {name: values for name, values in columns.items() if name not in left_out}
        unknown_types = sorted(set(request.feature_types) - set(features))
        if unknown_types:
            raise InvalidBaselineSource(
                f"feature_types names columns the dataset does not have: {', '.join(unknown_types[:5])}.",
                [{"field": "feature_types", "unknown": unknown_types[:50]}],
            )
        if not features:
            raise InvalidBaselineSource(
                "No feature column is left once the target and exclusions are removed."
            )
        created_at = datetime.now(UTC)
        try:
            baseline = build_baseline(
                features,
                kinds=dict(request.feature_types) or None,
                n_bins=request.n_bins,
                max_sample_size=request.max_sample_size,
                metadata={
                    "source_uri": request.dataset_uri,
                    "model_id": request.model_id,
                    "version": request.version,
                    "target_column": request.target_column,
                    "created_at": created_at.isoformat(),
                    "created_by": actor,
                },
            )
        except (ValueError, TypeError) as error:
            raise InvalidBaselineSource(f"The dataset cannot make a baseline: {error}") from error
        uri = self._documents.write(
            f"baselines/{request.model_id}/v{request.version}/{baseline.fingerprint[:16]}/baseline.json",
            baseline.to_json(),
            "application/json",
        )
        return BaselineView(
            model_id=request.model_id,
            version=request.version,
            baseline_uri=uri,
            fingerprint=baseline.fingerprint,
            row_count=baseline.row_count,
            features=[BaselineFeature(name=f.name, kind=f.kind) for f in baseline.features],
            source_uri=request.dataset_uri,
            created_at=created_at,
            created_by=actor,
        )

    def _read_columns(self, bucket: str, key: str, request: CreateBaselineRequest) -> dict[str, list[Any]]:
        try:
            body = self._client.get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            raise InvalidBaselineSource(
                f"The dataset {request.dataset_uri} cannot be read: {code}.",
                [{"field": "dataset_uri", "value": request.dataset_uri[:200]}],
            ) from error
        lines = codecs.getreader("utf-8")(body, "strict")
        try:
            if request.format is DatasetFormat.CSV:
                return _csv_columns(lines, self._max_rows)
            return _jsonl_columns(lines, self._max_rows)
        except (UnicodeDecodeError, ValueError, csv.Error) as error:
            raise InvalidBaselineSource(
                f"The dataset is not valid {request.format.value}: {error}",
                [{"field": "dataset_uri", "format": request.format.value}],
            ) from error


def _cell(text: str) -> Any:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _csv_columns(lines: Iterator[str] | Any, max_rows: int) -> dict[str, list[Any]]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header or len(set(header)) != len(header) or any(not name.strip() for name in header):
        raise ValueError("the first row must be a header of distinct, non-empty column names")
    columns: dict[str, list[Any]] = {name: [] for name in header}
    for count, row in enumerate(reader):
        if count >= max_rows:
            break
        if len(row) != len(header):
            raise ValueError(f"row {count + 2} has {len(row)} cells, the header {len(header)}")
        for name, text in zip(header, row, strict=True):
            columns[name].append(_cell(text))
    if not columns[header[0]]:
        raise ValueError("the dataset has a header but no rows")
    return columns


def _jsonl_columns(lines: Iterator[str] | Any, max_rows: int) -> dict[str, list[Any]]:
    records: list[dict[str, Any]] = []
    for line in lines:
        if not line.strip():
            continue
        if len(records) >= max_rows:
            break
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError(f"line {len(records) + 1} is not a JSON object")
        records.append(record)
    if not records:
        raise ValueError("the dataset has no records")
    names = list(dict.fromkeys(name for record in records for name in record))
    return {name: [record.get(name) for record in records] for name in names}


def features_of(document: Any) -> dict[str, str]:
    """The features (name: kind, in order) a baseline document lists (`features: [{"name", "kind"}]`)."""
    features: list[Any] = document.get("features", []) if isinstance(document, dict) else []
    return {
        str(feature["name"]): str(feature.get("kind", ""))
        for feature in features
        if isinstance(feature, dict) and "name" in feature
    }
