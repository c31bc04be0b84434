"""Domain errors. Each class carries its HTTP status and error code: the mapping lives here, once."""

from __future__ import annotations

from typing import Any, ClassVar


class CirrusError(Exception):
    """Base of every error a Cirrus API reports to its caller."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers this refusal carries (Retry-After, for instance)."""
        return {}


class BadRequest(CirrusError):
    status = 400
    code = "bad_request"


class MalformedJson(BadRequest):
    code = "malformed_json"


class InvalidPaginationToken(BadRequest):
    code = "invalid_next_token"


class Unauthenticated(CirrusError):
    status = 401
    code = "unauthenticated"


class Forbidden(CirrusError):
    status = 403
    code = "forbidden"


class AccessDenied(Forbidden):
    """The policies do not permit this principal this action on this resource."""

    code = "access_denied"

    def __init__(self, action: str, reason: str, message: str, policies: list[str] | None = None) -> None:
        super().__init__(message, [{"action": action, "reason": reason, "policies": policies or []}])
        self.action = action
        self.reason = reason
        self.policies = policies or []


class RouteNotFound(CirrusError):
    status = 404
    code = "route_not_found"


class ModelNotFound(CirrusError):
    status = 404
    code = "model_not_found"


class VersionNotFound(CirrusError):
    status = 404
    code = "version_not_found"


class PolicyNotFound(CirrusError):
    status = 404
    code = "policy_not_found"


class Conflict(CirrusError):
    status = 409
    code = "conflict"


class BaselinePolicyProtected(Conflict):
    """A baseline policy changes through the repository and a deploy, never through the API."""

    code = "baseline_policy_protected"


class ModelRetired(Conflict):
    code = "model_retired"


class VersionRetired(Conflict):
    code = "version_retired"


class InvalidApprovalTransition(Conflict):
    code = "invalid_approval_transition"


class VersionNotApproved(Conflict):
    code = "version_not_approved"


class VersionRejected(Conflict):
    code = "version_rejected"


class AliasInUse(Conflict):
    code = "alias_in_use"


class NoRollbackTarget(Conflict):
    code = "no_rollback_target"


class NameCollision(Conflict):
    code = "name_collision"


class RequestInProgress(Conflict):
    code = "request_in_progress"


class PayloadTooLarge(CirrusError):
    status = 413
    code = "payload_too_large"


class UnprocessableEntity(CirrusError):
    status = 422
    code = "validation_error"


class InvalidArtifactLocation(UnprocessableEntity):
    code = "invalid_artifact_location"


class InvalidDatasetUri(UnprocessableEntity):
    code = "invalid_dataset_uri"


class UnknownParentVersion(UnprocessableEntity):
    code = "unknown_parent_version"


class ReservedName(UnprocessableEntity):
    code = "reserved_name"


class InvalidPolicy(UnprocessableEntity):
    """A Cedar policy that does not parse or does not validate against the schema."""

    code = "invalid_policy"


class IdempotencyKeyReused(UnprocessableEntity):
    code = "idempotency_key_reused"


class RateLimited(CirrusError):
    """The caller sent more requests than its rate allows; it may retry after `retry_after` seconds."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, [{"retry_after_seconds": retry_after}])
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TooMuchContention(CirrusError):
    """Optimistic concurrency gave up: the caller may retry after a short wait."""

    status = 429
    code = "too_much_contention"


# -- pipelines ------------------------------------------------------------------------------------


class PipelineNotFound(CirrusError):
    status = 404
    code = "pipeline_not_found"


class RunNotFound(CirrusError):
    status = 404
    code = "run_not_found"


class ScheduleNotFound(CirrusError):
    status = 404
    code = "schedule_not_found"


class UnknownWebhookProvider(CirrusError):
    status = 404
    code = "unknown_webhook_provider"


class InvalidWebhookSignature(Unauthenticated):
    """A webhook delivery whose signature or token does not match the provider's secret."""

    code = "invalid_webhook_signature"


