"""Lock-out rails (SEMANTICS §6; ORGMGMT13, RGU13, BUILTIN13):

* assigning a role (or changing/removing an assignment of it) requires a delegating assignment for it;
* the last delegating assignment of a role can't be removed;
* the last regular Role Management assignment can't be removed;
* a delegating or Role Management assignment can't be removed from Organization Management.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..cmdlets._invocation import Invocation
from ..errors import AccessDeniedError
from ..store._rbac_models import RbacAssignment, RbacRole, RbacRoleGroup
from ._errors import InvalidOperationError
from ._grants import delegable_role_ids
from ._store import group_ids_of, load_rbac

__all__ = ["check_can_delegate", "refuse_last_delegating", "role_names_of_group"]


def check_can_delegate(inv: Invocation, role: RbacRole) -> None:
    if inv.principal.kind == "system":
        return
    snap = load_rbac(inv.session, inv.tenant.id)
    groups = group_ids_of(inv.session, snap, inv.tenant.id, inv.principal)
    if role.id not in delegable_role_ids(snap, groups, inv.principal):
        raise AccessDeniedError(
            f"You can't assign the role '{role.name}': you don't hold a delegating role assignment for it."
        )


def refuse_last_delegating(inv: Invocation, a: RbacAssignment) -> None:
    role = inv.session.get(RbacRole, a.role_id)
    assert role is not None
    if a.assignee_kind == "rolegroup":
        group = inv.session.get(RbacRoleGroup, int(a.assignee_ref))
        if group is not None and group.builtin and group.name_key == "organization management":
            if a.delegating:
                raise InvalidOperationError(
                    "You can't remove any delegating role assignments from the Organization Management role group."
                )
            if role.name_key == "role management":
                raise InvalidOperationError(
                    "You can't remove the Role Management role from the Organization Management role group."
                )
    others = select(func.count()).where(
        RbacAssignment.tenant_id == inv.tenant.id,
        RbacAssignment.role_id == a.role_id,
        RbacAssignment.id != a.id,
        RbacAssignment.delegating == a.delegating,
        RbacAssignment.assignee_kind == "rolegroup",
    )
    if a.delegating and not inv.session.scalar(others):
        raise InvalidOperationError(
            f"You can't remove the last delegating role assignment of the role '{role.name}'. This limitation "
            "helps prevent you from locking yourself out of the system."
        )
    if not a.delegating and role.name_key == "role management" and not inv.session.scalar(others):
        raise InvalidOperationError(
            "The Role Management role must have at least one regular role assignment to a role group; the last "
            "one can't be removed."
        )


def role_names_of_group(session: Session, group: RbacRoleGroup) -> list[str]:
    return sorted(
        set(
            session.scalars(
                select(RbacRole.name)
                .join(RbacAssignment, RbacAssignment.role_id == RbacRole.id)
                .where(
                    RbacAssignment.assignee_kind == "rolegroup",
                    RbacAssignment.assignee_ref == str(group.id),
                    RbacAssignment.delegating.is_(False),
                )
            )
        ),
        key=str.lower,
    )
