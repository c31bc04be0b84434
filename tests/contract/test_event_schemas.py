"""Event schemas: valid draft-4 (what EventBridge's schema registry takes), strict, one per detail-type."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from cirrus_core.events import EVENT_VERSION
from tests.support.aws import ROOT, SAMPLES, SCHEMAS, load_sample
from tests.support.events import assert_valid_event

DRAFT4 = "http://json-schema.org/draft-04/schema#"
DRAFT4_KEYWORDS = frozenset(
    {
        "$schema", "id", "$ref", "title", "description", "default", "format", "type", "enum",
        "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
        "maxLength", "minLength", "pattern", "items", "additionalItems", "maxItems", "minItems",
        "uniqueItems", "maxProperties", "minProperties", "required", "properties",
        "patternProperties", "additionalProperties", "dependencies", "definitions",
        "allOf", "anyOf", "oneOf", "not",
    }
)  # fmt: skip
ENVELOPE_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
CORE = ROOT / "layers" / "core" / "cirrus_core"

SCHEMA_FILES = sorted(SCHEMAS.glob("*.v*.json"))
DETAIL_TYPES = sorted({path.name.rsplit(".v", 1)[0] for path in SCHEMA_FILES})


def emitted_detail_types() -> set[str]:
    """Detail-types the core code emits: `LifecycleEvent("x.y", ...)`, and `f"model.{...}"` variants."""
    found: set[str] = set()
    for path in CORE.rglob("*.py"):
        source = path.read_text()
        found.update(re.findall(r'LifecycleEvent\(\s*"([a-z_]+\.[a-z_]+)"', source))
        for prefix, expression in re.findall(r'f"([a-z_]+)\.\{([^}]*)\}"', source):
            found.update(f"{prefix}.{name}" for name in re.findall(r"'([a-z_]+)'", expression))
    return found


def subschemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema and every schema nested in it (properties, definitions, items, combinators)."""
    found = [schema]
    for keyword in ("properties", "patternProperties", "definitions"):
        for child in schema.get(keyword, {}).values():
            found += subschemas(child)
    for keyword in ("items", "additionalItems", "additionalProperties", "not"):
        child = schema.get(keyword)
        for item in child if isinstance(child, list) else [child]:
            if isinstance(item, dict):
                found += subschemas(item)
    for keyword in ("allOf", "anyOf", "oneOf"):
        for child in schema.get(keyword, []):
            found += subschemas(child)
    return found


def test_every_detail_type_the_core_emits_has_a_schema_for_the_current_event_version() -> None:
    emitted = emitted_detail_types()
    major = EVENT_VERSION.split(".")[0]

    assert {"model.registered", "model.approved", "model.rejected"} <= emitted
    missing = sorted(name for name in emitted if not (SCHEMAS / f"{name}.v{major}.json").is_file())
    assert not missing, f"no v{major} schema for {missing}"


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda path: path.name)
def test_schema_is_a_valid_draft4_schema(path: Path) -> None:
    schema = json.loads(path.read_text())

    Draft4Validator.check_schema(schema)
    assert schema["$schema"] == DRAFT4


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda path: path.name)
def test_schema_uses_only_draft4_keywords(path: Path) -> None:
    schema = json.loads(path.read_text())

    unknown = {keyword for node in subschemas(schema) for keyword in node} - DRAFT4_KEYWORDS

    assert not unknown, f"not draft-4 keywords (EventBridge's registry refuses them): {sorted(unknown)}"


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda path: path.name)
def test_schema_has_a_title_and_a_description(path: Path) -> None:
    schema = json.loads(path.read_text())

    assert schema["title"].strip()
    assert schema["description"].strip()


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda path: path.name)
def test_schema_objects_require_every_property_and_allow_no_other(path: Path) -> None:
    objects = [node for node in subschemas(json.loads(path.read_text())) if node.get("type") == "object"]

    assert objects
    for node in objects:
        assert node["additionalProperties"] is False
        assert sorted(node["required"]) == sorted(node["properties"])


# The module whose functions publish each family of events (DESIGN: `source` is `cirrus.<module>`).
SOURCE_MODULES = {
    "model": "registry",
    "pipeline": "pipelines",
    "batch": "serving",
    "edge": "serving",
    "drift": "monitoring",
    "alert": "monitoring",
    "dataset": "data",
    "feature_group": "data",
    "features": "data",
    "training_set": "data",
}
# Detail-types of a family that another module publishes (model.rolled_back comes from both).
SOURCE_OVERRIDES = {
    "model.deployed": "serving",
    "model.deployment_failed": "serving",
    "model.undeployed": "serving",
}


