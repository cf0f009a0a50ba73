"""Real server processes for tests that need them: ``python -m mailwarden serve`` on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def mailwarden_server(
    data_dir: Path,
    *,
    database_url: str | None = None,
    secret: str,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start the server, wait until /healthz answers, yield (base URL, process), stop it afterwards."""
    port = port or free_port()
    env = {
        **os.environ,
        "MAILWARDEN_DATA_DIR": str(data_dir),
        "MAILWARDEN_SECRET_KEY": secret,
        "MAILWARDEN_LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    if database_url:
        env["MAILWARDEN_DATABASE_URL"] = database_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailwarden", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"server exited with {proc.returncode}: {err[-2000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become healthy in 60 s")
            time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()
