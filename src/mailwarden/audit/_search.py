"""Unified audit log search (Search-UnifiedAuditLog; fields of the Office 365 Management Activity API common
schema): criteria → one SQL statement, exact counts, result positions.

Ordering is (CreationTime, SequenceNumber). :func:`~mailwarden.audit._log.append` never lets CreationTime go
backwards within a tenant's log, so that order *is* sequence order and a search pages by keyset over ``seq``
alone; records created in the same second come out in append order (Exchange breaks such ties by record Id —
ours is the order the tamper-evident log itself proves). The same monotonicity turns StartDate/EndDate into a
sequence interval ``[lo, hi)`` found with one probe each of the (tenant, creation_time, seq) index, so positions
(``ResultIndex``) and counts of a date-only search are arithmetic, and other searches count with ``COUNT``.
There are no 5,000/50,000 caps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, cast, func, select
from sqlalchemy.orm import Session

from ..store._audit_models import AuditLogState, AuditRecord
from ._records import RecordType

__all__ = ["SearchCriteria", "SearchPlan", "first_seq_at", "plan_search"]


@dataclass(frozen=True)
class SearchCriteria:
    start: datetime  # inclusive, naive UTC
    end: datetime  # exclusive, naive UTC
    record_types: tuple[RecordType, ...] = ()
    operations: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    object_ids: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    free_text: str | None = None

    @property
    def only_dates(self) -> bool:
        return not (
            self.record_types
            or self.operations
            or self.user_ids
            or self.object_ids
            or self.ip_addresses
            or self.free_text
        )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def first_seq_at(session: Session, tenant_id: str, lo: int, hi: int, when: datetime) -> int:
    """Smallest seq in ``[lo, hi)`` whose CreationTime is ``>= when`` (``hi`` if none). CreationTime is
    non-decreasing in seq, so the first entry of the (tenant, creation_time, seq) index at or after ``when``
    is that record: one index probe instead of a binary search of point reads."""
    if lo >= hi:
        return hi
    value = session.scalar(
        select(AuditRecord.seq)
        .where(
            AuditRecord.tenant_id == tenant_id,
            AuditRecord.creation_time >= when,
            AuditRecord.seq >= lo,
            AuditRecord.seq < hi,
        )
        .order_by(AuditRecord.creation_time, AuditRecord.seq)
        .limit(1)
    )
    return hi if value is None else int(value)


@dataclass(frozen=True)
class SearchPlan:
    tenant_id: str
    criteria: SearchCriteria
    lo: int
    hi: int

    def conditions(self) -> list[ColumnElement[bool]]:
        c = self.criteria
        conds: list[ColumnElement[bool]] = [
            AuditRecord.tenant_id == self.tenant_id,
            AuditRecord.seq >= self.lo,
            AuditRecord.seq < self.hi,
        ]
        # No CreationTime conditions: the seq interval is exactly the date range, and leaving them out keeps
        # the planner on the (tenant, <filter>, seq) indexes, which return rows in paging order.
        if c.record_types:
            conds.append(AuditRecord.record_type.in_([int(t) for t in c.record_types]))
        if c.operations:
            # Exact match so the (tenant, operation, …) index serves it; callers canonicalise the spelling
            # (Search-UnifiedAuditLog maps cmdlet and known operation names case-insensitively).
            conds.append(AuditRecord.operation.in_(list(c.operations)))
        if c.user_ids:
            conds.append(AuditRecord.user_key.in_([u.lower() for u in c.user_ids]))
        if c.object_ids:
            conds.append(AuditRecord.object_key.in_([o.lower() for o in c.object_ids]))
        if c.ip_addresses:
            conds.append(AuditRecord.client_ip.in_(list(c.ip_addresses)))
        if c.free_text:
            pattern = f"%{_escape_like(c.free_text.lower())}%"
            conds.append(func.lower(cast(AuditRecord.data, Text)).like(pattern, escape="\\"))
        return conds

    def statement(self) -> Select[Any]:
        return select(AuditRecord).where(*self.conditions())

    def count(self, session: Session) -> int:
        if self.criteria.only_dates:
            return max(0, self.hi - self.lo)
        return int(
            session.scalar(select(func.count()).select_from(AuditRecord).where(*self.conditions())) or 0
        )

    def positions(self, session: Session, seqs: Sequence[int]) -> list[int]:
        """1-based position of each record (given in ascending seq order) in the whole result."""
        if not seqs:
            return []
        if self.criteria.only_dates:
            return [seq - self.lo + 1 for seq in seqs]
        before = int(
            session.scalar(
                select(func.count())
                .select_from(AuditRecord)
                .where(*self.conditions(), AuditRecord.seq < seqs[0])
            )
            or 0
        )
        return [before + i + 1 for i in range(len(seqs))]


def plan_search(session: Session, tenant_id: str, criteria: SearchCriteria) -> SearchPlan:
    state = session.get(AuditLogState, tenant_id)
    if state is None or criteria.end <= criteria.start:
        return SearchPlan(tenant_id, criteria, 0, 0)
    floor, ceiling = int(state.pruned_below), int(state.next_seq)
    lo = first_seq_at(session, tenant_id, floor, ceiling, criteria.start)
    hi = first_seq_at(session, tenant_id, lo, ceiling, criteria.end)
    return SearchPlan(tenant_id, criteria, lo, hi)
