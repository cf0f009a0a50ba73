"""Operator CLI for RBAC (real database, the server's executor): ``user create --role-group`` writes real
role-group membership in the account's own unit of work, and ``elevate`` runs the PAM cmdlets as a user."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cli_inprocess import run_cli
from mailwarden.clock import FakeClock
from mailwarden.store import Database
from mailwarden.store._identity_models import IdentityUser

from cmdlet_scenarios import table_snapshot
from conftest import SECRET, TEST_PASSWORD, Api


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> dict[str, str]:
    """The environment of a ``mailwarden`` command on the test's database (as an operator runs it)."""
    return {
        "MAILWARDEN_DATA_DIR": str(tmp_path / "cli-data"),
        "MAILWARDEN_SECRET_KEY": SECRET,
        "MAILWARDEN_DATABASE_URL": database_url,
    }


def _run(cli: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    done = run_cli(args, env=cli, stdin=stdin)
    return done.returncode, done.stdout, done.stderr


def _ok(cli: dict[str, str], *args: str, stdin: str | None = None) -> Any:
    code, out, err = _run(cli, *args, "--json", stdin=stdin)
    assert code == 0, err or out
    return json.loads(out)


def _user(cli: dict[str, str], domain: str, name: str, *groups: str) -> dict[str, Any]:
    flags = [x for g in groups for x in ("--role-group", g)]
    return dict(
        _ok(
            cli,
            "user",
            "create",
            "--tenant",
            domain,
            "--upn",
            f"{name}@{domain}",
            "--password-stdin",
            *flags,
            stdin=TEST_PASSWORD + "\n",
        )
    )


def _members(api: Api, group: str) -> list[str]:
    return sorted(m["Name"] for m in api.ok("Get-RoleGroupMember", Identity=group))


def test_user_create_with_role_group_is_a_real_member(cli: dict[str, str], api: Api, db: Database) -> None:
    domain = api.tenant.domain
    created = _user(cli, domain, "helen", "Help Desk", "View-Only Organization Management")
    assert created["upn"] == f"helen@{domain}"
    assert f"helen@{domain}" in _members(api, "Help Desk")
    assert f"helen@{domain}" in _members(api, "View-Only Organization Management")
    # ... and it is the membership RBAC decides on: Help Desk may not create role groups.
    check = api.ok("Test-CmdletPermission", Cmdlet="New-RoleGroup", Principal=f"helen@{domain}")[0]
    assert check["Allowed"] is False
    check = api.ok("Test-CmdletPermission", Cmdlet="Get-Mailbox", Principal=f"helen@{domain}")[0]
    assert check["Allowed"] is True


def test_user_create_with_an_unknown_role_group_creates_nothing(
    cli: dict[str, str], api: Api, db: Database
) -> None:
    domain = api.tenant.domain
    before = table_snapshot(db, api.tenant.id)
    code, _, err = _run(
        cli,
        "user",
        "create",
        "--tenant",
        domain,
        "--upn",
        f"ghost@{domain}",
        "--password-stdin",
        "--role-group",
        "Help Desk",
        "--role-group",
        "No Such Group",
        stdin=TEST_PASSWORD + "\n",
    )
    assert code == 1
    assert "unknown role group" in err
    assert "No Such Group" in err
    with db.unit_of_work(write=False) as uow:
        count = uow.session.scalar(
            select(func.count()).where(IdentityUser.upn_key == f"ghost@{domain}".lower())
        )
    assert count == 0
    assert f"ghost@{domain}" not in _members(api, "Help Desk")
    # Not even the audit record of a creation: the whole unit of work was rolled back.
    assert table_snapshot(db, api.tenant.id) == before


def _elevate(cli: dict[str, str], domain: str, upn: str, task: str, *extra: str) -> tuple[int, str, str]:
    return _run(
        cli,
        "elevate",
        "--tenant",
        domain,
        "--as",
        upn,
        "--task",
        task,
        "--hours",
        "1",
        "--reason",
        "ticket 42",
        *extra,
    )


def test_elevate_auto_approval(cli: dict[str, str], api: Api, clock: FakeClock) -> None:
    domain = api.tenant.domain
    _user(cli, domain, "olga", "Organization Management")
    api.ok(
        "New-ElevatedAccessApprovalPolicy",
        Task="Add-MailboxPermission",
        ApprovalType="Auto",
        ApproverGroup="Organization Management",
    )
    code, out, err = _elevate(cli, domain, f"olga@{domain}", "Add-MailboxPermission", "--json")
    assert code == 0, err
    request = json.loads(out)
    assert request["RequestStatus"] == "Approved"
    assert request["Requestor"] == f"olga@{domain}"
    assert request["Task"] == "Exchange\\Add-MailboxPermission"
    assert request["DurationHours"] == 1
    shown = api.ok("Get-ElevatedAccessRequest", Identity=request["RequestId"])[0]
    assert shown["ApprovedBy"] == "Auto"
    # Without --json: the id and status on one line.
    code, out, err = _elevate(cli, domain, f"olga@{domain}", "Add-MailboxPermission")
    assert code == 0, err
    assert out.split()[:2][1] == "Approved"


def test_elevate_manual_request_approve_and_deny(cli: dict[str, str], api: Api, db: Database) -> None:
    domain = api.tenant.domain
    _user(cli, domain, "rita", "Organization Management")
    _user(cli, domain, "arno", "Organization Management")
    api.ok(
        "New-ElevatedAccessApprovalPolicy",
        Task="Set-TransportConfig",
        ApprovalType="Manual",
        ApproverGroup="Organization Management",
    )
    code, out, err = _elevate(cli, domain, f"rita@{domain}", "Set-TransportConfig", "--json")
    assert code == 0, err
    request = json.loads(out)
    assert request["RequestStatus"] == "Pending"
    rid = request["RequestId"]

    # The same request again while the first waits: refused, nothing new.
    before = table_snapshot(db, api.tenant.id)
    code, _, err = _elevate(cli, domain, f"rita@{domain}", "Set-TransportConfig")
    assert code == 1
    assert "already pending" in err
    assert "ADObjectAlreadyExistsException" in err

    listed = _ok(cli, "elevate", "list", "--tenant", domain, "--status", "Pending")
    assert [r["RequestId"] for r in listed] == [rid]

    # A requester can never answer their own request.
    code, _, err = _run(cli, "elevate", "approve", rid, "--tenant", domain, "--as", f"rita@{domain}")
    assert code == 1
    assert "own" in err
    assert api.ok("Get-ElevatedAccessRequest", Identity=rid)[0]["RequestStatus"] == "Pending"
    assert {k: v for k, v in table_snapshot(db, api.tenant.id).items() if not k.startswith("audit")} == {
        k: v for k, v in before.items() if not k.startswith("audit")
    }

    approved = _ok(
        cli, "elevate", "approve", rid, "--tenant", domain, "--as", f"arno@{domain}", "--comment", "ok"
    )
    assert approved["RequestStatus"] == "Approved"
    assert approved["ApprovedBy"] == f"arno@{domain}"
    assert approved["Comment"] == "ok"

    # Only pending requests can be answered.
    code, _, err = _run(cli, "elevate", "deny", rid, "--tenant", domain, "--as", f"arno@{domain}")
    assert code == 1
    assert "InvalidOperationException" in err

    # Deny: a second requester, answered by the local operator (no --as).
    _user(cli, domain, "dirk", "Organization Management")
    code, out, err = _elevate(cli, domain, f"dirk@{domain}", "Set-TransportConfig", "--json")
    assert code == 0, err
    other = json.loads(out)["RequestId"]
    denied = _ok(cli, "elevate", "deny", other, "--tenant", domain)
    assert denied["RequestStatus"] == "Denied"

    code, _, err = _run(cli, "elevate", "approve", "no-such-request", "--tenant", domain)
    assert code == 1
    assert "no-such-request" in err


def test_elevate_needs_a_known_user_and_one_target(cli: dict[str, str], api: Api) -> None:
    domain = api.tenant.domain
    code, _, err = _elevate(cli, domain, f"nobody@{domain}", "Set-TransportConfig")
    assert code == 1
    assert "not found" in err
    code, _, err = _run(cli, "elevate", "--tenant", domain, "--reason", "x", "--as", f"a@{domain}")
    assert code == 1
    assert "exactly one of --task" in err
    _user(cli, domain, "pia", "Organization Management")
    code, _, err = _elevate(cli, domain, f"pia@{domain}", "Set-TransportConfig")  # no policy for it
    assert code == 1
    assert "ManagementObjectNotFoundException" in err