class RunNotCancellable(Conflict):
    code = "run_not_cancellable"


class RunNotRetryable(Conflict):
    code = "run_not_retryable"


class InvalidPipeline(UnprocessableEntity):
    """A definition that is not a valid DAG of known steps; details name each problem."""

    code = "invalid_pipeline"


class InvalidSchedule(UnprocessableEntity):
    code = "invalid_schedule"


class InvalidRunParameters(UnprocessableEntity):
    code = "invalid_run_parameters"


class ReservedPipelineId(UnprocessableEntity):
    code = "reserved_pipeline_id"


class InvalidWebhookPayload(UnprocessableEntity):
    code = "invalid_webhook_payload"


class PipelineStepError(CirrusError):
    """Raised inside a pipeline step Lambda: Step Functions sees the class name as the error."""

    status = 500
    code = "pipeline_step_error"


class DataSourceUnavailable(PipelineStepError):
    """The run's data source cannot be read (missing object, empty prefix, bucket not allowed)."""

    code = "data_source_unavailable"


class EvaluationMissing(PipelineStepError):
    code = "evaluation_missing"


# -- data and the feature store -------------------------------------------------------------------


class BreakingFeatureChange(UnprocessableEntity):
    """A feature group change that breaks its readers, submitted without asking for a new version.

    `details` lists every breaking difference: `{feature, change, from, to}`.
    """

    code = "breaking_feature_change"


class FeatureGroupNameMismatch(UnprocessableEntity):
    """A proposed definition whose name is not the name of the group it is submitted to."""

    code = "feature_group_name_mismatch"


class InvalidFeatureRecords(UnprocessableEntity):
    """Records that do not fit their feature group version's schema; `details` names every problem."""

    code = "invalid_feature_records"


# -- serving: deployments -------------------------------------------------------------------------


class DeploymentNotFound(CirrusError):
    status = 404
    code = "deployment_not_found"


class DeploymentInProgress(Conflict):
    """Another deployment (or an undeploy) of the same environment is running."""

    code = "deployment_in_progress"


class ServingKindChange(Conflict):
    """SageMaker cannot turn an instance endpoint into a serverless one, or back: undeploy first."""

    code = "serving_kind_change"


class UnservableVersion(UnprocessableEntity):
    """Neither a pipeline's training job nor the archive's own `code/inference.py` can serve it."""

    code = "unservable_version"


class NoSamplePayloads(UnprocessableEntity):
    """Neither the version nor the request carries sample payloads: nothing to smoke-test with."""

    code = "no_sample_payloads"


class DeploymentStepError(CirrusError):
    """Raised inside a deployment state machine task: Step Functions sees the class name as the error."""

    status = 500
    code = "deployment_step_error"


class InvalidSamplePayloads(DeploymentStepError):
    """The version's sample payloads file is missing, too long, or has a line of the wrong shape."""

    code = "invalid_sample_payloads"


class EndpointFailed(DeploymentStepError):
    """An endpoint this deployment created went Failed (its FailureReason is the message)."""

    code = "endpoint_failed"


class EndpointUpdateFailed(DeploymentStepError):
    """A blue/green update ended on the old config (SageMaker's FailureReason is the message)."""

    code = "endpoint_update_failed"


class EndpointBusy(DeploymentStepError):
    """An endpoint is being created, updated or deleted by something else; the task retries later."""

    code = "endpoint_busy"


class SmokeTestFailed(DeploymentStepError):
    """A sample payload got an error or a non-2xx answer; `details` name each failed sample."""

    code = "smoke_test_failed"


class RollbackIncomplete(DeploymentStepError):
    """The restore point could not be brought back in time: someone has to look at the endpoint."""

    code = "rollback_incomplete"


# -- serving: inference ---------------------------------------------------------------------------


class EnvironmentNotDeployed(CirrusError):
    """The environment serves no version of the model (no deployment, or it is being taken down)."""

    status = 404
    code = "environment_not_deployed"


