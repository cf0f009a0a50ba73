"""RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0) through the real app and the real identity
service: the browser signs in on the HTML pages, an app gets tokens with the authorization code flow, and
``/{tenant}/oauth2/v2.0/logout`` then ends the server-side session, clears the cookie, kills the session's
refresh and access tokens, and is audited; ``/authorize`` asks for a sign-in again."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from oauth_support import pkce_pair
from sqlalchemy import select
from starlette.testclient import TestClient

from mailwarden.identity import IdentityService
from mailwarden.store import Database
from mailwarden.store._audit_models import AuditRecord

from conftest import TenantHandle

PASSWORD = "correct horse battery staple"
SCOPE = "api://mailwarden/Exchange.Manage openid profile offline_access"
REDIRECT = "http://localhost:40123/"


def _identity(client: TestClient) -> IdentityService:
    service: IdentityService = client.app.state.identity  # type: ignore[attr-defined]
    return service


def _cli_client_id(client: TestClient, tenant: TenantHandle) -> str:
    from mailwarden.oauth import ensure_builtin_clients

    db: Database = client.app.state.mailwarden.db  # type: ignore[attr-defined]
    with db.unit_of_work() as uow:
        return ensure_builtin_clients(uow.session, tenant.id)


class Browser:
    def __init__(self, client: TestClient, tenant: TenantHandle) -> None:
        self.client = client
        self.tenant = tenant
        self.cli = _cli_client_id(client, tenant)
        self.verifier, self.challenge = pkce_pair()

    @property
    def root(self) -> str:
        return f"/{self.tenant.domain}/oauth2/v2.0"

    def authorize(self) -> Any:
        return self.client.get(
            f"{self.root}/authorize",
            params={
                "client_id": self.cli,
                "response_type": "code",
                "redirect_uri": REDIRECT,
                "scope": SCOPE,
                "state": "st-1",
                "code_challenge": self.challenge,
                "code_challenge_method": "S256",
            },
            follow_redirects=False,
        )

    def sign_in(self, upn: str, return_to: str) -> Any:
        page = self.client.get(f"/{self.tenant.domain}/login", params={"return_to": return_to})
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf, page.text
        return self.client.post(
            f"/{self.tenant.domain}/login",
            data={"csrf": csrf.group(1), "username": upn, "password": PASSWORD, "return_to": return_to},
            follow_redirects=False,
        )

    def code_from(self, response: Any) -> str:
        assert response.status_code == 302, response.text
        location = urlsplit(response.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
        query = parse_qs(location.query)
        assert query["state"] == ["st-1"]
        return query["code"][0]

    def tokens(self, code: str) -> dict[str, Any]:
        response = self.client.post(
            f"{self.root}/token",
            data={
                "grant_type": "authorization_code",
                "client_id": self.cli,
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": self.verifier,
            },
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def refresh(self, refresh_token: str) -> Any:
        return self.client.post(
            f"{self.root}/token",
            data={"grant_type": "refresh_token", "client_id": self.cli, "refresh_token": refresh_token},
        )

    def userinfo(self, access_token: str) -> Any:
        return self.client.get(
            f"/{self.tenant.domain}/oidc/userinfo", headers={"Authorization": f"Bearer {access_token}"}
        )

    def signed_in_tokens(self, upn: str) -> dict[str, Any]:
        """Authorize → sign-in page → back to authorize → code → tokens."""
        first = self.authorize()
        assert first.status_code == 303
        return_to = parse_qs(urlsplit(first.headers["location"]).query)["return_to"][0]
        signed = self.sign_in(upn, return_to)
        assert signed.status_code == 303, signed.text
        assert signed.headers["location"] == return_to
        assert self.client.cookies.get("mw_session")
        return self.tokens(self.code_from(self.client.get(return_to, follow_redirects=False)))


def _claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def _sign_out_records(client: TestClient, tenant: TenantHandle) -> list[AuditRecord]:
    db: Database = client.app.state.mailwarden.db  # type: ignore[attr-defined]
    with db.unit_of_work(write=False) as uow:
        return list(
            uow.session.scalars(
                select(AuditRecord).where(
                    AuditRecord.tenant_id == tenant.id, AuditRecord.operation == "User signed out."
                )
            )
        )


@pytest.fixture
def browser(app_client: TestClient, tenant: TenantHandle) -> Browser:
    _identity(app_client).create_user(tenant.id, f"ann@{tenant.domain}", PASSWORD)
    return Browser(app_client, tenant)


def test_logout_with_id_token_hint_ends_the_browser_session(browser: Browser, tenant: TenantHandle) -> None:
    client = browser.client
    tokens = browser.signed_in_tokens(f"ann@{tenant.domain}")
    session_id = _claims(tokens["id_token"])["sid"]
    assert _identity(client).session_active(session_id)
    # With the session, authorize answers silently (no sign-in page).
    browser.code_from(browser.authorize())
    assert browser.userinfo(tokens["access_token"]).status_code == 200

    # A post_logout_redirect_uri that is not registered for the client (exactly) is refused, with no
    # redirect and without touching the session.
    for bad in ("https://evil.example/", "http://localhost:40123/", "http://localhost/"):
        refused = client.get(
            f"{browser.root}/logout",
            params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": bad},
            follow_redirects=False,
        )
        assert refused.status_code == 400, (bad, refused.text)
        assert "location" not in refused.headers
    # A tampered hint is refused too (§2: the OP must validate it issued the ID Token).
    head, body, sig = tokens["id_token"].split(".")
    forged = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged["sub"] = "someone-else"
    forged_body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    refused = client.get(
        f"{browser.root}/logout",
        params={"id_token_hint": f"{head}.{forged_body}.{sig}"},
        follow_redirects=False,
    )
    assert refused.status_code == 400
    assert _identity(client).session_active(session_id)
    assert _sign_out_records(client, tenant) == []

    # The real logout: registered URI (exact), state echoed, session ended, cookie cleared.
    done = client.get(
        f"{browser.root}/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "http://localhost",
            "state": "bye 1",
        },
        follow_redirects=False,
    )
    assert done.status_code == 302, done.text
    assert done.headers["location"] == "http://localhost?state=bye+1"
    cookie = done.headers["set-cookie"]
    assert cookie.startswith("mw_session=")
    assert "Max-Age=0" in cookie or "expires=" in cookie.lower()
    assert client.cookies.get("mw_session") is None
    assert not _identity(client).session_active(session_id)

    # Authorize now needs a sign-in again; the old refresh token and access token are dead.
    again = browser.authorize()
    assert again.status_code == 303
    assert urlsplit(again.headers["location"]).path == f"/{tenant.domain}/login"
    refreshed = browser.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    assert browser.userinfo(tokens["access_token"]).status_code == 401

    records = _sign_out_records(client, tenant)
    assert len(records) == 1
    assert records[0].data["SessionId"] == session_id
    assert records[0].data["UserId"] == f"ann@{tenant.domain}"


def test_logout_without_hint_asks_first(browser: Browser, tenant: TenantHandle) -> None:
    client = browser.client
    tokens = browser.signed_in_tokens(f"ann@{tenant.domain}")
    session_id = _claims(tokens["id_token"])["sid"]
    params = {"client_id": browser.cli, "post_logout_redirect_uri": "http://127.0.0.1", "state": "s2"}
    # A bare GET (any web page could trigger it) does not sign the user out: it asks (§2 "MUST ask").
    ask = client.get(f"{browser.root}/logout", params=params, follow_redirects=False)
    assert ask.status_code == 200
    assert "Sign out?" in ask.text
    assert _identity(client).session_active(session_id)
    csrf = re.search(r"name=csrf_token value='([0-9a-f]+)'", ask.text)
    assert csrf is not None
    # A POST without our CSRF token is asked again, not obeyed.
    forged = client.post(
        f"{browser.root}/logout", data={**params, "csrf_token": "0" * 64}, follow_redirects=False
    )
    assert forged.status_code == 200
    assert _identity(client).session_active(session_id)
    # An id_token_hint of *another* session of the same user is not enough either.
    other = Browser(TestClient(client.app, base_url="http://testserver"), tenant)
    other_tokens = other.signed_in_tokens(f"ann@{tenant.domain}")
    assert _claims(other_tokens["id_token"])["sid"] != session_id
    mismatched = client.get(
        f"{browser.root}/logout", params={"id_token_hint": other_tokens["id_token"]}, follow_redirects=False
    )
    assert mismatched.status_code == 200
    assert "Sign out?" in mismatched.text
    assert _identity(client).session_active(session_id)
    # The confirmed POST signs out and redirects with state.
    done = client.post(
        f"{browser.root}/logout", data={**params, "csrf_token": csrf.group(1)}, follow_redirects=False
    )
    assert done.status_code == 302, done.text
    assert done.headers["location"] == "http://127.0.0.1?state=s2"
    assert not _identity(client).session_active(session_id)
    assert browser.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert browser.authorize().status_code == 303
    # The other browser's session is untouched: logout ends this browser's session only.
    assert other.refresh(other_tokens["refresh_token"]).status_code == 200
    # Signed out already: logout is harmless and still redirects to a registered URI.
    after = client.get(
        f"{browser.root}/logout",
        params={"client_id": browser.cli, "post_logout_redirect_uri": "http://[::1]"},
        follow_redirects=False,
    )
    assert after.status_code == 302
    assert after.headers["location"] == "http://[::1]"
    assert len(_sign_out_records(client, tenant)) == 1
