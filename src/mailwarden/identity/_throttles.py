"""Database adapter for the lockout policy (:mod:`._lockout`): counters in ``identity_throttles`` shared by every
node, read with ``SELECT … FOR UPDATE`` (PostgreSQL) inside a ``BEGIN IMMEDIATE`` write transaction (SQLite),
so the check and the increment are one atomic step (NIST SP 800-63B §5.2.2)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..store._identity_models import LoginThrottle
from ._errors import SignInThrottled
from ._lockout import LockoutPolicy, ThrottleState, decide, record_failure

__all__ = ["check_and_count", "reset_counters"]

THROTTLED_MESSAGE = "Too many attempts. Try again later."


def _lock_rows(session: Session, tenant_id: str, keys: list[str]) -> list[LoginThrottle]:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for key in keys:
        session.execute(
            insert(LoginThrottle)
            .values(tenant_id=tenant_id, key=key, failures=0)
            .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
        )
    rows = session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.tenant_id == tenant_id, LoginThrottle.key.in_(keys))
        .order_by(LoginThrottle.key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return list(rows)


def check_and_count(
    session: Session, policy: LockoutPolicy, tenant_id: str, keys: list[str], now: datetime
) -> None:
    """Refuse (raise :class:`SignInThrottled`) if any counter forbids an attempt now; otherwise count the attempt
    as a failure up front on every counter (a success resets them afterwards). Call inside a write unit of
    work; the rows stay locked until it commits."""
    rows = _lock_rows(session, tenant_id, sorted(set(keys)))
    worst = 0.0
    for row in rows:
        state = ThrottleState(row.failures, row.last_failure_at, row.locked_until)
        decision = decide(policy, state, now)
        if not decision.allowed:
            worst = max(worst, decision.retry_after)
    if worst:
        raise SignInThrottled(THROTTLED_MESSAGE, retry_after=int(worst) + 1)
    for row in rows:
        state = record_failure(
            policy, ThrottleState(row.failures, row.last_failure_at, row.locked_until), now
        )
        row.failures = state.failures
        row.last_failure_at = state.last_failure_at
        row.locked_until = state.locked_until


def reset_counters(session: Session, tenant_id: str, keys: list[str]) -> None:
    for row in session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.tenant_id == tenant_id, LoginThrottle.key.in_(sorted(set(keys))))
        .order_by(LoginThrottle.key)
        .with_for_update()
    ):
        row.failures = 0
        row.last_failure_at = None
        row.locked_until = None
