"""RecordMetricsFunction: a batch of observations aggregated into the metrics table exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from cirrus_core.metrics.models import Outcome, Resolution
from cirrus_core.metrics.query import MetricName
from cirrus_core.metrics.store import MetricsStore
from tests.support.aws import AwsResources
from tests.unit.metrics.conftest import metrics_items
from tests.unit.metrics.support import (
    AT,
    MODEL_ID,
    observation,
    record_metrics,
    records_of,
    sqs_event,
    sqs_record,
)


def value(
    store: MetricsStore,
    metric: MetricName,
    start: datetime = AT - timedelta(minutes=1),
    end: datetime = AT + timedelta(minutes=1),
) -> float | None:
    return store.window_value(MODEL_ID, "prod", metric, start, end)


def test_a_batch_adds_its_requests_to_the_counters(store: MetricsStore) -> None:
    batch = [
        observation(latency_ms=10.0),
        observation(latency_ms=30.0),
        observation(Outcome.REFUSED),
        observation(Outcome.FAILED),
        observation(Outcome.MODEL_ERROR),
    ]

    response = record_metrics(sqs_event(*records_of(*batch)))

    assert response == {"batchItemFailures": []}
    assert value(store, MetricName.INVOCATIONS) == 2
    assert value(store, MetricName.ERRORS_4XX) == 1
    assert value(store, MetricName.ERRORS_5XX) == 1
    assert value(store, MetricName.MODEL_ERRORS) == 1
    assert value(store, MetricName.ERROR_RATE) == pytest.approx(3 / 5)
    assert value(store, MetricName.MODEL_ERROR_RATE) == pytest.approx(1 / 3)
    assert value(store, MetricName.LATENCY_AVG_MS) == pytest.approx(20.0)


def test_latency_percentiles_of_stored_batches_match_numpys_within_a_bucket(store: MetricsStore) -> None:
    latencies = np.random.default_rng(3).gamma(shape=2.0, scale=25.0, size=300)
    for start in range(0, 300, 100):
        batch = [observation(latency_ms=float(latency)) for latency in latencies[start : start + 100]]
        assert record_metrics(sqs_event(*records_of(*batch))) == {"batchItemFailures": []}

    for metric, quantile in (
        (MetricName.LATENCY_P50_MS, 50),
        (MetricName.LATENCY_P95_MS, 95),
        (MetricName.LATENCY_P99_MS, 99),
    ):
        exact = float(np.percentile(latencies, quantile))
        assert value(store, metric) == pytest.approx(exact, rel=0.19)
    assert value(store, MetricName.LATENCY_AVG_MS) == pytest.approx(float(latencies.mean()))


def test_a_redelivered_batch_changes_nothing(aws: AwsResources, store: MetricsStore) -> None:
    records = records_of(observation(), observation(Outcome.REFUSED), observation(Outcome.MODEL_ERROR))
    record_metrics(sqs_event(*records))
    before = metrics_items(aws)

    response = record_metrics(sqs_event(*records))

    assert response == {"batchItemFailures": []}
    assert sorted(map(str, metrics_items(aws))) == sorted(map(str, before))
    assert value(store, MetricName.INVOCATIONS) == 1


def test_a_batch_mixing_new_and_redelivered_messages_adds_only_the_new_ones(store: MetricsStore) -> None:
    first = records_of(observation(), observation())
    record_metrics(sqs_event(*first))

    record_metrics(sqs_event(*first, *records_of(observation())))

    assert value(store, MetricName.INVOCATIONS) == 3


def test_a_refusal_is_keyed_by_its_message_id(store: MetricsStore) -> None:
    refusal = observation(Outcome.REFUSED).model_dump_json()
    record_metrics(sqs_event(sqs_record(refusal, "m-1")))
    record_metrics(sqs_event(sqs_record(refusal, "m-1"), sqs_record(refusal, "m-2")))

    assert value(store, MetricName.ERRORS_4XX) == 2


def test_a_malformed_message_is_reported_failed_and_the_rest_recorded(store: MetricsStore) -> None:
    response = record_metrics(sqs_event(sqs_record("{not json", "bad-1"), *records_of(observation())))

    assert response == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
    assert value(store, MetricName.INVOCATIONS) == 1


def test_a_full_batch_of_a_hundred_is_split_into_transactions_and_recorded(store: MetricsStore) -> None:
    batch = [observation(at=AT + timedelta(minutes=index % 7)) for index in range(100)]

    assert record_metrics(sqs_event(*records_of(*batch))) == {"batchItemFailures": []}

    assert value(store, MetricName.INVOCATIONS, AT - timedelta(minutes=1), AT + timedelta(minutes=10)) == 100


def test_each_observation_lands_in_its_minute_hour_and_day_buckets(store: MetricsStore) -> None:
    record_metrics(sqs_event(*records_of(observation(), observation(at=AT + timedelta(hours=2)))))

    minutes = store.series(
        MODEL_ID, "prod", Resolution.MINUTE, AT - timedelta(hours=1), AT + timedelta(hours=3)
    )
    hours = store.series(MODEL_ID, "prod", Resolution.HOUR, AT - timedelta(hours=1), AT + timedelta(hours=3))
    days = store.series(MODEL_ID, "prod", Resolution.DAY, AT - timedelta(days=1), AT + timedelta(days=1))

    assert [item.start for item in minutes] == [
        datetime(2024, 6, 1, 12, 34, tzinfo=UTC),
        datetime(2024, 6, 1, 14, 34, tzinfo=UTC),
    ]
    assert [item.start for item in hours] == [
        datetime(2024, 6, 1, 12, tzinfo=UTC),
        datetime(2024, 6, 1, 14, tzinfo=UTC),
    ]
    assert [(item.start, item.counters["inv"]) for item in days] == [(datetime(2024, 6, 1, tzinfo=UTC), 2)]


def test_an_observation_in_another_zone_lands_in_its_utc_buckets(store: MetricsStore) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    # 2024-06-02 03:04:56 in India is 2024-06-01 21:34:56 UTC.
    record_metrics(sqs_event(*records_of(observation(at=datetime(2024, 6, 2, 3, 4, 56, tzinfo=india)))))
    start, end = datetime(2024, 5, 31, tzinfo=UTC), datetime(2024, 6, 3, tzinfo=UTC)

    hours = store.series(MODEL_ID, "prod", Resolution.HOUR, start, end)
    days = store.series(MODEL_ID, "prod", Resolution.DAY, start, end)

    assert [item.start for item in hours] == [datetime(2024, 6, 1, 21, tzinfo=UTC)]
    assert [item.start for item in days] == [datetime(2024, 6, 1, tzinfo=UTC)]


def test_refusals_of_unknown_model_ids_are_recorded_under_one_model(store: MetricsStore) -> None:
    refusals = [observation(Outcome.REFUSED, model_id="_unknown") for _ in range(2)]

    assert record_metrics(sqs_event(*records_of(*refusals))) == {"batchItemFailures": []}

    assert [(t.model_id, t.counters["e4xx"]) for t in store.totals()] == [("_unknown", 2)]


def test_the_answered_prediction_is_kept_for_ground_truth_with_an_expiry(
    aws: AwsResources, store: MetricsStore
) -> None:
    answered = observation(prediction={"predictions": [1]})
    record_metrics(sqs_event(*records_of(answered)))

    (stored,) = store.predictions([answered.inference_id or ""]).values()
    item: dict[str, Any] = next(
        i for i in metrics_items(aws) if i["pk"]["S"] == f"PRED#{answered.inference_id}"
    )

    assert stored.prediction == {"predictions": [1]}
    assert (stored.model_id, stored.version) == (MODEL_ID, 3)
    assert int(item["expires_at"]["N"]) == int((AT + timedelta(days=30)).timestamp())


def test_totals_list_every_model_environment_and_version(store: MetricsStore) -> None:
    record_metrics(
        sqs_event(
            *records_of(
                observation(),
                observation(version=4),
                observation(Outcome.REFUSED),
                observation(model_id="churn"),
            )
        )
    )

    totals = [
        (
            total.model_id,
            total.environment,
            total.version,
            total.counters.get("inv", 0) + total.counters.get("e4xx", 0),
        )
        for total in store.totals()
    ]

    assert totals == [
        ("churn", "prod", "v3", 1),
        (MODEL_ID, "prod", "none", 1),
        (MODEL_ID, "prod", "v3", 1),
        (MODEL_ID, "prod", "v4", 1),
    ]
