"""Every cmdlet of the registry through real HTTP (InvokeCommand on the ASGI app) on a real database:
success and its visible effect, bad parameters, unknown identities, duplicates, -WhatIf, no partial writes,
and the Exchange behaviours scripts rely on (addresses, identity resolution, removal, ResultSize)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from mailwarden.clock import FakeClock, utcnow
from mailwarden.cmdlets import CmdletSpec, Param, ParamType, default_registry
from mailwarden.demo import bulk_mailboxes
from mailwarden.directory import iso
from mailwarden.store import CasMailbox, Database, GroupMember, MailboxPermission, RecipientPermission

from cmdlet_scenarios import (
    IDENTITY_PARAMS,
    SCENARIOS,
    Scenario,
    partial_match,
    render,
    table_snapshot,
)
from conftest import Api

REGISTRY = default_registry()
ALL = REGISTRY.names()
WRITES = [s.name for s in REGISTRY if s.writes]
CREATES = [n for n in ALL if n.startswith(("New-", "Add-"))]


def spec_of(name: str) -> CmdletSpec:
    spec = REGISTRY.get(name)
    assert spec is not None, name
    return spec


def setup_scenario(api: Api, db: Database, clock: FakeClock, scenario: Scenario) -> None:
    for step in scenario.setup:
        if callable(step):
            step(db, api.tenant.id, clock)
        else:
            cmdlet, params = step
            api.ok(cmdlet, **render(params, api.tenant.domain))


def params_of(api: Api, scenario: Scenario) -> dict[str, Any]:
    value: dict[str, Any] = render(scenario.params, api.tenant.domain)
    return value


def unknown() -> str:
    return f"nobody-{uuid.uuid4().hex[:12]}"


# --- coverage ---------------------------------------------------------------------------------------------


def test_scenarios_cover_exactly_the_registry() -> None:
    assert sorted(SCENARIOS) == ALL
    for name, scenario in SCENARIOS.items():
        spec = spec_of(name)
        declared = {p.name for p in spec.all_params()}
        assert set(scenario.params) <= declared, name
        if spec.verb in ("New", "Add"):
            assert scenario.duplicate, f"{name}: New-*/Add-* need the duplicate case"
        if spec.writes:
            assert scenario.get or scenario.after, f"{name}: a write needs a visible effect"
        else:
            assert scenario.returns is not None, name


# --- success and its effect -------------------------------------------------------------------------------


def check_success_and_effect(cmdlet: str, api: Api, clock: FakeClock) -> None:
    """The call succeeds and its effect is visible (the scenario's setup has run)."""
    scenario = SCENARIOS[cmdlet]
    spec = spec_of(cmdlet)
    domain = api.tenant.domain
    before: list[dict[str, Any]] | None = None
    if scenario.get is not None:
        get_name, get_params = render(scenario.get, domain)
        if spec.verb == "New":
            api.error(get_name, 404, **get_params)
        else:
            before = api.ok(get_name, **get_params)
            assert len(before) == 1, before
    clock.advance(timedelta(minutes=5))
    stamp = iso(utcnow(clock))

    value = api.ok(cmdlet, **params_of(api, scenario))

    if scenario.returns is not None:
        partial_match(value, render(scenario.returns, domain))
    if spec.verb == "New":
        partial_match(value, [render(scenario.expect, domain)])
    if scenario.get is not None:
        get_name, get_params = render(scenario.get, domain)
        if scenario.gone:
            err = api.error(get_name, 404, **get_params)
            assert err["code"] == "ManagementObjectNotFoundException"
        else:
            after = api.ok(get_name, **get_params)
            partial_match(after, [render(scenario.expect, domain)])
            if before is not None:
                changed = {k for k in set(before[0]) | set(after[0]) if before[0].get(k) != after[0].get(k)}
                allowed = set(scenario.expect) | {"WhenChanged", "WhenChangedUTC"} | scenario.derived
                assert changed <= allowed, {k: (before[0].get(k), after[0].get(k)) for k in changed - allowed}
                assert set(scenario.expect) <= changed, "the scenario must really change what it passes"
                if "WhenChanged" in after[0]:
                    assert after[0]["WhenChanged"] == stamp
    if scenario.after is not None:
        list_name, list_params, expected = render(scenario.after, domain)
        partial_match(api.ok(list_name, **list_params), expected)


# --- bad parameters ---------------------------------------------------------------------------------------

_BAD_VALUES: dict[ParamType, Any] = {
    ParamType.BOOL: "maybe",
    ParamType.SWITCH: "perhaps",
    ParamType.INT: "many",
    ParamType.ENUM: "NoSuchValue",
    ParamType.SMTP: "not an address",
    ParamType.SIZE: "enormous",
    ParamType.RESULT_SIZE: "lots",
    ParamType.GUID: "not-a-guid",
    ParamType.DATETIME: "the day after tomorrow",
}


def _typed_param(spec: CmdletSpec) -> tuple[Param, Any]:
    """The first parameter with a type a wrong value can violate (the cmdlet's own before common ones)."""
    for param in spec.all_params():
        if param.type in _BAD_VALUES:
            return param, _BAD_VALUES[param.type]
        if param.type is ParamType.STRING_LIST and param.enum:
            return param, ["NoSuchValue"]
    for param in spec.all_params():
        if param.type is ParamType.IDENTITY:
            return param, "   "  # an identity cannot be blank
    raise AssertionError(f"{spec.name} has no typed parameter")


MANDATORY = {
    name: [p.name for p in spec_of(name).params if p.mandatory and not p.sets]  # set switches select a set
    for name in ALL
}


def check_bad_parameters(cmdlet: str, api: Api, db: Database) -> None:
    """(a) unknown name, (b) wrongly typed value, (c) each missing mandatory parameter, (d) a NUL in a
    string: 400 naming it."""
    valid = params_of(api, SCENARIOS[cmdlet])
    before = table_snapshot(db)

    err = api.error(cmdlet, 400, **valid, NoSuchParameter=1)
    assert err["code"] == "ParameterBindingException"
    assert "'NoSuchParameter'" in err["message"]

    param, bad = _typed_param(spec_of(cmdlet))
    err = api.error(cmdlet, 400, **{**valid, param.name: bad})
    assert err["code"] == "ParameterBindingException"
    assert f"'{param.name}'" in err["message"]
    assert err["details"][0]["target"] == param.name

    # (d) a NUL character in a string value: no directory value holds one (and PostgreSQL text cannot).
    for name in [k for k, v in valid.items() if isinstance(v, str)][:1]:
        err = api.error(cmdlet, 400, **{**valid, name: valid[name] + "\x00"})
        assert err["code"] == "ParameterBindingException"
        assert err["details"][0]["target"] == name

    for missing in MANDATORY[cmdlet]:
        assert missing in valid, "the scenario passes every mandatory parameter"
        err = api.error(cmdlet, 400, **{k: v for k, v in valid.items() if k != missing})
        assert err["code"] == "ParameterBindingException"
        assert missing in err["message"]
        assert "mandatory" in err["message"]
        assert err["details"][0]["target"] == missing

    assert table_snapshot(db) == before


def test_mandatory_parameters_are_exercised() -> None:
    assert sum(len(v) for v in MANDATORY.values()) > 50
    assert MANDATORY["New-Mailbox"] == ["Name"]
    assert MANDATORY["Add-MailboxPermission"] == ["Identity", "User", "AccessRights"]


# --- unknown identity -------------------------------------------------------------------------------------


def identity_params(cmdlet: str) -> list[str]:
    """The identity parameters a call of ``cmdlet`` can name: those the scenario passes, and -Identity."""
    declared = {p.name for p in spec_of(cmdlet).params if p.type is ParamType.IDENTITY}
    passed = set(SCENARIOS[cmdlet].params)
    return [p for p in IDENTITY_PARAMS if p in declared and (p in passed or p == "Identity")]


WITH_IDENTITY = [n for n in ALL if identity_params(n)]


def test_every_cmdlet_with_an_identity_is_checked() -> None:
    declared = {n for n in ALL if any(p.name in IDENTITY_PARAMS for p in spec_of(n).params)}
    assert set(WITH_IDENTITY) == declared
    assert identity_params("Add-MailboxPermission") == ["Identity", "User"]


def check_unknown_identity(cmdlet: str, api: Api, db: Database) -> None:
    """Each identity parameter naming nothing: 404 ManagementObjectNotFoundException, nothing changed."""
    scenario = SCENARIOS[cmdlet]
    before = table_snapshot(db)
    for param in identity_params(cmdlet):
        missing = unknown()
        err = api.error(cmdlet, 404, **{**params_of(api, scenario), param: missing})
        assert err["code"] == "ManagementObjectNotFoundException", param
        assert missing in err["message"], param
        assert table_snapshot(db) == before, param


# --- duplicates -------------------------------------------------------------------------------------------


def check_duplicate(cmdlet: str, api: Api, db: Database) -> None:
    """The same New-*/Add-* again (it has just succeeded): 409, nothing changed — also with -WhatIf."""
    scenario = SCENARIOS[cmdlet]
    assert scenario.duplicate
    params = params_of(api, scenario)
    before = table_snapshot(db)
    err = api.error(cmdlet, 409, **params)
    assert err["code"] in ("ADObjectAlreadyExistsException", "ProxyAddressExistsException")
    err = api.error(cmdlet, 409, **params, WhatIf=True)
    assert err["code"] in ("ADObjectAlreadyExistsException", "ProxyAddressExistsException")
    assert table_snapshot(db) == before


# --- WhatIf -----------------------------------------------------------------------------------------------


def check_whatif(cmdlet: str, api: Api, db: Database, clock: FakeClock) -> None:
    """-WhatIf previews and changes nothing, yet validates: an unknown identity previews as 404, a bad switch
    value as 400 (a duplicate previews as 409: :func:`check_duplicate`)."""
    scenario = SCENARIOS[cmdlet]
    params = params_of(api, scenario)
    clock.advance(timedelta(minutes=1))
    before = table_snapshot(db)
    response = api.call(cmdlet, **params, WhatIf=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["value"] == []
    assert any(w.startswith("What if:") and cmdlet in w for w in body["@adminapi.warnings"])
    assert table_snapshot(db) == before

    declared = {p.name for p in spec_of(cmdlet).params}
    identity = next(
        (p for p in IDENTITY_PARAMS if p in params), "Identity" if "Identity" in declared else None
    )
    if identity is not None:
        err = api.error(cmdlet, 404, **{**params, identity: unknown()}, WhatIf=True)
        assert err["code"] == "ManagementObjectNotFoundException"
    else:
        assert spec_of(cmdlet).verb == "New"
        assert cmdlet in CREATES, "its invalid preview is the duplicate's"
    assert api.error(cmdlet, 400, **params, WhatIf="sometimes")["code"] == "ParameterBindingException"
    assert table_snapshot(db) == before


# --- the contract of every cmdlet -------------------------------------------------------------------------


@pytest.mark.parametrize("cmdlet", ALL)
def test_cmdlet_contract(cmdlet: str, api: Api, db: Database, clock: FakeClock) -> None:
    """One cmdlet's whole contract in one tenant, each step leaving the next a known state: bad parameters
    (before any setup: binding fails first) → the scenario's setup → unknown identities → -WhatIf → success
    and its visible effect → the duplicate (New-*/Add-*)."""
    spec = spec_of(cmdlet)
    check_bad_parameters(cmdlet, api, db)
    setup_scenario(api, db, clock, SCENARIOS[cmdlet])
    if cmdlet in WITH_IDENTITY:
        check_unknown_identity(cmdlet, api, db)
    if spec.writes:
        check_whatif(cmdlet, api, db, clock)
    check_success_and_effect(cmdlet, api, clock)
    if cmdlet in CREATES:
        check_duplicate(cmdlet, api, db)


# --- no partial writes ------------------------------------------------------------------------------------


def test_new_group_with_an_unknown_member_creates_nothing(api: Api, db: Database) -> None:
    api.ok("New-Mailbox", Name="Ada", Alias="ada")
    before = table_snapshot(db)
    err = api.error("New-DistributionGroup", 404, Name="Staff", Members=["ada", "ghost"])
    assert err["code"] == "ManagementObjectNotFoundException"
    assert "ghost" in err["message"]
    assert table_snapshot(db) == before
    api.error("Get-DistributionGroup", 404, Identity="Staff")
    api.error("Get-Recipient", 404, Identity=f"Staff@{api.tenant.domain}")


def test_set_mailbox_with_one_bad_value_changes_nothing(api: Api, db: Database) -> None:
    api.ok("New-Mailbox", Name="Ada", Alias="ada")
    before = table_snapshot(db)
    err = api.error(
        "Set-Mailbox",
        400,
        Identity="ada",
        DisplayName="Changed",
        EmailAddresses={"Add": ["ada@not-ours.example"]},
    )
    assert "accepted domain" in err["message"]
    assert table_snapshot(db) == before
    assert api.ok("Get-Mailbox", Identity="ada")[0]["DisplayName"] == "Ada"


def test_set_mailbox_valid_then_unknown_forwarding_changes_nothing(api: Api, db: Database) -> None:
    api.ok("New-Mailbox", Name="Ada", Alias="ada")
    before = table_snapshot(db)
    api.error("Set-Mailbox", 404, Identity="ada", Name="Ada Renamed", ForwardingAddress="ghost")
    assert table_snapshot(db) == before


# --- Exchange behaviours ----------------------------------------------------------------------------------


def test_primary_smtp_from_alias_and_default_domain(api: Api) -> None:
    domain = api.tenant.domain
    box = api.ok("New-Mailbox", Name="Grace Hopper")[0]
    assert box["Alias"] == "GraceHopper"
    assert box["PrimarySmtpAddress"] == f"GraceHopper@{domain}"
    assert box["EmailAddresses"] == [f"SMTP:GraceHopper@{domain}"]
    assert box["UserPrincipalName"] == f"GraceHopper@{domain}"
    box = api.ok("New-Mailbox", Name="Alan Turing", Alias="alan")[0]
    assert box["PrimarySmtpAddress"] == f"alan@{domain}"
    group = api.ok("New-DistributionGroup", Name="All Staff")[0]
    assert group["PrimarySmtpAddress"] == f"AllStaff@{domain}"


def test_addresses_are_unique_across_the_tenant(api: Api, db: Database) -> None:
    domain = api.tenant.domain
    api.ok("New-Mailbox", Name="Ada", Alias="ada")
    api.ok("Set-Mailbox", Identity="ada", EmailAddresses={"Add": [f"countess@{domain}"]})
    before = table_snapshot(db)
    err = api.error("New-MailContact", 409, Name="Impostor", ExternalEmailAddress=f"ada@{domain}")
    assert err["code"] == "ProxyAddressExistsException"
    assert "Ada" in err["message"]
    err = api.error("New-Mailbox", 409, Name="Countess", PrimarySmtpAddress=f"COUNTESS@{domain}")
    assert err["code"] == "ProxyAddressExistsException"
    err = api.error("New-Mailbox", 409, Name="Other Ada", Alias="ada")
    assert err["code"] == "ProxyAddressExistsException"
    err = api.error("New-MailUser", 409, Name="Mu", ExternalEmailAddress=f"countess@{domain}")
    assert err["code"] == "ProxyAddressExistsException"
    api.ok("New-Mailbox", Name="Bob", Alias="bob")
    after_bob = table_snapshot(db)
    err = api.error("Set-Mailbox", 409, Identity="bob", EmailAddresses={"Add": [f"Countess@{domain}"]})
    assert err["code"] == "ProxyAddressExistsException"
    assert table_snapshot(db) == after_bob
    assert after_bob["recipients"][: len(before["recipients"])] == before["recipients"]


def test_casmailbox_exists_right_after_new_mailbox(api: Api, db: Database) -> None:
    for params in ({"Name": "User1"}, {"Name": "Shared1", "Shared": True}, {"Name": "Room1", "Room": True}):
        box = api.ok("New-Mailbox", **params)[0]
        cas = api.ok("Get-CASMailbox", Identity=box["Guid"])
        assert len(cas) == 1
        assert cas[0]["Name"] == params["Name"]
        assert cas[0]["OWAEnabled"] is True
        assert cas[0]["ActiveSyncEnabled"] is True
        assert cas[0]["SmtpClientAuthenticationDisabled"] is None
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CasMailbox)).scalar_one() == 3
    contact = api.ok("New-MailContact", Name="Carl", ExternalEmailAddress="carl@fabrikam.com")[0]
    api.error("Get-CASMailbox", 404, Identity=contact["Guid"])


