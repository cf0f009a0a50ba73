"""Mailbox audit ingestion (DESIGN §7 "Mailbox audit"): a mail store submits the mailbox actions it saw.

``POST /api/v1.0/{tenant}/audit/mailbox-events`` with a JSON array of events (schema below, at most
:data:`MAX_BATCH`). The caller must be an **app** (client credentials token, ``Principal(kind="app")``) that
belongs to the role group :data:`INGESTION_ROLE_GROUP` (``mailwarden app create --role-group "Mailbox Audit
Ingestion"``); anything else is 403 and the denial is audited (high severity). Until RBAC lands, an app's role
groups are the ones stored with its OAuth client (:func:`app_role_groups`).

The batch is one transaction, all or nothing: a schema error is 400, an event whose mailbox (``MailboxGuid``
or ``MailboxOwnerUPN``) is not in the tenant is 404. Each event's ``Id`` becomes the record's ``Id``:
submitting the same event again is accepted and changes nothing (``Duplicate``); a *different* event reusing
an ``Id`` is 409. Whether an event is kept is the mailbox audit policy's decision (``audit._mailbox.decide``:
org ``AuditDisabled``, mailbox type and ``AuditEnabled``, the logon type's action set, the acting account's
bypass association) — events it drops are answered ``NotAudited``. The tenant's log lock is taken first, so
concurrent submissions of one ``Id`` are serialised and the second sees the first.

This module deliberately does not use ``from __future__ import annotations``: the route is declared inside
:func:`install_mailbox_audit_routes` with the API's own authentication dependency, imported there (the app
module imports this one), and FastAPI must see the real annotation objects.
"""

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ..audit._canonical import canonical_json
from ..audit._log import lock_state
from ..audit._mailbox import MAILBOX_ACTIONS, LogonType, MailboxEvent, record_mailbox_action
from ..audit._mailbox_store import is_bypassed, mailbox_ref, mailbox_settings, org_audit_disabled
from ..audit._records import RecordType, new_record
from ..cmdlets import TenantInfo
from ..directory import MAILBOX_TYPES, try_resolve_recipient
from ..errors import AccessDeniedError, DuplicateObjectError, InvalidRequestError, NotFoundError
from ..oauth import SqlStore
from ..principal import Principal
from ..store import Recipient
from ..store._audit_models import AuditRecord
from ._responses import JsonResponse

__all__ = ["INGESTION_ROLE_GROUP", "MAX_BATCH", "app_role_groups", "install_mailbox_audit_routes"]

INGESTION_ROLE_GROUP = "Mailbox Audit Ingestion"
MAX_BATCH = 1000
# Events may arrive late (a store's queue), never from the future beyond clock skew.
MAX_CLOCK_SKEW = timedelta(minutes=5)


# --- schema (inbound) ----------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FolderIn(_Strict):
    Id: str | None = Field(default=None, max_length=512)
    Path: str | None = Field(default=None, max_length=1024)


class ItemIn(_Strict):
    Id: str | None = Field(default=None, max_length=512)
    Subject: str | None = Field(default=None, max_length=1024)
    InternetMessageId: str | None = Field(default=None, max_length=998)
    SizeInBytes: int | None = Field(default=None, ge=0)
    Attachments: str | None = Field(default=None, max_length=4096)
    ParentFolder: FolderIn | None = None


class NameValueIn(_Strict):
    Name: str = Field(min_length=1, max_length=128)
    Value: str = Field(max_length=4096)


class MailboxEventIn(_Strict):
    Id: uuid.UUID
    CreationTime: datetime
    Operation: str = Field(min_length=1, max_length=64)
    MailboxGuid: uuid.UUID | None = None
    MailboxOwnerUPN: str | None = Field(default=None, min_length=3, max_length=320)
    LogonType: Literal[0, 1, 2]
    InternalLogonType: Literal[0, 1, 2] | None = None
    UserId: str = Field(min_length=1, max_length=320, description="The acting account (UPN)")
    LogonUserSid: str | None = Field(default=None, max_length=256)
    ClientInfoString: str = Field(default="", max_length=1024)
    ClientIP: IPv4Address | IPv6Address | None = None
    ExternalAccess: bool = False
    ResultStatus: Literal["Succeeded", "Failed", "PartiallySucceeded"] = "Succeeded"
    Item: ItemIn | None = None
    Folder: FolderIn | None = None
    DestFolder: FolderIn | None = None
    AffectedItems: list[ItemIn] | None = Field(default=None, max_length=1000)
    OperationProperties: list[NameValueIn] | None = Field(default=None, max_length=50)

    @field_validator("Operation")
    @classmethod
    def _known_operation(cls, value: str) -> str:
        canonical = {a.lower(): a for a in MAILBOX_ACTIONS}.get(value.lower())
        if canonical is None:
            raise ValueError(f"'{value}' is not a mailbox audit action")
        return canonical

    @field_validator("CreationTime")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)

    def mailbox_ref_given(self) -> bool:
        return self.MailboxGuid is not None or bool(self.MailboxOwnerUPN)


