"""The client commands (login, whoami, invoke, shell, …) start without loading the server stack: importing
the CLI must not import the database, the API or the authorization server."""

from __future__ import annotations

import subprocess
import sys

from mailwarden.cli._identity_cli import _CA_ACTIONS
from mailwarden.identity import ACTIONS

SERVER_SIDE = (
    "mailwarden.store",
    "mailwarden.audit",
    "mailwarden.cmdlets",
    "mailwarden.oauth",
    "mailwarden.identity",
    "mailwarden.rbac",
    "mailwarden.directory",
    "mailwarden.demo",
    "mailwarden.api",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "fastapi",
)


def test_importing_the_cli_loads_no_server_module() -> None:
    probe = f"import sys, mailwarden.cli\nprint(','.join(m for m in {SERVER_SIDE!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert loaded == ""


def test_ca_policy_help_lists_the_identity_actions() -> None:
    assert tuple(_CA_ACTIONS) == tuple(ACTIONS)
