"""Latency and throughput of server-side ``-Filter`` (OPATH compiled to SQL) at 100,000 mailboxes.

What is measured, over real HTTP (``mailwarden serve`` on 127.0.0.1, keep-alive ``httpx.Client``), each with
``-ResultSize Unlimited`` and every ``@odata.nextLink`` followed:

  * ``Get-User    -Filter "Department -eq 'Sales'"``          (an indexed ``lower(department)`` column)
  * ``Get-Mailbox -Filter "Alias -like 'sal*'"``              (an anchored LIKE on an indexed expression;
    no seeded alias starts with ``sal``, so also ``'ale*'``, which matches about 1 in 32)
  * ``Get-Mailbox -Filter "EmailAddresses -eq 'smtp:<addr>'"`` (multi-valued: a real secondary address)
  * ``Get-Mailbox -Filter "EmailAddresses -like 'smtp:ale*'"`` (multi-valued, prefix pattern)

For each: the median first-page latency and the median full-enumeration latency of ``--reps`` runs, and
rows/s of the full enumeration.

Baseline (same run, same database file): the same rows fetched in this process by a hand-written SQL query
— the obvious index-friendly form (``lower(department) = 'sales'``; ``id IN (SELECT recipient_id FROM
proxy_addresses WHERE tenant_id = … AND address_key = …)`` for an exact address) — in keyset pages of the
same size, plus the per-page proxy-address query and orjson encoding of dicts with the server's keys. The
row counts must match the server's. ``server speed / baseline speed`` (= baseline time / server time) says
how close the compiled filter and the HTTP path come to what a person writing the SQL by hand would get.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mailwarden.directory import MAILBOX_TYPES, USER_TYPES

from _harness import (
    BenchServer,
    Fixture,
    Summary,
    add_common_args,
    bench_main,
    describe_run,
    enumerate_all,
    fetch_like_server,
    figure,
    invoke_body,
    post_page,
    seed_fixture,
)

TARGET_BASELINE_RATIO = 0.2


@dataclass(frozen=True)
class Case:
    label: str
    cmdlet: str
    filter: str
    where_sql: str
    params: dict[str, Any]


def _in(types: frozenset[str]) -> str:
    return "r.recipient_type_details IN (" + ", ".join(f"'{t}'" for t in sorted(types)) + ")"


def cases(fixture: Fixture) -> list[Case]:
    address = fixture.secondary[len(fixture.secondary) // 2]
    proxy_in = "r.id IN (SELECT p.recipient_id FROM proxy_addresses p WHERE p.tenant_id = :tenant AND {})"
    return [
        Case(
            "Get-User Department -eq 'Sales'",
            "Get-User",
            "Department -eq 'Sales'",
            f"{_in(USER_TYPES)} AND lower(r.department) = :v",
            {"v": "sales"},
        ),
        Case(
            "Get-Mailbox Alias -like 'sal*'",
            "Get-Mailbox",
            "Alias -like 'sal*'",
            f"{_in(MAILBOX_TYPES)} AND lower(r.alias) LIKE :v",
            {"v": "sal%"},
        ),
        Case(  # 'sal*' matches no seeded alias (a scan that finds nothing); 'ale*' finds ~1/32 of them
            "Get-Mailbox Alias -like 'ale*'",
            "Get-Mailbox",
            "Alias -like 'ale*'",
            f"{_in(MAILBOX_TYPES)} AND lower(r.alias) LIKE :v",
            {"v": "ale%"},
        ),
        Case(
            "Get-Mailbox EmailAddresses -eq <secondary>",
            "Get-Mailbox",
            f"EmailAddresses -eq 'smtp:{address}'",
            f"{_in(MAILBOX_TYPES)} AND " + proxy_in.format("p.address_key = :v"),
            {"v": address.lower()},
        ),
        Case(
            "Get-Mailbox EmailAddresses -like 'smtp:ale*'",
            "Get-Mailbox",
            "EmailAddresses -like 'smtp:ale*'",
            f"{_in(MAILBOX_TYPES)} AND " + proxy_in.format("lower(p.address) LIKE :v"),
            {"v": "smtp:ale%"},
        ),
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(parser, mailboxes=100_000, timeout=1200)
    parser.add_argument(
        "--secondary-every",
        type=int,
        default=10,
        help="give every k-th mailbox a secondary address (default 10)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.mailboxes = min(args.mailboxes, 5_000)
        args.reps = min(args.reps, 3)
        args.timeout = min(args.timeout, 55)
    return args


def run(args: argparse.Namespace) -> int:
    fixture = seed_fixture(
        args.mailboxes, database_url=args.database_url, keep=args.keep, secondary_every=args.secondary_every
    )
    describe_run(args, fixture)
    print(f"secondary addresses: {len(fixture.secondary):,}")
    server = BenchServer(fixture)
    url = server.invoke_url()
    summary = Summary()
    failed = False
    with server.client(args.page_size) as client:
        post_page(client, url, invoke_body("Get-Mailbox", ResultSize=1))  # warm-up
        for case in cases(fixture):
            body = invoke_body(case.cmdlet, Filter=case.filter, ResultSize="Unlimited")
            firsts: list[float] = []
            fulls: list[float] = []
            bases: list[float] = []
            rows = base_rows = 0
            sample: dict[str, Any] | None = None
            for _ in range(args.reps):  # interleaved: server first page, server full, baseline
                t0 = time.perf_counter()
                post_page(client, url, body)
                firsts.append(time.perf_counter() - t0)
                rows, _first, seconds, _links, got = enumerate_all(client, url, body)
                sample = sample or got
                fulls.append(seconds)
                t0 = time.perf_counter()
                base_rows, _bytes = fetch_like_server(
                    fixture.db,
                    fixture.tenant_id,
                    case.where_sql,
                    case.params,
                    sample or {},
                    fixture.domain,
                    page_size=args.page_size,
                )
                bases.append(time.perf_counter() - t0)
            first = statistics.median(firsts)
            full = statistics.median(fulls)
            base = statistics.median(bases)
            ratio = base / full
            print(f'\n--- {case.label}   [-Filter "{case.filter}"] ---')
            figure("rows (server / baseline)", f"{rows:,} / {base_rows:,}")
            figure("first page latency ms (median)", f"{first * 1000:.1f}")
            figure("full enumeration latency ms (median)", f"{full * 1000:.1f}")
            figure("baseline latency ms (median)", f"{base * 1000:.1f}")
            figure("server rows/s", f"{rows / full:,.0f}")
            figure("baseline rows/s", f"{base_rows / base:,.0f}")
            figure("ratio server/baseline speed", f"{ratio:.3f}")
            if rows != base_rows:
                print(f"ERROR: row counts differ: server {rows}, baseline {base_rows}")
                failed = True
            summary.check(
                f"{case.label} vs baseline", ratio, TARGET_BASELINE_RATIO, higher_is_better=True, fmt="{:.3f}"
            )
    summary.print()
    return 1 if failed else 0


if __name__ == "__main__":
    bench_main(run, parse_args())
