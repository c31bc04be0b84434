"""Settings of the registry's service beyond the core ones, read once per cold start."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field


class RegistrySettings(BaseModel):
    """What the registry reads from its environment besides `CoreSettings`. Names are the aliases."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    # Where the monitoring module writes the baselines it builds (POST /api/v1/monitoring/baselines);
    # a version's `baseline_uri` may point there as well as into the artifact buckets. Unset: only
    # the artifact buckets.
    monitoring_bucket: str = Field(default="", alias="MONITORING_BUCKET")

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> RegistrySettings:
        """Build settings from an environment mapping (the process environment by default)."""
        source = os.environ if environ is None else environ
        known = {field.alias for field in cls.model_fields.values() if field.alias}
        return cls.model_validate({key: value for key, value in source.items() if key in known})
