"""Audit search indexes keyed by sequence number.

Search-UnifiedAuditLog maps StartDate/EndDate to a sequence interval and pages by ``seq``; the 0004 indexes
ended in (creation_time, record_id), so a filtered search could not read its rows in result order and sorted
or scanned instead. Each filter index now ends in ``seq``, and the time index carries ``seq`` so an interval
end is one index probe. The old indexes are dropped: nothing reads them any more and every append paid for
them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# (old name, old columns) -> (new name, new columns)
_CHANGES = (
    (
        ("ix_audit_tenant_time", ["tenant_id", "creation_time", "record_id"]),
        ("ix_audit_tenant_time_seq", ["tenant_id", "creation_time", "seq"]),
    ),
    (
        ("ix_audit_tenant_user_time", ["tenant_id", "user_key", "creation_time", "record_id"]),
        ("ix_audit_tenant_user_seq", ["tenant_id", "user_key", "seq"]),
    ),
    (
        ("ix_audit_tenant_op_time", ["tenant_id", "operation", "creation_time", "record_id"]),
        ("ix_audit_tenant_op_seq", ["tenant_id", "operation", "seq"]),
    ),
    (
        ("ix_audit_tenant_type_time", ["tenant_id", "record_type", "creation_time", "record_id"]),
        ("ix_audit_tenant_type_seq", ["tenant_id", "record_type", "seq"]),
    ),
    (
        ("ix_audit_tenant_object", ["tenant_id", "object_key"]),
        ("ix_audit_tenant_object_seq", ["tenant_id", "object_key", "seq"]),
    ),
)


def upgrade() -> None:
    # Plain CREATE/DROP INDEX on both dialects (no batch table rebuild needed on SQLite for indexes).
    for (old_name, _), (new_name, new_columns) in _CHANGES:
        op.create_index(new_name, "audit_records", new_columns, unique=False)
        op.drop_index(old_name, table_name="audit_records")


def downgrade() -> None:
    for (old_name, old_columns), (new_name, _) in _CHANGES:
        op.create_index(old_name, "audit_records", old_columns, unique=False)
        op.drop_index(new_name, table_name="audit_records")
