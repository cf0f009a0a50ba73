"""Per-tenant seeding of the built-in roles, entries, role groups and assignments (idempotent).

Called at tenant creation (``directory.create_tenant``) and by ``mailwarden rbac seed`` for existing tenants:
what exists is kept, what is missing (a new tenant, or a cmdlet added to the registry since) is added.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ..store._rbac_models import (
    RbacAssignment,
    RbacGeneration,
    RbacMember,
    RbacRole,
    RbacRoleEntry,
    RbacRoleGroup,
)
from ._seed import role_group_name, seed_plan
from ._store import bump_generation

__all__ = ["seed_tenant_rbac"]


def seed_tenant_rbac(session: Session, tenant_id: str, now: datetime) -> None:
    from ..cmdlets._catalog import default_registry  # the catalog imports this package's cmdlets

    plan = seed_plan(default_registry())
    if session.get(RbacGeneration, tenant_id) is None:
        session.add(RbacGeneration(tenant_id=tenant_id, generation=0))
        session.flush()
    roles = {
        r.name_key: r
        for r in session.scalars(select(RbacRole).where(RbacRole.tenant_id == tenant_id, RbacRole.builtin))
    }
    # Built-in roles can't be changed by anyone (SEMANTICS §1, SETRE): their implicit scopes are the seed's,
    # so a corrected seed applies to existing tenants too.
    changed_scopes = False
    for r in plan.roles:
        existing = roles.get(r.name.lower())
        if existing is not None and dict(existing.scopes) != r.scopes:
            existing.scopes = dict(r.scopes)
            changed_scopes = True
    if changed_scopes:
        session.flush()
    new_roles = [r for r in plan.roles if r.name.lower() not in roles]
    if new_roles:
        session.execute(
            insert(RbacRole),
            [
                {
                    "tenant_id": tenant_id,
                    "guid": str(uuid.uuid4()),
                    "name": r.name,
                    "name_key": r.name.lower(),
                    "role_type": r.role_type,
                    "kind": r.kind,
                    "builtin": True,
                    "parent_id": None,
                    "description": r.description[:2000],
                    "scopes": r.scopes,
                    "created_at": now,
                }
                for r in new_roles
            ],
        )
        roles = {
            r.name_key: r
            for r in session.scalars(
                select(RbacRole).where(RbacRole.tenant_id == tenant_id, RbacRole.builtin)
            )
        }
        for r in new_roles:
            if r.parent:
                roles[r.name.lower()].parent_id = roles[r.parent.lower()].id
    have = {
        (role_id, key)
        for role_id, key in session.execute(
            select(RbacRoleEntry.role_id, RbacRoleEntry.cmdlet_key).where(
                RbacRoleEntry.tenant_id == tenant_id
            )
        )
    }
    rows = [
        {
            "tenant_id": tenant_id,
            "role_id": roles[role.lower()].id,
            "cmdlet": cmdlet,
            "cmdlet_key": cmdlet.lower(),
            "parameters": list(params),
        }
        for role, cmdlets in plan.entries.items()
        for cmdlet, params in cmdlets.items()
        if (roles[role.lower()].id, cmdlet.lower()) not in have
    ]
    if rows:
        session.execute(insert(RbacRoleEntry), rows)
    groups = {
        g.name_key: g
        for g in session.scalars(select(RbacRoleGroup).where(RbacRoleGroup.tenant_id == tenant_id))
    }
    created: list[str] = []
    for g in plan.role_groups:
        name = role_group_name(g.name, tenant_id)
        if name.lower() in groups:
            continue
        row = RbacRoleGroup(
            tenant_id=tenant_id,
            guid=str(uuid.uuid4()),
            name=name,
            name_key=name.lower(),
            description=g.description[:2000],
            builtin=True,
            synchronized=g.synchronized,
            managed_by=[],
            created_at=now,
        )
        session.add(row)
        groups[name.lower()] = row
        created.append(name.lower())
    if not created:
        bump_generation(session, tenant_id)
        return
    session.flush()
    assignments: list[dict[str, object]] = []
    members: list[dict[str, object]] = []
    for g in plan.role_groups:
        name = role_group_name(g.name, tenant_id)
        if name.lower() not in created:
            continue
        group = groups[name.lower()]
        delegating = {r.name for r in plan.roles} if g.delegating_all else set()
        for role_name in sorted(set(g.roles) | delegating):
            role = roles[role_name.lower()]
            kinds = ([False] if role_name in g.roles else []) + ([True] if role_name in delegating else [])
            for deleg in kinds:
                label = f"{role.name}-Delegating_{name}" if deleg else f"{role.name}_{name}"
                assignments.append(
                    {
                        "tenant_id": tenant_id,
                        "guid": str(uuid.uuid4()),
                        "name": label[:512],
                        "name_key": label.lower()[:512],
                        "role_id": role.id,
                        "assignee_kind": "rolegroup",
                        "assignee_ref": str(group.id),
                        "delegating": deleg,
                        "enabled": True,
                        "relative_scope": None,
                        "scope_id": None,
                        "restrict_reads": False,
                        "created_at": now,
                    }
                )
        for parent in g.member_of:
            members.append(
                {
                    "tenant_id": tenant_id,
                    "group_id": groups[role_group_name(parent, tenant_id).lower()].id,
                    "member_kind": "rolegroup",
                    "member_ref": str(group.id),
                    "display": name,
                }
            )
    if assignments:
        session.execute(insert(RbacAssignment), assignments)
    if members:
        session.execute(insert(RbacMember), members)
    bump_generation(session, tenant_id)
