"""Settings of the data functions, read once per cold start."""

from __future__ import annotations

import functools
import os

from pydantic import BaseModel, ConfigDict, Field


class DataSettings(BaseModel):
    """What the data functions read from their environment. Names are the field aliases."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    data_table: str = Field(default="", alias="DATA_TABLE_NAME")
    data_bucket: str = Field(default="", alias="DATA_BUCKET")
    feature_online_table: str = Field(default="", alias="FEATURE_ONLINE_TABLE_NAME")
    # The prefix of every source's secret: `<prefix>/<source name>`.
    source_secret_prefix: str = Field(default="cirrus/local/data-sources", alias="DATA_SOURCE_SECRET_PREFIX")
    source_secrets_key_id: str = Field(default="", alias="DATA_SOURCE_SECRETS_KEY_ID")
    snapshot_state_machine_arn: str = Field(default="", alias="SNAPSHOT_STATE_MACHINE_ARN")
    transformation_state_machine_arn: str = Field(default="", alias="TRANSFORMATION_STATE_MACHINE_ARN")
    feature_state_machine_arn: str = Field(default="", alias="FEATURE_STATE_MACHINE_ARN")
    # Whether the template created the Glue job and EMR Serverless application (EnableSparkTransformations).
    spark_transformations_enabled: bool = Field(default=False, alias="SPARK_TRANSFORMATIONS_ENABLED")
    # Rows per Parquet row group and per fetch from a database cursor: memory stays bounded by it.
    extract_chunk_rows: int = Field(default=50_000, ge=100, le=1_000_000, alias="EXTRACT_CHUNK_ROWS")
    # Rows per Parquet part file of a snapshot.
    part_rows: int = Field(default=1_000_000, ge=1_000, le=50_000_000, alias="SNAPSHOT_PART_ROWS")


@functools.cache
def get_data_settings() -> DataSettings:
    """The data settings of this execution environment."""
    return DataSettings.model_validate(os.environ)
