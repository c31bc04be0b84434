"""A small client for the Cirrus API, for the CLI, notebooks and other tools.

    client = CirrusClient("http://127.0.0.1:3000", token=id_token)
    version = client.register_model({...})
    client.approve("fraud_detection_v2", version.version, "looks good")

Point it at the local cloud or a deployed stage; `CirrusClient.from_env()` reads CIRRUS_API_URL and
CIRRUS_TOKEN. Errors come back as `CirrusApiError` carrying the API's machine-readable error body.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import requests
from pydantic import BaseModel

from cirrus_core.alerting.channels import ChannelPage, ChannelView
from cirrus_core.alerting.records import DeliveryPage, TestAlertResponse
from cirrus_core.audit.models import AuditPage, VerifyReport
from cirrus_core.metrics.models import DriftHistory, GroundTruthResult, MetricHistory
from cirrus_core.monitoring.models import (
    AlertRule,
    AlertRuleDetail,
    AlertRulePage,
    BaselineView,
    DriftConfigView,
    DriftRun,
    DriftRunPage,
    DriftRunSummary,
)
from cirrus_core.pipelines.models import (
    PipelineDetail,
    PipelinePage,
    PipelineSchedule,
    PipelineStored,
    RunDetail,
    RunPage,
    RunStarted,
    RunSummary,
    SchedulePage,
)
from cirrus_core.registry.models import (
    ApprovalStatus,
    Environment,
    Lineage,
    ModelDetail,
    ModelPage,
    ModelVersion,
    PromotionPage,
    PromotionResult,
    RegisteredModel,
    RetireResult,
    VersionPage,
)
from cirrus_core.serving.batch import BatchJob, BatchJobPage
from cirrus_core.serving.deployment_models import Deployment, DeploymentList, UndeployResult
from cirrus_core.serving.edge_models import (
    CreateEdgePackageRequest,
    EdgePackage,
    EdgePackageDetail,
    EdgePackagePage,
    EdgePackageVerification,
)
from cirrus_core.serving.inference import Prediction

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from datetime import datetime

    from cirrus_core.data.dataset_read_service import (
        DatasetDetail,
        DatasetPage,
        DatasetSample,
        DatasetVersionPage,
    )
    from cirrus_core.data.datasets import DatasetVersion
    from cirrus_core.data.feature_models import (
        FeatureGroupPage,
        FeatureGroupVersionResult,
        FeatureGroupView,
        IngestionJob,
        MaterializationJob,
        OnlineFeatures,
    )
    from cirrus_core.data.features import FeatureGroupVersion
    from cirrus_core.data.snapshots import SnapshotJob
    from cirrus_core.data.sources import CreateSourceRequest, SourcePage, SourceTestResult, SourceView
    from cirrus_core.data.training_sets import CreateTrainingSetRequest, TrainingSet
    from cirrus_core.data.transformations import (
        PutTransformationRequest,
        Transformation,
        TransformationPage,
        TransformationRun,
    )
    from cirrus_core.pipelines.definition import PipelineDefinitionRequest
    from cirrus_core.registry.bodies import RegisterModelRequest

ModelT = TypeVar("ModelT", bound=BaseModel)

API_URL_VARIABLE = "CIRRUS_API_URL"
TOKEN_VARIABLE = "CIRRUS_TOKEN"  # noqa: S105  # a variable's name, not a secret  # nosec B105


class CirrusApiError(Exception):
    """The API refused a request; `code` is the machine-readable reason."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.request_id = request_id


