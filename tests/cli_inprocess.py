"""Runs the ``mailwarden`` CLI in the test process (typer's CliRunner) with the same arguments, environment
and stdin a subprocess would get, and answers like ``subprocess.run``. The commands, the database and the
output are the real ones; only the interpreter start-up and the package imports (most of a subprocess's
second) are saved. Tests that need a real process (servers, signals, ``python -m``) keep subprocesses."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence

from typer.testing import CliRunner

from mailwarden.cli._app import app

__all__ = ["run_cli"]


def run_cli(
    args: Sequence[str], *, env: Mapping[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = CliRunner().invoke(app, list(args), input=stdin, env=dict(env), catch_exceptions=False)
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)
