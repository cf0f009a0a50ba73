"""Tables. Every row that belongs to a tenant carries ``tenant_id``; every query filters on it.

Recipients keep the properties that filters, sorting and uniqueness need as real columns (so OPATH compiles
to indexed SQL); the long tail of Exchange properties lives in the ``props`` JSON column.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiKey",
    "Base",
    "CasMailbox",
    "ConfigObject",
    "GroupMember",
    "InboxRule",
    "MailboxPermission",
    "ProxyAddress",
    "RateLimitWindow",
    "Recipient",
    "RecipientPermission",
    "SigningKey",
    "Tenant",
]

# BigInteger primary keys that still autoincrement on SQLite (where only INTEGER PRIMARY KEY does).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    initial_domain: Mapped[str] = mapped_column(String(256), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ApiKey(Base):
    """Bootstrap bearer keys (until the identity service issues tokens). Only a SHA-256 of the key is kept:
    the key is 256 random bits, so a slow password hash adds nothing."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class SigningKey(Base):
    """Symmetric and asymmetric keys with ids, wrapped (AES-GCM) under the master secret."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    material: Mapped[bytes] = mapped_column(LargeBinary)


class RateLimitWindow(Base):
    __tablename__ = "rate_limits"

    principal_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)


class Recipient(Base):
    __tablename__ = "recipients"
    __table_args__ = (
        # Exchange names are unique per organisation, compared without regard to case.
        Index("uq_recipients_tenant_name", "tenant_id", text("lower(name)"), unique=True),
        UniqueConstraint("tenant_id", "guid", name="uq_recipients_tenant_guid"),
        Index("ix_recipients_tenant_id_pk", "tenant_id", "id"),
        Index("ix_recipients_tenant_alias", "tenant_id", text("lower(alias)")),
        Index("ix_recipients_tenant_upn", "tenant_id", text("lower(user_principal_name)")),  # 0007
        Index("ix_recipients_tenant_department", "tenant_id", text("lower(department)")),
        Index("ix_recipients_tenant_type", "tenant_id", "recipient_type_details", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    guid: Mapped[str] = mapped_column(String(36))
    exchange_guid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    external_directory_object_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    recipient_type: Mapped[str] = mapped_column(String(64))
    recipient_type_details: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(256))
    alias: Mapped[str | None] = mapped_column(String(64), nullable=True)
    display_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    first_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    primary_smtp_address: Mapped[str | None] = mapped_column(String(320), nullable=True)
    user_principal_name: Mapped[str | None] = mapped_column(String(320), nullable=True)
    external_email_address: Mapped[str | None] = mapped_column(String(330), nullable=True)
    department: Mapped[str | None] = mapped_column(String(64), nullable=True)
    company: Mapped[str | None] = mapped_column(String(64), nullable=True)
    title: Mapped[str | None] = mapped_column(String(128), nullable=True)
    office: Mapped[str | None] = mapped_column(String(128), nullable=True)
    city: Mapped[str | None] = mapped_column(String(128), nullable=True)
    state_or_province: Mapped[str | None] = mapped_column(String(128), nullable=True)
    country_or_region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    postal_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True
    )
    hidden_from_address_lists_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    forwarding_smtp_address: Mapped[str | None] = mapped_column(String(330), nullable=True)
    forwarding_address_id: Mapped[int | None] = mapped_column(
        ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True
    )
    deliver_to_mailbox_and_forward: Mapped[bool] = mapped_column(Boolean, default=False)
    litigation_hold_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    audit_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    account_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    resource_capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    props: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total_item_size: Mapped[int] = mapped_column(BigInteger, default=0)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    when_created: Mapped[datetime] = mapped_column(DateTime)
    when_changed: Mapped[datetime] = mapped_column(DateTime)


class ProxyAddress(Base):
    """One EmailAddresses entry. ``address_key`` is unique per tenant: no two recipients share an address.
    For SMTP it is the lower-cased address without prefix; for other types ``type:address`` lower-cased."""

    __tablename__ = "proxy_addresses"
    __table_args__ = (
        UniqueConstraint("tenant_id", "address_key", name="uq_proxy_tenant_address"),
        Index("ix_proxy_recipient", "recipient_id"),
        # EmailAddresses -eq/-like compile to lower(address) comparisons.
        Index("ix_proxy_lower_address", text("lower(address)")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(340))
    address_key: Mapped[str] = mapped_column(String(340))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)


class GroupMember(Base):
    __tablename__ = "group_members"
    __table_args__ = (Index("ix_group_members_member", "member_id"),)

    group_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class CasMailbox(Base):
    """Client access settings, created with their mailbox (Get-/Set-CASMailbox)."""

    __tablename__ = "cas_mailboxes"

    recipient_id: Mapped[int] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    owa_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    ews_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    mapi_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    pop_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    imap_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    activesync_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # None = follow TransportConfig.SmtpClientAuthenticationDisabled (Exchange's $null).
    smtp_client_authentication_disabled: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    when_changed: Mapped[datetime] = mapped_column(DateTime)


class MailboxPermission(Base):
    __tablename__ = "mailbox_permissions"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "trustee_id", "deny", name="uq_mailbox_permission"),
        Index("ix_mailbox_permissions_trustee", "trustee_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    trustee_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    access_rights: Mapped[str] = mapped_column(String(256))
    deny: Mapped[bool] = mapped_column(Boolean, default=False)
    inheritance_type: Mapped[str] = mapped_column(String(32), default="All")
    automapping: Mapped[bool] = mapped_column(Boolean, default=True)
    when_created: Mapped[datetime] = mapped_column(DateTime)


class RecipientPermission(Base):
    __tablename__ = "recipient_permissions"
    __table_args__ = (
        UniqueConstraint("recipient_id", "trustee_id", "access_control_type", name="uq_recipient_permission"),
        Index("ix_recipient_permissions_trustee", "trustee_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    trustee_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    access_rights: Mapped[str] = mapped_column(String(64), default="SendAs")
    access_control_type: Mapped[str] = mapped_column(String(16), default="Allow")
    when_created: Mapped[datetime] = mapped_column(DateTime)


class InboxRule(Base):
    __tablename__ = "inbox_rules"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "name", name="uq_inbox_rule_name"),
        Index("ix_inbox_rules_tenant", "tenant_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    rule_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(256))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int] = mapped_column(Integer)
    props: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    when_changed: Mapped[datetime] = mapped_column(DateTime)


class ConfigObject(Base):
    """Organization configuration objects (OrganizationConfig, RemoteDomain, TransportRule, …): one table,
    ``kind`` says which; their properties are JSON because they are few per tenant and never bulk-filtered."""

    __tablename__ = "config_objects"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "name", name="uq_config_object_name"),
        UniqueConstraint("tenant_id", "guid", name="uq_config_object_guid"),
        Index("ix_config_objects_kind", "tenant_id", "kind", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    guid: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(256))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    props: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    when_created: Mapped[datetime] = mapped_column(DateTime)
    when_changed: Mapped[datetime] = mapped_column(DateTime)
