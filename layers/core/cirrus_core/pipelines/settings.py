"""Settings of the pipeline functions, read once per cold start."""

from __future__ import annotations

import functools
import os

from pydantic import BaseModel, ConfigDict, Field


class PipelineSettings(BaseModel):
    """What pipeline functions read from their environment. Names are the field aliases."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    pipelines_table: str = Field(default="", alias="PIPELINES_TABLE_NAME")
    sagemaker_role_arn: str = Field(default="", alias="SAGEMAKER_ROLE_ARN")
    sklearn_image_uri: str = Field(default="", alias="SKLEARN_IMAGE_URI")
    xgboost_image_uri: str = Field(default="", alias="XGBOOST_IMAGE_URI")
    training_pipeline_arn: str = Field(default="", alias="TRAINING_PIPELINE_ARN")
    state_machine_role_arn: str = Field(default="", alias="PIPELINE_STATE_MACHINE_ROLE_ARN")
    state_machine_prefix: str = Field(default="cirrus-dev-pipeline-", alias="PIPELINE_STATE_MACHINE_PREFIX")
    scheduler_group: str = Field(default="", alias="SCHEDULER_GROUP_NAME")
    scheduler_role_arn: str = Field(default="", alias="SCHEDULER_ROLE_ARN")
    github_secret_arn: str = Field(default="", alias="GITHUB_WEBHOOK_SECRET_ARN")
    gitlab_secret_arn: str = Field(default="", alias="GITLAB_WEBHOOK_SECRET_ARN")
    prepare_run_function_arn: str = Field(default="", alias="PREPARE_RUN_FUNCTION_ARN")
    notify_run_function_arn: str = Field(default="", alias="NOTIFY_RUN_FUNCTION_ARN")
    collect_evaluation_function_arn: str = Field(default="", alias="COLLECT_EVALUATION_FUNCTION_ARN")
    register_version_function_arn: str = Field(default="", alias="REGISTER_VERSION_FUNCTION_ARN")
    await_approval_function_arn: str = Field(default="", alias="AWAIT_APPROVAL_FUNCTION_ARN")
    profile_baseline_function_arn: str = Field(default="", alias="PROFILE_BASELINE_FUNCTION_ARN")
    deployment_state_machine_arn: str = Field(default="", alias="DEPLOYMENT_STATE_MACHINE_ARN")
    # `Profile baseline` (docs/pipelines.md, "Baseline"): how many rows of the training split it reads
    # at most, and how many values of each numeric feature the baseline keeps as its sorted sample.
    baseline_max_rows: int = Field(default=200_000, gt=0, le=10_000_000, alias="BASELINE_MAX_ROWS")
    baseline_sample_size: int = Field(default=10_000, gt=0, le=1_000_000, alias="BASELINE_SAMPLE_SIZE")

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> PipelineSettings:
        """Build settings from an environment mapping (the process environment by default)."""
        source = os.environ if environ is None else environ
        known = {field.alias for field in cls.model_fields.values() if field.alias}
        return cls.model_validate({key: value for key, value in source.items() if key in known})

    def placeholders(self) -> dict[str, str]:
        """The compiled ASL's `${...}` placeholders and what fills them here."""
        return {
            "PrepareRunFunctionArn": self.prepare_run_function_arn,
            "NotifyRunFunctionArn": self.notify_run_function_arn,
            "CollectEvaluationFunctionArn": self.collect_evaluation_function_arn,
            "RegisterVersionFunctionArn": self.register_version_function_arn,
            "AwaitApprovalFunctionArn": self.await_approval_function_arn,
            "ProfileBaselineFunctionArn": self.profile_baseline_function_arn,
            "ModelDeploymentStateMachineArn": self.deployment_state_machine_arn,
            "SageMakerRoleArn": self.sagemaker_role_arn,
        }


@functools.cache
def get_pipeline_settings() -> PipelineSettings:
    """The pipeline settings of this execution environment, read on first use."""
    return PipelineSettings.from_environ()
