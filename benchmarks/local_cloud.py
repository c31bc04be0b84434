"""The local cloud: start-to-ready time, and GET /api/v1/models/{model_id} over HTTP.

Baselines, measured in the same run on the same machine:
- start-to-ready against a bare emulator start (moto's server with our hooks, nothing deployed),
  so the ratio says what deploying the template and creating users adds;
- GET latency against a DynamoDB GetItem of the same model item straight against the emulator,
  so the ratio says what the gateway, the authorizer and the Lambda round trip add.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.common import Figure, timed_ms

ROOT = Path(__file__).resolve().parents[1]
STARTS = 3
REQUESTS = 300
WARMUP = 30

_START_PROBE = """
import sys, time, tempfile
from pathlib import Path
started = time.perf_counter()
if sys.argv[1] == "emulator":
    from cirrus.localcloud.emulator import Emulator
    emulator = Emulator().start()
    print(time.perf_counter() - started)
    emulator.stop()
else:
    from cirrus.localcloud.cloud import LocalCloud
    cloud = LocalCloud(Path(sys.argv[2]), state_dir=Path(tempfile.mkdtemp()))
    cloud.start()
    print(time.perf_counter() - started)
    cloud.stop()
"""


def _start_seconds(kind: str) -> float:
    """Seconds from a fresh interpreter's first import to ready (each start in its own process)."""
    result = subprocess.run(  # noqa: S603  # nosec B603
        [sys.executable, "-c", _START_PROBE, kind, str(ROOT)], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def start_to_ready() -> list[Figure]:
    """Both starts, alternated so machine load affects them alike."""
    baseline: list[float] = []
    cloud: list[float] = []
    for _ in range(STARTS):
        baseline.append(_start_seconds("emulator"))
        cloud.append(_start_seconds("cloud"))
    base = Figure("emulator start, nothing deployed (baseline)", "s", baseline)
    return [base, Figure("local cloud start to ready", "s", cloud, base.name, base.median)]


def get_model_latency() -> list[Figure]:

    from cirrus.client import CirrusClient
    from cirrus.localcloud.cloud import LocalCloud

    cloud = LocalCloud(ROOT, state_dir=Path(tempfile.mkdtemp()))
    state = cloud.start()
    try:
        engineer = CirrusClient(state.api_url, cloud.token("ml_engineer"))
        engineer.register_model(
            {
                "model_name": "bench_model",
                "model_type": "xgboost",
                "framework_version": "1.7.6",
                "training_metadata": {"dataset_version": "d1", "metrics": {"auc": 0.9}},
                "artifact_location": f"s3://{state.artifact_bucket}/models/bench/model.tar.gz",
            }
        )
        session = requests.Session()
        headers = {"Authorization": f"Bearer {cloud.token('ml_engineer')}"}
        url = f"{state.api_url}/models/bench_model"

        def get() -> None:
            response = session.get(url, headers=headers, timeout=10)
            response.raise_for_status()

        dynamodb = cloud.emulator.client("dynamodb")
        table = next(
            name
            for name in dynamodb.list_tables()["TableNames"]
            if "RegistryTable" in name or "registry" in name.lower()
        )

        def get_item() -> None:
            dynamodb.get_item(TableName=table, Key={"pk": {"S": "MODEL#bench_model"}, "sk": {"S": "MODEL"}})

        timed_ms(get, WARMUP)
        timed_ms(get_item, WARMUP)
        api = timed_ms(get, REQUESTS)
        direct = timed_ms(get_item, REQUESTS)
    finally:
        cloud.stop()
    base = Figure("DynamoDB GetItem on the emulator (baseline)", "ms", direct)
    p50 = Figure("GET /api/v1/models/{model_id} p50", "ms", api, base.name, base.median)
    p95 = Figure(
        "GET /api/v1/models/{model_id} p95", "ms", [p50.percentile(95)], "baseline p95", base.percentile(95)
    )
    return [base, p50, p95]


def run() -> list[Figure]:
    """Every local-cloud figure, baselines first."""
    started = time.perf_counter()
    rows = [*start_to_ready(), *get_model_latency()]
    print(f"local cloud benchmarks took {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rows
