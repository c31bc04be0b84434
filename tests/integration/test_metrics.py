"""Per-model metrics on the local cloud: real predictions through a served model, observations through
the metrics queue and its event source, ground truth joined to them, the history API at each
resolution, the Prometheus scrape, and the endpoint's CPU and memory through CloudWatch."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from cirrus.client import CirrusApiError, CirrusClient
from tests.support.endpoints import ServedModel, serve_model, wait_for

if TYPE_CHECKING:
    from cirrus.localcloud.cloud import LocalCloud

INPUTS = [[1.0, 2.0], [2.0, 1.0], [0.0, 0.0], [3.0, 3.0], [4.0, 1.0], [1.0, 4.0]]
WRONG = {4, 5}  # the labels of these requests are off by 2; the others equal the prediction


class Api:
    """Raw calls to the metrics routes (the SDK's methods for them are the lead's)."""

    def __init__(self, local_cloud: LocalCloud, role: str) -> None:
        self._base = local_cloud.state.api_url.rstrip("/").removesuffix("/api/v1") + "/api/v1"
        self._headers = {"Authorization": f"Bearer {local_cloud.token(role)}"}

    def get(self, path: str, **params: str) -> requests.Response:
        return requests.get(f"{self._base}{path}", params=params, headers=self._headers, timeout=30)

    def post(self, path: str, body: Any) -> requests.Response:
        return requests.post(f"{self._base}{path}", json=body, headers=self._headers, timeout=30)


@pytest.fixture(scope="module")
def started() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=1)


@pytest.fixture(scope="module")
def served(local_cloud: LocalCloud, clients: dict[str, CirrusClient], started: datetime) -> ServedModel:
    return serve_model(local_cloud, clients, f"it_metrics_{uuid.uuid4().hex[:10]}")


@pytest.fixture(scope="module")
def predictions(served: ServedModel, clients: dict[str, CirrusClient]) -> list[tuple[str, float]]:
    """(inference id, predicted value) of each request, and one refused request (staging)."""
    answers = []
    for row in INPUTS:
        answer = clients["data_scientist"].predict(served.model_id, [row])
        answers.append((answer.inference_id, float(answer.predictions[0])))
    with pytest.raises(CirrusApiError):
        clients["data_scientist"].predict(served.model_id, [INPUTS[0]], environment="staging")
    return answers


def metric(api: Api, model_id: str, name: str, resolution: str, start: datetime) -> list[dict[str, Any]]:
    end = datetime.now(UTC) + timedelta(minutes=1)
    response = api.get(
        f"/monitoring/models/{model_id}/metrics",
        metric=name,
        resolution=resolution,
        **{"from": start.isoformat(), "to": end.isoformat()},
    )
    assert response.status_code == 200, response.text
    return list(response.json()["points"])


def total(points: list[dict[str, Any]]) -> float:
    return float(sum(point["value"] for point in points))


@pytest.fixture(scope="module")
def recorded(
    local_cloud: LocalCloud, served: ServedModel, predictions: list[tuple[str, float]], started: datetime
) -> Api:
    """The observations aggregated by RecordMetricsFunction (the queue's event source runs it)."""
    api = Api(local_cloud, "model_reviewer")
    wait_for(
        lambda: total(metric(api, served.model_id, "invocations", "1m", started)), lambda n: n == len(INPUTS)
    )
    return api


@pytest.fixture(scope="module")
def labelled(local_cloud: LocalCloud, recorded: Api, predictions: list[tuple[str, float]]) -> dict[str, Any]:
    records = [
        {"inference_id": inference_id, "label": value + 2 if index in WRONG else value}
        for index, (inference_id, value) in enumerate(predictions)
    ]
    response = Api(local_cloud, "data_scientist").post("/monitoring/ground-truth", {"records": records})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("resolution", ["1m", "1h", "1d"])
def test_every_answered_request_is_counted_at_each_resolution(
    recorded: Api, served: ServedModel, started: datetime, resolution: str
) -> None:
    assert total(metric(recorded, served.model_id, "invocations", resolution, started)) == len(INPUTS)
    assert total(metric(recorded, served.model_id, "errors_4xx", resolution, started)) == 0


def test_latency_percentiles_are_read_from_the_recorded_requests(
    recorded: Api, served: ServedModel, started: datetime
) -> None:
    (p99,) = metric(recorded, served.model_id, "latency_p99_ms", "1d", started)
    (average,) = metric(recorded, served.model_id, "latency_avg_ms", "1d", started)

    assert p99["value"] > 0
    assert average["value"] > 0


def test_ground_truth_yields_the_share_of_correct_predictions(
    labelled: dict[str, Any], recorded: Api, served: ServedModel, started: datetime
) -> None:
    assert labelled == {"recorded": 6, "unchanged": 0, "rows_compared": 6, "rows_correct": 4}
    for resolution in ("1m", "1h", "1d"):
        (point,) = metric(recorded, served.model_id, "accuracy", resolution, started)[-1:]
        assert point["value"] == pytest.approx(4 / 6)
    (mae,) = metric(recorded, served.model_id, "mae", "1d", started)
    assert mae["value"] == pytest.approx(2 * 2 / 6)


def test_the_prometheus_scrape_parses_and_has_the_models_series(
    labelled: dict[str, Any], recorded: Api, served: ServedModel
) -> None:
    response = recorded.get("/monitoring/metrics")

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    labels = {"model": served.model_id, "version": str(served.version), "environment": "prod"}
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if all(sample.labels.get(name) == value for name, value in labels.items())
        and sample.labels.get("le") in (None, "+Inf")
        and sample.labels.get("kind") in (None, "model")
    }
    assert samples["cirrus_model_invocations_total"] == len(INPUTS)
    assert samples["cirrus_model_errors_total"] == 0
    assert samples["cirrus_model_latency_seconds_count"] == len(INPUTS)
    assert samples["cirrus_model_latency_seconds_bucket"] == len(INPUTS)
    assert samples["cirrus_model_accuracy"] == pytest.approx(4 / 6)
    assert samples["cirrus_model_ground_truth_total"] == len(INPUTS)


