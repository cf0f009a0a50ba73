"""Operator CLI end to end (real processes, real database): user, mfa, session and ca commands with --json."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _identity_helpers import PASSWORD

from cli_inprocess import run_cli
from mailwarden.clock import SystemClock
from mailwarden.identity import IdentityService, hotp, secret_from_base32, time_step
from mailwarden.store import Database

from conftest import SECRET


def _cli(
    *args: str, data_dir: Path, database_url: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        "MAILWARDEN_DATA_DIR": str(data_dir),
        "MAILWARDEN_SECRET_KEY": SECRET,
        "MAILWARDEN_DATABASE_URL": database_url,
    }
    return run_cli(args, env=env, stdin=stdin)


def _ok(*args: str, data_dir: Path, database_url: str, stdin: str | None = None) -> Any:
    done = _cli(*args, "--json", data_dir=data_dir, database_url=database_url, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_identity_cli(tmp_path: Path, database_url: str) -> None:
    run: dict[str, Any] = {"data_dir": tmp_path, "database_url": database_url}
    tenant = _ok("tenant", "create", "--name", "Fabrikam", "--domain", "fabrikam.onmicrosoft.com", **run)
    created = _ok(
        "user",
        "create",
        "--tenant",
        "fabrikam.onmicrosoft.com",
        "--upn",
        "admin@fabrikam.onmicrosoft.com",
        "--password-stdin",
        "--role-group",
        "Organization Management",
        "--display-name",
        "Admin",
        stdin=PASSWORD + "\n",
        **run,
    )
    assert set(created) == {"user_id", "upn"}
    assert created["upn"] == "admin@fabrikam.onmicrosoft.com"
    weak = _cli(
        "user",
        "create",
        "--tenant",
        tenant["tenant_id"],
        "--upn",
        "x@fabrikam.onmicrosoft.com",
        "--password-stdin",
        stdin="password1234\n",
        **run,
    )
    assert weak.returncode == 1
    assert "too common" in weak.stderr
    dup = _cli(
        "user",
        "create",
        "--tenant",
        tenant["tenant_id"],
        "--upn",
        "ADMIN@fabrikam.onmicrosoft.com",
        "--password-stdin",
        stdin=PASSWORD + "\n",
        **run,
    )
    assert dup.returncode == 1
    assert "already exists" in dup.stderr
    missing = _cli("user", "list", "--tenant", "nope.onmicrosoft.com", **run)
    assert missing.returncode == 1
    users = _ok("user", "list", "--tenant", tenant["tenant_id"], **run)
    assert [u["upn"] for u in users] == ["admin@fabrikam.onmicrosoft.com"]
    assert users[0]["role_groups"] == ["Organization Management"]
    assert "password" not in json.dumps(users).lower()

    enrolment = _ok(
        "mfa",
        "enroll-totp",
        "--tenant",
        tenant["tenant_id"],
        "--upn",
        "admin@fabrikam.onmicrosoft.com",
        **run,
    )
    assert set(enrolment) == {"secret", "otpauth_uri"}
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/")
    qr = _cli(
        "mfa",
        "enroll-totp",
        "--tenant",
        tenant["tenant_id"],
        "--upn",
        "admin@fabrikam.onmicrosoft.com",
        **run,
    )
    assert qr.returncode == 0
    assert "█" in qr.stdout or "▀" in qr.stdout  # terminal QR code
    assert "otpauth://totp/" in qr.stdout
    secret = qr.stdout.split("key: ")[1].split()[0]
    factors = _ok(
        "mfa", "list", "--tenant", tenant["tenant_id"], "--upn", "admin@fabrikam.onmicrosoft.com", **run
    )
    assert [f["kind"] for f in factors] == ["totp"]

    # The bootstrapped admin signs in with the password and a code from the operator-issued secret.
    db = Database(database_url)
    try:
        service = IdentityService(db, secret_key=SECRET.encode(), clock=SystemClock())
        pending = service.sign_in_password(
            tenant["tenant_id"], "admin@fabrikam.onmicrosoft.com", PASSWORD, ip="127.0.0.1"
        )
        assert pending.state == "pending"
        now = SystemClock().now().timestamp()
        service.complete_with_totp(
            tenant["tenant_id"], pending.secret, hotp(secret_from_base32(secret), time_step(now))
        )
    finally:
        db.dispose()
    sessions = _ok(
        "session", "list", "--tenant", tenant["tenant_id"], "--user", "admin@fabrikam.onmicrosoft.com", **run
    )
    assert len(sessions) == 1
    assert sessions[0]["amr"] == ["pwd", "otp"]
    assert _ok(
        "session", "revoke", "--tenant", tenant["tenant_id"], "--session-id", sessions[0]["session_id"], **run
    ) == {"revoked": 1}
    assert _ok("session", "list", "--tenant", tenant["tenant_id"], **run) == []

    assert _ok(
        "user",
        "set-password",
        "--tenant",
        tenant["tenant_id"],
        "--upn",
        "admin@fabrikam.onmicrosoft.com",
        "--password-stdin",
        stdin="a brand new passphrase\n",
        **run,
    )["password_set"]
    assert (
        _ok(
            "mfa", "reset", "--tenant", tenant["tenant_id"], "--upn", "admin@fabrikam.onmicrosoft.com", **run
        )["removed"]
        == 1
    )
    assert (
        _ok(
            "user",
            "disable",
            "--tenant",
            tenant["tenant_id"],
            "--upn",
            "admin@fabrikam.onmicrosoft.com",
            **run,
        )["disabled"]
        is True
    )

    loc = _ok(
        "ca",
        "location",
        "add",
        "--tenant",
        tenant["tenant_id"],
        "--name",
        "Office",
        "--cidr",
        "192.0.2.0/24",
        "--cidr",
        "2001:db8::/32",
        **run,
    )
    assert loc == {"name": "Office", "cidrs": ["192.0.2.0/24", "2001:db8::/32"]}
    bad = _cli(
        "ca",
        "location",
        "add",
        "--tenant",
        tenant["tenant_id"],
        "--name",
        "Bad",
        "--cidr",
        "10.0.0.1/8",
        **run,
    )
    assert bad.returncode == 1
    assert "10.0.0.1/8" in bad.stderr
    policy = _ok(
        "ca",
        "policy",
        "add",
        "--tenant",
        tenant["tenant_id"],
        "--name",
        "Admins office",
        "--action",
        "block_outside_locations",
        "--role-group",
        "Organization Management",
        "--location",
        "Office",
        **run,
    )
    assert policy["locations"] == ["office"]
    assert [p["name"] for p in _ok("ca", "policy", "list", "--tenant", tenant["tenant_id"], **run)] == [
        "Admins office"
    ]
    assert [x["name"] for x in _ok("ca", "location", "list", "--tenant", tenant["tenant_id"], **run)] == [
        "Office"
    ]
    in_use = _cli("ca", "location", "remove", "--tenant", tenant["tenant_id"], "--name", "Office", **run)
    assert in_use.returncode == 1
    _ok("ca", "policy", "remove", "--tenant", tenant["tenant_id"], "--name", "Admins office", **run)
    _ok("ca", "location", "remove", "--tenant", tenant["tenant_id"], "--name", "Office", **run)
    assert _ok("ca", "policy", "list", "--tenant", tenant["tenant_id"], **run) == []
