"""The SQLite write gate (``store._write_gate``): writers of one process and of several processes take
turns before BEGIN IMMEDIATE, a writer that cannot get its turn in time gets a clean 503-style error and
changes nothing, and ``after_end`` callbacks run outside the gate whether the transaction committed or
rolled back (they may write themselves)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from mailwarden.errors import ServiceUnavailableError
from mailwarden.store import Database
from mailwarden.store._write_gate import WriteGate

_HOLD = """
import sys
from pathlib import Path
from mailwarden.store._write_gate import WriteGate
gate = WriteGate(Path(sys.argv[1]), 5)
gate.acquire()
print("held", flush=True)
sys.stdin.readline()
gate.release()
print("released", flush=True)
"""


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'gate.db'}")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
    return db


def _count(db: Database) -> int:
    with db.unit_of_work(write=False) as uow:
        return int(uow.session.execute(text("SELECT count(*) FROM t")).scalar_one())


def test_writers_of_one_process_take_turns(sqlite_db: Database) -> None:
    order: list[str] = []
    inside = threading.Event()
    finish = threading.Event()

    def first() -> None:
        with sqlite_db.unit_of_work() as uow:
            uow.session.execute(text("INSERT INTO t VALUES (1)"))
            order.append("first in")
            inside.set()
            finish.wait(10)
            order.append("first out")

    def second() -> None:
        inside.wait(10)
        with sqlite_db.unit_of_work() as uow:
            order.append("second in")
            uow.session.execute(text("INSERT INTO t VALUES (2)"))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    inside.wait(10)
    finish.set()
    for t in threads:
        t.join(10)
    assert order == ["first in", "first out", "second in"]
    assert _count(sqlite_db) == 2


def test_another_process_holding_the_gate_times_out_cleanly(sqlite_db: Database, tmp_path: Path) -> None:
    database = (tmp_path / "gate.db").resolve()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        impatient = WriteGate(database, timeout=0.3)
        with pytest.raises(ServiceUnavailableError):
            impatient.acquire()
        # A unit of work waiting on the same gate gets its turn as soon as the holder lets go.
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        with sqlite_db.unit_of_work() as uow:
            uow.session.execute(text("INSERT INTO t VALUES (1)"))
        assert holder.stdout.readline().strip() == "released"
    finally:
        holder.kill()
        holder.communicate()
    impatient.acquire()  # the failed attempt left nothing locked behind
    impatient.release()
    impatient.close()
    assert _count(sqlite_db) == 1


def test_after_end_runs_outside_the_gate_on_commit_and_on_rollback(sqlite_db: Database) -> None:
    def record(value: int) -> None:
        # A write of its own: inside the first transaction's gate this would wait until the timeout.
        with sqlite_db.unit_of_work() as uow:
            uow.session.execute(text(f"INSERT INTO t VALUES ({value})"))

    def refused() -> None:
        with sqlite_db.unit_of_work() as uow:
            uow.session.execute(text("INSERT INTO t VALUES (100)"))
            uow.after_end(lambda: record(1))
            raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        refused()
    with sqlite_db.unit_of_work() as uow:
        uow.session.execute(text("INSERT INTO t VALUES (200)"))
        uow.after_end(lambda: record(2))
    with sqlite_db.unit_of_work(write=False) as uow:
        values = sorted(int(v) for v in uow.session.execute(text("SELECT v FROM t")).scalars())
    assert values == [1, 2, 200]  # the rolled-back 100 is gone, both records stayed
