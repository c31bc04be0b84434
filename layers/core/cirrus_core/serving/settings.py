"""Settings of the serving functions, read once per cold start."""

from __future__ import annotations

import functools
import os

from pydantic import BaseModel, ConfigDict, Field


class ServingSettings(BaseModel):
    """What serving functions read from their environment. Names are the field aliases."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    serving_table: str = Field(default="", alias="SERVING_TABLE_NAME")
    capture_bucket: str = Field(default="", alias="CAPTURE_BUCKET")
    sagemaker_role_arn: str = Field(default="", alias="SAGEMAKER_ROLE_ARN")
    sklearn_image_uri: str = Field(default="", alias="SKLEARN_IMAGE_URI")
    xgboost_image_uri: str = Field(default="", alias="XGBOOST_IMAGE_URI")
    deployment_state_machine_arn: str = Field(default="", alias="DEPLOYMENT_STATE_MACHINE_ARN")
    batch_state_machine_arn: str = Field(default="", alias="BATCH_STATE_MACHINE_ARN")
    edge_state_machine_arn: str = Field(default="", alias="EDGE_STATE_MACHINE_ARN")
    edge_signing_key_id: str = Field(default="", alias="EDGE_SIGNING_KEY_ID")
    # How long the deployment machine waits between DescribeEndpoint polls (AWS: tens of seconds).
    endpoint_poll_seconds: int = Field(default=30, ge=1, le=300, alias="ENDPOINT_POLL_SECONDS")
    # How long a deployment waits for an endpoint to be InService (or back on its old config).
    endpoint_wait_seconds: int = Field(default=3600, ge=60, le=14_400, alias="ENDPOINT_WAIT_SECONDS")
    # The baking period of a blue/green update, during which its rollback alarms are watched.
    deployment_bake_seconds: int = Field(default=300, ge=0, le=3600, alias="DEPLOYMENT_BAKE_SECONDS")
    # Edge packages: how long the machine waits between DescribeCompilationJob polls, and how many
    # polls it makes before giving up (Neo compiles in minutes; StoppingCondition caps it too).
    edge_poll_seconds: int = Field(default=20, ge=1, le=300, alias="EDGE_COMPILATION_POLL_SECONDS")
    edge_max_polls: int = Field(default=180, ge=1, le=1000, alias="EDGE_COMPILATION_MAX_POLLS")
    # Set by the local cloud for every function it runs: its Neo compilation only copies the model.
    local_cloud: bool = Field(default=False, alias="CIRRUS_LOCAL_CLOUD")
    # Largest request body the predict route forwards to an endpoint (SageMaker's own cap is 6 MB;
    # API Gateway's payload limit is 10 MB).
    max_payload_bytes: int = Field(default=5 * 1024 * 1024, ge=1, alias="MAX_PREDICT_PAYLOAD_BYTES")

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> ServingSettings:
        """Build settings from an environment mapping (the process environment by default)."""
        source = os.environ if environ is None else environ
        known = {field.alias for field in cls.model_fields.values() if field.alias}
        return cls.model_validate({key: value for key, value in source.items() if key in known})


@functools.cache
def get_serving_settings() -> ServingSettings:
    """The serving settings of this execution environment, read on first use."""
    return ServingSettings.from_environ()
