"""OAuth 2.0 / OpenID Connect authorization server (RFC 6749, RFC 7636, RFC 8628, RFC 7523, RFC 7519,
RFC 8252, RFC 6750, OIDC Core 1.0) in Entra's per-tenant v2 layout, plus local TLS for ``serve --tls``."""

from ._clients import ensure_builtin_clients, register_app
from ._errors import (
    AccessDeniedGrantError,
    AuthorizationPendingError,
    ExpiredTokenError,
    InteractionRequiredError,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuthError,
    SlowDownError,
    UnauthorizedClientError,
    UnsupportedGrantTypeError,
    UnsupportedResponseTypeError,
)
from ._install import install_oauth
from ._keys import SigningKeys
from ._ports import IdentityPort
from ._records import Client, SignIn
from ._scopes import APP_ROLE, DELEGATED_SCOPE, EXO_RESOURCE, RESOURCE, Scopes, parse_scopes
from ._server import OAuthServer
from ._service import Lifetimes, TokenService
from ._storage import SqlStore
from ._tokens import AccessToken, issuer_for, verify_access_token
from ._web import client_ip
from .tls import ca_path, ensure_tls

__all__ = [
    "APP_ROLE",
    "DELEGATED_SCOPE",
    "EXO_RESOURCE",
    "RESOURCE",
    "AccessDeniedGrantError",
    "AccessToken",
    "AuthorizationPendingError",
    "Client",
    "ExpiredTokenError",
    "IdentityPort",
    "InteractionRequiredError",
    "InvalidClientError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidScopeError",
    "Lifetimes",
    "OAuthError",
    "OAuthServer",
    "Scopes",
    "SignIn",
    "SigningKeys",
    "SlowDownError",
    "SqlStore",
    "TokenService",
    "UnauthorizedClientError",
    "UnsupportedGrantTypeError",
    "UnsupportedResponseTypeError",
    "ca_path",
    "client_ip",
    "ensure_builtin_clients",
    "ensure_tls",
    "install_oauth",
    "issuer_for",
    "parse_scopes",
    "register_app",
    "verify_access_token",
]