class UnsupportedMediaType(CirrusError):
    status = 415
    code = "unsupported_media_type"


class NotAcceptable(CirrusError):
    status = 406
    code = "not_acceptable"


class ModelInvocationFailed(CirrusError):
    """The model's container answered with an error; `details` carry its status and message."""

    status = 424
    code = "model_error"


class EndpointUnavailable(CirrusError):
    """The environment's endpoint cannot serve now (missing, not InService, throttled, failing)."""

    status = 503
    code = "endpoint_unavailable"


# -- serving: batch inference ---------------------------------------------------------------------


class BatchJobNotFound(CirrusError):
    status = 404
    code = "batch_job_not_found"


class InvalidBatchUri(UnprocessableEntity):
    """An input or output URI outside the artifact bucket and the allowlist, or not a safe s3:// URI."""

    code = "invalid_batch_uri"


class BatchStepError(CirrusError):
    """Raised inside a batch state machine step: Step Functions sees the class name as the error."""

    status = 500
    code = "batch_step_error"


# -- serving: edge packages -----------------------------------------------------------------------


class EdgePackageNotFound(CirrusError):
    status = 404
    code = "edge_package_not_found"


class EdgePackageNotReady(Conflict):
    """Verification needs a built package: this one is still building, or failed."""

    code = "edge_package_not_ready"


class EdgeStepError(CirrusError):
    """Raised inside an edge package step Lambda: Step Functions sees the class name as the error."""

    status = 500
    code = "edge_step_error"


class EdgeCompilationFailed(EdgeStepError):
    """The Neo compilation job failed, stopped, or did not finish within the polls allowed."""

    code = "edge_compilation_failed"


# -- monitoring: drift ----------------------------------------------------------------------------


class UnknownFeature(UnprocessableEntity):
    """A drift config names a feature the model's baseline does not have."""

    code = "unknown_feature"


class InvalidDriftConfig(UnprocessableEntity):
    """A drift config the engine cannot run (a bound the schema cannot express)."""

    code = "invalid_drift_config"


class InvalidEvaluationWindow(UnprocessableEntity):
    """An evaluation window that does not parse, is too short or too long, or ends in the future."""

    code = "invalid_evaluation_window"


class NoBaseline(Conflict):
    """The version has no drift baseline to compare with (build one: POST /monitoring/baselines)."""

    code = "no_baseline"


class InvalidBaselineSource(UnprocessableEntity):
    """A baseline's dataset outside the artifact buckets, unreadable, empty, or not the declared format."""

    code = "invalid_baseline_source"


class DriftRunNotFound(CirrusError):
    status = 404
    code = "drift_run_not_found"


class DriftReportNotReady(Conflict):
    """The run has not finished, or ended without a report (insufficient data, failure)."""

    code = "drift_report_not_ready"


class MonitoringStepError(CirrusError):
    """Raised inside a drift monitor step: Step Functions sees the class name as the error."""

    status = 500
    code = "monitoring_step_error"


# -- monitoring: metrics and ground truth (issue 8, owner: metrics) ---------------------------------


class UnknownInferenceId(UnprocessableEntity):
    """Ground truth for inference ids with no stored prediction (unknown, expired, or not answered)."""

    code = "unknown_inference_id"


class UnjoinableGroundTruth(UnprocessableEntity):
    """A label that cannot be compared with its prediction (rows, shape, or no stored prediction)."""

    code = "unjoinable_ground_truth"


class GroundTruthConflict(Conflict):
    """A label that differs from the one already recorded for the same prediction."""

    code = "ground_truth_conflict"


class UnknownMetric(UnprocessableEntity):
    code = "unknown_metric"


class InvalidResolution(UnprocessableEntity):
    code = "invalid_resolution"


class InvalidTimeRange(UnprocessableEntity):
    """A range whose bounds do not parse, have no time zone, or are inverted."""

    code = "invalid_time_range"


