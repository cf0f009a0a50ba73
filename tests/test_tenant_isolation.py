"""Tenant isolation over HTTP: two tenants with objects of every kind; no Get-* of tenant B shows anything of
tenant A, no cmdlet of B can name A's objects (by name, SMTP address or GUID), and B's key opens nothing of A."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from mailwarden.clock import FakeClock
from mailwarden.cmdlets import ParamType, default_registry
from mailwarden.store import Database

from cmdlet_scenarios import (
    IDENTITY_PARAMS,
    PAM_REQUEST,
    SCENARIOS,
    pam_request,
    partial_match,
    render,
    table_snapshot,
)
from conftest import Api, TenantHandle, make_tenant

REGISTRY = default_registry()
# Audit-log reads are scoped by each tenant's own log; test_audit_reads_are_isolated covers them.
AUDIT_READS = [
    "Get-AuditLogConsistencyProof",
    "Get-AuditLogInclusionProof",
    "Get-AuditLogRetention",
    "Get-AuditLogTreeHead",
    "Search-MailboxAuditLog",
    "Search-UnifiedAuditLog",
]
READS = [s.name for s in REGISTRY if not s.writes and s.name not in AUDIT_READS]


def _world(n: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """Objects of every kind; ``n`` gives the names so the two tenants differ."""
    return [
        ("New-Mailbox", {"Name": n["ada_name"], "Alias": n["ada"]}),
        ("New-Mailbox", {"Name": n["bob_name"], "Alias": n["bob"]}),
        ("New-DistributionGroup", {"Name": n["team"], "Alias": n["team"], "Members": [n["ada"]]}),
        ("New-MailContact", {"Name": n["carl"], "Alias": n["carl"], "ExternalEmailAddress": n["carl_ext"]}),
        ("New-MailUser", {"Name": n["dora"], "Alias": n["dora"], "ExternalEmailAddress": n["dora_ext"]}),
        ("New-InboxRule", {"Name": n["rule"], "Mailbox": n["ada"], "ForwardTo": ["boss@fabrikam.com"]}),
        ("New-TransportRule", {"Name": n["trule"], "SubjectContainsWords": ["spam"]}),
        ("New-RemoteDomain", {"Name": n["remote"], "DomainName": n["remote_domain"]}),
        ("Add-MailboxPermission", {"Identity": n["ada"], "User": n["bob"], "AccessRights": ["FullAccess"]}),
        ("Add-RecipientPermission", {"Identity": n["ada"], "Trustee": n["bob"], "AccessRights": ["SendAs"]}),
        ("Set-MailboxAuditBypassAssociation", {"Identity": n["ada"], "AuditBypassEnabled": True}),
        ("Set-User", {"Identity": n["ada"], "Manager": n["bob"]}),
        # RBAC objects (the PAM request is made by another principal: see ``two``).
        ("New-ManagementRole", {"Name": n["role"], "Parent": "Mail Recipients"}),
        ("New-ManagementScope", {"Name": n["scope"], "RecipientRestrictionFilter": "Department -eq 'Sales'"}),
        ("New-RoleGroup", {"Name": n["rolegroup"], "Roles": ["Mail Recipients"], "Members": ["Help Desk"]}),
        (
            "New-ManagementRoleAssignment",
            {
                "Name": n["assignment"],
                "Role": "Mail Recipients",
                "SecurityGroup": n["rolegroup"],
                "CustomRecipientWriteScope": n["scope"],
            },
        ),
    ]


# Tenant A uses the names of the scenario table; tenant B has its own equivalent of each.
A_NAMES = {
    "ada": "ada",
    "ada_name": "Ada Lovelace",
    "bob": "bob",
    "bob_name": "Bob Builder",
    "team": "team",
    "carl": "carl",
    "carl_ext": "carl@fabrikam.com",
    "dora": "dora",
    "dora_ext": "dora@fabrikam.com",
    "rule": "Archive",
    "trule": "Block spam",
    "remote": "Fabrikam",
    "remote_domain": "fabrikam.com",
    "role": "Sales Recipients",
    "scope": "Sales",
    "rolegroup": "Helpers",
    "assignment": "MR Helpers",
    "request": PAM_REQUEST,
}
B_REQUEST = "0b7e6f1a-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
B_NAMES = {
    "ada": "bea",
    "ada_name": "Bea Arthur",
    "bob": "ben",
    "bob_name": "Ben Hur",
    "team": "crew",
    "carl": "cleo",
    "carl_ext": "cleo@northwind.com",
    "dora": "dan",
    "dora_ext": "dan@northwind.com",
    "rule": "Junk",
    "trule": "Disclaimer",
    "remote": "Northwind",
    "remote_domain": "northwind.com",
    "role": "Crew Recipients",
    "scope": "Crew",
    "rolegroup": "Crew Helpers",
    "assignment": "MR Crew",
    "request": B_REQUEST,
}
# Scenario-table values (tenant A's objects) → tenant B's equivalents.
A_TO_B = {
    "ada": "bea",
    "bob": "ben",
    "team": "crew",
    "Team": "crew",
    "carl": "cleo",
    "dora": "dan",
    "Block spam": "Disclaimer",
    "Fabrikam": "Northwind",
    "ada\\Archive": "bea\\Junk",
    "Sales Recipients": "Crew Recipients",
    "Sales Recipients\\Get-Mailbox": "Crew Recipients\\Get-Mailbox",
    "Sales Recipients\\Set-Mailbox": "Crew Recipients\\Set-Mailbox",
    "Sales": "Crew",
    "Helpers": "Crew Helpers",
    "MR Helpers": "MR Crew",
    PAM_REQUEST: B_REQUEST,
}
RECIPIENT_REFS = {"ada", "bob", "team", "Team", "carl", "dora"}

# What B's listings must show (by the key property), and nothing else.
B_LISTINGS: dict[str, tuple[dict[str, Any], str, set[str]]] = {
    "Get-AcceptedDomain": ({}, "Name", {"{domain}"}),
    "Get-AdminAuditLogConfig": ({}, "Name", {"Admin Audit Log Settings"}),
    "Get-CASMailbox": ({}, "Name", {"Bea Arthur", "Ben Hur"}),
    "Get-DistributionGroup": ({}, "Name", {"crew"}),
    "Get-DistributionGroupMember": ({"Identity": "crew"}, "Name", {"Bea Arthur"}),
    "Get-DkimSigningConfig": ({}, "Name", {"{domain}"}),
    "Get-InboxRule": ({}, "Name", {"Junk"}),
    "Get-MailContact": ({}, "Name", {"cleo"}),
    "Get-MailUser": ({}, "Name", {"dan"}),
    "Get-Mailbox": ({}, "Name", {"Bea Arthur", "Ben Hur"}),
    "Get-MailboxAuditBypassAssociation": ({}, "Name", {"Bea Arthur"}),
    "Get-MailboxPermission": ({"Identity": "bea"}, "User", {"NT AUTHORITY\\SELF", "ben@{domain}"}),
    "Get-MailboxStatistics": ({"Identity": "bea"}, "DisplayName", {"Bea Arthur"}),
    "Get-OrganizationConfig": ({}, "Name", {"{name}"}),
    "Get-Recipient": ({}, "Name", {"Bea Arthur", "Ben Hur", "crew", "cleo", "dan"}),
    "Get-RecipientPermission": ({}, "Trustee", {"ben@{domain}"}),
    "Get-RemoteDomain": ({}, "Name", {"Default", "Northwind"}),
    "Get-SharingPolicy": ({}, "Name", {"Default Sharing Policy"}),
    "Get-TransportConfig": ({}, "Name", {"Transport Settings"}),
    "Get-TransportRule": ({}, "Name", {"Disclaimer"}),
    "Get-User": ({}, "Name", {"Bea Arthur", "Ben Hur", "dan"}),
    # RBAC: the parameters narrow built-in objects away but would still match tenant A's custom ones.
    "Get-ManagementRole": ({"RoleType": "MailRecipients"}, "Name", {"Mail Recipients", "Crew Recipients"}),
    "Get-ManagementRoleEntry": (
        {"Identity": "*Recipients\\Set-Mailbox"},
        "Identity",
        {"Mail Recipients\\Set-Mailbox", "Crew Recipients\\Set-Mailbox"},
    ),
    "Get-RoleGroup": ({"Identity": "*Helpers"}, "Name", {"Crew Helpers"}),
    "Get-RoleGroupMember": ({"Identity": "Crew Helpers"}, "Name", {"Help Desk"}),
    "Get-ManagementRoleAssignment": (
        {"RoleAssignee": "Crew Helpers"},
        "Name",
        {"Mail Recipients_Crew Helpers", "MR Crew"},
    ),
    "Get-ManagementScope": ({}, "Name", {"Crew"}),
    "Get-RoleAssignmentPolicy": ({}, "Name", {"Default Role Assignment Policy"}),
    "Get-ElevatedAccessApprovalPolicy": ({}, "RoleGroup", {"Crew Helpers"}),
    "Get-ElevatedAccessRequest": ({}, "RequestId", {B_REQUEST}),
    "Test-CmdletPermission": ({"Cmdlet": "Set-Mailbox"}, "Cmdlet", {"Set-Mailbox"}),
}
# Built-in RBAC objects listed above: the same names in every tenant (their GUIDs differ and are checked).
RBAC_BUILTIN_NAMES = {
    "Mail Recipients",
    "Mail Recipients\\Set-Mailbox",
    "Help Desk",
    "Default Role Assignment Policy",
}

_GUID_KEYS = (
    "Guid",
    "ExchangeGuid",
    "ExternalDirectoryObjectId",
    "MailboxGuid",
    "OwnerADGuid",
    "RuleIdentity",
    "RequestId",
)


def _populate(api: Api, names: dict[str, str]) -> None:
    for cmdlet, params in _world(names):
        api.ok(cmdlet, **params)


def _fill(value: str, tenant: TenantHandle) -> str:
    return value.replace("{domain}", tenant.domain).replace("{name}", tenant.domain.split(".")[0])


def _listing(api: Api, cmdlet: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    spec = REGISTRY.get(cmdlet)
    assert spec is not None
    extra = {"ResultSize": "Unlimited"} if spec.pageable else {}
    return api.all(cmdlet, **params, **extra)


def _a_params(cmdlet: str) -> dict[str, Any]:
    """Parameters under which tenant A's listing shows A's counterpart of B_LISTINGS[cmdlet]."""
    params = B_LISTINGS[cmdlet][0]
    reverse = {v: k for k, v in A_TO_B.items() if k not in ("Team",)}
    return {k: reverse.get(v, v) for k, v in params.items()}


@pytest.fixture
def two(app_client: TestClient, api: Api, db: Database, clock: FakeClock) -> tuple[Api, Api]:
    other = Api(app_client, make_tenant(db, clock))
    _populate(api, A_NAMES)
    _populate(other, B_NAMES)
    # A pending PAM request in each tenant, by someone else, for the tenant's custom role group (a RoleGroup
    # policy gates only that group's members, so the admin's own calls stay unaffected).
    for handle, names in ((api.tenant, A_NAMES), (other.tenant, B_NAMES)):
        pam_request(names["request"], "RoleGroup", names["rolegroup"])(db, handle.id, clock)
    return api, other


def test_listings_cover_every_read_cmdlet() -> None:
    assert sorted(B_LISTINGS) == READS
    assert {s.name for s in REGISTRY if not s.writes} == set(READS) | set(AUDIT_READS)


def test_audit_reads_are_isolated(two: tuple[Api, Api]) -> None:
    a, b = two
    window = {"StartDate": "2000-01-01T00:00:00Z", "EndDate": "2100-01-01T00:00:00Z"}
    a_records = a.all("Search-UnifiedAuditLog", ResultSize="Unlimited", **window)
    b_records = b.all("Search-UnifiedAuditLog", ResultSize="Unlimited", **window)
    assert a_records
    assert b_records
    assert {json.loads(r["AuditData"])["OrganizationId"] for r in b_records} == {b.tenant.id}
    a_ids = {r["Identity"] for r in a_records}
    assert a_ids.isdisjoint({r["Identity"] for r in b_records})
    for cmdlet, params in (
        ("Search-MailboxAuditLog", {**window, "ResultSize": "Unlimited"}),
        ("Get-AuditLogTreeHead", {}),
        ("Get-AuditLogRetention", {}),
    ):
        response = b.call(cmdlet, **params)
        assert response.status_code == 200, response.text
        assert a.tenant.id not in response.text
        assert a.tenant.domain not in response.text
    # Naming tenant A where these cmdlets take the organization is not found, as for any object.
    assert b.call("Get-AuditLogTreeHead", Identity=a.tenant.domain).status_code == 404
    assert b.call("Get-AuditLogRetention", Identity=a.tenant.id).status_code == 404
    # B cannot obtain a proof for one of A's records.
    assert b.call("Get-AuditLogInclusionProof", RecordId=next(iter(a_ids))).status_code == 404


def test_listings_show_only_own_objects(two: tuple[Api, Api]) -> None:
    a, b = two
    a_guids: set[str] = set()
    a_identities: set[str] = set()
    for cmdlet in READS:
        for obj in _listing(a, cmdlet, _a_params(cmdlet)):
            a_guids |= {str(obj[k]) for k in _GUID_KEYS if obj.get(k)}
            if obj.get("Identity") is not None:  # a permission check's result names no object
                a_identities.add(str(obj["Identity"]))
    assert len(a_guids) >= 20  # A's objects really were listed

    failures = []
    for cmdlet in READS:
        params, key, expected = B_LISTINGS[cmdlet]
        got = _listing(b, cmdlet, params)
        shown = {str(o.get(key)) for o in got}
        if shown != {_fill(e, b.tenant) for e in expected}:
            failures.append((cmdlet, "shows", sorted(shown)))
        guids = {str(o[k]) for o in got for k in _GUID_KEYS if o.get(k)}
        if guids & a_guids:
            failures.append((cmdlet, "A's GUIDs", sorted(guids & a_guids)))
        text = json.dumps(got)
        if a.tenant.domain in text or a.tenant.id in text:
            failures.append((cmdlet, "A's domain", text[:200]))
        leaked = {str(o["Identity"]) for o in got if o.get("Identity") is not None} & a_identities
        # Built-in objects carry the same name in every tenant; anything else must be B's own.
        leaked -= {"Default", "Default Sharing Policy", "Admin Audit Log Settings", "Transport Settings"}
        leaked -= {"NT AUTHORITY\\SELF"} | RBAC_BUILTIN_NAMES
        if leaked:
            failures.append((cmdlet, "A's identities", sorted(leaked)))
    assert failures == []


def _a_reference(a: Api, noun: str, value: str | None, form: str) -> str | None:
    """How tenant B would name tenant A's object ``value`` (a scenario-table value) in ``form``."""
    domain = a.tenant.domain
    if value in RECIPIENT_REFS:
        obj = a.ok("Get-Recipient", Identity=value)[0]
        return {"name": obj["Name"], "smtp": obj["PrimarySmtpAddress"], "guid": obj["Guid"]}[form]
    if value == "ada\\Archive" or (noun == "InboxRule" and value is None):
        rule = a.ok("Get-InboxRule", Identity="ada\\Archive")[0]
        return {"name": rule["Identity"], "smtp": f"ada@{domain}\\Archive", "guid": rule["RuleIdentity"]}[
            form
        ]
    if form == "smtp":
        return None  # configuration and RBAC objects have no address
    if noun == "ManagementRoleEntry" and value is not None:
        # ``<Role>\\<Cmdlet>``: the role part names the object, by name or by GUID.
        role_name, cmdlet = value.split("\\", 1)
        role = a.ok("Get-ManagementRole", Identity=role_name)[0]
        return f"{role['Name'] if form == 'name' else role['Guid']}\\{cmdlet}"
    if noun == "ElevatedAccessRequest":
        # A request is named by its id only (PAMCFG); the tenant's own request whatever the scenario says.
        return None if form == "name" else str(a.ok("Get-ElevatedAccessRequest")[0]["RequestId"])
    if noun == "ElevatedAccessApprovalPolicy":
        # Named by GUID or by its target; each tenant has one policy (for its custom role group).
        policy = a.ok("Get-ElevatedAccessApprovalPolicy")[0]
        return str(policy["RoleGroup"] if form == "name" else policy["Guid"])
    params = {} if value is None else {"Identity": render(value, domain)}
    obj = a.ok(f"Get-{noun}", **params)[0]
    return str(obj["Name"] if form == "name" else obj["Guid"])


