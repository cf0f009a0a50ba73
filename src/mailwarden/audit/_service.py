"""The audit service the executor and the web layers call: append in the caller's transaction, sign heads
when due, record failures and denials in a transaction of their own, honour the ingestion switch only after
its delay."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..clock import Clock, utcnow
from ..store import Database, KeyRing
from ..store._audit_models import AuditLogState
from ._heads import HeadSigner, SignedHead
from ._log import AppendedRecord, TreeReader, append, claim, lock_state, record_time, store_record

__all__ = ["INGESTION_OFF_DELAY", "AuditService", "on_success", "service_for"]

# Turning the unified audit log off takes effect only after this delay, and the change itself is a
# high-severity record: an attacker who disables the log leaves a trace and an hour of evidence.
INGESTION_OFF_DELAY = timedelta(minutes=60)


class AuditService:
    def __init__(self, db: Database, keyring: KeyRing, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._keyring = keyring

        def current() -> tuple[str, bytes]:
            key = keyring.current("audit-head")
            return key.kid, key.secret

        def lookup(kid: str) -> bytes | None:
            key = keyring.get("audit-head", kid)
            return None if key is None else key.secret

        self.signer = HeadSigner(current, lookup)
        # A database not migrated yet has no key table: the API's readiness probe reports that.
        with contextlib.suppress(SQLAlchemyError):
            self.ensure_keys()
        _SERVICES[db.engine] = weakref.ref(self)

    def ensure_keys(self) -> None:
        """Create the signing key up front: creating it lazily would need a second write transaction while
        an append holds the (SQLite) write lock. Called at start-up and by operator commands."""
        self._keyring.current("audit-head")

    def now(self) -> datetime:
        return utcnow(self.clock)

    def record(
        self, session: Session, tenant_id: str, record: dict[str, Any], *, high_severity: bool = False
    ) -> AppendedRecord | None:
        """Append inside the caller's transaction. Returns None when ingestion is off and the record is
        routine (high-severity records are always kept)."""
        now = self.now()
        taken = claim(session, tenant_id, record_time(record), now=now, high_severity=high_severity)
        if taken is not None:  # the common case: lock and take the number in one statement
            appended = store_record(
                session, tenant_id, record, taken.seq, taken.when, high_severity=high_severity
            )
            due = self.signer.due(appended.seq + 1, taken.last_head_size, taken.last_head_at, now)
        else:
            state = lock_state(session, tenant_id)
            if not high_severity and state.ingestion_off_at is not None and now >= state.ingestion_off_at:
                return None
            appended = append(session, tenant_id, record, high_severity=high_severity, state=state)
            due = self.signer.due(state.next_seq, state.last_head_size, state.last_head_at, now)
        if due:
            session.flush()
            self.sign_head(session, tenant_id)
        return appended

    def record_separately(
        self, tenant_id: str, build: Callable[[], dict[str, Any]], *, high_severity: bool = False
    ) -> None:
        """For failed and denied calls: the action's own transaction rolled back, the record must not."""
        with self.db.unit_of_work(write=True) as uow:
            self.record(uow.session, tenant_id, build(), high_severity=high_severity)

    def sign_head(self, session: Session, tenant_id: str) -> SignedHead:
        reader = TreeReader(session, tenant_id)
        size = reader.size()
        return self.signer.sign(session, tenant_id, size, reader.root(size), self.now())

    def set_ingestion(self, session: Session, tenant_id: str, enabled: bool) -> datetime | None:
        state = lock_state(session, tenant_id)
        if enabled:
            state.ingestion_off_at = None
        elif state.ingestion_off_at is None:
            state.ingestion_off_at = self.now() + INGESTION_OFF_DELAY
        return state.ingestion_off_at

    def state(self, session: Session, tenant_id: str) -> AuditLogState | None:
        return session.get(AuditLogState, tenant_id)


# The service of each database, so cmdlet handlers (which see only their unit of work) can sign heads.
# Weak both ways: the service holds the database (and so the engine) alive, not the other way round.
_SERVICES: weakref.WeakKeyDictionary[Engine, weakref.ref[AuditService]] = weakref.WeakKeyDictionary()


def service_for(session: Session) -> AuditService | None:
    """The audit service attached to the database this session talks to, if any."""
    ref = _SERVICES.get(session.get_bind().engine)
    return None if ref is None else ref()


# Cmdlets whose success changes how auditing itself behaves: always high severity.
_AUDIT_CONTROL = {
    "set-adminauditlogconfig",
    "set-auditlogretention",
    "set-mailboxauditbypassassociation",
    "set-organizationconfig",
}


def _affects_auditing(cmdlet: str, params: dict[str, Any]) -> bool:
    name = cmdlet.lower()
    if name == "set-organizationconfig":
        return "AuditDisabled" in params
    if name == "set-mailbox":
        return any(p in params for p in ("AuditEnabled", "AuditAdmin", "AuditDelegate", "AuditOwner"))
    return name in _AUDIT_CONTROL


def on_success(
    service: AuditService, session: Session, tenant_id: str, cmdlet: str, params: dict[str, Any]
) -> bool:
    """Apply the audit-side effects of a successful cmdlet; returns whether its record is high severity."""
    if cmdlet.lower() == "set-adminauditlogconfig" and "UnifiedAuditLogIngestionEnabled" in params:
        service.set_ingestion(session, tenant_id, bool(params["UnifiedAuditLogIngestionEnabled"]))
    return _affects_auditing(cmdlet, params)
