"""Enumeration throughput and deep-page latency of ``Get-Mailbox -ResultSize Unlimited`` over real HTTP.

What is measured
  * objects/s of a full enumeration: a real ``mailwarden serve`` (uvicorn) process on 127.0.0.1, an
    ``httpx.Client`` with keep-alive posting InvokeCommand with ``Prefer: odata.maxpagesize=<page size>``
    and following every ``@odata.nextLink`` (a POST of the same body), parsing each page;
  * page 1 vs page 100 latency: the median of ``--reps`` requests for the first page and for the 100th page
    (its cursor is the 99th nextLink kept from one enumeration, re-posted each time). Keyset paging must make
    a deep page cost what the first page costs.

Baseline (measured in the same run, same database file, same machine state)
  the same rows fetched by hand in this process: raw SQL keyset pages of the same size over ``recipients``,
  one query per page for their proxy addresses (what the serializer needs), a dict per object with exactly
  the keys of the server's objects (values from the columns / JSON props), orjson-encoded. That is the
  unavoidable work — read, shape, encode — without ORM, cmdlet machinery, auth, HTTP or client parsing, so
  ``server / baseline`` says how much of the machine's speed the server keeps. The baseline runs while the
  server sits idle; both are taken best-of ``--enum-reps``, interleaved, to damp noise on a shared box.

Targets: >= 20,000 objects/s, >= 0.2 of baseline, page-100/page-1 latency <= 1.5.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mailwarden.directory import MAILBOX_TYPES

from _harness import (
    BenchServer,
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

TARGET_OBJECTS_PER_S = 20_000.0
TARGET_BASELINE_RATIO = 0.2
TARGET_DEEP_PAGE_RATIO = 1.5
DEEP_PAGE = 100


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(parser, mailboxes=100_000, timeout=1200)
    parser.add_argument("--enum-reps", type=int, default=2, help="full enumerations per side (default 2)")
    args = parser.parse_args(argv)
    if args.quick:
        # Small, but still DEEP_PAGE pages deep so the deep-page figure is real.
        args.mailboxes = min(args.mailboxes, 6_000)
        args.page_size = min(args.page_size, 50)
        args.reps = min(args.reps, 3)
        args.enum_reps = 1
        args.timeout = min(args.timeout, 55)
    return args


def run(args: argparse.Namespace) -> int:
    fixture = seed_fixture(args.mailboxes, database_url=args.database_url, keep=args.keep)
    describe_run(args, fixture)
    server = BenchServer(fixture)
    url = server.invoke_url()
    body = invoke_body("Get-Mailbox", ResultSize="Unlimited")
    types = sorted(MAILBOX_TYPES)
    where = "r.recipient_type_details IN (" + ", ".join(f"'{t}'" for t in types) + ")"

    with server.client(args.page_size) as client:
        post_page(client, url, body)  # warm-up: imports, caches, first connection
        http_times: list[float] = []
        base_times: list[float] = []
        links: list[str] = []
        count = base_count = base_bytes = 0
        for rep in range(args.enum_reps):
            count, _first, seconds, got_links, sample = enumerate_all(client, url, body, keep_links=rep == 0)
            if rep == 0:
                links = got_links
            http_times.append(seconds)
            assert sample is not None, "no mailboxes returned"
            t0 = time.perf_counter()
            base_count, base_bytes = fetch_like_server(
                fixture.db, fixture.tenant_id, where, {}, sample, fixture.domain, page_size=args.page_size
            )
            base_times.append(time.perf_counter() - t0)
        if count != args.mailboxes or base_count != count:
            print(f"ERROR: server returned {count}, baseline {base_count}, seeded {args.mailboxes}")
            return 1
        http_rate = count / min(http_times)
        base_rate = base_count / min(base_times)
        ratio = http_rate / base_rate

        print("\n--- full enumeration: Get-Mailbox -ResultSize Unlimited ---")
        figure("objects", f"{count:,} in {len(links) + 1} pages")
        figure("server (HTTP) seconds, each run", ", ".join(f"{t:.2f}" for t in http_times))
        figure("baseline (raw SQL + orjson) seconds", ", ".join(f"{t:.2f}" for t in base_times))
        figure("server objects/s (best)", f"{http_rate:,.0f}")
        figure("baseline objects/s (best)", f"{base_rate:,.0f}")
        figure("baseline bytes/object", f"{base_bytes / base_count:,.0f}")
        figure("ratio server/baseline", f"{ratio:.3f}")

        if len(links) < DEEP_PAGE - 1:
            print(f"ERROR: only {len(links) + 1} pages; need {DEEP_PAGE} (lower --page-size)")
            return 1
        deep_link = links[DEEP_PAGE - 2]  # the 99th nextLink leads to page 100
        first_times: list[float] = []
        deep_times: list[float] = []
        for _ in range(args.reps):  # interleaved so drift hits both equally
            t0 = time.perf_counter()
            first = post_page(client, url, body)
            first_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            deep = post_page(client, deep_link, body)
            deep_times.append(time.perf_counter() - t0)
            assert len(first["value"]) == len(deep["value"]) == args.page_size
        p1 = statistics.median(first_times)
        p100 = statistics.median(deep_times)
        print(f"\n--- page 1 vs page {DEEP_PAGE} (median of {args.reps}) ---")
        figure("page 1 latency ms", f"{p1 * 1000:.1f}")
        figure(f"page {DEEP_PAGE} latency ms", f"{p100 * 1000:.1f}")
        figure(f"ratio page {DEEP_PAGE}/page 1", f"{p100 / p1:.3f}")

    summary = Summary()
    summary.check("objects/s (HTTP)", http_rate, TARGET_OBJECTS_PER_S, higher_is_better=True, fmt="{:,.0f}")
    summary.check("ratio to baseline", ratio, TARGET_BASELINE_RATIO, higher_is_better=True, fmt="{:.3f}")
    summary.check(
        f"page {DEEP_PAGE}/page 1", p100 / p1, TARGET_DEEP_PAGE_RATIO, higher_is_better=False, fmt="{:.3f}"
    )
    summary.print()
    return 0  # a MISS is a finding, not a crash; the smoke test checks figures, not targets


if __name__ == "__main__":
    bench_main(run, parse_args())
