"""Handlers: role groups and their members (SEMANTICS §5; RGU13, RG, ADDRGM, UPDRGM, SETRG, REMRG).

ManagedBy: when set, only its managers may change the group or its members, unless the caller passes
``-BypassSecurityGroupManagerCheck`` and is a member of Organization Management or holds Role Management
(directly or not). Built-in role groups can't be removed; a group holding the last delegating assignment of a
role can't be removed. Removing a role group removes its assignments, not the roles.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select

from ..cmdlets._binding import MultiValueChange
from ..cmdlets._invocation import Invocation
from ..errors import AccessDeniedError, ArgumentError, DuplicateObjectError
from ..store._rbac_models import RbacAssignment, RbacMember, RbacRole, RbacRoleGroup
from ._errors import InvalidOperationError
from ._membership import add_member, remove_member
from ._objects import find_by_name, matches, member_display, resolve_member, serialize_group
from ._rails import check_can_delegate, refuse_last_delegating, role_names_of_group
from ._store import bump_generation, group_ids_of, load_rbac, member_key

__all__ = [
    "add_role_group_member",
    "get_role_group",
    "get_role_group_member",
    "new_role_group",
    "remove_role_group",
    "remove_role_group_member",
    "set_role_group",
    "update_role_group_member",
]


def _group(inv: Invocation) -> RbacRoleGroup:
    group: RbacRoleGroup = find_by_name(inv.session, RbacRoleGroup, inv.tenant.id, str(inv.get("Identity")))
    return group


def check_managed_by(inv: Invocation, group: RbacRoleGroup) -> None:
    if inv.principal.kind == "system":
        return
    key = member_key(inv.principal)
    snap = load_rbac(inv.session, inv.tenant.id)
    mine = group_ids_of(inv.session, snap, inv.tenant.id, inv.principal)
    refs = {f"{k}:{r}" for k, r in ([key] if key else [])} | {f"rolegroup:{g}" for g in mine}
    if group.managed_by and refs & set(group.managed_by):
        return
    org = {gid for gid, name in snap.groups.items() if name.lower() == "organization management"}
    if not group.managed_by:
        return  # only Organization Management / Role Management can run this cmdlet at all
    if inv.get("BypassSecurityGroupManagerCheck", False) and (mine & org or _holds_role_management(inv)):
        return
    raise AccessDeniedError(
        f"You don't have sufficient permissions: you aren't a manager (ManagedBy) of the role group "
        f"'{group.name}'. Members of Organization Management or holders of Role Management can use "
        "-BypassSecurityGroupManagerCheck."
    )


def _holds_role_management(inv: Invocation) -> bool:
    from ._grants import grants_for

    snap = load_rbac(inv.session, inv.tenant.id)
    mine = group_ids_of(inv.session, snap, inv.tenant.id, inv.principal)
    return any(g.role.lower() == "role management" for g in grants_for(snap, mine, inv.principal))


def get_role_group(inv: Invocation) -> list[dict[str, Any]]:
    groups = list(
        inv.session.scalars(
            select(RbacRoleGroup)
            .where(RbacRoleGroup.tenant_id == inv.tenant.id)
            .order_by(RbacRoleGroup.name_key)
        )
    )
    pattern = inv.get("Identity")
    if pattern is not None and "*" not in pattern:
        groups = [_group(inv)]
    elif pattern is not None:
        groups = [g for g in groups if matches(pattern, g.name)]
    return [serialize_group(inv.session, g, role_names_of_group(inv.session, g)) for g in groups]


def _managers(inv: Invocation, values: list[str]) -> list[str]:
    return [":".join(resolve_member(inv.session, inv.tenant.id, v, "ManagedBy")) for v in values]


def new_role_group(inv: Invocation) -> dict[str, Any]:
    name = str(inv.get("Name")).strip()
    if not name:
        raise ArgumentError("The role group name can't be empty.")
    if inv.session.scalar(
        select(RbacRoleGroup.id).where(
            RbacRoleGroup.tenant_id == inv.tenant.id, RbacRoleGroup.name_key == name.lower()
        )
    ):
        raise DuplicateObjectError(f"The role group '{name}' already exists.")
    roles = [
        find_by_name(inv.session, RbacRole, inv.tenant.id, r, parameter="Roles")
        for r in inv.get("Roles") or []
    ]
    for role in roles:
        if role.kind == "end-user":
            raise InvalidOperationError(f"End-user role '{role.name}' can't be assigned to a role group.")
        check_can_delegate(inv, role)
    group = RbacRoleGroup(
        tenant_id=inv.tenant.id,
        guid=str(uuid.uuid4()),
        name=name,
        name_key=name.lower(),
        description=str(inv.get("Description") or ""),
        builtin=False,
        synchronized=False,
        managed_by=_managers(inv, list(inv.get("ManagedBy") or [])),
        created_at=inv.now(),
    )
    inv.session.add(group)
    inv.session.flush()
    for role in roles:
        label = f"{role.name}_{name}"
        inv.session.add(
            RbacAssignment(
                tenant_id=inv.tenant.id,
                guid=str(uuid.uuid4()),
                name=label,
                name_key=label.lower(),
                role_id=role.id,
                assignee_kind="rolegroup",
                assignee_ref=str(group.id),
                delegating=False,
                enabled=True,
                created_at=inv.now(),
            )
        )
    for member in inv.get("Members") or []:
        add_member(inv.session, inv.tenant.id, group, *resolve_member(inv.session, inv.tenant.id, member))
    inv.session.flush()
    bump_generation(inv.session, inv.tenant.id)
    return serialize_group(inv.session, group, [r.name for r in roles])


def set_role_group(inv: Invocation) -> None:
    group = _group(inv)
    check_managed_by(inv, group)
    if group.builtin and (inv.has("Name") or inv.has("ManagedBy")) and group.synchronized:
        raise InvalidOperationError(f"The synchronized role group '{group.name}' can't be changed.")
    if inv.has("Name"):
        if group.builtin:
            raise InvalidOperationError(f"The built-in role group '{group.name}' can't be renamed.")
        name = str(inv.get("Name")).strip()
        if name.lower() != group.name_key and inv.session.scalar(
            select(RbacRoleGroup.id).where(
                RbacRoleGroup.tenant_id == inv.tenant.id, RbacRoleGroup.name_key == name.lower()
            )
        ):
            raise DuplicateObjectError(f"The role group '{name}' already exists.")
        group.name, group.name_key = name, name.lower()
    if inv.has("Description"):
        group.description = str(inv.get("Description") or "")
    if inv.has("ManagedBy"):
        value = inv.get("ManagedBy")
        if isinstance(value, MultiValueChange):
            current = [m for m in group.managed_by if m not in _managers(inv, list(value.remove))]
            group.managed_by = current + [m for m in _managers(inv, list(value.add)) if m not in current]
        else:
            group.managed_by = _managers(inv, list(value or []))
    bump_generation(inv.session, inv.tenant.id)


def remove_role_group(inv: Invocation) -> None:
    group = _group(inv)
    if group.builtin:
        raise InvalidOperationError(f"Built-in role groups, such as '{group.name}', can't be removed.")
    check_managed_by(inv, group)
    assignments = list(
        inv.session.scalars(
            select(RbacAssignment).where(
                RbacAssignment.assignee_kind == "rolegroup", RbacAssignment.assignee_ref == str(group.id)
            )
        )
    )
    for a in assignments:
        refuse_last_delegating(inv, a)
    inv.session.execute(delete(RbacAssignment).where(RbacAssignment.id.in_([a.id for a in assignments])))
    inv.session.execute(
        delete(RbacMember).where(
            RbacMember.member_kind == "rolegroup", RbacMember.member_ref == str(group.id)
        )
    )
    inv.session.delete(group)
    bump_generation(inv.session, inv.tenant.id)


def get_role_group_member(inv: Invocation) -> list[dict[str, Any]]:
    group = _group(inv)
    rows = inv.session.execute(
        select(RbacMember.member_kind, RbacMember.member_ref)
        .where(RbacMember.group_id == group.id)
        .order_by(RbacMember.id)
    ).all()
    kinds = {
        "user": "User",
        "app": "ServicePrincipal",
        "group": "MailUniversalSecurityGroup",
        "rolegroup": "RoleGroup",
    }
    return [
        {
            "Identity": member_display(inv.session, inv.tenant.id, k, r),
            "Name": member_display(inv.session, inv.tenant.id, k, r),
            "RecipientType": kinds[k],
            "ExternalDirectoryObjectId": r if k in ("user", "app") else None,
        }
        for k, r in rows
    ]


def add_role_group_member(inv: Invocation) -> None:
    group = _group(inv)
    check_managed_by(inv, group)
    kind, ref = resolve_member(inv.session, inv.tenant.id, str(inv.get("Member")))
    if not add_member(inv.session, inv.tenant.id, group, kind, ref):
        raise DuplicateObjectError(
            f"'{inv.get('Member')}' is already a member of the role group '{group.name}'."
        )


def remove_role_group_member(inv: Invocation) -> None:
    group = _group(inv)
    check_managed_by(inv, group)
    kind, ref = resolve_member(inv.session, inv.tenant.id, str(inv.get("Member")))
    if not remove_member(inv.session, inv.tenant.id, group, kind, ref):
        from ._objects import not_found

        raise not_found(str(inv.get("Member")), "Member")


def update_role_group_member(inv: Invocation) -> None:
    group = _group(inv)
    check_managed_by(inv, group)
    value = inv.get("Members")
    current = {
        (k, r)
        for k, r in inv.session.execute(
            select(RbacMember.member_kind, RbacMember.member_ref).where(RbacMember.group_id == group.id)
        )
    }
    if isinstance(value, MultiValueChange):
        drop = {resolve_member(inv.session, inv.tenant.id, m, "Members") for m in value.remove}
        add = {resolve_member(inv.session, inv.tenant.id, m, "Members") for m in value.add}
        wanted = (current - drop) | add
    else:
        wanted = {resolve_member(inv.session, inv.tenant.id, m, "Members") for m in value or []}
    for kind, ref in current - wanted:
        remove_member(inv.session, inv.tenant.id, group, kind, ref)
    for kind, ref in wanted - current:
        add_member(inv.session, inv.tenant.id, group, kind, ref)
    bump_generation(inv.session, inv.tenant.id)
