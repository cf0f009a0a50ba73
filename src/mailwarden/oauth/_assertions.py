"""Client authentication with a signed JWT (RFC 7523 §2.2 and §3, RFC 7521 §4.2; OIDC Core §9
``private_key_jwt``).

Matches the registered certificate by ``x5t`` (SHA-1) or ``x5t#S256`` (SHA-256) — MSAL sends them base64url
*with* ``=`` padding — and accepts RS256 and PS256 (MSAL's ``public_certificate`` form signs PS256). Claims:
``iss == sub == client_id``, ``aud`` the token endpoint URL, float ``iat``/``exp``, a lifetime of at most
10 minutes (plus leeway), a ``jti``. MSAL re-sends the *same* assertion for up to 540 s (msal-contract §18), so
an identical assertion is accepted again until it expires, while a *different* assertion reusing a seen
``jti`` is refused (RFC 7523 §3 item 7).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

from ._errors import InvalidClientError
from ._records import Client, ClientCert, token_hash
from ._repository import OAuthStore

__all__ = ["ASSERTION_TYPE", "MAX_ASSERTION_SECONDS", "thumbprints", "verify_client_assertion"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_SECONDS = 600
LEEWAY_SECONDS = 60
_ALGORITHMS = ["RS256", "PS256"]
# MSAL's x5c entries carry newlines; header values are checked here, not by joserfc's strict header checks.
# An x5c chain makes the header far larger than joserfc's 512-byte default.
_REGISTRY = JWSRegistry(algorithms=_ALGORITHMS, strict_check_header=False)
_REGISTRY.max_header_length = 16384


def thumbprints(cert: x509.Certificate) -> tuple[str, str]:
    """(SHA-1 hex, SHA-256 hex) of the DER certificate, as ``x5t`` / ``x5t#S256`` encode them."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der).hexdigest(), hashlib.sha256(der).hexdigest()  # noqa: S324 (x5t is SHA-1 by spec)


def _thumb_hex(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 200:
        return None
    cleaned = re.sub(r"\s+", "", value).rstrip("=")
    if re.fullmatch(r"[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64}", cleaned):
        return cleaned.lower()  # some clients send the hex thumbprint itself
    try:
        raw = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw.hex()


def _segment(part: str) -> dict[str, Any]:
    value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


def _matching_cert(client: Client, header: dict[str, Any]) -> ClientCert | None:
    sha1 = _thumb_hex(header.get("x5t"))
    sha256 = _thumb_hex(header.get("x5t#S256"))
    for cert in client.certs:
        if (sha1 is not None and sha1 == cert.sha1) or (sha256 is not None and sha256 == cert.sha256):
            return cert
    return None


def verify_client_assertion(
    assertion: str, client: Client, *, token_endpoint: str | tuple[str, ...], now: datetime, store: OAuthStore
) -> None:
    """Raise :class:`InvalidClientError` unless ``assertion`` authenticates ``client`` (RFC 7523 §3)."""
    bad = InvalidClientError("The client assertion is invalid.")
    parts = assertion.split(".")
    if len(assertion) > 32768 or len(parts) != 3:
        raise bad
    try:
        header = _segment(parts[0])
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise bad from exc
    if header.get("alg") not in _ALGORITHMS:
        raise InvalidClientError("The client assertion must be signed with RS256 or PS256.")
    cert = _matching_cert(client, header)
    if cert is None:
        raise InvalidClientError(
            "The client assertion's x5t / x5t#S256 matches no certificate registered for this client."
        )
    public = x509.load_pem_x509_certificate(cert.pem.encode()).public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise bad
    try:
        obj = jws.deserialize_compact(
            assertion, RSAKey.import_key(public), algorithms=_ALGORITHMS, registry=_REGISTRY
        )
        claims = json.loads(obj.payload)
    except (JoseError, ValueError) as exc:
        raise InvalidClientError("The client assertion's signature does not verify.") from exc
    if not isinstance(claims, dict):
        raise bad
    ts = now.timestamp() if now.tzinfo else now.replace(tzinfo=UTC).timestamp()
    if claims.get("iss") != client.id or claims.get("sub") != client.id:
        raise InvalidClientError("The client assertion's iss and sub must both be the client id.")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    accepted = (token_endpoint,) if isinstance(token_endpoint, str) else token_endpoint
    if not any(isinstance(a, str) and a in accepted for a in audiences):
        raise InvalidClientError(f"The client assertion's aud must be the token endpoint {accepted[0]}.")
    exp, iat, nbf = claims.get("exp"), claims.get("iat", claims.get("nbf")), claims.get("nbf")
    jti = claims.get("jti")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or not isinstance(jti, str) or not jti:
        raise InvalidClientError("The client assertion needs exp and jti claims.")
    if ts > exp + LEEWAY_SECONDS:
        raise InvalidClientError("The client assertion has expired.")
    start = iat if isinstance(iat, int | float) else None
    if start is None or exp - start > MAX_ASSERTION_SECONDS + LEEWAY_SECONDS:
        raise InvalidClientError("The client assertion must carry iat and live at most 10 minutes.")
    if start > ts + LEEWAY_SECONDS or (isinstance(nbf, int | float) and nbf > ts + LEEWAY_SECONDS):
        raise InvalidClientError("The client assertion is not valid yet.")
    if cert.not_after.replace(tzinfo=UTC).timestamp() < ts:
        raise InvalidClientError("The client certificate has expired.")
    digest = token_hash(assertion)
    seen = store.seen_assertion(client.id, jti[:256])
    if seen is None:
        expires = datetime.fromtimestamp(exp + LEEWAY_SECONDS, UTC).replace(tzinfo=None)
        store.remember_assertion(client.tenant_id, client.id, jti[:256], digest, expires)
    elif seen != digest:
        raise InvalidClientError("The client assertion reuses a jti already seen with another assertion.")
