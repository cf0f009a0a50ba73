"""Per-principal rate limit: a fixed one-minute window counted in the database, so every node and worker
shares it and it survives restarts. Check-and-increment happen in one transaction on one row."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..clock import Clock
from ..errors import ThrottledError
from ..store import Database, RateLimitWindow

__all__ = ["RateLimiter"]

_WINDOW = 60


class RateLimiter:
    def __init__(self, db: Database, clock: Clock, per_minute: int) -> None:
        self._db = db
        self._clock = clock
        self._limit = per_minute

    def hit(self, key: str) -> None:
        now = self._clock.now().timestamp()
        window = int(now // _WINDOW) * _WINDOW
        for _attempt in range(3):
            try:
                with self._db.unit_of_work(write=True) as uow:
                    row = uow.session.scalar(
                        select(RateLimitWindow).where(RateLimitWindow.principal_key == key).with_for_update()
                    )
                    if row is None:
                        uow.session.add(RateLimitWindow(principal_key=key, window_start=window, count=1))
                        return
                    if row.window_start != window:
                        row.window_start, row.count = window, 0
                    if row.count >= self._limit:
                        retry = int(window + _WINDOW - now) + 1
                        raise ThrottledError(
                            f"The request was throttled: more than {self._limit} calls in a minute. "
                            f"Retry after {retry} seconds.",
                            retry_after=retry,
                        )
                    row.count += 1
                    return
            except IntegrityError:
                continue  # two first calls raced to create the row; the loser retries as an update
        raise ThrottledError("The request was throttled. Retry shortly.", retry_after=1)
