"""Statements on the hot paths (every token grant and audit append runs about a dozen), compiled once and
executed straight on the DBAPI cursor of the session's connection, inside its transaction.

Why by hand: SQLAlchemy's Core execution builds an execution context, a cursor result and its metadata for
every call — about 0.1 ms against SQLite's own 0.02 ms for a primary-key lookup — and inside a write
transaction that time holds the database's write lock. This keeps SQLAlchemy's compilation (the SQL text,
the bind parameter order, the types' bind and result processors) and skips only the per-call machinery.
On SQLite only: it is the embedded default, where one writer at a time makes the lock's hold time the
throughput; on PostgreSQL (row locks, driver-side type adaptation) statements take the ordinary Core path,
with the same rows.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

__all__ = ["Prepared"]

_Processor = Callable[[Any], Any] | None


class _Plan:
    __slots__ = ("binds", "compiled", "names", "result", "row", "sql")

    def __init__(self, statement: Any, dialect: Dialect, insert_columns: Sequence[str] | None) -> None:
        compiled = statement.compile(
            dialect=dialect, column_keys=None if insert_columns is None else list(insert_columns)
        )
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("statements with expanding or literal-execute parameters are not prepared")
        self.compiled = compiled
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.binds: dict[str, _Processor] = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        # A SELECT's columns, or a DML statement's RETURNING columns (none without RETURNING).
        selected: Any = getattr(statement, "selected_columns", None)
        columns: list[Any] = list(selected if selected is not None else statement.exported_columns)
        self.result: list[_Processor] = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        ]
        self.row: Any = namedtuple("PreparedRow", [c.name for c in columns], rename=True) if columns else None

    def parameters(self, params: dict[str, Any]) -> list[Any]:
        """The DBAPI's positional parameters: defaults filled in, each value through its type's processor."""
        values = self.compiled.construct_params(params)
        return [
            values[name] if (process := self.binds[name]) is None else process(values[name])
            for name in self.names
        ]


class Prepared:
    """One Core statement (SELECT, INSERT, UPDATE or DELETE, RETURNING allowed; no expanding IN). It is
    compiled once, without parameters: an INSERT without ``.values()`` names the given ``columns`` (default:
    every column of its table), and every execution passes exactly those."""

    def __init__(self, statement: Executable, *, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.columns = None if columns is None else tuple(columns)
        self._plan: _Plan | None = None

    def _planned(self, dialect: Dialect) -> _Plan:
        plan = self._plan
        if plan is None:
            plan = self._plan = _Plan(self.statement, dialect, self.columns)
        return plan

    def _cursor(
        self, session: Session, params: dict[str, Any] | list[dict[str, Any]]
    ) -> tuple[Any, _Plan | None]:
        """Execute once, or once per parameter set for a list (``executemany``)."""
        # Core execution does not autoflush: flush pending ORM changes first so the statement sees them.
        if session.new or session.dirty or session.deleted:
            session.flush()
        connection = session.connection()
        if connection.dialect.name != "sqlite":
            return connection.execute(self.statement, params), None
        plan = self._planned(connection.dialect)
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        if isinstance(params, list):
            cursor.executemany(plan.sql, [plan.parameters(p) for p in params])
        else:
            cursor.execute(plan.sql, plan.parameters(params))
        return cursor, plan

    @staticmethod
    def _row(plan: _Plan, raw: Sequence[Any]) -> Any:
        return plan.row._make(
            value if process is None else process(value)
            for process, value in zip(plan.result, raw, strict=True)
        )

    def first(self, session: Session, params: dict[str, Any]) -> Any:
        """The first row (attribute access by column name, as a Core ``Row``), or None."""
        cursor, plan = self._cursor(session, params)
        if plan is None:
            return cursor.first()
        raw = cursor.fetchone()
        cursor.close()
        return None if raw is None else self._row(plan, raw)

    def all(self, session: Session, params: dict[str, Any]) -> list[Any]:
        cursor, plan = self._cursor(session, params)
        if plan is None:
            return list(cursor)
        rows = [self._row(plan, raw) for raw in cursor.fetchall()]
        cursor.close()
        return rows

    def run(self, session: Session, params: dict[str, Any]) -> int:
        """Execute a statement without rows; returns the affected row count."""
        cursor, plan = self._cursor(session, params)
        if plan is not None and plan.row is not None:
            cursor.fetchall()  # SQLite counts RETURNING rows only as they are stepped through
        count = int(cursor.rowcount)
        if plan is not None:
            cursor.close()
        return count

    def run_many(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Execute a statement without rows once per parameter set (``executemany``)."""
        if not rows:
            return
        cursor, plan = self._cursor(session, rows)
        if plan is not None:
            cursor.close()
