"""Feature group definitions, the versioning rules, reader compatibility, and record validation."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from cirrus_core.data.features import (
    MAX_REPORTED_PROBLEMS,
    ChangeKind,
    ChangeType,
    FeatureGroupDefinition,
    FeatureGroupVersion,
    RecordProblemKind,
    check_records,
    compatible_reader,
    plan_change,
    validate_records,
)
from cirrus_core.errors import (
    BreakingFeatureChange,
    FeatureGroupNameMismatch,
    InvalidFeatureRecords,
    UnprocessableEntity,
)

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _definition(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "customer_activity",
        "entity_key": {"name": "customer_id", "type": "string"},
        "event_time": "event_time",
        "features": [
            {"name": "orders_7d", "type": "int64", "nullable": False, "description": "Orders in 7 days."},
            {"name": "spend_7d", "type": "float64"},
            {"name": "segment", "type": "string"},
        ],
        "owner": "growth-team",
        "description": "What customers did lately.",
        "tags": {"domain": "growth"},
    }
    body.update(overrides)
    return body


def _group(**overrides: Any) -> FeatureGroupDefinition:
    return FeatureGroupDefinition.model_validate(_definition(**overrides))


def _features(*changes: dict[str, Any], drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The base features with some replaced or added (by name) and some dropped."""
    by_name = {feature["name"]: feature for feature in _definition()["features"]}
    for change in changes:
        by_name[change["name"]] = {**by_name.get(change["name"], {}), **change}
    return [feature for name, feature in by_name.items() if name not in drop]


def _version(
    definition: FeatureGroupDefinition | None = None, number: int = 1, since: int = 1
) -> FeatureGroupVersion:
    return FeatureGroupVersion(
        definition=definition or _group(),
        version=number,
        parent_version=number - 1 or None,
        breaking=number == since and number > 1,
        compatible_since=since,
        created_at=NOW,
        created_by="alice",
    )


# -- definitions ------------------------------------------------------------------------------------


def test_a_definition_lists_its_columns_entity_key_and_event_time_first() -> None:
    assert _group().columns == ["customer_id", "event_time", "orders_7d", "spend_7d", "segment"]


@pytest.mark.parametrize("name", ["Orders", "_orders", "7d_orders", "orders-7d", "o" * 65, ""])
def test_a_feature_name_outside_the_pattern_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        _group(features=[{"name": name, "type": "int64"}])


def test_a_feature_named_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="features named more than once: segment"):
        _group(features=[*_features(), {"name": "segment", "type": "int64"}])


@pytest.mark.parametrize(("column", "role"), [("customer_id", "entity key"), ("event_time", "event time")])
def test_a_feature_cannot_take_the_name_of_the_key_or_time_column(column: str, role: str) -> None:
    with pytest.raises(ValidationError, match=f"feature '{column}' has the name of the {role} column"):
        _group(features=[*_features(), {"name": column, "type": "string"}])


def test_the_entity_key_and_event_time_are_different_columns() -> None:
    with pytest.raises(ValidationError, match="the entity key and the event time are both"):
        _group(event_time="customer_id")


@pytest.mark.parametrize("count", [0, 501])
def test_a_group_has_between_one_and_500_features(count: int) -> None:
    with pytest.raises(ValidationError):
        _group(features=[{"name": f"f{index}", "type": "float64"} for index in range(count)])


def test_a_group_may_have_500_features() -> None:
    assert (
        len(_group(features=[{"name": f"f{index}", "type": "float64"} for index in range(500)]).features)
        == 500
    )


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        _group(retention_days=30)


def test_the_entity_key_is_an_int64_or_a_string() -> None:
    with pytest.raises(ValidationError):
        _group(entity_key={"name": "customer_id", "type": "float64"})


def test_nullable_takes_a_boolean_only() -> None:
    with pytest.raises(ValidationError):
        _group(features=[{"name": "orders_7d", "type": "int64", "nullable": "no"}])


