"""A source as a connector sees it, and what to read from it (docs/data.md, "Connector interface").

Plain dataclasses in the core layer: the services build them from the table and the source's secret
without importing pyarrow or a driver; the connectors layer re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_CHUNK_ROWS: Final = 50_000


@dataclass(frozen=True)
class SourceConfig:
    """A source as a connector sees it: the non-secret connection fields and the secret ones apart."""

    name: str
    type: str
    connection: Mapping[str, Any]
    # Kept out of repr: a logged SourceConfig must not print credentials.
    secret: Mapping[str, Any] = field(default_factory=dict, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExtractRequest:
    """What to read from a source; which fields apply depends on the source's type."""

    query: str | None = None
    table: str | None = None
    filter: Mapping[str, Any] | None = None
    projection: Mapping[str, Any] | None = None
    prefix: str | None = None
    format: str | None = None
    watermark_column: str | None = None
    after_watermark: Any = None
    chunk_rows: int = DEFAULT_CHUNK_ROWS
