"""Cognito pre-token-generation trigger: maps a federated user's IdP groups to Cirrus roles.

Answers both trigger event versions: V1_0 (`claimsOverrideDetails`, the ID token) and V2_0
(`claimsAndScopeOverrideDetails`, both tokens). The raw IdP groups are removed from the tokens:
the API authorizes on `cognito:groups` alone, and directory group names need not travel further.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cirrus_core.federation import GROUPS_ATTRIBUTE, federation_settings, parse_idp_groups, token_groups
from cirrus_core.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Fill the event's response with the groups (Cirrus roles) the user's tokens carry."""
    request = event.get("request") or {}
    attributes = request.get("userAttributes") or {}
    current = (request.get("groupConfiguration") or {}).get("groupsToOverride") or []
    groups = token_groups(federation_settings(), current, parse_idp_groups(attributes.get(GROUPS_ATTRIBUTE)))
    logger.info("Token groups decided", extra={"trigger": event.get("triggerSource"), "groups": groups})
    group_override: dict[str, Any] = {"groupsToOverride": groups, "iamRolesToOverride": []}
    suppressed = [GROUPS_ATTRIBUTE] if GROUPS_ATTRIBUTE in attributes else []
    if str(event.get("version", "1")) == "1":
        event["response"] = {
            "claimsOverrideDetails": {"claimsToSuppress": suppressed, "groupOverrideDetails": group_override}
        }
    else:
        event["response"] = {
            "claimsAndScopeOverrideDetails": {
                "idTokenGeneration": {"claimsToSuppress": suppressed},
                "accessTokenGeneration": {},
                "groupOverrideDetails": group_override,
            }
        }
    return event