@pytest.mark.parametrize("detail_type", DETAIL_TYPES)
def test_sample_envelope_has_exactly_the_eventbridge_envelope_fields(detail_type: str) -> None:
    envelope = load_sample(f"eventbridge/{detail_type}")

    assert set(envelope) == ENVELOPE_KEYS
    assert envelope["detail-type"] == detail_type
    module = SOURCE_OVERRIDES.get(detail_type) or SOURCE_MODULES[detail_type.split(".")[0]]
    assert envelope["source"] == f"cirrus.{module}"


@pytest.mark.parametrize("detail_type", DETAIL_TYPES)
def test_sample_validates_against_its_schema(detail_type: str) -> None:
    assert_valid_event(load_sample(f"eventbridge/{detail_type}"))


def test_every_sample_has_a_schema() -> None:
    samples = {path.name.removesuffix(".json") for path in (SAMPLES / "eventbridge").glob("*.json")}

    assert samples == set(DETAIL_TYPES)


@pytest.mark.parametrize("detail_type", DETAIL_TYPES)
@pytest.mark.parametrize("part", ["metadata", "data"])
def test_sample_missing_any_required_field_fails_validation(detail_type: str, part: str) -> None:
    sample = load_sample(f"eventbridge/{detail_type}")
    for field in sample["detail"][part]:
        broken = load_sample(f"eventbridge/{detail_type}")
        del broken["detail"][part][field]

        with pytest.raises(AssertionError, match=rf"{field}'? is (a required property|not major\.minor)"):
            assert_valid_event(broken)


@pytest.mark.parametrize("detail_type", DETAIL_TYPES)
@pytest.mark.parametrize("path", [(), ("metadata",), ("data",)], ids=["detail", "metadata", "data"])
def test_sample_with_an_extra_field_fails_validation(detail_type: str, path: tuple[str, ...]) -> None:
    sample = load_sample(f"eventbridge/{detail_type}")
    target = sample["detail"]
    for key in path:
        target = target[key]
    target["unexpected"] = "value"

    with pytest.raises(AssertionError, match="Additional properties are not allowed"):
        assert_valid_event(sample)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("occurred_at", "yesterday"),
        ("occurred_at", "2024-06-01T12:00:00"),
        ("event_version", "1"),
        ("event_version", "1.0-beta"),
        ("actor", ""),
    ],
)
def test_sample_with_malformed_metadata_fails_validation(field: str, value: str) -> None:
    sample = load_sample("eventbridge/model.promoted")
    sample["detail"]["metadata"][field] = value

    with pytest.raises(AssertionError, match=f"metadata[./]{field}"):
        assert_valid_event(sample)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model_id", "Fraud Detection"),
        ("version", 0),
        ("version", "3"),
        ("version", 3.5),
        ("environment", "production"),
        ("previous_version", 0),
    ],
)
def test_sample_with_malformed_data_fails_validation(field: str, value: object) -> None:
    sample = load_sample("eventbridge/model.promoted")
    sample["detail"]["data"][field] = value

    with pytest.raises(AssertionError, match=f"at data/{field}"):
        assert_valid_event(sample)


def test_nullable_fields_accept_null() -> None:
    sample = load_sample("eventbridge/model.promoted")
    sample["detail"]["data"]["previous_version"] = None
    sample["detail"]["metadata"]["correlation_id"] = None

    assert_valid_event(sample)


@pytest.mark.parametrize(
    ("detail_type", "status"),
    [("model.registered", "Approved"), ("model.approved", "Rejected"), ("model.rejected", "Approved")],
)
def test_approval_status_must_match_the_event(detail_type: str, status: str) -> None:
    sample = load_sample(f"eventbridge/{detail_type}")
    sample["detail"]["data"]["approval_status"] = status

    with pytest.raises(AssertionError, match="at data/approval_status"):
        assert_valid_event(sample)


def test_event_from_a_source_outside_cirrus_fails_validation() -> None:
    sample = load_sample("eventbridge/model.promoted")
    sample["source"] = "aws.sagemaker"

    with pytest.raises(AssertionError, match=r"does not start with 'cirrus\.'"):
        assert_valid_event(sample)


def test_event_version_picks_the_schema_by_its_major() -> None:
    sample = load_sample("eventbridge/model.promoted")
    sample["detail"]["metadata"]["event_version"] = "2.0"

    with pytest.raises(AssertionError, match=r"no schema for 'model\.promoted' v2"):
        assert_valid_event(sample)


def test_a_minor_version_bump_validates_against_the_same_major_schema() -> None:
    sample = load_sample("eventbridge/model.promoted")
    sample["detail"]["metadata"]["event_version"] = "1.3"

    assert_valid_event(sample)
