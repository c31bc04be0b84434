"""GET /monitoring/metrics (and /metrics/scrape): Prometheus text exposition 0.0.4 of the totals."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cirrus_core.metrics.models import Outcome
from cirrus_core.metrics.prometheus import render
from cirrus_core.metrics.store import MetricsStore, TotalItem
from tests.support.api import ApiResponse, call
from tests.support.authz import claims
from tests.support.aws import AwsResources
from tests.unit.metrics.support import AT, MODEL_ID, observation, record_metrics, records_of, sqs_event

LABELS = {"model": MODEL_ID, "version": "3", "environment": "prod"}


def scrape(**parts: Any) -> ApiResponse:
    return call("get_prometheus_metrics", package="monitoring", **parts)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, tuple(sorted({**LABELS, **labels}.items())))


@pytest.fixture
def traffic(store: MetricsStore) -> None:
    answered = [observation(latency_ms=latency, prediction=1) for latency in (3.0, 30.0, 300.0)]
    record_metrics(
        sqs_event(*records_of(*answered, observation(Outcome.REFUSED), observation(Outcome.MODEL_ERROR)))
    )
    store.record_gauges(MODEL_ID, "prod", 3, AT, {"cpu": 37.5, "mem": 12.25})
    response = call(
        "put_ground_truth",
        package="monitoring",
        body={
            "records": [
                {"inference_id": a.inference_id, "label": label}
                for a, label in zip(answered, [1, 1, 0], strict=True)
            ]
        },
    )
    assert response.status == 200, response.body


@pytest.mark.usefixtures("traffic")
def test_the_scrape_parses_and_has_every_series() -> None:
    response = scrape()

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = samples(response.raw_body)
    assert found[key("cirrus_model_invocations_total")] == 3
    assert found[key("cirrus_model_errors_total", kind="model")] == 1
    assert found[key("cirrus_model_errors_total", kind="5xx")] == 0
    assert found[key("cirrus_model_errors_total", kind="4xx", version="none")] == 1
    assert found[key("cirrus_model_latency_seconds_count")] == 3
    assert found[key("cirrus_model_latency_seconds_sum")] == pytest.approx(0.333)
    assert found[key("cirrus_model_latency_seconds_bucket", le="0.004")] == 1
    assert found[key("cirrus_model_latency_seconds_bucket", le="0.032")] == 2
    assert found[key("cirrus_model_latency_seconds_bucket", le="+Inf")] == 3
    assert found[key("cirrus_model_accuracy")] == pytest.approx(2 / 3)
    assert found[key("cirrus_model_ground_truth_total")] == 3
    assert found[key("cirrus_endpoint_cpu_utilization_percent")] == 37.5
    assert found[key("cirrus_endpoint_memory_utilization_percent")] == 12.25


@pytest.mark.usefixtures("traffic")
def test_the_families_have_help_and_type_lines() -> None:
    families = {family.name: family.type for family in text_string_to_metric_families(scrape().raw_body)}

    assert families["cirrus_model_invocations"] == "counter"
    assert families["cirrus_model_latency_seconds"] == "histogram"
    assert families["cirrus_model_accuracy"] == "gauge"
    assert "# HELP cirrus_model_errors_total " in scrape().raw_body


def test_label_values_are_escaped() -> None:
    text = render([TotalItem('we"ird\\model\n', "prod", "v1", {"inv": 2})])

    family = next(f for f in text_string_to_metric_families(text) if f.name == "cirrus_model_invocations")
    assert family.samples[0].labels["model"] == 'we"ird\\model\n'


@pytest.mark.usefixtures("traffic")
def test_every_role_may_scrape_and_anonymous_callers_may_not() -> None:
    assert scrape(claims=claims("model_reviewer")).status == 200
    assert scrape(claims=None).status == 401


@pytest.fixture
def scrape_token(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> str:
    token = uuid.uuid4().hex
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="cirrus/test/metrics/scrape-token", SecretString=token)["ARN"]
    monkeypatch.setenv("SCRAPE_TOKEN_SECRET_ARN", arn)
    from cirrus_core.metrics import wiring
    from cirrus_core.metrics.settings import get_metrics_settings

    get_metrics_settings.cache_clear()
    wiring.scrape_tokens.cache_clear()
    return token


@pytest.mark.usefixtures("traffic")
def test_the_scrape_route_answers_a_bearer_of_the_scrape_token(scrape_token: str) -> None:
    response = call(
        "scrape_prometheus_metrics", package="monitoring", headers={"Authorization": f"Bearer {scrape_token}"}
    )

    assert response.status == 200
    assert samples(response.raw_body)[key("cirrus_model_invocations_total")] == 3


@pytest.mark.parametrize("header", ["Bearer wrong", "", "Basic Zm9vOmJhcg=="])
def test_the_scrape_route_refuses_any_other_authorization(scrape_token: str, header: str) -> None:
    response = call("scrape_prometheus_metrics", package="monitoring", headers={"Authorization": header})

    assert response.status == 401
    assert response.error_code == "invalid_scrape_token"


def test_the_scrape_route_refuses_everyone_when_no_token_is_configured(aws: AwsResources) -> None:
    response = call("scrape_prometheus_metrics", package="monitoring", headers={"Authorization": "Bearer "})

    assert response.status == 401
