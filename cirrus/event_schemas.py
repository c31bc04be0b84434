"""Registers the lifecycle event schemas (events/schemas) in template.yaml's EventBridge schema registry.

The schema files are the source of truth; this module regenerates the block of template.yaml between
the BEGIN and END markers: one registry per stage, one schema resource per file.

    python -m cirrus.event_schemas            # rewrite the block
    python -m cirrus.event_schemas --check    # exit 1 when the block is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cirrus.template import REPO_ROOT, TEMPLATE_PATH, replace_marked_block, write_or_check

if TYPE_CHECKING:
    from collections.abc import Sequence

SCHEMAS_DIR = REPO_ROOT / "events" / "schemas"
BEGIN_MARKER = "  # BEGIN GENERATED: event schemas (python -m cirrus.event_schemas)"
END_MARKER = "  # END GENERATED: event schemas"
REGISTRY_ID = "EventSchemaRegistry"
SCHEMA_NAME_PREFIX = "cirrus@"

DRAFT_04 = "http://json-schema.org/draft-04/schema#"
DRAFT_04_URIS = frozenset({DRAFT_04, DRAFT_04.rstrip("#")})
# EventBridge's CreateSchema refuses Content longer than this.
MAX_CONTENT_CHARS = 100_000
_DETAIL_TYPE = r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+"
_FILE_NAME = re.compile(rf"^(?P<detail_type>{_DETAIL_TYPE})\.v(?P<major>[1-9][0-9]*)\.json$")


class SchemaFileError(ValueError):
    """A file in events/schemas that cannot be registered as it is."""


@dataclass(frozen=True, slots=True)
class EventSchema:
    """One schema file: the detail of one detail-type at one major version."""

    detail_type: str
    major: int
    content: str

    @property
    def file_name(self) -> str:
        """The file's name in events/schemas."""
        return f"{self.detail_type}.v{self.major}.json"

    @property
    def logical_id(self) -> str:
        """The template resource id: `model.rolled_back` v1 is ModelRolledBackV1Schema."""
        words = re.split(r"[._]", self.detail_type)
        return "".join(word.capitalize() for word in words) + f"V{self.major}Schema"

    @property
    def schema_name(self) -> str:
        """The name in the registry, in EventBridge's `<source>@<detail-type>` style."""
        return f"{SCHEMA_NAME_PREFIX}{self.detail_type}.v{self.major}"


def read_schema(path: Path) -> EventSchema:
    """Read one schema file, checking what EventBridge and the template need of it."""
    match = _FILE_NAME.match(path.name)
    if match is None:
        raise SchemaFileError(f"{path}: name it <detail-type>.v<major>.json, e.g. model.registered.v1.json")
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise SchemaFileError(f"{path}: not JSON ({error})") from error
    if not isinstance(schema, dict) or schema.get("$schema", DRAFT_04) not in DRAFT_04_URIS:
        raise SchemaFileError(f"{path}: the registry is told these are JSON Schema draft-04 documents")
    # Compact and ASCII-only: the string lands on one line of YAML, inside single quotes.
    content = json.dumps(schema, separators=(",", ":"), ensure_ascii=True)
    if len(content) > MAX_CONTENT_CHARS:
        raise SchemaFileError(
            f"{path}: {len(content)} characters compacted; EventBridge takes {MAX_CONTENT_CHARS}"
        )
    return EventSchema(detail_type=match["detail_type"], major=int(match["major"]), content=content)


def read_schemas(directory: Path = SCHEMAS_DIR) -> list[EventSchema]:
    """Every schema file of the directory, in file-name order."""
    schemas = [read_schema(path) for path in sorted(directory.glob("*.json"))]
    by_id: dict[str, EventSchema] = {}
    for schema in schemas:
        clash = by_id.setdefault(schema.logical_id, schema)
        if clash is not schema:
            raise SchemaFileError(f"{clash.file_name} and {schema.file_name} both map to {schema.logical_id}")
    return schemas


def _quoted(text: str) -> str:
    """A YAML single-quoted scalar: the only escape is a doubled quote."""
    return "'" + text.replace("'", "''") + "'"


def _registry_yaml() -> str:
    return f"""\
  {REGISTRY_ID}:
    Type: AWS::EventSchemas::Registry
    Properties:
      RegistryName: !Sub cirrus-${{Stage}}
      Description: Schemas of the lifecycle events on the Cirrus bus, one per detail-type and major version.
      Tags:
        - {{ Key: project, Value: cirrus }}
        - {{ Key: stage, Value: !Ref Stage }}
"""


def _schema_yaml(schema: EventSchema) -> str:
    description = f"The detail of {schema.detail_type} events, version {schema.major} (events/schemas)."
    return f"""\
  {schema.logical_id}:
    Type: AWS::EventSchemas::Schema
    Properties:
      RegistryName: !GetAtt {REGISTRY_ID}.RegistryName
      SchemaName: {_quoted(schema.schema_name)}
      Type: JSONSchemaDraft4
      Description: {_quoted(description)}
      Content: {_quoted(schema.content)}
      Tags:
        - {{ Key: project, Value: cirrus }}
        - {{ Key: stage, Value: !Ref Stage }}
"""


def render_block(schemas: Sequence[EventSchema]) -> str:
    """The YAML between the markers: the registry, then one schema resource per file."""
    return "\n".join([_registry_yaml(), *(_schema_yaml(schema) for schema in schemas)])


def replace_block(template: str, block: str) -> str:
    """The template text with the lines between the markers replaced by the block."""
    return replace_marked_block(template, block, BEGIN_MARKER, END_MARKER)


def updated_template(template_path: Path = TEMPLATE_PATH, schemas_dir: Path = SCHEMAS_DIR) -> str:
    """The template's text as it should be for the schema files."""
    block = render_block(read_schemas(schemas_dir))
    return replace_block(template_path.read_text(encoding="utf-8"), block)


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the generated block, or with --check report whether it is current."""
    parser = argparse.ArgumentParser(
        prog="python -m cirrus.event_schemas",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the block differs from the files")
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH, help="the SAM template to update")
    parser.add_argument("--schemas-dir", type=Path, default=SCHEMAS_DIR, help="where the schema files are")
    args = parser.parse_args(argv)
    template: Path = args.template
    try:
        expected = updated_template(template, args.schemas_dir)
    except ValueError as error:  # a schema file or the markers are wrong: say which, not a traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    return write_or_check(
        template,
        expected,
        check=args.check,
        stale_message="the event schema block is stale: run `make openapi`.",
    )


if __name__ == "__main__":
    raise SystemExit(main())