def test_a_vector_feature_needs_a_dimension() -> None:
    with pytest.raises(ValidationError, match="needs a dimension"):
        _group(features=[{"name": "embedding", "type": "vector"}])


def test_only_a_vector_feature_takes_a_dimension() -> None:
    with pytest.raises(ValidationError, match="takes no dimension"):
        _group(features=[{"name": "spend", "type": "float64", "dimension": 3}])


def test_a_vector_labels_its_type_with_its_dimension() -> None:
    group = _group(features=[{"name": "embedding", "type": "vector", "dimension": 384}])
    assert group.features[0].type_label == "vector[384]"


# -- plan_change: creation and idempotency -------------------------------------------------------------


def test_the_first_definition_creates_version_1() -> None:
    plan = plan_change(None, _group(), new_version_requested=False)

    assert (plan.kind, plan.version, plan.parent_version, plan.compatible_since) == (
        ChangeKind.CREATED,
        1,
        None,
        1,
    )
    assert plan.breaking is False
    assert plan.changes == []


@pytest.mark.parametrize("new_version_requested", [False, True])
def test_an_identical_resubmission_changes_nothing(new_version_requested: bool) -> None:
    current = _version(number=4, since=3)

    plan = plan_change(current, _group(), new_version_requested=new_version_requested)

    assert plan.kind is ChangeKind.UNCHANGED
    assert plan.creates_version is False
    assert (plan.version, plan.compatible_since, plan.changes) == (4, 3, [])


def test_an_unchanged_plan_builds_no_new_version() -> None:
    plan = plan_change(_version(), _group(), new_version_requested=False)

    with pytest.raises(ValueError, match="unchanged"):
        plan.new_version(created_at=NOW, created_by="bob")


def test_a_definition_naming_another_group_is_refused() -> None:
    with pytest.raises(FeatureGroupNameMismatch) as refused:
        plan_change(_version(), _group(name="other_group"), new_version_requested=True)

    assert refused.value.status == 422
    assert refused.value.details == [{"field": "name", "expected": "customer_activity", "got": "other_group"}]


# -- plan_change: additive changes ---------------------------------------------------------------------


def test_adding_a_nullable_feature_makes_the_next_compatible_version() -> None:
    proposed = _group(features=_features({"name": "visits_7d", "type": "int64"}))

    plan = plan_change(_version(number=2, since=1), proposed, new_version_requested=False)

    assert plan.kind is ChangeKind.ADDITIVE
    assert (plan.version, plan.parent_version, plan.compatible_since, plan.breaking) == (3, 2, 1, False)
    assert [change.model_dump(mode="json") for change in plan.changes] == [
        {"feature": "visits_7d", "change": "added", "from": None, "to": "int64"}
    ]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"description": "Recent activity."}, ChangeType.DESCRIPTION_CHANGED),
        ({"owner": "risk-team"}, ChangeType.OWNER_CHANGED),
        ({"tags": {"domain": "risk"}}, ChangeType.TAGS_CHANGED),
        (
            {"features": _features({"name": "segment", "description": "Tier."})},
            ChangeType.FEATURE_DESCRIPTION_CHANGED,
        ),
        ({"features": list(reversed(_features()))}, ChangeType.FEATURES_REORDERED),
    ],
)
def test_metadata_edits_make_the_next_compatible_version(
    overrides: dict[str, Any], expected: ChangeType
) -> None:
    plan = plan_change(_version(), _group(**overrides), new_version_requested=False)

    assert (plan.kind, plan.version, plan.compatible_since) == (ChangeKind.ADDITIVE, 2, 1)
    assert [change.change for change in plan.changes] == [expected]


def test_adding_a_non_nullable_feature_to_a_group_without_data_is_compatible() -> None:
    proposed = _group(features=_features({"name": "visits_7d", "type": "int64", "nullable": False}))

    plan = plan_change(_version(), proposed, new_version_requested=False, group_has_data=False)

    assert plan.kind is ChangeKind.ADDITIVE
    assert [change.change for change in plan.changes] == [ChangeType.ADDED]


