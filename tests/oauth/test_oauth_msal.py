"""An UNMODIFIED msal client against a real ``mailwarden serve --tls`` (uvicorn subprocess, loopback only):
the device-code flow approved by a password + TOTP user through the real sign-in pages, InvokeCommand with the
token, a forced silent refresh; and confidential clients with a certificate — ``thumbprint`` (RS256 + x5t) and
``public_certificate`` (PS256 + x5t#S256 + x5c) — including MSAL's re-use of one assertion (msal-contract §18).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from mailwarden.clock import SystemClock, utcnow
from mailwarden.directory import create_tenant
from mailwarden.identity import IdentityService, TotpParams, hotp, secret_from_base32, time_step
from mailwarden.oauth import ca_path, ensure_builtin_clients, register_app
from mailwarden.rbac import add_principal_to_role_groups
from mailwarden.store import Database

from _servers import free_port
from conftest import SECRET

PASSWORD = "Tr0ub4dor&3 is not it, 2026"
SCOPE = "api://mailwarden/Exchange.Manage"


def _cert() -> tuple[bytes, bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nightly job")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    sha1 = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()  # noqa: S324
    return key_pem, cert_pem, sha1


@dataclass
class TlsServer:
    base: str
    ca: Path
    domain: str
    tenant_id: str
    cli_client_id: str
    upn: str
    totp_secret: str
    apps: dict[str, tuple[str, bytes, bytes, str]]  # name -> (client_id, key pem, cert pem, sha1)

    def ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


@pytest.fixture
def tls_server(tmp_path: Path, database_url: str) -> Iterator[TlsServer]:
    db = Database(database_url)
    domain = f"m{uuid.uuid4().hex[:8]}.onmicrosoft.com"
    now = utcnow(SystemClock())
    with db.unit_of_work() as uow:
        tenant = create_tenant(uow.session, name="MSAL", domain=domain, now=now)
        tenant_id = tenant.id
        cli = ensure_builtin_clients(uow.session, tenant_id, now=now)
    apps: dict[str, tuple[str, bytes, bytes, str]] = {}
    for name in ("thumbprint", "public_certificate"):
        key_pem, cert_pem, sha1 = _cert()
        with db.unit_of_work() as uow:
            client_id, _ = register_app(uow.session, tenant_id, name=name, now=now, cert_pem=cert_pem)
            add_principal_to_role_groups(
                uow.session, tenant_id, "app", client_id, ["Organization Management"]
            )
        apps[name] = (client_id, key_pem, cert_pem, sha1)
    identity = IdentityService(db, secret_key=SECRET.encode())
    upn = f"admin@{domain}"
    user = identity.create_user(tenant_id, upn, PASSWORD, role_groups=("Organization Management",))
    with db.unit_of_work() as uow:
        add_principal_to_role_groups(
            uow.session, tenant_id, "user", user.user_id, ["Organization Management"]
        )
    enrolment = identity.operator_enroll_totp(tenant_id, user.user_id)
    db.dispose()

    port = free_port()
    env = {
        **os.environ,
        "MAILWARDEN_DATA_DIR": str(tmp_path / "data"),
        "MAILWARDEN_SECRET_KEY": SECRET,
        "MAILWARDEN_DATABASE_URL": database_url,
        "MAILWARDEN_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailwarden", "serve", "--tls", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"https://127.0.0.1:{port}"
    ca = ca_path(tmp_path / "data")
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"server exited with {proc.returncode}: {err[-2000:]}")
            try:
                if (
                    ca.exists()
                    and httpx.get(
                        f"{base}/healthz", verify=ssl.create_default_context(cafile=str(ca)), timeout=1
                    ).status_code
                    == 200
                ):
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become healthy"
            time.sleep(0.1)
        assert oct((ca.parent / "ca-key.pem").stat().st_mode & 0o777) == "0o600"
        yield TlsServer(base, ca, domain, tenant_id, cli, upn, enrolment.secret_base32, apps)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="?{name}"? value=["\']([^"\']+)["\']', html)
    assert match, html
    return match.group(1)


def _approve(server: TlsServer, verification_uri: str, user_code: str) -> None:
    """The user's browser: device page → sign-in (password, then TOTP) → back to the device page → approve."""
    with httpx.Client(verify=server.ssl(), follow_redirects=False, timeout=30) as browser:
        response = browser.get(verification_uri, params={"user_code": user_code})
        assert response.status_code == 303
        login_url = httpx.URL(server.base).join(response.headers["location"])
        page = browser.get(login_url)
        return_to = _hidden(page.text, "return_to")
        response = browser.post(
            login_url.copy_with(query=None),
            data={
                "csrf": _hidden(page.text, "csrf"),
                "username": server.upn,
                "password": PASSWORD,
                "return_to": return_to,
            },
        )
        assert response.status_code == 303, response.text
        mfa_url = httpx.URL(server.base).join(response.headers["location"])
        mfa = browser.get(mfa_url)
        code = hotp(secret_from_base32(server.totp_secret), time_step(time.time(), TotpParams()))
        response = browser.post(
            mfa_url.copy_with(query=None),
            data={"csrf": _hidden(mfa.text, "csrf"), "method": "totp", "code": code, "return_to": return_to},
        )
        assert response.status_code == 303, response.text
        device = browser.get(httpx.URL(server.base).join(response.headers["location"]))
        assert device.status_code == 200, device.text
        done = browser.post(
            f"{server.base}/{server.domain}/device",
            data={
                "csrf_token": _hidden(device.text, "csrf_token"),
                "user_code": user_code,
                "action": "approve",
            },
        )
        assert "Device signed in" in done.text, done.text


