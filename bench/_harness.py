"""Shared benchmark harness: a throw-away data directory with a migrated database, one tenant with a
registered app (client secret; its access token is fetched over HTTP by client credentials once the server
runs) and N bulk-seeded mailboxes, a real ``mailwarden serve`` process on a free loopback port, a
hard wall-clock bound, and figure/ratio/summary printing.

Everything a script starts is stopped at exit (the server process group is terminated, the temp data dir
removed; on PostgreSQL the benchmark tenant is deleted, which cascades to its rows). Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import bindparam, delete, insert, select, text

from mailwarden.clock import SystemClock, utcnow
from mailwarden.demo import bulk_mailboxes
from mailwarden.directory import create_tenant
from mailwarden.oauth import ensure_builtin_clients, register_app
from mailwarden.rbac import add_principal_to_role_groups
from mailwarden.store import Database, ProxyAddress, Recipient, Tenant, upgrade

__all__ = [
    "BenchServer",
    "Fixture",
    "Summary",
    "add_common_args",
    "bench_main",
    "fetch_like_server",
    "iso_text",
    "median_time",
    "seed_fixture",
]

SECRET = "bench-secret-" + "0123456789abcdef" * 3
ROOT = Path(__file__).resolve().parent.parent


# --- command line ---------------------------------------------------------------------------------------


def add_common_args(parser: argparse.ArgumentParser, *, mailboxes: int, timeout: float) -> None:
    parser.add_argument(
        "--mailboxes", type=int, default=mailboxes, help=f"mailboxes to seed (default {mailboxes})"
    )
    parser.add_argument("--page-size", type=int, default=1000, help="odata.maxpagesize (default 1000)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per latency figure (default 5)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="run on this (empty or shared) database instead of a temp SQLite file, e.g. "
        "postgresql://user@127.0.0.1/bench; the benchmark tenant is deleted at exit",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, finishes in < 60 s (smoke test)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=timeout,
        help=f"hard bound on the whole run, seconds (default {timeout:g})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp data dir (printed) for inspection")


# --- wall-clock bound and cleanup -----------------------------------------------------------------------

_cleanups: list[Callable[[], None]] = []
_cleanup_lock = threading.Lock()


def _run_cleanups() -> None:
    with _cleanup_lock:
        while _cleanups:
            fn = _cleanups.pop()
            with contextlib.suppress(Exception):
                fn()


def _watchdog(seconds: float) -> threading.Timer:
    def fire() -> None:
        print(
            f"\nTIMEOUT: the benchmark exceeded its {seconds:g} s bound; stopping.",
            file=sys.stderr,
            flush=True,
        )
        _run_cleanups()
        os._exit(3)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


def bench_main(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> None:
    """Run ``run(args)`` under the wall-clock bound; clean up on any exit (including SIGTERM/Ctrl-C)."""

    def on_signal(signum: int, _frame: Any) -> None:
        _run_cleanups()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    timer = _watchdog(args.timeout)
    try:
        code = run(args)
    except KeyboardInterrupt:
        code = 130
    finally:
        timer.cancel()
        _run_cleanups()
    sys.exit(code)


# --- fixture: database, tenant, key, mailboxes ----------------------------------------------------------


@dataclass
class Fixture:
    data_dir: Path
    database_url: str
    db: Database
    tenant_id: str
    domain: str
    app_id: str
    app_secret: str
    mailboxes: int
    seed_seconds: float
    external_db: bool = False
    secondary: list[str] = field(default_factory=list)
    key: str = ""  # an app access token, set by BenchServer


def seed_fixture(
    mailboxes: int, *, database_url: str | None = None, keep: bool = False, secondary_every: int = 0
) -> Fixture:
    """Temp data dir + migrated database + tenant + app + ``mailboxes`` bulk-seeded mailboxes.

    ``secondary_every=k`` adds a secondary ``smtp:<alias>.alt@<domain>`` proxy address to every k-th
    mailbox (multi-valued EmailAddresses filters need some).
    """
    data_dir = Path(tempfile.mkdtemp(prefix="mailwarden-bench-"))
    if keep:
        print(f"data dir kept: {data_dir}")
    else:
        _cleanups.append(lambda: shutil.rmtree(data_dir, ignore_errors=True))
    url = database_url or f"sqlite:///{data_dir / 'mailwarden.db'}"
    db = Database(url)
    _cleanups.append(db.dispose)
    upgrade(db)
    domain = f"bench{uuid.uuid4().hex[:8]}.onmicrosoft.com"
    clock = SystemClock()
    t0 = time.perf_counter()
    with db.unit_of_work() as uow:
        tenant = create_tenant(uow.session, name="Bench", domain=domain, now=utcnow(clock))
        ensure_builtin_clients(uow.session, tenant.id, now=utcnow(clock))
        app_id, app_secret = register_app(
            uow.session, tenant.id, name="bench app", now=utcnow(clock), with_secret=True
        )
        assert app_secret is not None
        # The bench app reads as an administrator would (RBAC is enforced on every call).
        add_principal_to_role_groups(uow.session, tenant.id, "app", app_id, ["Organization Management"])
        tenant_id = tenant.id
        bulk_mailboxes(uow.session, tenant_id, mailboxes, now=utcnow(clock))
    if database_url is not None:

        def drop_tenant() -> None:
            with db.unit_of_work() as uow:
                uow.session.execute(delete(Tenant).where(Tenant.id == tenant_id))

        _cleanups.append(drop_tenant)
    secondary: list[str] = []
    if secondary_every:
        with db.unit_of_work() as uow:
            rows = uow.session.execute(
                select(Recipient.id, Recipient.alias)
                .where(Recipient.tenant_id == tenant_id)
                .order_by(Recipient.id)
            ).all()
            batch = []
            for i, (rid, alias) in enumerate(rows):
                if i % secondary_every:
                    continue
                address = f"{alias}.alt@{domain}"
                secondary.append(address)
                batch.append(
                    {
                        "tenant_id": tenant_id,
                        "recipient_id": rid,
                        "address": f"smtp:{address}",
                        "address_key": address,
                        "is_primary": False,
                    }
                )
            for start in range(0, len(batch), 5000):
                uow.session.execute(insert(ProxyAddress), batch[start : start + 5000])
    if db.dialect == "sqlite":
        raw = db.engine.raw_connection()  # autocommit (the engine's connect hook): no BEGIN around these
        try:
            cur = raw.cursor()
            cur.execute("ANALYZE")
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cur.close()
        finally:
            raw.close()
    elif db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE recipients")
            conn.exec_driver_sql("ANALYZE proxy_addresses")
    seconds = time.perf_counter() - t0
    return Fixture(
        data_dir=data_dir,
        database_url=url,
        db=db,
        tenant_id=tenant_id,
        domain=domain,
        app_id=app_id,
        app_secret=app_secret,
        mailboxes=mailboxes,
        seed_seconds=seconds,
        external_db=database_url is not None,
        secondary=secondary,
    )


# --- server process -------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class BenchServer:
    """``mailwarden serve`` in its own process group on 127.0.0.1; ``client()`` is a keep-alive httpx client."""

    def __init__(
        self, fixture: Fixture, *, startup_timeout: float = 60.0, preamble: str = "", workers: int = 1
    ) -> None:
        """``preamble``: Python run in the server process before the CLI (for A/B experiments with patches)."""
        self.fixture = fixture
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            MAILWARDEN_DATA_DIR=str(fixture.data_dir),
            MAILWARDEN_DATABASE_URL=fixture.database_url,
            MAILWARDEN_SECRET_KEY=SECRET,
            MAILWARDEN_RATE_LIMIT_PER_MINUTE="1000000",
            MAILWARDEN_LOG_LEVEL="warning",
        )
        self.log_path = fixture.data_dir / "server.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"{preamble}\nfrom mailwarden.cli import main; main()",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=str(fixture.data_dir),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _cleanups.append(self.stop)
        self._wait_healthy(startup_timeout)
        fixture.key = self.app_token()

    def app_token(self) -> str:
        """An access token for the fixture's app, by the client credentials grant (RFC 6749 §4.4)."""
        response = httpx.post(
            f"{self.base_url}/{self.fixture.domain}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.fixture.app_id,
                "client_secret": self.fixture.app_secret,
                "scope": "api://mailwarden/.default",
            },
            timeout=30,
        )
        if response.status_code != 200:
            raise RuntimeError(f"token request failed: {response.status_code} {response.text[:300]}")
        token: str = response.json()["access_token"]
        return token

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"server not healthy after {timeout:g} s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()

    def client(self, page_size: int) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            timeout=120.0,
            headers={
                "Authorization": f"Bearer {self.fixture.key}",
                "Prefer": f"odata.maxpagesize={page_size}",
            },
        )

    def invoke_url(self) -> str:
        return f"{self.base_url}/adminapi/beta/{self.fixture.domain}/InvokeCommand"


