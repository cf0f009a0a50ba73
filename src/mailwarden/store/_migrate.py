"""Schema migrations with Alembic (never ``create_all`` in production paths)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ._database import Database

__all__ = ["alembic_config", "is_current", "upgrade"]

_SCRIPT_LOCATION = str(Path(__file__).with_name("migrations"))


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", _SCRIPT_LOCATION)
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    cfg = alembic_config()
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            # Several nodes may start at once: serialise migrations on an advisory lock.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(724011)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def is_current(db: Database) -> bool:
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == heads
