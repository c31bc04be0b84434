"""Authorization over HTTP on the local cloud: real tokens, the deployed functions, the Cedar policies.

Every route is tried by every role: a cell the policies allow may still be refused for a domain
reason (a 404 or 409), so it asserts only "not 403"; a denied cell asserts 403 access_denied.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from cirrus.client import CirrusClient
from cirrus.localcloud import cognito
from cirrus.localcloud.cloud import LocalCloud, LocalCloudState
from tests.contract.template_routes import template_routes
from tests.contract.test_template import SCOPED_ROUTES, UNAUTHENTICATED_ROUTES
from tests.integration.conftest import ROLES
from tests.support.authz import ADMINS, DATA_USERS, DEPLOYERS, EVERYONE, REGISTRANTS, REVIEWERS, RUNNERS
from tests.support.endpoints import serve_model, wait_for

TIMEOUT = 30
INVALID_POLICY = 'permit (principal, action == Cirrus::Action::"FlyToTheMoon", resource);'
REVIEWERS_RETIRE = (
    'permit (principal in Cirrus::Role::"model_reviewer", action == Cirrus::Action::"RetireModel", resource);'
)


@dataclass(frozen=True)
class Cell:
    """One route with a request that reaches its authorization, and the roles the policies allow."""

    method: str
    path: str
    allowed: frozenset[str]
    body: Any = None
    params: dict[str, str] | None = None


def registration(model_id: str, bucket: str) -> dict[str, Any]:
    return {
        "model_name": model_id,
        "model_type": "sklearn",
        "framework_version": "1.5.2",
        "training_metadata": {"dataset_version": "ds-1", "hyperparameters": {}, "metrics": {}},
        "artifact_location": f"s3://{bucket}/models/{model_id}/model.tar.gz",
    }


def send(
    state: LocalCloudState,
    token: str | None,
    method: str,
    path: str,
    body: Any = None,
    params: dict[str, str] | None = None,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(
        method, f"{state.api_url}{path}", json=body, params=params, headers=headers, timeout=TIMEOUT
    )


def tokens(local_cloud: LocalCloud) -> dict[str, str]:
    return {role: local_cloud.token(role) for role in ROLES}


@pytest.fixture(scope="module")
def role_tokens(local_cloud: LocalCloud) -> dict[str, str]:
    return tokens(local_cloud)


@pytest.fixture(scope="module")
def served_prediction(local_cloud: LocalCloud, clients: dict[str, CirrusClient]) -> tuple[str, str]:
    """A model served on prod and the inference id of one prediction, once its record is stored."""
    served = serve_model(local_cloud, clients, f"authz_served_{secrets.token_hex(5)}")
    inference_id = clients["data_scientist"].predict(served.model_id, [[1.0, 2.0]]).inference_id
    since = datetime.now(UTC) - timedelta(minutes=2)
    wait_for(
        lambda: clients["admin"].model_metrics(
            served.model_id,
            "invocations",
            start=since,
            end=datetime.now(UTC) + timedelta(minutes=1),
            resolution="1m",
        ),
        lambda history: bool(history.points),
    )
    return served.model_id, inference_id


@pytest.fixture(scope="module")
def matrix(
    clients: dict[str, CirrusClient], state: LocalCloudState, served_prediction: tuple[str, str]
) -> dict[str, Cell]:
    """The routes, on a model an ml_engineer registered (three pending versions)."""
    model_id = f"authz_{secrets.token_hex(6)}"
    for _ in range(3):
        clients["ml_engineer"].register_model(registration(model_id, state.artifact_bucket))
    # Rules on that model: one that the admin's PUT and test reach, one that the admin's DELETE removes
    # (the roles run in ROLES order for each route, admin last, so the others meet it first).
    kept = clients["admin"].create_alert(model_id, "drift_detection", 0.5).alert_id
    doomed = clients["admin"].create_alert(model_id, "drift_detection", 0.5).alert_id
    served_model, inference_id = served_prediction
    refused_webhook = {
        "url": "https://169.254.169.254/latest/meta-data",
        "signing_secret": "whsec_" + base64.b64encode(b"m" * 32).decode(),
    }
    model = f"/models/{model_id}"
    evaluate = {
        "principal": {"sub": "someone", "username": "someone", "groups": ["ml_engineer"]},
        "action": "GetModel",
        "resource": {"type": "Model", "id": model_id},
    }
    return {
        "POST /api/v1/models/register": Cell(
            "POST", "/models/register", REGISTRANTS, registration(model_id, state.artifact_bucket)
        ),
        "GET /api/v1/models": Cell("GET", "/models", EVERYONE),
        "GET /api/v1/models/{model_id}": Cell("GET", model, EVERYONE),
        "GET /api/v1/models/{model_id}/versions": Cell("GET", f"{model}/versions", EVERYONE),
        "GET /api/v1/models/{model_id}/versions/{version}": Cell("GET", f"{model}/versions/1", EVERYONE),
        "GET /api/v1/models/{model_id}/lineage": Cell("GET", f"{model}/lineage", EVERYONE),
        "POST /api/v1/models/{model_id}/versions/{version}/review-requests": Cell(
            "POST", f"{model}/versions/1/review-requests", REGISTRANTS, {"comment": "please"}
        ),
        "POST /api/v1/models/{model_id}/versions/{version}/approve": Cell(
            "POST", f"{model}/versions/1/approve", REVIEWERS, {"comment": "ok"}
        ),
        "POST /api/v1/models/{model_id}/versions/{version}/reject": Cell(
            "POST", f"{model}/versions/2/reject", REVIEWERS, {"comment": "no"}
        ),
        "PUT /api/v1/models/{model_id}/promote": Cell(
            "PUT", f"{model}/promote", DEPLOYERS, {"version": 1, "environment": "staging"}
        ),
        "PUT /api/v1/models/{model_id}/promote (dev)": Cell(
            "PUT", f"{model}/promote", REGISTRANTS, {"version": 1, "environment": "dev"}
        ),
        "POST /api/v1/models/{model_id}/rollback": Cell(
            "POST", f"{model}/rollback", DEPLOYERS, {"environment": "staging"}
        ),
        "GET /api/v1/models/{model_id}/promotions": Cell(
            "GET", f"{model}/promotions", EVERYONE, params={"environment": "staging"}
        ),
        "DELETE /api/v1/models/{model_id}/retire": Cell(
            "DELETE", f"{model}/retire", DEPLOYERS, params={"version": "3"}
        ),
        # An invalid statement and an unknown id: the admin's requests are refused (422, 404) after
        # authorization, so the matrix changes no policy.
        # serving: inference and batch jobs (nothing is deployed: allowed roles get 404 or 422)
        "POST /api/v1/models/{model_id}/predict": Cell(
            "POST", f"{model}/predict", DATA_USERS, [[1.0, 2.0]], {"environment": "prod"}
        ),
        "POST /api/v1/models/{model_id}/batch-jobs": Cell(
            "POST",
            f"{model}/batch-jobs",
            DATA_USERS,
            {
                "version": 1,
                "input_uri": "s3://not-an-allowed-bucket/in/",
                "output_uri": "s3://not-an-allowed-bucket/o/",
            },
        ),
        "GET /api/v1/models/{model_id}/batch-jobs": Cell("GET", f"{model}/batch-jobs", EVERYONE),
        "GET /api/v1/models/{model_id}/batch-jobs/{job_id}": Cell(
            "GET", f"{model}/batch-jobs/{'0' * 32}", EVERYONE
        ),
        # serving: deployments and edge packages of a pending version (allowed roles get 409), unknown
        # deployments, environments and packages (404): nothing is deployed or built.
        "POST /api/v1/models/{model_id}/deployments": Cell(
            "POST", f"{model}/deployments", DEPLOYERS, {"version": 1, "environment": "staging"}
        ),
        "GET /api/v1/models/{model_id}/deployments": Cell("GET", f"{model}/deployments", EVERYONE),
        "GET /api/v1/models/{model_id}/deployments/{deployment}": Cell(
            "GET", f"{model}/deployments/{'0' * 32}", EVERYONE
        ),
        "DELETE /api/v1/models/{model_id}/deployments/{deployment}": Cell(
            "DELETE", f"{model}/deployments/prod", DEPLOYERS
        ),
        "POST /api/v1/models/{model_id}/edge-packages": Cell(
            "POST",
            f"{model}/edge-packages",
            DEPLOYERS,
            {
                "version": 1,
                "target_device": "jetson_nano",
                "framework": "XGBOOST",
                "data_input_config": '{"x": [1, 4]}',
            },
        ),
        "GET /api/v1/models/{model_id}/edge-packages": Cell("GET", f"{model}/edge-packages", EVERYONE),
        "GET /api/v1/models/{model_id}/edge-packages/{package_id}": Cell(
            "GET", f"{model}/edge-packages/{'0' * 32}", EVERYONE
        ),
        "GET /api/v1/models/{model_id}/edge-packages/{package_id}/verification": Cell(
            "GET", f"{model}/edge-packages/{'0' * 32}/verification", EVERYONE
        ),
        # monitoring: no version has a baseline and nothing is deployed, so allowed roles are refused
        # after authorization (409, 422, 404) and nothing is stored, scheduled or started.
        "GET /api/v1/monitoring/models/{model_id}/drift-config": Cell(
            "GET", f"/monitoring{model}/drift-config", EVERYONE
        ),
        "PUT /api/v1/monitoring/models/{model_id}/drift-config": Cell(
            "PUT", f"/monitoring{model}/drift-config", ADMINS, {"feature_thresholds": {"x": {"psi": 0.1}}}
        ),
        "POST /api/v1/monitoring/baselines": Cell(
            "POST",
            "/monitoring/baselines",
            DATA_USERS,
            {"model_id": model_id, "version": 1, "dataset_uri": "s3://not-an-allowed-bucket/train.csv"},
        ),
        "POST /api/v1/monitoring/alerts": Cell(
            "POST",
            "/monitoring/alerts",
            ADMINS,
            {
                "model_id": model_id,
                "alert_type": "system_failures",
                "notification_channels": ["no-such-channel"],
            },
        ),
        "POST /api/v1/monitoring/models/{model_id}/drift-runs": Cell(
            "POST", f"/monitoring{model}/drift-runs", DATA_USERS, {"environment": "staging", "window": "1h"}
        ),
        "GET /api/v1/monitoring/models/{model_id}/drift-runs": Cell(
            "GET", f"/monitoring{model}/drift-runs", EVERYONE
        ),
        "GET /api/v1/monitoring/models/{model_id}/drift-runs/{run_id}": Cell(
            "GET", f"/monitoring{model}/drift-runs/20240601T000000Z-000000000000", EVERYONE
        ),
        "GET /api/v1/monitoring/models/{model_id}/drift-runs/{run_id}/report": Cell(
            "GET", f"/monitoring{model}/drift-runs/20240601T000000Z-000000000000/report", EVERYONE
        ),
        # Alert rules are authorized on their model, after it is looked up; the admin's calls succeed.
        "GET /api/v1/monitoring/alerts": Cell("GET", "/monitoring/alerts", EVERYONE),
        "GET /api/v1/monitoring/alerts/{alert_id}": Cell("GET", f"/monitoring/alerts/{kept}", EVERYONE),
        "PUT /api/v1/monitoring/alerts/{alert_id}": Cell(
            "PUT", f"/monitoring/alerts/{kept}", ADMINS, {"alert_type": "drift_detection", "threshold": 0.5}
        ),
        "DELETE /api/v1/monitoring/alerts/{alert_id}": Cell("DELETE", f"/monitoring/alerts/{doomed}", ADMINS),
        "POST /api/v1/monitoring/alerts/{alert_id}/test": Cell(
            "POST", f"/monitoring/alerts/{kept}/test", ADMINS
        ),
        "GET /api/v1/monitoring/alerts/{alert_id}/deliveries": Cell(
            "GET", f"/monitoring/alerts/{kept}/deliveries", EVERYONE
        ),
        # Channels: the admin's create and update are refused for their destination, nothing stored.
        "POST /api/v1/monitoring/channels": Cell(
            "POST",
            "/monitoring/channels",
            ADMINS,
            {"name": "matrix-probe", "type": "webhook", "config": refused_webhook},
        ),
        "GET /api/v1/monitoring/channels": Cell("GET", "/monitoring/channels", ADMINS),
        "GET /api/v1/monitoring/channels/{name}": Cell("GET", "/monitoring/channels/matrix-probe", ADMINS),
        "PUT /api/v1/monitoring/channels/{name}": Cell(
            "PUT", "/monitoring/channels/matrix-probe", ADMINS, {"type": "webhook", "config": refused_webhook}
        ),
        "DELETE /api/v1/monitoring/channels/{name}": Cell(
            "DELETE", "/monitoring/channels/matrix-probe", ADMINS
        ),
        # Ground truth is authorized on the model of the prediction it labels (a real one).
        "POST /api/v1/monitoring/ground-truth": Cell(
            "POST",
            "/monitoring/ground-truth",
            DATA_USERS,
            {"records": [{"inference_id": inference_id, "label": 8.0}]},
        ),
        "GET /api/v1/monitoring/models/{model_id}/metrics": Cell(
            "GET", f"/monitoring/models/{served_model}/metrics", EVERYONE, params={"metric": "invocations"}
        ),
        "GET /api/v1/monitoring/models/{model_id}/drift": Cell("GET", f"/monitoring{model}/drift", EVERYONE),
        "GET /api/v1/monitoring/metrics": Cell("GET", "/monitoring/metrics", EVERYONE),
        "GET /api/v1/policies": Cell("GET", "/policies", ADMINS),
        "PUT /api/v1/policies/{policy_id}": Cell(
            "PUT", "/policies/matrix_probe", ADMINS, {"statement": INVALID_POLICY}
        ),
        "DELETE /api/v1/policies/{policy_id}": Cell("DELETE", "/policies/matrix_probe", ADMINS),
        "POST /api/v1/policies/evaluate": Cell("POST", "/policies/evaluate", ADMINS, evaluate),
        "GET /api/v1/audit": Cell("GET", "/audit", REVIEWERS),
        "GET /api/v1/audit/verify": Cell("GET", "/audit/verify", REVIEWERS),
        # Authorization comes before validation and lookups: a cycle (422), an unknown pipeline,
        # run or schedule (404) let the allowed roles through without starting or changing anything.
        "POST /api/v1/pipelines": Cell("POST", "/pipelines", ADMINS, CYCLIC_PIPELINE),
        "GET /api/v1/pipelines": Cell("GET", "/pipelines", EVERYONE),
        "GET /api/v1/pipelines/{pipeline_id}": Cell("GET", "/pipelines/training", EVERYONE),
        "POST /api/v1/pipelines/execute": Cell(
            "POST", "/pipelines/execute", RUNNERS, {"pipeline_id": "no_such_pipeline", "parameters": {}}
        ),
        "GET /api/v1/pipelines/{pipeline_id}/runs": Cell("GET", "/pipelines/training/runs", EVERYONE),
        "GET /api/v1/pipelines/{pipeline_id}/runs/{run_id}": Cell(
            "GET", "/pipelines/training/runs/no-such-run", EVERYONE
        ),
        "POST /api/v1/pipelines/{pipeline_id}/runs/{run_id}/cancel": Cell(
            "POST", "/pipelines/training/runs/no-such-run/cancel", RUNNERS
        ),
        "POST /api/v1/pipelines/{pipeline_id}/runs/{run_id}/retry": Cell(
            "POST", "/pipelines/training/runs/no-such-run/retry", RUNNERS
        ),
        "GET /api/v1/pipelines/{pipeline_id}/schedules": Cell(
            "GET", "/pipelines/training/schedules", EVERYONE
        ),
        "DELETE /api/v1/pipelines/{pipeline_id}/schedules/{schedule_name}": Cell(
            "DELETE", "/pipelines/training/schedules/training-0000000000000000", RUNNERS
        ),
        # Data: the admin creates a source that points nowhere (its test fails to connect) and
        # deletes it after the others met it; every other request names something that does not
        # exist, or does not fit, so the allowed roles get a 404 or 422 and nothing runs.
        "POST /api/v1/data/sources": Cell("POST", "/data/sources", ADMINS, MATRIX_SOURCE),
        "GET /api/v1/data/sources": Cell("GET", "/data/sources", DATA_USERS),
        "GET /api/v1/data/sources/{name}": Cell("GET", f"/data/sources/{MATRIX_SOURCE['name']}", DATA_USERS),
        "POST /api/v1/data/sources/{name}/test": Cell(
            "POST", f"/data/sources/{MATRIX_SOURCE['name']}/test", DATA_USERS
        ),
        "DELETE /api/v1/data/sources/{name}": Cell(
            "DELETE", f"/data/sources/{MATRIX_SOURCE['name']}", ADMINS
        ),
        "POST /api/v1/data/datasets/{name}/snapshots": Cell(
            "POST",
            "/data/datasets/matrix_probe/snapshots",
            DATA_USERS,
            {"source": "no_such_source", "table": "t"},
        ),
        "GET /api/v1/data/datasets/{name}/snapshots/{job_id}": Cell(
            "GET", f"/data/datasets/matrix_probe/snapshots/{NO_JOB}", DATA_USERS
        ),
        "GET /api/v1/data/datasets": Cell("GET", "/data/datasets", DATA_USERS),
        "GET /api/v1/data/datasets/{name}": Cell("GET", "/data/datasets/no_such_dataset", DATA_USERS),
        "GET /api/v1/data/datasets/{name}/versions": Cell(
            "GET", "/data/datasets/no_such_dataset/versions", DATA_USERS
        ),
        "GET /api/v1/data/datasets/{name}/versions/{version}": Cell(
            "GET", "/data/datasets/no_such_dataset/versions/1", DATA_USERS
        ),
        "GET /api/v1/data/datasets/{name}/versions/{version}/sample": Cell(
            "GET", "/data/datasets/no_such_dataset/versions/1/sample", DATA_USERS
        ),
        "PUT /api/v1/data/transformations/{name}": Cell(
            "PUT",
            "/data/transformations/matrix_probe",
            DATA_USERS,
            {
                "inputs": {"orders": "dataset:no_such_dataset@1"},
                "output": {"dataset": "matrix_probe_out"},
                "sql": "SELECT * FROM orders",
            },
        ),
        "GET /api/v1/data/transformations": Cell("GET", "/data/transformations", DATA_USERS),
        "GET /api/v1/data/transformations/{name}": Cell(
            "GET", "/data/transformations/no_such_transformation", DATA_USERS
        ),
        "POST /api/v1/data/transformations/{name}/runs": Cell(
            "POST", "/data/transformations/no_such_transformation/runs", DATA_USERS
        ),
        "GET /api/v1/data/transformations/{name}/runs/{run_id}": Cell(
            "GET", f"/data/transformations/no_such_transformation/runs/{NO_JOB}", DATA_USERS
        ),
        "PUT /api/v1/data/features/{group}": Cell(
            "PUT", "/data/features/no_such_group", DATA_USERS, {**MATRIX_GROUP, "name": "another_name"}
        ),
        "GET /api/v1/data/features": Cell("GET", "/data/features", DATA_USERS),
        "GET /api/v1/data/features/{group}": Cell("GET", "/data/features/no_such_group", DATA_USERS),
        "GET /api/v1/data/features/{group}/versions/{version}": Cell(
            "GET", "/data/features/no_such_group/versions/1", DATA_USERS
        ),
        "POST /api/v1/data/features/{group}/ingestions": Cell(
            "POST",
            "/data/features/no_such_group/ingestions",
            DATA_USERS,
            {"dataset": "dataset:no_such_dataset@1"},
        ),
        "GET /api/v1/data/features/{group}/ingestions/{ingestion_id}": Cell(
            "GET", f"/data/features/no_such_group/ingestions/{NO_JOB}", DATA_USERS
        ),
        "PUT /api/v1/data/features/{group}/records": Cell(
            "PUT", "/data/features/no_such_group/records", DATA_USERS, {"records": [{"customer_id": 1}]}
        ),
        "POST /api/v1/data/features/{group}/materializations": Cell(
            "POST", "/data/features/no_such_group/materializations", DATA_USERS, {}
        ),
        "GET /api/v1/data/features/{group}/materializations/{materialization_id}": Cell(
            "GET", f"/data/features/no_such_group/materializations/{NO_JOB}", DATA_USERS
        ),
        "GET /api/v1/data/features/{group}/online": Cell(
            "GET", "/data/features/no_such_group/online", DATA_USERS, params={"entity": "1"}
        ),
        "POST /api/v1/data/training-sets": Cell(
            "POST",
            "/data/training-sets",
            DATA_USERS,
            {
                "dataset": "matrix_probe_training",
                "labels": {"dataset": "dataset:no_such_dataset@1", "label_time": "t"},
                "feature_groups": [{"group": "no_such_group"}],
            },
        ),
        "GET /api/v1/data/training-sets/{training_set_id}": Cell(
            "GET", f"/data/training-sets/{NO_JOB}", DATA_USERS
        ),
    }


NO_JOB = "0" * 32
MATRIX_SOURCE = {
    "name": f"matrix_probe_{secrets.token_hex(4)}",
    "type": "postgresql",
    "connection": {"host": "127.0.0.1", "port": 1, "database": "d", "user": "u", "password": "not-a-secret"},
}
# A body whose name differs from the path's group: refused after authorization (422), nothing stored.
MATRIX_GROUP = {
    "entity_key": {"name": "customer_id", "type": "int64"},
    "event_time": "event_time",
    "features": [{"name": "orders_7d", "type": "int64"}],
    "owner": "matrix@example.com",
}
CYCLIC_PIPELINE = {
    "pipeline_id": "matrix_probe",
    "steps": [
        {"id": "prepare", "type": "data_preprocessing"},
        {"id": "a", "type": "feature_engineering", "depends_on": ["prepare", "b"]},
        {"id": "b", "type": "feature_engineering", "depends_on": ["a"]},
    ],
}


CELLS = [
    "POST /api/v1/models/register",
    "GET /api/v1/models",
    "GET /api/v1/models/{model_id}",
    "GET /api/v1/models/{model_id}/versions",
    "GET /api/v1/models/{model_id}/versions/{version}",
    "GET /api/v1/models/{model_id}/lineage",
    "POST /api/v1/models/{model_id}/versions/{version}/review-requests",
    "POST /api/v1/models/{model_id}/versions/{version}/approve",
    "POST /api/v1/models/{model_id}/versions/{version}/reject",
    "PUT /api/v1/models/{model_id}/promote",
    "PUT /api/v1/models/{model_id}/promote (dev)",
    "POST /api/v1/models/{model_id}/rollback",
    "GET /api/v1/models/{model_id}/promotions",
    "DELETE /api/v1/models/{model_id}/retire",
    "POST /api/v1/models/{model_id}/predict",
    "POST /api/v1/models/{model_id}/batch-jobs",
    "GET /api/v1/models/{model_id}/batch-jobs",
    "GET /api/v1/models/{model_id}/batch-jobs/{job_id}",
    "POST /api/v1/models/{model_id}/deployments",
    "GET /api/v1/models/{model_id}/deployments",
    "GET /api/v1/models/{model_id}/deployments/{deployment}",
    "DELETE /api/v1/models/{model_id}/deployments/{deployment}",
    "POST /api/v1/models/{model_id}/edge-packages",
    "GET /api/v1/models/{model_id}/edge-packages",
    "GET /api/v1/models/{model_id}/edge-packages/{package_id}",
    "GET /api/v1/models/{model_id}/edge-packages/{package_id}/verification",
    "GET /api/v1/monitoring/models/{model_id}/drift-config",
    "PUT /api/v1/monitoring/models/{model_id}/drift-config",
    "POST /api/v1/monitoring/baselines",
    "POST /api/v1/monitoring/alerts",
    "POST /api/v1/monitoring/models/{model_id}/drift-runs",
    "GET /api/v1/monitoring/models/{model_id}/drift-runs",
    "GET /api/v1/monitoring/models/{model_id}/drift-runs/{run_id}",
    "GET /api/v1/monitoring/models/{model_id}/drift-runs/{run_id}/report",
    "GET /api/v1/monitoring/alerts",
    "GET /api/v1/monitoring/alerts/{alert_id}",
    "PUT /api/v1/monitoring/alerts/{alert_id}",
    "DELETE /api/v1/monitoring/alerts/{alert_id}",
    "POST /api/v1/monitoring/alerts/{alert_id}/test",
    "GET /api/v1/monitoring/alerts/{alert_id}/deliveries",
    "POST /api/v1/monitoring/channels",
    "GET /api/v1/monitoring/channels",
    "GET /api/v1/monitoring/channels/{name}",
    "PUT /api/v1/monitoring/channels/{name}",
    "DELETE /api/v1/monitoring/channels/{name}",
    "POST /api/v1/monitoring/ground-truth",
    "GET /api/v1/monitoring/models/{model_id}/metrics",
    "GET /api/v1/monitoring/models/{model_id}/drift",
    "GET /api/v1/monitoring/metrics",
    "GET /api/v1/policies",
    "PUT /api/v1/policies/{policy_id}",
    "DELETE /api/v1/policies/{policy_id}",
    "POST /api/v1/policies/evaluate",
    "GET /api/v1/audit",
    "GET /api/v1/audit/verify",
    "POST /api/v1/pipelines",
    "GET /api/v1/pipelines",
    "GET /api/v1/pipelines/{pipeline_id}",
    "POST /api/v1/pipelines/execute",
    "GET /api/v1/pipelines/{pipeline_id}/runs",
    "GET /api/v1/pipelines/{pipeline_id}/runs/{run_id}",
    "POST /api/v1/pipelines/{pipeline_id}/runs/{run_id}/cancel",
    "POST /api/v1/pipelines/{pipeline_id}/runs/{run_id}/retry",
    "GET /api/v1/pipelines/{pipeline_id}/schedules",
    "DELETE /api/v1/pipelines/{pipeline_id}/schedules/{schedule_name}",
    "POST /api/v1/data/sources",
    "GET /api/v1/data/sources",
    "GET /api/v1/data/sources/{name}",
    "POST /api/v1/data/sources/{name}/test",
    "DELETE /api/v1/data/sources/{name}",
    "POST /api/v1/data/datasets/{name}/snapshots",
    "GET /api/v1/data/datasets/{name}/snapshots/{job_id}",
    "GET /api/v1/data/datasets",
    "GET /api/v1/data/datasets/{name}",
    "GET /api/v1/data/datasets/{name}/versions",
    "GET /api/v1/data/datasets/{name}/versions/{version}",
    "GET /api/v1/data/datasets/{name}/versions/{version}/sample",
    "PUT /api/v1/data/transformations/{name}",
    "GET /api/v1/data/transformations",
    "GET /api/v1/data/transformations/{name}",
    "POST /api/v1/data/transformations/{name}/runs",
    "GET /api/v1/data/transformations/{name}/runs/{run_id}",
    "PUT /api/v1/data/features/{group}",
    "GET /api/v1/data/features",
    "GET /api/v1/data/features/{group}",
    "GET /api/v1/data/features/{group}/versions/{version}",
    "POST /api/v1/data/features/{group}/ingestions",
    "GET /api/v1/data/features/{group}/ingestions/{ingestion_id}",
    "PUT /api/v1/data/features/{group}/records",
    "POST /api/v1/data/features/{group}/materializations",
    "GET /api/v1/data/features/{group}/materializations/{materialization_id}",
    "GET /api/v1/data/features/{group}/online",
    "POST /api/v1/data/training-sets",
    "GET /api/v1/data/training-sets/{training_set_id}",
]
# Routes that take no user ID token: webhook deliveries (signed) and CI routes (access tokens).
NON_USER_ROUTES = {f"{method.upper()} {path}" for method, path in UNAUTHENTICATED_ROUTES | set(SCOPED_ROUTES)}


def test_the_matrix_covers_every_route_of_the_template() -> None:
    assert {str(route) for route in template_routes()} - NON_USER_ROUTES <= set(CELLS)


@pytest.mark.parametrize("route", sorted(f"{method.upper()} {path}" for method, path in SCOPED_ROUTES))
@pytest.mark.parametrize("role", ROLES)
def test_user_id_tokens_are_refused_on_the_ci_routes(
    role_tokens: dict[str, str], state: LocalCloudState, role: str, route: str
) -> None:
    method, path = route.split(" ", 1)
    concrete = (
        path.replace("{pipeline_id}", "training").replace("{run_id}", "no-such-run").removeprefix("/api/v1")
    )

    response = send(state, role_tokens[role], method, concrete, {"pipeline_id": "training", "parameters": {}})

    assert response.status_code == 401


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", CELLS)
def test_each_role_is_allowed_or_denied_each_route_as_the_policies_say(
    matrix: dict[str, Cell], role_tokens: dict[str, str], state: LocalCloudState, role: str, name: str
) -> None:
    cell = matrix[name]

    response = send(state, role_tokens[role], cell.method, cell.path, cell.body, cell.params)

    if role in cell.allowed:
        assert response.status_code != 403, response.text
    else:
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert error["code"] == "access_denied"
        # no_permit, or for the registrant approving their own version, the self-approval forbid.
        assert error["details"][0]["reason"] in {"no_permit", "forbidden:forbid_self_approval"}


@pytest.mark.parametrize("name", CELLS)
def test_no_token_is_unauthenticated(matrix: dict[str, Cell], state: LocalCloudState, name: str) -> None:
    cell = matrix[name]

    response = send(state, None, cell.method, cell.path, cell.body, cell.params)

    assert response.status_code == 401


# -- separation of duties -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engineer_reviewer_token(local_cloud: LocalCloud, state: LocalCloudState) -> str:
    """A user who both registers (ml_engineer) and reviews (model_reviewer)."""
    username = "eve@cirrus.local"
    password = f"Local-{secrets.token_urlsafe(12)}-1a"
    cognito.create_user(
        local_cloud.emulator, state.user_pool_id, username, password, groups=["ml_engineer", "model_reviewer"]
    )
    result = local_cloud.emulator.client("cognito-idp").initiate_auth(
        ClientId=state.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return str(result["AuthenticationResult"]["IdToken"])


def test_a_reviewer_cannot_approve_their_own_registration_and_another_reviewer_can(
    engineer_reviewer_token: str, role_tokens: dict[str, str], state: LocalCloudState, model_id: str
) -> None:
    body = registration(model_id, state.artifact_bucket)
    registered = send(state, engineer_reviewer_token, "POST", "/models/register", body)
    approve = f"/models/{model_id}/versions/{registered.json()['version']}/approve"

    own = send(state, engineer_reviewer_token, "POST", approve, {"comment": "mine"})
    other = send(state, role_tokens["model_reviewer"], "POST", approve, {"comment": "checked"})

    assert registered.status_code == 201
    assert own.status_code == 403
    assert own.json()["error"]["details"][0] == {
        "action": "ApproveVersion",
        "reason": "forbidden:forbid_self_approval",
        "policies": ["forbid_self_approval"],
    }
    assert other.status_code == 200
    assert other.json()["approval_status"] == "Approved"


def test_an_admin_cannot_approve_their_own_registration(
    role_tokens: dict[str, str], state: LocalCloudState, model_id: str
) -> None:
    admin = role_tokens["admin"]
    registered = send(state, admin, "POST", "/models/register", registration(model_id, state.artifact_bucket))

    own = send(state, admin, "POST", f"/models/{model_id}/versions/1/approve", {"comment": "mine"})

    assert registered.status_code == 201
    assert own.status_code == 403
    assert own.json()["error"]["details"][0]["reason"] == "forbidden:forbid_self_approval"


# -- policy changes -------------------------------------------------------------------------------


def test_an_invalid_policy_is_refused_and_nothing_changes(
    role_tokens: dict[str, str], state: LocalCloudState
) -> None:
    admin = role_tokens["admin"]
    before = send(state, admin, "GET", "/policies").json()

    refused = send(state, admin, "PUT", "/policies/fly_to_the_moon", {"statement": INVALID_POLICY})
    after = send(state, admin, "GET", "/policies").json()

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_policy"
    assert "FlyToTheMoon" in refused.json()["error"]["details"][0]["message"]
    assert after == before


def test_a_stored_policy_changes_the_next_decision_without_a_redeploy(
    clients: dict[str, CirrusClient], role_tokens: dict[str, str], state: LocalCloudState, model_id: str
) -> None:
    for _ in range(2):
        clients["ml_engineer"].register_model(registration(model_id, state.artifact_bucket))
    admin, reviewer = role_tokens["admin"], role_tokens["model_reviewer"]
    retire = f"/models/{model_id}/retire"

    before = send(state, reviewer, "DELETE", retire, params={"version": "1"})
    stored = send(state, admin, "PUT", "/policies/reviewers_retire_models", {"statement": REVIEWERS_RETIRE})
    try:
        during = send(state, reviewer, "DELETE", retire, params={"version": "1"})
    finally:
        deleted = send(state, admin, "DELETE", "/policies/reviewers_retire_models")
    after = send(state, reviewer, "DELETE", retire, params={"version": "2"})

    assert before.status_code == 403
    assert stored.status_code == 200
    assert during.status_code == 200
    assert deleted.status_code == 204
    assert after.status_code == 403