def _object_noun(noun: str, param: str) -> str:
    """The kind of object ``param`` of a ``*-<noun>`` cmdlet names, where that isn't ``noun`` itself: role
    group members and assignments name role groups (members here are built-in role groups); an
    authorization is revoked by naming its request."""
    if noun == "RoleGroupMember" or param == "SecurityGroup":
        return "RoleGroup"
    if noun == "ElevatedAccessAuthorization":
        return "ElevatedAccessRequest"
    return noun


def _cases() -> list[tuple[str, str]]:
    out = []
    for spec in REGISTRY:
        if spec.noun.startswith("AuditLog"):
            continue  # their Identity is the tenant itself: test_audit_reads_are_isolated
        declared = {p.name for p in spec.params if p.type is ParamType.IDENTITY}
        passed = set(SCENARIOS[spec.name].params)
        for param in IDENTITY_PARAMS:
            if param in declared and (param in passed or param == "Identity"):
                out.append((spec.name, param))
    return out


CASES = _cases()


@pytest.mark.parametrize("form", ["name", "smtp", "guid"])
def test_other_tenants_objects_cannot_be_named(
    form: str, two: tuple[Api, Api], db: Database, app_client: TestClient
) -> None:
    a, b = two
    a_rows = table_snapshot(db, a.tenant.id)
    tried = 0
    failures = []
    for cmdlet, param in CASES:
        spec = REGISTRY.get(cmdlet)
        assert spec is not None
        scenario_params = SCENARIOS[cmdlet].params
        value = scenario_params.get(param)
        noun = _object_noun(spec.noun, param)
        ref = _a_reference(a, noun, value, form)
        if ref is None:
            continue
        b_params = {k: A_TO_B.get(v, v) if isinstance(v, str) else v for k, v in scenario_params.items()}
        b_params = render(b_params, b.tenant.domain)
        # A built-in object of the same name exists in B too: naming it by name reaches B's own, rightly.
        builtin = value not in RECIPIENT_REFS and noun != "InboxRule"
        own = _a_reference(b, noun, b_params.get(param), form) if builtin else None
        if own is not None and own == ref:
            continue
        tried += 1
        response = b.call(cmdlet, **{**b_params, param: ref})
        body = response.json()
        if response.status_code != 404 or body["error"]["code"] != "ManagementObjectNotFoundException":
            failures.append((cmdlet, param, ref, response.status_code, response.text[:200]))
        elif a.tenant.domain in body["error"]["message"].replace(ref, "").replace(ref.split("\\")[0], ""):
            failures.append((cmdlet, param, "error names tenant A", body["error"]["message"]))
    assert failures == []
    assert tried >= {"name": 45, "smtp": 30, "guid": 50}[form]
    assert table_snapshot(db, a.tenant.id) == a_rows


