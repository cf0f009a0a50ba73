"""Grants end to end through the real app (TestClient), with the identity collaborator faked: device code
(RFC 8628), authorization code + PKCE (RFC 7636), refresh rotation and reuse (RFC 6749 §6/§10.4), client
credentials with a secret (RFC 6749 §4.4), conditional access and the admin-MFA rule."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from oauth_support import (
    API_SCOPE,
    DEVICE_GRANT,
    HOME_IP,
    OFFICE_IP,
    Env,
    b64json,
    env,
    pkce_pair,
)

__all__ = ["env"]


def test_discovery_and_jwks(env: Env) -> None:
    for ref in (env.domain, env.tenant_id):
        doc = env.client.get(f"/{ref}/v2.0/.well-known/openid-configuration").json()
        assert doc["issuer"] == f"http://testserver/{env.tenant_id}/v2.0"
        assert doc["token_endpoint"] == f"http://testserver/{ref}/oauth2/v2.0/token"
        assert doc["code_challenge_methods_supported"] == ["S256"]
        assert set(doc["token_endpoint_auth_methods_supported"]) == {
            "none", "client_secret_post", "client_secret_basic", "private_key_jwt",
        }  # fmt: skip
        for key in ("device_authorization_endpoint", "jwks_uri", "userinfo_endpoint", "end_session_endpoint"):
            assert key in doc
    keys = env.client.get(f"/{env.domain}/discovery/v2.0/keys").json()["keys"]
    assert {(k["kty"], k["alg"]) for k in keys} == {("EC", "ES256"), ("RSA", "RS256")}
    assert all("d" not in k and "p" not in k for k in keys)
    assert env.client.get("/nosuch.onmicrosoft.com/v2.0/.well-known/openid-configuration").status_code == 404


def test_device_flow_pending_slow_down_success_single_use(env: Env) -> None:
    assert env.identity.signed_in is not None
    env.member("user", env.identity.signed_in.user_id)
    flow = env.client.post(
        f"{env.root}/devicecode",
        data={"client_id": env.cli_client_id, "scope": f"{API_SCOPE} offline_access openid profile"},
    ).json()
    assert {"device_code", "user_code", "verification_uri", "expires_in", "interval", "message"} <= set(flow)
    poll = {"grant_type": DEVICE_GRANT, "client_id": env.cli_client_id, "device_code": flow["device_code"]}
    poll["code"] = flow["device_code"]  # MSAL's duplicate parameter, and no scope
    poll["client_info"] = "1"
    first = env.token(**poll)
    assert first.status_code == 400
    assert first.json()["error"] == "authorization_pending"
    assert "Retry-After" not in first.headers
    fast = env.token(**poll)
    assert fast.json()["error"] == "slow_down"
    env.clock.advance(11)
    assert env.token(**poll).json()["error"] == "authorization_pending"
    # Approve through the verification page.
    page = env.client.get(f"/{env.domain}/device", params={"user_code": flow["user_code"]})
    import re

    csrf = re.search(r"csrf_token value='([0-9a-f]+)'", page.text)
    assert csrf is not None
    forged = env.client.post(
        f"/{env.domain}/device",
        data={"csrf_token": "0" * 64, "user_code": flow["user_code"], "action": "approve"},
    )
    assert forged.status_code == 400
    env.client.post(
        f"/{env.domain}/device",
        data={
            "csrf_token": csrf.group(1),
            "user_code": flow["user_code"].lower().replace("-", ""),
            "action": "approve",
        },
    )
    env.clock.advance(11)
    ok = env.token(**poll)
    assert ok.status_code == 200, ok.text
    assert ok.headers["Cache-Control"] == "no-store"
    body = ok.json()
    assert body["scope"] == f"{API_SCOPE} offline_access openid profile"
    assert body["expires_in"] == 3600
    assert body["token_type"] == "Bearer"
    assert b64json(body["client_info"]) == {
        "uid": env.identity.signed_in.uid if False else b64json(body["client_info"])["uid"],
        "utid": env.tenant_id,
    }
    claims = b64json(body["access_token"].split(".")[1])
    assert claims["aud"] == "api://mailwarden"
    assert claims["scp"] == "Exchange.Manage"
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["ver"] == "2.0"
    assert claims["tid"] == env.tenant_id
    assert claims["iss"] == f"http://testserver/{env.tenant_id}/v2.0"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["ipaddr"] == OFFICE_IP
    id_token = b64json(body["id_token"].split(".")[1])
    assert id_token["aud"] == env.cli_client_id
    assert id_token["sub"] == claims["oid"]
    assert id_token["preferred_username"] == "ada@example.com"
    assert env.invoke(body["access_token"]).status_code == 200
    # Single use.
    again = env.token(**poll)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_device_denied_and_expired(env: Env) -> None:
    flow = env.client.post(
        f"{env.root}/devicecode", data={"client_id": env.cli_client_id, "scope": API_SCOPE}
    ).json()
    page = env.client.get(f"/{env.domain}/device")
    import re

    csrf = re.search(r"csrf_token value='([0-9a-f]+)'", page.text)
    assert csrf is not None
    env.client.post(
        f"/{env.domain}/device",
        data={"csrf_token": csrf.group(1), "user_code": flow["user_code"], "action": "deny"},
    )
    poll = {"grant_type": DEVICE_GRANT, "client_id": env.cli_client_id, "device_code": flow["device_code"]}
    assert env.token(**poll).json()["error"] == "access_denied"
    late = env.client.post(
        f"{env.root}/devicecode", data={"client_id": env.cli_client_id, "scope": API_SCOPE}
    ).json()
    env.clock.advance(timedelta(minutes=16))
    expired = env.token(grant_type=DEVICE_GRANT, client_id=env.cli_client_id, device_code=late["device_code"])
    assert expired.json()["error"] == "expired_token"


def test_device_page_redirects_to_sign_in(env: Env) -> None:
    env.identity.signed_in = None
    response = env.client.get(f"/{env.domain}/device?user_code=ABCD-EFGH", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/{env.domain}/login?return_to=")


def _authorize(
    env: Env, challenge: str | None, method: str | None = "S256", redirect: str = "http://127.0.0.1:53682/"
) -> dict[str, list[str]]:
    params = {
        "client_id": env.cli_client_id,
        "response_type": "code",
        "redirect_uri": redirect,
        "scope": f"{API_SCOPE} openid offline_access",
        "state": "xyz",
    }
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None:
        params["code_challenge_method"] = method
    response = env.client.get(f"{env.root}/authorize", params=params, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect
    return parse_qs(location.query)


def test_authorization_code_pkce(env: Env) -> None:
    verifier, challenge = pkce_pair()
    # plain and a missing challenge are refused at the authorize step
    assert _authorize(env, verifier[:43], method="plain")["error"] == ["invalid_request"]
    assert _authorize(env, None)["error"] == ["invalid_request"]
    refused = env.client.get(
        f"{env.root}/authorize",
        params={
            "client_id": env.cli_client_id,
            "response_type": "token",
            "redirect_uri": "http://localhost:1234/",
        },
        follow_redirects=False,
    )
    assert parse_qs(urlsplit(refused.headers["location"]).query)["error"] == ["unsupported_response_type"]
    bad_redirect = env.client.get(
        f"{env.root}/authorize",
        params={
            "client_id": env.cli_client_id,
            "response_type": "code",
            "redirect_uri": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert bad_redirect.status_code == 400
    query = _authorize(env, challenge, redirect="http://localhost:40123/")
    assert query["state"] == ["xyz"]
    code = query["code"][0]
    form = {
        "grant_type": "authorization_code",
        "client_id": env.cli_client_id,
        "code": code,
        "redirect_uri": "http://localhost:40123/",
    }
    missing = env.token(**form)
    assert missing.json()["error"] == "invalid_grant"
    assert "code_verifier" in missing.json()["error_description"]
    wrong = env.token(**form, code_verifier=pkce_pair()[0])
    assert wrong.json()["error"] == "invalid_grant"
    other_redirect = env.token(**{**form, "redirect_uri": "http://localhost:40124/"}, code_verifier=verifier)
    assert other_redirect.json()["error"] == "invalid_grant"
    ok = env.token(**form, code_verifier=verifier)
    assert ok.status_code == 200, ok.text
    tokens = ok.json()
    # Reuse of the code: refused, and the refresh token issued from it is revoked.
    reuse = env.token(**form, code_verifier=verifier)
    assert reuse.json()["error"] == "invalid_grant"
    refresh = env.token(
        grant_type="refresh_token", client_id=env.cli_client_id, refresh_token=tokens["refresh_token"]
    )
    assert refresh.json()["error"] == "invalid_grant"
    assert env.invoke(tokens["access_token"]).status_code == 401


def test_refresh_rotation_and_reuse_revokes_family(env: Env) -> None:
    tokens = env.user_tokens()
    rt1 = tokens["refresh_token"]
    form = {"grant_type": "refresh_token", "client_id": env.cli_client_id, "client_info": "1"}
    r2 = env.token(**form, refresh_token=rt1, scope=f"{API_SCOPE} offline_access openid profile")
    assert r2.status_code == 200, r2.text
    rt2 = r2.json()["refresh_token"]
    assert rt2 != rt1
    # The EXO alias is the same permission; the token then carries that audience.
    r3 = env.token(**form, refresh_token=rt2, scope="https://outlook.office365.com/.default offline_access")
    assert r3.status_code == 200, r3.text
    assert b64json(r3.json()["access_token"].split(".")[1])["aud"] == "https://outlook.office365.com"
    assert r3.json()["scope"] == "https://outlook.office365.com/.default offline_access"
    assert env.invoke(r3.json()["access_token"]).status_code == 200
    rt3 = r3.json()["refresh_token"]
    # Reusing rt1 revokes the whole family: even the newest token fails, and its access tokens too.
    reuse = env.token(**form, refresh_token=rt1)
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert env.token(**form, refresh_token=rt3).json()["error"] == "invalid_grant"
    assert env.invoke(r3.json()["access_token"]).status_code == 401


def test_refresh_limits_and_revoked_session(env: Env) -> None:
    form = {"grant_type": "refresh_token", "client_id": env.cli_client_id}
    idle = env.user_tokens()["refresh_token"]
    env.clock.advance(timedelta(days=15))
    assert "inactivity" in env.token(**form, refresh_token=idle).json()["error_description"]
    rt = env.user_tokens()["refresh_token"]
    for _ in range(6):
        env.clock.advance(timedelta(days=13))
        response = env.token(**form, refresh_token=rt)
        assert response.status_code == 200, response.text
        rt = response.json()["refresh_token"]
    env.clock.advance(timedelta(days=13))  # 91 days after the sign-in: past the 90-day absolute limit
    assert "maximum lifetime" in env.token(**form, refresh_token=rt).json()["error_description"]
    tokens = env.user_tokens()
    env.identity.revoked.add(env.identity.signed_in.session_id if env.identity.signed_in else "")
    assert env.token(**form, refresh_token=tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert env.invoke(tokens["access_token"]).status_code == 401


def test_client_credentials_with_secret(env: Env) -> None:
    client_id, secret = env.register_app(secret=True)
    assert secret is not None
    form = {"grant_type": "client_credentials", "scope": "api://mailwarden/.default"}
    ok = env.token(**form, client_id=client_id, client_secret=secret)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert "refresh_token" not in body
    assert body["scope"] == "api://mailwarden/.default"
    claims = b64json(body["access_token"].split(".")[1])
    assert claims["roles"] == ["Exchange.ManageAsApp"]
    assert "scp" not in claims
    assert claims["appid"] == client_id
    assert env.invoke(body["access_token"]).status_code == 200
    import base64

    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    assert env.token(**form, headers={"Authorization": f"Basic {basic}"}).status_code == 200
    bad = env.token(**form, client_id=client_id, client_secret=secret + "x")
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    exo = env.token(
        grant_type="client_credentials",
        scope="https://outlook.office365.com/.default",
        client_id=client_id,
        client_secret=secret,
    )
    assert b64json(exo.json()["access_token"].split(".")[1])["aud"] == "https://outlook.office365.com"
    # A public client cannot use it; an app cannot use the device flow.
    assert env.token(**form, client_id=env.cli_client_id).json()["error"] == "unauthorized_client"
    assert env.token(**form, client_id=client_id).json()["error"] == "invalid_client"


def test_unsupported_grants(env: Env) -> None:
    for grant in ("password", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer"):
        response = env.token(grant_type=grant, client_id=env.cli_client_id, username="a", password="b")
        assert response.status_code == 400
        assert response.json()["error"] == "unsupported_grant_type"
    assert env.token(client_id=env.cli_client_id).json()["error"] == "invalid_request"
    bad_scope = env.client.post(
        f"{env.root}/devicecode",
        data={"client_id": env.cli_client_id, "scope": "https://graph.microsoft.com/.default"},
    )
    assert bad_scope.json()["error"] == "invalid_scope"


def test_admin_without_mfa_gets_no_token(env: Env) -> None:
    env.identity.sign_in(env.tenant_id, amr=("pwd",), role_groups=("Organization Management",))
    flow = env.device_login()
    response = env.token(
        grant_type=DEVICE_GRANT, client_id=env.cli_client_id, device_code=flow["device_code"]
    )
    assert response.status_code == 400
    assert response.json()["error"] == "interaction_required"
    assert "Multi-factor" in response.json()["error_description"]
    # A non-admin with a password only is fine.
    env.identity.sign_in(env.tenant_id, amr=("pwd",))
    assert "access_token" in env.user_tokens()


def test_conditional_access_at_issue_and_call(env: Env) -> None:
    env.identity.blocked_ips.add(HOME_IP)
    flow = env.device_login()
    denied = env.token(
        HOME_IP, grant_type=DEVICE_GRANT, client_id=env.cli_client_id, device_code=flow["device_code"]
    )
    assert denied.status_code == 400
    assert denied.json()["error"] == "access_denied"
    assert "Office only" in denied.json()["error_description"]
    tokens = env.user_tokens()
    assert env.invoke(tokens["access_token"], OFFICE_IP).status_code == 200
    at_home = env.invoke(tokens["access_token"], HOME_IP)
    assert at_home.status_code == 403
    assert at_home.json()["error"]["code"] == "AccessDeniedException"
    assert "Office only" in at_home.json()["error"]["message"]
    refresh = env.token(
        HOME_IP,
        grant_type="refresh_token",
        client_id=env.cli_client_id,
        refresh_token=tokens["refresh_token"],
    )
    assert refresh.json()["error"] == "access_denied"
    assert ("call", HOME_IP) in env.identity.calls
    assert ("token", HOME_IP) in env.identity.calls


def test_userinfo_and_logout(env: Env) -> None:
    tokens = env.user_tokens()
    info = env.client.get(
        f"/{env.domain}/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.status_code == 200
    assert info.json()["preferred_username"] == "ada@example.com"
    assert env.client.get(f"/{env.domain}/oidc/userinfo").status_code == 401
    assert env.client.get(f"{env.root}/logout").status_code == 200
