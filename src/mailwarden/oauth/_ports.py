"""What the OAuth half needs from the identity half (docs/identity-contract.md): who signed in, whether a
session is still alive, the user's current state, and conditional access (DESIGN §5). Structural types, so
``mailwarden.identity.IdentityService`` fits without either package importing the other's internals.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

__all__ = ["IdentityPort", "SignedInUserLike", "UserInfoLike"]


class SignedInUserLike(Protocol):
    @property
    def tenant_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def upn(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def amr(self) -> tuple[str, ...]: ...
    @property
    def acr(self) -> str: ...
    @property
    def auth_time(self) -> datetime: ...
    @property
    def session_id(self) -> str: ...
    @property
    def role_groups(self) -> tuple[str, ...]: ...


class UserInfoLike(Protocol):
    @property
    def upn(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def disabled(self) -> bool: ...
    @property
    def role_groups(self) -> tuple[str, ...]: ...


class IdentityPort(Protocol):
    def current_user(self, request: Any, tenant_id: str) -> SignedInUserLike | None: ...

    def login_url(self, tenant_ref: str, return_to: str) -> str: ...

    # RP-Initiated Logout: end the browser session whose cookie secret this is (audited by identity).
    def sign_out(self, tenant_id: str, secret: str) -> None: ...

    # ``session``: the token request's own SQLAlchemy session, so its checks read in its transaction.
    def session_active(self, session_id: str, *, session: Any = ...) -> bool: ...

    def get_user(self, tenant_id: str, user_id: str, *, session: Any = ...) -> UserInfoLike | None: ...

    def check_access(
        self,
        tenant_id: str,
        *,
        user_id: str | None,
        app_id: str | None,
        amr: tuple[str, ...],
        ip: str,
        stage: Literal["token", "call"],
        session: Any = ...,
    ) -> None: ...
