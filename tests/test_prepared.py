"""Prepared statements (``store._prepared``) answer exactly what the same statement answers through
SQLAlchemy Core — values, types, NULLs, RETURNING, row counts — on both backends; on SQLite they bypass
Core's execution (no statement reaches its execution events) and still see the session's pending ORM
changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    case,
    column,
    event,
    insert,
    select,
    text,
    update,
)

from mailwarden.clock import FakeClock, utcnow
from mailwarden.directory import create_tenant
from mailwarden.identity._reads import user_row
from mailwarden.store import Database
from mailwarden.store._identity_models import IdentityUser
from mailwarden.store._prepared import Prepared

_META = MetaData()
_T = Table(
    "prepared_probe",
    _META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64)),
    Column("at", DateTime, nullable=True),
    Column("doc", JSON),
    Column("flag", Boolean),
    Column("blob", LargeBinary, nullable=True),
    Column("n", BigInteger),
)
_COLUMNS = ["name", "at", "doc", "flag", "blob", "n"]
_INSERT = Prepared(insert(_T), columns=_COLUMNS)
_BY_NAME = Prepared(select(_T).where(_T.c.name == bindparam("name")).order_by(_T.c.id))
_BUMP = Prepared(
    update(_T)
    .where(_T.c.name == bindparam("who"))
    .values(n=_T.c.n + 1, flag=case((_T.c.n > bindparam("limit"), False), else_=_T.c.flag))
    .returning(_T.c.id, _T.c.n, _T.c.flag, _T.c.at)
)
_TEXT = Prepared(
    text("SELECT id, n, blob FROM prepared_probe WHERE name = :name ORDER BY id").columns(
        column("id", Integer), column("n", BigInteger), column("blob", LargeBinary)
    )
)

_ROWS: list[dict[str, Any]] = [
    {
        "name": "a",
        "at": datetime(2026, 11, 30, 12, 34, 56, 789012),
        "doc": {"k": [1, "two", None], "u": "ü"},
        "flag": True,
        "blob": b"\x00\xff",
        "n": 2**40,
    },
    {"name": "a", "at": None, "doc": [], "flag": False, "blob": None, "n": 0},
    {"name": "b", "at": datetime(2026, 1, 1), "doc": {"x": 1}, "flag": True, "blob": b"", "n": -5},
]


def _plain(row: Any) -> tuple[Any, ...]:
    return tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)


def test_prepared_rows_equal_core_rows(db: Database) -> None:
    _META.create_all(db.engine)
    with db.unit_of_work() as uow:
        _INSERT.run(uow.session, _ROWS[0])
        _INSERT.run_many(uow.session, _ROWS[1:])
    with db.unit_of_work() as uow:
        core = uow.session.execute(_BY_NAME.statement, {"name": "a"}).all()
        prepared = _BY_NAME.all(uow.session, {"name": "a"})
        assert [_plain(r) for r in prepared] == [_plain(r) for r in core]
        assert [r.doc for r in prepared] == [_ROWS[0]["doc"], []]
        assert (prepared[0].at, prepared[1].at) == (_ROWS[0]["at"], None)
        assert (prepared[0].flag, prepared[1].flag) == (True, False)
        assert _plain(_TEXT.all(uow.session, {"name": "a"})) == _plain(
            uow.session.execute(_TEXT.statement, {"name": "a"}).all()
        )
        assert _BY_NAME.first(uow.session, {"name": "nobody"}) is None
        returned = _BUMP.all(uow.session, {"who": "a", "limit": 10})
        assert sorted((r.n, r.flag) for r in returned) == [(1, False), (2**40 + 1, False)]
        assert _BUMP.run(uow.session, {"who": "b", "limit": 10}) == 1
        assert _BUMP.run(uow.session, {"who": "nobody", "limit": 10}) == 0
    with db.unit_of_work(write=False) as uow:
        b = _BY_NAME.first(uow.session, {"name": "b"})
        assert (b.n, b.flag, b.blob) == (-4, True, b"")


def test_sqlite_bypasses_core_and_sees_pending_changes(db: Database, clock: FakeClock) -> None:
    with db.unit_of_work() as uow:
        tenant = create_tenant(uow.session, name="p", domain="p.onmicrosoft.com", now=utcnow(clock))
        uow.session.add(
            IdentityUser(
                id="00000000-0000-0000-0000-00000000000a",
                tenant_id=tenant.id,
                upn="ada@p.onmicrosoft.com",
                upn_key="ada@p.onmicrosoft.com",
                display_name="Ada",
                role_groups=["Organization Management"],
                created_at=utcnow(clock),
            )
        )
        executed: list[str] = []
        event.listen(uow.session.connection(), "before_cursor_execute", lambda *a: executed.append(a[2]))
        row = user_row(uow.session, tenant.id, "00000000-0000-0000-0000-00000000000a")  # not flushed yet
        assert row is not None
        assert (row.upn, row.disabled, row.role_groups) == (
            "ada@p.onmicrosoft.com",
            False,
            ["Organization Management"],
        )
        assert user_row(uow.session, "another tenant", row.id) is None
        statements = [
            s for s in executed if "identity_users" in s and s.lstrip().upper().startswith("SELECT")
        ]
        if db.dialect == "sqlite":
            assert statements == []  # the flush's INSERT went through Core; the read did not
        else:
            assert len(statements) == 2
