"""Checking lifecycle events against the schemas in events/schemas, as their consumers rely on them."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft4Validator

from tests.support.aws import SCHEMAS, load_schema

_EVENT_VERSION = re.compile(r"^(\d+)\.\d+$")


def _detail_schema_major(envelope: dict[str, Any]) -> int:
    metadata = (envelope.get("detail") or {}).get("metadata") or {}
    version = metadata.get("event_version")
    match = _EVENT_VERSION.match(version) if isinstance(version, str) else None
    assert match, f"detail.metadata.event_version is not major.minor: {version!r}"
    return int(match.group(1))


def assert_valid_event(envelope: dict[str, Any]) -> None:
    """Fail unless the envelope comes from a Cirrus source and its detail matches its schema.

    The schema is `events/schemas/<detail-type>.v<major>.json`, the major taken from the detail's
    `metadata.event_version`; formats (`date-time`) are checked too.
    """
    source = envelope.get("source")
    assert isinstance(source, str), f"the envelope has no source: {envelope!r}"
    assert source.startswith("cirrus."), f"source {source!r} does not start with 'cirrus.'"
    detail_type = envelope.get("detail-type")
    major = _detail_schema_major(envelope)
    schema_file = SCHEMAS / f"{detail_type}.v{major}.json"
    assert schema_file.is_file(), f"no schema for {detail_type!r} v{major}: {schema_file} is missing"
    schema = load_schema(str(detail_type), major)
    validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(envelope["detail"]), key=lambda error: list(error.absolute_path))
    assert not errors, f"{detail_type} detail breaks its v{major} schema:\n" + "\n".join(
        f"  at {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}" for error in errors
    )
