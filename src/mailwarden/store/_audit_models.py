"""Audit log tables (DESIGN §7).

``audit_records`` is append-only per tenant: ``seq`` is contiguous from 0 and is the leaf index of the
RFC 6962 tree; ``leaf_hash`` = SHA-256(0x00 ‖ canonical JSON of ``data``). ``audit_subtrees`` keeps the hash of
every complete, aligned power-of-two subtree as leaves arrive, so roots and proofs cost O(log n) reads.
``audit_log_state`` is the per-tenant row every append locks, which serialises appends across processes.
Signed tree heads go to ``audit_tree_heads``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ._models import Base, BigId

__all__ = ["AuditLogState", "AuditRecord", "AuditSubtree", "AuditTreeHead"]


class AuditLogState(Base):
    __tablename__ = "audit_log_state"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    next_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # Records below this sequence number were pruned (retention); their subtree hashes are kept.
    pruned_below: Mapped[int] = mapped_column(BigInteger, default=0)
    # When UnifiedAuditLogIngestionEnabled=$false takes effect (60 minutes after it was set), else None.
    ingestion_off_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    retention_days: Mapped[int] = mapped_column(Integer, default=365)
    last_time: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_head_size: Mapped[int] = mapped_column(BigInteger, default=0)
    last_head_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class AuditRecord(Base):
    __tablename__ = "audit_records"
    __table_args__ = (
        Index("uq_audit_tenant_seq", "tenant_id", "seq", unique=True),
        # Search turns its date range into a seq interval (CreationTime never decreases in seq) and pages by
        # seq, so each filter's index ends in seq: one range scan yields rows in result order and COUNTs are
        # index-only. The time index finds the interval's ends with one probe each (migration 0006).
        Index("ix_audit_tenant_time_seq", "tenant_id", "creation_time", "seq"),
        Index("ix_audit_tenant_user_seq", "tenant_id", "user_key", "seq"),
        Index("ix_audit_tenant_op_seq", "tenant_id", "operation", "seq"),
        Index("ix_audit_tenant_type_seq", "tenant_id", "record_type", "seq"),
        Index("ix_audit_tenant_object_seq", "tenant_id", "object_key", "seq"),
        Index("uq_audit_tenant_record", "tenant_id", "record_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    record_id: Mapped[str] = mapped_column(String(36))
    record_type: Mapped[int] = mapped_column(Integer)
    creation_time: Mapped[datetime] = mapped_column(DateTime)
    operation: Mapped[str] = mapped_column(String(128))
    user_key: Mapped[str] = mapped_column(String(320))  # lower-cased UserId, for indexed search
    object_key: Mapped[str | None] = mapped_column(String(512), nullable=True)  # lower-cased ObjectId
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    result_status: Mapped[str] = mapped_column(String(32))
    high_severity: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditSubtree(Base):
    """Hash of leaves ``[index * 2**level, (index + 1) * 2**level)``, stored once that range is complete."""

    __tablename__ = "audit_subtrees"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditTreeHead(Base):
    __tablename__ = "audit_tree_heads"
    __table_args__ = (Index("uq_audit_head_size", "tenant_id", "tree_size", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp: Mapped[datetime] = mapped_column(DateTime)
    kid: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
