"""Signed keyset cursors (DESIGN §3).

A cursor is ``base64url(payload) "." base64url(HMAC-SHA256(key[kid], payload))``. The payload names the key id
(so keys rotate without breaking cursors in flight), the tenant, principal, cmdlet and a digest of the bound
parameters it belongs to, and the keyset position: the last key delivered, never an offset. Anything else
presented is refused; a cursor cannot be moved to another caller, tenant, cmdlet or filter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import InvalidCursorError

__all__ = ["CursorSigner", "CursorState", "params_digest"]

_VERSION = 1


def params_digest(cmdlet: str, values: dict[str, Any]) -> str:
    canonical = orjson.dumps(
        {"c": cmdlet.lower(), "p": {k: values[k] for k in sorted(values)}},
        default=_json_default,
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()[:32]


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if hasattr(value, "__dict__"):
        return vars(value)
    return str(value)


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class CursorState:
    tenant_id: str
    principal: str
    cmdlet: str
    digest: str
    last_key: int
    delivered: int
    issued_at: int


class CursorSigner:
    def __init__(
        self,
        current_key: Callable[[], tuple[str, bytes]],
        lookup_key: Callable[[str], bytes | None],
        *,
        max_age_seconds: int = 7 * 24 * 3600,
    ) -> None:
        self._current = current_key
        self._lookup = lookup_key
        self._max_age = max_age_seconds

    def encode(self, state: CursorState) -> str:
        kid, secret = self._current()
        payload = orjson.dumps(
            {
                "v": _VERSION,
                "kid": kid,
                "t": state.tenant_id,
                "p": state.principal,
                "c": state.cmdlet.lower(),
                "h": state.digest,
                "k": state.last_key,
                "n": state.delivered,
                "i": state.issued_at,
            }
        )
        mac = hmac.new(secret, payload, hashlib.sha256).digest()
        return f"{_b64e(payload)}.{_b64e(mac)}"

    def decode(
        self, token: str, *, tenant_id: str, principal: str, cmdlet: str, digest: str, now: datetime
    ) -> CursorState:
        try:
            body_text, mac_text = token.split(".")
            payload = _b64d(body_text)
            mac = _b64d(mac_text)
            data = orjson.loads(payload)
            kid = data["kid"]
        except (ValueError, KeyError, TypeError):
            raise InvalidCursorError("The cursor is malformed.") from None
        secret = self._lookup(kid) if isinstance(kid, str) else None
        if secret is None or not hmac.compare_digest(mac, hmac.new(secret, payload, hashlib.sha256).digest()):
            raise InvalidCursorError("The cursor signature is not valid.")
        try:
            state = CursorState(
                tenant_id=str(data["t"]),
                principal=str(data["p"]),
                cmdlet=str(data["c"]),
                digest=str(data["h"]),
                last_key=int(data["k"]),
                delivered=int(data["n"]),
                issued_at=int(data["i"]),
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidCursorError("The cursor is malformed.") from None
        if data.get("v") != _VERSION:
            raise InvalidCursorError("The cursor version is not supported.")
        if state.tenant_id != tenant_id or state.principal != principal:
            raise InvalidCursorError("The cursor was issued to another caller.")
        if state.cmdlet != cmdlet.lower() or state.digest != digest:
            raise InvalidCursorError("The cursor belongs to another cmdlet or other parameters.")
        age = now.astimezone(UTC).timestamp() - state.issued_at
        if age > self._max_age:
            raise InvalidCursorError("The cursor has expired; start the enumeration again.")
        return state