def test_new_objects_cannot_reference_other_tenants_recipients(two: tuple[Api, Api], db: Database) -> None:
    a, b = two
    ada = a.ok("Get-Mailbox", Identity="ada")[0]
    before = table_snapshot(db)
    for ref in (ada["Guid"], ada["PrimarySmtpAddress"], ada["Name"]):
        assert b.error("New-DistributionGroup", 404, Name="Mixed", Members=["bea", ref])["code"] == (
            "ManagementObjectNotFoundException"
        )
        b.error("Set-Mailbox", 404, Identity="bea", ForwardingAddress=ref)
        b.error("Set-Mailbox", 404, Identity="bea", GrantSendOnBehalfTo=[ref])
        b.error("Set-DistributionGroup", 404, Identity="crew", ManagedBy=[ref])
    assert table_snapshot(db) == before


def test_names_and_addresses_are_unique_per_tenant_only(two: tuple[Api, Api]) -> None:
    a, b = two
    box = b.ok("New-Mailbox", Name="Ada Lovelace", Alias="ada")[0]
    assert box["PrimarySmtpAddress"] == f"ada@{b.tenant.domain}"
    b.ok("New-MailContact", Name="carl", ExternalEmailAddress="carl@fabrikam.com")
    b.ok("New-RemoteDomain", Name="Fabrikam", DomainName="fabrikam.com")
    b.ok("New-TransportRule", Name="Block spam")
    # Each tenant resolves the name to its own object.
    assert a.ok("Get-Mailbox", Identity="Ada Lovelace")[0]["Guid"] != box["Guid"]
    partial_match(b.ok("Get-Recipient", Identity="carl@fabrikam.com"), [{"Name": "carl"}])
    partial_match(a.ok("Get-Recipient", Identity="carl@fabrikam.com"), [{"Name": "carl", "Alias": "carl"}])