def test_identity_resolution(api: Api) -> None:
    domain = api.tenant.domain
    box = api.ok("New-Mailbox", Name="Ada Lovelace", Alias="ada")[0]
    api.ok("New-Mailbox", Name="Bob", Alias="bob")
    api.ok("Set-Mailbox", Identity="ada", EmailAddresses={"Add": [f"countess@{domain}"]})
    ways = [
        "Ada Lovelace",
        "ada lovelace",
        "ada",
        "ADA",
        f"ada@{domain}",
        f"ADA@{domain.upper()}",
        f"countess@{domain}",
        f"smtp:countess@{domain}",
        box["Guid"],
        box["Guid"].upper(),
        box["ExchangeGuid"],
        box["ExternalDirectoryObjectId"],
    ]
    for ident in ways:
        for cmdlet in ("Get-Mailbox", "Get-Recipient", "Get-User", "Get-CASMailbox"):
            found = api.ok(cmdlet, Identity=ident)
            assert [o["Name"] for o in found] == ["Ada Lovelace"], (cmdlet, ident)
    # Writes resolve the same way.
    api.ok("Set-Mailbox", Identity=f"countess@{domain}", CustomAttribute1="by secondary")
    api.ok("Set-Mailbox", Identity=box["ExchangeGuid"], CustomAttribute2="by exchange guid")
    got = api.ok("Get-Mailbox", Identity="ada")[0]
    assert (got["CustomAttribute1"], got["CustomAttribute2"]) == ("by secondary", "by exchange guid")


