"""One exception tree for the whole product; every API error renders its own wire form.

::

    MailwardenError                         base of everything we raise on purpose
    ├── ConfigurationError                  settings refused at start (fail closed)
    └── ApiError                            has .code (wire), .status (HTTP), .message, .details
        ├── BadRequestError          400    BadRequest
        │   ├── ParameterBindingError       ParameterBindingException (names the parameter)
        │   │   ├── FilterSyntaxError       invalid OPATH syntax (names the position)
        │   │   └── UnknownFilterPropertyError
        │   ├── ParameterSetError           AmbiguousParameterSetException
        │   ├── ArgumentError               ArgumentException
        │   ├── AmbiguousIdentityError      ManagementObjectAmbiguousException (lists matches)
        │   ├── CommandNotFoundError        CommandNotFoundException
        │   ├── InvalidCursorError          InvalidCursorException
        │   └── InvalidRequestError         InvalidRequestException (malformed body)
        ├── AuthenticationError      401    Unauthorized  (+ WWW-Authenticate)
        ├── AccessDeniedError        403    AccessDeniedException
        ├── NotFoundError            404    ManagementObjectNotFoundException
        ├── DuplicateObjectError     409    ADObjectAlreadyExistsException
        │   └── ProxyAddressExistsError     ProxyAddressExistsException
        ├── ThrottledError           429    ThrottlingException (+ Retry-After)
        ├── ServiceError             500    InternalServerError (never carries internals)
        └── ServiceUnavailableError  503    ServiceUnavailable

Programmer errors (``TypeError``, ``ValueError`` from misuse of internal APIs) are deliberately *not* in
this tree: the API turns them into a bare 500 without detail.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AccessDeniedError",
    "AmbiguousIdentityError",
    "ApiError",
    "ArgumentError",
    "AuthenticationError",
    "BadRequestError",
    "CommandNotFoundError",
    "ConfigurationError",
    "DuplicateObjectError",
    "FilterSyntaxError",
    "InvalidCursorError",
    "InvalidRequestError",
    "MailwardenError",
    "NotFoundError",
    "ParameterBindingError",
    "ParameterSetError",
    "ProxyAddressExistsError",
    "ServiceError",
    "ServiceUnavailableError",
    "ThrottledError",
    "UnknownFilterPropertyError",
]


class MailwardenError(Exception):
    """Base of every exception mailwarden raises on purpose."""


class ConfigurationError(MailwardenError):
    """Settings are missing, inconsistent or unsafe for the chosen mode."""


class ApiError(MailwardenError):
    """An error with a wire form: Exchange-style ``{"error": {"code", "message", "details"}}``."""

    code: ClassVar[str] = "InternalServerError"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[dict[str, Any]] = list(details or [])

    def to_wire(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def headers(self) -> dict[str, str]:
        return {}


class BadRequestError(ApiError):
    code = "BadRequest"
    status = 400


class ParameterBindingError(BadRequestError):
    """A parameter value could not be bound; the message and ``target`` name the parameter."""

    code = "ParameterBindingException"

    def __init__(self, parameter: str, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        self.parameter = parameter
        merged = [{"code": "ParameterName", "target": parameter, "message": message}, *(details or [])]
        super().__init__(f"Cannot bind parameter '{parameter}'. {message}", details=merged)


class FilterSyntaxError(ParameterBindingError):
    """OPATH text that does not parse. ``position`` is the 0-based offset of the offending token."""

    def __init__(self, filter_text: str, position: int, reason: str, *, parameter: str = "Filter") -> None:
        self.filter_text = filter_text
        self.position = position
        self.reason = reason
        message = (
            f"Cannot bind parameter '{parameter}' to the target. Exception setting \"{parameter}\": "
            '"Invalid filter syntax. For a description of the filter parameter syntax see the command help.\n'
            f'"{filter_text}" at position {position + 1}." ({reason})'
        )
        BadRequestError.__init__(
            self,
            message,
            details=[
                {"code": "FilterPosition", "target": parameter, "position": position, "message": reason}
            ],
        )
        self.parameter = parameter


class UnknownFilterPropertyError(ParameterBindingError):
    """A property that is not filterable on this cmdlet (Exchange's wording, with the valid names)."""

    def __init__(self, prop: str, valid: list[str], *, parameter: str = "Filter") -> None:
        self.property = prop
        message = (
            f"Cannot bind parameter '{parameter}' to the target. Exception setting \"{parameter}\": "
            f'""{prop}" is not a recognized filterable property. Valid property names are: '
            f"{', '.join(sorted(valid))}."
        )
        BadRequestError.__init__(
            self, message, details=[{"code": "FilterProperty", "target": parameter, "property": prop}]
        )
        self.parameter = parameter


class ParameterSetError(BadRequestError):
    code = "AmbiguousParameterSetException"


class ArgumentError(BadRequestError):
    code = "ArgumentException"


class AmbiguousIdentityError(BadRequestError):
    code = "ManagementObjectAmbiguousException"

    def __init__(self, identity: str, matches: list[str], *, parameter: str = "Identity") -> None:
        self.identity = identity
        self.matches = matches
        self.parameter = parameter
        super().__init__(
            f"The operation couldn't be performed because '{identity}' ({parameter}) matches multiple entries: "
            + ", ".join(matches),
            details=[{"code": "Match", "target": parameter, "message": m} for m in matches],
        )


class CommandNotFoundError(BadRequestError):
    code = "CommandNotFoundException"


class InvalidCursorError(BadRequestError):
    code = "InvalidCursorException"


class InvalidRequestError(BadRequestError):
    code = "InvalidRequestException"


class AuthenticationError(ApiError):
    code = "Unauthorized"
    status = 401

    def __init__(self, message: str = "Authentication is required.", *, error: str = "invalid_token") -> None:
        super().__init__(message)
        self.error = error

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Bearer error="{self.error}"'}


class AccessDeniedError(ApiError):
    code = "AccessDeniedException"
    status = 403


class NotFoundError(ApiError):
    code = "ManagementObjectNotFoundException"
    status = 404


class DuplicateObjectError(ApiError):
    code = "ADObjectAlreadyExistsException"
    status = 409


class ProxyAddressExistsError(DuplicateObjectError):
    code = "ProxyAddressExistsException"


class ThrottledError(ApiError):
    code = "ThrottlingException"
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceError(ApiError):
    code = "InternalServerError"
    status = 500


class ServiceUnavailableError(ApiError):
    code = "ServiceUnavailable"
    status = 503
