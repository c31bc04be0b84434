"""POST /monitoring/ground-truth: labels joined to predictions; accuracy and errors follow."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cirrus_core.audit.log import AuditLog
from cirrus_core.audit.models import AuditCategory, AuditRecord
from cirrus_core.metrics.models import Outcome
from cirrus_core.metrics.query import MetricName
from cirrus_core.metrics.store import MetricsStore
from tests.support.api import ApiResponse, call
from tests.support.authz import claims
from tests.support.aws import TABLE_NAMES, AwsResources
from tests.unit.metrics.conftest import metrics_items
from tests.unit.metrics.support import AT, MODEL_ID, observation, record_metrics, records_of, sqs_event


def ground_truth(records: list[dict[str, Any]], role: str = "ml_engineer") -> ApiResponse:
    return call("put_ground_truth", package="monitoring", body={"records": records}, claims=claims(role))


def predicted(*predictions: Any) -> list[str]:
    """Record answered predictions (one observation each); their inference ids."""
    batch = [observation(prediction=prediction) for prediction in predictions]
    assert record_metrics(sqs_event(*records_of(*batch))) == {"batchItemFailures": []}
    return [item.inference_id or "" for item in batch]


def audit_records(aws: AwsResources) -> list[AuditRecord]:
    """The ground truth audit records, newest first."""
    log = AuditLog(aws.dynamodb, TABLE_NAMES["AuditTable"])
    return list(log.query(action="put_ground_truth", limit=50).items)


def accuracy(store: MetricsStore, metric: MetricName = MetricName.ACCURACY) -> float | None:
    return store.window_value(MODEL_ID, "prod", metric, AT - timedelta(minutes=5), AT + timedelta(minutes=5))


def test_labels_joined_to_class_predictions_give_the_share_correct(store: MetricsStore) -> None:
    ids = predicted(1, 0, {"predictions": [1], "probabilities": [[0.3, 0.7]]}, [[0.9, 0.1]])

    response = ground_truth(
        [{"inference_id": i, "label": label} for i, label in zip(ids, [1, 1, "1", 0], strict=True)]
    )

    assert response.status == 200, response.body
    assert response.body == {"recorded": 4, "unchanged": 0, "rows_compared": 4, "rows_correct": 3}
    assert accuracy(store) == pytest.approx(0.75)
    assert accuracy(store, MetricName.GROUND_TRUTH_COUNT) == 4


def test_numeric_predictions_give_mae_and_rmse(store: MetricsStore) -> None:
    ids = predicted([6.0, 11.0], 3.5)

    response = ground_truth(
        [{"inference_id": ids[0], "label": [5.0, 12.0]}, {"inference_id": ids[1], "label": 1.5}]
    )

    assert response.status == 200, response.body
    assert accuracy(store, MetricName.MAE) == pytest.approx((1 + 1 + 2) / 3)
    assert accuracy(store, MetricName.RMSE) == pytest.approx(((1 + 1 + 4) / 3) ** 0.5)
    assert accuracy(store) == 0


def test_sending_the_same_label_again_changes_nothing(aws: AwsResources, store: MetricsStore) -> None:
    (inference_id,) = predicted(1)
    assert ground_truth([{"inference_id": inference_id, "label": 1}]).status == 200
    before = metrics_items(aws)

    response = ground_truth([{"inference_id": inference_id, "label": 1.0}])

    assert response.status == 200
    assert response.body["unchanged"] == 1
    assert sorted(map(str, metrics_items(aws))) == sorted(map(str, before))


def test_a_different_label_for_a_labelled_prediction_is_a_conflict_and_writes_nothing(
    aws: AwsResources,
) -> None:
    first, second = predicted(1, 0)
    assert ground_truth([{"inference_id": first, "label": 1}]).status == 200
    before = metrics_items(aws)

    response = ground_truth([{"inference_id": second, "label": 0}, {"inference_id": first, "label": 0}])

    assert response.status == 409
    assert response.error_code == "ground_truth_conflict"
    assert response.body["error"]["details"][0]["inference_id"] == first
    assert sorted(map(str, metrics_items(aws))) == sorted(map(str, before))


def test_unknown_inference_ids_are_refused_by_name_and_nothing_is_written(aws: AwsResources) -> None:
    (known,) = predicted(1)
    unknown = uuid.uuid4().hex
    before = metrics_items(aws)

    response = ground_truth([{"inference_id": known, "label": 1}, {"inference_id": unknown, "label": 1}])

    assert response.status == 422
    assert response.error_code == "unknown_inference_id"
    assert response.body["error"]["details"] == [{"inference_id": unknown}]
    assert sorted(map(str, metrics_items(aws))) == sorted(map(str, before))


def test_an_inference_id_of_a_failed_request_is_unknown_to_ground_truth(aws: AwsResources) -> None:
    failed = observation(Outcome.MODEL_ERROR)
    record_metrics(sqs_event(*records_of(failed)))

    response = ground_truth([{"inference_id": failed.inference_id, "label": 1}])

    assert response.error_code == "unknown_inference_id"


def test_a_label_that_does_not_fit_the_predictions_rows_is_refused(aws: AwsResources) -> None:
    (inference_id,) = predicted([1, 0, 1])
    before = metrics_items(aws)

    response = ground_truth([{"inference_id": inference_id, "label": [1, 0]}])

    assert response.status == 422
    assert response.error_code == "unjoinable_ground_truth"
    assert sorted(map(str, metrics_items(aws))) == sorted(map(str, before))


def test_a_caller_without_data_access_may_not_send_ground_truth(aws: AwsResources) -> None:
    (inference_id,) = predicted(1)
    before = metrics_items(aws)

    response = ground_truth([{"inference_id": inference_id, "label": 1}], role="model_reviewer")

    assert response.status == 403
    assert response.error_code == "access_denied"
    assert sorted(map(str, metrics_items(aws))) == sorted(map(str, before))


@pytest.mark.parametrize(
    "body",
    [
        {"records": []},
        {"records": [{"inference_id": "not-an-id", "label": 1}]},
        {"records": [{"inference_id": uuid.uuid4().hex}]},
        {"records": [{"inference_id": uuid.uuid4().hex, "label": {"a": 1}}]},
        {"records": [{"inference_id": uuid.uuid4().hex, "label": 1}] * 501},
    ],
)
def test_malformed_requests_are_refused(body: dict[str, Any], aws: AwsResources) -> None:
    response = call("put_ground_truth", package="monitoring", body=body)

    assert response.status == 422
    assert response.error_code == "validation_error"
    assert metrics_items(aws) == []


def test_labels_for_many_predictions_are_written_across_transactions(store: MetricsStore) -> None:
    ids = []
    for _ in range(2):
        ids += predicted(*([1] * 100))

    response = ground_truth([{"inference_id": i, "label": 1 if n % 4 else 0} for n, i in enumerate(ids)])

    assert response.status == 200, response.body
    assert accuracy(store) == pytest.approx(0.75)


def test_a_request_that_records_labels_is_audited_once(aws: AwsResources) -> None:
    first, second = predicted(1, 0)

    response = ground_truth([{"inference_id": first, "label": 1}, {"inference_id": second, "label": 1}])

    assert response.status == 200, response.body
    (record,) = audit_records(aws)
    assert (record.resource, record.category) == (f"model/{MODEL_ID}/ground-truth", AuditCategory.CHANGE)
    assert record.actor_sub == claims("ml_engineer")["sub"]
    assert record.after_hash


def test_labels_are_not_written_when_their_audit_record_cannot_be(
    aws: AwsResources, store: MetricsStore
) -> None:
    (inference_id,) = predicted(1)
    before = metrics_items(aws)
    aws.dynamodb.delete_table(TableName=TABLE_NAMES["AuditTable"])

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        ground_truth([{"inference_id": inference_id, "label": 1}])

    assert not store.predictions([inference_id])[inference_id].labeled
    assert sorted(map(str, metrics_items(aws))) == sorted(map(str, before))


def test_labels_that_lose_a_race_leave_no_audit_record(
    aws: AwsResources, store: MetricsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    (inference_id,) = predicted(1)
    unlabelled = store.predictions([inference_id])
    assert ground_truth([{"inference_id": inference_id, "label": 1}]).status == 200
    before = audit_records(aws)
    # This request read the prediction before the one above labelled it.
    monkeypatch.setattr(MetricsStore, "predictions", lambda self, ids: unlabelled)

    response = ground_truth([{"inference_id": inference_id, "label": 0}])

    assert response.error_code == "ground_truth_conflict"
    assert audit_records(aws) == before


def test_a_request_that_changes_nothing_writes_no_audit_record(aws: AwsResources) -> None:
    (inference_id,) = predicted(1)
    assert ground_truth([{"inference_id": inference_id, "label": 1}]).status == 200
    before = audit_records(aws)

    response = ground_truth([{"inference_id": inference_id, "label": 1}])

    assert response.body["unchanged"] == 1
    assert audit_records(aws) == before


def test_a_caller_denied_a_found_model_is_refused_before_unknown_ids_are_named(aws: AwsResources) -> None:
    (known,) = predicted(1)

    response = ground_truth(
        [{"inference_id": known, "label": 1}, {"inference_id": uuid.uuid4().hex, "label": 1}],
        role="model_reviewer",
    )

    assert response.status == 403
    assert response.error_code == "access_denied"
    assert MODEL_ID not in response.raw_body