def test_ambiguous_identity_lists_the_matches(api: Api, db: Database) -> None:
    api.ok("New-Mailbox", Name="Samuel", Alias="sam")
    api.ok("New-MailContact", Name="Samantha", Alias="sam", ExternalEmailAddress="samantha@fabrikam.com")
    before = table_snapshot(db)
    err = api.error("Get-Recipient", 400, Identity="sam")
    assert err["code"] == "ManagementObjectAmbiguousException"
    assert "Samuel" in err["message"]
    assert "Samantha" in err["message"]
    assert sorted(d["message"].split(" (")[0] for d in err["details"]) == ["Samantha", "Samuel"]
    err = api.error("Set-MailContact", 404, Identity="Samuel", DisplayName="x")  # type-scoped: not a contact
    assert err["code"] == "ManagementObjectNotFoundException"
    # A third recipient whose *name* is the two aliases: three entries match "sam".
    api.ok("New-Mailbox", Name="sam", Alias="sammy")
    err = api.error("Set-User", 400, Identity="sam", Department="x")
    assert err["code"] == "ManagementObjectAmbiguousException"
    assert table_snapshot(db)["recipients"][:2] == before["recipients"]


def test_removing_a_recipient_removes_its_permissions_and_memberships(api: Api, db: Database) -> None:
    for name, alias in (("Ada", "ada"), ("Bob", "bob"), ("Cy", "cy")):
        api.ok("New-Mailbox", Name=name, Alias=alias)
    api.ok("New-DistributionGroup", Name="Team", Members=["ada", "bob"])
    api.ok("New-DistributionGroup", Name="Outer", Members=["Team", "bob"])
    api.ok("Add-MailboxPermission", Identity="ada", User="bob", AccessRights=["FullAccess"])  # bob as trustee
    api.ok("Add-MailboxPermission", Identity="bob", User="cy", AccessRights=["FullAccess"])  # bob as target
    api.ok("Add-MailboxPermission", Identity="cy", User="ada", AccessRights=["ReadPermission"])  # unrelated
    api.ok("Add-RecipientPermission", Identity="ada", Trustee="bob", AccessRights=["SendAs"])
    api.ok("Add-RecipientPermission", Identity="bob", Trustee="ada", AccessRights=["SendAs"])
    api.ok("Add-RecipientPermission", Identity="cy", Trustee="ada", AccessRights=["SendAs"])
    bob = api.ok("Get-Mailbox", Identity="bob")[0]

    api.ok("Remove-Mailbox", Identity="bob")

    api.error("Get-Recipient", 404, Identity=bob["Guid"])
    assert [p["User"] for p in api.ok("Get-MailboxPermission", Identity="ada")] == ["NT AUTHORITY\\SELF"]
    cy_perms = api.ok("Get-MailboxPermission", Identity="cy")
    assert [p["User"] for p in cy_perms] == ["NT AUTHORITY\\SELF", f"ada@{api.tenant.domain}"]
    sendas = api.ok("Get-RecipientPermission")
    assert [(p["Identity"], p["Trustee"]) for p in sendas] == [("Cy", f"ada@{api.tenant.domain}")]
    assert [m["Name"] for m in api.ok("Get-DistributionGroupMember", Identity="Team")] == ["Ada"]
    assert [m["Name"] for m in api.ok("Get-DistributionGroupMember", Identity="Outer")] == ["Team"]
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(MailboxPermission)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(RecipientPermission)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(GroupMember)).scalar_one() == 2
        assert conn.execute(select(func.count()).select_from(CasMailbox)).scalar_one() == 2
    # The freed address and name can be used again.
    assert api.ok("New-Mailbox", Name="Bob", Alias="bob")[0]["Guid"] != bob["Guid"]