def test_asking_for_a_new_version_keeps_a_compatible_change_in_its_line() -> None:
    proposed = _group(features=_features({"name": "visits_7d", "type": "int64"}))

    plan = plan_change(_version(number=5, since=4), proposed, new_version_requested=True)

    assert (plan.kind, plan.version, plan.compatible_since, plan.breaking) == (
        ChangeKind.ADDITIVE,
        6,
        4,
        False,
    )


def test_a_planned_version_records_its_lineage_and_changes() -> None:
    proposed = _group(owner="risk-team")
    plan = plan_change(_version(number=2, since=2), proposed, new_version_requested=False)

    version = plan.new_version(created_at=NOW, created_by="bob")

    assert version.name == "customer_activity"
    assert (version.version, version.parent_version, version.compatible_since) == (3, 2, 2)
    assert version.definition == proposed
    assert (version.created_at, version.created_by) == (NOW, "bob")
    assert version.changes == plan.changes


# -- plan_change: breaking changes ---------------------------------------------------------------------


_BREAKING = [
    pytest.param(
        {"features": _features(drop=("segment",))},
        {"feature": "segment", "change": "removed", "from": "string", "to": None},
        id="removed",
    ),
    pytest.param(
        {"features": _features({"name": "orders_7d", "type": "float64"})},
        {"feature": "orders_7d", "change": "type_changed", "from": "int64", "to": "float64"},
        id="type_changed",
    ),
    pytest.param(
        {"features": _features({"name": "spend_7d", "nullable": False})},
        {"feature": "spend_7d", "change": "nullability_tightened", "from": True, "to": False},
        id="nullability_tightened",
    ),
    pytest.param(
        {"features": _features({"name": "orders_7d", "nullable": True})},
        {"feature": "orders_7d", "change": "nullability_loosened", "from": False, "to": True},
        id="nullability_loosened",
    ),
    pytest.param(
        {"entity_key": {"name": "customer_id", "type": "int64"}},
        {
            "feature": "customer_id",
            "change": "entity_key_changed",
            "from": {"name": "customer_id", "type": "string"},
            "to": {"name": "customer_id", "type": "int64"},
        },
        id="entity_key_type_changed",
    ),
    pytest.param(
        {"entity_key": {"name": "account_id", "type": "string"}},
        {
            "feature": "customer_id",
            "change": "entity_key_changed",
            "from": {"name": "customer_id", "type": "string"},
            "to": {"name": "account_id", "type": "string"},
        },
        id="entity_key_renamed",
    ),
    pytest.param(
        {"event_time": "observed_at"},
        {"feature": "event_time", "change": "event_time_changed", "from": "event_time", "to": "observed_at"},
        id="event_time_changed",
    ),
    pytest.param(
        {"features": _features({"name": "visits_7d", "type": "int64", "nullable": False})},
        {"feature": "visits_7d", "change": "non_nullable_added", "from": None, "to": "int64"},
        id="non_nullable_added",
    ),
]


@pytest.mark.parametrize(("overrides", "detail"), _BREAKING)
def test_a_breaking_change_is_refused_with_its_detail(
    overrides: dict[str, Any], detail: dict[str, Any]
) -> None:
    with pytest.raises(BreakingFeatureChange) as refused:
        plan_change(_version(), _group(**overrides), new_version_requested=False)

    assert isinstance(refused.value, UnprocessableEntity)
    assert (refused.value.status, refused.value.code) == (422, "breaking_feature_change")
    assert refused.value.details == [detail]


@pytest.mark.parametrize(("overrides", "detail"), _BREAKING)
def test_a_breaking_change_with_an_explicit_new_version_starts_a_new_line(
    overrides: dict[str, Any], detail: dict[str, Any]
) -> None:
    plan = plan_change(_version(number=3, since=1), _group(**overrides), new_version_requested=True)

    assert plan.kind is ChangeKind.BREAKING
    assert (plan.version, plan.parent_version, plan.compatible_since, plan.breaking) == (4, 3, 4, True)
    assert [change.model_dump(mode="json") for change in plan.changes] == [detail]


