"""Issuing tokens — the step every grant ends with (RFC 6749 §5.1 successful response; OIDC Core §3.1.3.3
token response with ``id_token``; RFC 6749 §6 refresh tokens, rotated, in families).

Before anything is issued for a user, defence in depth re-checks what the sign-in page already enforced: the
account still exists and is enabled, an account in any role group signed in with a second factor
(``interaction_required`` otherwise), and conditional access at ``stage="token"`` with the client's IP.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..clock import Clock, utcnow
from ..errors import AccessDeniedError
from ._errors import AccessDeniedGrantError, InteractionRequiredError, InvalidGrantError
from ._ports import IdentityPort
from ._records import Client, RefreshFamily, RefreshRecord, SignIn, token_hash
from ._repository import OAuthStore
from ._scopes import APP_ROLE, DELEGATED_SCOPE, Scopes
from ._tokens import TokenMinter, Unsigned, b64url_json

__all__ = ["Lifetimes", "TokenService"]


@dataclass(frozen=True)
class Lifetimes:
    access_seconds: int = 3600
    refresh_idle_days: int = 14
    refresh_absolute_days: int = 90
    device_code_minutes: int = 15
    auth_code_seconds: int = 300
    device_interval: int = 5


class TokenService:
    """Mints access tokens, id_tokens and refresh tokens; used by every grant and by test fixtures."""

    def __init__(
        self, minter: TokenMinter, identity: Callable[[], IdentityPort], lifetimes: Lifetimes, clock: Clock
    ) -> None:
        self.minter = minter
        self._identity = identity
        self.lifetimes = lifetimes
        self.clock = clock

    @property
    def identity(self) -> IdentityPort:
        return self._identity()

    def now(self) -> datetime:
        return utcnow(self.clock)

    # --- policy ----------------------------------------------------------------------------------------

    def admit_user(self, tenant_id: str, sign_in: SignIn, ip: str, *, session: Any = None) -> SignIn:
        """Raise unless tokens may be issued for this sign-in now; returns it with current role groups."""
        identity = self.identity
        user = identity.get_user(tenant_id, sign_in.user_id, session=session)
        if user is None or user.disabled:
            raise InvalidGrantError("The account does not exist or is disabled.")
        groups = tuple(user.role_groups)
        if groups and not sign_in.multi_factor:
            raise InteractionRequiredError(
                "Multi-factor authentication is required: this account is an administrator (member of a "
                "role group) and the sign-in used no second factor. Sign in again with a second factor."
            )
        self.check_access(
            tenant_id, user_id=sign_in.user_id, app_id=None, amr=sign_in.amr, ip=ip, session=session
        )
        return SignIn(
            sign_in.user_id,
            user.upn,
            user.display_name,
            sign_in.amr,
            sign_in.acr,
            sign_in.auth_time,
            sign_in.session_id,
            groups,
        )

    def admit_app(self, client: Client, ip: str, *, session: Any = None) -> None:
        self.check_access(client.tenant_id, user_id=None, app_id=client.id, amr=(), ip=ip, session=session)

    def check_access(
        self,
        tenant_id: str,
        *,
        user_id: str | None,
        app_id: str | None,
        amr: tuple[str, ...],
        ip: str,
        session: Any = None,
    ) -> None:
        """Conditional access at ``stage="token"``, inside the grant's transaction (``session``); a denial
        becomes ``access_denied`` naming the policy. The identity service records the denial once that
        transaction has rolled back, in one of its own (never nested in the grant's write lock)."""
        try:
            self.identity.check_access(
                tenant_id, user_id=user_id, app_id=app_id, amr=amr, ip=ip, stage="token", session=session
            )
        except AccessDeniedError as exc:
            raise AccessDeniedGrantError(exc.message) from exc

    # --- issuance --------------------------------------------------------------------------------------

    def _base_claims(
        self, issuer: str, tenant_id: str, audience: str, client: Client, ip: str
    ) -> dict[str, Any]:
        now = int(self.clock.now().timestamp())
        return {
            "iss": issuer,
            "aud": audience,
            "tid": tenant_id,
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetimes.access_seconds,
            "appid": client.id,
            "azp": client.id,
            "ipaddr": ip,
            "uti": self.minter.new_jti(),
            "ver": "2.0",
        }

    def user_access_token(
        self, *, issuer: str, client: Client, sign_in: SignIn, scopes: Scopes, ip: str, family_id: str | None
    ) -> Unsigned:
        claims = self._base_claims(issuer, client.tenant_id, scopes.audience, client, ip)
        claims.update(
            sub=sign_in.user_id,
            oid=sign_in.user_id,
            scp=DELEGATED_SCOPE,
            amr=list(sign_in.amr),
            acr=sign_in.acr,
            sid=sign_in.session_id,
            auth_time=sign_in.auth_time,
            upn=sign_in.upn,
            preferred_username=sign_in.upn,
            name=sign_in.name,
        )
        if family_id is not None:
            claims["fam"] = family_id
        return Unsigned(claims)

    def id_token(self, *, issuer: str, client: Client, sign_in: SignIn, nonce: str | None) -> Unsigned:
        now = int(self.clock.now().timestamp())
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": client.id,
            "sub": sign_in.user_id,
            "oid": sign_in.user_id,
            "tid": client.tenant_id,
            "preferred_username": sign_in.upn,
            "name": sign_in.name,
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetimes.access_seconds,
            "auth_time": sign_in.auth_time,
            "amr": list(sign_in.amr),
            "sid": sign_in.session_id,
            "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        return Unsigned(claims, "RS256")  # what apps validating id_tokens expect (see _keys)

    def new_refresh_token(self, store: OAuthStore, family: RefreshFamily) -> str:
        value = secrets.token_urlsafe(32)  # 256 bits
        now = self.now()
        idle = min(now + timedelta(days=self.lifetimes.refresh_idle_days), family.expires_at)
        store.add_refresh(RefreshRecord(token_hash(value), family, now, idle))
        return value

    def prepare_for_user(
        self,
        store: OAuthStore,
        *,
        issuer: str,
        client: Client,
        sign_in: SignIn,
        scopes: Scopes,
        ip: str,
        family: RefreshFamily | None = None,
        nonce: str | None = None,
    ) -> tuple[dict[str, Any], RefreshFamily | None]:
        """Policy checks, then the token response (RFC 6749 §5.1) with its JWTs still :class:`Unsigned`
        (signed by :meth:`TokenMinter.finish` after the grant commits). ``family`` continues a refresh
        family (the refresh grant); otherwise a new one starts when ``offline_access`` was requested."""
        sign_in = self.admit_user(client.tenant_id, sign_in, ip, session=store.session)
        now = self.now()
        if family is None and scopes.offline:
            family = RefreshFamily(
                str(uuid.uuid4()),
                client.tenant_id,
                client.id,
                sign_in,
                list(scopes.requested),
                now,
                now + timedelta(days=self.lifetimes.refresh_absolute_days),
            )
            store.add_family(family)
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": scopes.text or f"{scopes.audience}/{DELEGATED_SCOPE}",
            "expires_in": self.lifetimes.access_seconds,
            "ext_expires_in": self.lifetimes.access_seconds,
            "access_token": self.user_access_token(
                issuer=issuer,
                client=client,
                sign_in=sign_in,
                scopes=scopes,
                ip=ip,
                family_id=None if family is None else family.id,
            ),
            "client_info": b64url_json({"uid": sign_in.user_id, "utid": client.tenant_id}),
        }
        if family is not None:
            body["refresh_token"] = self.new_refresh_token(store, family)
        if scopes.openid:
            body["id_token"] = self.id_token(issuer=issuer, client=client, sign_in=sign_in, nonce=nonce)
        return body, family

    def prepare_for_app(
        self, *, issuer: str, client: Client, scopes: Scopes, ip: str, session: Any = None
    ) -> dict[str, Any]:
        """RFC 6749 §4.4.3: an access token only (no refresh token), :class:`Unsigned` like
        :meth:`prepare_for_user`'s."""
        self.admit_app(client, ip, session=session)
        claims = self._base_claims(issuer, client.tenant_id, scopes.audience, client, ip)
        claims.update(sub=client.id, oid=client.id, roles=[APP_ROLE], app_displayname=client.name)
        return {
            "token_type": "Bearer",
            "scope": scopes.text,
            "expires_in": self.lifetimes.access_seconds,
            "ext_expires_in": self.lifetimes.access_seconds,
            "access_token": Unsigned(claims),
        }
