"""Public records of the identity service (one schema per direction: none of these carries a hash or a seed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "FactorInfo",
    "LocationInfo",
    "PolicyInfo",
    "SessionInfo",
    "SignInTicket",
    "SignedInUser",
    "TotpEnrolment",
    "UserInfo",
]


@dataclass(frozen=True)
class SignedInUser:
    tenant_id: str
    user_id: str
    upn: str
    display_name: str
    amr: tuple[str, ...]  # subset of ("pwd", "otp", "hwk", "rc") used in THIS sign-in
    acr: str  # "1" password only, "2" multi-factor, "3" phishing-resistant (WebAuthn)
    auth_time: datetime  # naive UTC
    session_id: str
    role_groups: tuple[str, ...]


@dataclass(frozen=True)
class UserInfo:
    tenant_id: str
    user_id: str
    upn: str
    display_name: str
    disabled: bool
    role_groups: tuple[str, ...]
    recipient_id: int | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "upn": self.upn,
            "display_name": self.display_name,
            "disabled": self.disabled,
            "role_groups": list(self.role_groups),
            "linked_recipient": self.recipient_id is not None,
            "created": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class SignInTicket:
    """The outcome of one sign-in step. ``secret`` goes into a cookie (``state == "active"``: the session
    cookie; otherwise the pending-sign-in cookie); it is never stored."""

    tenant_id: str
    user_id: str
    session_id: str
    secret: str
    state: Literal["active", "pending", "enrol"]


@dataclass(frozen=True)
class TotpEnrolment:
    secret_base32: str
    otpauth_uri: str
    qr_svg_data_uri: str


@dataclass(frozen=True)
class FactorInfo:
    kind: Literal["totp", "webauthn", "recovery_codes"]
    factor_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    remaining: int | None = None  # recovery codes left

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.factor_id,
            "name": self.name,
            "created": self.created_at.isoformat(),
            "last_used": None if self.last_used_at is None else self.last_used_at.isoformat(),
            "remaining": self.remaining,
        }


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    tenant_id: str
    user_id: str
    upn: str
    created_at: datetime
    last_seen_at: datetime
    auth_time: datetime
    expires_at: datetime
    amr: tuple[str, ...]
    ip: str | None
    user_agent: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "user_id": self.user_id,
            "upn": self.upn,
            "created": self.created_at.isoformat(),
            "last_seen": self.last_seen_at.isoformat(),
            "auth_time": self.auth_time.isoformat(),
            "expires": self.expires_at.isoformat(),
            "amr": list(self.amr),
            "ip": self.ip,
            "user_agent": self.user_agent,
        }


@dataclass(frozen=True)
class LocationInfo:
    name: str
    cidrs: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "cidrs": list(self.cidrs)}


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    action: str
    enabled: bool
    all_users: bool
    users: tuple[str, ...]
    role_groups: tuple[str, ...]
    apps: tuple[str, ...]
    locations: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "enabled": self.enabled,
            "all_users": self.all_users,
            "users": list(self.users),
            "role_groups": list(self.role_groups),
            "apps": list(self.apps),
            "locations": list(self.locations),
        }
