"""Organization configuration objects (one ``config_objects`` row each): lookup by ``-Identity``, create,
change, remove, rule ordering, and their Exchange output form.

Every kind (OrganizationConfig, RemoteDomain, TransportRule, …) goes through these few functions; what differs
between kinds is data (the kind string, its defaults, its settable properties), never a code path. Names are
unique per tenant and kind without regard to case, as Exchange compares them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from mailwarden.errors import AmbiguousIdentityError, DuplicateObjectError, NotFoundError
from mailwarden.store import ConfigObject, InboxRule

from ._views import iso

__all__ = [
    "ACCEPTED_DOMAIN",
    "ADMIN_AUDIT_LOG_CONFIG",
    "CONFIG_KINDS",
    "DKIM_SIGNING_CONFIG",
    "MAILBOX_AUDIT_BYPASS_ASSOCIATION",
    "ORGANIZATION_CONFIG",
    "REMOTE_DOMAIN",
    "SHARING_POLICY",
    "TRANSPORT_CONFIG",
    "TRANSPORT_RULE",
    "config_objects",
    "config_query",
    "create_config_object",
    "ensure_config_name_free",
    "find_config_object",
    "new_config_object",
    "not_found",
    "renumber",
    "require_config_object",
    "serialize_config_object",
    "update_config_object",
]

ORGANIZATION_CONFIG = "OrganizationConfig"
ADMIN_AUDIT_LOG_CONFIG = "AdminAuditLogConfig"
TRANSPORT_CONFIG = "TransportConfig"
REMOTE_DOMAIN = "RemoteDomain"
ACCEPTED_DOMAIN = "AcceptedDomain"
SHARING_POLICY = "SharingPolicy"
DKIM_SIGNING_CONFIG = "DkimSigningConfig"
TRANSPORT_RULE = "TransportRule"
MAILBOX_AUDIT_BYPASS_ASSOCIATION = "MailboxAuditBypassAssociation"

CONFIG_KINDS = (
    ORGANIZATION_CONFIG,
    ADMIN_AUDIT_LOG_CONFIG,
    TRANSPORT_CONFIG,
    REMOTE_DOMAIN,
    ACCEPTED_DOMAIN,
    SHARING_POLICY,
    DKIM_SIGNING_CONFIG,
    TRANSPORT_RULE,
    MAILBOX_AUDIT_BYPASS_ASSOCIATION,
)


def not_found(identity: str, where: str) -> NotFoundError:
    """Exchange's wording; ``where`` is the tenant's initial domain."""
    return NotFoundError(
        f"The operation couldn't be performed because object '{identity}' couldn't be found on '{where}'."
    )


def config_query(tenant_id: str, kind: str) -> Select[ConfigObject]:
    return select(ConfigObject).where(ConfigObject.tenant_id == tenant_id, ConfigObject.kind == kind)


def config_objects(session: Session, tenant_id: str, kind: str) -> list[ConfigObject]:
    """All objects of a kind, in priority order (creation order among equals)."""
    stmt = config_query(tenant_id, kind).order_by(ConfigObject.priority, ConfigObject.id)
    return list(session.scalars(stmt))


def find_config_object(session: Session, tenant_id: str, kind: str, identity: str) -> ConfigObject | None:
    """The object whose name (any case) or GUID is ``identity``."""
    text = identity.strip()
    condition = func.lower(ConfigObject.name) == text.lower()
    with contextlib.suppress(ValueError):
        condition = or_(condition, ConfigObject.guid == str(uuid.UUID(text)))
    rows = list(session.scalars(config_query(tenant_id, kind).where(condition).order_by(ConfigObject.id)))
    if len(rows) > 1:
        # Only possible when one object's name is another's GUID; Exchange refuses to guess too.
        raise AmbiguousIdentityError(identity, [row.name for row in rows])
    return rows[0] if rows else None


def require_config_object(
    session: Session, tenant_id: str, kind: str, identity: str, *, where: str
) -> ConfigObject:
    row = find_config_object(session, tenant_id, kind, identity)
    if row is None:
        raise not_found(identity, where)
    return row


def ensure_config_name_free(
    session: Session, tenant_id: str, kind: str, name: str, *, exclude_id: int | None = None
) -> None:
    stmt = config_query(tenant_id, kind).where(func.lower(ConfigObject.name) == name.strip().lower())
    if exclude_id is not None:
        stmt = stmt.where(ConfigObject.id != exclude_id)
    if session.scalars(stmt.limit(1)).first() is not None:
        raise DuplicateObjectError(f"The {kind} object '{name}' already exists.")


def create_config_object(
    session: Session,
    tenant_id: str,
    kind: str,
    name: str,
    props: dict[str, Any],
    now: datetime,
    *,
    priority: int = 0,
    guid: str | None = None,
) -> ConfigObject:
    ensure_config_name_free(session, tenant_id, kind, name)
    row = new_config_object(tenant_id, kind, name, props, now, priority=priority, guid=guid)
    session.add(row)
    session.flush()
    return row


def new_config_object(
    tenant_id: str,
    kind: str,
    name: str,
    props: dict[str, Any],
    now: datetime,
    *,
    priority: int = 0,
    guid: str | None = None,
) -> ConfigObject:
    """A new (unsaved) configuration object; callers check the name is free first."""
    return ConfigObject(
        tenant_id=tenant_id,
        kind=kind,
        guid=guid or str(uuid.uuid4()),
        name=name,
        priority=priority,
        props=dict(props),
        when_created=now,
        when_changed=now,
    )


def update_config_object(
    row: ConfigObject, props: dict[str, Any], now: datetime, *, name: str | None = None
) -> bool:
    """Store new properties (and name); returns whether anything changed. WhenChanged moves only then."""
    changed = False
    if name is not None and name != row.name:
        row.name = name
        changed = True
    if props != row.props:
        # A new dict, so SQLAlchemy sees the JSON column change.
        row.props = dict(props)
        changed = True
    if changed:
        row.when_changed = now
    return changed


def renumber(rows: Sequence[ConfigObject | InboxRule], *, base: int) -> None:
    """Give ``rows`` (already in their new order) consecutive priorities from ``base``, Exchange-style:
    inserting or moving a rule shifts the others instead of leaving gaps or duplicates."""
    for index, row in enumerate(rows):
        if row.priority != base + index:
            row.priority = base + index


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def serialize_config_object(
    row: ConfigObject, *, identity: str | None = None, with_priority: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {"Identity": identity or row.name, "Name": row.name}
    if with_priority:
        out["Priority"] = row.priority
    out.update({key: _copy(value) for key, value in row.props.items()})
    out["Guid"] = row.guid
    out["WhenChanged"] = iso(row.when_changed)
    out["WhenCreated"] = iso(row.when_created)
    out["WhenChangedUTC"] = out["WhenChanged"]
    out["WhenCreatedUTC"] = out["WhenCreated"]
    return out
