"""Patches that make moto run real code (Lambda handlers, training scripts, inference, deliveries).

Each hook module exposes `install(context: HookContext) -> Undo`: it patches one moto internal and
returns a callable that restores it. Every hook has a test of its own, because each one touches moto
internals that a moto upgrade may change (moto is pinned exactly in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

Undo = Callable[[], None]


@dataclass(frozen=True)
class HookContext:
    """What every hook may need to know about the running emulator."""

    endpoint_url: str  # the emulator's base URL, e.g. http://127.0.0.1:4566
    work_dir: Path  # scratch space owned by this emulator (extracted code, job directories)
    region: str = "us-east-1"
    account_id: str = "123456789012"
