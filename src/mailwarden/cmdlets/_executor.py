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

from ..audit._changes import ChangeLog
from ..audit._records import RecordType, exchange_admin_record
from ..audit._service import AuditService
from ..audit._service import on_success as audit_on_success
from ..clock import Clock
from ..errors import (
    AccessDeniedError,
    ApiError,
    ArgumentError,
    DuplicateObjectError,
    ParameterBindingError,
    ServiceError,
)
from ..principal import Principal
from ..store import Database
from ._binding import UNLIMITED, BoundParameters, bind_parameters
from ._cursor import CursorSigner, CursorState, params_digest
from ._invocation import Invocation, Listing, TenantInfo
from ._mailbox_audit_hook import MailboxAuditHook
from ._registry import CmdletSpec, Registry
from .opath import compile_filter

__all__ = ["RESULT_SIZE_WARNING", "CallContext", "CallResult", "Executor"]

RESULT_SIZE_WARNING = (
    "By default, only the first {n} items are returned. Use the ResultSize parameter to specify the number of "
    'items returned. To return all items, specify "-ResultSize Unlimited".'
)


@dataclass
class CallResult:
    value: list[dict[str, Any]]
    next_cursor: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CallContext:
    """Where a call came from, for the audit record."""

    client_ip: str | None = None
    client_port: int | None = None
    client_request_id: str | None = None
    session_id: str | None = None
    app_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


