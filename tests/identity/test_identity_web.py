"""The sign-in pages through HTTP (TestClient on the real app): identical answers for unknown and known accounts,
lockout over HTTP, the full browser flow (password → forced TOTP enrolment → session cookie → current_user()),
the second step, CSRF, return_to validation, sign-out."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from _identity_helpers import PASSWORD, code_at, csrf_of
from starlette.requests import Request
from starlette.testclient import TestClient

from mailwarden.clock import FakeClock
from mailwarden.identity import IdentityService, SignedInUser

from conftest import TenantHandle

INCORRECT = "Your account or password is incorrect."
THROTTLED = "Too many attempts. Try again later."


def _service(client: TestClient) -> IdentityService:
    service: IdentityService = client.app.state.identity  # type: ignore[attr-defined]
    return service


def _current_user(client: TestClient, tenant_id: str) -> SignedInUser | None:
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    request = Request(
        {"type": "http", "headers": [(b"cookie", cookie.encode())], "method": "GET", "path": "/"}
    )
    return _service(client).current_user(request, tenant_id)


def _post_password(
    client: TestClient, tenant: TenantHandle, username: str, password: str, return_to: str = "/x"
) -> object:
    page = client.get(f"/{tenant.domain}/login", params={"return_to": return_to})
    assert page.status_code == 200
    return client.post(
        f"/{tenant.domain}/login",
        data={"csrf": csrf_of(page.text), "username": username, "password": password, "return_to": return_to},
        follow_redirects=False,
    )


def test_unknown_and_wrong_password_are_byte_identical(app_client: TestClient, tenant: TenantHandle) -> None:
    _service(app_client).create_user(tenant.id, f"ann@{tenant.domain}", PASSWORD)
    unknown = _post_password(app_client, tenant, f"nobody@{tenant.domain}", "wrong password 1")
    wrong = _post_password(app_client, tenant, f"ann@{tenant.domain}", "wrong password 1")
    disabled_user = _service(app_client).create_user(tenant.id, f"bob@{tenant.domain}", PASSWORD)
    _service(app_client).set_disabled(tenant.id, disabled_user.user_id)
    disabled = _post_password(app_client, tenant, f"bob@{tenant.domain}", PASSWORD)
    for response in (unknown, wrong, disabled):
        assert response.status_code == 200  # type: ignore[attr-defined]
        assert INCORRECT in response.text  # type: ignore[attr-defined]
    assert unknown.content == wrong.content == disabled.content  # type: ignore[attr-defined]
    assert dict(unknown.headers) == dict(wrong.headers) == dict(disabled.headers)  # type: ignore[attr-defined]


def test_lockout_over_http_is_the_same_for_unknown_accounts(
    app_client: TestClient, tenant: TenantHandle, clock: FakeClock
) -> None:
    _service(app_client).create_user(tenant.id, f"ann@{tenant.domain}", PASSWORD)
    answers: dict[str, list[int]] = {}
    bodies: dict[str, bytes] = {}
    for who, ip in (("ann", "192.0.2.10"), ("nobody", "192.0.2.11")):
        with TestClient(app_client.app, base_url="http://testserver", client=(ip, 50000)) as client:
            statuses = []
            for _ in range(40):
                response = _post_password(client, tenant, f"{who}@{tenant.domain}", "wrong password")
                statuses.append(response.status_code)  # type: ignore[attr-defined]
                if response.status_code == 429:  # type: ignore[attr-defined]
                    retry = int(response.headers["retry-after"])  # type: ignore[attr-defined]
                    # Each client has its own pre-session cookie, hence its own CSRF token.
                    bodies[who] = re.sub(rb'name="csrf" value="[^"]+"', b"", response.content)  # type: ignore[attr-defined]
                    if retry > 120:
                        break
                    clock.advance(retry)
        answers[who] = statuses
    assert answers["ann"] == answers["nobody"]
    assert answers["ann"].count(200) == 10
    assert bodies["ann"] == bodies["nobody"]
    assert INCORRECT.encode() in bodies["ann"]
    assert THROTTLED.encode() in bodies["ann"]
    # The account stays locked from a fresh IP, even with the right password — same answer as unknown.
    with TestClient(app_client.app, base_url="http://testserver", client=("192.0.2.12", 50000)) as client:
        locked = _post_password(client, tenant, f"ann@{tenant.domain}", PASSWORD)
        ghost = _post_password(client, tenant, f"nobody@{tenant.domain}", PASSWORD)
        assert locked.status_code == ghost.status_code == 429  # type: ignore[attr-defined]
        assert locked.content == ghost.content  # type: ignore[attr-defined]


def test_full_browser_flow_with_forced_enrolment(
    app_client: TestClient, tenant: TenantHandle, clock: FakeClock
) -> None:
    _service(app_client).create_user(
        tenant.id, f"adm@{tenant.domain}", PASSWORD, role_groups=["Organization Management"]
    )
    return_to = f"/{tenant.domain}/oauth2/v2.0/authorize?client_id=x&state=y"
    login = _service(app_client).login_url(tenant.domain, return_to)
    assert urlsplit(login).path == f"/{tenant.domain}/login"
    page = app_client.get(login)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    pre_cookie = app_client.cookies.get("mw_pre")
    assert pre_cookie
    response = app_client.post(
        f"/{tenant.domain}/login",
        data={
            "csrf": csrf_of(page.text),
            "username": f"ADM@{tenant.domain}",
            "password": PASSWORD,
            "return_to": return_to,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert urlsplit(response.headers["location"]).path == f"/{tenant.domain}/login/enroll"
    assert "httponly" in response.headers["set-cookie"].lower()
    assert "samesite=lax" in response.headers["set-cookie"].lower()
    assert _current_user(app_client, tenant.id) is None  # not signed in before the second factor
    # Skipping to the account page does not help.
    assert app_client.get(f"/{tenant.domain}/login/account", follow_redirects=False).status_code == 303
    enroll = app_client.get(response.headers["location"])
    assert enroll.status_code == 200
    assert "data:image/svg+xml" in enroll.text
    assert "otpauth://totp/" in enroll.text
    secret = re.search(r"<code>([A-Z2-7]+)</code>", enroll.text)
    assert secret
    bad = app_client.post(
        f"/{tenant.domain}/login/enroll",
        data={"csrf": csrf_of(enroll.text), "code": "12345", "return_to": return_to},
    )
    assert "That code didn&#39;t work" in bad.text or "That code didn't work" in bad.text
    done = app_client.post(
        f"/{tenant.domain}/login/enroll",
        data={"csrf": csrf_of(enroll.text), "code": code_at(secret.group(1), clock), "return_to": return_to},
    )
    assert done.status_code == 200
    assert "Save your recovery codes" in done.text
    assert len(re.findall(r"<li>[0-9A-Z]{5}-[0-9A-Z]{5}</li>", done.text)) == 10
    assert return_to.replace("&", "&amp;") in done.text
    user = _current_user(app_client, tenant.id)
    assert user is not None
    assert user.upn == f"adm@{tenant.domain}"
    assert user.amr == ("pwd", "otp")
    assert user.acr == "2"
    assert user.role_groups == ("Organization Management",)
    assert app_client.cookies.get("mw_session") not in (None, pre_cookie)
    first_session = user.session_id

    # Sign out, then sign in again: password → second step → redirect to return_to with a NEW session id.
    account = app_client.get(f"/{tenant.domain}/login/account")
    assert "Signed in" in account.text
    app_client.post(f"/{tenant.domain}/login/signout", data={"csrf": csrf_of(account.text)})
    assert _current_user(app_client, tenant.id) is None
    assert not _service(app_client).session_active(first_session)
    clock.advance(31)
    response = _post_password(app_client, tenant, f"adm@{tenant.domain}", PASSWORD, return_to)
    assert urlsplit(response.headers["location"]).path == f"/{tenant.domain}/login/mfa"  # type: ignore[attr-defined]
    mfa = app_client.get(response.headers["location"])  # type: ignore[attr-defined]
    assert "authenticator app" in mfa.text
    finish = app_client.post(
        f"/{tenant.domain}/login/mfa",
        data={
            "csrf": csrf_of(mfa.text),
            "method": "totp",
            "code": code_at(secret.group(1), clock),
            "return_to": return_to,
        },
        follow_redirects=False,
    )
    assert finish.status_code == 303
    assert finish.headers["location"] == return_to
    again = _current_user(app_client, tenant.id)
    assert again is not None
    assert again.session_id != first_session


def test_no_second_factor_for_plain_users(app_client: TestClient, tenant: TenantHandle) -> None:
    _service(app_client).create_user(tenant.id, f"ann@{tenant.domain}", PASSWORD)
    response = _post_password(app_client, tenant, f"ann@{tenant.domain}", PASSWORD, "/somewhere?a=1")
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert response.headers["location"] == "/somewhere?a=1"  # type: ignore[attr-defined]
    user = _current_user(app_client, tenant.id)
    assert user is not None
    assert user.amr == ("pwd",)


@pytest.mark.parametrize(
    "evil",
    [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/ok\r\nSet-Cookie:x",
    ],
)
def test_return_to_must_be_same_origin(app_client: TestClient, tenant: TenantHandle, evil: str) -> None:
    _service(app_client).create_user(tenant.id, f"ann@{tenant.domain}", PASSWORD)
    response = _post_password(app_client, tenant, f"ann@{tenant.domain}", PASSWORD, evil)
    assert response.headers["location"] == f"/{tenant.domain}/login/account"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="same-origin"):
        _service(app_client).login_url(tenant.domain, evil)


def test_csrf_required(app_client: TestClient, tenant: TenantHandle) -> None:
    _service(app_client).create_user(tenant.id, f"ann@{tenant.domain}", PASSWORD)
    app_client.get(f"/{tenant.domain}/login")
    response = app_client.post(
        f"/{tenant.domain}/login",
        data={"csrf": "forged", "username": f"ann@{tenant.domain}", "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "The form expired" in response.text
    assert _current_user(app_client, tenant.id) is None


def test_unknown_tenant_page(app_client: TestClient) -> None:
    assert app_client.get("/nope.onmicrosoft.com/login").status_code == 404


def test_login_url_shape(app_client: TestClient, tenant: TenantHandle) -> None:
    url = _service(app_client).login_url(tenant.id, "/a/b?c=d&e=f")
    assert parse_qs(urlsplit(url).query) == {"return_to": ["/a/b?c=d&e=f"]}
