"""Privileged access management (SEMANTICS §9; PAM, PAMCFG): approval policies per task (cmdlet), role or
role group, Manual or Auto approval, an approvers' group; requests with a reason and DurationHours (default
4); a request nobody answers expires 24 hours after submission; approved access is time-boxed, revocable and
checked on every call (the enforcement hook reads it with the executor's clock). A requester can never
approve or deny their own request (ours). Every step writes an audit record (RecordType 1000, ours) in the
cmdlet's transaction, next to the executor's own record of the call.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from ..audit._records import RecordType, exchange_admin_record
from ..audit._service import service_for
from ..cmdlets._invocation import Invocation
from ..directory._views import iso
from ..errors import AccessDeniedError, ArgumentError, DuplicateObjectError
from ..store._rbac_models import RbacElevationPolicy, RbacElevationRequest, RbacRole, RbacRoleGroup
from ._errors import InvalidOperationError
from ._objects import find_by_name, not_found
from ._store import bump_generation, group_ids_of, load_rbac, member_key, recipient_of, usg_refs

__all__ = [
    "MAX_POLICIES",
    "PENDING_LIFETIME",
    "approve_request",
    "deny_request",
    "get_policy",
    "get_request",
    "new_policy",
    "new_request",
    "remove_policy",
    "revoke_authorization",
    "set_policy",
]

MAX_POLICIES = 30
PENDING_LIFETIME = timedelta(hours=24)
DEFAULT_HOURS = 4


def _strip(task: str) -> str:
    return task.split("\\", 1)[1] if task.lower().startswith("exchange\\") else task


def _policy_target(inv: Invocation) -> tuple[str, str]:
    given = [n for n in ("Task", "Role", "RoleGroup") if inv.has(n)]
    if len(given) != 1:
        raise ArgumentError("Give exactly one of -Task, -Role or -RoleGroup.")
    kind = given[0]
    value = str(inv.get(kind)).strip()
    if kind == "Task":
        from ..cmdlets._catalog import default_registry

        spec = default_registry().get(_strip(value))
        if spec is None:
            raise ArgumentError(f"'{value}' isn't a cmdlet.", details=[{"target": "Task"}])
        return kind, spec.name
    model = RbacRole if kind == "Role" else RbacRoleGroup
    return kind, find_by_name(inv.session, model, inv.tenant.id, value, parameter=kind).name


def _serialize_policy(p: RbacElevationPolicy) -> dict[str, Any]:
    return {
        "Identity": p.guid,
        "Guid": p.guid,
        "PolicyType": p.policy_type,
        "Task": f"Exchange\\{p.target}" if p.policy_type == "Task" else None,
        "Role": p.target if p.policy_type == "Role" else None,
        "RoleGroup": p.target if p.policy_type == "RoleGroup" else None,
        "ApprovalType": p.approval_type,
        "ApproverGroup": p.approver_group,
        "WhenCreated": iso(p.created_at),
    }


def _audit(inv: Invocation, operation: str, request: RbacElevationRequest, **extra: Any) -> None:
    service = service_for(inv.session)
    if service is None:
        return
    record = exchange_admin_record(
        operation=operation,
        tenant_id=inv.tenant.id,
        organization_name=inv.tenant.initial_domain,
        when=inv.now(),
        principal=inv.principal,
        params={
            "RequestId": request.guid,
            "Task": request.task,
            "Requester": request.requester_name,
            **extra,
        },
        secret_names=(),
        succeeded=True,
        object_id=request.guid,
    )
    record["RecordType"] = int(RecordType.MailwardenElevation)
    service.record(inv.session, inv.tenant.id, record, high_severity=True)


def get_policy(inv: Invocation) -> list[dict[str, Any]]:
    if inv.has("Identity"):
        return [_serialize_policy(_policy(inv))]  # a named policy must exist: 404 otherwise
    rows = inv.session.scalars(
        select(RbacElevationPolicy)
        .where(RbacElevationPolicy.tenant_id == inv.tenant.id)
        .order_by(RbacElevationPolicy.id)
    )
    return [_serialize_policy(p) for p in rows]


def _approval_type(value: Any) -> str:
    canonical = {"manual": "Manual", "auto": "Auto"}.get(str(value).lower())
    if canonical is None:
        raise ArgumentError("ApprovalType must be Manual or Auto.")
    return canonical


def new_policy(inv: Invocation) -> dict[str, Any]:
    kind, target = _policy_target(inv)
    count = inv.session.scalar(select(func.count()).where(RbacElevationPolicy.tenant_id == inv.tenant.id))
    if (count or 0) >= MAX_POLICIES:
        raise InvalidOperationError(f"At most {MAX_POLICIES} privileged access policies per organization.")
    if inv.session.scalar(
        select(RbacElevationPolicy.id).where(
            RbacElevationPolicy.tenant_id == inv.tenant.id,
            RbacElevationPolicy.policy_type == kind,
            RbacElevationPolicy.target_key == target.lower(),
        )
    ):
        raise DuplicateObjectError(f"A privileged access policy for '{target}' already exists.")
    policy = RbacElevationPolicy(
        tenant_id=inv.tenant.id,
        guid=str(uuid.uuid4()),
        policy_type=kind,
        target=target,
        target_key=target.lower(),
        approval_type=_approval_type(inv.get("ApprovalType", "Manual")),
        approver_group=str(inv.get("ApproverGroup")),
        created_at=inv.now(),
    )
    inv.session.add(policy)
    inv.session.flush()
    bump_generation(inv.session, inv.tenant.id)
    return _serialize_policy(policy)


def _policy(inv: Invocation) -> RbacElevationPolicy:
    """A policy by its GUID or by its target (``Exchange\\Set-Mailbox``, ``Set-Mailbox``, a role or role group
    name)."""
    ident = str(inv.get("Identity")).strip().lower()
    p = inv.session.scalar(
        select(RbacElevationPolicy).where(
            RbacElevationPolicy.tenant_id == inv.tenant.id,
            (RbacElevationPolicy.guid == ident) | (RbacElevationPolicy.target_key == _strip(ident)),
        )
    )
    if p is None:
        raise not_found(str(inv.get("Identity")))
    return p


def set_policy(inv: Invocation) -> None:
    p = _policy(inv)
    if inv.has("ApprovalType"):
        p.approval_type = _approval_type(inv.get("ApprovalType"))
    if inv.has("ApproverGroup"):
        p.approver_group = str(inv.get("ApproverGroup"))
    bump_generation(inv.session, inv.tenant.id)


def remove_policy(inv: Invocation) -> None:
    inv.session.delete(_policy(inv))
    bump_generation(inv.session, inv.tenant.id)


def _status(r: RbacElevationRequest, now: datetime) -> str:
    if r.status == "Pending" and now >= r.created_at + PENDING_LIFETIME:
        return "Expired"
    if r.status == "Approved" and r.access_ends_at is not None and now >= r.access_ends_at:
        return "Expired"
    return r.status


def _serialize_request(r: RbacElevationRequest, now: datetime) -> dict[str, Any]:
    return {
        "Identity": r.guid,
        "RequestId": r.guid,
        "Requestor": r.requester_name,
        "Task": f"Exchange\\{r.task}",
        "Reason": r.reason,
        "DurationHours": r.duration_hours,
        "RequestStatus": _status(r, now),
        "CreationDate": iso(r.created_at),
        "ApprovedBy": r.decided_by,
        "Comment": r.comment,
        "AccessEndsAt": iso(r.access_ends_at),
    }


def new_request(inv: Invocation) -> dict[str, Any]:
    key = member_key(inv.principal)
    if key is None:
        raise ArgumentError("Only users and apps can request privileged access.")
    kind, target = _policy_target(inv)
    policy = inv.session.scalar(
        select(RbacElevationPolicy).where(
            RbacElevationPolicy.tenant_id == inv.tenant.id,
            RbacElevationPolicy.policy_type == kind,
            RbacElevationPolicy.target_key == target.lower(),
        )
    )
    if policy is None:
        raise not_found(target, kind)
    hours = int(inv.get("DurationHours", DEFAULT_HOURS))
    if hours < 1:
        raise ArgumentError("DurationHours must be at least 1.", details=[{"target": "DurationHours"}])
    now = inv.now()
    # One open request per requester and task: a second one while the first still waits for an answer would
    # only notify the approvers twice. Expired requests (24 hours unanswered) don't count.
    open_requests = inv.session.scalars(
        select(RbacElevationRequest).where(
            RbacElevationRequest.tenant_id == inv.tenant.id,
            RbacElevationRequest.policy_id == policy.id,
            RbacElevationRequest.requester_kind == key[0],
            RbacElevationRequest.requester_id == key[1],
            RbacElevationRequest.status == "Pending",
        )
    )
    pending = next((r for r in open_requests if _status(r, now) == "Pending"), None)
    if pending is not None:
        raise DuplicateObjectError(
            f"A privileged access request for '{target}' by {_requester_name(inv)} is already pending "
            f"({pending.guid}); wait for it to be approved or denied."
        )
    request = RbacElevationRequest(
        tenant_id=inv.tenant.id,
        guid=str(uuid.uuid4()),
        policy_id=policy.id,
        requester_kind=key[0],
        requester_id=key[1],
        requester_name=_requester_name(inv),
        task=target,
        reason=str(inv.get("Reason")),
        duration_hours=hours,
        status="Pending",
        created_at=now,
    )
    inv.session.add(request)
    if policy.approval_type == "Auto":
        request.status, request.decided_at, request.decided_by = "Approved", now, "Auto"
        request.access_ends_at = now + timedelta(hours=hours)
    inv.session.flush()
    _audit(inv, "ElevatedAccessRequested", request, Reason=request.reason, DurationHours=hours)
    if request.status == "Approved":
        _audit(inv, "ElevatedAccessApproved", request, ApprovalType="Auto")
    return _serialize_request(request, now)


def _requester_name(inv: Invocation) -> str:
    return inv.principal.display_name or inv.principal.id


def get_request(inv: Invocation) -> list[dict[str, Any]]:
    now = inv.now()
    if inv.has("Identity"):  # one request by its id: an unknown id is a 404, as for every -Identity
        rows = [_request(inv, "Identity")]
    else:
        rows = list(
            inv.session.scalars(
                select(RbacElevationRequest)
                .where(RbacElevationRequest.tenant_id == inv.tenant.id)
                .order_by(RbacElevationRequest.id)
            )
        )
    out = [_serialize_request(r, now) for r in rows]
    if inv.has("RequestStatus"):
        out = [r for r in out if r["RequestStatus"].lower() == str(inv.get("RequestStatus")).lower()]
    return out


def _request(inv: Invocation, parameter: str = "RequestId") -> RbacElevationRequest:
    r = inv.session.scalar(
        select(RbacElevationRequest).where(
            RbacElevationRequest.tenant_id == inv.tenant.id,
            RbacElevationRequest.guid == str(inv.get(parameter)).strip().lower(),
        )
    )
    if r is None:
        raise not_found(str(inv.get(parameter)), parameter)
    return r


def _is_approver(inv: Invocation, group: str) -> bool:
    if inv.principal.kind == "system":
        return True
    snap = load_rbac(inv.session, inv.tenant.id)
    mine = {snap.groups[g].lower() for g in group_ids_of(inv.session, snap, inv.tenant.id, inv.principal)}
    if group.lower() in mine:
        return True
    recipient = recipient_of(inv.session, inv.principal)
    if recipient is None:
        return False
    from ..directory._resolve import try_resolve_recipient

    groups = try_resolve_recipient(
        inv.session, inv.tenant.id, group, types=frozenset({"MailUniversalSecurityGroup"})
    )
    return any(("group", str(g.id)) in usg_refs(inv.session, inv.tenant.id, recipient) for g in groups)


def _decide(inv: Invocation, approve: bool) -> None:
    r = _request(inv)
    now = inv.now()
    key = member_key(inv.principal)
    if key is not None and (r.requester_kind, r.requester_id) == key:
        raise AccessDeniedError("A requester can't approve or deny their own privileged access request.")
    policy = inv.session.get(RbacElevationPolicy, r.policy_id)
    assert policy is not None
    if not _is_approver(inv, policy.approver_group):
        raise AccessDeniedError(
            f"Only members of the approvers' group '{policy.approver_group}' can answer this request."
        )
    status = _status(r, now)
    if status != "Pending":
        raise InvalidOperationError(
            f"The request {r.guid} is {status}; only pending requests can be answered."
        )
    r.status = "Approved" if approve else "Denied"
    r.decided_at, r.decided_by = now, inv.principal.display_name or inv.principal.id
    r.comment = inv.get("Comment")
    if approve:
        r.access_ends_at = now + timedelta(hours=r.duration_hours)
    _audit(inv, "ElevatedAccessApproved" if approve else "ElevatedAccessDenied", r, Comment=r.comment)


def approve_request(inv: Invocation) -> None:
    _decide(inv, True)


def deny_request(inv: Invocation) -> None:
    _decide(inv, False)


def revoke_authorization(inv: Invocation) -> None:
    r = _request(inv)
    if _status(r, inv.now()) != "Approved":
        raise InvalidOperationError(f"The request {r.guid} has no active authorization to revoke.")
    r.status, r.access_ends_at = "Revoked", inv.now()
    _audit(inv, "ElevatedAccessRevoked", r)
