"""JWT access tokens and id_tokens (RFC 7519; RFC 9068 profile; OIDC Core §2 ID Token) and their
verification for the API (RFC 6750 §3.1 ``invalid_token``).

Tokens are JWS compact with ``kid`` (RFC 7515 §4.1.4): access tokens ES256, id_tokens RS256 (see
``_keys``). :func:`verify_access_token` raises :class:`AuthenticationError` for anything it does not accept
and never returns a boolean: a header ``alg`` other than the algorithm of the key its ``kid`` names
(``none``, HS256 signed with the public key bytes, RS256 under an ES256 kid, …), an unknown ``kid``, a bad
signature, a wrong ``iss``/``aud``/``tid``, or a token outside ``nbf``..``exp`` (with a small leeway).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from joserfc import jws, jwt
from joserfc.errors import JoseError

from ..errors import AuthenticationError
from ._keys import ALGORITHMS, Algorithm, SigningKeys
from ._scopes import AUDIENCES

__all__ = ["AccessToken", "TokenMinter", "Unsigned", "b64url_json", "issuer_for", "verify_access_token"]

LEEWAY_SECONDS = 60


def issuer_for(base_url: str, tenant_id: str) -> str:
    """``https://host[:port]/{tenant_id}/v2.0`` — the Entra v2 layout (msal-contract §2, §4)."""
    return f"{base_url.rstrip('/')}/{tenant_id}/v2.0"


def b64url_json(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Unsigned:
    """A token's claims, to be signed once the grant's transaction has committed (:meth:`TokenMinter.finish`).

    Signing is pure computation (an RSA signature is the largest single cost of a token response), so it
    does not belong inside the write transaction, where it would hold the database lock. Deliberately not a
    dataclass: a response that reaches the JSON encoder unsigned fails loudly instead of printing claims."""

    __slots__ = ("alg", "claims")

    def __init__(self, claims: dict[str, Any], alg: Algorithm = "ES256") -> None:
        self.claims = claims
        self.alg: Algorithm = alg


class TokenMinter:
    """Signs claims with the current key (RFC 7515 §7.1 compact serialization)."""

    def __init__(self, keys: SigningKeys) -> None:
        self.keys = keys

    def sign(self, claims: dict[str, Any], alg: Algorithm = "ES256") -> str:
        key = self.keys.signing_key(alg)
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key.key, algorithms=[alg])

    def finish(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` with every :class:`Unsigned` value replaced by its signed JWT."""
        return {k: self.sign(v.claims, v.alg) if isinstance(v, Unsigned) else v for k, v in body.items()}

    @staticmethod
    def new_jti() -> str:
        return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


@dataclass(frozen=True)
class AccessToken:
    """A verified access token's claims that the API acts on."""

    kind: Literal["user", "app"]
    tenant_id: str
    subject: str  # the user's oid, or the app's client id
    client_id: str
    audience: str
    display_name: str
    session_id: str | None
    amr: tuple[str, ...]
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    family_id: str | None
    expires_at: int
    claims: dict[str, Any]


def _segment(part: str) -> dict[str, Any]:
    padded = part + "=" * (-len(part) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def verify_access_token(
    token: str, keys: SigningKeys, *, issuer: str, tenant_id: str, now: float, leeway: int = LEEWAY_SECONDS
) -> AccessToken:
    """Verify signature, header and claims; raise :class:`AuthenticationError` on any failure."""
    invalid = AuthenticationError("The access token is invalid.")
    parts = token.split(".")
    if len(token) > 16384 or len(parts) != 3:
        raise invalid
    try:
        header = _segment(parts[0])
    except (ValueError, UnicodeError) as exc:
        raise invalid from exc
    if header.get("alg") not in ALGORITHMS or not isinstance(header.get("kid"), str) or "crit" in header:
        raise invalid
    key = keys.verification_key(header["kid"])
    if key is None or header["alg"] != key.alg:
        raise invalid
    try:
        obj = jws.deserialize_compact(token, key.key, algorithms=[key.alg])
        claims = json.loads(obj.payload)
    except (JoseError, ValueError) as exc:
        raise invalid from exc
    if not isinstance(claims, dict):
        raise invalid
    if claims.get("iss") != issuer or claims.get("tid") != tenant_id or claims.get("aud") not in AUDIENCES:
        raise AuthenticationError("The access token is invalid.")
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if not isinstance(exp, int | float) or not isinstance(nbf, int | float) or claims.get("ver") != "2.0":
        raise invalid
    if now > exp + leeway:
        raise AuthenticationError("The access token has expired.")
    if now + leeway < nbf:
        raise invalid
    scp = tuple(str(claims.get("scp", "")).split())
    roles = tuple(claims.get("roles") or ())
    client_id = str(claims.get("azp") or claims.get("appid") or "")
    if scp and isinstance(claims.get("oid"), str) and isinstance(claims.get("sid"), str):
        return AccessToken(
            "user",
            tenant_id,
            claims["oid"],
            client_id,
            claims["aud"],
            str(claims.get("preferred_username") or claims.get("upn") or claims["oid"]),
            claims["sid"],
            tuple(claims.get("amr") or ()),
            scp,
            (),
            claims.get("fam"),
            int(exp),
            claims,
        )
    if roles and not scp and client_id and claims.get("sub") == client_id:
        return AccessToken(
            "app",
            tenant_id,
            client_id,
            client_id,
            claims["aud"],
            str(claims.get("app_displayname") or client_id),
            None,
            (),
            (),
            roles,
            None,
            int(exp),
            claims,
        )
    raise invalid
