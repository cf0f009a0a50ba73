"""Refresh-token grant throughput over real HTTP (RFC 6749 §6 with rotation), against ``/healthz`` in the same
run.

What is measured
  * refresh grants/s: a real ``mailwarden serve`` process on 127.0.0.1 (``--workers`` uvicorn worker
    processes, default 2: one per core of the 2-core target), on its default embedded SQLite database;
    ``--threads`` client threads (default 2), each with its own keep-alive HTTP/1.1 connection and its own
    refresh-token family (a real account, a real password sign-in session, tokens issued by the token
    service the grants use), each posting ``grant_type=refresh_token`` and continuing with the rotated
    token it gets back. Every grant does the full work: client and refresh-token lookup, rotation, session
    and account checks, conditional access, the audit record (Merkle append) in the same transaction, and
    an ES256 access token and RS256 id_token signed after the commit.
  * baseline: ``GET /healthz`` from the same number of threads against the same server — the cost of the
    HTTP stack alone — so ``refresh/healthz`` says how much of the server's request rate a grant keeps.

The client shares the two cores with the server, so it is the stdlib's ``http.client`` (about 0.3 ms of
CPU per request here; httpx cost 1.6 ms, a third of a grant).

Bounded: ``--requests`` per thread (default 1,500; 300 with ``--quick``) and the harness's wall-clock bound.
Target: >= 300 refresh grants/s on 2 cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from mailwarden.clock import SystemClock
from mailwarden.identity import IdentityService
from mailwarden.oauth import (
    Lifetimes,
    SignIn,
    SigningKeys,
    SqlStore,
    TokenService,
    ensure_builtin_clients,
    issuer_for,
    parse_scopes,
)
from mailwarden.oauth._tokens import TokenMinter
from mailwarden.store import SecretBox

from _harness import (
    SECRET,
    BenchServer,
    Fixture,
    Summary,
    add_common_args,
    bench_main,
    describe_run,
    figure,
    seed_fixture,
)

TARGET_GRANTS_PER_S = 300.0
PASSWORD = "bench password that is long enough 77"
SCOPE = "api://mailwarden/Exchange.Manage offline_access openid profile"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(parser, mailboxes=10, timeout=300)
    parser.add_argument("--threads", type=int, default=2, help="client threads (default 2)")
    parser.add_argument(
        "--requests", type=int, default=1500, help="requests per thread and side (default 1500)"
    )
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (default 2)")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests = min(args.requests, 300)
        args.timeout = min(args.timeout, 55)
    return args


def refresh_tokens(fixture: Fixture, server: BenchServer, count: int) -> tuple[str, list[str]]:
    """``count`` refresh-token families of one real account; returns (client id, tokens)."""
    db = fixture.db
    clock = SystemClock()
    identity = IdentityService(db, secret_key=SECRET.encode(), clock=clock)
    upn = f"bench.admin@{fixture.domain}"
    user = identity.create_user(fixture.tenant_id, upn, PASSWORD)
    service = TokenService(
        TokenMinter(SigningKeys(db, SecretBox(SECRET.encode()), clock)), lambda: identity, Lifetimes(), clock
    )
    service.minter.keys.signing_key()  # create the first signing key outside the grant transactions
    tokens: list[str] = []
    client_id = ""
    for _ in range(count):
        ticket = identity.sign_in_password(fixture.tenant_id, upn, PASSWORD, ip="127.0.0.1")
        sign_in = SignIn(ticket.user_id, user.upn, user.display_name, ("pwd",), "1", 0, ticket.session_id, ())
        with db.unit_of_work() as uow:
            store = SqlStore(uow.session)
            client_id = ensure_builtin_clients(uow.session, fixture.tenant_id)
            client = store.client(fixture.tenant_id, client_id)
            assert client is not None
            body, _ = service.prepare_for_user(  # the refresh token only: nothing to sign
                store,
                issuer=issuer_for(server.base_url, fixture.tenant_id),
                client=client,
                sign_in=sign_in,
                scopes=parse_scopes(SCOPE),
                ip="127.0.0.1",
            )
        tokens.append(body["refresh_token"])
    return client_id, tokens


class Connection:
    """One keep-alive HTTP/1.1 connection (stdlib ``http.client``; see the module doc for why)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self._conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)

    def get(self, path: str) -> tuple[int, bytes]:
        self._conn.request("GET", path)
        response = self._conn.getresponse()
        return response.status, response.read()

    def post_form(self, path: str, fields: dict[str, str]) -> tuple[int, bytes]:
        self._conn.request(
            "POST", path, urlencode(fields), {"Content-Type": "application/x-www-form-urlencoded"}
        )
        response = self._conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self._conn.close()


def drive(threads: int, work: Callable[[int, Connection], None], base_url: str) -> float:
    """Run ``work(i, connection)`` on ``threads`` threads after a common start; returns the wall seconds."""
    connections = [Connection(base_url) for _ in range(threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads + 1)

    def body(i: int) -> None:
        start.wait()
        try:
            work(i, connections[i])
        except BaseException as exc:  # reported below
            errors.append(exc)

    pool = [threading.Thread(target=body, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    seconds = time.perf_counter() - t0
    for c in connections:
        c.close()
    if errors:
        raise RuntimeError(f"ERROR in a client thread: {errors[0]!r}")
    return seconds


def run(args: argparse.Namespace) -> int:
    fixture = seed_fixture(args.mailboxes, database_url=args.database_url, keep=args.keep)
    describe_run(args, fixture)
    server = BenchServer(fixture, workers=args.workers)
    client_id, tokens = refresh_tokens(fixture, server, args.threads)
    path = f"/{fixture.domain}/oauth2/v2.0/token"
    n = args.requests

    def refresh(i: int, connection: Connection) -> None:
        token = tokens[i]
        for _ in range(n):
            status, body = connection.post_form(
                path,
                {
                    "grant_type": "refresh_token",
                    "client_id": client_id,
                    "refresh_token": token,
                    "scope": SCOPE,
                    "client_info": "1",
                },
            )
            if status != 200:
                raise RuntimeError(f"refresh failed: {status} {body[:300]!r}")
            token = json.loads(body)["refresh_token"]

    def health(i: int, connection: Connection) -> None:
        for _ in range(n):
            if connection.get("/healthz")[0] != 200:
                raise RuntimeError("healthz failed")

    drive(args.threads, health, server.base_url)  # warm-up of the HTTP stack
    health_s = drive(args.threads, health, server.base_url)
    refresh_s = drive(args.threads, refresh, server.base_url)
    total = n * args.threads
    refresh_rate = total / refresh_s
    health_rate = total / health_s
    figure(f"refresh grants/s ({args.threads} threads, {args.workers} workers)", f"{refresh_rate:,.0f}")
    figure(f"healthz requests/s ({args.threads} threads, {args.workers} workers)", f"{health_rate:,.0f}")
    figure("ratio refresh/healthz", f"{refresh_rate / health_rate:.3f}")
    summary = Summary()
    summary.check("refresh grants/s", refresh_rate, TARGET_GRANTS_PER_S, higher_is_better=True, fmt="{:,.0f}")
    summary.print()
    return 0  # a MISS is a finding, not a crash


def main() -> None:
    bench_main(run, parse_args())
