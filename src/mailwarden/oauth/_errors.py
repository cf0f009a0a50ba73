"""OAuth error responses (RFC 6749 §5.2, RFC 8628 §3.5, RFC 6750 §3.1, OIDC Core §3.1.2.6).

::

    ApiError (mailwarden.errors)
    └── OAuthError                     400  {"error", "error_description"}
        ├── InvalidRequestError        invalid_request
        ├── InvalidClientError     401 invalid_client (+ WWW-Authenticate for Basic)
        ├── InvalidGrantError          invalid_grant
        │   └── InteractionRequiredError  interaction_required (MFA missing for an admin)
        ├── UnauthorizedClientError    unauthorized_client
        ├── UnsupportedGrantTypeError  unsupported_grant_type
        ├── UnsupportedResponseTypeError unsupported_response_type
        ├── InvalidScopeError          invalid_scope
        ├── AuthorizationPendingError  authorization_pending (RFC 8628 §3.5)
        ├── SlowDownError              slow_down
        ├── ExpiredTokenError          expired_token
        └── AccessDeniedGrantError     access_denied (user said no, or conditional access)

Every OAuth error is answered as JSON with status 400 (401 for invalid_client): MSAL treats anything else
(a non-JSON body, a 5xx) as an exception (msal-contract §15).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import ApiError

__all__ = [
    "AccessDeniedGrantError",
    "AuthorizationPendingError",
    "ExpiredTokenError",
    "InteractionRequiredError",
    "InvalidClientError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidScopeError",
    "OAuthError",
    "SlowDownError",
    "UnauthorizedClientError",
    "UnsupportedGrantTypeError",
    "UnsupportedResponseTypeError",
]


class OAuthError(ApiError):
    """An RFC 6749 §5.2 error; ``to_wire`` renders ``{"error", "error_description"}``."""

    code: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400

    def to_wire(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.message}

    def headers(self) -> dict[str, str]:
        return {"Cache-Control": "no-store", "Pragma": "no-cache"}


class InvalidRequestError(OAuthError):
    code = "invalid_request"


class InvalidClientError(OAuthError):
    code = "invalid_client"
    status = 401


class InvalidGrantError(OAuthError):
    code = "invalid_grant"


class InteractionRequiredError(InvalidGrantError):
    code = "interaction_required"


class UnauthorizedClientError(OAuthError):
    code = "unauthorized_client"


class UnsupportedGrantTypeError(OAuthError):
    code = "unsupported_grant_type"


class UnsupportedResponseTypeError(OAuthError):
    code = "unsupported_response_type"


class InvalidScopeError(OAuthError):
    code = "invalid_scope"


class AuthorizationPendingError(OAuthError):
    code = "authorization_pending"


class SlowDownError(OAuthError):
    code = "slow_down"


class ExpiredTokenError(OAuthError):
    code = "expired_token"


class AccessDeniedGrantError(OAuthError):
    code = "access_denied"
