"""Organization configuration and mail-flow cmdlets, through the executor, on a migrated SQLite database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mailwarden.clock import FakeClock
from mailwarden.cmdlets._cursor import CursorSigner
from mailwarden.cmdlets._executor import CallResult, Executor
from mailwarden.cmdlets._invocation import TenantInfo
from mailwarden.cmdlets._org_cmdlets import ORG_CMDLETS
from mailwarden.cmdlets._registry import Registry
from mailwarden.directory._config_seed import seed_org_config
from mailwarden.errors import (
    AmbiguousIdentityError,
    ArgumentError,
    DuplicateObjectError,
    NotFoundError,
    ParameterBindingError,
)
from mailwarden.principal import Principal
from mailwarden.store import Database, Recipient, Tenant, upgrade

DOMAIN = "contoso.onmicrosoft.com"


@dataclass
class Org:
    db: Database
    executor: Executor
    registry: Registry
    tenant: TenantInfo
    clock: FakeClock

    def call(self, cmdlet: str, **params: Any) -> CallResult:
        spec = self.registry.get(cmdlet)
        assert spec is not None, cmdlet
        return self.executor.invoke(
            spec,
            self.executor.bind(spec, params),
            tenant=self.tenant,
            principal=Principal(self.tenant.id, "test", "Test", "apikey"),
            page_size=1000,
        )

    def one(self, cmdlet: str, **params: Any) -> dict[str, Any]:
        value = self.call(cmdlet, **params).value
        assert len(value) == 1, value
        return value[0]

    def add_mailbox(self, name: str, alias: str) -> str:
        guid = str(uuid.uuid4())
        now = datetime(2026, 1, 1)
        with self.db.unit_of_work() as uow:
            uow.session.add(
                Recipient(
                    tenant_id=self.tenant.id,
                    guid=guid,
                    recipient_type="UserMailbox",
                    recipient_type_details="UserMailbox",
                    name=name,
                    alias=alias,
                    display_name=name,
                    primary_smtp_address=f"{alias}@{DOMAIN}",
                    when_created=now,
                    when_changed=now,
                )
            )
        return guid


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Org]:
    db = Database("sqlite:///" + str(tmp_path / "db.sqlite"))
    upgrade(db)
    tenant = TenantInfo(str(uuid.uuid4()), "Contoso", DOMAIN)
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    with db.unit_of_work() as uow:
        uow.session.add(
            Tenant(id=tenant.id, name=tenant.name, initial_domain=DOMAIN, created_at=datetime(2026, 1, 1))
        )
        uow.session.flush()
        seed_org_config(uow.session, tenant.id, DOMAIN, datetime(2026, 1, 1))
    registry = Registry(ORG_CMDLETS)
    signer = CursorSigner(lambda: ("k1", b"x" * 32), lambda kid: b"x" * 32 if kid == "k1" else None)
    yield Org(db, Executor(db, registry, signer, clock), registry, tenant, clock)
    db.engine.dispose()


def _bad(org: Org, param: str, cmdlet: str, **params: Any) -> None:
    with pytest.raises(ParameterBindingError) as info:
        org.call(cmdlet, **params)
    assert info.value.parameter == param
    assert param in info.value.message


def _missing(org: Org, cmdlet: str, **params: Any) -> None:
    with pytest.raises(NotFoundError) as info:
        org.call(cmdlet, **params)
    assert f"couldn't be found on '{DOMAIN}'" in info.value.message


# --- seed and the singletons --------------------------------------------------------------------------------


def test_seed_is_idempotent_and_uses_microsoft_defaults(org: Org) -> None:
    with org.db.unit_of_work() as uow:
        seed_org_config(uow.session, org.tenant.id, DOMAIN, datetime(2026, 1, 2))
    config = org.one("Get-OrganizationConfig")
    assert config["Name"] == "contoso"
    assert config["AuditDisabled"] is False
    assert config["DefaultAuthenticationPolicy"] is None
    assert config["OAuth2ClientProfileEnabled"] is True
    assert config["WhenCreated"].endswith("Z")
    audit = org.one("Get-AdminAuditLogConfig")
    assert audit["UnifiedAuditLogIngestionEnabled"] is True
    assert audit["AdminAuditLogAgeLimit"] == "90.00:00:00"
    transport = org.one("Get-TransportConfig")
    assert transport["SmtpClientAuthenticationDisabled"] is True
    assert transport["MaxSendSize"] == "35 MB (36,700,160 bytes)"
    assert transport["MaxReceiveSize"] == "36 MB (37,748,736 bytes)"
    default = org.one("Get-RemoteDomain", Identity="Default")
    assert default["DomainName"] == "*"
    assert default["AutoForwardEnabled"] is False
    accepted = org.one("Get-AcceptedDomain")
    assert {k: accepted[k] for k in ("DomainName", "DomainType", "Default", "InitialDomain")} == {
        "DomainName": DOMAIN,
        "DomainType": "Authoritative",
        "Default": True,
        "InitialDomain": True,
    }
    policy = org.one("Get-SharingPolicy")
    assert policy["Domains"] == [
        "Anonymous:CalendarSharingFreeBusyReviewer",
        "*:CalendarSharingFreeBusySimple",
    ]
    dkim = org.one("Get-DkimSigningConfig", Identity=DOMAIN)
    assert dkim["Enabled"] is False
    assert dkim["Status"] == "CnameMissing"
    assert dkim["Selector1CNAME"] == f"selector1-contoso-onmicrosoft-com._domainkey.{DOMAIN}"


@pytest.mark.parametrize(
    ("noun", "change", "prop", "expected"),
    [
        ("OrganizationConfig", {"AuditDisabled": True}, "AuditDisabled", True),
        (
            "OrganizationConfig",
            {"EwsApplicationAccessPolicy": "enforceallowlist"},
            "EwsApplicationAccessPolicy",
            "EnforceAllowList",
        ),
        (
            "OrganizationConfig",
            {"ActivityBasedAuthenticationTimeoutInterval": "1:30:00"},
            "ActivityBasedAuthenticationTimeoutInterval",
            "01:30:00",
        ),
        (
            "AdminAuditLogConfig",
            {"UnifiedAuditLogIngestionEnabled": "$false"},
            "UnifiedAuditLogIngestionEnabled",
            False,
        ),
        (
            "AdminAuditLogConfig",
            {"AdminAuditLogAgeLimit": "180.00:00:00"},
            "AdminAuditLogAgeLimit",
            "180.00:00:00",
        ),
        ("TransportConfig", {"MaxSendSize": "50MB"}, "MaxSendSize", "50 MB (52,428,800 bytes)"),
        (
            "TransportConfig",
            {"ExternalPostmasterAddress": "postmaster@contoso.com"},
            "ExternalPostmasterAddress",
            "postmaster@contoso.com",
        ),
        (
            "TransportConfig",
            {"InternalSMTPServers": ["10.0.0.1", "192.168.0.0/24"]},
            "InternalSMTPServers",
            ["10.0.0.1/32", "192.168.0.0/24"],
        ),
        (
            "TransportConfig",
            {"MaxRecipientEnvelopeLimit": "Unlimited"},
            "MaxRecipientEnvelopeLimit",
            "Unlimited",
        ),
    ],
)
def test_set_singleton_changes_only_what_was_passed(
    org: Org, noun: str, change: dict[str, Any], prop: str, expected: Any
) -> None:
    before = org.one(f"Get-{noun}")
    org.clock.advance(60)
    assert org.call(f"Set-{noun}", **change).value == []
    after = org.one(f"Get-{noun}")
    assert after[prop] == expected
    assert {k: v for k, v in after.items() if k not in (prop, "WhenChanged", "WhenChangedUTC")} == {
        k: v for k, v in before.items() if k not in (prop, "WhenChanged", "WhenChangedUTC")
    }
    assert after["WhenChanged"] == "2026-01-01T00:01:00.000Z"
    assert after["WhenCreated"] == before["WhenCreated"]


@pytest.mark.parametrize(
    ("noun", "param", "value"),
    [
        ("OrganizationConfig", "AuditDisabled", "maybe"),
        ("OrganizationConfig", "PublicFoldersEnabled", "Elsewhere"),
        ("OrganizationConfig", "ActivityBasedAuthenticationTimeoutInterval", "12:00:00"),
        ("OrganizationConfig", "IsDehydrated", True),
        ("AdminAuditLogConfig", "AdminAuditLogAgeLimit", "ninety days"),
        ("AdminAuditLogConfig", "LogLevel", "Loud"),
        ("AdminAuditLogConfig", "AdminAuditLogEnabled", False),
        ("TransportConfig", "MaxSendSize", "Unlimited"),
        ("TransportConfig", "MaxReceiveSize", "200MB"),
        ("TransportConfig", "ExternalPostmasterAddress", "not-an-address"),
        ("TransportConfig", "InternalSMTPServers", ["10.0.0.999"]),
        ("TransportConfig", "ReplyAllStormBlockDurationHours", 13),
        ("TransportConfig", "MaxRecipientEnvelopeLimit", "5000"),
        ("TransportConfig", "MessageExpiration", "2.00:00:00"),
    ],
)
def test_set_singleton_rejects_bad_values(org: Org, noun: str, param: str, value: Any) -> None:
    before = org.one(f"Get-{noun}")
    _bad(org, param, f"Set-{noun}", **{param: value})
    assert org.one(f"Get-{noun}") == before


@pytest.mark.parametrize("noun", ["OrganizationConfig", "AdminAuditLogConfig", "TransportConfig"])
def test_singleton_identity_and_whatif(org: Org, noun: str) -> None:
    own = org.one(f"Get-{noun}")
    assert org.one(f"Get-{noun}", Identity=own["Name"].upper()) == own
    assert org.one(f"Get-{noun}", Identity=own["Guid"]) == own
    _missing(org, f"Get-{noun}", Identity="Fabrikam")
    _missing(org, f"Set-{noun}", Identity="Fabrikam")
    org.clock.advance(60)
    result = org.call(f"Set-{noun}", **_some_change(noun), WhatIf=True)
    assert result.value == []
    assert result.warnings[0].startswith("What if:")
    assert org.one(f"Get-{noun}") == own


def _some_change(noun: str) -> dict[str, Any]:
    return {
        "OrganizationConfig": {"AuditDisabled": True},
        "AdminAuditLogConfig": {"UnifiedAuditLogIngestionEnabled": False},
        "TransportConfig": {"SmtpClientAuthenticationDisabled": False},
    }[noun]


def test_set_without_change_keeps_when_changed(org: Org) -> None:
    before = org.one("Get-TransportConfig")
    org.clock.advance(60)
    org.call("Set-TransportConfig", SmtpClientAuthenticationDisabled=True)
    assert org.one("Get-TransportConfig")["WhenChanged"] == before["WhenChanged"]


def test_admin_audit_log_lists_add_and_remove(org: Org) -> None:
    org.call("Set-AdminAuditLogConfig", AdminAuditLogExcludedCmdlets={"Add": ["Get-*", "Test-*"]})
    org.call("Set-AdminAuditLogConfig", AdminAuditLogExcludedCmdlets={"Add": ["get-*"], "Remove": ["Test-*"]})
    assert org.one("Get-AdminAuditLogConfig")["AdminAuditLogExcludedCmdlets"] == ["Get-*"]


# --- remote domains -----------------------------------------------------------------------------------------


def test_remote_domain_lifecycle(org: Org) -> None:
    created = org.one("New-RemoteDomain", Name="Fabrikam", DomainName="Fabrikam.COM")
    assert created["Identity"] == "Fabrikam"
    assert created["DomainName"] == "fabrikam.com"
    assert created["AutoForwardEnabled"] is True  # Exchange's default for new remote domains
    uuid.UUID(created["Guid"])
    org.clock.advance(60)
    org.call(
        "Set-RemoteDomain",
        Identity="fabrikam",
        AutoForwardEnabled=False,
        AllowedOOFType="InternalLegacy",
        TNEFEnabled=None,
        ContentType="MimeText",
        CharacterSet="UTF-8",
    )
    got = org.one("Get-RemoteDomain", Identity=created["Guid"])
    assert (got["AutoForwardEnabled"], got["AllowedOOFType"], got["ContentType"], got["CharacterSet"]) == (
        False,
        "InternalLegacy",
        "MimeText",
        "utf-8",
    )
    assert got["TNEFEnabled"] is None
    assert got["NDREnabled"] is True
    assert got["WhenChanged"] != got["WhenCreated"]
    assert [d["Name"] for d in org.call("Get-RemoteDomain").value] == ["Default", "Fabrikam"]
    org.call("Remove-RemoteDomain", Identity="Fabrikam")
    _missing(org, "Get-RemoteDomain", Identity="Fabrikam")


def test_remote_domain_errors(org: Org) -> None:
    org.call("New-RemoteDomain", Name="Fabrikam", DomainName="fabrikam.com")
    with pytest.raises(DuplicateObjectError):
        org.call("New-RemoteDomain", Name="FABRIKAM", DomainName="other.com")
    with pytest.raises(DuplicateObjectError):
        org.call("New-RemoteDomain", Name="Other", DomainName="FABRIKAM.com")
    _bad(org, "DomainName", "New-RemoteDomain", Name="Bad", DomainName="not a domain")
    _bad(org, "DomainName", "New-RemoteDomain", Name="Bad")
    _bad(org, "AllowedOOFType", "Set-RemoteDomain", Identity="Fabrikam", AllowedOOFType="Sometimes")
    _bad(org, "ContentType", "Set-RemoteDomain", Identity="Fabrikam", ContentType="Text")
    _bad(org, "CharacterSet", "Set-RemoteDomain", Identity="Fabrikam", CharacterSet="klingon-1")
    _bad(org, "DomainName", "Set-RemoteDomain", Identity="Fabrikam", DomainName="x.com")
    _missing(org, "Set-RemoteDomain", Identity="Nowhere", AutoReplyEnabled=False)
    _missing(org, "Remove-RemoteDomain", Identity="Nowhere")
    _missing(org, "Get-RemoteDomain", Identity="Nowhere")
    with pytest.raises(ArgumentError):
        org.call("Remove-RemoteDomain", Identity="default")
    with pytest.raises(ArgumentError):
        org.call("Set-RemoteDomain", Identity="Default", Name="Renamed")
    # The secure default on the built-in domain can be changed like any other setting.
    org.call("Set-RemoteDomain", Identity="Default", AutoForwardEnabled=True)
    assert org.one("Get-RemoteDomain", Identity="Default")["AutoForwardEnabled"] is True


def test_remote_domain_whatif_changes_nothing(org: Org) -> None:
    before = org.call("Get-RemoteDomain").value
    org.call("New-RemoteDomain", Name="Fabrikam", DomainName="fabrikam.com", WhatIf=True)
    org.call("Set-RemoteDomain", Identity="Default", AutoReplyEnabled=False, WhatIf=True)
    assert org.call("Get-RemoteDomain").value == before
    org.call("New-RemoteDomain", Name="Fabrikam", DomainName="fabrikam.com")
    after_new = org.call("Get-RemoteDomain").value
    org.call("Remove-RemoteDomain", Identity="Fabrikam", WhatIf=True)
    assert org.call("Get-RemoteDomain").value == after_new
    # WhatIf still validates: a duplicate is refused in the preview too.
    with pytest.raises(DuplicateObjectError):
        org.call("New-RemoteDomain", Name="Fabrikam", DomainName="x.com", WhatIf=True)


# --- transport rules ----------------------------------------------------------------------------------------


def _priorities(org: Org) -> dict[str, int]:
    return {r["Name"]: r["Priority"] for r in org.call("Get-TransportRule").value}


def test_transport_rule_priorities_shift_like_exchange(org: Org) -> None:
    assert org.one("New-TransportRule", Name="A")["Priority"] == 0
    org.call("New-TransportRule", Name="B")
    org.call("New-TransportRule", Name="C", Priority=0)
    assert _priorities(org) == {"A": 1, "B": 2, "C": 0}
    org.call("Set-TransportRule", Identity="C", Priority=2)
    assert _priorities(org) == {"A": 0, "B": 1, "C": 2}
    org.call("Remove-TransportRule", Identity="A")
    assert _priorities(org) == {"B": 0, "C": 1}
    _bad(org, "Priority", "New-TransportRule", Name="D", Priority=3)
    _bad(org, "Priority", "Set-TransportRule", Identity="B", Priority=2)
    _bad(org, "Priority", "New-TransportRule", Name="D", Priority=-1)


def test_transport_rule_conditions_actions_and_state(org: Org) -> None:
    rule = org.one(
        "New-TransportRule",
        Name="Block external forwarding",
        From=["ceo@contoso.com"],
        SentToScope="NotInOrganization",
        SubjectContainsWords=["invoice", "payment"],
        RedirectMessageTo="audit@contoso.com",
        SetSCL=9,
        StopRuleProcessing=True,
        Mode="Audit",
        Enabled=False,
        Comments="why",
    )
    assert rule["State"] == "Disabled"
    assert rule["Mode"] == "Audit"
    assert rule["From"] == ["ceo@contoso.com"]
    assert rule["RedirectMessageTo"] == ["audit@contoso.com"]
    assert rule["SentToScope"] == "NotInOrganization"
    assert rule["SetSCL"] == 9
    assert rule["BlindCopyTo"] is None
    assert rule["DeleteMessage"] is False
    org.call("Enable-TransportRule", Identity="block external forwarding")
    assert org.one("Get-TransportRule", Identity=rule["Guid"])["State"] == "Enabled"
    org.call("Disable-TransportRule", Identity=rule["Name"])
    assert org.one("Get-TransportRule", Identity=rule["Name"])["State"] == "Disabled"
    org.call(
        "Set-TransportRule",
        Identity=rule["Name"],
        Name="Renamed",
        SetSCL=None,
        BlindCopyTo={"Add": ["bcc@contoso.com"]},
        SubjectContainsWords={"Remove": ["payment"]},
    )
    got = org.one("Get-TransportRule", Identity="Renamed")
    assert got["SetSCL"] is None
    assert got["BlindCopyTo"] == ["bcc@contoso.com"]
    assert got["SubjectContainsWords"] == ["invoice"]
    assert got["Mode"] == "Audit"
    assert got["Comments"] == "why"


def test_transport_rule_errors(org: Org) -> None:
    org.call("New-TransportRule", Name="Rule")
    with pytest.raises(DuplicateObjectError):
        org.call("New-TransportRule", Name="rule")
    _bad(org, "Name", "New-TransportRule")
    _bad(org, "SetSCL", "New-TransportRule", Name="X", SetSCL=10)
    _bad(org, "Mode", "New-TransportRule", Name="X", Mode="Loud")
    _bad(org, "SentToScope", "Set-TransportRule", Identity="Rule", SentToScope="Mars")
    _bad(org, "From", "Set-TransportRule", Identity="Rule", From=["not an address"])
    _bad(org, "RedirectMessageTo", "Set-TransportRule", Identity="Rule", RedirectMessageTo={"Add": ["@x"]})
    _bad(org, "State", "Set-TransportRule", Identity="Rule", State="Disabled")
    for cmdlet in ("Get", "Set", "Remove", "Enable", "Disable"):
        _missing(org, f"{cmdlet}-TransportRule", Identity="Nope")
    org.call("New-TransportRule", Name="Other")
    with pytest.raises(DuplicateObjectError):
        org.call("Set-TransportRule", Identity="Other", Name="RULE")


def test_transport_rule_whatif_changes_nothing(org: Org) -> None:
    org.call("New-TransportRule", Name="A")
    org.call("New-TransportRule", Name="B")
    before = org.call("Get-TransportRule").value
    org.call("New-TransportRule", Name="C", Priority=0, WhatIf=True)
    org.call("Set-TransportRule", Identity="B", Priority=0, DeleteMessage=True, WhatIf=True)
    org.call("Disable-TransportRule", Identity="A", WhatIf=True)
    org.call("Enable-TransportRule", Identity="A", WhatIf=True)
    org.call("Remove-TransportRule", Identity="A", WhatIf=True)
    assert org.call("Get-TransportRule").value == before


def test_get_transport_rule_pages_with_result_size(org: Org) -> None:
    for i in range(3):
        org.call("New-TransportRule", Name=f"R{i}")
    result = org.call("Get-TransportRule", ResultSize=2)
    assert len(result.value) == 2
    assert result.warnings


# --- inbox rules --------------------------------------------------------------------------------------------


def test_inbox_rule_lifecycle(org: Org) -> None:
    org.add_mailbox("Alex Wilber", "alexw")
    org.add_mailbox("Megan Bowen", "meganb")
    rule = org.one(
        "New-InboxRule",
        Mailbox="alexw",
        Name="Forward all",
        ForwardTo=["attacker@evil.example", "Megan Bowen"],
        SubjectContainsWords=["invoice"],
        StopProcessingRules=True,
    )
    assert rule["Identity"] == f"Alex Wilber\\{rule['RuleIdentity']}"
    assert rule["RuleIdentity"].isdigit()
    assert rule["MailboxOwnerId"] == "Alex Wilber"
    assert rule["ForwardTo"] == ["attacker@evil.example", f"meganb@{DOMAIN}"]
    assert rule["Priority"] == 1
    assert rule["Enabled"] is True
    assert rule["RedirectTo"] is None
    assert rule["WhenChanged"].endswith("Z")
    assert "attacker@evil.example" in rule["Description"]
    second = org.one("New-InboxRule", Mailbox="alexw", Name="Delete spam", DeleteMessage=True, Priority=1)
    assert second["Priority"] == 1
    assert org.one("Get-InboxRule", Identity=rule["Identity"])["Priority"] == 2
    org.one("New-InboxRule", Mailbox="meganb", Name="Forward all")
    assert len(org.call("Get-InboxRule").value) == 3  # every mailbox of the tenant
    assert [r["Name"] for r in org.call("Get-InboxRule", Mailbox="Alex Wilber").value] == [
        "Forward all",
        "Delete spam",
    ]
    org.call(
        "Set-InboxRule",
        Identity="Alex Wilber\\Forward all",
        Enabled=False,
        ForwardTo={"Remove": ["attacker@evil.example"]},
        RedirectTo=["meganb"],
        Priority=1,
    )
    got = org.one("Get-InboxRule", Identity=rule["RuleIdentity"])
    assert (got["Enabled"], got["ForwardTo"], got["RedirectTo"], got["Priority"]) == (
        False,
        [f"meganb@{DOMAIN}"],
        [f"meganb@{DOMAIN}"],
        1,
    )
    org.call("Set-InboxRule", Identity="Forward all", Mailbox="alexw", Name="Renamed")
    org.call("Remove-InboxRule", Identity=f"alexw\\{rule['RuleIdentity']}")
    remaining = org.call("Get-InboxRule", Mailbox="alexw").value
    assert [(r["Name"], r["Priority"]) for r in remaining] == [("Delete spam", 1)]


def test_inbox_rule_errors(org: Org) -> None:
    org.add_mailbox("Alex Wilber", "alexw")
    org.add_mailbox("Megan Bowen", "meganb")
    org.call("New-InboxRule", Mailbox="alexw", Name="Rule")
    org.call("New-InboxRule", Mailbox="meganb", Name="Rule")
    with pytest.raises(DuplicateObjectError):
        org.call("New-InboxRule", Mailbox="alexw", Name="RULE")
    _missing(org, "New-InboxRule", Mailbox="nobody", Name="Rule")
    _missing(org, "Get-InboxRule", Mailbox="nobody")
    _missing(org, "Get-InboxRule", Identity="Alex Wilber\\123")
    _missing(org, "Set-InboxRule", Identity="Alex Wilber\\Nope", Enabled=False)
    _missing(org, "Remove-InboxRule", Identity="alexw\\Nope")
    _bad(org, "Mailbox", "New-InboxRule", Name="X")
    _bad(org, "ForwardTo", "New-InboxRule", Mailbox="alexw", Name="X", ForwardTo=["nobody at all"])
    _bad(org, "Priority", "New-InboxRule", Mailbox="alexw", Name="X", Priority=3)
    _bad(org, "Priority", "New-InboxRule", Mailbox="alexw", Name="X", Priority=0)
    _bad(org, "MarkAsRead", "Set-InboxRule", Identity="alexw\\Rule", MarkAsRead="sometimes")
    with pytest.raises(AmbiguousIdentityError, match="matches multiple entries"):
        org.call("Set-InboxRule", Identity="Rule", Enabled=False)  # same name in two mailboxes
    org.call("New-InboxRule", Mailbox="alexw", Name="Second")
    with pytest.raises(DuplicateObjectError):
        org.call("Set-InboxRule", Identity="alexw\\Second", Name="rule")


def test_inbox_rule_whatif_changes_nothing(org: Org) -> None:
    org.add_mailbox("Alex Wilber", "alexw")
    org.call("New-InboxRule", Mailbox="alexw", Name="Rule")
    before = org.call("Get-InboxRule").value
    org.call("New-InboxRule", Mailbox="alexw", Name="Other", Priority=1, WhatIf=True)
    org.call("Set-InboxRule", Identity="alexw\\Rule", ForwardTo=["x@evil.example"], WhatIf=True)
    org.call("Remove-InboxRule", Identity="alexw\\Rule", WhatIf=True)
    assert org.call("Get-InboxRule").value == before


# --- DKIM, accepted domains, sharing policies ---------------------------------------------------------------


def test_dkim_signing_config(org: Org) -> None:
    with pytest.raises(DuplicateObjectError):
        org.call("New-DkimSigningConfig", DomainName=DOMAIN, Enabled=True)
    _bad(org, "DomainName", "New-DkimSigningConfig", DomainName="fabrikam.com", Enabled=True)
    _bad(org, "Enabled", "New-DkimSigningConfig", DomainName=DOMAIN)
    _bad(org, "KeySize", "New-DkimSigningConfig", DomainName=DOMAIN, Enabled=True, KeySize=4096)
    _bad(org, "Enabled", "Set-DkimSigningConfig", Identity=DOMAIN, Enabled="yes please")
    _missing(org, "Set-DkimSigningConfig", Identity="fabrikam.com", Enabled=True)
    _missing(org, "Get-DkimSigningConfig", Identity="fabrikam.com")
    before = org.one("Get-DkimSigningConfig", Identity=DOMAIN)
    org.call("Set-DkimSigningConfig", Identity=DOMAIN, Enabled=True, WhatIf=True)
    assert org.one("Get-DkimSigningConfig", Identity=DOMAIN) == before
    org.call("Set-DkimSigningConfig", Identity=DOMAIN, Enabled=True)
    after = org.one("Get-DkimSigningConfig", Identity=DOMAIN)
    assert (after["Enabled"], after["Status"]) == (True, "Valid")
    org.call("Set-DkimSigningConfig", Identity=DOMAIN, Enabled=False)
    assert org.one("Get-DkimSigningConfig", Identity=DOMAIN)["Status"] == "Disabled"


def test_new_dkim_signing_config_for_a_second_accepted_domain(org: Org) -> None:
    with org.db.unit_of_work() as uow:
        from mailwarden.directory._config_objects import ACCEPTED_DOMAIN, create_config_object

        props = {
            "DomainName": "contoso.com",
            "DomainType": "Authoritative",
            "Default": False,
            "InitialDomain": False,
        }
        create_config_object(
            uow.session, org.tenant.id, ACCEPTED_DOMAIN, "contoso.com", props, datetime(2026, 1, 1)
        )
    org.call("New-DkimSigningConfig", DomainName="Contoso.com", Enabled=False, KeySize=1024, WhatIf=True)
    assert len(org.call("Get-DkimSigningConfig").value) == 1
    created = org.one("New-DkimSigningConfig", DomainName="Contoso.com", Enabled=False, KeySize=1024)
    assert created["Identity"] == "contoso.com"
    assert created["Selector1KeySize"] == 1024
    assert created["Selector2CNAME"] == f"selector2-contoso-com._domainkey.{DOMAIN}"
    assert len(org.call("Get-AcceptedDomain").value) == 2
    assert org.one("Get-AcceptedDomain", Identity="contoso.com")["Default"] is False


def test_get_accepted_domain(org: Org) -> None:
    assert org.one("Get-AcceptedDomain", Identity=DOMAIN.upper())["Name"] == DOMAIN
    _missing(org, "Get-AcceptedDomain", Identity="fabrikam.com")
    assert org.registry.get("Set-AcceptedDomain") is None


def test_sharing_policy(org: Org) -> None:
    name = "Default Sharing Policy"
    before = org.one("Get-SharingPolicy", Identity=name)
    org.call("Set-SharingPolicy", Identity=name, Enabled=False, WhatIf=True)
    assert org.one("Get-SharingPolicy", Identity=name) == before
    org.call(
        "Set-SharingPolicy",
        Identity=name,
        Domains={
            "Remove": ["anonymous:calendarsharingfreebusyreviewer"],
            "Add": ["fabrikam.com:calendarsharingfreebusydetail,contactssharing"],
        },
        Enabled=False,
    )
    got = org.one("Get-SharingPolicy", Identity=name)
    assert got["Domains"] == [
        "*:CalendarSharingFreeBusySimple",
        "fabrikam.com:CalendarSharingFreeBusyDetail, ContactsSharing",
    ]
    assert got["Enabled"] is False
    _bad(org, "Domains", "Set-SharingPolicy", Identity=name, Domains=["fabrikam.com"])
    _bad(org, "Domains", "Set-SharingPolicy", Identity=name, Domains=["fabrikam.com:ShareEverything"])
    _bad(org, "Domains", "Set-SharingPolicy", Identity=name, Domains=["Anonymous:ContactsSharing"])
    _bad(
        org,
        "Domains",
        "Set-SharingPolicy",
        Identity=name,
        Domains=["x.com:CalendarSharingFreeBusySimple,CalendarSharingFreeBusyDetail"],
    )
    _bad(
        org,
        "Domains",
        "Set-SharingPolicy",
        Identity=name,
        Domains=["x.com:ContactsSharing", "X.com:CalendarSharingFreeBusySimple"],
    )
    _missing(org, "Set-SharingPolicy", Identity="Other", Enabled=True)
    _missing(org, "Get-SharingPolicy", Identity="Other")


# --- mailbox audit bypass -----------------------------------------------------------------------------------


def test_mailbox_audit_bypass_association(org: Org) -> None:
    guid = org.add_mailbox("Svc Backup", "svcbackup")
    org.add_mailbox("Alex Wilber", "alexw")
    assert org.call("Get-MailboxAuditBypassAssociation").value == []
    default = org.one("Get-MailboxAuditBypassAssociation", Identity="svcbackup")
    assert (default["Identity"], default["AuditBypassEnabled"], default["Guid"]) == (
        "Svc Backup",
        False,
        guid,
    )
    org.call("Set-MailboxAuditBypassAssociation", Identity="svcbackup", AuditBypassEnabled=True, WhatIf=True)
    assert org.call("Get-MailboxAuditBypassAssociation").value == []
    org.clock.advance(60)
    org.call("Set-MailboxAuditBypassAssociation", Identity="Svc Backup", AuditBypassEnabled=True)
    listed = org.call("Get-MailboxAuditBypassAssociation").value
    assert [(r["Name"], r["AuditBypassEnabled"]) for r in listed] == [("Svc Backup", True)]
    assert listed[0]["WhenChanged"] == "2026-01-01T00:01:00.000Z"
    org.call("Set-MailboxAuditBypassAssociation", Identity=guid, AuditBypassEnabled=False)
    assert org.one("Get-MailboxAuditBypassAssociation", Identity=guid)["AuditBypassEnabled"] is False
    _missing(org, "Get-MailboxAuditBypassAssociation", Identity="nobody")
    _missing(org, "Set-MailboxAuditBypassAssociation", Identity="nobody", AuditBypassEnabled=True)
    _bad(org, "AuditBypassEnabled", "Set-MailboxAuditBypassAssociation", Identity="alexw")
    _bad(
        org,
        "AuditBypassEnabled",
        "Set-MailboxAuditBypassAssociation",
        Identity="alexw",
        AuditBypassEnabled="on",
    )


def test_every_declared_cmdlet_is_covered() -> None:
    names = {spec.name for spec in ORG_CMDLETS}
    nouns = {
        "OrganizationConfig": "GS",
        "AdminAuditLogConfig": "GS",
        "TransportConfig": "GS",
        "RemoteDomain": "GNSR",
        "TransportRule": "GNSRED",
        "InboxRule": "GNSR",
        "DkimSigningConfig": "GNS",
        "AcceptedDomain": "G",
        "SharingPolicy": "GS",
        "MailboxAuditBypassAssociation": "GS",
    }
    verbs = {"G": "Get", "N": "New", "S": "Set", "R": "Remove", "E": "Enable", "D": "Disable"}
    expected = {f"{verbs[v]}-{noun}" for noun, letters in nouns.items() for v in letters}
    assert names == expected
    singletons = {"OrganizationConfig", "AdminAuditLogConfig", "TransportConfig"}
    for spec in ORG_CMDLETS:
        if spec.verb == "Get":
            assert spec.pageable == (spec.noun not in singletons), spec.name
