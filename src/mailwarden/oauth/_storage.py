"""SQLAlchemy adapter for :class:`OAuthStore`. Reads that precede a state change (device code poll,
authorization code, refresh token) lock the row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite writers
already hold the database write lock), so two concurrent redemptions cannot both succeed (RFC 6749 §4.1.2,
§10.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, Select, Table, bindparam, delete, insert, select, update
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
from ..store._prepared import Prepared
from ._records import AuthCodeRecord, Client, ClientCert, DeviceRecord, RefreshFamily, RefreshRecord, SignIn

__all__ = ["SqlStore", "client_from_row"]

S = TypeVar("S", bound="Select[*tuple[Any, ...]]")

# The hot path of every token request (client lookup, refresh-token lookup, rotation) runs as Prepared
# statements on the Core tables: the ORM's per-statement work (identity map, compile-state plugins,
# unit-of-work flush) cost more than the queries themselves.
_CLIENTS: Table = OAuthClient.__table__  # type: ignore[assignment]
_FAMILIES: Table = OAuthRefreshFamily.__table__  # type: ignore[assignment]
_TOKENS: Table = OAuthRefreshToken.__table__  # type: ignore[assignment]
_CLIENT_BY_ID = Prepared(select(_CLIENTS).where(_CLIENTS.c.id == bindparam("id")))
_REFRESH_QUERY = (
    select(
        _TOKENS.c.token_hash,
        _TOKENS.c.created_at.label("token_created_at"),
        _TOKENS.c.idle_expires_at,
        _TOKENS.c.rotated_at,
        _FAMILIES,
    )
    .join(_FAMILIES, _FAMILIES.c.id == _TOKENS.c.family_id)
    .where(_TOKENS.c.token_hash == bindparam("h"))
)
_MARK_ROTATED = Prepared(
    update(_TOKENS).where(_TOKENS.c.token_hash == bindparam("h")).values(rotated_at=bindparam("now"))
)
_REFRESH_BY_HASH_LOCKED = Prepared(_REFRESH_QUERY.with_for_update())
_REFRESH_BY_HASH = Prepared(_REFRESH_QUERY)
_ADD_REFRESH = Prepared(insert(_TOKENS))
_FAMILY_REVOKED_AT = Prepared(select(_FAMILIES.c.revoked_at).where(_FAMILIES.c.id == bindparam("fid")))
_REVOKE_FAMILY = Prepared(
    update(_FAMILIES)
    .where(_FAMILIES.c.id == bindparam("fid"), _FAMILIES.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"), revoked_reason=bindparam("reason"))
)


def client_from_row(row: OAuthClient | Row[Any], certs: list[OAuthClientCert]) -> Client:
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


def _family(row: OAuthRefreshFamily | Row[Any]) -> RefreshFamily:
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
        row = _CLIENT_BY_ID.first(self.session, {"id": client_id})
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
        _REVOKE_FAMILY.run(self.session, {"fid": family_id, "now": now, "reason": reason})

    def family_active(self, family_id: str) -> bool:
        revoked = _FAMILY_REVOKED_AT.first(self.session, {"fid": family_id})
        return revoked is not None and revoked[0] is None

    def add_refresh(self, record: RefreshRecord) -> None:
        _ADD_REFRESH.run(
            self.session,
            {
                "token_hash": record.token_hash,
                "family_id": record.family.id,
                "tenant_id": record.family.tenant_id,
                "created_at": record.created_at,
                "idle_expires_at": record.idle_expires_at,
                "rotated_at": None,
            },
        )

    def refresh(self, token_hash: str) -> RefreshRecord | None:
        statement = _REFRESH_BY_HASH_LOCKED if self._lock else _REFRESH_BY_HASH
        row = statement.first(self.session, {"h": token_hash})
        if row is None:
            return None
        return RefreshRecord(
            row.token_hash, _family(row), row.token_created_at, row.idle_expires_at, row.rotated_at
        )

    def mark_rotated(self, token_hash: str, now: datetime) -> None:
        _MARK_ROTATED.run(self.session, {"h": token_hash, "now": now})

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
