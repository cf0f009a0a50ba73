"""``Search-MailboxAuditLog``: the mailbox audit records (ExchangeItem / ExchangeItemGroup, DESIGN §7) of one
mailbox or of all, by date, logon type and operation, keyset-paged over the log.

Output follows Exchange's MailboxAuditLogRecord: every row carries MailboxIdentity, MailboxResolvedOwnerName,
LastAccessed, Operation, OperationResult and LogonType (``Owner``/``Admin``/``Delegate``); ``-ShowDetails`` adds
the client, logon and item details (ClientInfoString, ClientIPAddress, ExternalAccess, InternalLogonType,
LogonUserDisplayName, LogonUserSid, MailboxGuid, MailboxOwnerUPN, FolderPathName, ItemSubject, …). Searching
the mailbox audit log is itself an audited read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit._mailbox import MAILBOX_ACTIONS, LogonType
from ..audit._records import RecordType
from ..directory import MAILBOX_TYPES, iso, resolve_recipient
from ..store._audit_models import AuditRecord
from ._invocation import Invocation, Listing
from ._registry import CmdletSpec, Param, ParamType

__all__ = ["MAILBOX_AUDIT_CMDLETS"]

_MAILBOX_RECORD_TYPES = (int(RecordType.ExchangeItem), int(RecordType.ExchangeItemGroup))
_LOGON_NAMES = {int(t): t.name for t in LogonType}


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _details(data: dict[str, Any]) -> dict[str, Any]:
    item = _object(data.get("Item"))
    folder = _object(data.get("Folder"))
    parent = _object(item.get("ParentFolder"))
    dest = _object(data.get("DestFolder"))
    return {
        "ClientInfoString": data.get("ClientInfoString", ""),
        "ClientIPAddress": data.get("ClientIPAddress") or data.get("ClientIP", ""),
        "ClientIP": data.get("ClientIP", ""),
        "ExternalAccess": bool(data.get("ExternalAccess", False)),
        "InternalLogonType": _LOGON_NAMES.get(int(data.get("InternalLogonType", 0)), "Owner"),
        "LogonUserDisplayName": data.get("LogonUserDisplayName", ""),
        "LogonUserSid": data.get("LogonUserSid", ""),
        "MailboxGuid": data.get("MailboxGuid", ""),
        "MailboxOwnerUPN": data.get("MailboxOwnerUPN", ""),
        "FolderId": folder.get("Id") or parent.get("Id"),
        "FolderPathName": folder.get("Path") or parent.get("Path"),
        "DestFolderPathName": dest.get("Path"),
        "ItemId": item.get("Id"),
        "ItemSubject": item.get("Subject"),
        "ItemInternetMessageId": item.get("InternetMessageId"),
        "AffectedItems": data.get("AffectedItems"),
        "OperationProperties": data.get("OperationProperties"),
        "MemberUpn": parent.get("MemberUpn"),
        "MemberRights": parent.get("MemberRights"),
        "RecordId": data.get("Id"),
        "RecordType": data.get("RecordType"),
    }


def _serializer(show_details: bool) -> Callable[[Session, list[Any]], list[dict[str, Any]]]:
    def serialize(session: Session, rows: list[Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for row in rows:
            data: dict[str, Any] = row.data
            entry: dict[str, Any] = {
                "MailboxIdentity": data.get("MailboxIdentity") or data.get("MailboxOwnerUPN", ""),
                "MailboxResolvedOwnerName": data.get("MailboxResolvedOwnerName", ""),
                "LastAccessed": iso(row.creation_time),
                "Operation": row.operation,
                "OperationResult": data.get("ResultStatus", ""),
                "LogonType": _LOGON_NAMES.get(int(data.get("LogonType", 0)), "Owner"),
            }
            if show_details:
                entry.update(_details(data))
            out.append(entry)
        return out

    return serialize


def search_mailbox_audit_log(inv: Invocation) -> Listing:
    stmt = select(AuditRecord).where(
        AuditRecord.tenant_id == inv.tenant.id, AuditRecord.record_type.in_(_MAILBOX_RECORD_TYPES)
    )
    if inv.has("Identity"):
        mailbox = resolve_recipient(inv.session, inv.tenant.id, inv.get("Identity"), types=MAILBOX_TYPES)
        stmt = stmt.where(
            AuditRecord.data["MailboxGuid"].as_string() == (mailbox.exchange_guid or mailbox.guid)
        )
    if inv.has("StartDate"):
        stmt = stmt.where(AuditRecord.creation_time >= inv.get("StartDate"))
    if inv.has("EndDate"):
        stmt = stmt.where(AuditRecord.creation_time <= inv.get("EndDate"))
    if inv.get("LogonTypes"):
        types = sorted({int(LogonType[name]) for name in inv.get("LogonTypes")})
        stmt = stmt.where(AuditRecord.data["LogonType"].as_integer().in_(types))
    if inv.get("Operations"):
        stmt = stmt.where(AuditRecord.operation.in_(sorted(set(inv.get("Operations")))))
    return Listing(stmt, AuditRecord.id, _serializer(bool(inv.get("ShowDetails", False))))


MAILBOX_AUDIT_CMDLETS: tuple[CmdletSpec, ...] = (
    CmdletSpec(
        "Search-MailboxAuditLog",
        (
            Param("Identity", ParamType.IDENTITY, position=0, help="The mailbox; all mailboxes when omitted"),
            Param("StartDate", ParamType.DATETIME),
            Param("EndDate", ParamType.DATETIME),
            Param("LogonTypes", ParamType.STRING_LIST, enum=tuple(t.name for t in LogonType)),
            Param("Operations", ParamType.STRING_LIST, enum=tuple(sorted(MAILBOX_ACTIONS))),
            Param("ShowDetails", ParamType.SWITCH),
        ),
        search_mailbox_audit_log,
        writes=False,
        object_type="MailboxAuditLogRecord",
        pageable=True,
        extra={"audit_reads": True},
        description="Searches the mailbox audit log: who did what in which mailbox, as owner, delegate or admin.",
    ),
)