def test_email_addresses_add_remove(api: Api, db: Database) -> None:
    d = api.tenant.domain
    api.ok("New-Mailbox", Name="Ada", Alias="ada")
    api.ok(
        "Set-Mailbox", Identity="ada", EmailAddresses={"Add": [f"a1@{d}", f"a2@{d}", "X500:/o=Org/cn=ada"]}
    )
    got = api.ok("Get-Mailbox", Identity="ada")[0]
    assert got["EmailAddresses"] == [f"SMTP:ada@{d}", f"smtp:a1@{d}", f"smtp:a2@{d}", "X500:/o=Org/cn=ada"]
    api.ok("Set-Mailbox", Identity="ada", EmailAddresses={"Remove": [f"A1@{d}"], "Add": [f"a3@{d}"]})
    got = api.ok("Get-Mailbox", Identity="ada")[0]
    assert got["EmailAddresses"] == [f"SMTP:ada@{d}", f"smtp:a2@{d}", "X500:/o=Org/cn=ada", f"smtp:a3@{d}"]
    assert got["PrimarySmtpAddress"] == f"ada@{d}"
    before = table_snapshot(db)
    err = api.error("Set-Mailbox", 400, Identity="ada", EmailAddresses={"Remove": [f"ada@{d}"]})
    assert err["code"] == "ArgumentException"
    assert "primary" in err["message"].lower()
    err = api.error("Set-Mailbox", 400, Identity="ada", EmailAddresses={"Remove": [f"smtp:ada@{d}"]})
    assert table_snapshot(db) == before
    # Promoting another address keeps the old primary as a secondary.
    api.ok("Set-Mailbox", Identity="ada", PrimarySmtpAddress=f"a2@{d}")
    got = api.ok("Get-Mailbox", Identity="ada")[0]
    assert got["PrimarySmtpAddress"] == f"a2@{d}"
    assert got["EmailAddresses"][0] == f"SMTP:a2@{d}"
    assert f"smtp:ada@{d}" in got["EmailAddresses"]
    api.ok("Set-Mailbox", Identity="ada", EmailAddresses={"Remove": [f"ada@{d}"]})
    assert f"smtp:ada@{d}" not in api.ok("Get-Mailbox", Identity="ada")[0]["EmailAddresses"]
    # The removed address is free again.
    api.ok("New-MailContact", Name="Ext", ExternalEmailAddress=f"ada@{d}")


