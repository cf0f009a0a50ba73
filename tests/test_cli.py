"""Operator CLI end to end: real processes, real database, real HTTP."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cli_inprocess import run_cli

from _servers import free_port, mailwarden_server
from conftest import SECRET


def _cli(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {"MAILWARDEN_DATA_DIR": str(data_dir), "MAILWARDEN_SECRET_KEY": SECRET, **(env or {})}
    return run_cli(args, env=full_env)


@pytest.mark.slow
def test_tenant_create_json_and_app_token_works(tmp_path: Path, database_url: str) -> None:
    env = {"MAILWARDEN_DATABASE_URL": database_url}
    done = _cli(
        "tenant",
        "create",
        "--name",
        "Fabrikam",
        "--domain",
        "fabrikam.onmicrosoft.com",
        "--json",
        data_dir=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {"tenant_id", "domain", "cli_client_id"}
    assert out["domain"] == "fabrikam.onmicrosoft.com"
    again = _cli(
        "tenant",
        "create",
        "--name",
        "Other",
        "--domain",
        "FABRIKAM.onmicrosoft.com",
        "--json",
        data_dir=tmp_path,
        env=env,
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr
    bad = _cli("tenant", "create", "--name", "X", "--domain", "not a domain", data_dir=tmp_path, env=env)
    assert bad.returncode == 1
    made = _cli(
        "app",
        "create",
        "--tenant",
        "fabrikam.onmicrosoft.com",
        "--name",
        "Job",
        "--secret",
        "--role-group",
        "View-Only Organization Management",
        "--json",
        data_dir=tmp_path,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    app = json.loads(made.stdout)
    assert set(app) == {"client_id", "client_secret", "tenant_id"}
    if database_url.startswith("sqlite"):
        # Only a hash of the client secret is stored.
        raw = Path(database_url.removeprefix("sqlite:///")).read_bytes()
        wal = Path(database_url.removeprefix("sqlite:///") + "-wal")
        raw += wal.read_bytes() if wal.exists() else b""
        assert app["client_secret"].encode() not in raw
    with mailwarden_server(tmp_path, database_url=database_url, secret=SECRET) as (base, _):
        token = httpx.post(
            f"{base}/{out['domain']}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "scope": "api://mailwarden/.default",
            },
        )
        assert token.status_code == 200, token.text
        response = httpx.post(
            f"{base}/adminapi/beta/{out['tenant_id']}/InvokeCommand",
            json={"CmdletInput": {"CmdletName": "Get-AcceptedDomain"}},
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        assert response.status_code == 200
        assert response.json()["value"][0]["DomainName"] == "fabrikam.onmicrosoft.com"
        rotated = _cli("keys", "rotate", "--purpose", "oauth", "--json", data_dir=tmp_path, env=env)
        assert rotated.returncode == 0, rotated.stderr
        kids = json.loads(rotated.stdout)["kids"]
        assert [k.split("-")[1] for k in kids] == ["es256", "rs256"]
        # Tokens signed by the previous keys keep verifying (overlap), on this node and after a reload.
        again = httpx.post(
            f"{base}/adminapi/beta/{out['tenant_id']}/InvokeCommand",
            json={"CmdletInput": {"CmdletName": "Get-AcceptedDomain"}},
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        assert again.status_code == 200
    assert _cli("keys", "rotate", "--purpose", "bogus", data_dir=tmp_path, env=env).returncode == 1


def test_production_mode_refuses_missing_secret(tmp_path: Path) -> None:
    env = {**os.environ, "MAILWARDEN_DATA_DIR": str(tmp_path), "MAILWARDEN_ENV": "production"}
    env.pop("MAILWARDEN_SECRET_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "mailwarden", "serve", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "MAILWARDEN_SECRET_KEY is required" in done.stderr


@pytest.mark.slow
def test_demo_serves_and_printed_call_returns_mailboxes(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "MAILWARDEN_DATA_DIR": str(tmp_path / "demo"), "MAILWARDEN_LOG_LEVEL": "warning"}
    env.pop("MAILWARDEN_SECRET_KEY", None)  # dev mode generates its own, 0600
    env.pop("MAILWARDEN_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailwarden", "demo", "--port", str(port), "--mailboxes", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        curl_line = ""
        deadline = time.monotonic() + 240
        while not curl_line.startswith("curl ") and time.monotonic() < deadline:
            curl_line = proc.stdout.readline()
            assert curl_line or proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert curl_line.startswith("curl "), "demo printed no ready-to-paste call"
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        done = subprocess.run(["bash", "-c", curl_line], capture_output=True, text=True, timeout=60)
        body = json.loads(done.stdout)
        assert len(body["value"]) == 100
        assert body["value"][0]["RecipientTypeDetails"] == "UserMailbox"
        assert "@odata.nextLink" in body
        key_file = tmp_path / "demo" / "demo-app.secret"
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        assert oct((tmp_path / "demo" / "secret.key").stat().st_mode & 0o777) == "0o600"
        assert shlex.split(curl_line)[0] == "curl"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
