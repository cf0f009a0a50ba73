"""Mailbox actions the admin plane performs (inbox rules, mailbox and SendAs permissions) produce mailbox
audit records through the executor hook: in the same transaction as the change, with LogonType Admin, and
only when the policy says so."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mailwarden.store import Database
from mailwarden.store._audit_models import AuditRecord

from conftest import Api


def _records(db: Database, tenant_id: str) -> list[AuditRecord]:
    with db.unit_of_work(write=False) as uow:
        return list(
            uow.session.scalars(
                select(AuditRecord).where(AuditRecord.tenant_id == tenant_id).order_by(AuditRecord.seq)
            )
        )


def _mailbox_records(db: Database, tenant_id: str, operation: str | None = None) -> list[dict[str, Any]]:
    return [
        r.data
        for r in _records(db, tenant_id)
        if r.record_type in (2, 3) and (operation is None or r.operation == operation)
    ]


def _props(record: dict[str, Any]) -> dict[str, str]:
    return {p["Name"]: p["Value"] for p in record.get("OperationProperties", [])}


def test_inbox_rule_change_by_admin_is_one_update_inbox_rules_record(api: Api, db: Database) -> None:
    mailbox = api.ok("New-Mailbox", Name="Alex Wilber", Alias="alexw")[0]
    rule = api.ok("New-InboxRule", Mailbox="alexw", Name="Forward all", MarkAsRead=True)[0]
    records = _records(db, api.tenant.id)
    mailbox_records = [r for r in records if r.record_type in (2, 3)]
    assert len(mailbox_records) == 1
    record = mailbox_records[0].data
    assert record["RecordType"] == 2
    assert record["Operation"] == "UpdateInboxRules"
    assert record["LogonType"] == 1
    assert record["InternalLogonType"] == 1
    assert record["ExternalAccess"] is False
    assert record["Workload"] == "Exchange"
    assert record["ResultStatus"] == "Succeeded"
    assert record["MailboxGuid"] == mailbox["ExchangeGuid"]
    assert record["MailboxOwnerUPN"] == mailbox["UserPrincipalName"]
    assert record["UserId"] == f"admin@{api.tenant.domain}"
    assert record["LogonUserSid"] == record["UserKey"]
    assert record["ClientInfoString"].startswith("Client=mailwarden")
    assert _props(record) == {
        "RuleOperation": "AddMailboxRule",
        "RuleName": "Forward all",
        "RuleId": rule["RuleIdentity"],
        "RuleState": "Enabled",
    }
    # Same transaction as the change: it directly follows the cmdlet's ExchangeAdmin record.
    admin = [r for r in records if r.operation == "New-InboxRule"]
    assert len(admin) == 1
    assert mailbox_records[0].seq == admin[0].seq + 1
    assert mailbox_records[0].creation_time == admin[0].creation_time

    api.ok("Set-InboxRule", Identity=rule["Identity"], Enabled=False)
    api.ok("Remove-InboxRule", Identity=rule["RuleIdentity"])
    ops = [_props(r)["RuleOperation"] for r in _mailbox_records(db, api.tenant.id, "UpdateInboxRules")]
    assert ops == ["AddMailboxRule", "ModifyMailboxRule", "RemoveMailboxRule"]
    modified = _mailbox_records(db, api.tenant.id, "UpdateInboxRules")[1]
    assert _props(modified)["RuleState"] == "Disabled"
    removed = _mailbox_records(db, api.tenant.id, "UpdateInboxRules")[2]
    assert _props(removed)["RuleName"] == "Forward all"
    assert removed["MailboxGuid"] == mailbox["ExchangeGuid"]


def test_failed_and_previewed_changes_leave_no_mailbox_record(api: Api, db: Database) -> None:
    api.ok("New-Mailbox", Name="Alex Wilber", Alias="alexw")
    api.ok("New-InboxRule", Mailbox="alexw", Name="Rule")
    before = len(_mailbox_records(db, api.tenant.id))
    api.error("New-InboxRule", 409, Mailbox="alexw", Name="Rule")  # duplicate: rolled back
    api.error("Set-InboxRule", 404, Identity="alexw\\12345")
    assert api.call("New-InboxRule", Mailbox="alexw", Name="Other", WhatIf=True).status_code == 200
    assert len(_mailbox_records(db, api.tenant.id)) == before
    failed = [r for r in _records(db, api.tenant.id) if r.result_status == "False"]
    assert len(failed) == 2  # the failures are audited as ExchangeAdmin records only


def test_no_record_when_auditing_is_off_for_the_mailbox_or_the_org(api: Api, db: Database) -> None:
    api.ok("New-Mailbox", Name="Room 1", Alias="room1", Room=True)
    api.ok("New-Mailbox", Name="Alex Wilber", Alias="alexw")
    # A room mailbox is outside "auditing on by default": its AuditEnabled decides.
    api.ok("Set-Mailbox", Identity="room1", AuditEnabled=False)
    api.ok("New-InboxRule", Mailbox="room1", Name="Rule")
    assert _mailbox_records(db, api.tenant.id) == []
    # A user mailbox is audited even with AuditEnabled=$false (on by default overrides it).
    api.ok("Set-Mailbox", Identity="alexw", AuditEnabled=False)
    api.ok("New-InboxRule", Mailbox="alexw", Name="Rule")
    assert len(_mailbox_records(db, api.tenant.id)) == 1
    # The action must be in the admin set.
    api.ok("Set-Mailbox", Identity="alexw", AuditAdmin=["Update"])
    api.ok("New-InboxRule", Mailbox="alexw", Name="Rule 2")
    assert len(_mailbox_records(db, api.tenant.id)) == 1
    api.ok("Set-Mailbox", Identity="alexw", AuditAdmin={"Add": ["UpdateInboxRules"]})
    api.ok("New-InboxRule", Mailbox="alexw", Name="Rule 3")
    assert len(_mailbox_records(db, api.tenant.id)) == 2
    # OrganizationConfig.AuditDisabled=$true turns it off everywhere.
    api.ok("Set-OrganizationConfig", AuditDisabled=True)
    api.ok("New-InboxRule", Mailbox="alexw", Name="Rule 4")
    assert len(_mailbox_records(db, api.tenant.id)) == 2


def test_bypassed_admin_is_not_logged_and_the_bypass_itself_is_high_severity(api: Api, db: Database) -> None:
    admin_upn = f"admin@{api.tenant.domain}"
    api.ok("New-Mailbox", Name="Admin", Alias="admin", MicrosoftOnlineServicesID=admin_upn)
    api.ok("New-Mailbox", Name="Alex Wilber", Alias="alexw")
    api.ok("Set-MailboxAuditBypassAssociation", Identity=admin_upn, AuditBypassEnabled=True)
    bypass = [r for r in _records(db, api.tenant.id) if r.operation == "Set-MailboxAuditBypassAssociation"]
    assert len(bypass) == 1
    assert bypass[0].high_severity
    api.ok("New-InboxRule", Mailbox="alexw", Name="Hidden")
    assert _mailbox_records(db, api.tenant.id) == []
    api.ok("Set-MailboxAuditBypassAssociation", Identity=admin_upn, AuditBypassEnabled=False)
    api.ok("New-InboxRule", Mailbox="alexw", Name="Seen")
    assert len(_mailbox_records(db, api.tenant.id)) == 1


def test_admin_changing_their_own_mailbox_is_an_owner_logon(api: Api, db: Database) -> None:
    admin_upn = f"admin@{api.tenant.domain}"
    api.ok("New-Mailbox", Name="Admin", Alias="admin", MicrosoftOnlineServicesID=admin_upn)
    api.ok("New-InboxRule", Mailbox="admin", Name="Mine")
    (record,) = _mailbox_records(db, api.tenant.id)
    assert record["LogonType"] == 0
    assert record["UserType"] == 0


def test_permission_grants_are_folder_permission_records(api: Api, db: Database) -> None:
    api.ok("New-Mailbox", Name="Alex Wilber", Alias="alexw")
    megan = api.ok("New-Mailbox", Name="Megan Bowen", Alias="meganb")[0]
    api.ok("Add-MailboxPermission", Identity="alexw", User="meganb", AccessRights=["FullAccess"])
    api.ok("Remove-MailboxPermission", Identity="alexw", User="meganb", AccessRights=["FullAccess"])
    api.ok("Add-RecipientPermission", Identity="alexw", Trustee="meganb", AccessRights=["SendAs"])
    api.ok("Remove-RecipientPermission", Identity="alexw", Trustee="meganb", AccessRights=["SendAs"])
    records = _mailbox_records(db, api.tenant.id)
    assert [r["Operation"] for r in records] == [
        "AddFolderPermissions",
        "RemoveFolderPermissions",
        "AddFolderPermissions",
        "RemoveFolderPermissions",
    ]
    assert [r["Item"]["ParentFolder"]["MemberRights"] for r in records] == [
        "FullAccess",
        "FullAccess",
        "SendAs",
        "SendAs",
    ]
    assert {r["Item"]["ParentFolder"]["MemberUpn"] for r in records} == {megan["UserPrincipalName"]}
    assert {r["LogonType"] for r in records} == {1}
    # UpdateFolderPermissions governs them.
    api.ok("Set-Mailbox", Identity="alexw", AuditAdmin={"Remove": ["UpdateFolderPermissions"]})
    api.ok("Add-MailboxPermission", Identity="alexw", User="meganb", AccessRights=["FullAccess"])
    assert len(_mailbox_records(db, api.tenant.id)) == 4
