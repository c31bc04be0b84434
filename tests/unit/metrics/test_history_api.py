"""GET /monitoring/models/{model_id}/metrics and /drift: stored points over a range; refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cirrus_core.metrics.models import Outcome
from tests.support.api import ApiResponse, call
from tests.support.aws import TABLE_NAMES, AwsResources, load_sample
from tests.unit.metrics.support import AT, MODEL_ID, observation, record_metrics, records_of, sqs_event


@pytest.fixture
def registered(aws: AwsResources) -> None:
    body = json.loads(load_sample("api/register_model")["body"])
    assert call("register_model", body=body).status == 201


def history(query: dict[str, str], model_id: str = MODEL_ID) -> ApiResponse:
    return call("get_model_metrics", package="monitoring", query=query, path={"model_id": model_id})


def recorded(*observations: Any) -> None:
    assert record_metrics(sqs_event(*records_of(*observations))) == {"batchItemFailures": []}


def window(start: datetime, end: datetime, **query: str) -> dict[str, str]:
    return {"from": start.isoformat(), "to": end.isoformat(), **query}


@pytest.mark.usefixtures("registered")
def test_minute_points_are_the_buckets_with_data_oldest_first() -> None:
    recorded(observation(), observation(), observation(at=AT + timedelta(minutes=3)), observation(version=4))

    response = history(
        window(AT - timedelta(minutes=10), AT + timedelta(minutes=10), metric="invocations", resolution="1m")
    )

    assert response.status == 200, response.body
    assert response.body["points"] == [
        {"timestamp": "2024-06-01T12:34:00Z", "value": 3.0},
        {"timestamp": "2024-06-01T12:37:00Z", "value": 1.0},
    ]
    assert response.body["versions"]["v4"] == [{"timestamp": "2024-06-01T12:34:00Z", "value": 1.0}]


@pytest.mark.usefixtures("registered")
def test_hour_and_day_points_sum_their_minutes() -> None:
    recorded(
        observation(),
        observation(Outcome.REFUSED, at=AT + timedelta(minutes=20)),
        observation(at=AT + timedelta(hours=1)),
    )

    hours = history(
        window(AT - timedelta(hours=1), AT + timedelta(hours=3), metric="error_rate", resolution="1h")
    )
    days = history(
        window(AT - timedelta(days=2), AT + timedelta(days=1), metric="invocations", resolution="1d")
    )

    assert [(p["timestamp"], p["value"]) for p in hours.body["points"]] == [
        ("2024-06-01T12:00:00Z", 0.5),
        ("2024-06-01T13:00:00Z", 0.0),
    ]
    assert days.body["points"] == [{"timestamp": "2024-06-01T00:00:00Z", "value": 2.0}]


@pytest.mark.usefixtures("registered")
def test_points_outside_the_range_are_left_out() -> None:
    recorded(observation(at=AT - timedelta(hours=2)), observation())

    response = history(
        window(AT - timedelta(minutes=30), AT + timedelta(minutes=30), metric="invocations", resolution="1m")
    )

    assert [p["timestamp"] for p in response.body["points"]] == ["2024-06-01T12:34:00Z"]


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize(
    ("query", "code"),
    [
        (window(AT, AT + timedelta(hours=1), metric="throughput"), "unknown_metric"),
        (window(AT, AT + timedelta(hours=1), metric="accuracy", resolution="5m"), "invalid_resolution"),
        (window(AT, AT - timedelta(hours=1), metric="accuracy"), "invalid_time_range"),
        (window(AT, AT, metric="accuracy"), "invalid_time_range"),
        ({"from": "yesterday", "to": AT.isoformat(), "metric": "accuracy"}, "invalid_time_range"),
        ({"from": "2024-06-01T00:00:00", "to": AT.isoformat(), "metric": "accuracy"}, "invalid_time_range"),
        (
            window(AT - timedelta(days=1, minutes=1), AT, metric="accuracy", resolution="1m"),
            "time_range_too_long",
        ),
        (window(AT - timedelta(days=32), AT, metric="accuracy", resolution="1h"), "time_range_too_long"),
        (window(AT - timedelta(days=401), AT, metric="accuracy", resolution="1d"), "time_range_too_long"),
    ],
)
def test_bad_metrics_resolutions_and_ranges_are_refused(query: dict[str, str], code: str) -> None:
    response = history(query)

    assert response.status == 422
    assert response.error_code == code


def test_an_unregistered_model_is_not_found(aws: AwsResources) -> None:
    response = history(window(AT, AT + timedelta(hours=1), metric="invocations"), model_id="nobody")

    assert response.status == 404
    assert response.error_code == "model_not_found"


def put_run(aws: AwsResources, run_id: str, end: datetime, psi: float, environment: str = "prod") -> None:
    run = {
        "run_id": run_id,
        "model_id": MODEL_ID,
        "environment": environment,
        "version": 1,
        "status": "succeeded",
        "trigger": "api",
        "window_start": (end - timedelta(hours=1)).isoformat(),
        "window_end": end.isoformat(),
        "drift_share": 0.5,
        "dataset_drift": True,
        "started_at": end.isoformat(),
        "started_by": "alice",
    }
    features = [
        {
            "name": "amount",
            "kind": "numeric",
            "status": "checked",
            "drifted": psi > 0.2,
            "present_rows": 500,
            "methods": [
                {
                    "method": "psi",
                    "score": psi,
                    "threshold": 0.2,
                    "threshold_source": "model",
                    "drifted": psi > 0.2,
                }
            ],
            "quality": {},
        }
    ]
    aws.dynamodb.put_item(
        TableName=TABLE_NAMES["MonitoringTable"],
        Item={
            "pk": {"S": f"MODEL#{MODEL_ID}"},
            "sk": {"S": f"RUN#{run_id}"},
            "run": {"S": json.dumps(run)},
            "features": {"S": json.dumps(features)},
            "status": {"S": "succeeded"},
            "environment": {"S": environment},
        },
    )


@pytest.mark.usefixtures("registered")
def test_drift_history_lists_each_runs_feature_scores_in_the_range(aws: AwsResources) -> None:
    put_run(aws, "20240601T100000Z-aaaaaaaaaaaa", datetime(2024, 6, 1, 10, tzinfo=UTC), 0.05)
    put_run(aws, "20240601T110000Z-bbbbbbbbbbbb", datetime(2024, 6, 1, 11, tzinfo=UTC), 0.31)
    put_run(aws, "20240601T113000Z-cccccccccccc", datetime(2024, 6, 1, 11, 30, tzinfo=UTC), 0.9, "staging")
    put_run(aws, "20240520T100000Z-dddddddddddd", datetime(2024, 5, 20, 10, tzinfo=UTC), 0.4)

    response = call(
        "get_drift_history",
        package="monitoring",
        query={"from": "2024-06-01T00:00:00Z", "to": "2024-06-02T00:00:00Z", "environment": "prod"},
    )

    assert response.status == 200, response.body
    assert [run["run_id"] for run in response.body["runs"]] == [
        "20240601T100000Z-aaaaaaaaaaaa",
        "20240601T110000Z-bbbbbbbbbbbb",
    ]
    assert response.body["features"]["amount.psi"] == [
        {"timestamp": "2024-06-01T10:00:00Z", "value": 0.05},
        {"timestamp": "2024-06-01T11:00:00Z", "value": 0.31},
    ]
    assert response.body["runs"][1]["features"] == [
        {"feature": "amount", "drifted": True, "scores": {"psi": 0.31}}
    ]


@pytest.mark.usefixtures("registered")
def test_drift_history_refuses_an_inverted_range() -> None:
    response = call(
        "get_drift_history",
        package="monitoring",
        query={"from": "2024-06-02T00:00:00Z", "to": "2024-06-01T00:00:00Z"},
    )

    assert response.status == 422
    assert response.error_code == "invalid_time_range"
