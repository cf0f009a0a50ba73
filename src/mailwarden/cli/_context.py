"""What operator commands share: settings from flags and MAILWARDEN_* variables, a migrated database, and
an executor for commands that run cmdlets on the server host."""

# Server-side modules (and pydantic, through the settings) are imported inside the functions: the client
# commands (login, invoke, ...) import this package and must not pay for the server stack at start-up.
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..clock import SystemClock

if TYPE_CHECKING:
    from ..cmdlets._executor import Executor
    from ..config import Settings
    from ..store import Database

__all__ = ["apply_overrides", "close_databases", "open_database", "server_executor"]

# Databases opened by the running command; closed when it ends (the CLI's callback), so a command run
# in a long-lived process (an embedding script, the test runner) does not leak pooled connections.
_opened: list[Database] = []


def apply_overrides(data_dir: Path | None, database_url: str | None) -> Settings:
    """Flags win over the environment; they are written back to the environment so that uvicorn worker
    processes build the very same settings."""
    from ..config import Settings

    if data_dir is not None:
        os.environ["MAILWARDEN_DATA_DIR"] = str(data_dir)
    if database_url is not None:
        os.environ["MAILWARDEN_DATABASE_URL"] = database_url
    return Settings()


def open_database(settings: Settings) -> Database:
    from ..store import Database, upgrade

    db = Database(settings.resolved_database_url())
    _opened.append(db)
    upgrade(db)
    return db


def close_databases() -> None:
    while _opened:
        _opened.pop().dispose()


def server_executor(settings: Settings, db: Database) -> Executor:
    from ..audit._service import AuditService
    from ..cmdlets import CursorSigner, default_registry
    from ..cmdlets._executor import Executor
    from ..rbac import install_rbac
    from ..store import KeyRing, SecretBox

    clock = SystemClock()
    keyring = KeyRing(db, SecretBox(settings.resolved_secret_key()), clock)

    def current() -> tuple[str, bytes]:
        key = keyring.current("cursor")
        return key.kid, key.secret

    def lookup(kid: str) -> bytes | None:
        key = keyring.get("cursor", kid)
        return None if key is None else key.secret

    executor = Executor(
        db, default_registry(), CursorSigner(current, lookup), clock, audit=AuditService(db, keyring, clock)
    )
    install_rbac(executor)
    return executor