class TimeRangeTooLong(UnprocessableEntity):
    """A range longer than the resolution allows (1m: 1 day, 1h: 31 days, 1d: 400 days)."""

    code = "time_range_too_long"


class InvalidScrapeToken(Unauthenticated):
    """A Prometheus scrape without the scrape token (or with a wrong one)."""

    code = "invalid_scrape_token"


# -- monitoring: alert rules (issue 8, owner: alerts) -------------------------------------------------


class AlertNotFound(CirrusError):
    status = 404
    code = "alert_not_found"


class UnknownChannel(UnprocessableEntity):
    """An alert rule names a notification channel that does not exist."""

    code = "unknown_channel"


class AlertTypeChange(UnprocessableEntity):
    """PUT gave a rule another alert_type: a rule keeps its type."""

    code = "alert_type_change"


# -- monitoring: channels and deliveries (issue 8, owner: delivery) -----------------------------------


class ChannelNotFound(CirrusError):
    status = 404
    code = "channel_not_found"


class ChannelExists(Conflict):
    """A channel of that name exists already (PUT /channels/{name} changes it)."""

    code = "channel_exists"


class ChannelInUse(Conflict):
    """Alert rules still name the channel: change or delete them first."""

    code = "channel_in_use"


class DestinationRefusedError(UnprocessableEntity):
    """A channel destination that is not public https (or a listed local receiver): the message says why."""

    code = "destination_refused"


class DeliveryAlertNotFound(CirrusError):
    """No alert rule with this id (deliveries and test notifications hang off a rule)."""

    status = 404
    code = "alert_not_found"


class DeliveryRetry(Exception):
    """Raised inside the delivery sender for a batch item to retry after its backoff (not an API error)."""


# -- monitoring: live feed (issue 8, owner: feed) -----------------------------------------------------


class InvalidFeedToken(Unauthenticated):
    """A live feed connection whose token is missing, malformed, forged, expired or not for this pool."""

    code = "invalid_token"


class FeedConnectionUnknown(CirrusError):
    """A message on a connection the feed does not know (it never connected, or it expired)."""

    status = 410
    code = "connection_unknown"


class UnknownFeedAction(BadRequest):
    """A message whose `action` is not one the live feed answers."""

    code = "unknown_action"


class InvalidFeedMessage(UnprocessableEntity):
    """A live feed message that is not JSON, or not the shape its action takes."""

    code = "invalid_message"


class TooManyFeedSubscriptions(UnprocessableEntity):
    """A subscription that would take a connection past its limit of models."""

    code = "too_many_subscriptions"


# ---------------------------------------------------------------- data: data sources
class SourceNotFound(CirrusError):
    status = 404
    code = "source_not_found"


class SourceExists(Conflict):
    """A data source of that name exists already (sources are deleted and created, never replaced)."""

    code = "source_exists"


class UnknownSourceType(UnprocessableEntity):
    """A source type Cirrus has no connector for; the details list the types it has."""

    code = "unknown_source_type"


class InvalidConnection(UnprocessableEntity):
    """Connection parameters or options that do not fit the source's type; details name the fields."""

    code = "invalid_connection"


# ---------------------------------------------------------------- data: datasets and snapshot jobs
class DatasetNotFound(CirrusError):
    status = 404
    code = "dataset_not_found"


class DatasetVersionNotFound(CirrusError):
    status = 404
    code = "dataset_version_not_found"


class DatasetVersionNotReady(Conflict):
    """A version that is still building, or failed, named where a ready one is needed."""

    code = "dataset_version_not_ready"


class NoReadyDatasetVersion(UnprocessableEntity):
    """`dataset:<name>` without a version, for a dataset none of whose versions is ready."""

    code = "no_ready_version"


class DatasetKindMismatch(Conflict):
    """A producer adding a version to a dataset another kind of producer owns."""

    code = "dataset_kind_mismatch"


class InvalidDatasetReference(UnprocessableEntity):
    code = "invalid_dataset_reference"


class SnapshotJobNotFound(CirrusError):
    status = 404
    code = "snapshot_job_not_found"


