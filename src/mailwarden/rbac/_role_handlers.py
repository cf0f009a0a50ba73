"""Handlers: management roles and role entries (SEMANTICS §1; ROLES13, NEWROLE, REMROLE, ADDRE, SETRE, REMRE).

Built-in roles are immutable; a custom role is a child (``-Parent``) and may hold only entries - cmdlet and
parameters - present in its IMMEDIATE parent; a parameter can't be removed from a parent's entry while a
child's entry still has it; every role keeps at least one entry.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select

from ..cmdlets._binding import MultiValueChange
from ..cmdlets._invocation import Invocation
from ..errors import ArgumentError, DuplicateObjectError, NotFoundError
from ..store._rbac_models import RbacAssignment, RbacRole, RbacRoleEntry, RbacRoleGroup
from ._errors import InvalidOperationError
from ._objects import find_by_name, matches, not_found, serialize_entry, serialize_role
from ._seed import load_seed, role_group_name
from ._store import bump_generation

__all__ = [
    "add_role_entry",
    "get_role",
    "get_role_entry",
    "new_role",
    "remove_role",
    "remove_role_entry",
    "set_role_entry",
]


def _roles(inv: Invocation) -> list[RbacRole]:
    return list(
        inv.session.scalars(
            select(RbacRole).where(RbacRole.tenant_id == inv.tenant.id).order_by(RbacRole.name_key)
        )
    )


def _entries(inv: Invocation, role_id: int) -> list[RbacRoleEntry]:
    return list(
        inv.session.scalars(
            select(RbacRoleEntry).where(RbacRoleEntry.role_id == role_id).order_by(RbacRoleEntry.cmdlet_key)
        )
    )


def get_role(inv: Invocation) -> list[dict[str, Any]]:
    roles = _roles(inv)
    by_id = {r.id: r for r in roles}
    pattern = inv.get("Identity")
    if pattern is not None and "*" not in pattern:
        roles = [find_by_name(inv.session, RbacRole, inv.tenant.id, pattern)]
    elif pattern is not None:
        roles = [r for r in roles if matches(pattern, r.name)]
    if inv.has("RoleType"):
        roles = [r for r in roles if r.role_type.lower() == str(inv.get("RoleType")).lower()]
    out = []
    for role in roles:
        entries = _entries(inv, role.id)
        if inv.has("Cmdlet"):
            wanted = str(inv.get("Cmdlet")).lower()
            entry = next((e for e in entries if e.cmdlet_key == wanted), None)
            if entry is None:
                continue
            params = {str(p).lower() for p in inv.get("CmdletParameters") or []}
            if not params <= {str(p).lower() for p in entry.parameters}:
                continue  # only roles that include ALL the parameters (FINDPERM)
        parent = by_id[role.parent_id].name if role.parent_id in by_id else None
        out.append(serialize_role(role, parent, [f"({role.name}) {e.cmdlet}" for e in entries]))
    return out


def new_role(inv: Invocation) -> dict[str, Any]:
    name = str(inv.get("Name")).strip()
    if not name or "\\" in name or "*" in name:
        raise ArgumentError("The role name can't be empty or contain '\\' or '*'.")
    if inv.session.scalar(
        select(RbacRole.id).where(RbacRole.tenant_id == inv.tenant.id, RbacRole.name_key == name.lower())
    ):
        raise DuplicateObjectError(f"The role '{name}' already exists.")
    parent = find_by_name(inv.session, RbacRole, inv.tenant.id, inv.get("Parent"), parameter="Parent")
    role = RbacRole(
        tenant_id=inv.tenant.id,
        guid=str(uuid.uuid4()),
        name=name,
        name_key=name.lower(),
        role_type=parent.role_type,
        kind=parent.kind,
        builtin=False,
        parent_id=parent.id,
        description=str(inv.get("Description") or ""),
        scopes=dict(parent.scopes),
        created_at=inv.now(),
    )
    inv.session.add(role)
    inv.session.flush()
    for e in _entries(inv, parent.id):
        inv.session.add(
            RbacRoleEntry(
                tenant_id=inv.tenant.id,
                role_id=role.id,
                cmdlet=e.cmdlet,
                cmdlet_key=e.cmdlet_key,
                parameters=list(e.parameters),
            )
        )
    inv.session.flush()
    for group in _delegating_all_groups(inv):
        label = f"{role.name}-Delegating_{group.name}"
        inv.session.add(
            RbacAssignment(
                tenant_id=inv.tenant.id,
                guid=str(uuid.uuid4()),
                name=label[:512],
                name_key=label.lower()[:512],
                role_id=role.id,
                assignee_kind="rolegroup",
                assignee_ref=str(group.id),
                delegating=True,
                enabled=True,
                relative_scope=None,
                scope_id=None,
                restrict_reads=False,
                created_at=inv.now(),
            )
        )
    inv.session.flush()
    bump_generation(inv.session, inv.tenant.id)
    return serialize_role(role, parent.name, [f"({role.name}) {e.cmdlet}" for e in _entries(inv, role.id)])


def _delegating_all_groups(inv: Invocation) -> list[RbacRoleGroup]:
    """The built-in role groups that hold a delegating assignment of every role (Organization Management,
    SEMANTICS ORGMGMT13: it can assign any role). A new custom role gets the same delegating assignment, as
    the built-in ones got at seeding, so Organization Management can assign it and the "last delegating
    assignment" rail protects it."""
    names = [
        role_group_name(g["name"], inv.tenant.id).lower()
        for g in load_seed()[1]["role_groups"]
        if g.get("delegating") == "*"
    ]
    return list(
        inv.session.scalars(
            select(RbacRoleGroup).where(
                RbacRoleGroup.tenant_id == inv.tenant.id,
                RbacRoleGroup.builtin,
                RbacRoleGroup.name_key.in_(names),
            )
        )
    )


