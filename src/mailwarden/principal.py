"""Who is calling: the authenticated principal every cmdlet call runs as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Principal", "PrincipalKind"]

PrincipalKind = Literal["user", "app", "system", "apikey"]


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    id: str  # stable key: user object id, app id, "apikey:<n>", "system"
    display_name: str
    kind: PrincipalKind

    @property
    def key(self) -> str:
        """Identifies the principal across tenants (rate limits, cursor binding)."""
        return f"{self.tenant_id}/{self.kind}/{self.id}"
