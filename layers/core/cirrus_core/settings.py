"""Settings read once per cold start from the function's environment."""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Annotated, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

if TYPE_CHECKING:
    from collections.abc import Mapping


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


CsvTuple = Annotated[tuple[str, ...], BeforeValidator(_split_csv)]


class EnvironmentSettings(BaseModel):
    """Settings read from environment variables: each field's alias is its variable's name."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Build settings from an environment mapping (the process environment by default)."""
        source = os.environ if environ is None else environ
        known = {field.alias for field in cls.model_fields.values() if field.alias}
        return cls.model_validate({key: value for key, value in source.items() if key in known})


class CoreSettings(EnvironmentSettings):
    """Settings every function may read."""

    stage: str = Field(default="dev", alias="CIRRUS_STAGE")
    registry_table: str = Field(default="", alias="REGISTRY_TABLE_NAME")
    idempotency_table: str = Field(default="", alias="IDEMPOTENCY_TABLE_NAME")
    security_table: str = Field(default="", alias="SECURITY_TABLE_NAME")
    audit_table: str = Field(default="", alias="AUDIT_TABLE_NAME")
    audit_archive_bucket: str = Field(default="", alias="AUDIT_ARCHIVE_BUCKET")
    audit_signing_key_id: str = Field(default="", alias="AUDIT_SIGNING_KEY_ID")
    event_bus_name: str = Field(default="", alias="EVENT_BUS_NAME")
    artifact_bucket: str = Field(default="", alias="ARTIFACT_BUCKET")
    artifact_bucket_allowlist: CsvTuple = Field(default=(), alias="ARTIFACT_BUCKET_ALLOWLIST")
    cors_allow_origin: str = Field(default="*", alias="CORS_ALLOW_ORIGIN")
    max_body_bytes: int = Field(default=65_536, gt=0, alias="MAX_BODY_BYTES")


@functools.cache
def get_settings() -> CoreSettings:
    """The settings of this execution environment, read on first use."""
    return CoreSettings.from_environ()
