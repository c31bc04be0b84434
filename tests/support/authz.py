"""The role-by-action table the baseline policies implement, and callers per role, for tests."""

from __future__ import annotations

from cirrus_core.caller import Caller
from cirrus_core.principal import Principal

ROLES = ("ml_engineer", "data_scientist", "model_reviewer", "admin")
EVERYONE = frozenset(ROLES)
REGISTRANTS = frozenset({"ml_engineer", "data_scientist", "admin"})
DEPLOYERS = frozenset({"ml_engineer", "admin"})
REVIEWERS = frozenset({"model_reviewer", "admin"})
ADMINS = frozenset({"admin"})
RUNNERS = frozenset({"ml_engineer", "data_scientist", "admin"})
DATA_USERS = frozenset({"ml_engineer", "data_scientist", "admin"})

# (action, context) -> the roles the baseline permits, on a version someone else registered.
EXPECTED: dict[tuple[str, str | None], frozenset[str]] = {
    ("RegisterModel", None): REGISTRANTS,
    ("RequestReview", None): REGISTRANTS,
    ("ListModels", None): EVERYONE,
    ("GetModel", None): EVERYONE,
    ("ListVersions", None): EVERYONE,
    ("GetVersion", None): EVERYONE,
    ("GetLineage", None): EVERYONE,
    ("ListPromotions", None): EVERYONE,
    ("ApproveVersion", None): REVIEWERS,
    ("RejectVersion", None): REVIEWERS,
    ("PromoteModel", "dev"): REGISTRANTS,
    ("PromoteModel", "staging"): DEPLOYERS,
    ("PromoteModel", "prod"): DEPLOYERS,
    ("RollbackModel", "staging"): DEPLOYERS,
    ("RetireModel", None): DEPLOYERS,
    ("ListPolicies", None): ADMINS,
    ("PutPolicy", None): ADMINS,
    ("DeletePolicy", None): ADMINS,
    ("EvaluatePolicy", None): ADMINS,
    ("ReadAuditLog", None): REVIEWERS,
    ("VerifyAuditLog", None): REVIEWERS,
    ("ListPipelines", None): EVERYONE,
    ("GetPipeline", None): EVERYONE,
    ("ListPipelineRuns", None): EVERYONE,
    ("GetPipelineRun", None): EVERYONE,
    ("ListPipelineSchedules", None): EVERYONE,
    ("ExecutePipeline", None): RUNNERS,
    ("SchedulePipeline", None): RUNNERS,
    ("DeletePipelineSchedule", None): RUNNERS,
    ("CancelPipelineRun", None): RUNNERS,
    ("RetryPipelineRun", None): RUNNERS,
    ("PutPipeline", None): ADMINS,
    ("DeployModel", "staging"): DEPLOYERS,
    ("DeployModel", "dev"): DEPLOYERS,
    ("UndeployModel", "prod"): DEPLOYERS,
    ("ListDeployments", None): EVERYONE,
    ("GetDeployment", None): EVERYONE,
    ("InvokeModel", "prod"): DATA_USERS,
    ("StartBatchJob", None): DATA_USERS,
    ("ListBatchJobs", None): EVERYONE,
    ("GetBatchJob", None): EVERYONE,
    ("CreateEdgePackage", None): DEPLOYERS,
    ("ListEdgePackages", None): EVERYONE,
    ("GetEdgePackage", None): EVERYONE,
    ("VerifyEdgePackage", None): EVERYONE,
    ("GetDriftConfig", None): EVERYONE,
    ("PutDriftConfig", None): ADMINS,
    ("CreateBaseline", None): DATA_USERS,
    ("CreateAlert", None): ADMINS,
    ("StartDriftRun", None): DATA_USERS,
    ("ListDriftRuns", None): EVERYONE,
    ("GetDriftRun", None): EVERYONE,
    ("PutGroundTruth", None): DATA_USERS,
    ("GetModelMetrics", None): EVERYONE,
    ("ScrapeMetrics", None): EVERYONE,
    ("ListAlerts", None): EVERYONE,
    ("GetAlert", None): EVERYONE,
    ("UpdateAlert", None): ADMINS,
    ("DeleteAlert", None): ADMINS,
    ("TestAlert", None): ADMINS,
    ("ListAlertDeliveries", None): EVERYONE,
    ("ListChannels", None): ADMINS,
    ("GetChannel", None): ADMINS,
    ("CreateChannel", None): ADMINS,
    ("UpdateChannel", None): ADMINS,
    ("DeleteChannel", None): ADMINS,
    ("WatchFeed", None): EVERYONE,
    # The data module: sources are system configuration; everything else is data access.
    ("CreateDataSource", None): ADMINS,
    ("DeleteDataSource", None): ADMINS,
    ("ListDataSources", None): DATA_USERS,
    ("GetDataSource", None): DATA_USERS,
    ("TestDataSource", None): DATA_USERS,
    ("ListDatasets", None): DATA_USERS,
    ("GetDataset", None): DATA_USERS,
    ("CreateSnapshot", None): DATA_USERS,
    ("GetSnapshotJob", None): DATA_USERS,
    ("ReadDatasetSample", None): DATA_USERS,
    ("PutTransformation", None): DATA_USERS,
    ("ListTransformations", None): DATA_USERS,
    ("GetTransformation", None): DATA_USERS,
    ("RunTransformation", None): DATA_USERS,
    ("PutFeatureGroup", None): DATA_USERS,
    ("ListFeatureGroups", None): DATA_USERS,
    ("GetFeatureGroup", None): DATA_USERS,
    ("IngestFeatures", None): DATA_USERS,
    ("PutFeatureRecords", None): DATA_USERS,
    ("MaterializeFeatures", None): DATA_USERS,
    ("GetOnlineFeatures", None): DATA_USERS,
    ("CreateTrainingSet", None): DATA_USERS,
    ("GetTrainingSet", None): DATA_USERS,
}

# The users of the unit tests: one per role, each with a subject of their own.
USERS = {
    "ml_engineer": ("7d8f3a2e-1b4c-4e5f-9a6b-2c3d4e5f6a7b", "alice@example.com"),
    "data_scientist": ("5c4b3a29-1807-4f6e-9d5c-4b3a29180706", "dana@example.com"),
    "model_reviewer": ("0b6c4f0e-9d1a-4c55-8f3e-5a2b7c9d1e2f", "bob@example.com"),
    "admin": ("3e1d2c4b-5a69-4f7e-8d0c-1b2a3c4d5e6f", "ada@example.com"),
}


def principal(role: str, *, extra_groups: tuple[str, ...] = ()) -> Principal:
    """The unit tests' user of `role`."""
    sub, username = USERS[role]
    return Principal(sub=sub, username=username, groups=frozenset({role, *extra_groups}))


def caller(role: str) -> Caller:
    """A caller of `role`, as the entry point builds it."""
    return Caller(principal(role))


def claims(role: str, *, groups: str | None = None) -> dict[str, str]:
    """Authorizer claims of the unit tests' user of `role` (in `groups`, by default only `role`)."""
    sub, username = USERS[role]
    return {"sub": sub, "cognito:username": username, "cognito:groups": groups or role}