def test_result_size(api: Api, db: Database, clock: FakeClock) -> None:
    with db.unit_of_work() as uow:
        bulk_mailboxes(uow.session, api.tenant.id, 1005, now=utcnow(clock))
    response = api.call("Get-Mailbox")
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["value"]) == 1000
    assert "@odata.nextLink" not in body
    assert any("ResultSize" in w and "1000" in w for w in body["@adminapi.warnings"])
    assert len({o["Guid"] for o in body["value"]}) == 1000

    everything = api.all("Get-Mailbox", page_size=400, ResultSize="Unlimited")
    assert len(everything) == 1005
    assert len({o["Guid"] for o in everything}) == 1005
    first = api.call("Get-Mailbox", page_size=400, ResultSize="Unlimited").json()
    assert len(first["value"]) == 400
    assert "@odata.nextLink" in first
    assert "@adminapi.warnings" not in first

    five = api.call("Get-Mailbox", ResultSize=5).json()
    assert [o["Guid"] for o in five["value"]] == [o["Guid"] for o in body["value"][:5]]
    assert "@odata.nextLink" not in five
    assert any("ResultSize" in w for w in five["@adminapi.warnings"])


# --- RBAC: privileged access and role entries (Exchange semantics the generic tests don't reach) ---------


def test_pam_request_rules(api: Api, db: Database, clock: FakeClock) -> None:
    api.ok(
        "New-ElevatedAccessApprovalPolicy",
        Task="Set-TransportConfig",
        ApprovalType="Manual",
        ApproverGroup="Organization Management",
    )
    ask = {"Task": "Exchange\\Set-TransportConfig", "Reason": "maintenance", "DurationHours": 2}
    first = api.ok("New-ElevatedAccessRequest", **ask)[0]
    assert first["RequestStatus"] == "Pending"
    # A second request for the same task while the first is pending: 409, nothing written.
    before = table_snapshot(db)
    err = api.error("New-ElevatedAccessRequest", 409, **ask)
    assert err["code"] == "ADObjectAlreadyExistsException"
    assert first["RequestId"] in err["message"]
    assert {k: v for k, v in table_snapshot(db).items() if not k.startswith("audit")} == {
        k: v for k, v in before.items() if not k.startswith("audit")
    }
    # The requester can't answer their own request.
    err = api.error("Approve-ElevatedAccessRequest", 403, RequestId=first["RequestId"])
    assert "own" in err["message"]
    err = api.error("Deny-ElevatedAccessRequest", 403, RequestId=first["RequestId"])
    assert "own" in err["message"]
    assert api.ok("Get-ElevatedAccessRequest", Identity=first["RequestId"])[0]["RequestStatus"] == "Pending"
    # Unanswered for 24 hours, it expires: then a new request is welcome. (The request is backdated rather
    # than the clock advanced: the admin's access token would expire too.)
    from sqlalchemy import update

    from mailwarden.store._rbac_models import RbacElevationRequest

    with db.unit_of_work() as uow:
        uow.session.execute(
            update(RbacElevationRequest)
            .where(RbacElevationRequest.guid == first["RequestId"])
            .values(created_at=utcnow(clock) - timedelta(hours=24, minutes=1))
        )
    assert api.ok("Get-ElevatedAccessRequest", Identity=first["RequestId"])[0]["RequestStatus"] == "Expired"
    second = api.ok("New-ElevatedAccessRequest", **ask)[0]
    assert second["RequestStatus"] == "Pending"
    # Someone else's request can be answered once; answering it again is an invalid operation (400).
    other = "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    from cmdlet_scenarios import pam_request

    pam_request(other, "Task", "Set-OrganizationConfig")(db, api.tenant.id, clock)
    api.ok("Approve-ElevatedAccessRequest", RequestId=other, Comment="go")
    got = api.ok("Get-ElevatedAccessRequest", Identity=other)[0]
    assert (got["RequestStatus"], got["Comment"]) == ("Approved", "go")
    for again in ("Approve-ElevatedAccessRequest", "Deny-ElevatedAccessRequest"):
        err = api.error(again, 400, RequestId=other)
        assert err["code"] == "InvalidOperationException"
        assert "Approved" in err["message"]
    # Nor can a request that expired unanswered.
    stale = "7b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"
    pam_request(stale, "Task", "Set-SharingPolicy")(db, api.tenant.id, clock)
    with db.unit_of_work() as uow:
        uow.session.execute(
            update(RbacElevationRequest)
            .where(RbacElevationRequest.guid == stale)
            .values(created_at=utcnow(clock) - timedelta(hours=25))
        )
    err = api.error("Approve-ElevatedAccessRequest", 400, RequestId=stale)
    assert err["code"] == "InvalidOperationException"
    assert "Expired" in err["message"]


