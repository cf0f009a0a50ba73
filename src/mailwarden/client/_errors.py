"""The client's exception tree; API errors mirror the server's (``mailwarden.errors``) by wire code.

::

    ClientError                              base of everything the SDK raises on purpose
    ├── ApiRequestError                      the server answered with an error: .code .status .message .details
    │   ├── BadRequest               400     BadRequest
    │   │   ├── ParameterBinding             ParameterBindingException (names .parameter)
    │   │   ├── CommandNotFound              CommandNotFoundException
    │   │   ├── AmbiguousIdentity            ManagementObjectAmbiguousException
    │   │   └── InvalidCursor                InvalidCursorException
    │   ├── AuthenticationFailed     401     Unauthorized, or no token could be acquired
    │   │   └── InteractionRequired          silent refresh impossible; a person must sign in again
    │   ├── AccessDenied             403     AccessDeniedException (RBAC or conditional access)
    │   ├── NotFound                 404     ManagementObjectNotFoundException
    │   ├── Conflict                 409     ADObjectAlreadyExistsException, ProxyAddressExistsException
    │   ├── Throttled                429     ThrottlingException (.retry_after)
    │   └── ServerError              5xx     InternalServerError, ServiceUnavailable
    ├── TransientError                       timeout, reset, refused: worth retrying (wraps the cause)
    ├── IncompleteResultError                an enumeration could not finish: .delivered .checkpoint .cause
    ├── CheckpointMismatchError              a checkpoint file belongs to another call
    └── SecretStoreError                     vault / token cache problems
        └── DecryptionError                  sealed on another machine, as another user, or tampered with

Callers handle ``AuthenticationFailed``, ``AccessDenied``, ``NotFound``, ``Throttled`` and
``IncompleteResultError``; ``TransientError`` and ``Throttled`` are what the resume logic retries.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from .. import errors as server_errors

__all__ = [
    "AccessDenied",
    "AmbiguousIdentity",
    "ApiRequestError",
    "AuthenticationFailed",
    "BadRequest",
    "CheckpointMismatchError",
    "ClientError",
    "CommandNotFound",
    "Conflict",
    "DecryptionError",
    "IncompleteResultError",
    "InteractionRequired",
    "InvalidCursor",
    "NotFound",
    "ParameterBinding",
    "SecretStoreError",
    "ServerError",
    "Throttled",
    "TransientError",
    "error_from_response",
]


class ClientError(Exception):
    """Base of every exception the mailwarden client raises on purpose."""


class ApiRequestError(ClientError):
    """An error answer ``{"error": {"code", "message", "details"}}`` with its HTTP status."""

    default_status: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status if status is not None else self.default_status
        self.details: list[dict[str, Any]] = list(details or [])

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


class BadRequest(ApiRequestError):
    default_status = 400


class ParameterBinding(BadRequest):
    @property
    def parameter(self) -> str | None:
        for detail in self.details:
            if isinstance(detail.get("target"), str):
                return str(detail["target"])
        match = re.match(r"Cannot bind parameter '(\w+)'", self.message)
        return match.group(1) if match else None


class CommandNotFound(BadRequest):
    pass


class AmbiguousIdentity(BadRequest):
    pass


class InvalidCursor(BadRequest):
    pass


class AuthenticationFailed(ApiRequestError):
    default_status = 401


class InteractionRequired(AuthenticationFailed):
    """No token can be obtained silently (refresh token gone, revoked or expired)."""


class AccessDenied(ApiRequestError):
    default_status = 403


class NotFound(ApiRequestError):
    default_status = 404


class Conflict(ApiRequestError):
    default_status = 409


class Throttled(ApiRequestError):
    default_status = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(ApiRequestError):
    default_status = 500


class TransientError(ClientError):
    """The request did not get an answer (timeout, connection reset/refused, truncated response)."""

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class IncompleteResultError(ClientError):
    """An enumeration stopped before its end. ``delivered`` objects were handed to the caller; the
    ``checkpoint`` file (when one was asked for) holds the nextLink to resume from."""

    def __init__(self, *, delivered: int, checkpoint: str | None, cause: BaseException) -> None:
        where = f"; resume with checkpoint {checkpoint}" if checkpoint else ""
        super().__init__(f"incomplete result after {delivered} objects: {cause}{where}")
        self.delivered = delivered
        self.checkpoint = checkpoint
        self.cause = cause


class CheckpointMismatchError(ClientError):
    """The checkpoint file was written for a different cmdlet, parameters or tenant."""


class SecretStoreError(ClientError):
    """The vault or the token cache cannot be read or written."""


class DecryptionError(SecretStoreError):
    """Sealed data does not decrypt here: another machine, another OS user, another key, or tampering."""


# Server class -> client class; the wire code finds the server class, its MRO finds ours.
_BY_SERVER_CLASS: dict[type[server_errors.ApiError], type[ApiRequestError]] = {
    server_errors.ParameterBindingError: ParameterBinding,
    server_errors.CommandNotFoundError: CommandNotFound,
    server_errors.AmbiguousIdentityError: AmbiguousIdentity,
    server_errors.InvalidCursorError: InvalidCursor,
    server_errors.BadRequestError: BadRequest,
    server_errors.AuthenticationError: AuthenticationFailed,
    server_errors.AccessDeniedError: AccessDenied,
    server_errors.NotFoundError: NotFound,
    server_errors.DuplicateObjectError: Conflict,
    server_errors.ThrottledError: Throttled,
    server_errors.ServiceError: ServerError,
    server_errors.ServiceUnavailableError: ServerError,
}


def _server_classes() -> dict[str, type[server_errors.ApiError]]:
    found: dict[str, type[server_errors.ApiError]] = {}
    pending: list[type[server_errors.ApiError]] = [server_errors.ApiError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


_BY_CODE = _server_classes()
_BY_STATUS: dict[int, type[ApiRequestError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: AccessDenied,
    404: NotFound,
    409: Conflict,
    429: Throttled,
}


def client_class_for(code: str, status: int) -> type[ApiRequestError]:
    server_cls = _BY_CODE.get(code)
    if server_cls is not None:
        for klass in server_cls.__mro__:
            mapped = _BY_SERVER_CLASS.get(klass)
            if mapped is not None:
                return mapped
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ApiRequestError)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_from_response(status: int, body: Any, headers: dict[str, str]) -> ApiRequestError:
    """Build the typed exception for an error answer (JSON or not: proxies answer in plain text)."""
    code, message, details = "", f"HTTP {status}", []
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or "")
        message = str(error.get("message") or message)
        raw = error.get("details")
        details = [d for d in raw if isinstance(d, dict)] if isinstance(raw, list) else []
    cls = client_class_for(code, status)
    if issubclass(cls, Throttled):
        return cls(
            message,
            code=code,
            status=status,
            details=details,
            retry_after=_retry_after(headers.get("retry-after")),
        )
    return cls(message, code=code, status=status, details=details)
