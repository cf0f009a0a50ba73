"""The resume contract alone (``mailwarden.client._resume``), fed by scripted page fetches: 401 refreshes
and retries the same page, 429 waits Retry-After, 5xx/resets back off with jitter and a cap, the same
nextLink is retried (never page 1 again), checkpoints are saved per page, and an enumeration that cannot
go on raises IncompleteResultError with the count and checkpoint."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mailwarden.client import (
    AuthenticationFailed,
    CheckpointFile,
    CheckpointMismatchError,
    CheckpointState,
    IncompleteResultError,
    InteractionRequired,
    NotFound,
    ResumeStats,
    RetryPolicy,
    ServerError,
    Throttled,
    TransientError,
)
from mailwarden.client._checkpoint import call_digest
from mailwarden.client._resume import Page, backoff, enumerate_pages

LINKS = [None, "L1", "L2", "L3"]


class Script:
    """Pages of 10 numbered objects behind links None → L1 → L2 → L3 (last); faults per (link, attempt)."""

    def __init__(self, faults: dict[tuple[str | None, int], BaseException] | None = None) -> None:
        self.faults = faults or {}
        self.calls: list[tuple[str | None, str]] = []

    def __call__(self, link: str | None, token: str) -> Page:
        attempt = sum(1 for c in self.calls if c[0] == link)
        self.calls.append((link, token))
        fault = self.faults.get((link, attempt))
        if fault is not None:
            raise fault
        if token == "expired":
            raise AuthenticationFailed("expired", code="Unauthorized")
        i = LINKS.index(link)
        nxt = LINKS[i + 1] if i + 1 < len(LINKS) else None
        return Page([{"n": i * 10 + k} for k in range(10)], nxt)


class Tokens:
    def __init__(self, first: str = "t0", fail_refresh: BaseException | None = None) -> None:
        self.issued = [first]
        self.forced = 0
        self.fail_refresh = fail_refresh

    def get_token(self, force_refresh: bool = False) -> str:
        if force_refresh:
            self.forced += 1
            if self.fail_refresh is not None:
                raise self.fail_refresh
            self.issued.append(f"t{len(self.issued)}")
        return self.issued[-1]


class Store:
    location = "memory"

    def __init__(self) -> None:
        self.saved: list[CheckpointState] = []

    def save(self, state: CheckpointState) -> None:
        self.saved.append(state)


def run(script: Script, tokens: Tokens, **kw: object) -> tuple[list[int], list[float]]:
    sleeps: list[float] = []
    items = [
        o["n"]
        for p in enumerate_pages(script, tokens, sleep=sleeps.append, rng=random.Random(1), **kw)  # type: ignore[arg-type]
        for o in p.items
    ]
    return items, sleeps


def test_clean_run_saves_a_checkpoint_per_page() -> None:
    store = Store()
    items, sleeps = run(Script(), Tokens(), store=store)
    assert items == list(range(40))
    assert sleeps == []
    assert [(s.next_link, s.delivered, s.complete) for s in store.saved] == [
        ("L1", 10, False), ("L2", 20, False), ("L3", 30, False), (None, 40, True),
    ]  # fmt: skip


def test_401_refreshes_silently_and_retries_the_same_page() -> None:
    script = Script({("L2", 0): AuthenticationFailed("expired", code="Unauthorized")})
    tokens = Tokens()
    stats = ResumeStats()
    items, _ = run(script, tokens, stats=stats)
    assert items == list(range(40))
    assert tokens.forced == 1
    assert [c for c in script.calls if c[0] == "L2"] == [("L2", "t0"), ("L2", "t1")]
    assert [c[0] for c in script.calls].count(None) == 1  # never restarted
    assert stats.refreshes == 1


def test_401_after_refresh_gives_up_with_incomplete() -> None:
    tokens = Tokens(fail_refresh=InteractionRequired("refresh token revoked"))
    script = Script({("L1", 0): AuthenticationFailed("expired")})
    with pytest.raises(IncompleteResultError) as info:
        run(script, tokens, store=Store())
    assert info.value.delivered == 10
    assert info.value.checkpoint == "memory"
    assert isinstance(info.value.cause, InteractionRequired)


def test_429_waits_retry_after() -> None:
    script = Script(
        {("L1", 0): Throttled("slow down", retry_after=7), ("L1", 1): Throttled("again", retry_after=3)}
    )
    items, sleeps = run(script, Tokens())
    assert items == list(range(40))
    assert sleeps == [7, 3]


def test_5xx_and_resets_back_off_with_jitter_and_cap() -> None:
    faults: dict[tuple[str | None, int], BaseException] = {
        ("L2", i): (ServerError("boom", status=503) if i % 2 else TransientError("reset")) for i in range(6)
    }
    policy = RetryPolicy(base=1, cap=4, max_wait_per_page=1000)
    items, sleeps = run(Script(faults), Tokens(), policy=policy)
    assert items == list(range(40))
    assert len(sleeps) == 6
    for attempt, wait in enumerate(sleeps, start=1):
        ceiling = min(4, 2**attempt)
        assert ceiling / 2 <= wait <= ceiling
    assert max(sleeps) <= 4


def test_gives_up_when_the_total_wait_is_exceeded() -> None:
    faults: dict[tuple[str | None, int], BaseException] = {
        ("L3", i): TransientError("down") for i in range(100)
    }
    store = Store()
    with pytest.raises(IncompleteResultError) as info:
        run(Script(faults), Tokens(), store=store, policy=RetryPolicy(base=1, cap=2, max_wait_per_page=10))
    assert info.value.delivered == 30
    assert store.saved[-1] == CheckpointState("L3", 30, False)
    assert isinstance(info.value.cause, TransientError)


def test_non_retryable_error_on_first_page_is_raised_as_is() -> None:
    with pytest.raises(NotFound):
        run(
            Script({(None, 0): NotFound("no such mailbox", code="ManagementObjectNotFoundException")}),
            Tokens(),
        )


def test_non_retryable_error_midway_is_incomplete() -> None:
    with pytest.raises(IncompleteResultError) as info:
        run(Script({("L1", 0): NotFound("gone")}), Tokens())
    assert info.value.delivered == 10


def test_resume_from_checkpoint_starts_at_its_link() -> None:
    script = Script()
    items, _ = run(script, Tokens(), start=CheckpointState("L2", 20))
    assert items == list(range(20, 40))
    assert script.calls[0][0] == "L2"
    assert run(Script(), Tokens(), start=CheckpointState(None, 40, complete=True))[0] == []


def test_checkpoint_saved_only_after_the_page_was_consumed() -> None:
    store = Store()
    pages = enumerate_pages(Script(), Tokens(), store=store)
    next(pages)
    assert store.saved == []  # page 1 handed out, not yet consumed
    next(pages)
    assert store.saved == [CheckpointState("L1", 10, False)]
    pages.close()
    assert len(store.saved) == 1


def test_backoff_bounds() -> None:
    rng = random.Random(3)
    policy = RetryPolicy(base=0.5, cap=30)
    for attempt in range(1, 20):
        value = backoff(policy, attempt, rng)
        assert min(30, 0.5 * 2**attempt) / 2 <= value <= min(30, 0.5 * 2**attempt)


def test_checkpoint_file_atomic_private_and_bound_to_the_call(tmp_path: Path) -> None:
    digest = call_digest(
        "contoso", "https://h/adminapi/beta/contoso", "Get-Mailbox", {"ResultSize": "Unlimited"}
    )
    path = tmp_path / "job.ckpt"
    store = CheckpointFile(path, digest=digest, cmdlet="Get-Mailbox")
    assert store.load() is None
    store.save(CheckpointState("https://h/next?$skiptoken=abc", 1000))
    assert path.stat().st_mode & 0o777 == 0o600
    assert store.load() == CheckpointState("https://h/next?$skiptoken=abc", 1000, False)
    assert [p.name for p in tmp_path.iterdir()] == ["job.ckpt"]  # no temp file left behind
    other = call_digest("contoso", "https://h/adminapi/beta/contoso", "Get-Mailbox", {"ResultSize": 10})
    with pytest.raises(CheckpointMismatchError):
        CheckpointFile(path, digest=other, cmdlet="Get-Mailbox").load()
