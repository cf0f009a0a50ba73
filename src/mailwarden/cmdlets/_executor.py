"""Runs one cmdlet call: bind → (cursor) → unit of work → handler → page.

``-WhatIf`` runs the handler inside a savepoint that is always rolled back, so the preview goes through the
very same validation (identity resolution, uniqueness, constraints) as the real call and changes nothing.
Reads are paged by keyset over the listing's key column; one extra row is fetched to learn whether more
exist, so ``@odata.nextLink`` appears exactly when there are more results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from sqlalchemy.exc import IntegrityError

from ..clock import Clock
from ..errors import ArgumentError, DuplicateObjectError, ParameterBindingError
from ..principal import Principal
from ..store import Database
from ._binding import UNLIMITED, BoundParameters, bind_parameters
from ._cursor import CursorSigner, CursorState, params_digest
from ._invocation import Invocation, Listing, TenantInfo
from ._registry import CmdletSpec, Registry
from .opath import compile_filter

__all__ = ["RESULT_SIZE_WARNING", "CallResult", "Executor"]

RESULT_SIZE_WARNING = (
    "By default, only the first {n} items are returned. Use the ResultSize parameter to specify the number of "
    'items returned. To return all items, specify "-ResultSize Unlimited".'
)


@dataclass
class CallResult:
    value: list[dict[str, Any]]
    next_cursor: str | None = None
    warnings: list[str] = field(default_factory=list)


class Executor:
    def __init__(
        self,
        db: Database,
        registry: Registry,
        cursors: CursorSigner,
        clock: Clock,
        *,
        default_result_size: int = 1000,
    ) -> None:
        self.db = db
        self.registry = registry
        self.cursors = cursors
        self.clock = clock
        self.default_result_size = default_result_size
        # Hooks that later layers (RBAC, audit) attach; each runs inside the call's unit of work.
        self.before_handler: list[Callable[[Invocation], None]] = []

    def bind(self, spec: CmdletSpec, raw: Any) -> BoundParameters:
        return bind_parameters(spec, raw)

    def invoke(
        self,
        spec: CmdletSpec,
        params: BoundParameters,
        *,
        tenant: TenantInfo,
        principal: Principal,
        page_size: int,
        cursor: str | None = None,
    ) -> CallResult:
        state: CursorState | None = None
        digest = params_digest(spec.name, params.values)
        if cursor is not None:
            state = self.cursors.decode(
                cursor,
                tenant_id=tenant.id,
                principal=principal.key,
                cmdlet=spec.name,
                digest=digest,
                now=self.clock.now(),
            )
        what_if = bool(params.get("WhatIf", False)) and spec.writes
        try:
            with self.db.unit_of_work(write=spec.writes) as uow:
                inv = Invocation(spec, params, tenant, principal, uow, self.clock, what_if=what_if)
                for hook in self.before_handler:
                    hook(inv)
                if what_if:
                    savepoint = uow.session.begin_nested()
                    try:
                        self._run(inv, page_size, state, digest)
                        uow.session.flush()
                    finally:
                        savepoint.rollback()
                    return CallResult(
                        value=[],
                        warnings=[
                            f'What if: Performing the operation "{spec.name}" '
                            f"with parameters {sorted(k for k in params.values if k != 'WhatIf')}."
                        ],
                    )
                result = self._run(inv, page_size, state, digest)
                uow.session.flush()
                result.warnings[:0] = inv.warnings
                return result
        except IntegrityError as exc:
            # A unique constraint raced us (another call created the same object meanwhile).
            raise DuplicateObjectError("The object already exists.") from exc

    def _run(self, inv: Invocation, page_size: int, state: CursorState | None, digest: str) -> CallResult:
        if state is not None and not inv.spec.pageable:
            raise ArgumentError("This cmdlet does not page; a cursor cannot be used with it.")
        outcome = inv.spec.handler(inv)
        if isinstance(outcome, Listing):
            return self._page(inv, outcome, page_size, state, digest)
        if outcome is None:
            return CallResult(value=[])
        if isinstance(outcome, dict):
            return CallResult(value=[outcome])
        return CallResult(value=list(outcome))

    def _page(
        self, inv: Invocation, listing: Listing, page_size: int, state: CursorState | None, digest: str
    ) -> CallResult:
        stmt = listing.statement
        filter_text = inv.get("Filter")
        if filter_text is not None:
            if listing.properties is None:
                raise ParameterBindingError("Filter", "This cmdlet has no filterable properties.")
            stmt = stmt.where(compile_filter(filter_text, listing.properties))
        result_size = inv.get("ResultSize", self.default_result_size) if inv.spec.pageable else UNLIMITED
        delivered = state.delivered if state else 0
        remaining = None if result_size is UNLIMITED else max(0, result_size - delivered)
        limit = page_size if remaining is None else min(page_size, remaining)
        if state is not None:
            stmt = stmt.where(listing.key > state.last_key)
        if limit == 0:
            return CallResult(value=[])
        rows = list(inv.session.scalars(stmt.order_by(listing.key).limit(limit + 1)))
        more = len(rows) > limit
        page = rows[:limit]
        value = listing.serialize(inv.session, page)
        warnings: list[str] = []
        next_cursor = None
        total = delivered + len(page)
        if more:
            if remaining is not None and len(page) >= remaining:
                if "ResultSize" not in inv.params:
                    warnings.append(RESULT_SIZE_WARNING.format(n=result_size))
                else:
                    warnings.append(
                        "There are more results available than are currently displayed. To view them, "
                        "increase the value for the ResultSize parameter."
                    )
            else:
                next_cursor = self.cursors.encode(
                    CursorState(
                        tenant_id=inv.tenant.id,
                        principal=inv.principal.key,
                        cmdlet=inv.spec.name,
                        digest=digest,
                        last_key=int(getattr(page[-1], listing.key.key)),
                        delivered=total,
                        issued_at=int(self.clock.now().astimezone(UTC).timestamp()),
                    )
                )
        return CallResult(value=value, next_cursor=next_cursor, warnings=warnings)