_BATCH = TypeAdapter(Annotated[list[MailboxEventIn], Field(min_length=1, max_length=MAX_BATCH)])


def parse_batch(body: Any) -> list[MailboxEventIn]:
    """Validate a submitted batch; raises :class:`InvalidRequestError` (400) naming each problem."""
    try:
        events = _BATCH.validate_python(body)
    except ValidationError as exc:
        details = [
            {
                "code": "InvalidRequest",
                "target": ".".join(str(p) for p in e.get("loc", ())),
                "message": e.get("msg", ""),
            }
            for e in exc.errors()[:20]
        ]
        raise InvalidRequestError(
            "The body must be a JSON array of mailbox audit events.", details=details
        ) from None
    missing = [str(i) for i, e in enumerate(events) if not e.mailbox_ref_given()]
    if missing:
        raise InvalidRequestError(
            "Each event needs MailboxGuid or MailboxOwnerUPN.",
            details=[{"code": "InvalidRequest", "target": i, "message": "no mailbox"} for i in missing[:20]],
        )
    return events


def _digest(event: MailboxEventIn) -> str:
    return hashlib.sha256(canonical_json(event.model_dump(mode="json", exclude_none=True))).hexdigest()


# --- who may submit ------------------------------------------------------------------------------------------


def app_role_groups(session: Session, principal: Principal) -> tuple[str, ...]:
    """The role groups an app principal belongs to: those stored with its OAuth client (``mailwarden app
    create --role-group``). Users and keys have none here — ingestion is for apps only. Replace with the
    RBAC layer's answer when it lands."""
    if principal.kind != "app":
        return ()
    client = SqlStore(session).client(principal.tenant_id, principal.id)
    if client is None or client.disabled or client.public:
        return ()
    return client.role_groups


def _require_ingestion_app(session: Session, principal: Principal) -> None:
    if principal.kind != "app":
        raise AccessDeniedError(
            "Mailbox audit events are submitted by an app (client credentials), not a user."
        )
    groups = {g.lower() for g in app_role_groups(session, principal)}
    if INGESTION_ROLE_GROUP.lower() not in groups:
        raise AccessDeniedError(f"The app is not a member of the role group '{INGESTION_ROLE_GROUP}'.")


# --- ingestion -----------------------------------------------------------------------------------------------


def _resolve_mailbox(session: Session, tenant_id: str, event: MailboxEventIn) -> Recipient:
    conditions = []
    if event.MailboxGuid is not None:
        guid = str(event.MailboxGuid)
        conditions.append(or_(Recipient.exchange_guid == guid, Recipient.guid == guid))
    if event.MailboxOwnerUPN:
        conditions.append(func.lower(Recipient.user_principal_name) == event.MailboxOwnerUPN.lower())
    rows = list(
        session.scalars(
            select(Recipient)
            .where(
                Recipient.tenant_id == tenant_id,
                Recipient.recipient_type_details.in_(sorted(MAILBOX_TYPES)),
                *conditions,  # both given: both must name the same mailbox
            )
            .limit(2)
        )
    )
    if len(rows) != 1:
        which = str(event.MailboxGuid) if event.MailboxGuid is not None else str(event.MailboxOwnerUPN)
        raise NotFoundError(
            f"The mailbox '{which}' of event '{event.Id}' was not found in this organization."
        )
    return rows[0]


