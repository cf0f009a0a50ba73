"""Keeps the benchmark scripts from rotting: each runs with ``--quick`` in a subprocess (its own server on
127.0.0.1, its own temp data dir) and must exit 0 and print its figure lines and summary. Targets are not
asserted here — a benchmark's PASS/MISS is a finding, not a test failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"

EXPECTED = {
    "enumerate.py": [
        "server objects/s (best)",
        "baseline objects/s (best)",
        "ratio server/baseline",
        "page 1 latency ms",
        "page 100 latency ms",
        "ratio page 100/page 1",
        "=== summary ===",
        "objects/s (HTTP)",
        "overall: ",
    ],
    "filter.py": [
        "Get-User Department -eq 'Sales'",
        "Get-Mailbox Alias -like 'sal*'",
        "Get-Mailbox EmailAddresses -eq <secondary>",
        "Get-Mailbox EmailAddresses -like 'smtp:ale*'",
        "first page latency ms (median)",
        "full enumeration latency ms (median)",
        "server rows/s",
        "ratio server/baseline speed",
        "=== summary ===",
        "overall: ",
    ],
}


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_bench_script_quick(script: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for line in EXPECTED[script]:
        assert line in result.stdout, f"{script} --quick did not print {line!r}:\n{output}"
    assert "ERROR" not in result.stdout, output


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_bench_script_help(script: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout
    assert "--mailboxes" in result.stdout
