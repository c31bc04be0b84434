"""Narrowing values that validation already guarantees, without `assert` (which `python -O` strips)."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class InvariantBroken(RuntimeError):
    """A value that validation guarantees is missing: a bug, never the caller's input."""


def given(value: T | None, what: str) -> T:
    """`value`, or InvariantBroken naming `what` when it is None."""
    if value is None:
        raise InvariantBroken(f"{what} is missing")
    return value
