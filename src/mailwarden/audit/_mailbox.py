"""Mailbox audit logging (DESIGN §7 "Mailbox audit"): the policy that decides whether a mailbox action is
logged, and the ExchangeItem / ExchangeItemGroup records (Office 365 Management Activity API, ExchangeMailbox
schema) it produces.

The policy follows Microsoft's "Manage mailbox auditing" (Purview, *audit-mailboxes*):

* ``OrganizationConfig.AuditDisabled = $true`` turns mailbox auditing off for every mailbox;
* with it ``$false`` ("mailbox auditing on by default"), the per-mailbox ``AuditEnabled`` is **ignored** for
  the mailbox types on-by-default covers (user and shared mailboxes) — the documented example: a mailbox with
  ``AuditEnabled = $false`` is still audited. For the other types (room and equipment mailboxes) ``AuditEnabled``
  decides, as before on-by-default;
* the action must be in the mailbox's ``AuditOwner`` / ``AuditAdmin`` / ``AuditDelegate`` set for the logon
  type (0 Owner, 1 Admin, 2 Delegate);
* an account with a mailbox audit bypass association (``Set-MailboxAuditBypassAssociation
  -AuditBypassEnabled $true``) is never logged, whatever mailbox it touches and whatever its logon type.

:func:`decide` is pure; :func:`mailbox_audit_record` builds a record; :func:`record_mailbox_action` decides
and appends it inside the caller's transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ..principal import Principal
from ._records import RecordType, UserType, new_record

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ._log import AppendedRecord
    from ._service import AuditService

__all__ = [
    "GROUP_OPERATIONS",
    "MAILBOX_ACTIONS",
    "ON_BY_DEFAULT_TYPES",
    "AuditDecision",
    "LogonType",
    "MailboxAuditSettings",
    "MailboxEvent",
    "MailboxRef",
    "decide",
    "mailbox_audit_record",
    "policy_action",
    "record_mailbox_action",
]


class LogonType(enum.IntEnum):
    """Who accessed the mailbox (Exchange ``LogonType``)."""

    Owner = 0
    Admin = 1
    Delegate = 2


# Mailbox actions of Microsoft's "Mailbox actions for user mailboxes and shared mailboxes" table. The three
# folder-permission operations are logged under the configurable action UpdateFolderPermissions.
MAILBOX_ACTIONS = frozenset(
    {
        "AddFolderPermissions",
        "ApplyRecord",
        "AttachmentAccess",
        "Copy",
        "Create",
        "FolderBind",
        "HardDelete",
        "MailboxLogin",
        "MailItemsAccessed",
        "MessageBind",
        "ModifyFolderPermissions",
        "Move",
        "MoveToDeletedItems",
        "RecordDelete",
        "RemoveFolderPermissions",
        "SearchQueryInitiated",
        "Send",
        "SendAs",
        "SendOnBehalf",
        "SoftDelete",
        "Update",
        "UpdateCalendarDelegation",
        "UpdateComplianceTag",
        "UpdateFolderPermissions",
        "UpdateInboxRules",
    }
)
_UNDER_FOLDER_PERMISSIONS = frozenset(
    {"AddFolderPermissions", "ModifyFolderPermissions", "RemoveFolderPermissions"}
)

# Operations on several items at once are ExchangeItemGroup (RecordType 3) records; the rest ExchangeItem (2).
GROUP_OPERATIONS = frozenset({"Copy", "FolderBind", "HardDelete", "Move", "MoveToDeletedItems", "SoftDelete"})

# Mailbox types covered by "mailbox auditing on by default" (AuditEnabled is ignored for them).
ON_BY_DEFAULT_TYPES = frozenset({"UserMailbox", "SharedMailbox", "GroupMailbox"})


def policy_action(operation: str) -> str:
    """The configurable action (AuditOwner/AuditAdmin/AuditDelegate value) that governs ``operation``."""
    return "UpdateFolderPermissions" if operation in _UNDER_FOLDER_PERMISSIONS else operation


@dataclass(frozen=True)
class MailboxAuditSettings:
    """A mailbox's audit configuration (``Get-Mailbox`` AuditEnabled/AuditOwner/AuditAdmin/AuditDelegate)."""

    audit_enabled: bool
    owner: frozenset[str]
    admin: frozenset[str]
    delegate: frozenset[str]
    recipient_type_details: str = "UserMailbox"

    @classmethod
    def of(
        cls,
        *,
        audit_enabled: bool,
        owner: Iterable[str],
        admin: Iterable[str],
        delegate: Iterable[str],
        recipient_type_details: str = "UserMailbox",
    ) -> MailboxAuditSettings:
        def norm(values: Iterable[str]) -> frozenset[str]:
            return frozenset(v.lower() for v in values)

        return cls(audit_enabled, norm(owner), norm(admin), norm(delegate), recipient_type_details)

    def actions_for(self, logon_type: LogonType) -> frozenset[str]:
        return {LogonType.Owner: self.owner, LogonType.Admin: self.admin, LogonType.Delegate: self.delegate}[
            logon_type
        ]


DecisionReason = Literal["audited", "org-disabled", "mailbox-disabled", "action-not-audited", "bypassed"]


@dataclass(frozen=True)
class AuditDecision:
    """Whether a mailbox action is logged, and why (the reason makes the policy table testable)."""

    audited: bool
    reason: DecisionReason


