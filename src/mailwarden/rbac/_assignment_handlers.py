"""Handlers: role assignments and management scopes (SEMANTICS §2, §4; ASSIGN13, NEWRA, SETRA, NEWSCOPE,
SETSCOPE, REMSCOPE, EXCL13).

An assignment links one role to one assignee (role group, user or app - assignee parameters are mutually
exclusive), regular or delegating, optionally with ONE recipient write scope: a predefined relative scope, a
custom scope or an exclusive scope. ``-RecipientRoot`` is accepted and stored: mailwarden's directory has no
organizational units, so the root is always the organization root. ``-RestrictReads`` is ours.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from ..cmdlets._invocation import Invocation
from ..cmdlets.opath import parse, predicate, to_text
from ..directory._views import RECIPIENT_PROPERTIES
from ..errors import ArgumentError, DuplicateObjectError
from ..store._rbac_models import RbacAssignment, RbacRole, RbacRoleGroup, RbacScope
from ._decision import RELATIVE_SCOPES
from ._errors import InvalidOperationError
from ._objects import (
    assignee_name,
    find_by_name,
    named,
    resolve_member,
    serialize_assignment,
    serialize_scope,
)
from ._rails import check_can_delegate, refuse_last_delegating
from ._store import bump_generation

__all__ = [
    "get_assignment",
    "get_scope",
    "new_assignment",
    "new_scope",
    "remove_assignment",
    "remove_scope",
    "set_assignment",
    "set_scope",
]


def _serialize(inv: Invocation, a: RbacAssignment) -> dict[str, Any]:
    role = inv.session.get(RbacRole, a.role_id)
    scope = inv.session.get(RbacScope, a.scope_id) if a.scope_id is not None else None
    return serialize_assignment(inv.session, a, role.name if role else "", scope)


def get_assignment(inv: Invocation) -> list[dict[str, Any]]:
    rows = list(
        inv.session.scalars(
            select(RbacAssignment)
            .where(RbacAssignment.tenant_id == inv.tenant.id)
            .order_by(RbacAssignment.name_key)
        )
    )
    rows = named(inv.session, RbacAssignment, inv.tenant.id, rows, inv.get("Identity"))
    if inv.has("Role"):
        role = find_by_name(inv.session, RbacRole, inv.tenant.id, str(inv.get("Role")), parameter="Role")
        rows = [a for a in rows if a.role_id == role.id]
    if inv.has("Delegating"):
        rows = [a for a in rows if a.delegating is bool(inv.get("Delegating"))]
    if inv.has("Enabled"):
        rows = [a for a in rows if a.enabled is bool(inv.get("Enabled"))]
    if inv.has("RoleAssignee"):
        wanted = str(inv.get("RoleAssignee")).lower()
        rows = [a for a in rows if assignee_name(inv.session, a)[0].lower() == wanted]
    return [_serialize(inv, a) for a in rows]


def _apply_scope(inv: Invocation, a: RbacAssignment) -> None:
    given = [
        n
        for n in ("RecipientRelativeWriteScope", "CustomRecipientWriteScope", "ExclusiveRecipientWriteScope")
        if inv.has(n)
    ]
    if inv.has("RecipientOrganizationalUnitScope"):
        raise ArgumentError("mailwarden's directory has no organizational units: use a custom scope instead.")
    if len(given) > 1:
        raise ArgumentError(
            f"The parameters {', '.join(given)} can't be used together: one recipient scope per assignment."
        )
    if not given:
        return
    name = given[0]
    value = inv.get(name)
    if name == "RecipientRelativeWriteScope":
        canonical = {s.lower(): s for s in RELATIVE_SCOPES}.get(str(value).lower())
        if canonical is None:
            raise ArgumentError(f"RecipientRelativeWriteScope must be one of {', '.join(RELATIVE_SCOPES)}.")
        a.relative_scope, a.scope_id = canonical, None
        return
    scope = find_by_name(inv.session, RbacScope, inv.tenant.id, str(value), parameter=name)
    exclusive = name == "ExclusiveRecipientWriteScope"
    if scope.exclusive != exclusive:
        raise ArgumentError(
            f"The scope '{scope.name}' is {'an exclusive' if scope.exclusive else 'a regular'} scope: use "
            f"-{'ExclusiveRecipientWriteScope' if scope.exclusive else 'CustomRecipientWriteScope'}."
        )
    a.relative_scope, a.scope_id = None, scope.id


def new_assignment(inv: Invocation) -> dict[str, Any]:
    role = find_by_name(inv.session, RbacRole, inv.tenant.id, str(inv.get("Role")), parameter="Role")
    assignees = [n for n in ("SecurityGroup", "User", "App") if inv.has(n)]
    if len(assignees) != 1:
        raise ArgumentError("Give exactly one of -SecurityGroup, -User or -App.")
    which = assignees[0]
    text = str(inv.get(which))
    if which == "SecurityGroup":
        group = find_by_name(inv.session, RbacRoleGroup, inv.tenant.id, text, parameter=which)
        kind, ref, label = "rolegroup", str(group.id), group.name
    else:
        kind, ref = resolve_member(inv.session, inv.tenant.id, text, which)
        if kind != which.lower():
            raise ArgumentError(f"'{text}' isn't a {which.lower()}.", details=[{"target": which}])
        label = text
    if kind == "app" and role.kind == "end-user":
        raise ArgumentError("You can't specify user roles for apps.")
    check_can_delegate(inv, role)
    delegating = bool(inv.get("Delegating", False))
    name = str(inv.get("Name") or f"{role.name}{'-Delegating' if delegating else ''}_{label}")[:512]
    if inv.session.scalar(
        select(RbacAssignment.id).where(
            RbacAssignment.tenant_id == inv.tenant.id, RbacAssignment.name_key == name.lower()
        )
    ):
        raise DuplicateObjectError(f"The role assignment '{name}' already exists.")
    a = RbacAssignment(
        tenant_id=inv.tenant.id,
        guid=str(uuid.uuid4()),
        name=name,
        name_key=name.lower(),
        role_id=role.id,
        assignee_kind=kind,
        assignee_ref=ref,
        delegating=delegating,
        enabled=True,
        restrict_reads=bool(inv.get("RestrictReads", False)),
        created_at=inv.now(),
    )
    _apply_scope(inv, a)
    inv.session.add(a)
    inv.session.flush()
    bump_generation(inv.session, inv.tenant.id)
    return _serialize(inv, a)


def _assignment(inv: Invocation) -> RbacAssignment:
    a: RbacAssignment = find_by_name(inv.session, RbacAssignment, inv.tenant.id, str(inv.get("Identity")))
    return a


def set_assignment(inv: Invocation) -> None:
    a = _assignment(inv)
    role = inv.session.get(RbacRole, a.role_id)
    assert role is not None
    check_can_delegate(inv, role)
    if inv.has("Enabled"):
        if not inv.get("Enabled"):
            refuse_last_delegating(inv, a) if a.delegating or role.name_key == "role management" else None
        a.enabled = bool(inv.get("Enabled"))
    if inv.has("RestrictReads"):
        a.restrict_reads = bool(inv.get("RestrictReads"))
    _apply_scope(inv, a)
    bump_generation(inv.session, inv.tenant.id)


def remove_assignment(inv: Invocation) -> None:
    a = _assignment(inv)
    role = inv.session.get(RbacRole, a.role_id)
    assert role is not None
    check_can_delegate(inv, role)
    refuse_last_delegating(inv, a)
    inv.session.delete(a)
    bump_generation(inv.session, inv.tenant.id)


# --- scopes ---------------------------------------------------------------------------------------------


def _filter_text(value: Any) -> str:
    text = str(value)
    predicate(text, RECIPIENT_PROPERTIES, parameter="RecipientRestrictionFilter")  # validates; 400 on error
    return to_text(parse(text, parameter="RecipientRestrictionFilter"))


def get_scope(inv: Invocation) -> list[dict[str, Any]]:
    rows = list(
        inv.session.scalars(
            select(RbacScope).where(RbacScope.tenant_id == inv.tenant.id).order_by(RbacScope.name_key)
        )
    )
    rows = named(inv.session, RbacScope, inv.tenant.id, rows, inv.get("Identity"))
    if inv.has("Exclusive"):
        rows = [s for s in rows if s.exclusive is bool(inv.get("Exclusive"))]
    if inv.get("Orphan", False):
        used = set(
            inv.session.scalars(
                select(RbacAssignment.scope_id).where(RbacAssignment.tenant_id == inv.tenant.id)
            )
        )
        rows = [s for s in rows if s.id not in used]
    return [serialize_scope(s) for s in rows]


def new_scope(inv: Invocation) -> dict[str, Any]:
    name = str(inv.get("Name")).strip()
    if inv.session.scalar(
        select(RbacScope.id).where(RbacScope.tenant_id == inv.tenant.id, RbacScope.name_key == name.lower())
    ):
        raise DuplicateObjectError(f"The management scope '{name}' already exists.")
    scope = RbacScope(
        tenant_id=inv.tenant.id,
        guid=str(uuid.uuid4()),
        name=name,
        name_key=name.lower(),
        recipient_filter=_filter_text(inv.get("RecipientRestrictionFilter")),
        recipient_root=inv.get("RecipientRoot"),
        exclusive=bool(inv.get("Exclusive", False)),
        created_at=inv.now(),
    )
    inv.session.add(scope)
    inv.session.flush()
    if scope.exclusive:
        inv.warnings.append(
            f"The exclusive scope '{name}' takes effect immediately: everyone not assigned it can no longer "
            "modify the recipients it matches."
        )
    bump_generation(inv.session, inv.tenant.id)
    return serialize_scope(scope)


def set_scope(inv: Invocation) -> None:
    scope = find_by_name(inv.session, RbacScope, inv.tenant.id, str(inv.get("Identity")))
    if inv.has("Name"):
        name = str(inv.get("Name")).strip()
        scope.name, scope.name_key = name, name.lower()
    if inv.has("RecipientRestrictionFilter"):
        scope.recipient_filter = _filter_text(inv.get("RecipientRestrictionFilter"))
    if inv.has("RecipientRoot"):
        scope.recipient_root = inv.get("RecipientRoot")
    bump_generation(inv.session, inv.tenant.id)


def remove_scope(inv: Invocation) -> None:
    scope = find_by_name(inv.session, RbacScope, inv.tenant.id, str(inv.get("Identity")))
    used = inv.session.scalar(select(func.count()).where(RbacAssignment.scope_id == scope.id))
    if used:
        raise InvalidOperationError(
            f"The management scope '{scope.name}' is used by role assignments; it can't be removed."
        )
    inv.session.delete(scope)
    bump_generation(inv.session, inv.tenant.id)