class CirrusClient:
    """Calls the Cirrus REST API (`/api/v1`) with a Cognito ID token."""

    def __init__(
        self,
        api_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self._base = api_url.rstrip("/").removesuffix("/api/v1")
        self._token = token
        self._timeout = timeout
        self._session = session or requests.Session()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CirrusClient:
        """A client configured by CIRRUS_API_URL and CIRRUS_TOKEN."""
        env = os.environ if environ is None else environ
        if API_URL_VARIABLE not in env:
            raise ValueError(f"Set {API_URL_VARIABLE} to the API's base URL (see `cirrus local up`).")
        return cls(env[API_URL_VARIABLE], env.get(TOKEN_VARIABLE))

    def with_token(self, token: str) -> CirrusClient:
        """The same client acting as another user."""
        return CirrusClient(self._base, token, timeout=self._timeout, session=self._session)

    def clone(self) -> CirrusClient:
        """The same user on a connection pool of its own: a `requests.Session` is not for two threads."""
        return CirrusClient(self._base, self._token, timeout=self._timeout)

    # -- registry ---------------------------------------------------------------------------------

    def register_model(
        self, request: RegisterModelRequest | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> ModelVersion:
        """Register the next version of a model. A key makes retries safe (one is made if omitted)."""
        body = request.model_dump(mode="json") if isinstance(request, BaseModel) else dict(request)
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return self._call("POST", "/models/register", ModelVersion, json=body, headers=headers)

    def list_models(self, prefix: str = "", *, limit: int = 50, next_token: str | None = None) -> ModelPage:
        return self._call(
            "GET",
            "/models",
            ModelPage,
            params=_query(prefix=prefix or None, limit=limit, next_token=next_token),
        )

    def iter_models(self, prefix: str = "") -> Iterator[RegisteredModel]:
        """Every model, following pagination."""
        token: str | None = None
        while True:
            page = self.list_models(prefix, limit=100, next_token=token)
            yield from page.items
            if not page.next_token:
                return
            token = page.next_token

    def get_model(self, model_id: str) -> ModelDetail:
        return self._call("GET", f"/models/{_seg(model_id)}", ModelDetail)

    def list_versions(
        self,
        model_id: str,
        *,
        status: ApprovalStatus | str | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> VersionPage:
        params = _query(status=str(status) if status else None, limit=limit, next_token=next_token)
        return self._call("GET", f"/models/{_seg(model_id)}/versions", VersionPage, params=params)

    def get_version(self, model_id: str, version: int) -> ModelVersion:
        return self._call("GET", f"/models/{_seg(model_id)}/versions/{version}", ModelVersion)

    def lineage(self, model_id: str, version: int | None = None) -> Lineage:
        return self._call("GET", f"/models/{_seg(model_id)}/lineage", Lineage, params=_query(version=version))

    def request_review(self, model_id: str, version: int, comment: str = "") -> ModelVersion:
        return self._review(model_id, version, "review-requests", comment)

    def approve(self, model_id: str, version: int, comment: str = "") -> ModelVersion:
        return self._review(model_id, version, "approve", comment)

    def reject(self, model_id: str, version: int, comment: str = "") -> ModelVersion:
        return self._review(model_id, version, "reject", comment)

    def promote(
        self, model_id: str, version: int, environment: Environment | str, reason: str = ""
    ) -> PromotionResult:
        body = {"version": version, "environment": str(environment), "reason": reason}
        return self._call("PUT", f"/models/{_seg(model_id)}/promote", PromotionResult, json=body)

    def rollback(self, model_id: str, environment: Environment | str, reason: str = "") -> PromotionResult:
        body = {"environment": str(environment), "reason": reason}
        return self._call("POST", f"/models/{_seg(model_id)}/rollback", PromotionResult, json=body)

    def promotions(
        self, model_id: str, environment: Environment | str, *, limit: int = 50, next_token: str | None = None
    ) -> PromotionPage:
        params = _query(environment=str(environment), limit=limit, next_token=next_token)
        return self._call("GET", f"/models/{_seg(model_id)}/promotions", PromotionPage, params=params)

    def retire(self, model_id: str, version: int | None = None) -> RetireResult:
        return self._call(
            "DELETE", f"/models/{_seg(model_id)}/retire", RetireResult, params=_query(version=version)
        )

    # -- audit ------------------------------------------------------------------------------------

    def audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        resource: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> AuditPage:
        """Audit records newest first (admin and model_reviewer); `until` is exclusive."""
        params = _query(
            actor=actor,
            action=action,
            resource=resource,
            since=since.isoformat() if since else None,
            until=until.isoformat() if until else None,
            limit=limit,
            next_token=next_token,
        )
        return self._call("GET", "/audit", AuditPage, params=params)

    def verify_audit(self) -> VerifyReport:
        """Walk the audit chain against its latest signed anchor: intact, or the first bad seq and why."""
        return self._call("GET", "/audit/verify", VerifyReport)

    # -- pipelines --------------------------------------------------------------------------------

    def put_pipeline(
        self, definition: PipelineDefinitionRequest | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> PipelineStored:
        """Define a pipeline, or store the next version of its definition (admin).

        `changed` is false when the definition equalled the current one: nothing was stored.
        """
        body = definition.model_dump(mode="json") if isinstance(definition, BaseModel) else dict(definition)
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return self._call("POST", "/pipelines", PipelineStored, json=body, headers=headers)

    def list_pipelines(self, *, limit: int = 50, next_token: str | None = None) -> PipelinePage:
        """Pipelines in id order, the built-in `training` pipeline among them."""
        return self._call(
            "GET", "/pipelines", PipelinePage, params=_query(limit=limit, next_token=next_token)
        )

    def get_pipeline(self, pipeline_id: str, version: int | None = None) -> PipelineDetail:
        """A pipeline with its current definition (or version `version` of it)."""
        return self._call(
            "GET", f"/pipelines/{_seg(pipeline_id)}", PipelineDetail, params=_query(version=version)
        )

    def execute_pipeline(
        self,
        pipeline_id: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> RunStarted:
        """Start a run now; its parameters are merged over the definition's defaults."""
        body = {"pipeline_id": pipeline_id, "parameters": dict(parameters or {})}
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return self._call("POST", "/pipelines/execute", RunStarted, json=body, headers=headers)

    def schedule_pipeline(
        self,
        pipeline_id: str,
        cron: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        timezone: str = "UTC",
        idempotency_key: str | None = None,
    ) -> PipelineSchedule:
        """Start runs on a five-field cron expression (`0 2 * * *`) in `timezone`."""
        body = {
            "pipeline_id": pipeline_id,
            "parameters": dict(parameters or {}),
            "schedule": cron,
            "timezone": timezone,
        }
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return self._call("POST", "/pipelines/execute", PipelineSchedule, json=body, headers=headers)

    def list_runs(
        self, pipeline_id: str, *, status: str | None = None, limit: int = 50, next_token: str | None = None
    ) -> RunPage:
        """A pipeline's runs, newest first."""
        params = _query(status=status, limit=limit, next_token=next_token)
        return self._call("GET", f"/pipelines/{_seg(pipeline_id)}/runs", RunPage, params=params)

    def get_run(self, pipeline_id: str, run_id: str) -> RunDetail:
        """A run with each step's status, its failure and its registered version."""
        return self._call("GET", f"/pipelines/{_seg(pipeline_id)}/runs/{_seg(run_id)}", RunDetail)

    def cancel_run(self, pipeline_id: str, run_id: str) -> RunSummary:
        """Stop a running run."""
        return self._call("POST", f"/pipelines/{_seg(pipeline_id)}/runs/{_seg(run_id)}/cancel", RunSummary)

    def retry_run(self, pipeline_id: str, run_id: str, *, idempotency_key: str | None = None) -> RunStarted:
        """Start a new run with a failed, timed-out or cancelled run's input."""
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        path = f"/pipelines/{_seg(pipeline_id)}/runs/{_seg(run_id)}/retry"
        return self._call("POST", path, RunStarted, headers=headers)

    def list_schedules(self, pipeline_id: str) -> SchedulePage:
        """The schedules that start a pipeline's runs."""
        return self._call("GET", f"/pipelines/{_seg(pipeline_id)}/schedules", SchedulePage)

    def delete_schedule(self, pipeline_id: str, schedule_name: str) -> None:
        """Delete one of a pipeline's schedules."""
        self._call_no_content("DELETE", f"/pipelines/{_seg(pipeline_id)}/schedules/{_seg(schedule_name)}")

    # -- deployments ------------------------------------------------------------------------------

    def deploy(
        self,
        model_id: str,
        version: int,
        environment: Environment | str,
        *,
        instance_type: str | None = None,
        initial_instance_count: int | None = None,
        serverless: Mapping[str, int] | None = None,
        autoscaling: Mapping[str, float] | None = None,
        sample_payloads: list[Mapping[str, str]] | None = None,
        data_capture_percentage: int | None = None,
        idempotency_key: str | None = None,
    ) -> Deployment:
        """Start deploying an approved version to an environment (the deployment runs on)."""
        fields = {
            "instance_type": instance_type,
            "initial_instance_count": initial_instance_count,
            "serverless": dict(serverless) if serverless is not None else None,
            "autoscaling": dict(autoscaling) if autoscaling is not None else None,
            "sample_payloads": [dict(sample) for sample in sample_payloads] if sample_payloads else None,
            "data_capture_percentage": data_capture_percentage,
        }
        body = {
            "version": version,
            "environment": str(Environment(environment).value),
            **{name: value for name, value in fields.items() if value is not None},
        }
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        path = f"/models/{_seg(model_id)}/deployments"
        return self._call("POST", path, Deployment, json=body, headers=headers)

    def list_deployments(
        self,
        model_id: str,
        *,
        environment: Environment | str | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> DeploymentList:
        """What each environment serves, and the model's deployments, newest first."""
        env = str(Environment(environment).value) if environment is not None else None
        params = _query(environment=env, limit=limit, next_token=next_token)
        return self._call("GET", f"/models/{_seg(model_id)}/deployments", DeploymentList, params=params)

    def get_deployment(self, model_id: str, deployment_id: str) -> Deployment:
        """A deployment with its status and history."""
        return self._call("GET", f"/models/{_seg(model_id)}/deployments/{_seg(deployment_id)}", Deployment)

    def undeploy(self, model_id: str, environment: Environment | str) -> UndeployResult:
        """Take an environment down: its endpoint is deleted and its alias cleared."""
        env = str(Environment(environment).value)
        return self._call("DELETE", f"/models/{_seg(model_id)}/deployments/{env}", UndeployResult)

    # -- inference and batch jobs -----------------------------------------------------------------

    def predict(
        self,
        model_id: str,
        body: bytes | str | Any,
        *,
        environment: Environment | str = Environment.PROD,
        content_type: str | None = None,
        accept: str | None = None,
    ) -> Prediction:
        """A prediction from the environment's endpoint. `body` is sent as it is when bytes or text
        (give `content_type`, `text/csv` by default for text), else as JSON."""
        if isinstance(body, bytes | str):
            data = body.encode("utf-8") if isinstance(body, str) else body
            kind = content_type or "text/csv"
        else:
            data = json.dumps(body).encode("utf-8")
            kind = content_type or "application/json"
        headers = {"Content-Type": kind, "Accept": accept or "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        response = self._session.request(
            "POST",
            f"{self._base}/api/v1/models/{_seg(model_id)}/predict",
            params={"environment": str(Environment(environment).value)},
            data=data,
            headers=headers,
            timeout=self._timeout,
        )
        if response.status_code >= 400:
            raise _api_error(response)
        return Prediction.model_validate_json(response.content)

    def start_batch_job(
        self,
        model_id: str,
        *,
        input_uri: str,
        output_uri: str,
        version: int | None = None,
        environment: Environment | str | None = None,
        content_type: str = "text/csv",
        split: str = "Line",
        accept: str | None = None,
        instance_type: str | None = None,
        instance_count: int | None = None,
        idempotency_key: str | None = None,
    ) -> BatchJob:
        """Start a batch transform job with `version` or the version `environment` serves."""
        fields = {
            "version": version,
            "environment": str(Environment(environment).value) if environment is not None else None,
            "input_uri": input_uri,
            "output_uri": output_uri,
            "content_type": content_type,
            "split": split,
            "accept": accept,
            "instance_type": instance_type,
            "instance_count": instance_count,
        }
        body = {name: value for name, value in fields.items() if value is not None}
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return self._call(
            "POST", f"/models/{_seg(model_id)}/batch-jobs", BatchJob, json=body, headers=headers
        )

    def list_batch_jobs(
        self, model_id: str, *, limit: int = 50, next_token: str | None = None
    ) -> BatchJobPage:
        """A model's batch jobs, newest first."""
        params = _query(limit=limit, next_token=next_token)
        return self._call("GET", f"/models/{_seg(model_id)}/batch-jobs", BatchJobPage, params=params)

    def get_batch_job(self, model_id: str, job_id: str) -> BatchJob:
        """A batch job's status, and why it failed."""
        return self._call("GET", f"/models/{_seg(model_id)}/batch-jobs/{_seg(job_id)}", BatchJob)

    # -- plumbing ---------------------------------------------------------------------------------

    # -- edge packages ----------------------------------------------------------------------------

    def create_edge_package(
        self,
        model_id: str,
        request: CreateEdgePackageRequest | Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> EdgePackage:
        """Compile an approved version with Neo and build a signed Greengrass v2 component (pending)."""
        if isinstance(request, BaseModel):
            body = request.model_dump(mode="json", exclude_none=True)
        else:
            body = dict(request)
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        path = f"/models/{_seg(model_id)}/edge-packages"
        return self._call("POST", path, EdgePackage, json=body, headers=headers)

    def list_edge_packages(
        self, model_id: str, *, limit: int = 50, next_token: str | None = None
    ) -> EdgePackagePage:
        params = _query(limit=limit, next_token=next_token)
        return self._call("GET", f"/models/{_seg(model_id)}/edge-packages", EdgePackagePage, params=params)

    def get_edge_package(self, model_id: str, package_id: str) -> EdgePackageDetail:
        """A package; once ready, with its manifest and recipe."""
        path = f"/models/{_seg(model_id)}/edge-packages/{_seg(package_id)}"
        return self._call("GET", path, EdgePackageDetail)

    def verify_edge_package(self, model_id: str, package_id: str) -> EdgePackageVerification:
        """The server re-hashes every artifact and checks the manifest's signature with KMS."""
        path = f"/models/{_seg(model_id)}/edge-packages/{_seg(package_id)}/verification"
        return self._call("GET", path, EdgePackageVerification)

    # -- monitoring -------------------------------------------------------------------------------

    def create_baseline(
        self,
        model_id: str,
        version: int,
        dataset_uri: str,
        *,
        target_column: str | None = None,
        exclude_columns: list[str] | None = None,
        feature_types: Mapping[str, str] | None = None,
        dataset_format: str = "csv",
        idempotency_key: str | None = None,
    ) -> BaselineView:
        """Build a version's drift baseline from a dataset and link it to the version."""
        fields: dict[str, Any] = {
            "model_id": model_id,
            "version": version,
            "dataset_uri": dataset_uri,
            "format": dataset_format,
            "target_column": target_column,
            "exclude_columns": exclude_columns,
            "feature_types": dict(feature_types) if feature_types else None,
        }
        body = {name: value for name, value in fields.items() if value is not None}
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return self._call("POST", "/monitoring/baselines", BaselineView, json=body, headers=headers)

    def get_drift_config(self, model_id: str) -> DriftConfigView:
        return self._call("GET", f"/monitoring/models/{_seg(model_id)}/drift-config", DriftConfigView)

    def put_drift_config(self, model_id: str, config: Mapping[str, Any]) -> DriftConfigView:
        """Replace the model's drift config (fields of DriftConfigRequest; others keep their defaults)."""
        path = f"/monitoring/models/{_seg(model_id)}/drift-config"
        return self._call("PUT", path, DriftConfigView, json=dict(config))

    def create_alert(
        self,
        model_id: str | None,
        alert_type: str,
        threshold: float,
        *,
        evaluation_window: str = "1h",
        environment: Environment | str | None = Environment.PROD,
        notification_channels: list[str] | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> AlertRule:
        """The spec's alert payload, plus the fields of its type (`metric`, `comparison` for
        performance_degradation; `sources` for system_failures) and `cooldown`, `severity`, `description`.
        A drift_detection rule schedules a monitor run every window."""
        body: dict[str, Any] = {
            "alert_type": alert_type,
            "threshold": threshold,
            "evaluation_window": evaluation_window,
            "notification_channels": notification_channels or [],
            **{name: value for name, value in fields.items() if value is not None},
        }
        if model_id is not None:
            body["model_id"] = model_id
        if environment is not None:
            body["environment"] = str(Environment(environment).value)
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return self._call("POST", "/monitoring/alerts", AlertRule, json=body, headers=headers)

    def list_alerts(
        self, *, model_id: str | None = None, limit: int = 50, next_token: str | None = None
    ) -> AlertRulePage:
        """Alert rules, newest first (`model_id="*"`: the platform-wide ones)."""
        params = _query(model_id=model_id, limit=limit, next_token=next_token)
        return self._call("GET", "/monitoring/alerts", AlertRulePage, params=params)

    def get_alert(self, alert_id: str) -> AlertRuleDetail:
        """A rule with the state of its alert(s): ok or firing, dedup key, when it fired and resolved."""
        return self._call("GET", f"/monitoring/alerts/{_seg(alert_id)}", AlertRuleDetail)

    def update_alert(self, alert_id: str, settings: Mapping[str, Any]) -> AlertRule:
        """Replace a rule's mutable fields (`alert_type` stays; fields left out go back to defaults)."""
        return self._call("PUT", f"/monitoring/alerts/{_seg(alert_id)}", AlertRule, json=dict(settings))

    def delete_alert(self, alert_id: str) -> None:
        """Delete a rule, its schedule and its state (its delivery log stays)."""
        self._call_no_content("DELETE", f"/monitoring/alerts/{_seg(alert_id)}")

    def test_alert(self, alert_id: str) -> TestAlertResponse:
        """Queue a test notification to each of the rule's channels."""
        return self._call("POST", f"/monitoring/alerts/{_seg(alert_id)}/test", TestAlertResponse)

    def alert_deliveries(
        self, alert_id: str, *, limit: int = 50, next_token: str | None = None
    ) -> DeliveryPage:
        """A rule's notifications, newest first, each with every attempt (status code, latency, error)."""
        params = _query(limit=limit, next_token=next_token)
        path = f"/monitoring/alerts/{_seg(alert_id)}/deliveries"
        return self._call("GET", path, DeliveryPage, params=params)

    # -- metrics, ground truth, history --------------------------------------------------------------

    def put_ground_truth(self, records: Sequence[Mapping[str, Any]]) -> GroundTruthResult:
        """Labels for earlier predictions, `[{"inference_id", "label"}]` (1 to 500): joined to what the
        model answered, they make the accuracy (and MAE/RMSE for numbers) metrics."""
        body = {"records": [dict(record) for record in records]}
        return self._call("POST", "/monitoring/ground-truth", GroundTruthResult, json=body)

    def model_metrics(
        self,
        model_id: str,
        metric: str,
        *,
        start: datetime,
        end: datetime,
        resolution: str = "1h",
        environment: Environment | str = Environment.PROD,
    ) -> MetricHistory:
        """One metric over [start, end) at 1m, 1h or 1d resolution (MetricName: invocations, accuracy,
        latency_p95_ms, error_rate, cpu_utilization, ...)."""
        params = _query(
            metric=metric,
            resolution=resolution,
            environment=str(Environment(environment).value),
            **{"from": start.isoformat(), "to": end.isoformat()},
        )
        return self._call("GET", f"/monitoring/models/{_seg(model_id)}/metrics", MetricHistory, params=params)

    def drift_history(
        self,
        model_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        environment: Environment | str | None = None,
    ) -> DriftHistory:
        """Per-feature drift scores of the runs in [start, end) (default: the last 7 days)."""
        params = _query(
            environment=str(Environment(environment).value) if environment is not None else None,
            **{
                "from": start.isoformat() if start is not None else None,
                "to": end.isoformat() if end is not None else None,
            },
        )
        return self._call("GET", f"/monitoring/models/{_seg(model_id)}/drift", DriftHistory, params=params)

    def prometheus_metrics(self) -> str:
        """The Prometheus text exposition of every model's metrics (what a scraper reads)."""
        headers = {"Accept": "text/plain"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        response = self._session.get(
            f"{self._base}/api/v1/monitoring/metrics", headers=headers, timeout=self._timeout
        )
        if response.status_code >= 400:
            raise _api_error(response)
        return response.text

    # -- notification channels --------------------------------------------------------------------

    def create_channel(
        self, name: str, channel_type: str, config: Mapping[str, Any], *, description: str | None = None
    ) -> ChannelView:
        """A notification channel: webhook {url, signing_secret}, slack {webhook_url}, pagerduty
        {routing_key, events_url?} or email {addresses}. Secrets are stored, never returned."""
        body: dict[str, Any] = {"name": name, "type": channel_type, "config": dict(config)}
        if description is not None:
            body["description"] = description
        return self._call("POST", "/monitoring/channels", ChannelView, json=body)

    def list_channels(self, *, limit: int = 50, next_token: str | None = None) -> ChannelPage:
        params = _query(limit=limit, next_token=next_token)
        return self._call("GET", "/monitoring/channels", ChannelPage, params=params)

    def get_channel(self, name: str) -> ChannelView:
        return self._call("GET", f"/monitoring/channels/{_seg(name)}", ChannelView)

    def update_channel(
        self, name: str, channel_type: str, config: Mapping[str, Any], *, description: str | None = None
    ) -> ChannelView:
        """Replace a channel's destination and secret (a new secret version)."""
        body: dict[str, Any] = {"type": channel_type, "config": dict(config)}
        if description is not None:
            body["description"] = description
        return self._call("PUT", f"/monitoring/channels/{_seg(name)}", ChannelView, json=body)

    def delete_channel(self, name: str) -> None:
        """Delete a channel no rule names (409 channel_in_use otherwise)."""
        self._call_no_content("DELETE", f"/monitoring/channels/{_seg(name)}")

    def start_drift_run(
        self,
        model_id: str,
        *,
        environment: Environment | str = Environment.PROD,
        window: str | None = None,
        window_start: datetime | None = None,
        window_end: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> DriftRunSummary:
        """Check the last `window` (default 1h), or `window_start`..`window_end`, of captured traffic."""
        body: dict[str, Any] = {"environment": str(Environment(environment).value)}
        if window is not None:
            body["window"] = window
        if window_start is not None and window_end is not None:
            body["window_start"] = window_start.isoformat()
            body["window_end"] = window_end.isoformat()
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        path = f"/monitoring/models/{_seg(model_id)}/drift-runs"
        return self._call("POST", path, DriftRunSummary, json=body, headers=headers)

    def list_drift_runs(
        self,
        model_id: str,
        *,
        environment: Environment | str | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> DriftRunPage:
        """A model's drift runs, newest first."""
        env = str(Environment(environment).value) if environment is not None else None
        params = _query(environment=env, limit=limit, next_token=next_token)
        return self._call(
            "GET", f"/monitoring/models/{_seg(model_id)}/drift-runs", DriftRunPage, params=params
        )

    def get_drift_run(self, model_id: str, run_id: str) -> DriftRun:
        """A run with every feature's scores, thresholds and verdicts."""
        return self._call("GET", f"/monitoring/models/{_seg(model_id)}/drift-runs/{_seg(run_id)}", DriftRun)

    def drift_report(self, model_id: str, run_id: str) -> str:
        """A finished run's HTML report."""
        headers = {"Accept": "text/html"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        path = f"/monitoring/models/{_seg(model_id)}/drift-runs/{_seg(run_id)}/report"
        response = self._session.get(f"{self._base}/api/v1{path}", headers=headers, timeout=self._timeout)
        if response.status_code >= 400:
            raise _api_error(response)
        return response.text

    def _review(self, model_id: str, version: int, action: str, comment: str) -> ModelVersion:
        path = f"/models/{_seg(model_id)}/versions/{version}/{action}"
        return self._call("POST", path, ModelVersion, json={"comment": comment})

    def _call(
        self,
        method: str,
        path: str,
        result_type: type[ModelT],
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> ModelT:
        all_headers = {"Accept": "application/json", **(headers or {})}
        if self._token:
            all_headers["Authorization"] = f"Bearer {self._token}"
        response = self._session.request(
            method,
            f"{self._base}/api/v1{path}",
            json=json,
            params=params,
            headers=all_headers,
            timeout=self._timeout,
        )
        if response.status_code >= 400:
            raise _api_error(response)
        return result_type.model_validate_json(response.content)

    def _call_no_content(self, method: str, path: str) -> None:
        """A call answered with 204 No Content."""
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        response = self._session.request(
            method, f"{self._base}/api/v1{path}", headers=headers, timeout=self._timeout
        )
        if response.status_code >= 400:
            raise _api_error(response)

    # -- data -------------------------------------------------------------------------------------
    # Sources, datasets, transformations and the feature store (docs/data.md, "API"). Their models are
    # imported where used: `import cirrus.client` stays quick for tools that never touch data.

    def create_data_source(
        self, request: CreateSourceRequest | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> SourceView:
        """Register a source `{name, type, connection, options?, description?}` (system_config).

        Its secret fields (a password, a MongoDB uri) are stored in Secrets Manager and never returned.
        """
        from cirrus_core.data.sources import SourceView

        body = request.model_dump(mode="json") if isinstance(request, BaseModel) else dict(request)
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return self._call("POST", "/data/sources", SourceView, json=body, headers=headers)

    def list_data_sources(self, *, limit: int = 50, next_token: str | None = None) -> SourcePage:
        """Data sources by name (no secrets)."""
        from cirrus_core.data.sources import SourcePage

        params = _query(limit=limit, next_token=next_token)
        return self._call("GET", "/data/sources", SourcePage, params=params)

    def get_data_source(self, name: str) -> SourceView:
        from cirrus_core.data.sources import SourceView

        return self._call("GET", f"/data/sources/{_seg(name)}", SourceView)

    def delete_data_source(self, name: str) -> None:
        """Delete a source (system_config); its secret is scheduled for deletion, its datasets stay."""
        self._call_no_content("DELETE", f"/data/sources/{_seg(name)}")

    def test_data_source(self, name: str) -> SourceTestResult:
        """Connect and run a trivial request: `ok` and `latency_ms`, or the driver's `error`."""
        from cirrus_core.data.sources import SourceTestResult

        return self._call("POST", f"/data/sources/{_seg(name)}/test", SourceTestResult)

    def create_snapshot(
        self,
        dataset: str,
        source: str,
        *,
        table: str | None = None,
        query: str | None = None,
        filter: Mapping[str, Any] | None = None,
        projection: Mapping[str, Any] | None = None,
        prefix: str | None = None,
        format: str | None = None,
        incremental: Mapping[str, Any] | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> SnapshotJob:
        """Start reading `source` into the next version of `dataset`: `table` or `query` (SQL, CQL),
        `table` with `filter`/`projection` (mongodb) or `prefix` with `format` (s3);
        `incremental={"watermark_column": ...}` reads only what is newer than the previous version."""
        from cirrus_core.data.snapshots import SnapshotJob

        fields: dict[str, Any] = {
            "table": table,
            "query": query,
            "filter": dict(filter) if filter is not None else None,
            "projection": dict(projection) if projection is not None else None,
            "prefix": prefix,
            "format": format,
            "incremental": dict(incremental) if incremental is not None else None,
            "description": description,
        }
        body = {"source": source, **{name: value for name, value in fields.items() if value is not None}}
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        path = f"/data/datasets/{_seg(dataset)}/snapshots"
        return self._call("POST", path, SnapshotJob, json=body, headers=headers)

    def get_snapshot_job(self, dataset: str, job_id: str) -> SnapshotJob:
        """A snapshot job: queued, running, succeeded (with its row count) or failed (with its error)."""
        from cirrus_core.data.snapshots import SnapshotJob

        return self._call("GET", f"/data/datasets/{_seg(dataset)}/snapshots/{_seg(job_id)}", SnapshotJob)

    def list_datasets(self, *, limit: int = 50, next_token: str | None = None) -> DatasetPage:
        """Datasets by name."""
        from cirrus_core.data.dataset_read_service import DatasetPage

        params = _query(limit=limit, next_token=next_token)
        return self._call("GET", "/data/datasets", DatasetPage, params=params)

    def get_dataset(self, name: str) -> DatasetDetail:
        """A dataset: its producer, its latest version and its latest ready version."""
        from cirrus_core.data.dataset_read_service import DatasetDetail

        return self._call("GET", f"/data/datasets/{_seg(name)}", DatasetDetail)

    def list_dataset_versions(
        self, name: str, *, limit: int = 50, next_token: str | None = None
    ) -> DatasetVersionPage:
        """A dataset's versions, newest first."""
        from cirrus_core.data.dataset_read_service import DatasetVersionPage

        params = _query(limit=limit, next_token=next_token)
        return self._call("GET", f"/data/datasets/{_seg(name)}/versions", DatasetVersionPage, params=params)

    def get_dataset_version(self, name: str, version: int) -> DatasetVersion:
        """One version with its schema, row count, content hash, files and lineage."""
        from cirrus_core.data.datasets import DatasetVersion

        return self._call("GET", f"/data/datasets/{_seg(name)}/versions/{version}", DatasetVersion)

    def dataset_sample(self, name: str, version: int, *, limit: int = 20) -> DatasetSample:
        """The first `limit` rows of a ready version."""
        from cirrus_core.data.dataset_read_service import DatasetSample

        path = f"/data/datasets/{_seg(name)}/versions/{version}/sample"
        return self._call("GET", path, DatasetSample, params=_query(limit=limit))

    def put_transformation(
        self, name: str, spec: PutTransformationRequest | Mapping[str, Any]
    ) -> Transformation:
        """Declare (or replace) a transformation: `{inputs, output, runtime?, sql | python | processor,
        parameters?, description?}`."""
        from cirrus_core.data.transformations import Transformation

        body = spec.model_dump(mode="json", exclude_none=True) if isinstance(spec, BaseModel) else dict(spec)
        return self._call("PUT", f"/data/transformations/{_seg(name)}", Transformation, json=body)

    def list_transformations(self, *, limit: int = 50, next_token: str | None = None) -> TransformationPage:
        """Transformations by name."""
        from cirrus_core.data.transformations import TransformationPage

        params = _query(limit=limit, next_token=next_token)
        return self._call("GET", "/data/transformations", TransformationPage, params=params)

    def get_transformation(self, name: str) -> Transformation:
        from cirrus_core.data.transformations import Transformation

        return self._call("GET", f"/data/transformations/{_seg(name)}", Transformation)

    def run_transformation(self, name: str, *, idempotency_key: str | None = None) -> TransformationRun:
        """Pin each input to a ready version and start making the output's next version (running)."""
        from cirrus_core.data.transformations import TransformationRun

        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        path = f"/data/transformations/{_seg(name)}/runs"
        return self._call("POST", path, TransformationRun, headers=headers)

    def get_transformation_run(self, name: str, run_id: str) -> TransformationRun:
        """A run: its pinned inputs, its output version, and its row count or failure."""
        from cirrus_core.data.transformations import TransformationRun

        path = f"/data/transformations/{_seg(name)}/runs/{_seg(run_id)}"
        return self._call("GET", path, TransformationRun)

    def put_feature_group(
        self, group: str, definition: Mapping[str, Any], *, new_version: bool = False
    ) -> FeatureGroupVersionResult:
        """Create a feature group or store its definition's next version; `change` says which (created,
        additive, breaking, or unchanged). A breaking change needs `new_version=True` (else 422)."""
        from cirrus_core.data.feature_models import FeatureGroupVersionResult

        body = {"name": group, **dict(definition)}
        if new_version:
            body["new_version"] = True
        path = f"/data/features/{_seg(group)}"
        return self._call("PUT", path, FeatureGroupVersionResult, json=body)

    def list_feature_groups(self, *, limit: int = 50, next_token: str | None = None) -> FeatureGroupPage:
        """Feature groups by name, each with its latest version."""
        from cirrus_core.data.feature_models import FeatureGroupPage

        params = _query(limit=limit, next_token=next_token)
        return self._call("GET", "/data/features", FeatureGroupPage, params=params)

    def get_feature_group(self, group: str) -> FeatureGroupView:
        """A feature group with its latest version's definition."""
        from cirrus_core.data.feature_models import FeatureGroupView

        return self._call("GET", f"/data/features/{_seg(group)}", FeatureGroupView)

    def get_feature_group_version(self, group: str, version: int) -> FeatureGroupVersion:
        from cirrus_core.data.features import FeatureGroupVersion

        return self._call("GET", f"/data/features/{_seg(group)}/versions/{version}", FeatureGroupVersion)

    def ingest_features(
        self,
        group: str,
        dataset: str,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
    ) -> IngestionJob:
        """Ingest a ready dataset version (`dataset:<name>[@<version>]`) into the group's offline store,
        at group version `version` (default: the latest)."""
        from cirrus_core.data.feature_models import IngestionJob

        body: dict[str, Any] = {"dataset": dataset}
        if version is not None:
            body["version"] = version
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        path = f"/data/features/{_seg(group)}/ingestions"
        return self._call("POST", path, IngestionJob, json=body, headers=headers)

    def get_ingestion(self, group: str, ingestion_id: str) -> IngestionJob:
        from cirrus_core.data.feature_models import IngestionJob

        path = f"/data/features/{_seg(group)}/ingestions/{_seg(ingestion_id)}"
        return self._call("GET", path, IngestionJob)

    def materialize_features(
        self, group: str, *, version: int | None = None, idempotency_key: str | None = None
    ) -> MaterializationJob:
        """Copy every entity's latest offline row to the online store."""
        from cirrus_core.data.feature_models import MaterializationJob

        body: dict[str, Any] = {} if version is None else {"version": version}
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        path = f"/data/features/{_seg(group)}/materializations"
        return self._call("POST", path, MaterializationJob, json=body, headers=headers)

    def get_materialization(self, group: str, materialization_id: str) -> MaterializationJob:
        """A materialisation: its status, then the entities found and the online rows written and skipped."""
        from cirrus_core.data.feature_models import MaterializationJob

        path = f"/data/features/{_seg(group)}/materializations/{_seg(materialization_id)}"
        return self._call("GET", path, MaterializationJob)

    def online_features(
        self, group: str, entity: str, *, features: Sequence[str] | None = None
    ) -> OnlineFeatures:
        """An entity's latest feature values, all or only `features` (404 entity_not_found when it has
        no row)."""
        from cirrus_core.data.feature_models import OnlineFeatures

        params = _query(entity=entity, features=",".join(features) if features else None)
        path = f"/data/features/{_seg(group)}/online"
        return self._call("GET", path, OnlineFeatures, params=params)

    def create_training_set(
        self, request: CreateTrainingSetRequest | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> TrainingSet:
        """Start building a point-in-time training set: `{dataset, labels: {dataset, label_time},
        feature_groups: [{group, version?, features?, max_age?, prefix?, entity_column?}]}`."""
        from cirrus_core.data.training_sets import TrainingSet

        if isinstance(request, BaseModel):
            body = request.model_dump(mode="json", exclude_none=True)
        else:
            body = dict(request)
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        return self._call("POST", "/data/training-sets", TrainingSet, json=body, headers=headers)

    def get_training_set(self, training_set_id: str) -> TrainingSet:
        """A training set: building, ready (with its dataset version, rows and hash) or failed."""
        from cirrus_core.data.training_sets import TrainingSet

        return self._call("GET", f"/data/training-sets/{_seg(training_set_id)}", TrainingSet)


def _api_error(response: requests.Response) -> CirrusApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return CirrusApiError(
            response.status_code,
            str(error.get("code", "")),
            str(error.get("message", "")),
            error.get("details"),
            body.get("request_id"),
        )
    # API Gateway's own refusals (401 Unauthorized, 403 Missing Authentication Token) use {"message"}.
    message = body.get("message", "") if isinstance(body, dict) else response.text[:200]
    return CirrusApiError(response.status_code, f"http_{response.status_code}", str(message))


def _seg(value: str) -> str:
    return quote(value, safe="")


def _query(**values: object) -> dict[str, str]:
    return {key: str(value) for key, value in values.items() if value is not None}
