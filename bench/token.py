"""Refresh-token grant throughput over real HTTP (RFC 6749 §6 with rotation), against ``/healthz`` in the same
run.

What is measured
  * refresh grants/s: a real ``mailwarden serve`` (uvicorn) process on 127.0.0.1; ``--threads`` client
    threads (default 2), each with its own keep-alive ``httpx.Client`` and its own refresh-token family (a
    real account, a real password sign-in session, tokens issued by the token service the grants use), each
    posting ``grant_type=refresh_token`` and continuing with the rotated token it gets back. Every grant
    does the full work: hash lookup with row lock, rotation, session check, conditional access, the audit
    record (Merkle append) in the same transaction, and signing an ES256 access token and RS256 id_token.
  * baseline: ``GET /healthz`` from the same number of threads against the same server — the cost of the
    HTTP stack alone — so ``refresh/healthz`` says how much of the server's request rate a grant keeps.

Bounded: ``--requests`` per thread (default 1,500; 300 with ``--quick``) and the harness's wall-clock bound.
Target: >= 300 refresh grants/s on 2 cores.
"""

from __future__ import annotations

import os
import sys

if __name__ == "token":  # pragma: no cover - imported by mistake in place of the stdlib module
    # Another script in bench/ has this directory first on sys.path, so ``import token`` (via tokenize,
    # inspect, ...) lands here: hand over the stdlib module instead.
    import importlib.util
    import sysconfig

    _path = os.path.join(sysconfig.get_path("stdlib"), "token.py")
    _spec = importlib.util.spec_from_file_location("token", _path)
    assert _spec is not None
    assert _spec.loader is not None
    _stdlib = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_stdlib)
    sys.modules["token"] = _stdlib
    globals().update({k: v for k, v in vars(_stdlib).items() if not k.startswith("__")})
elif __name__ == "__main__":
    # Named like the stdlib ``token`` module: keep this directory off the front of sys.path so the stdlib
    # one is found; the benchmark itself lives in _token_bench.py.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
    sys.path.append(_here)
    from _token_bench import main

    main()
