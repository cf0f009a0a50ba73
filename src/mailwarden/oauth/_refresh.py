"""Refresh token grant (RFC 6749 §6; rotation and reuse detection per RFC 6749 §10.4 and the OAuth 2.0
Security BCP, RFC 9700 §4.14.2).

Refresh tokens are opaque 256-bit values stored as SHA-256. Every use rotates the token; presenting a token
that was already rotated revokes its whole family, so even the newest token stops working. A family ends at
its absolute lifetime (``refresh_absolute_days``) and a token after ``refresh_idle_days`` unused. A refresh
fails once the sign-in session it descends from is revoked or expired (``identity.session_active``). The
requested scopes may differ in spelling (``api://mailwarden`` or the EXO alias) but grant nothing new.
"""

from __future__ import annotations

from typing import Any

from ._errors import InvalidGrantError, InvalidRequestError, OAuthError
from ._records import Client, token_hash
from ._repository import OAuthStore
from ._scopes import parse_scopes
from ._service import TokenService

__all__ = ["refresh_grant"]


def refresh_grant(
    store: OAuthStore,
    service: TokenService,
    *,
    client: Client,
    refresh_token: str,
    scope: str | None,
    issuer: str,
    ip: str,
) -> dict[str, Any] | OAuthError:
    """RFC 6749 §6. A *returned* error is answered after its revocation commits."""
    if not refresh_token:
        raise InvalidRequestError("refresh_token is required.")
    record = store.refresh(token_hash(refresh_token)) if len(refresh_token) < 512 else None
    if record is None:
        raise InvalidGrantError("The refresh token is not valid.")
    family = record.family
    if family.client_id != client.id or family.tenant_id != client.tenant_id:
        raise InvalidGrantError("The refresh token is not valid.")
    if family.revoked_at is not None:
        raise InvalidGrantError("The refresh token has been revoked.")
    now = service.now()
    if record.rotated_at is not None:
        store.revoke_family(family.id, now, "refresh_token_reuse")
        return InvalidGrantError(
            "The refresh token was already used. All tokens of this sign-in are revoked; sign in again."
        )
    if now > family.expires_at:
        raise InvalidGrantError("The refresh token has reached its maximum lifetime; sign in again.")
    if now > record.idle_expires_at:
        raise InvalidGrantError("The refresh token expired after a period of inactivity; sign in again.")
    if not service.identity.session_active(family.sign_in.session_id, session=store.session):
        store.revoke_family(family.id, now, "session_ended")
        return InvalidGrantError("The sign-in session has ended or was revoked; sign in again.")
    scopes = parse_scopes(scope if scope else " ".join(family.scopes))
    store.mark_rotated(record.token_hash, now)
    body, _ = service.prepare_for_user(
        store, issuer=issuer, client=client, sign_in=family.sign_in, scopes=scopes, ip=ip, family=family
    )
    return body
