"""Lookup and serialisation of RBAC objects for the cmdlets (names compare without regard to case; an
unknown identity is a 404 with Exchange's wording; ``*`` wildcards where Exchange allows them)."""

from __future__ import annotations

import fnmatch
import uuid
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..directory._views import iso
from ..errors import AmbiguousIdentityError, NotFoundError
from ..store import Recipient
from ..store._identity_models import IdentityUser
from ..store._oauth_models import OAuthClient
from ..store._rbac_models import (
    RbacAssignment,
    RbacMember,
    RbacRole,
    RbacRoleEntry,
    RbacRoleGroup,
    RbacScope,
)

__all__ = [
    "assignee_name",
    "find_by_name",
    "matches",
    "member_display",
    "named",
    "not_found",
    "resolve_member",
    "serialize_assignment",
    "serialize_entry",
    "serialize_group",
    "serialize_role",
    "serialize_scope",
]

Named = RbacRole | RbacRoleGroup | RbacScope | RbacAssignment


def not_found(identity: str, parameter: str = "Identity") -> NotFoundError:
    return NotFoundError(
        f"The operation couldn't be performed because object '{identity}' couldn't be found.",
        details=[{"code": "NotFound", "target": parameter, "message": identity}],
    )


def matches(pattern: str, name: str) -> bool:
    return (
        fnmatch.fnmatchcase(name.lower(), pattern.lower())
        if "*" in pattern
        else name.lower() == pattern.lower()
    )


def find_by_name(
    session: Session, model: type[Any], tenant_id: str, identity: str, parameter: str = "Identity"
) -> Any:
    text = identity.strip()
    stmt = select(model).where(model.tenant_id == tenant_id)
    try:
        guid = str(uuid.UUID(text))
        stmt = stmt.where(or_(model.guid == guid, model.name_key == text.lower()))
    except ValueError:
        stmt = stmt.where(model.name_key == text.lower())
    row = session.scalars(stmt).first()
    if row is None:
        raise not_found(identity, parameter)
    return row


def named(
    session: Session, model: type[Any], tenant_id: str, rows: list[Any], identity: str | None
) -> list[Any]:
    """What ``Get-* -Identity`` shows, as Exchange does: no identity lists everything, a ``*`` pattern filters
    names (an empty result is fine), and a plain name or GUID must name one object - or the call is a 404,
    not an empty list (scripts rely on ``-ErrorAction Stop`` to learn that an object is missing)."""
    if identity is None:
        return rows
    if "*" in identity:
        return [r for r in rows if matches(identity, r.name)]
    return [find_by_name(session, model, tenant_id, identity)]


def serialize_role(role: RbacRole, parent: str | None, entries: list[str]) -> dict[str, Any]:
    scopes = role.scopes
    return {
        "Identity": role.name,
        "Name": role.name,
        "Guid": role.guid,
        "RoleType": role.role_type,
        "IsRootRole": role.parent_id is None,
        "IsEndUserRole": role.kind == "end-user",
        "Parent": parent,
        "Description": role.description,
        "ImplicitRecipientReadScope": scopes.get("recipient_read"),
        "ImplicitRecipientWriteScope": scopes.get("recipient_write"),
        "ImplicitConfigReadScope": scopes.get("config_read"),
        "ImplicitConfigWriteScope": scopes.get("config_write"),
        "RoleEntries": entries,
        "BuiltIn": role.builtin,
        "WhenCreated": iso(role.created_at),
    }


def serialize_entry(role: RbacRole, entry: RbacRoleEntry) -> dict[str, Any]:
    return {
        "Identity": f"{role.name}\\{entry.cmdlet}",
        "Name": entry.cmdlet,
        "Role": role.name,
        "Type": "Cmdlet",
        "Parameters": sorted(entry.parameters, key=str.lower),
    }


def member_display(session: Session, tenant_id: str, kind: str, ref: str) -> str:
    if kind == "user":
        return session.scalar(select(IdentityUser.upn).where(IdentityUser.id == ref)) or ref
    if kind == "app":
        return session.scalar(select(OAuthClient.name).where(OAuthClient.id == ref)) or ref
    if kind == "group":
        return session.scalar(select(Recipient.name).where(Recipient.id == int(ref))) or ref
    return session.scalar(select(RbacRoleGroup.name).where(RbacRoleGroup.id == int(ref))) or ref