def decide(
    settings: MailboxAuditSettings,
    *,
    org_audit_disabled: bool,
    actor_bypassed: bool,
    logon_type: LogonType,
    operation: str,
) -> AuditDecision:
    """The mailbox audit policy (module docstring). Bypass is checked first: it holds even when the mailbox
    would otherwise be audited, and it is what an attacker would use to go unseen."""
    if org_audit_disabled:
        return AuditDecision(False, "org-disabled")
    if not settings.audit_enabled and settings.recipient_type_details not in ON_BY_DEFAULT_TYPES:
        return AuditDecision(False, "mailbox-disabled")
    if actor_bypassed:
        return AuditDecision(False, "bypassed")
    if policy_action(operation).lower() not in settings.actions_for(logon_type):
        return AuditDecision(False, "action-not-audited")
    return AuditDecision(True, "audited")


@dataclass(frozen=True)
class MailboxRef:
    """The mailbox acted on."""

    guid: str  # MailboxGuid (the recipient's ExchangeGuid, else its Guid)
    owner_upn: str
    identity: str  # the recipient's Name, as Search-MailboxAuditLog shows it
    resolved_owner_name: str  # display name


@dataclass(frozen=True)
class MailboxEvent:
    """One mailbox action, as the admin plane or a mail store reports it."""

    operation: str
    logon_type: LogonType
    when: datetime
    actor_id: str  # LogonUserSid-like: the acting principal's stable id
    actor_name: str  # UserId / LogonUserDisplayName
    client_info: str = ""
    client_ip: str | None = None
    external_access: bool = False
    internal_logon_type: int | None = None
    result_status: str = "Succeeded"
    record_id: str | None = None  # the submitter's Id (ingestion); a new GUID otherwise
    item: Mapping[str, Any] | None = None
    folder: Mapping[str, Any] | None = None
    affected_items: list[Mapping[str, Any]] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


# The Management Activity API's UserType: owners and delegates are regular users, admin logons are admins.
_USER_TYPE = {
    LogonType.Owner: UserType.Regular,
    LogonType.Admin: UserType.Admin,
    LogonType.Delegate: UserType.Regular,
}


def mailbox_audit_record(
    *,
    tenant_id: str,
    organization_name: str,
    principal: Principal,
    mailbox: MailboxRef,
    event: MailboxEvent,
) -> dict[str, Any]:
    """An ExchangeItem (2) or ExchangeItemGroup (3) record in the ExchangeMailbox schema. ``principal`` is who
    *reported* the action (the caller of the admin plane, or the ingesting mail store app); the actor is in
    ``event`` (``UserId``, ``LogonUserSid``, ``LogonUserDisplayName``)."""
    record_type = (
        RecordType.ExchangeItemGroup if event.operation in GROUP_OPERATIONS else RecordType.ExchangeItem
    )
    extra: dict[str, Any] = {
        "UserType": int(_USER_TYPE[event.logon_type]),
        "UserKey": event.actor_id,
        "LogonType": int(event.logon_type),
        "InternalLogonType": int(
            event.logon_type if event.internal_logon_type is None else event.internal_logon_type
        ),
        "ExternalAccess": event.external_access,
        "MailboxGuid": mailbox.guid,
        "MailboxOwnerUPN": mailbox.owner_upn,
        "MailboxResolvedOwnerName": mailbox.resolved_owner_name,
        "MailboxIdentity": mailbox.identity,
        "LogonUserSid": event.actor_id,
        "LogonUserDisplayName": event.actor_name,
        "ClientInfoString": event.client_info,
        "ClientIPAddress": event.client_ip or "",
        "OrganizationName": organization_name,
        "OriginatingServer": "mailwarden",
    }
    if principal.kind == "app":
        extra["AppId"] = principal.id
    if event.item is not None:
        extra["Item"] = dict(event.item)
    if event.folder is not None:
        extra["Folder"] = dict(event.folder)
    if event.affected_items is not None:
        extra["AffectedItems"] = [dict(i) for i in event.affected_items]
    extra.update(event.extra)
    record = new_record(
        record_type=record_type,
        operation=event.operation,
        tenant_id=tenant_id,
        when=event.when,
        principal=principal,
        user_id=event.actor_name,
        workload="Exchange",
        result_status=event.result_status,
        object_id=mailbox.owner_upn or mailbox.guid,
        client_ip=event.client_ip,
        extra=extra,
    )
    if event.record_id is not None:
        record["Id"] = event.record_id
    return record


def record_mailbox_action(
    service: AuditService,
    session: Session,
    *,
    tenant_id: str,
    organization_name: str,
    principal: Principal,
    mailbox: MailboxRef,
    settings: MailboxAuditSettings,
    org_audit_disabled: bool,
    actor_bypassed: bool,
    event: MailboxEvent,
) -> AppendedRecord | None:
    """Apply the policy and, when it says so, append the record inside the caller's transaction (so it
    commits with the change it describes, or not at all). Returns None when nothing was recorded."""
    decision = decide(
        settings,
        org_audit_disabled=org_audit_disabled,
        actor_bypassed=actor_bypassed,
        logon_type=event.logon_type,
        operation=event.operation,
    )
    if not decision.audited:
        return None
    record = mailbox_audit_record(
        tenant_id=tenant_id,
        organization_name=organization_name,
        principal=principal,
        mailbox=mailbox,
        event=event,
    )
    return service.record(session, tenant_id, record)
