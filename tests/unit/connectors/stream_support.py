"""Kinesis and Kafka event source mapping events for the stream consumers' tests.

The events follow the shapes of events/samples/streams/ (AWS's documented examples); each record
carries a payload given as bytes or as a JSON value.
"""

from __future__ import annotations

import base64
import copy
import importlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tests.support.api import LambdaContextStub

SAMPLES = Path(__file__).resolve().parents[3] / "events" / "samples" / "streams"
SOURCE = "clicks"
SCHEMA = [
    {"name": "user_id", "type": "string", "nullable": False},
    {"name": "page", "type": "string", "nullable": True},
    {"name": "duration_ms", "type": "int64", "nullable": True},
    {"name": "at", "type": "timestamp[us, tz=UTC]", "nullable": True},
]
ARRIVAL = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def sample(name: str) -> dict[str, Any]:
    return dict(json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8")))


def click(user: str = "u-1", duration: int = 1200) -> dict[str, Any]:
    return {"user_id": user, "page": "/home", "duration_ms": duration, "at": "2024-05-01T12:29:59.5Z"}


def _payload(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.b64encode(raw).decode()


def kinesis_event(*payloads: Any, arrivals: list[datetime] | None = None) -> dict[str, Any]:
    """A Kinesis event (one shard) whose records carry the payloads, in order."""
    template = sample("kinesis")["Records"][0]
    records = []
    for index, payload in enumerate(payloads):
        record = copy.deepcopy(template)
        sequence = f"4959033827149025660855969253836157109592157598913658{index:04d}"
        arrival = (arrivals or [ARRIVAL] * len(payloads))[index]
        record["kinesis"].update(
            sequenceNumber=sequence, data=_payload(payload), approximateArrivalTimestamp=arrival.timestamp()
        )
        record["eventID"] = f"shardId-000000000006:{sequence}"
        records.append(record)
    return {"Records": records}


def kafka_event(*payloads: Any, arrivals: list[datetime] | None = None) -> dict[str, Any]:
    """An MSK event (topic clicks, partition 0) whose records carry the payloads at offsets 100, 101 ..."""
    event = sample("kafka")
    template = event["records"]["clicks-0"][0]
    records = []
    for index, payload in enumerate(payloads):
        record = copy.deepcopy(template)
        arrival = (arrivals or [ARRIVAL] * len(payloads))[index]
        record.update(offset=100 + index, value=_payload(payload), timestamp=int(arrival.timestamp() * 1000))
        records.append(record)
    event["records"] = {"clicks-0": records} if records else {}
    return event


def consume(module: str, event: dict[str, Any]) -> dict[str, Any]:
    handler = importlib.import_module(f"functions.data.steps.{module}").lambda_handler
    return dict(handler(event, LambdaContextStub()))


def stream_objects(s3: Any, bucket: str) -> dict[str, pa.Table]:
    """Every object under streams/, read back as Arrow tables."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="streams/").get("Contents", [])
    return {
        item["Key"]: pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()))
        for item in listed
    }
