"""Fault injection through a real TCP proxy (TLS in, TLS out) in front of a real ``mailwarden serve --tls``:
50,000 mailboxes enumerated while the proxy answers 429s, 503s and 401s, resets connections and drops them
mid-response, access tokens live 5 s, and the server process is restarted mid-run → exactly the 50,000
objects, no duplicate. A killed client resumes from its checkpoint; with the server gone for good the
enumeration raises IncompleteResultError with the right count and checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from client_support import FaultPlan, FaultProxy, Prepared, Server, prepare, read_json_lines

import mailwarden
from mailwarden.client import CertificateAuth, IncompleteResultError, RetryPolicy

COUNT = 50_000
HERE = Path(__file__).resolve().parent
pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prepared, Server]]:
    prepared = prepare(tmp_path_factory.mktemp("big") / "data", mailboxes=COUNT)
    server = Server(prepared, MAILWARDEN_ACCESS_TOKEN_SECONDS="5")
    server.start()
    try:
        yield prepared, server
    finally:
        server.stop()


def auth_for(p: Prepared) -> CertificateAuth:
    return CertificateAuth(p.app_client_id, private_key_pem=p.key_pem, certificate_pem=p.cert_pem)


def test_50k_through_faults_expiring_tokens_and_a_restart(big: tuple[Prepared, Server]) -> None:
    prepared, server = big
    kinds = ["429", "503", "drop", "reset", "401"]
    plan = FaultPlan({n: kinds[i % len(kinds)] for i, n in enumerate(range(2, 150, 3))})
    restart_done = threading.Event()

    def restart() -> None:
        server.restart()
        restart_done.set()

    def progress(delivered: int, pages: int) -> None:
        if delivered == 20_000:
            threading.Thread(target=restart, daemon=True).start()
            time.sleep(0.5)  # the next page request meets a server that is going away

    started = time.monotonic()
    with FaultProxy(server.port, prepared.ca, prepared.data_dir, plan) as proxy, mailwarden.connect(
        prepared.domain, url=proxy.url, auth=auth_for(prepared), verify=str(prepared.ca),
        retry=RetryPolicy(base=0.2, cap=2, max_wait_per_page=120),
    ) as conn:  # fmt: skip
        result = conn.invoke("Get-Mailbox", ResultSize="Unlimited", progress=progress)
        guids = [m["Guid"] for m in result]
    elapsed = time.monotonic() - started
    assert restart_done.wait(60)
    assert len(guids) == COUNT
    assert len(set(guids)) == COUNT  # no duplicate
    stats = result.stats
    injected = sum(plan.counts.values())
    assert injected >= 10, plan.counts
    assert set(plan.counts) == set(kinds), plan.counts
    assert stats.refreshes >= plan.counts["401"]
    assert server.restarts == 1
    print(
        f"\nfault-injection: {COUNT} objects, 0 duplicates, {injected} injected faults {plan.counts}, "
        f"1 server restart, {stats.retries} retries, {stats.refreshes} token refreshes, "
        f"{stats.waited:.1f} s waited, {elapsed:.1f} s total"
    )


def test_killed_client_resumes_from_its_checkpoint(big: tuple[Prepared, Server], tmp_path: Path) -> None:
    prepared, server = big
    pem = tmp_path / "app.pem"
    pem.write_bytes(prepared.cert_pem + prepared.key_pem)
    out, checkpoint = tmp_path / "out.jsonl", tmp_path / "job.ckpt"
    args = [sys.executable, str(HERE / "resume_job.py"), server.url, prepared.domain, prepared.app_client_id,
            str(pem), str(prepared.ca), str(out), str(checkpoint)]  # fmt: skip
    job = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if checkpoint.exists() and json.loads(checkpoint.read_text())["delivered"] >= 10_000:
            break
        time.sleep(0.05)
    os.kill(job.pid, signal.SIGKILL)
    job.communicate(timeout=30)
    killed_at = json.loads(checkpoint.read_text())
    assert 10_000 <= killed_at["delivered"] < COUNT
    assert not killed_at["complete"]
    assert checkpoint.stat().st_mode & 0o777 == 0o600
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    guids = [row["Guid"] for row in read_json_lines(out)]
    assert len(guids) == COUNT
    assert len(set(guids)) == COUNT
    assert json.loads(checkpoint.read_text()) | {} == {
        **killed_at,
        "next_link": None,
        "delivered": COUNT,
        "complete": True,
    }
    print(f"\nkilled at {killed_at['delivered']} objects; the rerun completed {COUNT}, no duplicate")


def test_server_gone_for_good_is_incomplete_with_checkpoint(
    big: tuple[Prepared, Server], tmp_path: Path
) -> None:
    prepared, server = big
    checkpoint = tmp_path / "gone.ckpt"

    def progress(delivered: int, pages: int) -> None:
        if delivered == 3000:
            server.stop()

    try:
        with mailwarden.connect(
            prepared.domain, url=server.url, auth=auth_for(prepared), verify=str(prepared.ca),
            retry=RetryPolicy(base=0.2, cap=1, max_wait_per_page=4),
        ) as conn:  # fmt: skip
            seen = 0
            result = conn.invoke(
                "Get-Mailbox", ResultSize="Unlimited", checkpoint=checkpoint, progress=progress
            )
            with pytest.raises(IncompleteResultError) as info:  # noqa: PT012 - iterating is what raises
                for _ in result:
                    seen += 1
    finally:
        server.start()
    assert info.value.delivered == seen == 3000
    assert info.value.checkpoint == str(checkpoint)
    saved = json.loads(checkpoint.read_text())
    assert saved["delivered"] == 3000
    assert saved["next_link"]
    assert not saved["complete"]