def test_a_vector_dimension_change_is_a_type_change() -> None:
    current = _version(_group(features=[{"name": "embedding", "type": "vector", "dimension": 384}]))

    with pytest.raises(BreakingFeatureChange) as refused:
        plan_change(
            current,
            _group(features=[{"name": "embedding", "type": "vector", "dimension": 768}]),
            new_version_requested=False,
        )

    assert refused.value.details == [
        {"feature": "embedding", "change": "type_changed", "from": "vector[384]", "to": "vector[768]"}
    ]


def test_a_refusal_lists_every_breaking_difference_and_only_those() -> None:
    proposed = _group(
        event_time="observed_at",
        owner="risk-team",
        features=_features(
            {"name": "orders_7d", "type": "string"},
            {"name": "spend_7d", "nullable": False},
            {"name": "visits_7d", "type": "int64"},
            drop=("segment",),
        ),
    )

    with pytest.raises(BreakingFeatureChange) as refused:
        plan_change(_version(), proposed, new_version_requested=False)

    assert [(detail["feature"], detail["change"]) for detail in refused.value.details] == [
        ("event_time", "event_time_changed"),
        ("orders_7d", "type_changed"),
        ("spend_7d", "nullability_tightened"),
        ("segment", "removed"),
    ]
    assert "event_time_changed event_time" in refused.value.message


def test_a_breaking_version_lists_its_compatible_changes_too() -> None:
    proposed = _group(owner="risk-team", features=_features(drop=("segment",)))

    plan = plan_change(_version(), proposed, new_version_requested=True)

    assert [change.change for change in plan.changes] == [ChangeType.REMOVED, ChangeType.OWNER_CHANGED]


def test_the_line_a_breaking_version_starts_continues_with_compatible_versions() -> None:
    broken = plan_change(_version(number=2), _group(event_time="observed_at"), new_version_requested=True)
    stored = broken.new_version(created_at=NOW, created_by="alice")

    plan = plan_change(
        stored, _group(event_time="observed_at", owner="risk-team"), new_version_requested=False
    )

    assert (stored.version, stored.compatible_since, stored.breaking) == (3, 3, True)
    assert (plan.version, plan.compatible_since, plan.breaking) == (4, 3, False)