def test_bearer_keys_and_tenants(two: tuple[Api, Api], app_client: TestClient) -> None:
    a, b = two
    body = {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {}}}

    def post(url_tenant: str, key: str | None) -> Any:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        return app_client.post(f"/adminapi/beta/{url_tenant}/InvokeCommand", json=body, headers=headers)

    wrong = post(a.tenant.domain, b.tenant.key)
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert "Ada" not in wrong.text
    assert post(a.tenant.id, b.tenant.key).status_code == 401

    none = post(a.tenant.domain, None)
    assert none.status_code == 401
    assert none.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert none.json()["error"]["code"] == "Unauthorized"

    unknown = post("nosuchtenant.onmicrosoft.com", b.tenant.key)
    assert unknown.status_code == 401
    assert unknown.json() == wrong.json()
    assert unknown.headers["WWW-Authenticate"] == wrong.headers["WWW-Authenticate"]
    garbage_known = post(a.tenant.domain, "mwk_not-a-real-key")
    garbage_unknown = post("nosuchtenant.onmicrosoft.com", "mwk_not-a-real-key")
    assert garbage_known.status_code == garbage_unknown.status_code == 401
    assert garbage_known.json() == garbage_unknown.json()

    # The other tenant's cursor is refused too.
    first = a.call("Get-Mailbox", page_size=1)
    link = first.json()["@odata.nextLink"]
    stolen = app_client.post(
        link.replace(a.tenant.domain, b.tenant.domain),
        json=body,
        headers={"Authorization": f"Bearer {b.tenant.key}"},
    )
    assert stolen.status_code == 400
    assert stolen.json()["error"]["code"] == "InvalidCursorException"
    assert post(a.tenant.domain, a.tenant.key).status_code == 200
