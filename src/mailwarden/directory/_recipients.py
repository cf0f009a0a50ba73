"""Create, change and remove recipients with Exchange's behaviours: alias and primary SMTP address derived
from the name and the default accepted domain, addresses unique in the tenant, a CASMailbox created with each
mailbox, and removal taking the recipient's permissions and memberships with it (foreign-key cascades)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..cmdlets._binding import MultiValueChange
from ..errors import ArgumentError, DuplicateObjectError
from ..store import CasMailbox, ConfigObject, Recipient
from ._addresses import (
    accepted_domains,
    address_key,
    apply_email_addresses,
    default_domain,
    load_addresses,
    make_alias,
    replace_addresses,
    set_primary_smtp,
)
from ._fields import Field, read_field, write_field
from ._types import MAILBOX_TYPES, RECIPIENT_TYPE

__all__ = [
    "apply_fields",
    "change_addresses",
    "change_external_address",
    "create_recipient",
    "ensure_name_free",
    "remove_recipient",
    "rename_recipient",
]


def ensure_name_free(session: Session, tenant_id: str, name: str, *, exclude_id: int | None = None) -> None:
    stmt = select(Recipient.id).where(
        Recipient.tenant_id == tenant_id, func.lower(Recipient.name) == name.lower()
    )
    if exclude_id is not None:
        stmt = stmt.where(Recipient.id != exclude_id)
    if session.scalar(stmt) is not None:
        raise DuplicateObjectError(f"The object '{name}' already exists.")


def _domains(session: Session, tenant_id: str) -> set[str]:
    return {d for d, _ in accepted_domains(session, tenant_id)}


def create_recipient(
    session: Session,
    tenant_id: str,
    *,
    type_details: str,
    name: str,
    now: datetime,
    alias: str | None = None,
    display_name: str | None = None,
    primary_smtp: str | None = None,
    upn: str | None = None,
    external_email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    fields: Sequence[tuple[Field, Any]] = (),
) -> Recipient:
    if not name.strip():
        raise ArgumentError("Name cannot be empty.")
    ensure_name_free(session, tenant_id, name)
    alias = alias or make_alias(name)
    domains = _domains(session, tenant_id)
    hosted_address = primary_smtp or f"{alias}@{default_domain(session, tenant_id)}"
    is_mailbox = type_details in MAILBOX_TYPES
    row = Recipient(
        tenant_id=tenant_id,
        guid=str(uuid.uuid4()),
        exchange_guid=str(uuid.uuid4()) if is_mailbox else None,
        external_directory_object_id=str(uuid.uuid4()) if is_mailbox or type_details == "MailUser" else None,
        recipient_type=RECIPIENT_TYPE[type_details],
        recipient_type_details=type_details,
        name=name,
        alias=alias,
        display_name=display_name or name,
        first_name=first_name,
        last_name=last_name,
        user_principal_name=(upn or hosted_address) if is_mailbox or type_details == "MailUser" else None,
        external_email_address=external_email,
        hidden_from_address_lists_enabled=False,
        deliver_to_mailbox_and_forward=False,
        litigation_hold_enabled=False,
        audit_enabled=True,
        account_disabled=type_details in {"SharedMailbox", "RoomMailbox", "EquipmentMailbox"},
        custom_attributes={},
        props={},
        when_created=now,
        when_changed=now,
    )
    session.add(row)
    session.flush()
    if type_details == "MailContact":
        # A contact's primary address is its external address; it need not be in an accepted domain.
        if not external_email:
            raise ArgumentError("ExternalEmailAddress is required for a mail contact.")
        replace_addresses(session, row, [f"SMTP:{external_email}"], domains=None)
    else:
        entries = [f"SMTP:{hosted_address}"]
        if type_details == "MailUser" and external_email:
            # The external address is also a proxy of the mail user (targetAddress), as in Exchange Online.
            entries.append(f"smtp:{external_email}")
            replace_addresses(session, row, entries, domains=None)
            # ...but the hosted primary must still be in an accepted domain.
            if hosted_address.rsplit("@", 1)[1].lower() not in domains:
                raise ArgumentError(
                    f"The domain of '{hosted_address}' isn't an accepted domain for your organization."
                )
        else:
            replace_addresses(session, row, entries, domains=domains)
    if is_mailbox:
        session.add(CasMailbox(recipient_id=row.id, tenant_id=tenant_id, when_changed=now))
    apply_fields(session, row, fields, now)
    return row


def apply_fields(
    session: Session, row: Recipient, changes: Sequence[tuple[Field, Any]], now: datetime
) -> None:
    for field, value in changes:
        if isinstance(value, MultiValueChange):
            current = list(read_field(row, field) or [])
            lowered = {v.lower() for v in value.remove}
            kept = [v for v in current if v.lower() not in lowered]
            value = kept + [v for v in value.add if v.lower() not in {k.lower() for k in kept}]
        write_field(row, field, value)
    if changes:
        row.when_changed = now


def rename_recipient(session: Session, row: Recipient, name: str, now: datetime) -> None:
    ensure_name_free(session, row.tenant_id, name, exclude_id=row.id)
    row.name = name
    row.when_changed = now


def change_addresses(
    session: Session,
    row: Recipient,
    *,
    email_addresses: tuple[str, ...] | MultiValueChange | None,
    primary_smtp: str | None,
    now: datetime,
) -> None:
    domains = None if row.recipient_type_details == "MailContact" else _domains(session, row.tenant_id)
    if email_addresses is not None:
        apply_email_addresses(session, row, email_addresses, domains=domains)
    if primary_smtp is not None:
        set_primary_smtp(session, row, primary_smtp, domains=domains)
    row.when_changed = now


def change_external_address(session: Session, row: Recipient, address: str, now: datetime) -> None:
    """A mail user's or contact's external (target) address is also one of its proxy addresses: the old one
    goes, the new one comes (for a contact it is the primary address)."""
    old = row.external_email_address
    current = load_addresses(session, [row.id])[row.id]
    kept = [e for e in current if not (old and address_key(e) == old.lower())]
    kept = [e for e in kept if address_key(e) != address.lower()]
    if row.recipient_type_details == "MailContact":
        entries = [f"SMTP:{address}", *[("smtp:" + e[5:]) if e.startswith("SMTP:") else e for e in kept]]
        replace_addresses(session, row, entries, domains=None)
    else:
        replace_addresses(
            session, row, [*kept, f"smtp:{address}"], domains=None, keep_primary=row.primary_smtp_address
        )
    row.external_email_address = address
    row.when_changed = now


def remove_recipient(session: Session, row: Recipient) -> None:
    # Permissions, memberships, proxies, inbox rules and CAS settings go by ON DELETE CASCADE; the audit
    # bypass association is keyed by GUID, so it is removed here.
    session.execute(
        delete(ConfigObject).where(
            ConfigObject.tenant_id == row.tenant_id,
            ConfigObject.kind == "MailboxAuditBypassAssociation",
            ConfigObject.name == row.guid,
        )
    )
    session.execute(delete(Recipient).where(Recipient.id == row.id))
    session.expunge(row)
