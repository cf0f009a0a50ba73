"""What the mailbox audit policy (``_mailbox``) needs from the directory, read inside the caller's unit of
work: the mailbox's audit settings, ``OrganizationConfig.AuditDisabled``, bypass associations, and which
mailbox (if any) an acting principal owns."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..directory._config_objects import (
    MAILBOX_AUDIT_BYPASS_ASSOCIATION,
    ORGANIZATION_CONFIG,
    config_query,
)
from ..directory._fields import AUDIT_ADMIN_DEFAULT, AUDIT_DELEGATE_DEFAULT, AUDIT_OWNER_DEFAULT
from ..directory._types import MAILBOX_TYPES
from ..principal import Principal
from ..store import ConfigObject, Recipient
from ..store._identity_models import IdentityUser
from ._mailbox import LogonType, MailboxAuditSettings, MailboxRef

__all__ = [
    "actor_recipient",
    "admin_plane_logon_type",
    "is_bypassed",
    "mailbox_ref",
    "mailbox_settings",
    "org_audit_disabled",
]


def mailbox_settings(row: Recipient) -> MailboxAuditSettings:
    props = row.props or {}
    return MailboxAuditSettings.of(
        audit_enabled=bool(row.audit_enabled),
        owner=props.get("AuditOwner", AUDIT_OWNER_DEFAULT),
        admin=props.get("AuditAdmin", AUDIT_ADMIN_DEFAULT),
        delegate=props.get("AuditDelegate", AUDIT_DELEGATE_DEFAULT),
        recipient_type_details=row.recipient_type_details,
    )


def mailbox_ref(row: Recipient) -> MailboxRef:
    return MailboxRef(
        guid=row.exchange_guid or row.guid,
        owner_upn=row.user_principal_name or row.primary_smtp_address or row.name,
        identity=row.name,
        resolved_owner_name=row.display_name or row.name,
    )


def org_audit_disabled(session: Session, tenant_id: str) -> bool:
    row = session.scalars(config_query(tenant_id, ORGANIZATION_CONFIG).limit(1)).first()
    return bool(row is not None and row.props.get("AuditDisabled"))


def is_bypassed(session: Session, tenant_id: str, account: Recipient | None) -> bool:
    """Whether ``account`` has ``AuditBypassEnabled = $true`` (associations are keyed by recipient GUID)."""
    if account is None:
        return False
    row = session.scalars(
        config_query(tenant_id, MAILBOX_AUDIT_BYPASS_ASSOCIATION).where(ConfigObject.name == account.guid)
    ).first()
    return bool(row is not None and row.props.get("AuditBypassEnabled"))


def actor_recipient(session: Session, tenant_id: str, principal: Principal) -> Recipient | None:
    """The directory recipient of a signed-in user: the one the account is linked to, else the one whose
    UPN is the account's. Apps, bootstrap keys and the system have none (they cannot own or bypass)."""
    if principal.kind != "user":
        return None
    user = session.get(IdentityUser, principal.id)
    if user is None or user.tenant_id != tenant_id:
        return None
    if user.recipient_id is not None:
        linked = session.get(Recipient, user.recipient_id)
        if linked is not None:
            return linked
    return session.scalars(
        select(Recipient)
        .where(Recipient.tenant_id == tenant_id, func.lower(Recipient.user_principal_name) == user.upn_key)
        .order_by(Recipient.id)
        .limit(1)
    ).first()


def admin_plane_logon_type(actor: Recipient | None, mailbox: Recipient) -> LogonType:
    """A change made through the admin plane is an Admin logon, unless the caller changes their own
    mailbox (then it is the Owner's)."""
    if actor is not None and actor.id == mailbox.id and mailbox.recipient_type_details in MAILBOX_TYPES:
        return LogonType.Owner
    return LogonType.Admin