def test_role_entry_identities_and_wildcards(api: Api) -> None:
    def names(identity: str, **params: Any) -> list[str]:
        return [e["Identity"] for e in api.ok("Get-ManagementRoleEntry", Identity=identity, **params)]

    assert "Mail Recipients\\Set-Mailbox" in names("Mail Recipients\\*")
    assert "Mail Recipients\\Set-Mailbox" in names("*\\Set-Mailbox")
    assert all(n.startswith("Mail Recipients\\Set-") for n in names("Mail Recipients\\Set-*"))
    assert names("Mail Recipients\\Set-Mailbox") == ["Mail Recipients\\Set-Mailbox"]
    assert names("Mail Recipients\\No-Such*") == []
    role = api.ok("Get-ManagementRole", Identity="Mail Recipients")[0]
    assert names(f"{role['Guid']}\\Set-Mailbox") == ["Mail Recipients\\Set-Mailbox"]
    # One named entry that doesn't exist is a 404, like any identity; a -Parameters filter that excludes an
    # existing entry is just an empty result.
    err = api.error("Get-ManagementRoleEntry", 404, Identity="Mail Recipients\\No-Such")
    assert err["code"] == "ManagementObjectNotFoundException"
    assert names("Mail Recipients\\Set-Mailbox", Parameters=["NoSuchParameter"]) == []
    # Without the backslash: an unknown role is not found; a known role lacks the cmdlet part.
    api.error("Get-ManagementRoleEntry", 404, Identity="No Such Role")
    err = api.error("Get-ManagementRoleEntry", 400, Identity="Mail Recipients")
    assert "<Role>\\<Cmdlet>" in err["message"]
