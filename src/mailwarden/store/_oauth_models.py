"""OAuth tables (RFC 6749, RFC 8628, RFC 7636, RFC 7523). Every row is tenant-scoped. Secrets are never kept in
the clear: device codes, authorization codes, refresh tokens and client secrets are 256-bit random values
stored as SHA-256 hex; signing keys live in ``signing_keys`` wrapped under the master secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ._models import Base, BigId

__all__ = [
    "OAuthAssertionJti",
    "OAuthAuthCode",
    "OAuthClient",
    "OAuthClientCert",
    "OAuthDeviceCode",
    "OAuthRefreshFamily",
    "OAuthRefreshToken",
]


class OAuthClient(Base):
    """A registered client: the tenant's built-in public client, or an app (confidential client)."""

    __tablename__ = "oauth_clients"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the client_id (GUID)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    public: Mapped[bool] = mapped_column(Boolean)
    builtin: Mapped[str | None] = mapped_column(String(32), nullable=True)  # "cli" for the built-in client
    redirect_uris: Mapped[list[Any]] = mapped_column(JSON)
    role_groups: Mapped[list[Any]] = mapped_column(JSON)
    secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (UniqueConstraint("tenant_id", "builtin", name="uq_oauth_clients_builtin"),)


class OAuthClientCert(Base):
    """A certificate registered for private_key_jwt (RFC 7523 §2.2), matched by its SHA-1 or SHA-256 thumbprint."""

    __tablename__ = "oauth_client_certs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True)
    sha1: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    pem: Mapped[str] = mapped_column(Text)
    not_after: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class OAuthDeviceCode(Base):
    """RFC 8628 §3.2: one device authorization; ``status`` pending → approved/denied → used."""

    __tablename__ = "oauth_device_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    user_code: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    interval: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    last_poll_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    sign_in: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (UniqueConstraint("tenant_id", "user_code", name="uq_oauth_device_codes_user_code"),)


class OAuthAuthCode(Base):
    """RFC 6749 §4.1.2 authorization code with its RFC 7636 challenge; single use."""

    __tablename__ = "oauth_auth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scopes: Mapped[list[Any]] = mapped_column(JSON)
    code_challenge: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str | None] = mapped_column(String(256), nullable=True)
    sign_in: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    family_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class OAuthRefreshFamily(Base):
    """All refresh tokens descended from one grant (RFC 6749 §10.4, OAuth 2.0 Security BCP §4.14.2)."""

    __tablename__ = "oauth_refresh_families"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(36))
    session_id: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[Any]] = mapped_column(JSON)
    sign_in: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)


class OAuthRefreshToken(Base):
    """One refresh token of a family; ``rotated_at`` set once it has been exchanged."""

    __tablename__ = "oauth_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(ForeignKey("oauth_refresh_families.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    idle_expires_at: Mapped[datetime] = mapped_column(DateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    __table_args__ = (Index("ix_oauth_refresh_tokens_family_id", "family_id"),)


class OAuthAssertionJti(Base):
    """Client-assertion ``jti`` values seen (RFC 7523 §3 item 7), kept until the assertion expires."""

    __tablename__ = "oauth_assertion_jtis"

    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), primary_key=True
    )
    jti: Mapped[str] = mapped_column(String(256), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    assertion_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
