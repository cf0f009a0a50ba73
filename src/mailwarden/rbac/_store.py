"""Reading a tenant's RBAC data (one snapshot per generation) and resolving a principal's role groups.

Every RBAC change bumps ``rbac_generation`` in its own transaction; a snapshot is reused only while the
generation it was read at is still current, checked with one primary-key read per call. So a change made on
any node applies on the next call on every node (SEMANTICS §8 says Exchange is slower; ours is stricter).
Membership of mail-enabled security groups lives in the directory and is read live on every call.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.orm import Session

from ..cmdlets.opath import predicate
from ..directory._views import RECIPIENT_PROPERTIES
from ..principal import Principal
from ..store import GroupMember, Recipient
from ..store._identity_models import IdentityUser
from ..store._rbac_models import (
    RbacAssignment,
    RbacElevationPolicy,
    RbacGeneration,
    RbacMember,
    RbacRole,
    RbacRoleEntry,
    RbacRoleGroup,
    RbacScope,
)
from ._decision import ScopeRule

__all__ = [
    "AssignmentData",
    "RoleData",
    "TenantRbac",
    "bump_generation",
    "group_ids_of",
    "load_rbac",
    "member_key",
    "role_groups_of",
    "scope_rule",
]

MAX_NESTING = 16


@dataclass(frozen=True)
class RoleData:
    id: int
    name: str
    builtin: bool
    parent_id: int | None
    scopes: dict[str, str]
    entries: dict[str, frozenset[str]]  # cmdlet (lower) → parameters (lower)


@dataclass(frozen=True)
class AssignmentData:
    id: int
    name: str
    role_id: int
    assignee_kind: str
    assignee_ref: str
    delegating: bool
    enabled: bool
    relative_scope: str | None
    scope_id: int | None
    restrict_reads: bool


@dataclass(frozen=True)
class PolicyData:
    id: int
    policy_type: str
    target_key: str
    approval_type: str
    approver_group: str


@dataclass
class TenantRbac:
    generation: int
    roles: dict[int, RoleData] = field(default_factory=dict)
    groups: dict[int, str] = field(default_factory=dict)
    parents: dict[tuple[str, str], set[int]] = field(default_factory=dict)  # member → role groups
    assignments: list[AssignmentData] = field(default_factory=list)
    scopes: dict[int, ScopeRule] = field(default_factory=dict)
    policies: list[PolicyData] = field(default_factory=list)
    has_usg_members: bool = False
    # grants_for results, per (role groups, principal, approvals): valid as long as this snapshot (generation)
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def exclusive_scopes(self) -> list[ScopeRule]:
        return [s for s in self.scopes.values() if s.exclusive]


_CACHE: weakref.WeakKeyDictionary[Engine, dict[str, TenantRbac]] = weakref.WeakKeyDictionary()


def scope_rule(name: str, text: str, exclusive: bool) -> ScopeRule:
    test = predicate(text, RECIPIENT_PROPERTIES, parameter="RecipientRestrictionFilter")
    return ScopeRule(name, test, exclusive, text)


def member_key(principal: Principal) -> tuple[str, str] | None:
    if principal.kind in ("user", "app"):
        return (principal.kind, principal.id)
    return None


def bump_generation(session: Session, tenant_id: str) -> None:
    """Mark the tenant's RBAC data changed (in the caller's transaction)."""
    result = session.execute(
        update(RbacGeneration)
        .where(RbacGeneration.tenant_id == tenant_id)
        .values(generation=RbacGeneration.generation + 1)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 1) == 0:
        session.add(RbacGeneration(tenant_id=tenant_id, generation=1))
        session.flush()


# Built once: on the hot path (every call) constructing the statement cost more than running it.
_GENERATION = select(RbacGeneration.generation).where(RbacGeneration.tenant_id == bindparam("tenant_id"))


def load_rbac(session: Session, tenant_id: str) -> TenantRbac:
    # Core execution: a one-column read needs none of the ORM's result machinery (bump_generation flushes,
    # so no pending change can hide from this read).
    generation = session.connection().execute(_GENERATION, {"tenant_id": tenant_id}).scalar()
    engine = session.get_bind().engine
    per_engine = _CACHE.setdefault(engine, {})
    cached = per_engine.get(tenant_id)
    if cached is not None and generation is not None and cached.generation == generation:
        return cached
    snap = _read(session, tenant_id, generation if generation is not None else -1)
    if generation is not None:
        per_engine[tenant_id] = snap
    return snap


def _read(session: Session, tenant_id: str, generation: int) -> TenantRbac:
    snap = TenantRbac(generation)
    entries: dict[int, dict[str, frozenset[str]]] = {}
    for role_id, key, params in session.execute(
        select(RbacRoleEntry.role_id, RbacRoleEntry.cmdlet_key, RbacRoleEntry.parameters).where(
            RbacRoleEntry.tenant_id == tenant_id
        )
    ):
        entries.setdefault(role_id, {})[key] = frozenset(str(p).lower() for p in params)
    for role in session.scalars(select(RbacRole).where(RbacRole.tenant_id == tenant_id)):
        snap.roles[role.id] = RoleData(
            role.id, role.name, role.builtin, role.parent_id, dict(role.scopes), entries.get(role.id, {})
        )
    for gid, name in session.execute(
        select(RbacRoleGroup.id, RbacRoleGroup.name).where(RbacRoleGroup.tenant_id == tenant_id)
    ):
        snap.groups[gid] = name
    for gid, kind, ref in session.execute(
        select(RbacMember.group_id, RbacMember.member_kind, RbacMember.member_ref).where(
            RbacMember.tenant_id == tenant_id
        )
    ):
        snap.parents.setdefault((kind, ref), set()).add(gid)
        snap.has_usg_members = snap.has_usg_members or kind == "group"
    for scope in session.scalars(select(RbacScope).where(RbacScope.tenant_id == tenant_id)):
        snap.scopes[scope.id] = scope_rule(scope.name, scope.recipient_filter, scope.exclusive)
    for a in session.scalars(select(RbacAssignment).where(RbacAssignment.tenant_id == tenant_id)):
        snap.assignments.append(
            AssignmentData(
                a.id,
                a.name,
                a.role_id,
                a.assignee_kind,
                a.assignee_ref,
                a.delegating,
                a.enabled,
                a.relative_scope,
                a.scope_id,
                a.restrict_reads,
            )
        )
    for p in session.scalars(select(RbacElevationPolicy).where(RbacElevationPolicy.tenant_id == tenant_id)):
        snap.policies.append(PolicyData(p.id, p.policy_type, p.target_key, p.approval_type, p.approver_group))
    return snap


def usg_refs(session: Session, tenant_id: str, recipient_id: int) -> set[tuple[str, str]]:
    """The mail-enabled groups a recipient belongs to, directly or through nested groups."""
    found: set[int] = set()
    frontier = {recipient_id}
    for _ in range(MAX_NESTING):
        if not frontier:
            break
        rows = set(
            session.scalars(
                select(GroupMember.group_id)
                .join(Recipient, Recipient.id == GroupMember.group_id)
                .where(Recipient.tenant_id == tenant_id, GroupMember.member_id.in_(sorted(frontier)))
            )
        )
        frontier = rows - found
        found |= rows
    return {("group", str(g)) for g in found}


def _expand(snap: TenantRbac, starts: Iterable[tuple[str, str]]) -> set[int]:
    ids: set[int] = set()
    frontier: set[int] = set()
    for key in starts:
        frontier |= snap.parents.get(key, set())
    for _ in range(MAX_NESTING):
        new = frontier - ids
        if not new:
            break
        ids |= new
        frontier = set()
        for gid in new:
            frontier |= snap.parents.get(("rolegroup", str(gid)), set())
    return ids


def recipient_of(session: Session, principal: Principal) -> int | None:
    if principal.kind != "user":
        return None
    return session.scalar(select(IdentityUser.recipient_id).where(IdentityUser.id == principal.id))


def group_ids_of(session: Session, snap: TenantRbac, tenant_id: str, principal: Principal) -> set[int]:
    key = member_key(principal)
    if key is None:
        return set()
    starts: set[tuple[str, str]] = {key}
    if snap.has_usg_members:
        recipient = recipient_of(session, principal)
        if recipient is not None:
            starts |= usg_refs(session, tenant_id, recipient)
    return _expand(snap, starts)


def role_groups_of(session: Session, tenant_id: str, principal: Principal) -> frozenset[str]:
    """The role groups ``principal`` belongs to: directly, through mail-enabled security groups, or through
    nested role groups. Users and apps alike; the system principal belongs to none (it is exempt)."""
    snap = load_rbac(session, tenant_id)
    return frozenset(snap.groups[g] for g in group_ids_of(session, snap, tenant_id, principal))
