"""The monitoring API's request models: evaluation windows, drift run windows, drift configs and the
spec's alert payload. What they refuse never reaches a service (the API answers 422)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from cirrus_core.monitoring.models import (
    DriftConfigRequest,
    StartDriftRunRequest,
    window_length,
)
from cirrus_core.registry.primitives import Environment


def refusal(model: type[Any], document: dict[str, Any]) -> list[dict[str, Any]]:
    """The validation errors of `document` (the test fails when it is accepted)."""
    with pytest.raises(ValidationError) as refused:
        model.model_validate(document)
    return [dict(error) for error in refused.value.errors(include_url=False)]


# -- evaluation windows ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "length"),
    [
        ("5m", timedelta(minutes=5)),
        ("90m", timedelta(minutes=90)),
        ("1h", timedelta(hours=1)),
        ("36h", timedelta(hours=36)),
        ("7d", timedelta(days=7)),
    ],
)
def test_an_evaluation_window_is_a_count_of_minutes_hours_or_days(window: str, length: timedelta) -> None:
    assert window_length(window) == length


@pytest.mark.parametrize("window", ["", "h", "0h", "01h", "1x", "1H", "1.5h", "-1h", " 1h", "1h ", "100000m"])
def test_what_is_not_an_evaluation_window_has_no_length(window: str) -> None:
    with pytest.raises(ValueError, match="not an evaluation window"):
        window_length(window)


# -- drift run windows --------------------------------------------------------------------------------


def test_a_run_request_may_be_empty_checking_prod_over_the_default_window() -> None:
    request = StartDriftRunRequest.model_validate({})

    assert request.environment is Environment.PROD
    assert (request.window, request.window_start, request.window_end) == (None, None, None)


def test_a_run_window_may_be_given_as_its_start_and_end_in_any_time_zone() -> None:
    request = StartDriftRunRequest.model_validate(
        {"window_start": "2024-06-01T12:00:00+02:00", "window_end": "2024-06-01T11:00:00Z"}
    )

    assert request.window_start == datetime(2024, 6, 1, 10, tzinfo=UTC)
    assert request.window_end == datetime(2024, 6, 1, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"window": "1h", "window_start": "2024-06-01T10:00:00Z", "window_end": "2024-06-01T11:00:00Z"},
            "not both",
        ),
        ({"window": "1h", "window_end": "2024-06-01T11:00:00Z"}, "not both"),
        ({"window_start": "2024-06-01T10:00:00Z"}, "give both window_start and window_end"),
        ({"window_end": "2024-06-01T10:00:00Z"}, "give both window_start and window_end"),
        ({"window_start": "2024-06-01T10:00:00", "window_end": "2024-06-01T11:00:00Z"}, "need a time zone"),
        ({"window_start": "2024-06-01T10:00:00Z", "window_end": "2024-06-01T11:00:00"}, "need a time zone"),
        ({"window_start": "2024-06-01T11:00:00Z", "window_end": "2024-06-01T10:00:00Z"}, "must be after"),
        ({"window_start": "2024-06-01T11:00:00Z", "window_end": "2024-06-01T11:00:00Z"}, "must be after"),
        (
            {"window_start": "2024-06-01T00:00:00Z", "window_end": "2024-06-08T00:00:01Z"},
            "longer than 7 days",
        ),
        ({"window": "4m"}, "shorter than 5"),
        ({"window": "8d"}, "longer than 7 days"),
    ],
)
def test_a_run_window_that_is_ambiguous_naive_reversed_or_out_of_bounds_is_refused(
    document: dict[str, Any], message: str
) -> None:
    (error,) = refusal(StartDriftRunRequest, document)

    assert message in error["msg"]


def test_a_run_window_ending_in_the_future_is_refused() -> None:
    end = datetime.now(UTC) + timedelta(hours=1)
    document = {"window_start": (end - timedelta(hours=2)).isoformat(), "window_end": end.isoformat()}

    (error,) = refusal(StartDriftRunRequest, document)

    assert "in the future" in error["msg"]


def test_a_run_window_ending_now_in_another_time_zone_is_accepted() -> None:
    end = datetime.now(timezone(timedelta(hours=-5)))
    document = {"window_start": (end - timedelta(hours=1)).isoformat(), "window_end": end.isoformat()}

    assert StartDriftRunRequest.model_validate(document).window_end == end


def test_a_run_request_with_an_unknown_field_is_refused() -> None:
    (error,) = refusal(StartDriftRunRequest, {"model_id": "fraud_detection_v2"})

    assert error["type"] == "extra_forbidden"


# -- drift configs --------------------------------------------------------------------------------------


def test_the_default_config_controls_false_discoveries_and_calibrates_at_the_95th_percentile() -> None:
    config = DriftConfigRequest()

    assert config.engine_config() == {
        "fdr": 0.05,
        "quantile": 0.95,
        "floors": {"psi": 0.01, "js": 0.002},
        "thresholds": {},
        "feature_thresholds": {},
        "decision": ["test", "psi"],
        "drift_share": 0.25,
        "min_rows": 100,
        "resamples": 2000,
    }


def test_the_engine_is_given_only_the_thresholds_that_were_set() -> None:
    config = DriftConfigRequest.model_validate(
        {
            "thresholds": {"psi": 0.2},
            "feature_thresholds": {"amount": {"ks": 0.01, "js": None}, "age": {}},
        }
    )

    engine = config.engine_config()

    assert engine["thresholds"] == {"psi": 0.2}
    assert engine["feature_thresholds"] == {"amount": {"ks": 0.01}}


@pytest.mark.parametrize(
    "document",
    [
        {"fdr": 0.5},
        {"fdr": 1e-6},
        {"quantile": 0.5},
        {"quantile": 0.999},
        {"min_rows": 30},
        {"decision": ["js"]},
        {"decision": ["test", "psi", "js"]},
        {"drift_share": 1},
        {"resamples": 200},
        {"thresholds": {"ks": 0.5, "chi_square": 0.001, "psi": 20, "js": 1}},
    ],
)
def test_a_config_at_its_bounds_is_accepted(document: dict[str, Any]) -> None:
    DriftConfigRequest.model_validate(document)


@pytest.mark.parametrize(
    ("document", "location"),
    [
        ({"fdr": 0}, ("fdr",)),
        ({"fdr": 0.6}, ("fdr",)),
        ({"quantile": 1.0}, ("quantile",)),
        ({"quantile": 0.49}, ("quantile",)),
        ({"min_rows": 29}, ("min_rows",)),
        ({"drift_share": 0}, ("drift_share",)),
        ({"resamples": 199}, ("resamples",)),
        ({"decision": []}, ("decision",)),
        ({"decision": ["test", "test"]}, ()),
        ({"decision": ["test", "ks"]}, ("decision", 1)),
        ({"thresholds": {"ks": 0}}, ("thresholds", "ks")),
        ({"thresholds": {"psi": 21}}, ("thresholds", "psi")),
        ({"thresholds": {"js": 1.5}}, ("thresholds", "js")),
        ({"thresholds": {"wasserstein": 0.1}}, ("thresholds", "wasserstein")),
        (
            {"feature_thresholds": {"amount": {"chi_square": 0.9}}},
            ("feature_thresholds", "amount", "chi_square"),
        ),
        ({"feature_thresholds": {"": {"ks": 0.01}}}, ("feature_thresholds", "", "[key]")),
        ({"floors": {"js": -0.1}}, ("floors", "js")),
        ({"alpha": 0.05}, ("alpha",)),
    ],
)
def test_a_config_out_of_its_bounds_is_refused_naming_the_field(
    document: dict[str, Any], location: tuple[Any, ...]
) -> None:
    (error,) = refusal(DriftConfigRequest, document)

    assert error["loc"] == location


def test_a_decision_listing_a_group_twice_is_refused_as_such() -> None:
    (error,) = refusal(DriftConfigRequest, {"decision": ["psi", "test", "psi"]})

    assert "decision lists a group twice" in error["msg"]
