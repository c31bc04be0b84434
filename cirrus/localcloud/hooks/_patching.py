"""Reversible attribute patches: what every hook does to moto, and undoes on stop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from cirrus.localcloud.hooks import Undo

_MISSING = object()


def patch_attribute(owner: Any, name: str, value: Any) -> Undo:
    """Set `owner.name` to `value` and return a callable that puts the original back.

    The original must exist: a hook that patches a name moto no longer has would silently do
    nothing, so a moto upgrade that renames a hook point fails loudly here instead.
    """
    if not hasattr(owner, name):
        raise AttributeError(f"{owner!r} has no attribute {name!r} to patch (did moto change?)")
    # Read the raw attribute from the owner's own namespace, so a staticmethod or an inherited
    # method is restored exactly as it was (an inherited one by deleting the override).
    original = vars(owner).get(name, _MISSING) if hasattr(owner, "__dict__") else getattr(owner, name)
    setattr(owner, name, value)

    def undo() -> None:
        if original is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, original)

    return undo


def combine(undos: Iterable[Undo], *, then: Callable[[], None] | None = None) -> Undo:
    """One Undo that reverts `undos` in reverse order, then runs `then` (a hook's own cleanup)."""
    ordered = list(undos)

    def undo() -> None:
        for revert in reversed(ordered):
            revert()
        if then is not None:
            then()

    return undo
