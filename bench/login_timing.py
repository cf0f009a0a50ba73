"""Sign-in timing: does an unknown account answer as fast as a known one with a wrong password?

Over real HTTP (``mailwarden serve`` on 127.0.0.1, keep-alive ``httpx.Client``): ``POST /{tenant}/login`` with
the form fields and CSRF token of one pre-session, N times for a fresh unknown UPN and N times for a known
account with a wrong password, interleaved (the order within each pair alternates). After each pair the known
account signs in correctly, which resets the per-account and per-IP failure counters, so throttling never
short-circuits the measurement. Prints both medians and their difference as a percentage of the known-user
median (target < 5 %: no user enumeration by timing, DESIGN §5).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mailwarden.clock import SystemClock
from mailwarden.identity import IdentityService

from _harness import SECRET, BenchServer, Summary, bench_main, figure, seed_fixture

PASSWORD = "correct horse battery staple"


def run(args: argparse.Namespace) -> int:
    n = 20 if args.quick else args.n
    fixture = seed_fixture(10, database_url=args.database_url)
    service = IdentityService(fixture.db, secret_key=SECRET.encode(), clock=SystemClock())
    upn = f"timing@{fixture.domain}"
    service.create_user(fixture.tenant_id, upn, PASSWORD)
    server = BenchServer(fixture)
    print(f"mailwarden bench: login timing, backend={fixture.db.dialect}, {n} attempts per kind")
    url = f"/{fixture.domain}/login"
    with server.client(1) as client:
        page = client.get(url)
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        if page.status_code != 200 or match is None:
            print(f"ERROR: login page answered {page.status_code}")
            return 1
        csrf = match.group(1)

        def post(username: str, password: str) -> tuple[float, int]:
            data = {"csrf": csrf, "username": username, "password": password, "return_to": "/"}
            t0 = time.perf_counter()
            response = client.post(url, data=data, follow_redirects=False)
            return time.perf_counter() - t0, response.status_code

        # Warm-up: both paths once (imports, template compilation, connection pool).
        post(f"warm-{uuid.uuid4().hex}@{fixture.domain}", "wrong password")
        post(upn, PASSWORD)
        unknown: list[float] = []
        known: list[float] = []
        for i in range(n):
            pair = [("unknown", f"nobody-{uuid.uuid4().hex[:12]}@{fixture.domain}"), ("known", upn)]
            if i % 2:
                pair.reverse()
            for kind, username in pair:
                elapsed, status = post(username, "wrong password, surely")
                if status != 200:
                    print(f"ERROR: {kind} attempt answered {status} (throttled?)")
                    return 1
                (unknown if kind == "unknown" else known).append(elapsed)
            _, status = post(upn, PASSWORD)  # resets the account and IP counters
            if status != 303:
                print(f"ERROR: the correct password answered {status}")
                return 1
    server.stop()
    median_unknown = statistics.median(unknown) * 1000
    median_known = statistics.median(known) * 1000
    diff_pct = abs(median_unknown - median_known) / median_known * 100
    figure("unknown user median ms", f"{median_unknown:.2f}")
    figure("known user, wrong password median ms", f"{median_known:.2f}")
    figure("difference % of median", f"{diff_pct:.2f}")
    summary = Summary()
    summary.check("unknown vs known timing difference %", diff_pct, 5.0, higher_is_better=False)
    summary.print()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200, help="attempts per kind (default 200)")
    parser.add_argument("--quick", action="store_true", help="20 attempts per kind (smoke test)")
    parser.add_argument(
        "--database-url", default=None, help="run on this database instead of a temp SQLite file"
    )
    parser.add_argument("--timeout", type=float, default=600, help="hard bound on the whole run, seconds")
    bench_main(run, parser.parse_args())


if __name__ == "__main__":
    main()
