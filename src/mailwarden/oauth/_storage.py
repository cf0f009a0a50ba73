"""SQLAlchemy adapter for :class:`OAuthStore`. Reads that precede a state change (device code poll,
authorization code, refresh token) lock the row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite writers
already hold the database write lock), so two concurrent redemptions cannot both succeed (RFC 6749 §4.1.2,
§10.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..store._oauth_models import (
    OAuthAssertionJti,
    OAuthAuthCode,
    OAuthClient,
    OAuthClientCert,
    OAuthDeviceCode,
    OAuthRefreshFamily,
    OAuthRefreshToken,
)
from ._records import AuthCodeRecord, Client, ClientCert, DeviceRecord, RefreshFamily, RefreshRecord, SignIn

__all__ = ["SqlStore", "client_from_row"]

S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


def client_from_row(row: OAuthClient, certs: list[OAuthClientCert]) -> Client:
    return Client(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        public=row.public,
        redirect_uris=tuple(row.redirect_uris),
        role_groups=tuple(row.role_groups),
        secret_hash=row.secret_hash,
        certs=tuple(ClientCert(c.sha1, c.sha256, c.pem, c.not_after) for c in certs),
        disabled=row.disabled,
        builtin=row.builtin,
    )


def _family(row: OAuthRefreshFamily) -> RefreshFamily:
    return RefreshFamily(
        row.id,
        row.tenant_id,
        row.client_id,
        SignIn.from_json(row.sign_in),
        list(row.scopes),
        row.created_at,
        row.expires_at,
        row.revoked_at,
    )


class SqlStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._lock = session.get_bind().dialect.name == "postgresql"

    def _locked(self, stmt: S) -> S:
        return stmt.with_for_update() if self._lock else stmt

    # --- clients ---------------------------------------------------------------------------------------

    def client(self, tenant_id: str, client_id: str) -> Client | None:
        if len(client_id) > 36:
            return None
        row = self.session.get(OAuthClient, client_id)
        if row is None or row.tenant_id != tenant_id:
            return None
        # Public clients cannot authenticate with a certificate: skip the query on their hot path.
        certs = (
            []
            if row.public
            else list(
                self.session.scalars(select(OAuthClientCert).where(OAuthClientCert.client_id == row.id))
            )
        )
        return client_from_row(row, certs)

    # --- device codes (RFC 8628) -----------------------------------------------------------------------

    def add_device(self, record: DeviceRecord) -> None:
        self.session.add(
            OAuthDeviceCode(
                code_hash=record.code_hash,
                tenant_id=record.tenant_id,
                client_id=record.client_id,
                user_code=record.user_code,
                scopes=record.scopes,
                status=record.status,
                interval=record.interval,
                created_at=record.created_at,
                expires_at=record.expires_at,
                last_poll_at=record.last_poll_at,
                sign_in=None if record.sign_in is None else record.sign_in.to_json(),
            )
        )
        self.session.flush()

    def _device(self, row: OAuthDeviceCode | None) -> DeviceRecord | None:
        if row is None:
            return None
        return DeviceRecord(
            row.code_hash,
            row.tenant_id,
            row.client_id,
            row.user_code,
            list(row.scopes),
            row.status,
            row.interval,
            row.created_at,
            row.expires_at,
            row.last_poll_at,
            None if row.sign_in is None else SignIn.from_json(row.sign_in),
        )

    def device(self, code_hash: str) -> DeviceRecord | None:
        stmt = select(OAuthDeviceCode).where(OAuthDeviceCode.code_hash == code_hash)
        return self._device(self.session.scalar(self._locked(stmt)))

    def device_by_user_code(self, tenant_id: str, user_code: str) -> DeviceRecord | None:
        stmt = select(OAuthDeviceCode).where(
            OAuthDeviceCode.tenant_id == tenant_id, OAuthDeviceCode.user_code == user_code
        )
        return self._device(self.session.scalar(self._locked(stmt)))

    def save_device(self, record: DeviceRecord) -> None:
        self.session.execute(
            update(OAuthDeviceCode)
            .where(OAuthDeviceCode.code_hash == record.code_hash)
            .values(
                status=record.status,
                interval=record.interval,
                last_poll_at=record.last_poll_at,
                sign_in=None if record.sign_in is None else record.sign_in.to_json(),
            )
        )

    # --- authorization codes (RFC 6749 §4.1, RFC 7636) -------------------------------------------------

    def add_auth_code(self, record: AuthCodeRecord) -> None:
        self.session.add(
            OAuthAuthCode(
                code_hash=record.code_hash,
                tenant_id=record.tenant_id,
                client_id=record.client_id,
                redirect_uri=record.redirect_uri,
                scopes=record.scopes,
                code_challenge=record.code_challenge,
                nonce=record.nonce,
                sign_in=record.sign_in.to_json(),
                created_at=record.created_at,
                expires_at=record.expires_at,
            )
        )

    def auth_code(self, code_hash: str) -> AuthCodeRecord | None:
        row = self.session.scalar(
            self._locked(select(OAuthAuthCode).where(OAuthAuthCode.code_hash == code_hash))
        )
        if row is None:
            return None
        return AuthCodeRecord(
            row.code_hash,
            row.tenant_id,
            row.client_id,
            row.redirect_uri,
            list(row.scopes),
            row.code_challenge,
            row.nonce,
            SignIn.from_json(row.sign_in),
            row.created_at,
            row.expires_at,
            row.used_at,
            row.family_id,
        )

    def save_auth_code(self, record: AuthCodeRecord) -> None:
        self.session.execute(
            update(OAuthAuthCode)
            .where(OAuthAuthCode.code_hash == record.code_hash)
            .values(used_at=record.used_at, family_id=record.family_id)
        )

    # --- refresh tokens (RFC 6749 §6, §10.4) -----------------------------------------------------------

    def add_family(self, family: RefreshFamily) -> None:
        self.session.add(
            OAuthRefreshFamily(
                id=family.id,
                tenant_id=family.tenant_id,
                client_id=family.client_id,
                user_id=family.sign_in.user_id,
                session_id=family.sign_in.session_id,
                scopes=family.scopes,
                sign_in=family.sign_in.to_json(),
                created_at=family.created_at,
                expires_at=family.expires_at,
            )
        )
        self.session.flush()

    def revoke_family(self, family_id: str, now: datetime, reason: str) -> None:
        self.session.execute(
            update(OAuthRefreshFamily)
            .where(OAuthRefreshFamily.id == family_id, OAuthRefreshFamily.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )

    def family_active(self, family_id: str) -> bool:
        revoked = self.session.execute(
            select(OAuthRefreshFamily.revoked_at).where(OAuthRefreshFamily.id == family_id)
        ).first()
        return revoked is not None and revoked[0] is None

    def add_refresh(self, record: RefreshRecord) -> None:
        self.session.add(
            OAuthRefreshToken(
                token_hash=record.token_hash,
                family_id=record.family.id,
                tenant_id=record.family.tenant_id,
                created_at=record.created_at,
                idle_expires_at=record.idle_expires_at,
            )
        )

    def refresh(self, token_hash: str) -> RefreshRecord | None:
        stmt = select(OAuthRefreshToken, OAuthRefreshFamily).join(
            OAuthRefreshFamily, OAuthRefreshFamily.id == OAuthRefreshToken.family_id
        )
        row = self.session.execute(
            self._locked(stmt.where(OAuthRefreshToken.token_hash == token_hash))
        ).first()
        if row is None:
            return None
        token, family = row
        return RefreshRecord(
            token.token_hash, _family(family), token.created_at, token.idle_expires_at, token.rotated_at
        )

    def mark_rotated(self, token_hash: str, now: datetime) -> None:
        self.session.execute(
            update(OAuthRefreshToken).where(OAuthRefreshToken.token_hash == token_hash).values(rotated_at=now)
        )

    # --- client assertions (RFC 7523 §3) ---------------------------------------------------------------

    def seen_assertion(self, client_id: str, jti: str) -> str | None:
        return self.session.scalar(
            select(OAuthAssertionJti.assertion_hash).where(
                OAuthAssertionJti.client_id == client_id, OAuthAssertionJti.jti == jti
            )
        )

    def remember_assertion(
        self, tenant_id: str, client_id: str, jti: str, assertion_hash: str, expires_at: datetime
    ) -> None:
        row = OAuthAssertionJti(
            client_id=client_id,
            jti=jti,
            tenant_id=tenant_id,
            assertion_hash=assertion_hash,
            expires_at=expires_at,
        )
        try:
            with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            pass  # the same assertion, presented concurrently (MSAL reuses one for 540 s)

    def purge_assertions(self, now: datetime) -> None:
        self.session.execute(delete(OAuthAssertionJti).where(OAuthAssertionJti.expires_at < now))
