"""Throttling policy for sign-in attempts: a pure function of (counter state, now), per NIST SP 800-63B
§5.2.2 (rate limiting: at most 100 consecutive failed attempts per account — here far fewer).

The first ``free_failures`` consecutive failures cost nothing; after that each further attempt must wait
``base_delay * 2**(failures - free_failures)`` seconds (capped at ``max_delay``) after the last failure; at
``threshold`` consecutive failures the subject is locked for ``lock_seconds``. A success resets the count.
Counters are kept per account (known or not) and per client IP; the storage adapter applies this policy
inside one transaction (check-and-increment), so parallel attempts cannot exceed ``threshold``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["LockoutDecision", "LockoutPolicy", "ThrottleState", "decide", "record_failure", "retry_delay"]


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int = 10
    lock_seconds: int = 15 * 60
    free_failures: int = 3
    base_delay: float = 1.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.threshold < 100:
            raise ValueError("the lockout threshold must be between 1 and 99")
        if self.lock_seconds < 1 or self.free_failures < 0 or self.base_delay < 0:
            raise ValueError("invalid lockout policy")


@dataclass(frozen=True)
class ThrottleState:
    failures: int = 0
    last_failure_at: datetime | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class LockoutDecision:
    allowed: bool
    retry_after: float  # seconds; 0 when allowed
    locked: bool  # a temporary lock (as opposed to a back-off delay)


def retry_delay(policy: LockoutPolicy, failures: int) -> float:
    """Seconds to wait after the last failure before the next attempt, for ``failures`` consecutive ones."""
    if failures <= policy.free_failures:
        return 0.0
    exponent = failures - policy.free_failures - 1
    return min(policy.max_delay, policy.base_delay * math.pow(2, min(exponent, 62)))


def decide(policy: LockoutPolicy, state: ThrottleState, now: datetime) -> LockoutDecision:
    """May an attempt be made now?"""
    if state.locked_until is not None and now < state.locked_until:
        return LockoutDecision(False, (state.locked_until - now).total_seconds(), True)
    failures = state.failures
    if state.locked_until is not None:
        failures = 0  # the lock expired: a fresh start
    if failures >= policy.threshold:
        # Reached without a lock (e.g. the policy was lowered): lock from the last failure.
        last = state.last_failure_at or now
        until = last + timedelta(seconds=policy.lock_seconds)
        if now < until:
            return LockoutDecision(False, (until - now).total_seconds(), True)
        return LockoutDecision(True, 0.0, False)
    delay = retry_delay(policy, failures)
    if delay and state.last_failure_at is not None:
        ready = state.last_failure_at + timedelta(seconds=delay)
        if now < ready:
            return LockoutDecision(False, (ready - now).total_seconds(), False)
    return LockoutDecision(True, 0.0, False)


def record_failure(policy: LockoutPolicy, state: ThrottleState, now: datetime) -> ThrottleState:
    """The state after one more failure (call only for attempts :func:`decide` allowed)."""
    failures = state.failures
    if state.locked_until is not None and now >= state.locked_until:
        failures = 0
    failures += 1
    locked_until = now + timedelta(seconds=policy.lock_seconds) if failures >= policy.threshold else None
    return ThrottleState(failures=failures, last_failure_at=now, locked_until=locked_until)
