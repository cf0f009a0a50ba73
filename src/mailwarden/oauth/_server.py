"""The authorization server object one app holds (``app.state.oauth``): keys, the token service, one unit of
work per token request, and bearer-token authentication for the admin API (RFC 6750 §2.1, §3.1).

The API accepts only access tokens from this server: signed with the algorithm of a known ``kid``, ``aud`` ``api://mailwarden``
or ``https://outlook.office365.com``, unexpired, ``iss``/``tid`` of the URL's tenant; for user tokens the
sign-in session must still be active and the refresh family not revoked; conditional access runs on every call
(``stage="call"``) with the caller's IP.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..clock import Clock
from ..config import Settings
from ..errors import AuthenticationError, ServiceUnavailableError
from ..principal import Principal
from ..store import Database, SecretBox
from ._errors import OAuthError
from ._keys import SigningKeys
from ._ports import IdentityPort
from ._service import Lifetimes, TokenService
from ._storage import SqlStore
from ._tokens import AccessToken, TokenMinter, issuer_for, verify_access_token

__all__ = ["OAuthServer"]

T = TypeVar("T")

GRANT_THREADS = 16  # concurrent token requests per process on PostgreSQL


class OAuthServer:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Clock,
        identity: Callable[[], IdentityPort | None],
        *,
        lifetimes: Lifetimes | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self._identity = identity
        self.keys = SigningKeys(db, SecretBox(settings.resolved_secret_key()), clock)
        self.service = TokenService(
            TokenMinter(self.keys),
            self.identity,
            lifetimes
            or Lifetimes(
                access_seconds=settings.access_token_seconds,
                refresh_idle_days=settings.refresh_idle_days,
                refresh_absolute_days=settings.refresh_absolute_days,
                device_code_minutes=settings.device_code_minutes,
            ),
            clock,
        )
        # Token requests run on threads of their own, one at a time per process on SQLite: its writers
        # take turns on one write lock anyway, and every further thread of this process would only compete
        # for the GIL with the one holding that lock, stretching the time it holds it (measured: about a
        # third fewer grants/s through the shared worker pool). PostgreSQL locks rows: grants run side by
        # side there.
        self._grants = ThreadPoolExecutor(
            max_workers=1 if db.dialect == "sqlite" else GRANT_THREADS, thread_name_prefix="mailwarden-token"
        )

    async def run_grant(self, fn: Callable[[], T]) -> T:
        """``fn`` (a token request's whole database work) on the token threads, with this context."""
        call = functools.partial(contextvars.copy_context().run, fn)
        return await asyncio.get_running_loop().run_in_executor(self._grants, call)

    def identity(self) -> IdentityPort:
        identity = self._identity()
        if identity is None:
            # Fail closed: without the identity service no session or policy can be checked.
            raise ServiceUnavailableError("The identity service is not installed.")
        return identity

    def base_url(self, request_base: str) -> str:
        return (self.settings.public_base_url or request_base).rstrip("/")

    def transact(self, fn: Callable[[SqlStore], T | OAuthError]) -> T:
        """Run ``fn`` in one unit of work; an :class:`OAuthError` it *returns* is raised after commit."""
        self.keys.signing_key()  # the first key is created in a transaction of its own, never nested
        with self.db.unit_of_work() as uow:
            result = fn(SqlStore(uow.session))
        if isinstance(result, OAuthError):
            raise result
        return result

    def verify(self, token: str, *, tenant_id: str, base_url: str) -> AccessToken:
        return verify_access_token(
            token,
            self.keys,
            issuer=issuer_for(self.base_url(base_url), tenant_id),
            tenant_id=tenant_id,
            now=self.clock.now().timestamp(),
        )

    def authenticate(self, token: str, *, tenant_id: str, base_url: str, ip: str) -> Principal:
        """Bearer token → :class:`Principal`; raises AuthenticationError (401) or AccessDeniedError (403)."""
        claims = self.verify(token, tenant_id=tenant_id, base_url=base_url)
        identity = self.identity()
        # One read transaction for the session, family and conditional-access checks of every call.
        with self.db.unit_of_work(write=False) as uow:
            read = uow.session
            if claims.kind == "user":
                assert claims.session_id is not None
                if not identity.session_active(claims.session_id, session=read):
                    raise AuthenticationError("The sign-in session of this token has ended or was revoked.")
                if claims.family_id is not None and not SqlStore(read).family_active(claims.family_id):
                    raise AuthenticationError("The access token has been revoked.")
                identity.check_access(
                    tenant_id,
                    user_id=claims.subject,
                    app_id=None,
                    amr=claims.amr,
                    ip=ip,
                    stage="call",
                    session=read,
                )
                return Principal(tenant_id, claims.subject, claims.display_name, "user")
            identity.check_access(
                tenant_id, user_id=None, app_id=claims.subject, amr=(), ip=ip, stage="call", session=read
            )
            return Principal(tenant_id, claims.subject, claims.display_name, "app")

    def userinfo(self, claims: AccessToken) -> dict[str, Any]:
        """OIDC Core §5.3.2."""
        return {
            "sub": claims.subject,
            "oid": claims.subject,
            "tid": claims.tenant_id,
            "preferred_username": claims.claims.get("preferred_username"),
            "name": claims.claims.get("name"),
        }
