"""What a handler receives (:class:`Invocation`) and what a read handler returns (:class:`Listing`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ..clock import Clock, utcnow
from ..principal import Principal
from ._binding import BoundParameters
from ._registry import CmdletSpec

if TYPE_CHECKING:
    from datetime import datetime

    from ..store import UnitOfWork
    from .opath import PropertyMap

__all__ = ["Invocation", "Listing", "TenantInfo"]


@dataclass(frozen=True)
class TenantInfo:
    id: str
    name: str
    initial_domain: str


@dataclass
class Invocation:
    spec: CmdletSpec
    params: BoundParameters
    tenant: TenantInfo
    principal: Principal
    uow: UnitOfWork
    clock: Clock
    what_if: bool = False
    warnings: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # what hooks keep between before and after

    @property
    def session(self) -> Session:
        return self.uow.session

    def now(self) -> datetime:
        return utcnow(self.clock)

    def has(self, name: str) -> bool:
        return name in self.params

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


@dataclass(frozen=True)
class Listing:
    """A read result the executor pages by keyset: ``statement`` is already scoped to the tenant and to the
    handler's own conditions; ``key`` is a unique, immutable, monotonically assigned column."""

    statement: Select[Any]
    key: InstrumentedAttribute[int]
    serialize: Callable[[Session, list[Any]], list[dict[str, Any]]]
    properties: PropertyMap | None = None
