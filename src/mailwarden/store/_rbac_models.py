"""RBAC tables (DESIGN §6; SEMANTICS.md §1-§9): roles and their entries, role groups and their members,
management scopes, role assignments, the per-tenant generation counter, and privileged access (PAM)
approval policies and requests.

Every row carries ``tenant_id``. Names are unique per tenant case-insensitively (``name_key`` = lower-case).
Members and assignees are typed references: ``user`` (identity user id), ``app`` (OAuth client id),
``group`` (directory recipient id of a mail-enabled security group), ``rolegroup`` (role group id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ._models import Base, BigId

__all__ = [
    "RbacAssignment",
    "RbacElevationPolicy",
    "RbacElevationRequest",
    "RbacGeneration",
    "RbacMember",
    "RbacRole",
    "RbacRoleEntry",
    "RbacRoleGroup",
    "RbacScope",
]


class RbacGeneration(Base):
    """Bumped in the transaction of every RBAC change: nodes may cache a tenant's RBAC data and validate the
    cache with one read of this row (DESIGN §10)."""

    __tablename__ = "rbac_generation"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class RbacRole(Base):
    __tablename__ = "rbac_roles"
    __table_args__ = (UniqueConstraint("tenant_id", "name_key", name="uq_rbac_roles_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    guid: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(256))
    name_key: Mapped[str] = mapped_column(String(256))
    role_type: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))  # administrative | end-user
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("rbac_roles.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    description: Mapped[str] = mapped_column(String(2000), default="")
    scopes: Mapped[dict[str, Any]] = mapped_column(JSON)  # implicit recipient/config read/write scopes
    created_at: Mapped[datetime] = mapped_column(DateTime)


class RbacRoleEntry(Base):
    __tablename__ = "rbac_role_entries"
    __table_args__ = (UniqueConstraint("role_id", "cmdlet_key", name="uq_rbac_entries_role_cmdlet"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("rbac_roles.id", ondelete="CASCADE"), index=True)
    cmdlet: Mapped[str] = mapped_column(String(128))
    cmdlet_key: Mapped[str] = mapped_column(String(128))
    parameters: Mapped[list[Any]] = mapped_column(JSON)


class RbacRoleGroup(Base):
    __tablename__ = "rbac_role_groups"
    __table_args__ = (UniqueConstraint("tenant_id", "name_key", name="uq_rbac_role_groups_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    guid: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(256))
    name_key: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(String(2000), default="")
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    synchronized: Mapped[bool] = mapped_column(Boolean, default=False)
    managed_by: Mapped[list[Any]] = mapped_column(JSON)  # member references ("user:<id>", ...)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class RbacMember(Base):
    __tablename__ = "rbac_members"
    __table_args__ = (
        UniqueConstraint("group_id", "member_kind", "member_ref", name="uq_rbac_members"),
        Index("ix_rbac_members_ref", "tenant_id", "member_kind", "member_ref"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("rbac_role_groups.id", ondelete="CASCADE"), index=True)
    member_kind: Mapped[str] = mapped_column(String(16))  # user | app | group | rolegroup
    member_ref: Mapped[str] = mapped_column(String(64))
    display: Mapped[str] = mapped_column(String(320), default="")


class RbacScope(Base):
    __tablename__ = "rbac_scopes"
    __table_args__ = (UniqueConstraint("tenant_id", "name_key", name="uq_rbac_scopes_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    guid: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(256))
    name_key: Mapped[str] = mapped_column(String(256))
    recipient_filter: Mapped[str] = mapped_column(String(4096))  # canonical OPATH text
    recipient_root: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class RbacAssignment(Base):
    __tablename__ = "rbac_assignments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name_key", name="uq_rbac_assignments_name"),
        Index("ix_rbac_assignments_assignee", "tenant_id", "assignee_kind", "assignee_ref"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    guid: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(512))
    name_key: Mapped[str] = mapped_column(String(512))
    role_id: Mapped[int] = mapped_column(ForeignKey("rbac_roles.id", ondelete="RESTRICT"), index=True)
    assignee_kind: Mapped[str] = mapped_column(String(16))  # rolegroup | user | app
    assignee_ref: Mapped[str] = mapped_column(String(64))
    delegating: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    relative_scope: Mapped[str | None] = mapped_column(String(32), nullable=True)
    scope_id: Mapped[int | None] = mapped_column(
        ForeignKey("rbac_scopes.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    restrict_reads: Mapped[bool] = mapped_column(Boolean, default=False)  # ours: hide out-of-scope objects
    created_at: Mapped[datetime] = mapped_column(DateTime)


class RbacElevationPolicy(Base):
    """``New-ElevatedAccessApprovalPolicy``: a task (cmdlet), role or role group under approval."""

    __tablename__ = "rbac_elevation_policies"
    __table_args__ = (UniqueConstraint("tenant_id", "policy_type", "target_key", name="uq_rbac_pam_policy"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    guid: Mapped[str] = mapped_column(String(36))
    policy_type: Mapped[str] = mapped_column(String(16))  # Task | Role | RoleGroup
    target: Mapped[str] = mapped_column(String(256))  # cmdlet, role name or role group name
    target_key: Mapped[str] = mapped_column(String(256))
    approval_type: Mapped[str] = mapped_column(String(16))  # Manual | Auto
    approver_group: Mapped[str] = mapped_column(String(320))  # role group name or mail-enabled USG
    created_at: Mapped[datetime] = mapped_column(DateTime)


class RbacElevationRequest(Base):
    __tablename__ = "rbac_elevation_requests"
    __table_args__ = (Index("ix_rbac_pam_requester", "tenant_id", "requester_kind", "requester_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    guid: Mapped[str] = mapped_column(String(36), unique=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("rbac_elevation_policies.id", ondelete="CASCADE"))
    requester_kind: Mapped[str] = mapped_column(String(16))
    requester_id: Mapped[str] = mapped_column(String(64))
    requester_name: Mapped[str] = mapped_column(String(320))
    task: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(String(2000))
    duration_hours: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # Pending | Approved | Denied | Expired | Revoked
    created_at: Mapped[datetime] = mapped_column(DateTime)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    comment: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    access_ends_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
