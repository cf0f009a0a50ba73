"""Identity tables: accounts, second factors, sign-in throttles, sessions, notification events and conditional
access. Every row carries ``tenant_id``. Secrets are never stored in the clear: passwords and recovery codes as
argon2id hashes, session secrets as SHA-256, TOTP seeds wrapped with :class:`~mailwarden.store.SecretBox`.
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
)
from sqlalchemy.orm import Mapped, mapped_column

from ._models import Base, BigId

__all__ = [
    "CaNamedLocation",
    "CaPolicy",
    "IdentityEvent",
    "IdentitySession",
    "IdentityUser",
    "LoginThrottle",
    "RecoveryCode",
    "TotpFactor",
    "WebAuthnCredential",
]


class IdentityUser(Base):
    __tablename__ = "identity_users"
    __table_args__ = (UniqueConstraint("tenant_id", "upn_key", name="uq_identity_users_tenant_upn"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    upn: Mapped[str] = mapped_column(String(320))
    upn_key: Mapped[str] = mapped_column(String(320))  # lower-cased UPN: unique per tenant
    display_name: Mapped[str] = mapped_column(String(256))
    password_hash: Mapped[str | None] = mapped_column(String(256), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    role_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class TotpFactor(Base):
    """One confirmed TOTP factor per user (a pending enrolment has ``confirmed_at`` NULL)."""

    __tablename__ = "identity_totp"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("identity_users.id", ondelete="CASCADE"), index=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary)  # SecretBox-wrapped, aad = "totp:<tenant>:<user>"
    created_at: Mapped[datetime] = mapped_column(DateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class WebAuthnCredential(Base):
    __tablename__ = "identity_webauthn"
    __table_args__ = (UniqueConstraint("tenant_id", "credential_id", name="uq_identity_webauthn_cred"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("identity_users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400))  # base64url
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE key
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class RecoveryCode(Base):
    __tablename__ = "identity_recovery_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("identity_users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class LoginThrottle(Base):
    """Consecutive-failure counters: ``key`` is ``acct:<upn>``, ``ip:<address>``, ``otp:<user id>`` or
    ``rc:<user id>``. Unknown accounts get rows too."""

    __tablename__ = "identity_throttles"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class IdentitySession(Base):
    """A browser sign-in. ``state``: ``pending`` (password done, second factor due), ``enrol`` (password done,
    TOTP enrolment forced) or ``active``. Only the SHA-256 of the cookie secret is kept."""

    __tablename__ = "identity_sessions"
    __table_args__ = (Index("ix_identity_sessions_tenant_user", "tenant_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("identity_users.id", ondelete="CASCADE"))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    auth_time: Mapped[datetime] = mapped_column(DateTime)
    mfa_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(256), nullable=True)
    challenge: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    challenge_purpose: Mapped[str | None] = mapped_column(String(32), nullable=True)
    challenge_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class IdentityEvent(Base):
    """Notification/log events (recovery code used, factor added/removed, lockout...), for the user and for
    the audit log to pick up."""

    __tablename__ = "identity_events"
    __table_args__ = (Index("ix_identity_events_tenant_user", "tenant_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    kind: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CaNamedLocation(Base):
    __tablename__ = "identity_ca_locations"
    __table_args__ = (UniqueConstraint("tenant_id", "name_key", name="uq_identity_ca_locations_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(128))
    cidrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class CaPolicy(Base):
    __tablename__ = "identity_ca_policies"
    __table_args__ = (UniqueConstraint("tenant_id", "name_key", name="uq_identity_ca_policies_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    all_users: Mapped[bool] = mapped_column(Boolean, default=False)
    users: Mapped[list[str]] = mapped_column(JSON, default=list)
    role_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    apps: Mapped[list[str]] = mapped_column(JSON, default=list)
    locations: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime)
