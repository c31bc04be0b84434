"""Who is calling, and from where: what authorization and the audit trail need of a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cirrus_core.principal import Principal


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated principal of one request, with the request's id and source address."""

    principal: Principal
    request_id: str | None = None
    source_ip: str | None = None

    @property
    def actor(self) -> str:
        """How events and audit records name the caller."""
        return self.principal.actor
