"""The SDK, CLI and shell against a real ``mailwarden serve --tls`` (uvicorn subprocess, its OAuth server,
identity pages with password + TOTP, RBAC): certificate apps through MSAL for both targets (mailwarden, and
Exchange Online's code path with our server standing in for Microsoft's endpoints), device code and
browser (auth code + PKCE, loopback) sign-ins, typed errors, CLI output and exit codes, the shell with
completion, paging, a write and re-authentication in place. No test output contains secret material."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from client_support import (
    PASSWORD,
    SECRET,
    FaultPlan,
    FaultProxy,
    LeakGuard,
    Prepared,
    Server,
    approve_device,
    browser,
    prepare,
    running,
    sign_in,
)
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

import mailwarden
from mailwarden.client import (
    BrowserAuth,
    CertificateAuth,
    CommandNotFound,
    DeviceCodeAuth,
    InteractionRequired,
    NotFound,
    ParameterBinding,
    TokenCache,
    decode_claims,
    exo_target,
)
from mailwarden.client._shell import Shell
from mailwarden.identity import IdentityService
from mailwarden.store import Database

MAILBOXES = 300


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prepared, Server]]:
    prepared = prepare(tmp_path_factory.mktemp("live") / "data", mailboxes=MAILBOXES)
    with running(prepared) as server:
        yield prepared, server


@pytest.fixture
def guard(
    live: tuple[Prepared, Server], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[LeakGuard]:
    caplog.set_level(logging.DEBUG)
    prepared, _ = live
    leak = LeakGuard()
    leak.secret(prepared.key_pem, PASSWORD, prepared.totp_secret)
    yield leak
    captured = capsys.readouterr()
    leak.check(captured.out, captured.err, caplog.text)


def wait_for(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def cert_auth(p: Prepared) -> CertificateAuth:
    return CertificateAuth(p.app_client_id, private_key_pem=p.key_pem, certificate_pem=p.cert_pem)


def test_certificate_app_streams_pages_and_typed_errors(
    live: tuple[Prepared, Server], guard: LeakGuard
) -> None:
    prepared, server = live
    with mailwarden.connect(
        prepared.domain, url=server.url, auth=cert_auth(prepared), verify=str(prepared.ca), page_size=40
    ) as conn:
        guard.secret(conn.get_token())
        result = conn.invoke(
            "Get-Mailbox", ResultSize="Unlimited", Filter="RecipientTypeDetails -eq 'UserMailbox'"
        )
        seen = [m["Guid"] for m in result]
        assert len(seen) == len(set(seen)) == MAILBOXES
        assert result.stats.pages == 8  # 300 / 40
        one = conn.invoke_all("Get-Mailbox", Identity=seen[0])
        assert [m["Guid"] for m in one] == [seen[0]]
        with pytest.raises(NotFound) as nf:
            conn.invoke_all("Get-Mailbox", Identity="nobody-here")
        assert nf.value.code == "ManagementObjectNotFoundException"
        assert nf.value.status == 404
        with pytest.raises(ParameterBinding) as pb:
            conn.invoke_all("Get-Mailbox", Filter="Nonsense -eq 1")
        assert pb.value.parameter == "Filter"
        with pytest.raises(CommandNotFound):
            conn.invoke_all("Get-Nothing")
        names = {c["Name"] for c in conn.cmdlets()}
        assert {"Get-Mailbox", "Set-Mailbox"} <= names
        claims = decode_claims(conn.get_token())
        assert claims["aud"] == "api://mailwarden"


def test_exo_code_path_against_a_stand_in(live: tuple[Prepared, Server], guard: LeakGuard) -> None:
    """Exchange Online's configuration (authority ``{login}/{tenant}`` with ``authority=``, scope
    ``https://outlook.office365.com/.default``, ``{api}/adminapi/beta/{tenant}/InvokeCommand``) with our
    server at both hosts: the code path real EXO takes, through MSAL."""
    prepared, server = live
    target = exo_target(prepared.domain, login_host=server.url, api_host=server.url)
    assert target.authority == f"{server.url}/{prepared.domain}"
    assert not target.oidc
    assert target.app_scopes == ("https://outlook.office365.com/.default",)
    assert exo_target("contoso.onmicrosoft.com").invoke_url == (
        "https://outlook.office365.com/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand"
    )
    with mailwarden.connect(
        prepared.domain, target=target, auth=cert_auth(prepared), verify=str(prepared.ca)
    ) as conn:
        token = conn.get_token()
        guard.secret(token)
        assert decode_claims(token)["aud"] == "https://outlook.office365.com"
        assert len(conn.invoke_all("Get-Mailbox", ResultSize="Unlimited")) >= MAILBOXES


def test_browser_auth_code_pkce_loopback(
    live: tuple[Prepared, Server], guard: LeakGuard, tmp_path: Path
) -> None:
    prepared, server = live
    web = browser(prepared.ca)
    sign_in(web, server.url, prepared)
    visited: list[str] = []

    def open_browser(url: str) -> None:
        visited.append(url)
        web.get(url)  # consent-free public client: authorize → 302 to http://127.0.0.1:<port>/?code=…

    cache = TokenCache(tmp_path / "cache.bin")
    auth = BrowserAuth(prepared.cli_client_id, open_browser=open_browser, cache=cache, timeout=30)
    with mailwarden.connect(prepared.domain, url=server.url, auth=auth, verify=str(prepared.ca)) as conn:
        token = auth.sign_in()
        guard.secret(token)
        assert "code_challenge_method=S256" in visited[0]
        assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in visited[0]
        claims = decode_claims(token)
        assert claims["preferred_username"] == prepared.upn
        assert set(claims["amr"]) >= {"pwd", "otp"}
        assert len(conn.invoke_all("Get-AcceptedDomain")) >= 1
    web.close()
    assert (tmp_path / "cache.bin").stat().st_mode & 0o777 == 0o600


def _cli(env: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailwarden", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        input=input,
    )


@pytest.mark.slow
def test_cli_device_login_whoami_invoke_exit_codes(
    live: tuple[Prepared, Server], guard: LeakGuard, tmp_path: Path
) -> None:
    prepared, server = live
    env = {**os.environ, "MAILWARDEN_CONFIG_DIR": str(tmp_path / "cfg"), "MAILWARDEN_NO_KEYRING": "1"}
    env.pop("REQUESTS_CA_BUNDLE", None)
    login = subprocess.Popen(
        [sys.executable, "-m", "mailwarden", "login", "--profile", "lab", "--tenant", prepared.domain,
         "--url", server.url, "--client-id", prepared.cli_client_id, "--ca-bundle", str(prepared.ca)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert login.stderr is not None
    first = login.stderr.readline()
    code = re.search(r"enter the code ([A-Z0-9-]+)", first, re.I)
    assert code, first
    web = browser(prepared.ca)
    sign_in(web, server.url, prepared)
    approve_device(web, server.url, prepared.domain, code.group(1))
    web.close()
    out, rest = login.communicate(timeout=120)
    guard.output(out, first, rest)
    assert login.returncode == 0, rest
    assert f"signed in as {prepared.upn}" in rest
    assert (tmp_path / "cfg" / "cache" / "lab.bin").stat().st_mode & 0o777 == 0o600

    who = _cli(env, "whoami", "--json")
    guard.output(who.stdout, who.stderr)
    info = json.loads(who.stdout)
    assert info["principal"] == prepared.upn
    assert info["tenant"] == prepared.tenant_id
    assert set(info["amr"]) >= {"pwd", "otp"}
    assert info["expires"]

    as_json = _cli(
        env, "invoke", "Get-Mailbox", "-p", "ResultSize=5", "-p", "Filter=Alias -like '*'", "-o", "json"
    )
    assert as_json.returncode == 0, as_json.stderr
    assert len(json.loads(as_json.stdout)) == 5
    as_csv = _cli(env, "invoke", "Get-Mailbox", "-p", "ResultSize=3", "--output", "csv")
    assert as_csv.stdout.splitlines()[0].startswith("Identity,") or "Name" in as_csv.stdout.splitlines()[0]
    assert len(as_csv.stdout.splitlines()) == 4
    table = _cli(env, "invoke", "Get-AcceptedDomain")
    assert prepared.domain in table.stdout
    guard.output(as_json.stdout, as_csv.stdout, table.stdout, as_json.stderr, as_csv.stderr, table.stderr)

    assert _cli(env, "invoke", "Get-Mailbox", "-p", "Identity=nobody-here").returncode == 5
    assert _cli(env, "invoke", "Get-Mailbox", "-p", "Filter=Bogus -eq 1").returncode == 2
    assert _cli(env, "invoke", "Get-Mailbox", "-p", "novalue").returncode == 2
    assert _cli(env, "invoke", "Get-Mailbox", "-o", "xml").returncode == 2

    listed = _cli(env, "profiles", "list", "--json")
    assert json.loads(listed.stdout)["current"] == "lab"
    assert _cli(env, "logout").returncode == 0
    after = _cli(env, "whoami")
    assert after.returncode == 3
    assert "mailwarden login" in after.stderr
    guard.output(listed.stdout, after.stdout, after.stderr)


def test_cli_certificate_login_from_vault(
    live: tuple[Prepared, Server], guard: LeakGuard, tmp_path: Path
) -> None:
    prepared, server = live
    env = {**os.environ, "MAILWARDEN_CONFIG_DIR": str(tmp_path / "cfg"), "MAILWARDEN_NO_KEYRING": "1"}
    pem = tmp_path / "app.pem"
    pem.write_bytes(prepared.cert_pem + prepared.key_pem)
    login = _cli(env, "login", "--profile", "job", "--tenant", prepared.domain, "--url", server.url,
                 "--cert", str(pem), "--client-id", prepared.app_client_id, "--ca-bundle", str(prepared.ca))  # fmt: skip
    assert login.returncode == 0, login.stderr
    pem.unlink()  # the key now lives only in the sealed vault
    vault = _cli(env, "vault", "list")
    assert "profile:job:certificate" in vault.stdout
    count = _cli(
        env,
        "invoke",
        "Get-Mailbox",
        "-p",
        "ResultSize=Unlimited",
        "-o",
        "jsonl",
        "--checkpoint",
        str(tmp_path / "c.json"),
    )
    assert count.returncode == 0, count.stderr
    assert len(count.stdout.splitlines()) >= MAILBOXES
    assert json.loads((tmp_path / "c.json").read_text())["complete"] is True
    guard.output(login.stdout, login.stderr, vault.stdout, count.stderr)
    assert prepared.key_pem not in (tmp_path / "cfg" / "vault.bin").read_bytes()


def test_shell_completion_paging_write_and_reauth(
    live: tuple[Prepared, Server], guard: LeakGuard, tmp_path: Path
) -> None:
    prepared, server = live
    web = browser(prepared.ca)
    sign_in(web, server.url, prepared)
    prompts: list[str] = []

    def device_prompt(flow: dict[str, Any]) -> None:
        prompts.append(flow["user_code"])
        if len(prompts) > 1:  # the session was revoked: the person signs in again
            sign_in(web, server.url, prepared)
        approve_device(web, server.url, prepared.domain, flow["user_code"])

    plan = FaultPlan({3: "401"})  # one expired-token answer: silent refresh, no prompt
    auth = DeviceCodeAuth(prepared.cli_client_id, prompt=device_prompt, cache=TokenCache(tmp_path / "c.bin"))
    with (
        FaultProxy(server.port, prepared.ca, prepared.data_dir, plan) as proxy,
        mailwarden.connect(prepared.domain, url=proxy.url, auth=auth, verify=str(prepared.ca)) as conn,
    ):
        auth.sign_in()
        assert len(prompts) == 1
        out = io.StringIO()

        def rows() -> int:
            return sum(1 for ln in out.getvalue().splitlines() if "UserMailbox" in ln)

        with create_pipe_input() as pipe:
            shell = Shell(conn, input=pipe, output=DummyOutput(), out=out, page_rows=120, title="lab")
            shell_thread = threading.Thread(target=shell.run, daemon=True)
            shell_thread.start()
            wait_for(lambda: "Tab completes" in out.getvalue())
            # completion of a cmdlet name and of a parameter name
            pipe.send_text("Get-Mailb\t")
            time.sleep(0.5)
            pipe.send_text(" -ResultS\t")
            time.sleep(0.5)
            pipe.send_text(" Unlimited -Filter \"RecipientTypeDetails -eq 'UserMailbox'\"\r")
            wait_for(lambda: rows() >= 120)
            time.sleep(0.3)
            assert rows() == 120  # one screenful, then "-- More --"
            pipe.send_text("\r")
            wait_for(lambda: rows() >= 240)
            pipe.send_text("\r")
            wait_for(lambda: rows() >= MAILBOXES)
            assert shell.session.history.get_strings()[-1].startswith(
                "Get-Mailbox -ResultSize Unlimited -Filter"
            )
            pipe.send_text("Set-Mailbox alex.wilber -CustomAttribute1 'Sales lead' -Confirm:$false\r")
            pipe.send_text("Get-Mailbox -Identity alex.wilber\r")
            wait_for(lambda: rows() >= MAILBOXES + 1)
            # revoke the sign-in session server-side: the token stops working and cannot be refreshed
            claims = decode_claims(conn.get_token())
            db = Database(f"sqlite:///{prepared.data_dir / 'mailwarden.db'}")
            IdentityService(db, secret_key=SECRET.encode()).revoke_session(claims["tid"], claims["sid"])
            db.dispose()
            pipe.send_text("Get-AcceptedDomain\r")
            wait_for(
                lambda: len(prompts) == 2 and prepared.domain in out.getvalue().split("session expired")[-1],
                90,
            )
            pipe.send_text("exit\r")
            shell_thread.join(timeout=30)
            assert not shell_thread.is_alive()
        text = out.getvalue()
    assert plan.counts == {"401": 1}
    web.close()
    assert len(prompts) == 2, prompts  # one sign-in, one re-auth after revocation
    assert shell.reauths == 1
    assert "session expired" in text
    assert prepared.domain in text.split("session expired")[-1]  # the typed command ran after re-auth
    with mailwarden.connect(
        prepared.domain, url=server.url, auth=cert_auth(prepared), verify=str(prepared.ca)
    ) as check:
        assert check.invoke_all("Get-Mailbox", Identity="alex.wilber")[0]["CustomAttribute1"] == "Sales lead"
    assert not [ln for ln in text.splitlines() if ln.startswith("error:")], text


def test_static_token_cannot_refresh(live: tuple[Prepared, Server], guard: LeakGuard) -> None:
    prepared, server = live
    from mailwarden.client import StaticTokenAuth

    with (
        mailwarden.connect(
            prepared.domain, url=server.url, auth=StaticTokenAuth("not-a-token"), verify=str(prepared.ca)
        ) as conn,
        pytest.raises(InteractionRequired),
    ):
        conn.invoke_all("Get-AcceptedDomain")
    with pytest.raises(httpx.ConnectError):
        httpx.get("https://127.0.0.1:1/", timeout=1)


def test_example_reports(live: tuple[Prepared, Server], guard: LeakGuard, tmp_path: Path) -> None:
    prepared, server = live
    with mailwarden.connect(
        prepared.domain, url=server.url, auth=cert_auth(prepared), verify=str(prepared.ca)
    ) as conn:
        conn.invoke_all(
            "Add-MailboxPermission", Identity="alex.wilber", User="megan.wilber", AccessRights=["FullAccess"]
        )
    pem = tmp_path / "app.pem"
    pem.write_bytes(prepared.cert_pem + prepared.key_pem)
    root = Path(__file__).resolve().parents[2] / "examples"
    common = ["--url", server.url, "--tenant", prepared.domain, "--client-id", prepared.app_client_id,
              "--cert", str(pem), "--ca-bundle", str(prepared.ca)]  # fmt: skip
    weekly = subprocess.run(
        [sys.executable, str(root / "weekly_mailbox_report.py"), *common, "-o", str(tmp_path / "w.csv")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert weekly.returncode == 0, weekly.stderr
    rows = (tmp_path / "w.csv").read_text().splitlines()
    assert rows[0].startswith("DisplayName,PrimarySmtpAddress,RecipientTypeDetails,TotalItemSize,ItemCount")
    assert len(rows) - 1 >= MAILBOXES
    perms = subprocess.run(
        [sys.executable, str(root / "monthly_permissions_report.py"), *common],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert perms.returncode == 0, perms.stderr
    assert any("FullAccess" in ln and "alex.wilber@" in ln for ln in perms.stdout.splitlines()), perms.stdout
    helped = subprocess.run(
        [sys.executable, str(root / "weekly_mailbox_report.py"), "--help"], capture_output=True, text=True
    )
    assert "--client-id" in helped.stdout
    guard.output(weekly.stderr, perms.stdout, perms.stderr)
