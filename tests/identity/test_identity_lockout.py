"""Throttling: the pure policy alone, then the database adapter — lockout after N failures, shared by two app
instances on one database, unknown accounts locked identically, and 50 parallel wrong attempts never
exceeding the threshold (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from _identity_helpers import PASSWORD, make_service
from sqlalchemy import select

from mailwarden.clock import FakeClock
from mailwarden.identity import (
    IdentityService,
    InvalidCredentials,
    LockoutPolicy,
    SignInThrottled,
    ThrottleState,
    decide,
    record_failure,
    retry_delay,
)
from mailwarden.store import Database
from mailwarden.store._identity_models import LoginThrottle

from conftest import TenantHandle

T0 = datetime(2026, 1, 1)


def test_delay_schedule() -> None:
    policy = LockoutPolicy(threshold=10, free_failures=3, base_delay=1, max_delay=60)
    assert [retry_delay(policy, n) for n in range(10)] == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32]
    assert retry_delay(LockoutPolicy(threshold=99, max_delay=60), 50) == 60


def test_policy_locks_at_threshold_and_unlocks_after() -> None:
    policy = LockoutPolicy(threshold=5, lock_seconds=600, free_failures=2, base_delay=1)
    state = ThrottleState()
    now = T0
    for _ in range(5):
        decision = decide(policy, state, now)
        assert decision.allowed
        state = record_failure(policy, state, now)
        now += timedelta(seconds=100)  # past any back-off delay
    assert state.failures == 5
    assert state.locked_until == now - timedelta(seconds=100) + timedelta(seconds=600)
    refused = decide(policy, state, now)
    assert not refused.allowed
    assert refused.locked
    later = state.locked_until + timedelta(seconds=1)
    assert decide(policy, state, later).allowed
    assert record_failure(policy, state, later).failures == 1  # a fresh start after the lock


def test_policy_back_off_refuses_early_attempts() -> None:
    policy = LockoutPolicy(threshold=10, free_failures=1, base_delay=2)
    state = record_failure(policy, record_failure(policy, ThrottleState(), T0), T0)
    early = decide(policy, state, T0 + timedelta(seconds=1))
    assert not early.allowed
    assert not early.locked
    assert early.retry_after == pytest.approx(1)
    assert decide(policy, state, T0 + timedelta(seconds=2)).allowed


def test_threshold_must_stay_under_100() -> None:
    with pytest.raises(ValueError, match="between 1 and 99"):
        LockoutPolicy(threshold=100)


def _fail_until_locked(
    service: IdentityService, tenant: TenantHandle, clock: FakeClock, upn: str, ip: str
) -> int:
    """Wrong passwords, waiting out each back-off, until the lock; returns the number of real attempts."""
    attempts = 0
    for _ in range(100):
        try:
            service.sign_in_password(tenant.id, upn, "wrong password here", ip=ip)
        except InvalidCredentials:
            attempts += 1
        except SignInThrottled as exc:
            if exc.retry_after > 120:
                return attempts
            clock.advance(exc.retry_after)
    raise AssertionError("never locked")


def test_lockout_after_threshold_shared_across_instances(
    db: Database, database_url: str, clock: FakeClock, tenant: TenantHandle
) -> None:
    first = make_service(db, clock, threshold=6)
    first.create_user(tenant.id, f"ann@{tenant.domain}", PASSWORD)
    other_db = Database(database_url)
    second = make_service(other_db, clock, threshold=6)
    try:
        # Alternate the two instances (two nodes): the count is shared.
        for i in range(3):
            for service in (first, second):
                try:
                    service.sign_in_password(
                        tenant.id, f"ann@{tenant.domain}", "wrong password " + str(i), ip=f"10.0.0.{i}"
                    )
                except InvalidCredentials:
                    pass
                except SignInThrottled as exc:
                    clock.advance(exc.retry_after)
                    with pytest.raises(InvalidCredentials):
                        service.sign_in_password(tenant.id, f"ann@{tenant.domain}", "wrong", ip=f"10.0.0.{i}")
                clock.advance(100)
        # Locked now: even the right password is refused, on both instances, with the throttle answer.
        for service in (first, second):
            with pytest.raises(SignInThrottled) as info:
                service.sign_in_password(tenant.id, f"ann@{tenant.domain}", PASSWORD, ip="10.9.9.9")
            assert info.value.retry_after > 600
        clock.advance(timedelta(minutes=16))
        assert (
            second.sign_in_password(tenant.id, f"ann@{tenant.domain}", PASSWORD, ip="10.9.9.9").state
            == "active"
        )
    finally:
        other_db.dispose()


def test_unknown_account_locks_identically(db: Database, clock: FakeClock, tenant: TenantHandle) -> None:
    service = make_service(db, clock, threshold=7)
    service.create_user(tenant.id, f"ann@{tenant.domain}", PASSWORD)
    known = _fail_until_locked(service, tenant, clock, f"ann@{tenant.domain}", "10.1.1.1")
    unknown = _fail_until_locked(service, tenant, clock, f"nobody@{tenant.domain}", "10.1.1.2")
    assert known == unknown == 7
    with pytest.raises(SignInThrottled) as a:
        service.sign_in_password(tenant.id, f"ann@{tenant.domain}", PASSWORD, ip="10.1.1.3")
    with pytest.raises(SignInThrottled) as b:
        service.sign_in_password(tenant.id, f"nobody@{tenant.domain}", PASSWORD, ip="10.1.1.4")
    assert str(a.value) == str(b.value)


def test_ip_counter_throttles_spraying(db: Database, clock: FakeClock, tenant: TenantHandle) -> None:
    service = make_service(db, clock, threshold=5)
    attempts = 0
    for i in range(40):
        try:
            service.sign_in_password(tenant.id, f"user{i}@{tenant.domain}", "wrong password", ip="192.0.2.7")
        except InvalidCredentials:
            attempts += 1
        except SignInThrottled as exc:
            if exc.retry_after > 120:
                break
            clock.advance(exc.retry_after)
    assert attempts == 5


@pytest.mark.parametrize("known", [True, False])
def test_fifty_parallel_wrong_attempts_never_exceed_threshold(
    db: Database, clock: FakeClock, tenant: TenantHandle, known: bool
) -> None:
    threshold = 10
    # No back-off delay: the only thing standing between 50 threads and the hasher is the lock decision.
    service = make_service(
        db, clock, lockout=LockoutPolicy(threshold=threshold, free_failures=threshold, lock_seconds=900)
    )
    upn = f"ann@{tenant.domain}"
    if known:
        service.create_user(tenant.id, upn, PASSWORD)
    barrier = threading.Barrier(50)
    verified: list[int] = []
    throttled: list[int] = []
    errors: list[BaseException] = []

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            service.sign_in_password(tenant.id, upn, f"wrong password {i}", ip=f"198.51.100.{i}")
        except InvalidCredentials:
            verified.append(i)
        except SignInThrottled:
            throttled.append(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(verified) == threshold
    assert len(throttled) == 50 - threshold
    with db.unit_of_work(write=False) as uow:
        row = uow.session.scalar(
            select(LoginThrottle).where(
                LoginThrottle.tenant_id == tenant.id, LoginThrottle.key == f"acct:{upn}"
            )
        )
        assert row is not None
        assert row.failures == threshold
        assert row.locked_until is not None
