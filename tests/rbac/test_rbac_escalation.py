"""Acceptance 2: privilege escalation attempts through real HTTP with real tokens (users and an app).

Every denied call is checked the same way (:func:`denied`): 403 with Exchange's access-denied shape, no row of
the tenant changed (``table_snapshot``), and one failed audit record for the cmdlet.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rbac_support import (
    REGISTRY,
    app_token,
    assert_access_denied,
    assign_directly,
    audit_records,
    fresh_token,
    mandatory_params,
    user_in,
)
from sqlalchemy import delete
from starlette.testclient import TestClient

from mailwarden.clock import FakeClock
from mailwarden.store import Database
from mailwarden.store._rbac_models import RbacAssignment

from cmdlet_scenarios import table_snapshot
from conftest import Api, TenantHandle


def denied(db: Database, api: Api, cmdlet: str, **params: Any) -> str:
    """The call is refused (403, AccessDeniedException), changes nothing and is audited as a failure."""
    before = table_snapshot(db, api.tenant.id)
    audited = len(audit_records(db, api.tenant.id))
    reason = assert_access_denied(api.call(cmdlet, **params))
    assert table_snapshot(db, api.tenant.id) == before, f"{cmdlet} was denied but changed data"
    records = audit_records(db, api.tenant.id)
    assert len(records) == audited + 1, f"{cmdlet}: a denied call leaves exactly one audit record"
    assert records[-1]["Operation"] == cmdlet
    assert records[-1]["ResultStatus"] != "Success"
    return reason


def refused(db: Database, api: Api, status: int, code: str, cmdlet: str, **params: Any) -> str:
    """A refusal that is not an authorisation failure (lock-out rails, own approval): nothing changes."""
    before = table_snapshot(db, api.tenant.id)
    response = api.call(cmdlet, **params)
    assert response.status_code == status, response.text
    err = response.json()["error"]
    assert err["code"] == code, err
    assert table_snapshot(db, api.tenant.id) == before
    return str(err["message"])


def mailbox(admin: Api, name: str, **props: Any) -> dict[str, Any]:
    made = admin.ok("New-Mailbox", Name=name)[0]
    user_props = {k: v for k, v in props.items() if k == "Department"}
    if user_props:
        admin.ok("Set-User", Identity=name, **user_props)
    mailbox_props = {k: v for k, v in props.items() if k != "Department"}
    if mailbox_props:
        admin.ok("Set-Mailbox", Identity=name, **mailbox_props)
    return admin.ok("Get-Mailbox", Identity=name)[0] | {"Guid": made.get("Guid") or made.get("ExchangeGuid")}


@pytest.fixture
def ctx(
    db: Database, clock: FakeClock, app_client: TestClient, api: Api
) -> tuple[Database, FakeClock, TestClient, TenantHandle, Api]:
    return db, clock, app_client, api.tenant, api


Ctx = tuple[Database, FakeClock, TestClient, TenantHandle, Api]


# --- Recipient Management ---------------------------------------------------------------------------------


def test_recipient_management_cannot_join_organization_management(ctx: Ctx) -> None:
    db, clock, client, tenant, _admin = ctx
    rm = user_in(db, clock, client, tenant, ["Recipient Management"], "rm")
    reason = denied(
        db, rm, "Add-RoleGroupMember", Identity="Organization Management", Member=f"rm@{tenant.domain}"
    )
    assert "Add-RoleGroupMember" in reason
    denied(
        db, rm, "Update-RoleGroupMember", Identity="Organization Management", Members=[f"rm@{tenant.domain}"]
    )


def test_recipient_management_cannot_create_role_assignments(ctx: Ctx) -> None:
    db, clock, client, tenant, _admin = ctx
    rm = user_in(db, clock, client, tenant, ["Recipient Management"], "rm")
    for role in ("Role Management", "Mail Recipients", "Organization Configuration"):
        denied(db, rm, "New-ManagementRoleAssignment", Role=role, User=f"rm@{tenant.domain}")
    denied(db, rm, "New-ManagementRole", Name="Mine", Parent="Mail Recipients")


def test_recipient_management_cannot_change_audit_or_transport_config(ctx: Ctx) -> None:
    db, clock, client, tenant, admin = ctx
    rm = user_in(db, clock, client, tenant, ["Recipient Management"], "rm")
    denied(db, rm, "Set-AdminAuditLogConfig", UnifiedAuditLogIngestionEnabled=False)
    denied(db, rm, "Set-TransportConfig", SmtpClientAuthenticationDisabled=True)
    # The same calls are what Organization Management does: the denial is the role, not the call.
    admin.ok("Set-TransportConfig", SmtpClientAuthenticationDisabled=True)


# --- View-Only Organization Management -------------------------------------------------------------------

WRITE_VERBS = ("Set-", "New-", "Remove-", "Add-")


@pytest.mark.slow  # one denied call per write cmdlet (~60), each with two table snapshots
def test_view_only_organization_management_runs_no_write(ctx: Ctx) -> None:
    db, clock, client, tenant, admin = ctx
    admin.ok("New-Mailbox", Name="ada")
    viewer = user_in(db, clock, client, tenant, ["View-Only Organization Management"], "viewer")
    # All of them, New-ElevatedAccessRequest included: the read-only groups hold no PAM role (seed).
    names = [n for n in REGISTRY.names() if n.startswith(WRITE_VERBS)]
    assert len(names) > 50
    for name in names:
        spec = REGISTRY.get(name)
        assert spec is not None
        params = mandatory_params(spec)
        if "Identity" in params and spec.object_type in ("Mailbox", "User", "CASMailbox"):
            params["Identity"] = "ada"  # an existing target: the refusal is not a 404 in disguise
        denied(db, viewer, name, **params)
    assert viewer.ok("Get-Mailbox", Identity="ada")


# --- custom child role without a parameter ----------------------------------------------------------------


def test_child_role_without_forwarding_parameter(ctx: Ctx) -> None:
    db, clock, client, tenant, admin = ctx
    admin.ok("New-ManagementRole", Name="No Forwarding", Parent="Mail Recipients")
    admin.ok(
        "Set-ManagementRoleEntry",
        Identity="No Forwarding\\Set-Mailbox",
        Parameters=["ForwardingSmtpAddress"],
        RemoveParameter=True,
    )
    admin.ok("New-RoleGroup", Name="Limited Recipients")
    admin.ok(
        "New-ManagementRoleAssignment",
        Name="No Forwarding_Limited Recipients",
        Role="No Forwarding",
        SecurityGroup="Limited Recipients",
    )
    mailbox(admin, "bob")
    limited = user_in(db, clock, client, tenant, ["Limited Recipients"], "limited")
    reason = denied(db, limited, "Set-Mailbox", Identity="bob", ForwardingSmtpAddress="smtp:x@example.com")
    assert "ForwardingSmtpAddress" in reason
    denied(
        db,
        limited,
        "Set-Mailbox",
        Identity="bob",
        CustomAttribute1="ok",
        ForwardingSmtpAddress="smtp:x@example.com",
    )
    limited.ok("Set-Mailbox", Identity="bob", CustomAttribute1="ok", DisplayName="Bob B")
    got = admin.ok("Get-Mailbox", Identity="bob")[0]
    assert got["CustomAttribute1"] == "ok"
    assert got["DisplayName"] == "Bob B"
    assert not got.get("ForwardingSmtpAddress")
    # The parent keeps the parameter: Recipient Management can still set forwarding.
    rm = user_in(db, clock, client, tenant, ["Recipient Management"], "rm")
    rm.ok("Set-Mailbox", Identity="bob", ForwardingSmtpAddress="smtp:x@example.com")


def test_organization_management_can_assign_its_custom_role(ctx: Ctx) -> None:
    """Organization Management holds delegating assignments for all roles (ORGMGMT13: its members "can assign
    themselves any role"; "every role must have at least one delegating role assignment"), custom ones too."""
    _db, _clock, _client, _tenant, admin = ctx
    admin.ok("New-ManagementRole", Name="No Forwarding", Parent="Mail Recipients")
    admin.ok("New-RoleGroup", Name="Limited Recipients", Roles=["No Forwarding"])
    assert admin.ok("Get-RoleGroup", Identity="Limited Recipients")[0]["Roles"] == ["No Forwarding"]
    admin.ok(
        "New-ManagementRoleAssignment",
        Name="NF Admin",
        Role="No Forwarding",
        SecurityGroup="Organization Management",
    )
    admin.ok("Remove-ManagementRoleAssignment", Identity="NF Admin")
    # The role goes with its automatic delegating assignment once no other assignment holds it.
    refused(_db, admin, 400, "InvalidOperationException", "Remove-ManagementRole", Identity="No Forwarding")
    admin.ok("Remove-RoleGroup", Identity="Limited Recipients")
    admin.ok("Remove-ManagementRole", Identity="No Forwarding")
    assert not [a for a in admin.all("Get-ManagementRoleAssignment") if a["Name"].startswith("No Forwarding")]


# --- custom write scope -----------------------------------------------------------------------------------


def _sales_admin(ctx: Ctx) -> tuple[Api, dict[str, Any], dict[str, Any]]:
    db, clock, client, tenant, admin = ctx
    sales = mailbox(admin, "sam", Department="Sales")
    finance = mailbox(admin, "fiona", Department="Finance")
    admin.ok("New-ManagementScope", Name="Sales", RecipientRestrictionFilter="Department -eq 'Sales'")
    admin.ok("New-RoleGroup", Name="Sales Admins")
    admin.ok(
        "New-ManagementRoleAssignment",
        Name="MR Sales Admins",
        Role="Mail Recipients",
        SecurityGroup="Sales Admins",
        CustomRecipientWriteScope="Sales",
    )
    return user_in(db, clock, client, tenant, ["Sales Admins"], "salesadmin"), sales, finance


def test_write_scope_blocks_out_of_scope_mailbox_by_any_identity(ctx: Ctx) -> None:
    db = ctx[0]
    scoped, _sales, finance = _sales_admin(ctx)
    identities = {finance["Name"], finance["PrimarySmtpAddress"], finance["Guid"]}
    assert len(identities) == 3, finance
    assert all(identities), finance
    for identity in identities:
        reason = denied(db, scoped, "Set-Mailbox", Identity=identity, CustomAttribute1="pwned")
        assert "write scope" in reason
        # Exchange keeps the implicit read scope: write scopes do not hide objects (SCOPES13).
        assert [m["Name"] for m in scoped.ok("Get-Mailbox", Identity=identity)] == ["fiona"]
    assert "fiona" in {m["Name"] for m in scoped.all("Get-Mailbox")}


def test_write_scope_allows_in_scope_mailbox(ctx: Ctx) -> None:
    scoped, sales, _finance = _sales_admin(ctx)
    for identity in (sales["Name"], sales["PrimarySmtpAddress"], sales["Guid"]):
        scoped.ok("Set-Mailbox", Identity=identity, CustomAttribute1="ok")
    assert ctx[4].ok("Get-Mailbox", Identity="sam")[0]["CustomAttribute1"] == "ok"


def test_write_scope_checked_after_the_change(ctx: Ctx) -> None:
    """Moving an object out of one's write scope is refused (KB 2549289: in scope before and after)."""
    db, clock, client, tenant, admin = ctx
    admin.ok("New-Mailbox", Name="ceo")
    admin.ok("New-ManagementScope", Name="Tagged", RecipientRestrictionFilter="CustomAttribute1 -eq 'A'")
    admin.ok("Set-Mailbox", Identity="ceo", CustomAttribute1="A")
    admin.ok("New-RoleGroup", Name="Tagged Admins")
    admin.ok(
        "New-ManagementRoleAssignment",
        Role="Mail Recipients",
        SecurityGroup="Tagged Admins",
        CustomRecipientWriteScope="Tagged",
    )
    scoped = user_in(db, clock, client, tenant, ["Tagged Admins"], "tagged")
    denied(db, scoped, "Set-Mailbox", Identity="ceo", CustomAttribute1="B")
    scoped.ok("Set-Mailbox", Identity="ceo", DisplayName="Chief")


# --- exclusive scope --------------------------------------------------------------------------------------


def test_exclusive_scope_blocks_organization_management(ctx: Ctx) -> None:
    db, clock, client, tenant, admin = ctx
    mailbox(admin, "ceo", CustomAttribute1="Exec")
    mailbox(admin, "staff")
    admin.ok(
        "New-ManagementScope",
        Name="Executives",
        RecipientRestrictionFilter="CustomAttribute1 -eq 'Exec'",
        Exclusive=True,
        Force=True,
    )
    org = user_in(db, clock, client, tenant, ["Organization Management"], "org")
    reason = denied(db, org, "Set-Mailbox", Identity="ceo", DisplayName="Hacked")
    assert "Executives" in reason
    denied(db, admin, "Remove-Mailbox", Identity="ceo")
    org.ok("Set-Mailbox", Identity="staff", DisplayName="Staff")  # only matching objects are protected
    assert org.ok("Get-Mailbox", Identity="ceo")  # reads are untouched (EXCL13)
    admin.ok("New-RoleGroup", Name="Exec Admins")
    admin.ok(
        "New-ManagementRoleAssignment",
        Role="Mail Recipients",
        SecurityGroup="Exec Admins",
        ExclusiveRecipientWriteScope="Executives",
    )
    vip = user_in(db, clock, client, tenant, ["Exec Admins"], "vip")
    vip.ok("Set-Mailbox", Identity="ceo", DisplayName="The CEO")
    denied(db, org, "Set-Mailbox", Identity="ceo", DisplayName="Again")  # still not org management


# --- app ---------------------------------------------------------------------------------------------------


def test_view_only_app_cannot_write(ctx: Ctx) -> None:
    db, clock, client, tenant, admin = ctx
    mailbox(admin, "ada")
    app = app_token(db, clock, client, tenant, ["View-Only Organization Management"])
    assert [m["Name"] for m in app.ok("Get-Mailbox", Identity="ada")] == ["ada"]
    denied(db, app, "Set-Mailbox", Identity="ada", DisplayName="x")
    denied(db, app, "New-Mailbox", Name="app-made")
    denied(db, app, "Remove-Mailbox", Identity="ada")
    denied(db, app, "Set-OrganizationConfig")
    denied(db, app, "Add-RoleGroupMember", Identity="Organization Management", Member="ada")


# --- privileged access (PAM) -----------------------------------------------------------------------------


def _pam(ctx: Ctx) -> tuple[Api, Api, str]:
    """A Task policy on Set-TransportConfig; ``requester`` and ``approver`` are in Organization Management."""
    db, clock, client, tenant, admin = ctx
    admin.ok(
        "New-ElevatedAccessApprovalPolicy",
        Task="Exchange\\Set-TransportConfig",
        ApprovalType="Manual",
        ApproverGroup="Organization Management",
    )
    requester = user_in(db, clock, client, tenant, ["Organization Management"], "requester")
    approver = user_in(db, clock, client, tenant, ["Organization Management"], "approver")
    return requester, approver, f"requester@{tenant.domain}"


def _request(requester: Api) -> str:
    made = requester.ok(
        "New-ElevatedAccessRequest", Task="Exchange\\Set-TransportConfig", Reason="change", DurationHours=1
    )
    request_id = made[0].get("RequestId") or made[0].get("Identity")
    assert request_id, made
    return str(request_id)


def test_elevation_required_then_expires_on_next_call(ctx: Ctx) -> None:
    db, clock, _client, tenant, _admin = ctx
    requester, approver, upn = _pam(ctx)
    denied(db, requester, "Set-TransportConfig", SmtpClientAuthenticationDisabled=True)
    request_id = _request(requester)
    denied(db, requester, "Set-TransportConfig", SmtpClientAuthenticationDisabled=True)  # pending
    approver.ok("Approve-ElevatedAccessRequest", RequestId=request_id, Comment="ok")
    requester.ok("Set-TransportConfig", SmtpClientAuthenticationDisabled=True)
    clock.advance(timedelta(minutes=59))  # fresh sign-ins: only the elevation's age matters
    requester.tenant = TenantHandle(tenant.id, tenant.domain, key=fresh_token(db, clock, tenant.id, upn))
    requester.ok("Set-TransportConfig", SmtpClientAuthenticationDisabled=False)
    clock.advance(timedelta(minutes=2))  # the elevation (1 h) is over
    requester.tenant = TenantHandle(tenant.id, tenant.domain, key=fresh_token(db, clock, tenant.id, upn))
    denied(db, requester, "Set-TransportConfig", SmtpClientAuthenticationDisabled=True)


def test_revoked_elevation_stops_on_next_call(ctx: Ctx) -> None:
    db = ctx[0]
    requester, approver, _upn = _pam(ctx)
    request_id = _request(requester)
    approver.ok("Approve-ElevatedAccessRequest", RequestId=request_id)
    requester.ok("Set-TransportConfig", SmtpClientAuthenticationDisabled=True)
    approver.ok("Revoke-ElevatedAccessAuthorization", RequestId=request_id)
    denied(db, requester, "Set-TransportConfig", SmtpClientAuthenticationDisabled=False)


def test_requester_cannot_approve_own_elevation(ctx: Ctx) -> None:
    db = ctx[0]
    requester, _approver, _upn = _pam(ctx)
    request_id = _request(requester)
    response = requester.call("Approve-ElevatedAccessRequest", RequestId=request_id)
    assert response.status_code in (400, 403), response.text
    status = requester.ok("Get-ElevatedAccessRequest", Identity=request_id)[0]
    assert status["RequestStatus"] == "Pending"
    denied(db, requester, "Set-TransportConfig", SmtpClientAuthenticationDisabled=True)


# --- lock-out rail ----------------------------------------------------------------------------------------


def test_last_delegating_assignment_cannot_be_removed(ctx: Ctx) -> None:
    db, clock, client, tenant, admin = ctx
    admin.ok("New-RoleGroup", Name="Delegators")
    admin.ok(
        "New-ManagementRoleAssignment",
        Name="MR Delegating Delegators",
        Role="Mail Recipients",
        SecurityGroup="Delegators",
        Delegating=True,
    )
    # Organization Management's delegating assignment can't be removed (RGU13) …
    refused(
        db,
        admin,
        400,
        "InvalidOperationException",
        "Remove-ManagementRoleAssignment",
        Identity="Mail Recipients-Delegating_Organization Management",
    )
    # … a custom role gets one with it, which is refused the same way …
    admin.ok("New-ManagementRole", Name="Child Recipients", Parent="Mail Recipients")
    automatic = admin.all("Get-ManagementRoleAssignment", Role="Child Recipients", Delegating=True)
    assert [a["Name"] for a in automatic] == ["Child Recipients-Delegating_Organization Management"]
    refused(
        db,
        admin,
        400,
        "InvalidOperationException",
        "Remove-ManagementRoleAssignment",
        Identity=automatic[0]["Name"],
    )
    # … and a role's only delegating assignment is the last one for any holder (ORGMGMT13, BUILTIN13). No
    # cmdlet can take Organization Management's away, so the delegation is moved directly in the database.
    with db.unit_of_work() as uow:
        uow.session.execute(delete(RbacAssignment).where(RbacAssignment.guid == automatic[0]["Guid"]))
    last = assign_directly(db, clock, tenant.id, "Child Recipients", "Delegators", delegating=True)
    assign_directly(db, clock, tenant.id, "Role Management", "Delegators")
    delegator = user_in(db, clock, client, tenant, ["Delegators"], "delegator")  # holds that delegation
    message = refused(
        db, delegator, 400, "InvalidOperationException", "Remove-ManagementRoleAssignment", Identity=last
    )
    assert "last delegating" in message
    admin.ok("Remove-ManagementRoleAssignment", Identity="MR Delegating Delegators")  # not the last one
