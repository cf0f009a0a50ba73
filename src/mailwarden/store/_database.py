"""Engine, sessions and the unit of work.

One unit of work (one database transaction) per cmdlet call: the change, and later its audit record and RBAC
checks, commit together or not at all. SQLite runs in WAL mode; a writing unit of work takes the write lock up
front (``BEGIN IMMEDIATE``) so two writers queue instead of failing on lock upgrade — first on the write gate
(``_write_gate``: woken as soon as the lock is free), then on ``busy_timeout`` for writers outside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from ..errors import ConfigurationError
from ._write_gate import WriteGate

__all__ = ["Database", "UnitOfWork", "normalise_url"]

UNIT_OF_WORK = "mailwarden.unit_of_work"  # Session.info key
SQLITE_BUSY_TIMEOUT = 30.0  # seconds a writer waits for the database before giving up


def normalise_url(url: str) -> str:
    """Accept libpq-style ``postgresql://`` URLs and route them to psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _json_dumps(value: object) -> str:
    # JSON columns are decoded on every row of every Get-* page: orjson is several times faster.
    return orjson.dumps(value).decode()


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _create_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT},
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control away from pysqlite so BEGIN below is the only one issued.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
            cur.close()
            # SQLite's lower() folds ASCII only; OPATH's case-insensitive comparisons (and the Python
            # evaluator RBAC uses) fold Unicode. Every connection registers the same function, so the
            # lower(...) expression indexes stay consistent.
            dbapi_conn.create_function("lower", 1, _unicode_lower, deterministic=True)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # On the driver connection: the statement needs none of SQLAlchemy's execution machinery, and
            # a writer runs it while holding the write gate.
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.connection.driver_connection.execute(f"BEGIN {mode}")

        return engine
    if parsed.get_backend_name() == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigurationError(
                "PostgreSQL support needs the postgres extra: pip install 'mailwarden[postgres]'"
            ) from exc
        return create_engine(
            url,
            pool_size=10,
            max_overflow=20,
            pool_pre_ping=True,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
    raise ConfigurationError(f"unsupported database URL scheme: {parsed.drivername}")


class UnitOfWork:
    """One transaction. Use as a context manager; commits on success, rolls back on any exception.

    ``before_commit`` callbacks run inside the transaction (audit records go there, so they commit with the
    change); ``after_commit`` callbacks run once the transaction is durable.
    """

    def __init__(self, session: Session, *, write: bool) -> None:
        self.session = session
        self.write = write
        self._before: list[Callable[[UnitOfWork], None]] = []
        self._after: list[Callable[[], None]] = []
        self._ended: list[Callable[[], None]] = []
        session.info[UNIT_OF_WORK] = self

    def before_commit(self, fn: Callable[[UnitOfWork], None]) -> None:
        self._before.append(fn)

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._after.append(fn)

    def after_end(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once this transaction has ended, committed or rolled back, and its write lock is
        released: for a record that must be written whatever happens to this transaction, in one of its
        own (a second writer nested inside this one would wait on this one's lock)."""
        self._ended.append(fn)

    @staticmethod
    def of(session: Session) -> UnitOfWork | None:
        """The unit of work a session belongs to, if any."""
        uow = session.info.get(UNIT_OF_WORK)
        return uow if isinstance(uow, UnitOfWork) else None

    def _commit(self) -> None:
        for fn in self._before:
            fn(self)
        self.session.commit()

    def _end(self) -> None:
        callbacks, self._ended = self._ended, []
        for fn in callbacks:
            fn()

    def _committed(self) -> None:
        for after in self._after:
            after()


class Database:
    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = _create_engine(self.url)
        self.dialect = self.engine.dialect.name
        database = make_url(self.url).database if self.dialect == "sqlite" else None
        self._gate = (
            WriteGate(Path(database).resolve(), SQLITE_BUSY_TIMEOUT)
            if database and database != ":memory:" and not database.startswith("file:")
            else None
        )

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[UnitOfWork]:
        conn = self.engine.connect()
        if self.dialect == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE" if write else "DEFERRED")
        session = Session(bind=conn, expire_on_commit=False, autoflush=True)
        uow = UnitOfWork(session, write=write)
        gate = self._gate if write else None
        if gate is not None:
            try:
                gate.acquire()  # after the set-up above: held for the transaction only
            except BaseException:
                session.close()
                conn.close()
                raise
        try:
            try:
                yield uow
                uow._commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
                conn.close()
        finally:
            if gate is not None:
                gate.release()
            # After the gate is released: a callback may open a write unit of work of its own.
            uow._end()
        uow._committed()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        if self._gate is not None:
            self._gate.close()
