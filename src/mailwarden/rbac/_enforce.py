"""RBAC enforcement on every cmdlet call: ``install_rbac(executor)`` attaches three generic executor hooks.

* before the handler (inside the call's transaction, before any write): principal → effective grants →
  :func:`decide`; a denial raises ``AccessDeniedError`` (403 ``AccessDeniedException``, audited by the
  executor as a high-severity failure). The system principal (operator CLI) is exempt.
* after the handler (same transaction): for recipient writes under a scope, the changed/created objects are
  read again and must still be in scope (Exchange's "before and after" rule); a denial undoes the change.
* listings: an assignment flagged ``restrict_reads`` (ours) narrows Get-* listings to its scopes in SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import false, or_

from ..cmdlets._invocation import Invocation, Listing
from ..cmdlets.opath import Comparison, Node, Not, compile_filter, parse
from ..directory._views import RECIPIENT_PROPERTIES
from ..errors import AccessDeniedError
from ..store import Recipient
from ._decision import Decision, Grant, Request, ScopeRule, decide
from ._grants import active_approvals, grants_for
from ._store import TenantRbac, group_ids_of, load_rbac, recipient_of
from ._targets import recipient_facts, resolve_targets, target_kind

if TYPE_CHECKING:
    from ..cmdlets._executor import CallResult, Executor

__all__ = ["CallAuthorization", "authorize", "install_rbac"]

_STATE = "rbac"


@dataclass
class CallAuthorization:
    grants: list[Grant]
    exclusive: list[ScopeRule]
    request: Request
    decision: Decision
    target_ids: list[int] = field(default_factory=list)
    checked: bool = False  # whether the write was scope-checked (then it is re-checked after)
    facts_keys: frozenset[str] | None = None  # the target facts the scopes read (see _facts_keys)


def _needs_target(grants: list[Grant], snap: TenantRbac, cmdlet: str, writes: bool) -> bool:
    relevant = [g for g in grants if cmdlet in g.entries]
    if writes:
        return bool(snap.exclusive_scopes) or any(
            g.scope is not None or (g.relative_scope or g.recipient_write) != "Organization" for g in relevant
        )
    return bool(relevant) and all(g.restrict_reads for g in relevant)


_SELF_SCOPES = frozenset({"Self", "MyGAL", "MyDistributionGroups"})


def _uses_self(grants: list[Grant], cmdlet: str) -> bool:
    """Whether a write scope relative to the caller's own recipient can decide this call."""
    return any((g.relative_scope or g.recipient_write) in _SELF_SCOPES for g in grants if cmdlet in g.entries)


def _self_guid(inv: Invocation) -> str | None:
    recipient = recipient_of(inv.session, inv.principal)
    if recipient is None:
        return None
    guid = inv.session.get(Recipient, recipient)
    return None if guid is None else guid.guid.lower()


_NAMING = frozenset({"Name", "Guid"})  # what denial messages and relative scopes commonly read


@cache
def _filter_keys(text: str) -> frozenset[str]:
    """The recipient facts a scope filter reads (unknown names are skipped: they load on first use)."""
    keys: set[str] = set()
    stack: list[Node] = [parse(text, parameter="RecipientRestrictionFilter")] if text else []
    while stack:
        node = stack.pop()
        if isinstance(node, Comparison):
            prop = RECIPIENT_PROPERTIES.get(node.prop)
            if prop is not None:
                keys.add(prop.key)
        elif isinstance(node, Not):
            stack.append(node.operand)
        else:
            stack.extend((node.left, node.right))
    return frozenset(keys)


def _facts_keys(grants: list[Grant], exclusive: list[ScopeRule], cmdlet: str) -> frozenset[str]:
    """The facts this call's scopes will read, so the target is read with those columns only (any other
    fact a decision reads is loaded on first use, so a wrong guess costs time, never correctness)."""
    keys = set(_NAMING)
    for grant in grants:
        if grant.scope is not None and cmdlet in grant.entries:
            keys |= _filter_keys(grant.scope.filter)
    for scope in exclusive:
        keys |= _filter_keys(scope.filter)
    return frozenset(keys)


