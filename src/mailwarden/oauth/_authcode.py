"""Authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636; OIDC Core §3.1).

Only ``response_type=code`` (no implicit: ``unsupported_response_type``, RFC 6749 §4.1.2.1) and only
``code_challenge_method=S256`` (RFC 7636 §4.2; ``plain`` and a missing challenge or verifier are refused).
Redirect URIs match exactly (RFC 6749 §3.1.2.3), loopback URIs of the public client on any port (RFC 8252
§7.3). A code lives 5 minutes and is single use; presenting it again revokes the refresh family issued from it
(RFC 6749 §4.1.2).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from ._clients import redirect_uri_allowed
from ._errors import InvalidGrantError, InvalidRequestError, OAuthError, UnsupportedResponseTypeError
from ._records import AuthCodeRecord, Client, SignIn, token_hash
from ._repository import OAuthStore
from ._scopes import parse_scopes
from ._service import TokenService

__all__ = ["authorize_redirect", "check_authorize_request", "exchange_code", "pkce_s256"]

_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def pkce_s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier)))."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _with_query(uri: str, params: dict[str, str]) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


def check_authorize_request(client: Client | None, params: Mapping[str, str]) -> str:
    """Validate what must be checked *before* redirecting anywhere (RFC 6749 §4.1.2.1): the client and the
    redirect URI. Returns the redirect URI; raises :class:`InvalidRequestError` (shown as a page, never as a
    redirect to an unverified URI)."""
    if client is None or client.disabled:
        raise InvalidRequestError("Unknown client_id.")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri or not redirect_uri_allowed(client, redirect_uri):
        raise InvalidRequestError("The redirect_uri is not registered for this client.")
    return redirect_uri


def authorize_redirect(
    store: OAuthStore, service: TokenService, *, client: Client, params: Mapping[str, str], sign_in: SignIn
) -> str:
    """RFC 6749 §4.1.2: the redirect carrying a code (or an error, §4.1.2.1) for a signed-in user."""
    redirect_uri = check_authorize_request(client, params)
    state = {"state": params["state"]} if params.get("state") else {}
    error: OAuthError | None = None
    if params.get("response_type") != "code":
        error = UnsupportedResponseTypeError("Only response_type=code is supported (no implicit flow).")
    elif params.get("response_mode") not in (None, "", "query"):
        error = InvalidRequestError("Only response_mode=query is supported.")
    elif not params.get("code_challenge"):
        error = InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
    elif params.get("code_challenge_method") != "S256":
        error = InvalidRequestError("Only code_challenge_method=S256 is supported.")
    elif not _CHALLENGE_RE.match(params["code_challenge"]):
        error = InvalidRequestError("code_challenge must be a base64url SHA-256 value.")
    if error is None:
        try:
            scopes = parse_scopes(params.get("scope"))
        except OAuthError as exc:
            error = exc
    if error is not None:
        return _with_query(redirect_uri, {"error": error.code, "error_description": error.message, **state})
    code = secrets.token_urlsafe(32)
    now = service.now()
    store.add_auth_code(
        AuthCodeRecord(
            token_hash(code),
            client.tenant_id,
            client.id,
            redirect_uri,
            list(scopes.requested),
            params["code_challenge"],
            params.get("nonce") or None,
            sign_in,
            now,
            now + timedelta(seconds=service.lifetimes.auth_code_seconds),
        )
    )
    return _with_query(redirect_uri, {"code": code, **state})


def exchange_code(
    store: OAuthStore,
    service: TokenService,
    *,
    client: Client,
    form: Mapping[str, str],
    issuer: str,
    ip: str,
) -> dict[str, Any] | OAuthError:
    """RFC 6749 §4.1.3-§4.1.4 with RFC 7636 §4.5-§4.6. A returned error commits (reuse revocation)."""
    code = form.get("code", "")
    record = store.auth_code(token_hash(code)) if code else None
    if record is None or record.client_id != client.id or record.tenant_id != client.tenant_id:
        raise InvalidGrantError("The authorization code is not valid.")
    if record.used_at is not None:
        if record.family_id is not None:
            store.revoke_family(record.family_id, service.now(), "code_reuse")
        return InvalidGrantError(
            "The authorization code has already been used; tokens issued from it are revoked."
        )
    if service.now() > record.expires_at:
        raise InvalidGrantError("The authorization code has expired.")
    if form.get("redirect_uri", "") != record.redirect_uri:
        raise InvalidGrantError("redirect_uri does not match the authorization request.")
    verifier = form.get("code_verifier", "")
    if not verifier:
        raise InvalidGrantError("code_verifier is required (PKCE).")
    if not _VERIFIER_RE.match(verifier) or not hmac.compare_digest(
        pkce_s256(verifier), record.code_challenge
    ):
        raise InvalidGrantError("The code_verifier does not match the code_challenge.")
    record.used_at = service.now()
    body, family = service.prepare_for_user(
        store,
        issuer=issuer,
        client=client,
        sign_in=record.sign_in,
        scopes=parse_scopes(" ".join(record.scopes)),
        ip=ip,
        nonce=record.nonce,
    )
    record.family_id = None if family is None else family.id
    store.save_auth_code(record)
    return body
