"""Scopes and the one protected resource (RFC 6749 §3.3; OIDC Core §5.4 for ``openid``/``profile``).

The resource is ``api://mailwarden``; ``https://outlook.office365.com`` is accepted as an alias so Exchange
Online scripts run unchanged (the token then carries that audience). Delegated permission ``Exchange.Manage``;
applications get the app role ``Exchange.ManageAsApp`` through ``<resource>/.default``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import InvalidScopeError

__all__ = [
    "APP_ROLE",
    "AUDIENCES",
    "DELEGATED_SCOPE",
    "EXO_RESOURCE",
    "RESOURCE",
    "Scopes",
    "parse_scopes",
]

RESOURCE = "api://mailwarden"
EXO_RESOURCE = "https://outlook.office365.com"
AUDIENCES = frozenset({RESOURCE, EXO_RESOURCE})
DELEGATED_SCOPE = "Exchange.Manage"
APP_ROLE = "Exchange.ManageAsApp"
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
_PERMISSIONS = frozenset({DELEGATED_SCOPE, ".default"})


@dataclass(frozen=True)
class Scopes:
    requested: tuple[str, ...]  # as sent, de-duplicated: the response echoes them (msal-contract §9)
    audience: str
    openid: bool
    offline: bool

    @property
    def text(self) -> str:
        return " ".join(self.requested)


def parse_scopes(raw: str | None, *, app: bool = False) -> Scopes:
    """Split and validate a ``scope`` parameter; one resource per request (as in Entra)."""
    items: list[str] = []
    for item in (raw or "").split():
        if item not in items:
            items.append(item)
    audiences: set[str] = set()
    for item in items:
        if item in OIDC_SCOPES:
            if app:
                raise InvalidScopeError(f"The scope '{item}' is not valid for the client credentials grant.")
            continue
        resource, _, permission = item.rpartition("/")
        if resource.rstrip("/") not in AUDIENCES or permission not in _PERMISSIONS:
            raise InvalidScopeError(
                f"The scope '{item}' is not valid. Use '{RESOURCE}/{DELEGATED_SCOPE}' (or "
                f"'{RESOURCE}/.default'; '{EXO_RESOURCE}/...' is accepted as an alias)."
            )
        if app and permission != ".default":
            raise InvalidScopeError(f"The client credentials grant needs '{RESOURCE}/.default'.")
        audiences.add(resource.rstrip("/"))
    if len(audiences) > 1:
        raise InvalidScopeError("Request scopes of one resource at a time.")
    if app and not audiences:
        raise InvalidScopeError(f"The client credentials grant needs the scope '{RESOURCE}/.default'.")
    audience = audiences.pop() if audiences else RESOURCE
    return Scopes(tuple(items), audience, "openid" in items, "offline_access" in items)