def authorize(inv: Invocation) -> CallAuthorization:
    """The decision for one call, with the facts it was taken on (also used by Test-CmdletPermission)."""
    snap = load_rbac(inv.session, inv.tenant.id)
    groups = group_ids_of(inv.session, snap, inv.tenant.id, inv.principal)
    approvals = (
        active_approvals(inv.session, inv.tenant.id, inv.principal, inv.now()) if snap.policies else set()
    )
    grants = grants_for(snap, groups, inv.principal, approvals)
    spec = inv.spec
    cmdlet = spec.name.lower()
    supplied = frozenset(inv.params.values)
    kind = target_kind(spec)
    request = Request(spec.name, supplied, spec.writes, kind)
    task = [p for p in snap.policies if p.policy_type == "Task" and p.target_key == cmdlet]
    if task and ("Task", cmdlet) not in approvals:
        pending = Decision(
            False,
            f"{spec.name} is under privileged access control: request access with New-ElevatedAccessRequest "
            f"-Task '{spec.name}' and wait for approval.",
        )
        return CallAuthorization(grants, snap.exclusive_scopes, request, pending)
    auth = CallAuthorization(grants, snap.exclusive_scopes, request, Decision(False, ""))
    if kind == "recipient" and _needs_target(grants, snap, cmdlet, spec.writes):
        text, ids = resolve_targets(inv.session, inv.tenant.id, spec, inv.params.values)
        auth.target_ids = ids
        auth.checked = spec.writes
        self_guid = _self_guid(inv) if _uses_self(grants, cmdlet) else None
        decision: Decision | None = None
        auth.facts_keys = _facts_keys(grants, auth.exclusive, cmdlet)
        for rid in ids:
            facts = recipient_facts(inv.session, rid, auth.facts_keys)
            if facts is None:
                continue
            req = Request(spec.name, supplied, spec.writes, kind, facts, text, self_guid)
            decision = decide(grants, auth.exclusive, req)
            auth.request = req
            if not decision.allowed:
                break
        if decision is None:
            req = Request(spec.name, supplied, spec.writes, kind, None, text, self_guid)
            decision = decide(grants, auth.exclusive, req)
            auth.request = req
        auth.decision = decision
        return auth
    auth.decision = decide(grants, auth.exclusive, request)
    return auth


def _before(inv: Invocation) -> None:
    if inv.principal.kind == "system":
        return
    auth = authorize(inv)
    if not auth.decision.allowed:
        raise AccessDeniedError(auth.decision.reason)
    inv.state[_STATE] = auth


def _created_ids(inv: Invocation, result: CallResult) -> list[int]:
    guids = [str(v["Guid"]) for v in result.value[:1] if isinstance(v, Mapping) and v.get("Guid")]
    if not guids:
        return []
    from sqlalchemy import select

    return list(
        inv.session.scalars(
            select(Recipient.id).where(Recipient.tenant_id == inv.tenant.id, Recipient.guid.in_(guids))
        )
    )


def _after(inv: Invocation, result: CallResult) -> None:
    auth: CallAuthorization | None = inv.state.get(_STATE)
    if auth is None or not inv.spec.writes or auth.request.target_kind != "recipient":
        return
    if not auth.checked and not _needs_target(
        auth.grants, load_rbac(inv.session, inv.tenant.id), inv.spec.name.lower(), True
    ):
        return
    ids = list(dict.fromkeys([*auth.target_ids, *_created_ids(inv, result)]))
    base = auth.request
    keys = auth.facts_keys or _facts_keys(auth.grants, auth.exclusive, inv.spec.name.lower())
    for rid in ids:
        facts = recipient_facts(inv.session, rid, keys)
        if facts is None:  # removed by the call
            continue
        req = Request(
            base.cmdlet,
            base.parameters,
            True,
            "recipient",
            facts,
            base.target_name or str(facts.get("Name") or ""),
            base.self_guid,
            phase="after",
        )
        decision = decide(auth.grants, auth.exclusive, req)
        if not decision.allowed:
            raise AccessDeniedError(decision.reason)


def _narrow(inv: Invocation, listing: Listing) -> Listing:
    auth: CallAuthorization | None = inv.state.get(_STATE)
    if auth is None or not auth.decision.read_restricted or listing.key.class_ is not Recipient:
        return listing
    parts = [
        compile_filter(s.filter, RECIPIENT_PROPERTIES) for s in auth.decision.read_restricted if s.filter
    ]
    condition: Any = or_(*parts) if parts else false()
    return Listing(listing.statement.where(condition), listing.key, listing.serialize, listing.properties)


def install_rbac(executor: Executor) -> None:
    """Enforce RBAC on every call the executor runs (idempotent)."""
    if _before in executor.before_handler:
        return
    executor.before_handler.append(_before)
    executor.after_handler.append(_after)
    executor.listing_filters.append(_narrow)
