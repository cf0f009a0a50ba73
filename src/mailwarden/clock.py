"""Injectable time source. Anything with a time window takes a :class:`Clock` so tests move time instead of
sleeping (TOTP steps, token lifetimes, rate-limit windows, cursors, the scheduler)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock", "utcnow"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to; thread-safe so server threads and the test agree."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | float) -> None:
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        with self._lock:
            self._now += step


def utcnow(clock: Clock) -> datetime:
    """Naive UTC, the form stored in the database (SQLite keeps no zone)."""
    return clock.now().astimezone(UTC).replace(tzinfo=None)
