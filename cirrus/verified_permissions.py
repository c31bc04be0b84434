"""Deploys the Cedar schema and policies to Amazon Verified Permissions, optionally.

The files under layers/core/cirrus_core/authz are the source of truth (the functions evaluate them
in-process); with `EnableVerifiedPermissions=true` the stack also holds them in a policy store, for
teams that want AWS's policy console, its audit of authorization decisions, or other services
calling the same policies. This module regenerates the block of template.yaml between the BEGIN
and END markers: one policy store (with the schema, validated strictly) and one static policy per
policy file, all conditional on the parameter.

    python -m cirrus.verified_permissions            # rewrite the block
    python -m cirrus.verified_permissions --check    # exit 1 when the block is stale
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

AUTHZ_DIR = REPO_ROOT / "layers" / "core" / "cirrus_core" / "authz"
SCHEMA_FILE = "cirrus.cedarschema.json"
POLICIES_DIR_NAME = "policies"
BEGIN_MARKER = "  # BEGIN GENERATED: verified permissions (python -m cirrus.verified_permissions)"
END_MARKER = "  # END GENERATED: verified permissions"
CONDITION = "UseVerifiedPermissions"
STORE_ID = "CedarPolicyStore"
# Verified Permissions limits a static policy's statement to 10,000 bytes.
MAX_STATEMENT_BYTES = 10_000
_POLICY_FILE = re.compile(r"^(?P<id>[a-z][a-z0-9_]*)\.cedar$")
# A statement starts with its effect at the start of a line; comments may mention either word.
_EFFECT = re.compile(r"^\s*(?:@\w+\([^)]*\)\s*)*(permit|forbid)\s*\(", re.MULTILINE)


class AuthzFileError(ValueError):
    """A schema or policy file that cannot be deployed to Verified Permissions as it is."""


@dataclass(frozen=True, slots=True)
class CedarPolicy:
    """One policy file: exactly one Cedar policy (a Verified Permissions static policy holds one)."""

    policy_id: str
    statement: str

    @property
    def logical_id(self) -> str:
        """The template resource id: `forbid_self_approval` is CedarForbidSelfApprovalPolicy."""
        return "Cedar" + "".join(word.capitalize() for word in self.policy_id.split("_")) + "Policy"


def read_schema(authz_dir: Path = AUTHZ_DIR) -> str | None:
    """The Cedar JSON schema, compacted, or None when there is no schema file yet."""
    path = authz_dir / SCHEMA_FILE
    if not path.is_file():
        return None
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise AuthzFileError(f"{path}: not JSON ({error})") from error
    if not isinstance(schema, dict):
        raise AuthzFileError(f"{path}: a Cedar JSON schema is an object of namespaces")
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=True)


def read_policy(path: Path) -> CedarPolicy:
    """Read one policy file, checking what Verified Permissions needs of it."""
    match = _POLICY_FILE.match(path.name)
    if match is None:
        raise AuthzFileError(f"{path}: name it <policy_id>.cedar, lower case and underscores")
    statement = path.read_text(encoding="utf-8")
    effects = len(_EFFECT.findall(statement))
    if effects != 1:
        raise AuthzFileError(f"{path}: holds {effects} policies; a static policy holds exactly one")
    if len(statement.encode("utf-8")) > MAX_STATEMENT_BYTES:
        raise AuthzFileError(f"{path}: longer than Verified Permissions' {MAX_STATEMENT_BYTES} bytes")
    return CedarPolicy(policy_id=match["id"], statement=statement)


def read_policies(authz_dir: Path = AUTHZ_DIR) -> list[CedarPolicy]:
    """Every policy file, in file-name order (none while the directory does not exist)."""
    return [read_policy(path) for path in sorted((authz_dir / POLICIES_DIR_NAME).glob("*.cedar"))]


def _yaml_string(text: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar: newlines and quotes stay escaped, on one line.
    return json.dumps(text, ensure_ascii=True)


def _store_yaml(schema: str | None) -> str:
    schema_lines = f"      Schema:\n        CedarJson: {_yaml_string(schema)}\n" if schema is not None else ""
    # Strict validation needs a schema to validate against.
    mode = "STRICT" if schema is not None else "OFF"
    return f"""\
  {STORE_ID}:
    Type: AWS::VerifiedPermissions::PolicyStore
    Condition: {CONDITION}
    Properties:
      Description: !Sub Cirrus ${{Stage}} - the Cedar policies of layers/core/cirrus_core/authz.
      ValidationSettings:
        Mode: {mode}
{schema_lines}"""


def _policy_yaml(policy: CedarPolicy) -> str:
    description = f"Cirrus policy {policy.policy_id} ({POLICIES_DIR_NAME}/{policy.policy_id}.cedar)"
    return f"""\
  {policy.logical_id}:
    Type: AWS::VerifiedPermissions::Policy
    Condition: {CONDITION}
    Properties:
      PolicyStoreId: !Ref {STORE_ID}
      Definition:
        Static:
          Description: {_yaml_string(description)}
          Statement: {_yaml_string(policy.statement)}
"""


def render_block(schema: str | None, policies: Sequence[CedarPolicy]) -> str:
    """The YAML between the markers: the policy store, then one policy per file."""
    return "\n".join([_store_yaml(schema), *(_policy_yaml(policy) for policy in policies)])


def replace_block(template: str, block: str) -> str:
    """The template text with the lines between the markers replaced by the block."""
    return replace_marked_block(template, block, BEGIN_MARKER, END_MARKER)


def updated_template(template_path: Path = TEMPLATE_PATH, authz_dir: Path = AUTHZ_DIR) -> str:
    """The template's text as it should be for the schema and policy files."""
    block = render_block(read_schema(authz_dir), read_policies(authz_dir))
    return replace_block(template_path.read_text(encoding="utf-8"), block)


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the generated block, or with --check report whether it is current."""
    parser = argparse.ArgumentParser(
        prog="python -m cirrus.verified_permissions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the block differs from the files")
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH, help="the SAM template to update")
    parser.add_argument("--authz-dir", type=Path, default=AUTHZ_DIR, help="where the schema and policies are")
    args = parser.parse_args(argv)
    template: Path = args.template
    try:
        expected = updated_template(template, args.authz_dir)
    except ValueError as error:  # a file or the markers are wrong: say which, not a traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    return write_or_check(
        template,
        expected,
        check=args.check,
        stale_message="the Verified Permissions block is stale: run `python -m cirrus.verified_permissions`.",
    )


if __name__ == "__main__":
    raise SystemExit(main())
