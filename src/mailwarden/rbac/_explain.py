"""``Test-CmdletPermission`` (ours): would this principal be allowed to run this cmdlet with these parameters
on this target, and why - the very decision the enforcement hook takes. Also ``Get-RoleAssignmentPolicy``
(listing only: mailwarden does not evaluate end-user roles for callers)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from sqlalchemy import select

from ..cmdlets._binding import BoundParameters
from ..cmdlets._invocation import Invocation
from ..errors import ArgumentError
from ..principal import Principal
from ..store._identity_models import IdentityUser
from ..store._oauth_models import OAuthClient
from ._enforce import authorize
from ._objects import matches, not_found
from ._store import load_rbac

__all__ = ["get_role_assignment_policy", "test_cmdlet_permission"]

# Default Role Assignment Policy of Exchange Online (RAP): role → assigned by default.
_DEFAULT_POLICY = (
    "My Custom Apps", "My Marketplace Apps", "My ReadWriteMailbox Apps", "MyBaseOptions", "MyContactInformation",
    "MyDistributionGroupMembership", "MyDistributionGroups", "MyMailSubscriptions", "MyProfileInformation",
    "MyRetentionPolicies", "MyTeamMailboxes", "MyTextMessaging", "MyVoiceMail",
)  # fmt: skip


def _principal(inv: Invocation, text: str) -> Principal:
    low = text.strip().lower()
    user = inv.session.scalar(
        select(IdentityUser).where(
            IdentityUser.tenant_id == inv.tenant.id, (IdentityUser.upn_key == low) | (IdentityUser.id == low)
        )
    )
    if user is not None:
        return Principal(inv.tenant.id, user.id, user.upn, "user")
    app = inv.session.scalar(
        select(OAuthClient).where(OAuthClient.tenant_id == inv.tenant.id, OAuthClient.id == low)
    )
    if app is not None:
        return Principal(inv.tenant.id, app.id, app.name, "app")
    raise not_found(text, "Principal")


def test_cmdlet_permission(inv: Invocation) -> dict[str, Any]:
    from ..cmdlets._catalog import default_registry

    spec = default_registry().get(str(inv.get("Cmdlet")))
    if spec is None:
        raise ArgumentError(f"'{inv.get('Cmdlet')}' isn't a cmdlet.", details=[{"target": "Cmdlet"}])
    principal = _principal(inv, str(inv.get("Principal"))) if inv.has("Principal") else inv.principal
    values: dict[str, Any] = {str(p): True for p in inv.get("Parameters") or []}
    if inv.has("Target"):
        target_param = next((p.name for p in spec.params if p.name in ("Mailbox", "Identity")), "Identity")
        values[target_param] = str(inv.get("Target"))
    probe = dataclasses.replace(
        inv,
        spec=spec,
        params=BoundParameters(values, inv.params.parameter_set),
        principal=principal,
        state={},
    )
    if principal.kind == "system":
        return {
            "Cmdlet": spec.name,
            "Allowed": True,
            "Reason": "the system principal is exempt",
            "Principal": "System",
        }
    auth = authorize(probe)
    snap = load_rbac(inv.session, inv.tenant.id)
    return {
        "Cmdlet": spec.name,
        "Principal": principal.display_name,
        "Parameters": sorted(values),
        "Target": inv.get("Target"),
        "Allowed": auth.decision.allowed,
        "Reason": auth.decision.reason,
        "GrantingAssignment": auth.decision.assignment,
        "MissingParameters": list(auth.decision.missing),
        "EffectiveAssignments": sorted({f"{g.assignment} ({g.via})" for g in auth.grants}),
        "ExclusiveScopes": sorted(s.name for s in snap.exclusive_scopes),
    }


def get_role_assignment_policy(inv: Invocation) -> list[dict[str, Any]]:
    name = "Default Role Assignment Policy"
    # Stable per tenant (no row backs the policy): the same GUID on every call, a different one per tenant.
    guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailwarden:{inv.tenant.id}:role-assignment-policy:default"))
    policy = {
        "Identity": name,
        "Name": name,
        "Guid": guid,
        "IsDefault": True,
        "AssignedRoles": list(_DEFAULT_POLICY),
        "Description": "Exchange Online's default policy (listed for compatibility; end-user roles are not "
        "evaluated for mailwarden callers).",
    }
    wanted = inv.get("Identity")
    if wanted is None:
        return [policy]
    text = str(wanted).strip()
    if "*" in text:
        return [policy] if matches(text, name) else []
    if text.lower() in (name.lower(), guid):
        return [policy]
    raise not_found(str(wanted))  # a named policy that doesn't exist is a 404, as for every -Identity
