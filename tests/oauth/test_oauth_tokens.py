"""Access-token verification by InvokeCommand (RFC 6750 §3.1, RFC 7519 §7.2, RFC 8725 §3.1-§3.2): forged
algorithms, unknown keys, wrong audience/issuer/tenant and expiry are refused with 401; key rotation keeps the
previous key valid (JWKS publishes current + previous)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from oauth_support import Env, b64json, env

from mailwarden.oauth import OAuthServer

__all__ = ["env"]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _server(env: Env) -> OAuthServer:
    server: OAuthServer = env.app.state.oauth
    return server


def _assert_refused(env: Env, token: str) -> None:
    response = env.invoke(token)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_forged_tokens_are_refused(env: Env) -> None:
    good = env.user_tokens()["access_token"]
    assert env.invoke(good).status_code == 200
    header = b64json(good.split(".")[0])
    claims = b64json(good.split(".")[1])
    # alg: none
    _assert_refused(env, f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.")
    _assert_refused(env, f"{_b64({'alg': 'none', 'kid': header['kid']})}.{_b64(claims)}.")
    assert header["alg"] == "ES256"
    # an unknown kid, or the real kid, over a signature by some other key
    other = RSAKey.generate_key(2048)
    other_ec = ECKey.generate_key("P-256")
    _assert_refused(env, jwt.encode({"alg": "RS256", "kid": "nope"}, claims, other))
    _assert_refused(env, jwt.encode({"alg": "RS256", "kid": header["kid"]}, claims, other))
    _assert_refused(env, jwt.encode({"alg": "ES256", "kid": header["kid"]}, claims, other_ec))
    # a genuine signature by the server's id_token key (RS256) under the access-token key's kid, and
    # under its own kid with an algorithm that is not its own: a key verifies only its own algorithm
    server = _server(env)
    id_key = server.keys.signing_key("RS256")
    _assert_refused(env, jwt.encode({"alg": "RS256", "kid": header["kid"]}, claims, id_key.key))
    _assert_refused(
        env, jwt.encode({"alg": "PS256", "kid": id_key.kid}, claims, id_key.key, algorithms=["PS256"])
    )
    # RS256 under its own kid is the server's signature: access tokens minted before ES256 keep working
    assert env.invoke(jwt.encode({"alg": "RS256", "kid": id_key.kid}, claims, id_key.key)).status_code == 200
    # HS256 "signed" with the server's public key bytes (the classic key-confusion attack)
    public = _server(env).keys.verification_key(header["kid"])
    assert public is not None
    pem = public.key.as_pem(private=False)
    signing_input = f"{_b64({'alg': 'HS256', 'kid': header['kid'], 'typ': 'JWT'})}.{_b64(claims)}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    _assert_refused(env, forged)
    # a tampered payload under the genuine signature
    tampered = {**claims, "oid": "00000000-0000-0000-0000-000000000000"}
    parts = good.split(".")
    _assert_refused(env, f"{parts[0]}.{_b64(tampered)}.{parts[2]}")
    for junk in ("", "a.b", "a.b.c", "x" * 20000):
        _assert_refused(env, junk)


def test_audience_issuer_tenant_and_expiry(env: Env) -> None:
    server = _server(env)
    good = env.user_tokens()["access_token"]
    claims = b64json(good.split(".")[1])

    def resign(**changes: Any) -> str:
        return server.service.minter.sign({**claims, **changes})

    assert env.invoke(resign()).status_code == 200
    _assert_refused(env, resign(aud="https://graph.microsoft.com"))
    _assert_refused(env, resign(iss="https://evil.example/" + env.tenant_id + "/v2.0"))
    _assert_refused(env, resign(tid="00000000-0000-0000-0000-000000000000"))
    _assert_refused(env, resign(ver="1.0"))
    env.clock.advance(timedelta(seconds=3600 + 30))
    assert env.invoke(good).status_code == 200  # within the leeway
    env.clock.advance(timedelta(seconds=60))
    response = env.invoke(good)
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_token_of_another_tenant_is_refused(env: Env) -> None:
    good = env.user_tokens()["access_token"]
    response = env.client.post(
        "/adminapi/beta/other.onmicrosoft.com/InvokeCommand",
        json={"CmdletInput": {"CmdletName": "Get-AcceptedDomain"}},
        headers={"Authorization": f"Bearer {good}"},
    )
    assert response.status_code == 401


def test_key_rotation_overlap(env: Env) -> None:
    server = _server(env)
    old = env.user_tokens()["access_token"]
    first_kid = b64json(old.split(".")[0])["kid"]
    server.keys.rotate()
    new = env.user_tokens()["access_token"]
    assert b64json(new.split(".")[0])["kid"] != first_kid
    kids = {k["kid"] for k in env.client.get(f"/{env.domain}/discovery/v2.0/keys").json()["keys"]}
    assert first_kid in kids
    assert len(kids) == 4  # current and previous key of each family (ES256 access, RS256 id_token)
    assert env.invoke(old).status_code == 200
    assert env.invoke(new).status_code == 200
    server.keys.rotate()  # the first key is now two generations old: unknown
    _assert_refused(env, old)
    assert env.invoke(new).status_code == 200
