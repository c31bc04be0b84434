"""cirrus.event_schemas: the generated schema-registry block of template.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from cirrus.event_schemas import (
    BEGIN_MARKER,
    END_MARKER,
    EventSchema,
    SchemaFileError,
    main,
    read_schemas,
    replace_block,
)

DETAIL_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "description": "An environment's alias was moved back — to the version it held before.",
    "type": "object",
    "required": ["metadata", "data"],
}
TEMPLATE_TEXT = f"""\
Resources:
  EventBus:
    Type: AWS::Events::EventBus

{BEGIN_MARKER}
{END_MARKER}

  Other:
    Type: AWS::SNS::Topic
"""


@pytest.fixture
def schemas_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "schemas"
    directory.mkdir()
    (directory / "model.rolled_back.v1.json").write_text(json.dumps(DETAIL_SCHEMA), encoding="utf-8")
    return directory


@pytest.fixture
def template(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE_TEXT, encoding="utf-8")
    return path


def _rewrite(template: Path, schemas_dir: Path) -> dict[str, Any]:
    assert main(["--template", str(template), "--schemas-dir", str(schemas_dir)]) == 0
    return dict(yaml_parse(template.read_text(encoding="utf-8")))


def test_logical_id_camel_cases_the_detail_type_and_major() -> None:
    assert EventSchema("model.rolled_back", 2, "{}").logical_id == "ModelRolledBackV2Schema"


def test_schema_name_carries_the_detail_type_and_major() -> None:
    assert EventSchema("model.registered", 1, "{}").schema_name == "cirrus@model.registered.v1"


def test_rewrite_registers_each_file_with_its_content(template: Path, schemas_dir: Path) -> None:
    # The description has an apostrophe and a non-ASCII dash: both must survive the YAML quoting.
    resource = _rewrite(template, schemas_dir)["Resources"]["ModelRolledBackV1Schema"]
    assert json.loads(resource["Properties"]["Content"]) == DETAIL_SCHEMA


def test_rewrite_keeps_the_rest_of_the_template(template: Path, schemas_dir: Path) -> None:
    resources = _rewrite(template, schemas_dir)["Resources"]
    assert list(resources) == ["EventBus", "EventSchemaRegistry", "ModelRolledBackV1Schema", "Other"]


def test_rewrite_is_stable(template: Path, schemas_dir: Path) -> None:
    _rewrite(template, schemas_dir)
    first = template.read_text(encoding="utf-8")
    _rewrite(template, schemas_dir)
    assert template.read_text(encoding="utf-8") == first


def test_check_reports_a_stale_block_and_leaves_the_file(
    template: Path, schemas_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check", "--template", str(template), "--schemas-dir", str(schemas_dir)]) == 1
    assert "make openapi" in capsys.readouterr().err
    assert template.read_text(encoding="utf-8") == TEMPLATE_TEXT


def test_check_accepts_a_current_block(template: Path, schemas_dir: Path) -> None:
    _rewrite(template, schemas_dir)
    assert main(["--check", "--template", str(template), "--schemas-dir", str(schemas_dir)]) == 0


def test_misnamed_schema_file_is_refused(schemas_dir: Path) -> None:
    (schemas_dir / "ModelRegistered.json").write_text("{}", encoding="utf-8")
    with pytest.raises(SchemaFileError, match=r"ModelRegistered\.json"):
        read_schemas(schemas_dir)


def test_schema_of_another_draft_is_refused(schemas_dir: Path) -> None:
    draft_07 = {"$schema": "http://json-schema.org/draft-07/schema#"}
    (schemas_dir / "model.registered.v1.json").write_text(json.dumps(draft_07), encoding="utf-8")
    with pytest.raises(SchemaFileError, match="draft-04"):
        read_schemas(schemas_dir)


def test_detail_types_that_share_a_logical_id_are_refused(schemas_dir: Path) -> None:
    (schemas_dir / "model.rolled.back.v1.json").write_text(json.dumps(DETAIL_SCHEMA), encoding="utf-8")
    with pytest.raises(SchemaFileError, match="ModelRolledBackV1Schema"):
        read_schemas(schemas_dir)


def test_template_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="BEGIN GENERATED"):
        replace_block("Resources: {}\n", "  X: {}\n")


def test_bad_input_exits_2_with_a_message(
    template: Path, schemas_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (schemas_dir / "model.registered.v1.json").write_text("{not json", encoding="utf-8")
    assert main(["--template", str(template), "--schemas-dir", str(schemas_dir)]) == 2
    assert "model.registered.v1.json" in capsys.readouterr().err