def invoke_body(cmdlet: str, **params: Any) -> dict[str, Any]:
    return {"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}}


def post_page(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url, content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    if response.status_code == 401:
        raise RuntimeError(
            f"{url}: HTTP 401 {response.text[:300]} — the server refused the bench app's access token "
            "(client credentials); check the token's audience, issuer and lifetime"
        )
    if response.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {response.status_code}: {response.text[:500]}")
    page: dict[str, Any] = orjson.loads(response.content)
    return page


def enumerate_all(
    client: httpx.Client, url: str, body: dict[str, Any], *, keep_links: bool = False
) -> tuple[int, float, float, list[str], dict[str, Any] | None]:
    """Follow every nextLink. Returns (objects, first-page seconds, total seconds, nextLinks, first object)."""
    t0 = time.perf_counter()
    page = post_page(client, url, body)
    first = time.perf_counter() - t0
    sample = page["value"][0] if page["value"] else None
    count = len(page["value"])
    links: list[str] = []
    while link := page.get("@odata.nextLink"):
        if keep_links:
            links.append(link)
        page = post_page(client, link, body)
        count += len(page["value"])
    return count, first, time.perf_counter() - t0, links, sample


def mailbox_addresses(fixture: Fixture, count: int) -> list[str]:
    """The primary SMTP addresses of the first ``count`` seeded recipients (call targets)."""
    with fixture.db.unit_of_work(write=False) as uow:
        return list(
            uow.session.scalars(
                select(Recipient.primary_smtp_address)
                .where(Recipient.tenant_id == fixture.tenant_id)
                .order_by(Recipient.id)
                .limit(count)
            )
        )


def calls_per_second(client: httpx.Client, url: str, bodies: list[dict[str, Any]]) -> float:
    """calls/s of ``bodies`` posted sequentially; every call must succeed."""
    t0 = time.perf_counter()
    for body in bodies:
        response = client.post(url, json=body)
        if response.status_code != 200:
            raise RuntimeError(
                f"{body['CmdletInput']['CmdletName']}: {response.status_code} {response.text[:300]}"
            )
    return len(bodies) / (time.perf_counter() - t0)


def interleaved_rates(
    sides: dict[str, tuple[httpx.Client, str]],
    names: list[str],
    bodies: Callable[[str, int, list[str]], list[dict[str, Any]]],
    *,
    reps: int,
    chunk: int = 10,
) -> dict[str, float]:
    """A/B throughput of two servers: ``reps`` passes over ``names`` in chunks of ``chunk`` calls, the sides
    alternating which goes first, so the load of a shared machine hits both alike. ``bodies(side, rep,
    chunk_names)`` makes a chunk's requests; returns each side's median chunk rate (calls/s)."""
    rates: dict[str, list[float]] = {side: [] for side in sides}
    for rep in range(reps):
        for start in range(0, len(names), chunk):
            part = names[start : start + chunk]
            order = list(sides) if (start // chunk) % 2 == 0 else list(reversed(sides))
            for side in order:
                client, url = sides[side]
                rates[side].append(calls_per_second(client, url, bodies(side, rep, part)))
    return {side: statistics.median(values) for side, values in rates.items()}


def median_time(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# --- the in-process baseline ----------------------------------------------------------------------------

_RECIPIENT_COLUMNS = (
    "id", "name", "alias", "display_name", "first_name", "last_name", "primary_smtp_address",
    "user_principal_name", "external_email_address", "recipient_type", "recipient_type_details", "guid",
    "exchange_guid", "external_directory_object_id", "department", "company", "title", "office", "city",
    "state_or_province", "country_or_region", "postal_code", "phone", "hidden_from_address_lists_enabled",
    "forwarding_smtp_address", "deliver_to_mailbox_and_forward", "litigation_hold_enabled", "audit_enabled",
    "account_disabled", "resource_capacity", "custom_attributes", "props", "when_created", "when_changed",
)  # fmt: skip

# Output property → column (index into the row); anything else is taken from props / custom attributes with
# the server's own value for the first object as the default (so the encoded objects have the same size).
_KEY_COLUMN = {
    "Identity": "name", "Id": "name", "Name": "name", "Alias": "alias", "DisplayName": "display_name",
    "FirstName": "first_name", "LastName": "last_name", "PrimarySmtpAddress": "primary_smtp_address",
    "WindowsEmailAddress": "primary_smtp_address", "UserPrincipalName": "user_principal_name",
    "MicrosoftOnlineServicesID": "user_principal_name", "RecipientType": "recipient_type",
    "RecipientTypeDetails": "recipient_type_details", "Guid": "guid", "ExchangeGuid": "exchange_guid",
    "ExternalDirectoryObjectId": "external_directory_object_id", "Department": "department",
    "Company": "company", "Title": "title", "Office": "office", "City": "city",
    "StateOrProvince": "state_or_province", "CountryOrRegion": "country_or_region",
    "PostalCode": "postal_code", "Phone": "phone",
    "HiddenFromAddressListsEnabled": "hidden_from_address_lists_enabled",
    "ForwardingSmtpAddress": "forwarding_smtp_address",
    "DeliverToMailboxAndForward": "deliver_to_mailbox_and_forward",
    "LitigationHoldEnabled": "litigation_hold_enabled", "AuditEnabled": "audit_enabled",
    "AccountDisabled": "account_disabled", "ResourceCapacity": "resource_capacity",
}  # fmt: skip
_DATE_KEYS = {"WhenCreated": "when_created", "WhenCreatedUTC": "when_created", "WhenChanged": "when_changed"}
_DATE_KEYS["WhenChangedUTC"] = "when_changed"
_COL = {name: i for i, name in enumerate(_RECIPIENT_COLUMNS)}


def iso_text(value: Any) -> str | None:
    """The server's ``iso()`` on either a datetime (PostgreSQL) or SQLite's stored text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    text = str(value)
    return text[:10] + "T" + text[11:23] + "Z"


def _json_col(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    loaded: dict[str, Any] = orjson.loads(value)
    return loaded


def fetch_like_server(
    db: Database,
    tenant_id: str,
    where_sql: str,
    params: dict[str, Any],
    sample: dict[str, Any],
    domain: str,
    *,
    page_size: int = 1000,
) -> tuple[int, int]:
    """The same rows the server returns, by hand: keyset pages of ``page_size`` over ``recipients`` (raw SQL,
    ``where_sql`` appended), one query per page for their proxy addresses, a dict per object with the keys
    of ``sample`` (the server's first object), orjson-encoded. Returns (objects, encoded bytes)."""
    keys = list(sample)
    cols = ", ".join(f"r.{c}" for c in _RECIPIENT_COLUMNS)
    sql = (
        f"SELECT {cols} FROM recipients r WHERE r.tenant_id = :tenant AND r.id > :last AND ({where_sql}) "
        f"ORDER BY r.id LIMIT {page_size}"
    )
    addr_sql = text(
        "SELECT recipient_id, address FROM proxy_addresses WHERE recipient_id IN :ids "
        "ORDER BY recipient_id, is_primary DESC, id"
    ).bindparams(bindparam("ids", expanding=True))
    dn_tail = f",OU={domain},OU=Microsoft Exchange Hosted Organizations,DC=mailwarden,DC=local"
    total = 0
    size = 0
    last = 0
    with db.engine.connect() as conn:
        while True:
            rows = conn.execute(text(sql), {"tenant": tenant_id, "last": last, **params}).all()
            if not rows:
                break
            ids = [r[0] for r in rows]
            addresses: dict[int, list[str]] = {rid: [] for rid in ids}
            for rid, address in conn.execute(addr_sql, {"ids": ids}):
                addresses[rid].append(address)
            objects = []
            for r in rows:
                props = _json_col(r[_COL["props"]])
                custom = _json_col(r[_COL["custom_attributes"]])
                obj: dict[str, Any] = {}
                for k in keys:
                    col = _KEY_COLUMN.get(k)
                    if col is not None:
                        v = r[_COL[col]]
                        obj[k] = bool(v) if isinstance(sample[k], bool) and v is not None else v
                    elif k in _DATE_KEYS:
                        obj[k] = iso_text(r[_COL[_DATE_KEYS[k]]])
                    elif k == "EmailAddresses":
                        obj[k] = addresses[r[0]]
                    elif k == "DistinguishedName":
                        obj[k] = f"CN={r[_COL['name']]}{dn_tail}"
                    elif k.startswith("CustomAttribute"):
                        obj[k] = custom.get(k)
                    else:
                        obj[k] = props.get(k, sample[k])
                objects.append(obj)
            size += len(orjson.dumps({"value": objects}))
            total += len(rows)
            last = ids[-1]
            if len(rows) < page_size:
                break
    return total, size


# --- output ---------------------------------------------------------------------------------------------


@dataclass
class Summary:
    rows: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def check(
        self, name: str, value: float, target: float, *, higher_is_better: bool, fmt: str = "{:,.2f}"
    ) -> None:
        ok = value >= target if higher_is_better else value <= target
        rel = ">=" if higher_is_better else "<="
        self.rows.append((name, fmt.format(value), f"{rel} {fmt.format(target)}", ok))

    def print(self) -> bool:
        print("\n=== summary ===")
        width = max((len(r[0]) for r in self.rows), default=10)
        for name, value, target, ok in self.rows:
            print(f"{name:<{width}}  {value:>14}  target {target:<14}  {'PASS' if ok else 'MISS'}")
        all_ok = all(r[3] for r in self.rows)
        print(f"overall: {'PASS' if all_ok else 'MISS'}")
        return all_ok


def figure(label: str, value: str) -> None:
    print(f"{label:<44} {value}", flush=True)


def describe_run(args: argparse.Namespace, fixture: Fixture) -> None:
    backend = fixture.db.dialect
    print(f"mailwarden bench: backend={backend} mailboxes={fixture.mailboxes:,} page_size={args.page_size}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, seeded in {fixture.seed_seconds:.1f} s")
