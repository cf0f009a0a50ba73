"""Device authorization grant (RFC 8628).

§3.1/§3.2 device authorization request and response; §3.3 the user enters the ``user_code`` on the
verification page (behind the identity part's sign-in) and approves or denies; §3.4/§3.5 token polling with
``authorization_pending``, ``slow_down`` (polled faster than the interval: the interval grows by 5 s),
``expired_token``, ``access_denied``. The ``device_code`` is single use. MSAL polls *without* ``scope`` and
with a duplicate ``code`` parameter (msal-contract §7), so the scopes are remembered from the device request.
User codes are 8 characters from a 20-letter consonant alphabet, ~34 bits (§6.1).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from ._errors import (
    AccessDeniedGrantError,
    AuthorizationPendingError,
    ExpiredTokenError,
    InvalidGrantError,
    InvalidRequestError,
    OAuthError,
    SlowDownError,
    UnauthorizedClientError,
)
from ._records import Client, DeviceRecord, SignIn, token_hash
from ._repository import OAuthStore
from ._scopes import parse_scopes
from ._service import TokenService

__all__ = ["USER_CODE_ALPHABET", "decide_device", "normalise_user_code", "poll_device", "start_device"]

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
SLOW_DOWN_STEP = 5


def _user_code() -> str:
    raw = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def normalise_user_code(value: str) -> str:
    cleaned = "".join(ch for ch in value.upper() if ch.isalnum())[:8]
    return f"{cleaned[:4]}-{cleaned[4:]}"


def start_device(
    store: OAuthStore, service: TokenService, *, client: Client, scope: str | None, verification_uri: str
) -> dict[str, Any]:
    """RFC 8628 §3.1-§3.2: issue a device code and a user code."""
    if not client.public:
        raise UnauthorizedClientError("The device code flow is for public clients.")
    scopes = parse_scopes(scope)
    device_code = secrets.token_urlsafe(32)
    now = service.now()
    lifetime = service.lifetimes.device_code_minutes * 60
    interval = service.lifetimes.device_interval
    for _ in range(5):
        user_code = _user_code()
        if store.device_by_user_code(client.tenant_id, user_code) is None:
            break
    store.add_device(
        DeviceRecord(
            token_hash(device_code),
            client.tenant_id,
            client.id,
            user_code,
            list(scopes.requested),
            "pending",
            interval,
            now,
            now + timedelta(seconds=lifetime),
        )
    )
    return {
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": f"{verification_uri}?user_code={user_code}",
        "expires_in": lifetime,
        "interval": interval,
        "message": (
            f"To sign in, use a web browser to open the page {verification_uri} and enter the code "
            f"{user_code} to authenticate."
        ),
    }


def decide_device(
    store: OAuthStore,
    service: TokenService,
    *,
    tenant_id: str,
    user_code: str,
    sign_in: SignIn | None,
    approve: bool,
) -> DeviceRecord:
    """RFC 8628 §3.3: the signed-in user approves (binding their sign-in) or denies a pending code."""
    record = store.device_by_user_code(tenant_id, normalise_user_code(user_code))
    if record is None or record.status != "pending" or service.now() > record.expires_at:
        raise InvalidRequestError("The code is unknown, expired or already used.")
    record.status = "approved" if approve else "denied"
    record.sign_in = sign_in if approve else None
    store.save_device(record)
    return record


def poll_device(
    store: OAuthStore, service: TokenService, *, client: Client, device_code: str, issuer: str, ip: str
) -> dict[str, Any] | OAuthError:
    """RFC 8628 §3.4-§3.5. A *returned* error is answered after the poll bookkeeping commits."""
    if not device_code:
        raise InvalidRequestError("device_code is required.")
    record = store.device(token_hash(device_code))
    if record is None or record.client_id != client.id or record.tenant_id != client.tenant_id:
        raise InvalidGrantError("The device code is not valid.")
    now = service.now()
    if now > record.expires_at:
        raise ExpiredTokenError("The device code has expired; start a new sign-in.")
    if record.status == "used":
        raise InvalidGrantError("The device code has already been used.")
    if record.status == "denied":
        raise AccessDeniedGrantError("The user declined the sign-in request.")
    if record.status == "pending":
        last = record.last_poll_at
        record.last_poll_at = now
        error: OAuthError
        if last is not None and (now - last).total_seconds() < record.interval * 0.8:
            record.interval += SLOW_DOWN_STEP
            error = SlowDownError(f"Polling too fast; wait {record.interval} seconds between requests.")
        else:
            error = AuthorizationPendingError("The user has not yet finished signing in.")
        store.save_device(record)
        return error
    assert record.sign_in is not None
    record.status = "used"
    store.save_device(record)
    body, _ = service.prepare_for_user(
        store,
        issuer=issuer,
        client=client,
        sign_in=record.sign_in,
        scopes=parse_scopes(" ".join(record.scopes)),
        ip=ip,
    )
    return body
