"""Retention: prune old audit records without breaking the RFC 6962 §2.1 tree.

Only a prefix ``[0, P)`` with ``P`` even is ever deleted, so the deleted leaves form whole, aligned
power-of-two subtrees (the binary decomposition of ``P``, every block of level >= 1) whose hashes are already
stored in ``audit_subtrees`` and are kept. Roots, the audit paths of remaining records (their left siblings
are complete stored subtrees) and consistency proofs between any sizes ``>= P`` keep verifying. A consistency
proof *from* an older size ``m < P`` ends with the block holding leaf ``m - 1``; for odd ``m`` that is a
level-0 hash, so the leaf hash just below every signed head inside the pruned range is kept as a level-0
subtree row. A head is signed before pruning, and the prune itself is a high-severity record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..principal import Principal
from ..store._audit_models import AuditRecord, AuditSubtree, AuditTreeHead
from ._log import lock_state
from ._records import RecordType, new_record
from ._search import first_seq_at
from ._service import AuditService

__all__ = ["PruneResult", "prune"]


@dataclass(frozen=True)
class PruneResult:
    tenant_id: str
    cutoff: datetime
    pruned_below_before: int
    pruned_below: int
    deleted: int
    kept_leaf_hashes: int


def prune(session: Session, service: AuditService, tenant_id: str) -> PruneResult:
    """Delete records older than the tenant's retention (whole aligned subtrees only), inside the caller's
    transaction."""
    state = lock_state(session, tenant_id)
    now = service.now()
    cutoff = now - timedelta(days=int(state.retention_days))
    before = int(state.pruned_below)
    boundary = first_seq_at(session, tenant_id, before, int(state.next_seq), cutoff)
    target = boundary & ~1  # even: [0, target) is a union of aligned subtrees of level >= 1
    if target <= before:
        return PruneResult(tenant_id, cutoff, before, before, 0, 0)
    session.flush()
    service.sign_head(session, tenant_id)
    session.flush()
    kept = 0
    head_sizes = session.scalars(
        select(AuditTreeHead.tree_size).where(
            AuditTreeHead.tenant_id == tenant_id,
            AuditTreeHead.tree_size > before,
            AuditTreeHead.tree_size <= target,
        )
    )
    for size in head_sizes:
        if size % 2 == 1:
            leaf = session.scalar(
                select(AuditRecord.leaf_hash).where(
                    AuditRecord.tenant_id == tenant_id, AuditRecord.seq == size - 1
                )
            )
            if leaf is not None:
                session.add(AuditSubtree(tenant_id=tenant_id, level=0, index=size - 1, hash=bytes(leaf)))
                kept += 1
    result = session.execute(
        delete(AuditRecord).where(
            AuditRecord.tenant_id == tenant_id, AuditRecord.seq >= before, AuditRecord.seq < target
        )
    )
    deleted = int(getattr(result, "rowcount", 0) or 0)
    state.pruned_below = target
    session.flush()
    system = Principal(tenant_id, "system", "System", "system")
    service.record(
        session,
        tenant_id,
        new_record(
            record_type=RecordType.MailwardenAuditConfig,
            operation="PruneAuditLog",
            tenant_id=tenant_id,
            when=now,
            principal=system,
            user_id="System",
            workload="Mailwarden",
            result_status="Succeeded",
            extra={
                "RetentionDays": int(state.retention_days),
                "Cutoff": cutoff.strftime("%Y-%m-%dT%H:%M:%S"),
                "PrunedBelow": target,
                "DeletedRecords": deleted,
            },
        ),
        high_severity=True,
    )
    return PruneResult(tenant_id, cutoff, before, target, deleted, kept)