class InvalidSnapshotRequest(UnprocessableEntity):
    """A snapshot request whose fields do not fit its source's type; details name the fields."""

    code = "invalid_snapshot_request"


class InvalidIncremental(UnprocessableEntity):
    """An incremental snapshot on a column the dataset does not have, or from a source that cannot."""

    code = "invalid_incremental"


class DatasetSourceMismatch(Conflict):
    """A snapshot into a dataset that was made from another source."""

    code = "dataset_source_mismatch"


class SnapshotStepError(CirrusError):
    """Raised inside a snapshot step on input it cannot read: Step Functions sees the class name."""

    status = 500
    code = "snapshot_step_error"


class SnapshotFailed(CirrusError):
    """The extraction failed; the message is the source's or driver's, with every secret value removed."""

    status = 500
    code = "snapshot_failed"


# ---------------------------------------------------------------- data: transformations
class TransformationNotFound(CirrusError):
    status = 404
    code = "transformation_not_found"


class TransformationRunNotFound(CirrusError):
    status = 404
    code = "transformation_run_not_found"


class InvalidTransformation(UnprocessableEntity):
    """A transformation that cannot run as declared (a module that does not parse, a bad runtime)."""

    code = "invalid_transformation"


class InvalidTransformationSql(UnprocessableEntity):
    """SQL that does not parse, is not a single query, or reads something other than its inputs."""

    code = "invalid_sql"


class PythonEntrypointMissing(UnprocessableEntity):
    code = "python_entrypoint_missing"


class UnknownProcessor(UnprocessableEntity):
    """A processor name Cirrus has none of; the details list the ones it has."""

    code = "unknown_processor"


class InvalidProcessorParameters(UnprocessableEntity):
    code = "invalid_processor_parameters"


class SparkTransformationsDisabled(UnprocessableEntity):
    """runtime glue or emr_serverless on a stack deployed without EnableSparkTransformations."""

    code = "spark_transformations_disabled"


class TransformationStepError(CirrusError):
    """A transformation state machine step that cannot go on: the run ends failed with this message."""

    status = 500
    code = "transformation_step_error"


class TransformationFailed(TransformationStepError):
    """The transformation itself failed: DuckDB refused the SQL, a Python module raised, a processor's
    column is missing. The message says why and is shown on the run and its version."""

    code = "transformation_failed"


# ---------------------------------------------------------------- data: the feature store
class FeatureGroupNotFound(CirrusError):
    status = 404
    code = "feature_group_not_found"


class FeatureGroupVersionNotFound(CirrusError):
    status = 404
    code = "feature_group_version_not_found"


class FeatureIngestionNotFound(CirrusError):
    status = 404
    code = "ingestion_not_found"


class MaterializationNotFound(CirrusError):
    status = 404
    code = "materialization_not_found"


class EntityNotFound(CirrusError):
    """No online row for this entity of the group (never written, or written to another group)."""

    status = 404
    code = "entity_not_found"


class TrainingSetNotFound(CirrusError):
    status = 404
    code = "training_set_not_found"


class FeatureNotInGroup(UnprocessableEntity):
    """A request names features the feature group version does not define; details name them."""

    code = "feature_not_in_group"


class InvalidEntityKey(UnprocessableEntity):
    """An entity key that cannot be a value of the group's key column (`abc` for an int64 key)."""

    code = "invalid_entity_key"


class IncompatibleFeatureData(UnprocessableEntity):
    """A dataset that does not fit a feature group version: a column missing, a type that cannot be
    cast, values that do not cast or nulls where none are allowed; details name every problem."""

    code = "incompatible_feature_data"


class InvalidTrainingSetRequest(UnprocessableEntity):
    """Labels without the named time or entity columns, or output columns that clash; details say which."""

    code = "invalid_training_set"


class FeatureJobStepError(CirrusError):
    """Raised inside a feature job's step: Step Functions sees the class name as the error."""

    status = 500
    code = "feature_job_step_error"