def test_a_scraper_with_the_scrape_token_gets_the_same_series_without_signing_in(
    local_cloud: LocalCloud, labelled: dict[str, Any], served: ServedModel
) -> None:
    secret = local_cloud.deployment.physical_id("MetricsScrapeTokenSecret")
    token = local_cloud.emulator.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"]
    url = local_cloud.state.api_url.rstrip("/").removesuffix("/api/v1") + "/api/v1/monitoring/metrics/scrape"

    scraped = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    refused = requests.get(url, headers={"Authorization": "Bearer not-the-token"}, timeout=30)

    assert scraped.status_code == 200, scraped.text
    names = {family.name for family in text_string_to_metric_families(scraped.text)}
    assert {"cirrus_model_invocations", "cirrus_model_latency_seconds", "cirrus_model_accuracy"} <= names
    assert served.model_id in scraped.text
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_scrape_token"


def test_the_endpoints_cpu_and_memory_reach_the_history_through_cloudwatch(
    local_cloud: LocalCloud, recorded: Api, served: ServedModel, started: datetime
) -> None:
    function = local_cloud.deployment.physical_id("CollectEndpointMetricsFunction")
    answer = local_cloud.emulator.client("lambda").invoke(FunctionName=function, Payload=b"{}")
    assert "FunctionError" not in answer, answer["Payload"].read()

    cpu = metric(recorded, served.model_id, "cpu_utilization", "1m", started)
    memory = metric(recorded, served.model_id, "memory_utilization", "1m", started)

    assert cpu
    assert cpu[-1]["value"] >= 0
    assert memory
    assert 0 < memory[-1]["value"] <= 100


def test_ground_truth_for_an_unknown_inference_id_is_refused(local_cloud: LocalCloud) -> None:
    unknown = uuid.uuid4().hex
    response = Api(local_cloud, "data_scientist").post(
        "/monitoring/ground-truth", {"records": [{"inference_id": unknown, "label": 1}]}
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_inference_id"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"metric": "accuracy", "resolution": "5m"}, "invalid_resolution"),
        (
            {"metric": "accuracy", "from": "2024-06-02T00:00:00Z", "to": "2024-06-01T00:00:00Z"},
            "invalid_time_range",
        ),
        (
            {
                "metric": "accuracy",
                "resolution": "1m",
                "from": "2024-06-01T00:00:00Z",
                "to": "2024-06-03T00:00:00Z",
            },
            "time_range_too_long",
        ),
        ({"metric": "speed"}, "unknown_metric"),
    ],
)
def test_bad_ranges_resolutions_and_metrics_are_refused(
    recorded: Api, served: ServedModel, params: dict[str, str], code: str
) -> None:
    response = recorded.get(f"/monitoring/models/{served.model_id}/metrics", **params)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
