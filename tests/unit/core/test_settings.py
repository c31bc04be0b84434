"""Settings come from the function's environment, once per cold start, with safe defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cirrus_core.settings import CoreSettings, get_settings


def test_an_empty_environment_gives_the_defaults() -> None:
    settings = CoreSettings.from_environ({})

    assert settings.stage == "dev"
    assert settings.artifact_bucket_allowlist == ()
    assert settings.cors_allow_origin == "*"
    assert settings.max_body_bytes == 65_536


def test_each_setting_is_read_from_its_environment_variable() -> None:
    settings = CoreSettings.from_environ(
        {
            "CIRRUS_STAGE": "prod",
            "REGISTRY_TABLE_NAME": "registry",
            "IDEMPOTENCY_TABLE_NAME": "idempotency",
            "EVENT_BUS_NAME": "bus",
            "ARTIFACT_BUCKET": "artifacts",
            "CORS_ALLOW_ORIGIN": "https://app.example.com",
            "MAX_BODY_BYTES": "1024",
        }
    )

    assert settings.stage == "prod"
    assert settings.registry_table == "registry"
    assert settings.idempotency_table == "idempotency"
    assert settings.event_bus_name == "bus"
    assert settings.artifact_bucket == "artifacts"
    assert settings.cors_allow_origin == "https://app.example.com"
    assert settings.max_body_bytes == 1024


@pytest.mark.parametrize(
    ("raw", "buckets"),
    [
        pytest.param("shared-models", ("shared-models",), id="one"),
        pytest.param("a,b", ("a", "b"), id="two"),
        pytest.param(" a , b ", ("a", "b"), id="spaces-trimmed"),
        pytest.param("a,,b,", ("a", "b"), id="empty-entries-dropped"),
        pytest.param("", (), id="empty"),
        pytest.param(" , ", (), id="only-separators"),
    ],
)
def test_the_bucket_allowlist_is_a_comma_separated_list(raw: str, buckets: tuple[str, ...]) -> None:
    settings = CoreSettings.from_environ({"ARTIFACT_BUCKET_ALLOWLIST": raw})

    assert settings.artifact_bucket_allowlist == buckets


def test_unrelated_environment_variables_are_ignored() -> None:
    settings = CoreSettings.from_environ({"PATH": "/usr/bin", "stage": "prod"})

    assert settings == CoreSettings.from_environ({})


@pytest.mark.parametrize("value", ["0", "-1", "lots"])
def test_a_body_limit_that_is_not_a_positive_number_is_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        CoreSettings.from_environ({"MAX_BODY_BYTES": value})


def test_settings_are_frozen() -> None:
    settings = CoreSettings.from_environ({})

    with pytest.raises(ValidationError):
        settings.stage = "prod"  # type: ignore[misc]


def test_the_process_environment_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRRUS_STAGE", "staging")
    first = get_settings()

    monkeypatch.setenv("CIRRUS_STAGE", "prod")

    assert first.stage == "staging"
    assert get_settings() is first