@pytest.mark.parametrize(
    ("numbers", "message"),
    [
        ({"version": 3, "breaking": True, "compatible_since": 1}, "starts its own line"),
        ({"version": 3, "compatible_since": 4}, "cannot be later than the version"),
        ({"version": 3, "parent_version": 3, "compatible_since": 1}, "must be earlier than the version"),
    ],
)
def test_a_version_numbers_itself_consistently(numbers: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FeatureGroupVersion(definition=_group(), created_at=NOW, created_by="alice", **numbers)


# -- compatible_reader ------------------------------------------------------------------------------


def test_a_version_reads_its_own_data() -> None:
    assert compatible_reader(_version(), _version()) is True


def test_an_added_nullable_feature_reads_in_both_directions() -> None:
    before = _version()
    after = _version(_group(features=_features({"name": "visits_7d", "type": "int64"})), number=2)

    assert compatible_reader(before, after) is True
    assert compatible_reader(after, before) is True


def test_data_lacking_a_non_nullable_feature_does_not_read() -> None:
    before = _version()
    after = _version(
        _group(features=_features({"name": "visits_7d", "type": "int64", "nullable": False})), 2, 2
    )

    assert compatible_reader(before, after) is False


def test_data_written_before_a_removal_reads_with_the_new_schema() -> None:
    before = _version()
    after = _version(_group(features=_features(drop=("orders_7d",))), number=2, since=2)

    assert compatible_reader(before, after) is True
    # The old schema promises orders_7d is never null; the new data has none.
    assert compatible_reader(after, before) is False


def test_a_type_change_reads_in_neither_direction() -> None:
    before = _version()
    after = _version(_group(features=_features({"name": "orders_7d", "type": "float64"})), number=2, since=2)

    assert compatible_reader(before, after) is False
    assert compatible_reader(after, before) is False


def test_tightened_nullability_reads_only_the_newer_data() -> None:
    before = _version()
    after = _version(_group(features=_features({"name": "spend_7d", "nullable": False})), number=2, since=2)

    assert compatible_reader(before, after) is False
    assert compatible_reader(after, before) is True


@pytest.mark.parametrize(
    "overrides",
    [
        {"entity_key": {"name": "customer_id", "type": "int64"}},
        {"event_time": "observed_at"},
        {"name": "other_group"},
    ],
)
def test_another_key_time_or_group_never_reads(overrides: dict[str, Any]) -> None:
    assert compatible_reader(_version(), _version(_group(**overrides), number=2, since=2)) is False


# -- validate_records -------------------------------------------------------------------------------


def _record(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "customer_id": "c-1",
        "event_time": "2025-01-02T03:04:05Z",
        "orders_7d": 3,
        "spend_7d": 42.5,
        "segment": "gold",
    }
    record.update(overrides)
    return {name: value for name, value in record.items() if value is not _ABSENT}


_ABSENT = object()

_TYPED = _version(
    _group(
        entity_key={"name": "customer_id", "type": "int64"},
        features=[
            {"name": "count", "type": "int64"},
            {"name": "ratio", "type": "float64"},
            {"name": "label", "type": "string"},
            {"name": "active", "type": "bool"},
            {"name": "seen_at", "type": "timestamp"},
            {"name": "embedding", "type": "vector", "dimension": 3},
        ],
    )
)


def _problems(version: FeatureGroupVersion, records: list[Any]) -> list[tuple[int, str | None, str]]:
    return [
        (problem.record, problem.column, problem.problem.value)
        for problem in validate_records(version, records)
    ]


def _typed_problem(column: str, value: Any) -> list[tuple[int, str | None, str]]:
    return _problems(_TYPED, [{"customer_id": 7, "event_time": NOW, column: value}])


def test_records_that_fit_have_no_problems() -> None:
    records = [
        _record(),
        _record(spend_7d=None, segment=_ABSENT),
        _record(event_time=NOW, spend_7d=3),
        _record(event_time="2025-01-02T05:04:05+02:00"),
    ]

    assert validate_records(_version(), records) == []


def test_every_typed_value_that_fits_passes() -> None:
    record = {
        "customer_id": 7,
        "event_time": NOW,
        "count": -(2**63),
        "ratio": 1,
        "label": "",
        "active": False,
        "seen_at": datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=-5))),
        "embedding": [0.5, 1, -2.25],
    }

    assert validate_records(_TYPED, [record]) == []


def test_an_unknown_column_is_a_problem() -> None:
    assert _problems(_version(), [_record(colour="red")]) == [(0, "colour", "unknown_column")]


def test_a_missing_non_nullable_column_is_a_problem() -> None:
    assert _problems(_version(), [_record(orders_7d=_ABSENT, customer_id=_ABSENT, event_time=_ABSENT)]) == [
        (0, "customer_id", "missing"),
        (0, "event_time", "missing"),
        (0, "orders_7d", "missing"),
    ]