def ingest(
    state: Any,
    session: Session,
    tenant_id: str,
    organization: str,
    principal: Principal,
    events: list[MailboxEventIn],
) -> list[dict[str, str]]:
    """Apply one validated batch inside ``session``'s transaction; returns each event's outcome."""
    lock_state(session, tenant_id)  # serialise with every other append to this tenant's log
    now = state.audit.now()
    disabled = org_audit_disabled(session, tenant_id)
    seen: dict[str, str] = {}
    results: list[dict[str, str]] = []
    for event in events:
        record_id = str(event.Id)
        digest = _digest(event)
        if event.CreationTime > now + MAX_CLOCK_SKEW:
            raise InvalidRequestError(f"Event '{record_id}' has a CreationTime in the future.")
        mailbox = _resolve_mailbox(session, tenant_id, event)
        if record_id in seen:
            if seen[record_id] != digest:
                raise DuplicateObjectError(
                    f"Event Id '{record_id}' is used twice in this batch for different events."
                )
            results.append({"Id": record_id, "Status": "Duplicate"})
            continue
        seen[record_id] = digest
        stored = session.scalar(
            select(AuditRecord.data).where(
                AuditRecord.tenant_id == tenant_id, AuditRecord.record_id == record_id
            )
        )
        if stored is not None:
            if stored.get("IngestionDigest") != digest:
                raise DuplicateObjectError(
                    f"An audit record with Id '{record_id}' already exists and differs from this event."
                )
            results.append({"Id": record_id, "Status": "Duplicate"})
            continue
        actors = try_resolve_recipient(session, tenant_id, event.UserId)
        actor = actors[0] if len(actors) == 1 else None
        extra: dict[str, Any] = {"IngestionDigest": digest}
        if event.DestFolder is not None:
            extra["DestFolder"] = event.DestFolder.model_dump(exclude_none=True)
        if event.OperationProperties is not None:
            extra["OperationProperties"] = [p.model_dump() for p in event.OperationProperties]
        appended = record_mailbox_action(
            state.audit,
            session,
            tenant_id=tenant_id,
            organization_name=organization,
            principal=principal,
            mailbox=mailbox_ref(mailbox),
            settings=mailbox_settings(mailbox),
            org_audit_disabled=disabled,
            actor_bypassed=is_bypassed(session, tenant_id, actor),
            event=MailboxEvent(
                operation=event.Operation,
                logon_type=LogonType(event.LogonType),
                when=event.CreationTime,
                actor_id=event.LogonUserSid or (actor.guid if actor is not None else event.UserId),
                actor_name=event.UserId,
                client_info=event.ClientInfoString,
                client_ip=None if event.ClientIP is None else str(event.ClientIP),
                external_access=event.ExternalAccess,
                internal_logon_type=event.InternalLogonType,
                result_status=event.ResultStatus,
                record_id=record_id,
                item=None if event.Item is None else event.Item.model_dump(exclude_none=True),
                folder=None if event.Folder is None else event.Folder.model_dump(exclude_none=True),
                affected_items=None
                if event.AffectedItems is None
                else [i.model_dump(exclude_none=True) for i in event.AffectedItems],
                extra=extra,
            ),
        )
        results.append({"Id": record_id, "Status": "Recorded" if appended is not None else "NotAudited"})
    return results


def install_mailbox_audit_routes(app: FastAPI, state: Any) -> None:
    from ._app import CallerDep  # the app module imports this one; by now it is fully loaded

    @app.post(
        "/api/v1.0/{tenant}/audit/mailbox-events",
        tags=["audit"],
        responses={
            400: {"description": "Schema error"},
            401: {"description": "Missing or invalid token"},
            403: {"description": "Not an app of the 'Mailbox Audit Ingestion' role group"},
            404: {"description": "Unknown mailbox"},
            409: {"description": "An event Id was reused for a different event"},
        },
    )
    async def submit_mailbox_events(request: Request, caller: CallerDep) -> JsonResponse:
        raw = await request.body()
        return await run_in_threadpool(_submit, state, request, caller, raw)


def _submit(state: Any, request: Request, caller: tuple[TenantInfo, Principal], raw: bytes) -> JsonResponse:
    tenant, principal = caller
    state.limiter.hit(principal.key)
    denied: AccessDeniedError | None = None
    with state.db.unit_of_work(write=False) as uow:
        try:
            _require_ingestion_app(uow.session, principal)
        except AccessDeniedError as exc:
            denied = exc
    if denied is not None:
        _audit_denial(state, tenant.id, principal, request, denied)
        raise denied
    try:
        body = json.loads(raw)
    except ValueError:
        raise InvalidRequestError("The body must be a JSON array of mailbox audit events.") from None
    events = parse_batch(body)
    with state.db.unit_of_work() as uow:
        results = ingest(state, uow.session, tenant.id, tenant.initial_domain, principal, events)
    counts = {s: sum(1 for r in results if r["Status"] == s) for s in ("Recorded", "Duplicate", "NotAudited")}
    return JsonResponse({"value": results, **counts})


def _audit_denial(
    state: Any, tenant_id: str, principal: Principal, request: Request, error: AccessDeniedError
) -> None:
    peer = request.client

    def build() -> dict[str, Any]:
        return new_record(
            record_type=RecordType.MailwardenAuditAccess,
            operation="SubmitMailboxAuditEvents",
            tenant_id=tenant_id,
            when=state.audit.now(),
            principal=principal,
            user_id=principal.display_name,
            workload="Exchange",
            result_status="False",
            client_ip=peer.host if peer else None,
            client_port=peer.port if peer else None,
            app_id=principal.id if principal.kind == "app" else None,
            extra={"ErrorCode": error.code, "ErrorMessage": error.message},
        )

    state.audit.record_separately(tenant_id, build, high_severity=True)