def _custom(role: RbacRole, action: str) -> None:
    if role.builtin:
        raise InvalidOperationError(f"Built-in role '{role.name}' can't be changed: you can't {action}.")


def remove_role(inv: Invocation) -> None:
    role = find_by_name(inv.session, RbacRole, inv.tenant.id, inv.get("Identity"))
    if role.builtin:
        raise InvalidOperationError(f"Built-in roles, such as '{role.name}', can't be removed.")
    doomed = [role]
    frontier = [role]
    while frontier:
        children = list(
            inv.session.scalars(select(RbacRole).where(RbacRole.parent_id.in_([r.id for r in frontier])))
        )
        if children and not inv.get("Recurse", False):
            raise InvalidOperationError(
                f"The role '{role.name}' has child roles ({', '.join(c.name for c in children)}); use -Recurse."
            )
        doomed += children
        frontier = children
    ids = [r.id for r in doomed]
    # The automatic delegating assignments (see new_role) go with the role; any other one must be removed
    # first, as in Exchange.
    automatic = (
        (RbacAssignment.assignee_kind == "rolegroup")
        & RbacAssignment.delegating
        & RbacAssignment.assignee_ref.in_([str(g.id) for g in _delegating_all_groups(inv)])
    )
    assigned = inv.session.scalar(select(func.count()).where(RbacAssignment.role_id.in_(ids), ~(automatic)))
    if assigned:
        raise InvalidOperationError(
            f"The role '{role.name}' (or a child) has role assignments; remove them first."
        )
    inv.session.execute(delete(RbacAssignment).where(RbacAssignment.role_id.in_(ids), automatic))
    for r in reversed(doomed):
        inv.session.execute(delete(RbacRoleEntry).where(RbacRoleEntry.role_id == r.id))
        inv.session.delete(r)
        inv.session.flush()
    bump_generation(inv.session, inv.tenant.id)


