"""Client authentication with a signed JWT (RFC 7523 §2.2 and §3, RFC 7521 §4.2; OIDC Core §9
``private_key_jwt``).

Matches the registered certificate by ``x5t`` (SHA-1) or ``x5t#S256`` (SHA-256) — MSAL sends them base64url
*with* ``=`` padding — and accepts RS256 and PS256 only (MSAL's ``public_certificate`` form signs PS256);
``none``, HMAC (HS256 keyed with the public certificate: algorithm confusion) and any ``kid``-only header
are refused before any key is used. Claims (RFC 7523 §3):

* ``iss == sub == client_id`` (items 1, 2);
* ``aud`` (item 3) a single string naming *this tenant's* token endpoint — what Entra documents and MSAL
  sends — or this tenant's issuer identifier ``{base}/{tenant_id}/v2.0``. We accept the issuer too because
  draft-ietf-oauth-rfc7523bis makes it the recommended value (it closes the "audience injection" hole of
  endpoint URLs shared between servers); an array of audiences is refused for the same reason, and so is
  another tenant's endpoint or issuer;
* ``exp`` (item 4) not in the past (60 s clock-skew leeway), ``nbf``/``iat`` not in the future (item 5,
  same leeway), and ``exp - iat`` at most 10 minutes (Entra's limit; both values come from the client's
  clock, so no skew leeway applies to the difference);
* a ``jti`` (item 7). MSAL re-sends the *same* assertion for up to 540 s (msal-contract §18), so an identical
  assertion is accepted again until it expires, while a *different* assertion reusing a seen ``jti`` — even
  one differing only in ``iat``/``exp`` — is refused. The store is keyed by (client, jti), so two clients
  may use the same ``jti``; rows are pruned once the assertion they record has expired.

Every refusal is :class:`InvalidClientError` (HTTP 401, RFC 6749 §5.2) with a fixed message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any, TypeGuard

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
    accepted = (token_endpoint,) if isinstance(token_endpoint, str) else token_endpoint
    if not isinstance(aud, str) or aud not in accepted:
        raise InvalidClientError(f"The client assertion's aud must be the token endpoint {accepted[0]}.")
    exp, iat, nbf = claims.get("exp"), claims.get("iat", claims.get("nbf")), claims.get("nbf")
    jti = claims.get("jti")
    if not _number(exp) or not isinstance(jti, str) or not jti or len(jti) > 256:
        raise InvalidClientError("The client assertion needs exp and jti claims.")
    if ts > exp + LEEWAY_SECONDS:
        raise InvalidClientError("The client assertion has expired.")
    if not _number(iat) or exp - iat > MAX_ASSERTION_SECONDS or exp <= iat:
        raise InvalidClientError("The client assertion must carry iat and live at most 10 minutes.")
    if iat > ts + LEEWAY_SECONDS or (nbf is not None and (not _number(nbf) or nbf > ts + LEEWAY_SECONDS)):
        raise InvalidClientError("The client assertion is not valid yet.")
    if cert.not_after.replace(tzinfo=UTC).timestamp() < ts:
        raise InvalidClientError("The client certificate has expired.")
    _remember_jti(store, client, jti, token_hash(assertion), exp, now)


def _number(value: Any) -> TypeGuard[int | float]:
    """A JSON number that is a NumericDate (RFC 7519 §2) — ``True``/``False`` are not."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _remember_jti(
    store: OAuthStore, client: Client, jti: str, digest: str, exp: float, now: datetime
) -> None:
    """RFC 7523 §3 item 7: one assertion per (client, jti) while it could still be accepted."""
    naive_now = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
    # Prune first: rows whose assertion can no longer pass the exp check are dead weight, and pruning here
    # (rather than in a job) keeps the table bounded by the assertions of the last ~11 minutes.
    store.purge_assertions(naive_now)
    seen = store.seen_assertion(client.id, jti)
    if seen is None:
        expires = datetime.fromtimestamp(exp + LEEWAY_SECONDS, UTC).replace(tzinfo=None)
        store.remember_assertion(client.tenant_id, client.id, jti, digest, expires)
        # A concurrent request may have stored the jti first (remember_assertion then keeps its row):
        # read it back so that two *different* assertions racing with one jti cannot both pass.
        seen = store.seen_assertion(client.id, jti)
    if seen != digest:
        raise InvalidClientError("The client assertion reuses a jti already seen with another assertion.")