def _invoke(server: TlsServer, token: str) -> httpx.Response:
    return httpx.post(
        f"{server.base}/adminapi/beta/{server.domain}/InvokeCommand",
        json={"CmdletInput": {"CmdletName": "Get-AcceptedDomain"}},
        headers={"Authorization": f"Bearer {token}"},
        verify=server.ssl(),
    )


@pytest.mark.slow
def test_msal_device_flow_and_silent_refresh(tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_server.ca))  # msal-contract §1
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    app = msal.PublicClientApplication(
        tls_server.cli_client_id, oidc_authority=f"{tls_server.base}/{tls_server.domain}/v2.0"
    )
    flow = app.initiate_device_flow(scopes=[SCOPE])
    assert "user_code" in flow, flow
    assert flow["user_code"] in flow["message"]
    _approve(tls_server, flow["verification_uri"], flow["user_code"])
    result: dict[str, Any] = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == tls_server.upn
    response = _invoke(tls_server, result["access_token"])
    assert response.status_code == 200, response.text
    assert response.json()["value"][0]["DomainName"] == tls_server.domain

    accounts = app.get_accounts()
    assert len(accounts) == 1
    assert accounts[0]["username"] == tls_server.upn
    cached = app.acquire_token_silent([SCOPE], account=accounts[0])
    assert cached is not None
    assert cached["access_token"] == result["access_token"]  # the response scope covers the API scope
    refreshed = app.acquire_token_silent([SCOPE], account=accounts[0], force_refresh=True)
    assert refreshed is not None, app.acquire_token_silent_with_error([SCOPE], account=accounts[0])
    assert refreshed["access_token"] != result["access_token"]
    assert _invoke(tls_server, refreshed["access_token"]).status_code == 200
    app.http_client.close()  # its keep-alive TLS connections would hold the server's shutdown


@pytest.mark.slow
@pytest.mark.parametrize("form", ["thumbprint", "public_certificate"])
def test_msal_confidential_client_with_certificate(
    tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_server.ca))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    client_id, key_pem, cert_pem, sha1 = tls_server.apps[form]
    credential: dict[str, str] = {"private_key": key_pem.decode()}
    if form == "thumbprint":
        credential["thumbprint"] = sha1
    else:
        credential["public_certificate"] = cert_pem.decode()
    app = msal.ConfidentialClientApplication(
        client_id, client_credential=credential, oidc_authority=f"{tls_server.base}/{tls_server.domain}/v2.0"
    )
    result = app.acquire_token_for_client(scopes=["api://mailwarden/.default"])
    assert "access_token" in result, result
    assert _invoke(tls_server, result["access_token"]).status_code == 200
    # MSAL re-sends the same assertion (same jti) on the next network call: it must still be accepted.
    app.remove_tokens_for_client()
    again = app.acquire_token_for_client(scopes=["https://outlook.office365.com/.default"])
    assert "access_token" in again, again
    assert _invoke(tls_server, again["access_token"]).status_code == 200
    app.http_client.close()  # its keep-alive TLS connections would hold the server's shutdown