def _split(inv: Invocation, identity: str) -> tuple[str, str]:
    """``<Role>\\<Cmdlet>`` (ROLES13). Without the ``\\`` the text can only be meant as a role: if no such role
    exists the object named is missing (404, like any unknown identity); if it does, the entry part is what's
    missing from the call (400)."""
    if "\\" not in identity:
        text = identity.strip()
        if "*" not in text and not _role_exists(inv, text):
            raise not_found(identity)
        raise ArgumentError(f"'{identity}' isn't a role entry identity: use '<Role>\\<Cmdlet>'.")
    role, cmdlet = identity.split("\\", 1)
    return role.strip(), cmdlet.strip()


def _role_exists(inv: Invocation, text: str) -> bool:
    try:
        find_by_name(inv.session, RbacRole, inv.tenant.id, text)
    except NotFoundError:
        return False
    return True


def get_role_entry(inv: Invocation) -> list[dict[str, Any]]:
    identity = str(inv.get("Identity"))
    role_pat, cmdlet_pat = _split(inv, identity)
    wanted = {str(p).lower() for p in inv.get("Parameters") or []}
    out = []
    if "*" in role_pat:
        roles = [r for r in _roles(inv) if matches(role_pat, r.name)]
    else:  # a plain role name or GUID must exist (404 otherwise), as for every Get-* identity
        roles = [find_by_name(inv.session, RbacRole, inv.tenant.id, role_pat)]
    found = False
    for role in roles:
        for e in _entries(inv, role.id):
            if matches(cmdlet_pat, e.cmdlet):
                found = True
                if wanted <= {str(p).lower() for p in e.parameters}:
                    out.append(serialize_entry(role, e))
    if not found and "*" not in identity:
        # ``Role\Cmdlet`` names one entry: a missing one is a 404. A -Parameters filter that excludes an
        # existing entry is an empty result, as a filter is everywhere.
        raise not_found(identity)
    return out


def _parent_entry(inv: Invocation, role: RbacRole, cmdlet: str) -> RbacRoleEntry:
    entry = inv.session.scalar(
        select(RbacRoleEntry).where(
            RbacRoleEntry.role_id == role.parent_id, RbacRoleEntry.cmdlet_key == cmdlet.lower()
        )
    )
    if entry is None:
        raise InvalidOperationError(
            f"The role entry '{cmdlet}' doesn't exist in the parent role of '{role.name}': a child role can "
            "contain only entries that exist in its immediate parent."
        )
    return entry


def _param_names(inv: Invocation, name: str) -> list[str]:
    value = inv.get(name)
    if isinstance(value, MultiValueChange):
        raise ArgumentError(f"-{name} takes a plain list here; use -AddParameter or -RemoveParameter.")
    return [str(p) for p in value or []]


def _check_subset(params: list[str], allowed: list[str], role: RbacRole, cmdlet: str) -> list[str]:
    canonical = {str(p).lower(): str(p) for p in allowed}
    missing = [p for p in params if p.lower() not in canonical]
    if missing:
        raise InvalidOperationError(
            f"The parameters {', '.join(missing)} don't exist on the parent role's entry for {cmdlet}, so they "
            f"can't be added to '{role.name}'."
        )
    return [canonical[p.lower()] for p in params]


def add_role_entry(inv: Invocation) -> dict[str, Any]:
    role_name, cmdlet = _split(inv, str(inv.get("Identity")))
    role = find_by_name(inv.session, RbacRole, inv.tenant.id, role_name)
    _custom(role, "add role entries")
    parent = _parent_entry(inv, role, cmdlet)
    if inv.session.scalar(
        select(RbacRoleEntry.id).where(
            RbacRoleEntry.role_id == role.id, RbacRoleEntry.cmdlet_key == cmdlet.lower()
        )
    ):
        raise DuplicateObjectError(f"The role entry '{role.name}\\{parent.cmdlet}' already exists.")
    params = (
        _check_subset(_param_names(inv, "Parameters"), parent.parameters, role, parent.cmdlet)
        if inv.has("Parameters")
        else list(parent.parameters)
    )
    entry = RbacRoleEntry(
        tenant_id=inv.tenant.id,
        role_id=role.id,
        cmdlet=parent.cmdlet,
        cmdlet_key=parent.cmdlet_key,
        parameters=params,
    )
    inv.session.add(entry)
    inv.session.flush()
    bump_generation(inv.session, inv.tenant.id)
    return serialize_entry(role, entry)