def test_a_null_in_a_non_nullable_column_is_a_problem() -> None:
    assert _problems(_version(), [_record(orders_7d=None, event_time=None)]) == [
        (0, "event_time", "null_not_allowed"),
        (0, "orders_7d", "null_not_allowed"),
    ]


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("count", True, "wrong_type"),
        ("count", 3.0, "wrong_type"),
        ("count", "3", "wrong_type"),
        ("count", 2**63, "out_of_range"),
        ("ratio", False, "wrong_type"),
        ("ratio", "0.5", "wrong_type"),
        ("ratio", math.nan, "not_finite"),
        ("ratio", -math.inf, "not_finite"),
        ("ratio", 10**400, "out_of_range"),
        ("label", 5, "wrong_type"),
        ("active", 1, "wrong_type"),
        ("active", "true", "wrong_type"),
        ("seen_at", datetime(2025, 1, 1), "naive_timestamp"),
        ("seen_at", "2025-01-01T00:00:00", "naive_timestamp"),
        ("seen_at", "yesterday", "wrong_type"),
        ("seen_at", date(2025, 1, 1), "wrong_type"),
        ("seen_at", 1735689600, "wrong_type"),
        ("embedding", [1.0, 2.0], "wrong_dimension"),
        ("embedding", [1.0, True, 2.0], "wrong_type"),
        ("embedding", [1.0, math.nan, 2.0], "not_finite"),
        ("embedding", "1,2,3", "wrong_type"),
    ],
)
def test_a_value_of_the_wrong_kind_is_a_problem(column: str, value: Any, problem: str) -> None:
    assert _typed_problem(column, value) == [(0, column, problem)]


@pytest.mark.parametrize(
    ("value", "problem"),
    [(True, "wrong_type"), ("7", "wrong_type")],
)
def test_an_int64_entity_key_takes_integers_only(value: Any, problem: str) -> None:
    assert _problems(_TYPED, [{"customer_id": value, "event_time": NOW}]) == [(0, "customer_id", problem)]


@pytest.mark.parametrize(("value", "problem"), [("", "empty_key"), ("x" * 2049, "key_too_long")])
def test_a_string_entity_key_must_fit_the_online_store(value: str, problem: str) -> None:
    assert _problems(_version(), [_record(customer_id=value)]) == [(0, "customer_id", problem)]


def test_a_naive_event_time_is_a_problem() -> None:
    assert _problems(_version(), [_record(event_time="2025-01-02 03:04:05")]) == [
        (0, "event_time", "naive_timestamp")
    ]


def test_a_record_that_is_not_an_object_is_a_problem() -> None:
    assert _problems(_version(), [["c-1", 3], _record()]) == [(0, None, "not_an_object")]


def test_every_problem_of_every_record_is_reported_in_order() -> None:
    records = [
        _record(orders_7d=True, colour="red"),
        _record(),
        _record(customer_id=_ABSENT, spend_7d="a lot", event_time="2025-01-02T03:04:05"),
    ]

    assert _problems(_version(), records) == [
        (0, "orders_7d", "wrong_type"),
        (0, "colour", "unknown_column"),
        (2, "customer_id", "missing"),
        (2, "event_time", "naive_timestamp"),
        (2, "spend_7d", "wrong_type"),
    ]


def test_a_problem_names_the_expected_type_and_the_kind_given_never_the_value() -> None:
    [problem] = validate_records(_version(), [_record(segment=12345)])

    assert (problem.expected, problem.got) == ("string", "integer")
    assert "12345" not in problem.model_dump_json()


def test_check_records_refuses_a_batch_with_every_problem_in_details() -> None:
    with pytest.raises(InvalidFeatureRecords) as refused:
        check_records(_version(), [_record(orders_7d=None), _record(), _record(colour="red")])

    assert (refused.value.status, refused.value.code) == (422, "invalid_feature_records")
    assert [(detail["record"], detail["problem"]) for detail in refused.value.details] == [
        (0, RecordProblemKind.NULL_NOT_ALLOWED.value),
        (2, RecordProblemKind.UNKNOWN_COLUMN.value),
    ]
    assert "2 of 3 records" in refused.value.message


def test_check_records_lists_at_most_a_hundred_problems_and_counts_them_all() -> None:
    records = [_record(colour="red") for _ in range(MAX_REPORTED_PROBLEMS + 20)]

    with pytest.raises(InvalidFeatureRecords) as refused:
        check_records(_version(), records)

    assert len(refused.value.details) == MAX_REPORTED_PROBLEMS
    assert "120 problems; the first 100 are listed" in refused.value.message


def test_check_records_accepts_a_batch_that_fits() -> None:
    check_records(_version(), [_record(), _record(customer_id="c-2")])
