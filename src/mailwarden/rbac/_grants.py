"""From a tenant snapshot and a principal to the inputs of :func:`decide`: the caller's effective regular
assignments (:class:`Grant`), the roles it may delegate, and the privileged-access gates (SEMANTICS §9).

Privileged access: a ``Role`` or ``RoleGroup`` policy makes grants that come through that role or role group
usable only with an approved, unexpired request for it; a ``Task`` policy makes the cmdlet itself require one
(checked by the enforcement hook). Standing membership alone no longer suffices.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..principal import Principal
from ..store._rbac_models import RbacElevationPolicy, RbacElevationRequest
from ._decision import Grant
from ._store import AssignmentData, TenantRbac, member_key

__all__ = ["active_approvals", "delegable_role_ids", "grants_for", "holds_assignment"]


def holds_assignment(a: AssignmentData, group_ids: set[int], principal: Principal) -> bool:
    if a.assignee_kind == "rolegroup":
        return a.assignee_ref.isdigit() and int(a.assignee_ref) in group_ids
    key = member_key(principal)
    return key is not None and (a.assignee_kind, a.assignee_ref) == key


def active_approvals(
    session: Session, tenant_id: str, principal: Principal, now: datetime
) -> set[tuple[str, str]]:
    """(policy type, target key) of the caller's approved requests whose access has not ended."""
    key = member_key(principal)
    if key is None:
        return set()
    rows = session.execute(
        select(RbacElevationPolicy.policy_type, RbacElevationPolicy.target_key)
        .join(RbacElevationRequest, RbacElevationRequest.policy_id == RbacElevationPolicy.id)
        .where(
            RbacElevationRequest.tenant_id == tenant_id,
            RbacElevationRequest.requester_kind == key[0],
            RbacElevationRequest.requester_id == key[1],
            RbacElevationRequest.status == "Approved",
            RbacElevationRequest.access_ends_at > now,
        )
    )
    return {(t, k) for t, k in rows}


def grants_for(
    snap: TenantRbac,
    group_ids: set[int],
    principal: Principal,
    approvals: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
) -> list[Grant]:
    """The caller's effective grants; memoised on the snapshot (immutable for its generation, so an RBAC
    change — a new generation, a new snapshot — is seen on the next call). Callers must not mutate the list."""
    key = ("grants", frozenset(group_ids), member_key(principal), frozenset(approvals))
    found: list[Grant] | None = snap.memo.get(key)
    if found is None:
        found = _grants_for(snap, group_ids, principal, approvals)
        if len(snap.memo) > 10_000:  # many distinct principals on one generation: start over
            snap.memo.clear()
        snap.memo[key] = found
    return found


def _grants_for(
    snap: TenantRbac, group_ids: set[int], principal: Principal, approvals: set[tuple[str, str]]
) -> list[Grant]:
    gated_roles = {p.target_key for p in snap.policies if p.policy_type == "Role"}
    gated_groups = {p.target_key for p in snap.policies if p.policy_type == "RoleGroup"}
    grants: list[Grant] = []
    for a in snap.assignments:
        if a.delegating or not a.enabled or not holds_assignment(a, group_ids, principal):
            continue
        role = snap.roles[a.role_id]
        if role.name.lower() in gated_roles and ("Role", role.name.lower()) not in approvals:
            continue
        via = "directly"
        if a.assignee_kind == "rolegroup":
            group = snap.groups.get(int(a.assignee_ref), "")
            via = f"role group {group}"
            if group.lower() in gated_groups and ("RoleGroup", group.lower()) not in approvals:
                continue
        scope = snap.scopes.get(a.scope_id) if a.scope_id is not None else None
        grants.append(
            Grant(
                assignment=a.name,
                role=role.name,
                entries=role.entries,
                recipient_read=role.scopes.get("recipient_read", "Organization"),
                recipient_write=role.scopes.get("recipient_write", "Organization"),
                config_write=role.scopes.get("config_write", "OrganizationConfig"),
                relative_scope=a.relative_scope,
                scope=scope,
                restrict_reads=a.restrict_reads,
                via=via,
            )
        )
    return grants


def delegable_role_ids(snap: TenantRbac, group_ids: set[int], principal: Principal) -> set[int]:
    return {
        a.role_id
        for a in snap.assignments
        if a.delegating and a.enabled and holds_assignment(a, group_ids, principal)
    }
