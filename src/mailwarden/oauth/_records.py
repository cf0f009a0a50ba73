"""Plain records the grants work on (RFC 6749 §1.3 grants, RFC 8628 §3.2 device authorizations, RFC 7636
challenges); the SQLAlchemy adapter in ``_storage`` maps them to and from rows."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._ports import SignedInUserLike

__all__ = [
    "AuthCodeRecord",
    "Client",
    "ClientCert",
    "DeviceRecord",
    "RefreshFamily",
    "RefreshRecord",
    "SignIn",
    "token_hash",
]

SECOND_FACTORS = frozenset({"otp", "hwk", "rc", "mfa"})


def token_hash(value: str) -> str:
    """SHA-256 hex of a 256-bit random secret (a slow hash adds nothing at that entropy)."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class ClientCert:
    sha1: str  # hex, lower case
    sha256: str
    pem: str
    not_after: datetime


@dataclass(frozen=True)
class Client:
    id: str
    tenant_id: str
    name: str
    public: bool
    redirect_uris: tuple[str, ...]
    role_groups: tuple[str, ...]
    secret_hash: str | None
    certs: tuple[ClientCert, ...]
    disabled: bool
    builtin: str | None = None


@dataclass(frozen=True)
class SignIn:
    """A snapshot of one interactive sign-in, carried from the browser step to the tokens it yields."""

    user_id: str
    upn: str
    name: str
    amr: tuple[str, ...]
    acr: str
    auth_time: int
    session_id: str
    role_groups: tuple[str, ...]

    @property
    def multi_factor(self) -> bool:
        return bool(SECOND_FACTORS.intersection(self.amr))

    @classmethod
    def from_user(cls, user: SignedInUserLike) -> SignIn:
        auth_time = user.auth_time
        seconds = (
            int(auth_time.timestamp()) if auth_time.tzinfo else int((auth_time - _EPOCH).total_seconds())
        )
        return cls(
            user.user_id,
            user.upn,
            user.display_name,
            tuple(user.amr),
            user.acr,
            seconds,
            user.session_id,
            tuple(user.role_groups),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "upn": self.upn,
            "name": self.name,
            "amr": list(self.amr),
            "acr": self.acr,
            "auth_time": self.auth_time,
            "session_id": self.session_id,
            "role_groups": list(self.role_groups),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignIn:
        return cls(
            str(data["user_id"]),
            str(data["upn"]),
            str(data["name"]),
            tuple(data["amr"]),
            str(data["acr"]),
            int(data["auth_time"]),
            str(data["session_id"]),
            tuple(data["role_groups"]),
        )


_EPOCH = datetime(1970, 1, 1)


@dataclass
class DeviceRecord:
    code_hash: str
    tenant_id: str
    client_id: str
    user_code: str
    scopes: list[str]
    status: str  # pending | approved | denied | used
    interval: int
    created_at: datetime
    expires_at: datetime
    last_poll_at: datetime | None = None
    sign_in: SignIn | None = None


@dataclass
class AuthCodeRecord:
    code_hash: str
    tenant_id: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    code_challenge: str
    nonce: str | None
    sign_in: SignIn
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    family_id: str | None = None


@dataclass
class RefreshFamily:
    id: str
    tenant_id: str
    client_id: str
    sign_in: SignIn
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass
class RefreshRecord:
    token_hash: str
    family: RefreshFamily
    created_at: datetime
    idle_expires_at: datetime
    rotated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
