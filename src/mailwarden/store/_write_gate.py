"""Queueing of SQLite writers before they ask SQLite for the write lock.

SQLite lets one writer at a time hold the database; the others wait in its busy handler, which does not
block on the lock but sleeps and retries, for 1, 2, 5, 10, 15, 20, 25 … ms. A write transaction of a token
grant or a cmdlet holds the lock for 1 to 3 ms, so under contention a waiter sleeps several times longer than
the lock is held, and two worker processes end up slower than one. No library offers a lock that both
threads and processes can block on with a timeout, hence this small one: a ``threading.Lock`` queues the
writers of this process (woken at once), and ``flock`` on a side file next to the database (``<db>-writer.lock``)
queues the processes, polled at sub-millisecond steps because ``flock`` has no timeout. SQLite's own locking
stays in force underneath: this only decides who asks first. Writers that bypass the gate (another program,
migrations) still wait in SQLite's busy handler as before.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

from ..errors import ServiceUnavailableError

__all__ = ["WriteGate"]

_FIRST_POLL = 0.0001
_LAST_POLL = 0.001


class WriteGate:
    def __init__(self, database_path: Path, timeout: float) -> None:
        self.path = database_path.with_name(database_path.name + "-writer.lock")
        self.timeout = timeout
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int:
        # Opened once per process: an inherited descriptor (fork) would share its lock with the parent.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> None:
        """Wait (up to ``timeout`` seconds, as SQLite's busy timeout) for this process's turn and then the
        database's; raise :class:`ServiceUnavailableError` if it does not come."""
        deadline = time.monotonic() + self.timeout
        if not self._threads.acquire(timeout=self.timeout):
            raise ServiceUnavailableError("The database is busy; retry shortly.")
        try:
            fd = self._file()
            delay = _FIRST_POLL
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise ServiceUnavailableError("The database is busy; retry shortly.") from None
                    time.sleep(delay)
                    delay = min(delay * 2, _LAST_POLL)
        except BaseException:
            self._threads.release()
            raise

    def close(self) -> None:
        """Close this process's lock file (a held lock goes with it)."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    def release(self) -> None:
        try:
            if self._fd is not None and self._pid == os.getpid():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()
