"""Role group membership, the source of truth for a principal's role groups (used by the cmdlets, the
operator CLI and ``mailwarden user create|app create --role-group``)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..store._rbac_models import RbacMember, RbacRoleGroup
from ._objects import find_by_name, member_display
from ._store import bump_generation

__all__ = ["add_member", "add_principal_to_role_groups", "remove_member"]


def add_member(session: Session, tenant_id: str, group: RbacRoleGroup, kind: str, ref: str) -> bool:
    """Add one member; False when it already was one."""
    if kind == "rolegroup" and ref == str(group.id):
        from ..errors import ArgumentError

        raise ArgumentError("A role group can't be a member of itself.")
    exists = session.scalar(
        select(RbacMember.id).where(
            RbacMember.group_id == group.id, RbacMember.member_kind == kind, RbacMember.member_ref == ref
        )
    )
    if exists is not None:
        return False
    session.add(
        RbacMember(
            tenant_id=tenant_id,
            group_id=group.id,
            member_kind=kind,
            member_ref=ref,
            display=member_display(session, tenant_id, kind, ref)[:320],
        )
    )
    session.flush()
    bump_generation(session, tenant_id)
    return True


def remove_member(session: Session, tenant_id: str, group: RbacRoleGroup, kind: str, ref: str) -> bool:
    result = session.execute(
        delete(RbacMember).where(
            RbacMember.group_id == group.id, RbacMember.member_kind == kind, RbacMember.member_ref == ref
        )
    )
    bump_generation(session, tenant_id)
    return bool(getattr(result, "rowcount", 0))


def add_principal_to_role_groups(
    session: Session, tenant_id: str, kind: str, ref: str, role_groups: list[str] | tuple[str, ...]
) -> None:
    """``kind`` is ``user`` (identity user id) or ``app`` (client id); unknown role groups are a 404."""
    for name in role_groups:
        group = find_by_name(session, RbacRoleGroup, tenant_id, name, parameter="RoleGroup")
        add_member(session, tenant_id, group, kind, ref)
