"""Audit records in the Office 365 Management Activity API schema, so existing detection rules port.

Common schema: Id, RecordType, CreationTime (UTC, ``YYYY-MM-DDTHH:MM:SS``), Operation, OrganizationId,
UserType, UserKey, UserId, Workload, ResultStatus, ObjectId, ClientIP, plus per-type fields (ExchangeAdmin:
Parameters [{Name, Value}], ModifiedProperties; ExchangeMailbox: LogonType, MailboxGuid, MailboxOwnerUPN,
ClientInfoString; AzureActiveDirectoryStsLogon: LogonError, amr). Secret parameter values are redacted
before a record exists at all.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from ..principal import Principal

__all__ = [
    "REDACTED",
    "RecordType",
    "UserType",
    "client_ip_fields",
    "exchange_admin_record",
    "format_time",
    "new_record",
    "redact_parameters",
    "user_type_of",
]

REDACTED = "********"
_SECRET_NAME = re.compile(
    r"password|secret|privatekey|private_key|token|credential|recoverycode", re.IGNORECASE
)


class RecordType(enum.IntEnum):
    ExchangeAdmin = 1
    ExchangeItem = 2
    ExchangeItemGroup = 3
    AzureActiveDirectory = 8
    AzureActiveDirectoryStsLogon = 15
    # Ours (>= 1000): privileged access, jobs, audit-log access and configuration.
    MailwardenElevation = 1000
    MailwardenJobRun = 1001
    MailwardenAuditAccess = 1002
    MailwardenAuditConfig = 1003


class UserType(enum.IntEnum):
    Regular = 0
    Admin = 2
    System = 4
    Application = 5


def user_type_of(principal: Principal) -> UserType:
    return {
        "user": UserType.Admin,
        "apikey": UserType.Admin,
        "app": UserType.Application,
        "system": UserType.System,
    }[principal.kind]


def format_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def client_ip_fields(ip: str | None, port: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"ClientIP": ip or ""}
    if port is not None:
        out["ClientIPPort"] = port
    return out


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(v) for v in value)
    if value is None:
        return "$null"
    if isinstance(value, datetime):
        return format_time(value)
    if hasattr(value, "add") and hasattr(value, "remove"):  # MultiValueChange
        return f"@{{Add={_value_text(list(value.add))}; Remove={_value_text(list(value.remove))}}}"
    return str(value)


def redact_parameters(params: Mapping[str, Any], secret_names: Iterable[str] = ()) -> list[dict[str, str]]:
    """Parameters as ``[{Name, Value}]`` with secrets replaced, whatever the cmdlet declared."""
    secret = {n.lower() for n in secret_names}
    return [
        {
            "Name": name,
            "Value": REDACTED if name.lower() in secret or _SECRET_NAME.search(name) else _value_text(value),
        }
        for name, value in params.items()
    ]


def new_record(
    *,
    record_type: RecordType,
    operation: str,
    tenant_id: str,
    when: datetime,
    principal: Principal,
    user_id: str,
    workload: str,
    result_status: str,
    object_id: str | None = None,
    client_ip: str | None = None,
    client_port: int | None = None,
    app_id: str | None = None,
    session_id: str | None = None,
    client_request_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "Id": str(uuid.uuid4()),
        "RecordType": int(record_type),
        "CreationTime": format_time(when),
        "Operation": operation,
        "OrganizationId": tenant_id,
        "UserType": int(user_type_of(principal)),
        "UserKey": principal.id,
        "UserId": user_id,
        "Workload": workload,
        "ResultStatus": result_status,
        "ObjectId": object_id or "",
        **client_ip_fields(client_ip, client_port),
    }
    if app_id:
        record["AppId"] = app_id
    if session_id:
        record["SessionId"] = session_id
    if client_request_id:
        record["ClientRequestId"] = client_request_id
    if extra:
        record.update(extra)
    return record


def exchange_admin_record(
    *,
    operation: str,
    tenant_id: str,
    organization_name: str,
    when: datetime,
    principal: Principal,
    params: Mapping[str, Any],
    secret_names: Iterable[str],
    succeeded: bool,
    object_id: str | None,
    modified: list[dict[str, str]] | None = None,
    error: str | None = None,
    preview: bool = False,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """RecordType 1 (ExchangeAdmin): one per write cmdlet call, success or failure; ``-WhatIf`` previews
    are recorded too, marked ``IsPreview``."""
    ctx = dict(context or {})
    extra: dict[str, Any] = {
        "Parameters": redact_parameters(params, secret_names),
        "ModifiedProperties": modified or [],
        "ExternalAccess": False,
        "OrganizationName": organization_name,
        "OriginatingServer": "mailwarden",
    }
    if preview:
        extra["IsPreview"] = True
    if error:
        extra["ErrorCode"] = error
    return new_record(
        record_type=RecordType.ExchangeAdmin,
        operation=operation,
        tenant_id=tenant_id,
        when=when,
        principal=principal,
        user_id=principal.display_name,
        workload="Exchange",
        result_status="True" if succeeded else "False",
        object_id=object_id,
        client_ip=ctx.get("client_ip"),
        client_port=ctx.get("client_port"),
        app_id=ctx.get("app_id"),
        session_id=ctx.get("session_id"),
        client_request_id=ctx.get("client_request_id"),
        extra=extra,
    )
