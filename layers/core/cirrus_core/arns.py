"""ARNs derived from other ARNs."""

from __future__ import annotations


def execution_arn_of(state_machine_arn: str, name: str) -> str:
    """The ARN of the execution `name` of a state machine (an unqualified state machine ARN)."""
    head, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{head}:execution:{machine}:{name}"