def serialize_group(session: Session, group: RbacRoleGroup, roles: list[str]) -> dict[str, Any]:
    members = session.execute(
        select(RbacMember.member_kind, RbacMember.member_ref).where(RbacMember.group_id == group.id)
    ).all()
    return {
        "Identity": group.name,
        "Name": group.name,
        "Guid": group.guid,
        "Description": group.description,
        "RoleGroupType": "Standard" if group.builtin else "Custom",
        "IsBuiltIn": group.builtin,
        "Synchronized": group.synchronized,
        "Roles": roles,
        "Members": sorted(member_display(session, group.tenant_id, k, r) for k, r in members),
        "ManagedBy": [member_display(session, group.tenant_id, *m.split(":", 1)) for m in group.managed_by],
        "WhenCreated": iso(group.created_at),
    }


def assignee_name(session: Session, a: RbacAssignment) -> tuple[str, str]:
    kinds = {"rolegroup": "RoleGroup", "user": "User", "app": "ServicePrincipal"}
    return member_display(session, a.tenant_id, a.assignee_kind, a.assignee_ref), kinds[a.assignee_kind]


def serialize_assignment(
    session: Session, a: RbacAssignment, role: str, scope: RbacScope | None
) -> dict[str, Any]:
    assignee, kind = assignee_name(session, a)
    return {
        "Identity": a.name,
        "Name": a.name,
        "Guid": a.guid,
        "Role": role,
        "RoleAssignee": assignee,
        "RoleAssigneeType": kind,
        "RoleAssignmentDelegationType": "Delegating" if a.delegating else "Regular",
        "Enabled": a.enabled,
        "RecipientWriteScope": "CustomRecipientScope"
        if scope is not None
        else (a.relative_scope or "Organization"),
        "CustomRecipientWriteScope": scope.name if scope is not None and not scope.exclusive else None,
        "ExclusiveRecipientWriteScope": scope.name if scope is not None and scope.exclusive else None,
        "RestrictReads": a.restrict_reads,
        "WhenCreated": iso(a.created_at),
    }


def serialize_scope(scope: RbacScope) -> dict[str, Any]:
    return {
        "Identity": scope.name,
        "Name": scope.name,
        "Guid": scope.guid,
        "RecipientFilter": scope.recipient_filter,
        "RecipientRoot": scope.recipient_root,
        "ScopeRestrictionType": "RecipientScope",
        "Exclusive": scope.exclusive,
        "WhenCreated": iso(scope.created_at),
    }


def resolve_member(session: Session, tenant_id: str, text: str, parameter: str = "Member") -> tuple[str, str]:
    """A role group member: role group (by name), user (UPN or id), app (client id or name), or a mail-enabled
    security group of the directory."""
    value = text.strip()
    low = value.lower()
    group = session.scalar(
        select(RbacRoleGroup.id).where(
            RbacRoleGroup.tenant_id == tenant_id,
            or_(RbacRoleGroup.name_key == low, RbacRoleGroup.guid == low),
        )
    )
    if group is not None:
        return ("rolegroup", str(group))
    user = session.scalar(
        select(IdentityUser.id).where(
            IdentityUser.tenant_id == tenant_id, or_(IdentityUser.upn_key == low, IdentityUser.id == low)
        )
    )
    if user is not None:
        return ("user", user)
    apps = list(
        session.scalars(
            select(OAuthClient.id).where(
                OAuthClient.tenant_id == tenant_id,
                OAuthClient.public.is_(False),
                or_(OAuthClient.id == low, func.lower(OAuthClient.name) == low),
            )
        )
    )
    if len(apps) > 1:
        raise AmbiguousIdentityError(value, apps, parameter=parameter)
    if apps:
        return ("app", apps[0])
    from ..directory._resolve import try_resolve_recipient

    groups = try_resolve_recipient(session, tenant_id, value, types=frozenset({"MailUniversalSecurityGroup"}))
    if len(groups) == 1:
        return ("group", str(groups[0].id))
    raise not_found(value, parameter)