def _entry(inv: Invocation, role: RbacRole, cmdlet: str) -> RbacRoleEntry:
    entry = inv.session.scalar(
        select(RbacRoleEntry).where(
            RbacRoleEntry.role_id == role.id, RbacRoleEntry.cmdlet_key == cmdlet.lower()
        )
    )
    if entry is None:
        raise not_found(f"{role.name}\\{cmdlet}")
    return entry


def _children_using(inv: Invocation, role: RbacRole, cmdlet_key: str, params: set[str]) -> list[str]:
    rows = inv.session.execute(
        select(RbacRole.name, RbacRoleEntry.parameters)
        .join(RbacRoleEntry, RbacRoleEntry.role_id == RbacRole.id)
        .where(RbacRole.parent_id == role.id, RbacRoleEntry.cmdlet_key == cmdlet_key)
    ).all()
    return [name for name, ps in rows if params & {str(p).lower() for p in ps}]


def set_role_entry(inv: Invocation) -> None:
    role_name, cmdlet = _split(inv, str(inv.get("Identity")))
    role = find_by_name(inv.session, RbacRole, inv.tenant.id, role_name)
    _custom(role, "change role entries")
    entry = _entry(inv, role, cmdlet)
    parent = _parent_entry(inv, role, cmdlet)
    params = _param_names(inv, "Parameters")
    current = [str(p) for p in entry.parameters]
    if inv.get("AddParameter", False) and inv.get("RemoveParameter", False):
        raise ArgumentError("Use either -AddParameter or -RemoveParameter, not both.")
    if inv.get("AddParameter", False):
        added = _check_subset(params, parent.parameters, role, entry.cmdlet)
        new = current + [p for p in added if p.lower() not in {c.lower() for c in current}]
    elif inv.get("RemoveParameter", False):
        drop = {p.lower() for p in params}
        new = [c for c in current if c.lower() not in drop]
    else:
        new = _check_subset(params, parent.parameters, role, entry.cmdlet)
    removed = {c.lower() for c in current} - {n.lower() for n in new}
    users = _children_using(inv, role, entry.cmdlet_key, removed)
    if users:
        raise InvalidOperationError(
            f"The parameters can't be removed from '{role.name}\\{entry.cmdlet}' while child roles "
            f"({', '.join(users)}) have them."
        )
    entry.parameters = new
    bump_generation(inv.session, inv.tenant.id)


def remove_role_entry(inv: Invocation) -> None:
    role_name, cmdlet = _split(inv, str(inv.get("Identity")))
    role = find_by_name(inv.session, RbacRole, inv.tenant.id, role_name)
    _custom(role, "remove role entries")
    entry = _entry(inv, role, cmdlet)
    if len(_entries(inv, role.id)) <= 1:
        raise InvalidOperationError(f"The role '{role.name}' must have at least one management role entry.")
    users = _children_using(inv, role, entry.cmdlet_key, {str(p).lower() for p in entry.parameters} | {""})
    child_has = inv.session.scalar(
        select(RbacRole.name)
        .join(RbacRoleEntry, RbacRoleEntry.role_id == RbacRole.id)
        .where(RbacRole.parent_id == role.id, RbacRoleEntry.cmdlet_key == entry.cmdlet_key)
    )
    if child_has or users:
        raise InvalidOperationError(
            f"The entry '{role.name}\\{entry.cmdlet}' can't be removed while the child role '{child_has}' has it."
        )
    inv.session.delete(entry)
    bump_generation(inv.session, inv.tenant.id)
