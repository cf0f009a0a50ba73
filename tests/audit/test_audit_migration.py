"""Migration 0006 (audit search indexes): the migrated schema matches the models' audit tables, the search
uses the seq-ending indexes, and the revision downgrades and upgrades cleanly, on every backend."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from mailwarden.store import Database, upgrade
from mailwarden.store._audit_models import AuditRecord
from mailwarden.store._migrate import alembic_config
from mailwarden.store._models import Base

AUDIT_TABLES = {"audit_records", "audit_subtrees", "audit_log_state", "audit_tree_heads"}


def _audit_diffs(db: Database) -> list[Any]:
    """Autogenerate's differences between the migrated database and the models, for the audit tables only
    (other tables are other migrations' business)."""

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        return type_ != "table" or name in AUDIT_TABLES

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or str(table.name) in AUDIT_TABLES

    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_name": include_name, "include_object": include_object}
        )
        return list(compare_metadata(context, Base.metadata))


def _index_columns(db: Database) -> dict[str, list[str]]:
    return {
        str(ix["name"]): [str(c) for c in ix["column_names"]]
        for ix in inspect(db.engine).get_indexes("audit_records")
    }


def _migrate(db: Database, revision: str, *, down: bool) -> None:
    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def test_audit_schema_matches_models(db: Database) -> None:
    assert _audit_diffs(db) == []
    declared = {str(ix.name): [c.name for c in ix.columns] for ix in AuditRecord.__table__.indexes}
    assert _index_columns(db) == declared
    # The filter indexes end in seq, so a filtered search reads rows in paging order.
    for name in ("ix_audit_tenant_user_seq", "ix_audit_tenant_op_seq", "ix_audit_tenant_type_seq"):
        assert declared[name][-1] == "seq"


def test_0006_downgrades_and_upgrades(db: Database) -> None:
    _migrate(db, "0005", down=True)
    old = _index_columns(db)
    assert old["ix_audit_tenant_user_time"] == ["tenant_id", "user_key", "creation_time", "record_id"]
    assert "ix_audit_tenant_user_seq" not in old
    upgrade(db)
    assert _audit_diffs(db) == []
    assert "ix_audit_tenant_user_time" not in _index_columns(db)
