"""The mailbox audit policy as a pure table (audit._mailbox.decide): org switch, mailbox type and
AuditEnabled, the logon type's action set, bypass."""

from __future__ import annotations

import pytest

from mailwarden.audit._mailbox import (
    MAILBOX_ACTIONS,
    AuditDecision,
    LogonType,
    MailboxAuditSettings,
    decide,
    policy_action,
)
from mailwarden.directory._fields import AUDIT_ADMIN_DEFAULT, AUDIT_DELEGATE_DEFAULT, AUDIT_OWNER_DEFAULT


def _settings(
    *, enabled: bool = True, kind: str = "UserMailbox", owner: tuple[str, ...] = AUDIT_OWNER_DEFAULT
) -> MailboxAuditSettings:
    return MailboxAuditSettings.of(
        audit_enabled=enabled,
        owner=owner,
        admin=AUDIT_ADMIN_DEFAULT,
        delegate=AUDIT_DELEGATE_DEFAULT,
        recipient_type_details=kind,
    )


def _decide(
    settings: MailboxAuditSettings,
    *,
    org_disabled: bool = False,
    bypassed: bool = False,
    logon: LogonType = LogonType.Admin,
    operation: str = "UpdateInboxRules",
) -> AuditDecision:
    return decide(
        settings,
        org_audit_disabled=org_disabled,
        actor_bypassed=bypassed,
        logon_type=logon,
        operation=operation,
    )


@pytest.mark.parametrize(
    ("kind", "enabled", "org_disabled", "bypassed", "logon", "operation", "expected"),
    [
        # Defaults: each logon type's default set.
        ("UserMailbox", True, False, False, LogonType.Owner, "UpdateInboxRules", "audited"),
        ("UserMailbox", True, False, False, LogonType.Admin, "UpdateInboxRules", "audited"),
        ("UserMailbox", True, False, False, LogonType.Delegate, "UpdateInboxRules", "audited"),
        ("UserMailbox", True, False, False, LogonType.Admin, "SendAs", "audited"),
        ("UserMailbox", True, False, False, LogonType.Delegate, "SendAs", "audited"),
        # SendAs is not an owner action; UpdateCalendarDelegation is not a delegate action (MS defaults).
        ("UserMailbox", True, False, False, LogonType.Owner, "SendAs", "action-not-audited"),
        (
            "UserMailbox",
            True,
            False,
            False,
            LogonType.Delegate,
            "UpdateCalendarDelegation",
            "action-not-audited",
        ),
        ("UserMailbox", True, False, False, LogonType.Owner, "MailboxLogin", "action-not-audited"),
        ("UserMailbox", True, False, False, LogonType.Admin, "FolderBind", "action-not-audited"),
        # The organization switch wins over everything.
        ("UserMailbox", True, True, False, LogonType.Admin, "UpdateInboxRules", "org-disabled"),
        ("RoomMailbox", True, True, False, LogonType.Owner, "Update", "org-disabled"),
        # Bypass: the account's actions are not logged, whatever the logon type.
        ("UserMailbox", True, False, True, LogonType.Owner, "UpdateInboxRules", "bypassed"),
        ("UserMailbox", True, False, True, LogonType.Admin, "UpdateInboxRules", "bypassed"),
        ("UserMailbox", True, False, True, LogonType.Delegate, "SendAs", "bypassed"),
        # AuditEnabled=$false: ignored for on-by-default types (user, shared), decisive for the others.
        ("UserMailbox", False, False, False, LogonType.Admin, "UpdateInboxRules", "audited"),
        ("SharedMailbox", False, False, False, LogonType.Delegate, "SendAs", "audited"),
        ("RoomMailbox", False, False, False, LogonType.Admin, "UpdateInboxRules", "mailbox-disabled"),
        ("EquipmentMailbox", False, False, False, LogonType.Owner, "Update", "mailbox-disabled"),
        ("RoomMailbox", True, False, False, LogonType.Admin, "UpdateInboxRules", "audited"),
    ],
)
def test_policy_table(
    kind: str,
    enabled: bool,
    org_disabled: bool,
    bypassed: bool,
    logon: LogonType,
    operation: str,
    expected: str,
) -> None:
    decision = _decide(
        _settings(enabled=enabled, kind=kind),
        org_disabled=org_disabled,
        bypassed=bypassed,
        logon=logon,
        operation=operation,
    )
    assert decision.reason == expected
    assert decision.audited is (expected == "audited")


def test_action_sets_are_per_logon_type_and_case_insensitive() -> None:
    settings = _settings(owner=("updateinboxrules",))
    assert _decide(settings, logon=LogonType.Owner).audited
    assert not _decide(settings, logon=LogonType.Owner, operation="HardDelete").audited
    assert _decide(settings, logon=LogonType.Admin, operation="HardDelete").audited


def test_folder_permission_operations_are_governed_by_update_folder_permissions() -> None:
    for op in ("AddFolderPermissions", "ModifyFolderPermissions", "RemoveFolderPermissions"):
        assert policy_action(op) == "UpdateFolderPermissions"
        assert _decide(_settings(), operation=op).audited
        without = MailboxAuditSettings.of(
            audit_enabled=True, owner=(), admin=("Update",), delegate=(), recipient_type_details="UserMailbox"
        )
        assert _decide(without, operation=op).reason == "action-not-audited"
    assert policy_action("SendAs") == "SendAs"


def test_default_sets_only_name_known_actions() -> None:
    for action in (*AUDIT_ADMIN_DEFAULT, *AUDIT_DELEGATE_DEFAULT, *AUDIT_OWNER_DEFAULT):
        assert action in MAILBOX_ACTIONS
