"""Client credentials grant (RFC 6749 §4.4) for apps, authenticated by client secret (RFC 6749 §2.3.1) or
certificate (RFC 7523 §2.2). The token carries ``roles: ["Exchange.ManageAsApp"]`` and no refresh token
(§4.4.3); the scope must be ``<resource>/.default``."""

from __future__ import annotations

from typing import Any

from ._errors import UnauthorizedClientError
from ._records import Client
from ._repository import OAuthStore
from ._scopes import parse_scopes
from ._service import TokenService

__all__ = ["client_credentials_grant"]


def client_credentials_grant(
    store: OAuthStore, service: TokenService, *, client: Client, scope: str | None, issuer: str, ip: str
) -> dict[str, Any]:
    if client.public:
        raise UnauthorizedClientError("A public client cannot use the client credentials grant.")
    scopes = parse_scopes(scope, app=True)
    return service.prepare_for_app(issuer=issuer, client=client, scopes=scopes, ip=ip, session=store.session)
