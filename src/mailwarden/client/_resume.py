"""The resume contract (DESIGN §8): an enumeration of pages that never restarts and never ends early
without saying so.

* 401 → one forced, silent token refresh (``get_token(force_refresh=True)``), then the same page again;
* 429 → wait ``Retry-After`` (or the back-off when absent), then the same page again;
* 5xx, timeouts, resets, refused connections (and token endpoints failing the same way) → jittered
  exponential back-off ("full jitter" between half and all of ``min(cap, base·2ⁿ)``), the same page again;
* a page is identified by its nextLink: the enumeration goes on from it and is never restarted;
* after each page the caller's ``CheckpointStore`` is told the nextLink and the count delivered;
* when it cannot go on (retries exhausted, the total wait for a page exceeded, a non-retryable answer after
  objects were delivered) it raises ``IncompleteResultError(delivered, checkpoint, cause)``.

Pure Python: the page fetch, the token source, the checkpoint store, the sleep and the clock are injected.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._errors import (
    ApiRequestError,
    AuthenticationFailed,
    IncompleteResultError,
    InteractionRequired,
    ServerError,
    Throttled,
    TransientError,
)

__all__ = [
    "CheckpointState",
    "CheckpointStore",
    "Page",
    "PageFetch",
    "Progress",
    "ResumeStats",
    "RetryPolicy",
    "TokenSource",
    "enumerate_pages",
]


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_link: str | None


class PageFetch(Protocol):
    """Fetch one page: ``link`` None means the first request. Raises the client's typed errors."""

    def __call__(self, link: str | None, token: str) -> Page: ...


class TokenSource(Protocol):
    def get_token(self, force_refresh: bool = False) -> str: ...


@dataclass(frozen=True)
class CheckpointState:
    next_link: str | None
    delivered: int
    complete: bool = False


class CheckpointStore(Protocol):
    location: str

    def save(self, state: CheckpointState) -> None: ...


class Progress(Protocol):
    def __call__(self, delivered: int, pages: int) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 0.5
    cap: float = 30.0
    max_wait_per_page: float = 300.0  # total sleeping for one page before giving up
    max_attempts_per_page: int = 50
    max_auth_refreshes_per_page: int = 2


@dataclass
class ResumeStats:
    pages: int = 0
    delivered: int = 0
    retries: int = 0
    throttled: int = 0
    transient: int = 0
    refreshes: int = 0
    waited: float = 0.0
    causes: list[str] = field(default_factory=list)


def backoff(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    ceiling = float(min(policy.cap, policy.base * (2.0**attempt)))
    return ceiling * (0.5 + 0.5 * rng.random())


def enumerate_pages(
    fetch: PageFetch,
    tokens: TokenSource,
    *,
    start: CheckpointState | None = None,
    store: CheckpointStore | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    progress: Progress | None = None,
    stats: ResumeStats | None = None,
) -> Iterator[Page]:
    """Yield pages until the last one. The checkpoint for page *n* is saved when the caller asks for page
    *n+1*, i.e. after it has handled every object of page *n*."""
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    stats = stats if stats is not None else ResumeStats()
    link = start.next_link if start else None
    delivered = start.delivered if start else 0
    stats.delivered = delivered
    resumed = start is not None
    if start is not None and start.complete:
        return
    token: str | None = None
    where = store.location if store else None

    def incomplete(cause: BaseException) -> IncompleteResultError:
        return IncompleteResultError(delivered=delivered, checkpoint=where, cause=cause)

    while True:
        attempt = 0
        refreshes = 0
        waited = 0.0
        force = False
        while True:
            try:
                if token is None or force:
                    if force:
                        refreshes += 1
                        stats.refreshes += 1
                    token = tokens.get_token(force)
                    force = False
                page = fetch(link, token)
                break
            except InteractionRequired as exc:
                if delivered or resumed:
                    raise incomplete(exc) from exc
                raise
            except AuthenticationFailed as exc:
                if refreshes >= policy.max_auth_refreshes_per_page:
                    if delivered or resumed:
                        raise incomplete(exc) from exc
                    raise
                force = True
                continue
            except (Throttled, ServerError, TransientError) as exc:
                attempt += 1
                stats.retries += 1
                if isinstance(exc, Throttled):
                    stats.throttled += 1
                    wait = exc.retry_after if exc.retry_after is not None else backoff(policy, attempt, rng)
                else:
                    stats.transient += 1
                    wait = backoff(policy, attempt, rng)
                stats.causes.append(type(exc).__name__)
                if attempt > policy.max_attempts_per_page or waited + wait > policy.max_wait_per_page:
                    raise incomplete(exc) from exc
                waited += wait
                stats.waited += wait
                sleep(wait)
            except ApiRequestError as exc:
                if delivered or resumed:
                    raise incomplete(exc) from exc
                raise
        yield page
        delivered += len(page.items)
        stats.delivered = delivered
        stats.pages += 1
        link = page.next_link
        if progress is not None:
            progress(delivered, stats.pages)
        if store is not None:
            store.save(CheckpointState(link, delivered, complete=link is None))
        if link is None:
            return