class Executor:
    def __init__(
        self,
        db: Database,
        registry: Registry,
        cursors: CursorSigner,
        clock: Clock,
        *,
        default_result_size: int = 1000,
        audit: AuditService | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.cursors = cursors
        self.clock = clock
        self.default_result_size = default_result_size
        self.audit = audit
        # Hooks that later layers (RBAC, conditional access) attach; each runs inside the call's unit of
        # work, before the handler. An AccessDeniedError raised there is audited like any denial.
        self.before_handler: list[Callable[[Invocation], None]] = []
        # Run after the handler (and its flush), still inside the unit of work: a hook that raises undoes
        # the change (e.g. RBAC's "in scope after the change" check).
        self.after_handler: list[Callable[[Invocation, CallResult], None]] = []
        # Narrow a read handler's Listing before it is paged (e.g. RBAC read-restricting scopes).
        self.listing_filters: list[Callable[[Invocation, Listing], Listing]] = []
        if audit is not None:  # mailbox audit records for the mailbox actions cmdlets perform (DESIGN §7)
            self.before_handler.append(MailboxAuditHook(audit))

    def bind(self, spec: CmdletSpec, raw: Any) -> BoundParameters:
        return bind_parameters(spec, raw)

    def run(
        self,
        spec: CmdletSpec,
        raw: Any,
        *,
        tenant: TenantInfo,
        principal: Principal,
        page_size: int,
        cursor: str | None = None,
        context: CallContext | None = None,
    ) -> CallResult:
        """Bind and invoke; a write whose parameters do not even bind is still audited as a failure."""
        try:
            params = bind_parameters(spec, raw)
        except ApiError as exc:
            if spec.writes:
                raw_params = raw if isinstance(raw, dict) else {"Parameters": raw}
                self._audit_failure(spec, raw_params, tenant, principal, exc, context)
            raise
        return self.invoke(
            spec,
            params,
            tenant=tenant,
            principal=principal,
            page_size=page_size,
            cursor=cursor,
            context=context,
        )

    def invoke(
        self,
        spec: CmdletSpec,
        params: BoundParameters,
        *,
        tenant: TenantInfo,
        principal: Principal,
        page_size: int,
        cursor: str | None = None,
        context: CallContext | None = None,
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
        # Audited reads (audit-log searches) record who searched for what, once per search (first page).
        audited = self.audit is not None and (
            spec.writes or (bool(spec.extra.get("audit_reads")) and state is None)
        )
        try:
            with self.db.unit_of_work(write=spec.writes or audited) as uow:
                inv = Invocation(spec, params, tenant, principal, uow, self.clock, what_if=what_if)
                changes = ChangeLog(uow.session) if audited and spec.writes else None
                try:
                    for hook in self.before_handler:
                        hook(inv)
                    if what_if:
                        savepoint = uow.session.begin_nested()
                        try:
                            preview = self._run(inv, page_size, state, digest)
                            uow.session.flush()
                            for after in self.after_handler:
                                after(inv, preview)
                        finally:
                            savepoint.rollback()
                        result = CallResult(
                            value=[],
                            warnings=[
                                f'What if: Performing the operation "{spec.name}" '
                                f"with parameters {sorted(k for k in params.values if k != 'WhatIf')}."
                            ],
                        )
                    else:
                        result = self._run(inv, page_size, state, digest)
                        uow.session.flush()
                        for after in self.after_handler:
                            after(inv, result)
                        result.warnings[:0] = inv.warnings
                    if audited:
                        self._audit_success(inv, result, changes, context, preview=what_if)
                finally:
                    if changes is not None:
                        changes.close()
                return result
        except IntegrityError as exc:
            # A unique constraint raced us (another call created the same object meanwhile).
            error = DuplicateObjectError("The object already exists.")
            if spec.writes:
                self._audit_failure(spec, params.values, tenant, principal, error, context)
            raise error from exc
        except ApiError as exc:
            if spec.writes or isinstance(exc, AccessDeniedError):
                self._audit_failure(spec, params.values, tenant, principal, exc, context)
            raise
        except Exception as exc:
            if spec.writes:
                self._audit_failure(
                    spec, params.values, tenant, principal, ServiceError("internal error"), context
                )
            raise exc

    # --- audit ------------------------------------------------------------------------------------------

    def _object_id(self, params: dict[str, Any], value: list[dict[str, Any]] | None = None) -> str | None:
        for name in ("Identity", "Mailbox", "Name", "DomainName"):
            if isinstance(params.get(name), str):
                return str(params[name])
        if value and isinstance(value[0].get("Identity"), str):
            return str(value[0]["Identity"])
        return None

    def _secret_names(self, spec: CmdletSpec) -> list[str]:
        return [p.name for p in spec.all_params() if p.secret]

    def _audit_success(
        self,
        inv: Invocation,
        result: CallResult,
        changes: ChangeLog | None,
        context: CallContext | None,
        *,
        preview: bool,
    ) -> None:
        assert self.audit is not None
        params = inv.params.values
        high = (
            False
            if preview
            else audit_on_success(self.audit, inv.session, inv.tenant.id, inv.spec.name, params)
        )
        record = exchange_admin_record(
            operation=inv.spec.name,
            tenant_id=inv.tenant.id,
            organization_name=inv.tenant.initial_domain,
            when=inv.now(),
            principal=inv.principal,
            params=params,
            secret_names=self._secret_names(inv.spec),
            succeeded=True,
            object_id=self._object_id(params, result.value),
            modified=[] if changes is None or preview else changes.changes,
            preview=preview,
            context=context.as_dict() if context else None,
        )
        if not inv.spec.writes:
            record["RecordType"] = int(RecordType.MailwardenAuditAccess)
        self.audit.record(inv.session, inv.tenant.id, record, high_severity=high)

    def _audit_failure(
        self,
        spec: CmdletSpec,
        params: dict[str, Any],
        tenant: TenantInfo,
        principal: Principal,
        error: ApiError,
        context: CallContext | None,
    ) -> None:
        if self.audit is None:
            return
        audit = self.audit

        def build() -> dict[str, Any]:
            return exchange_admin_record(
                operation=spec.name,
                tenant_id=tenant.id,
                organization_name=tenant.initial_domain,
                when=audit.now(),
                principal=principal,
                params=params,
                secret_names=self._secret_names(spec),
                succeeded=False,
                object_id=self._object_id(params),
                error=error.code,
                context=context.as_dict() if context else None,
            )

        audit.record_separately(tenant.id, build, high_severity=isinstance(error, AccessDeniedError))

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
        for narrow in self.listing_filters:
            listing = narrow(inv, listing)
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
