"""Authorisation overhead of RBAC per call, over real HTTP: ``Get-Mailbox -Identity`` and ``Set-Mailbox``
calls/s with RBAC enforced vs RBAC bypassed, in the same run, on the same database.

What is measured
  two ``mailwarden serve`` processes (uvicorn, one worker each) on the same database file: one as shipped
  (RBAC enforced on every call), one whose enforcement hooks are replaced by no-ops — **in that benchmark
  process only**, by code passed as the server's ``preamble`` (``BenchServer(preamble=...)``); there is no
  setting, flag or environment variable that turns RBAC off in the product. Each side runs ``--calls``
  sequential calls over a keep-alive ``httpx.Client``; the sides alternate every 10 calls (``--reps`` passes
  over ``--calls`` targets) and the figure is the median chunk, robust to the load of a shared machine.

RBAC configuration (the enforced side's caller)
  the bench app is in no built-in role group; it is a member of 5 custom role groups holding 50 regular role
  assignments in all (Mail Recipients, View-Only Recipients, Mail Recipient Creation, Distribution Groups,
  Reset Password …), each with one of 10 custom management scopes (filters over Company/Department/
  CustomAttribute1, all containing the targets), one of which is exclusive (matching no target, so every write
  evaluates it). So every Set-Mailbox resolves its target, evaluates exclusive scopes and write scopes before
  and after the change, and every call resolves the caller's role groups and grants.

Target: overhead (1 - enforced/bypassed calls/s) <= 15 % for each cmdlet.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from sqlalchemy import delete, select

from mailwarden.clock import SystemClock, utcnow
from mailwarden.rbac._store import bump_generation
from mailwarden.store._rbac_models import RbacAssignment, RbacMember, RbacRole, RbacRoleGroup, RbacScope

from _harness import (
    BenchServer,
    Fixture,
    Summary,
    add_common_args,
    bench_main,
    calls_per_second,
    describe_run,
    figure,
    interleaved_rates,
    invoke_body,
    mailbox_addresses,
    seed_fixture,
)

TARGET_OVERHEAD = 0.15
CHUNK = 10
ASSIGNMENTS = 50
SCOPES = 10
GROUPS = 5
ROLES = (
    "Mail Recipients",
    "View-Only Recipients",
    "Mail Recipient Creation",
    "Distribution Groups",
    "Reset Password",
    "Move Mailboxes",
    "Migration",
    "Recipient Policies",
    "Team Mailboxes",
    "Message Tracking",
)
SCOPE_FILTERS = [
    "Company -eq 'Contoso'",
    "Company -eq 'Contoso' -and CustomAttribute1 -ne 'blocked'",
    "Department -ne 'Nowhere'",
    "Company -like 'Cont*'",
    "CustomAttribute1 -ne 'x1' -or Company -eq 'Contoso'",
    "Company -eq 'Contoso' -and Department -ne 'Nowhere2'",
    "Department -ne 'Nowhere3'",
    "Company -ne 'Fabrikam'",
    "Company -eq 'Contoso' -or Department -eq 'Sales'",
]
EXCLUSIVE_FILTER = "CustomAttribute15 -eq 'vip-only'"

# Run in the baseline server process only (BenchServer preamble): the three executor hooks become no-ops
# before the app installs them. Nothing in the product can do this.
BYPASS_PREAMBLE = """
import mailwarden.rbac._enforce as _rbac_enforce
_rbac_enforce._before = lambda inv: None
_rbac_enforce._after = lambda inv, result: None
_rbac_enforce._narrow = lambda inv, listing: listing
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(parser, mailboxes=5_000, timeout=900)
    parser.add_argument("--calls", type=int, default=400, help="calls per measurement (default 400)")
    args = parser.parse_args(argv)
    if args.quick:
        args.mailboxes = min(args.mailboxes, 300)
        args.calls = min(args.calls, 60)
        args.reps = min(args.reps, 2)
        args.timeout = min(args.timeout, 100)
    return args


def configure_rbac(fixture: Fixture) -> None:
    """50 scoped regular assignments in 5 custom role groups holding the app; 10 scopes, one exclusive."""
    now = utcnow(SystemClock())
    tid = fixture.tenant_id
    with fixture.db.unit_of_work() as uow:
        s = uow.session
        s.execute(
            delete(RbacMember).where(RbacMember.member_kind == "app", RbacMember.member_ref == fixture.app_id)
        )
        roles = {
            name: rid
            for rid, name in s.execute(select(RbacRole.id, RbacRole.name).where(RbacRole.tenant_id == tid))
        }
        scopes: list[RbacScope] = []
        for i, text in enumerate([*SCOPE_FILTERS, EXCLUSIVE_FILTER]):
            scope = RbacScope(
                tenant_id=tid,
                guid=str(uuid.uuid4()),
                name=f"Bench scope {i}",
                name_key=f"bench scope {i}",
                recipient_filter=text,
                recipient_root=None,
                exclusive=text == EXCLUSIVE_FILTER,
                created_at=now,
            )
            s.add(scope)
            scopes.append(scope)
        groups: list[RbacRoleGroup] = []
        for g in range(GROUPS):
            group = RbacRoleGroup(
                tenant_id=tid,
                guid=str(uuid.uuid4()),
                name=f"Bench admins {g}",
                name_key=f"bench admins {g}",
                description="",
                builtin=False,
                synchronized=False,
                managed_by=[],
                created_at=now,
            )
            s.add(group)
            groups.append(group)
        s.flush()
        for group in groups:
            s.add(
                RbacMember(
                    tenant_id=tid,
                    group_id=group.id,
                    member_kind="app",
                    member_ref=fixture.app_id,
                    display="bench app",
                )
            )
        regular_scopes = [sc for sc in scopes if not sc.exclusive]
        for n in range(ASSIGNMENTS):
            group = groups[n % GROUPS]
            role = ROLES[(n // GROUPS) % len(ROLES)]
            # the last assignment holds the exclusive scope (the other nine scopes cycle on the rest)
            scope = scopes[-1] if n == ASSIGNMENTS - 1 else regular_scopes[n % len(regular_scopes)]
            name = f"{role}_{group.name} {n}"
            s.add(
                RbacAssignment(
                    tenant_id=tid,
                    guid=str(uuid.uuid4()),
                    name=name,
                    name_key=name.lower(),
                    role_id=roles[role],
                    assignee_kind="rolegroup",
                    assignee_ref=str(group.id),
                    delegating=False,
                    enabled=True,
                    relative_scope=None,
                    scope_id=scope.id,
                    restrict_reads=False,
                    created_at=now,
                )
            )
        s.flush()
        bump_generation(s, tid)


def run(args: argparse.Namespace) -> int:
    fixture = seed_fixture(args.mailboxes, database_url=args.database_url, keep=args.keep)
    configure_rbac(fixture)
    describe_run(args, fixture)
    figure("RBAC", f"{ASSIGNMENTS} assignments in {GROUPS} role groups, {SCOPES} scopes (1 exclusive)")
    enforced = BenchServer(fixture)
    enforced_key = fixture.key
    bypassed = BenchServer(fixture, preamble=BYPASS_PREAMBLE)
    bypassed_key = fixture.key
    names = mailbox_addresses(fixture, args.calls)
    gets = [invoke_body("Get-Mailbox", Identity=n) for n in names[:10]]
    sides = {"enforced": (enforced, enforced_key), "bypassed": (bypassed, bypassed_key)}
    clients = {
        side: httpx.Client(timeout=120.0, headers={"Authorization": f"Bearer {key}"})
        for side, (_server, key) in sides.items()
    }
    results: dict[str, dict[str, float]] = {}
    try:
        # The enforced side must really enforce: a write outside every role of the caller is refused.
        probe = clients["enforced"].post(enforced.invoke_url(), json=invoke_body("Set-TransportConfig"))
        if probe.status_code != 403:
            print(f"ERROR: RBAC not enforced on the enforced server ({probe.status_code})")
            return 1
        for side, (server, _key) in sides.items():  # warm-up: imports, caches, connection
            calls_per_second(clients[side], server.invoke_url(), gets)
        targets_of = {side: (clients[side], server.invoke_url()) for side, (server, _key) in sides.items()}
        results["Get-Mailbox"] = interleaved_rates(
            targets_of,
            names,
            lambda side, rep, part: [invoke_body("Get-Mailbox", Identity=n) for n in part],
            reps=args.reps,
            chunk=CHUNK,
        )
        results["Set-Mailbox"] = interleaved_rates(
            targets_of,
            names,
            lambda side, rep, part: [
                invoke_body("Set-Mailbox", Identity=n, CustomAttribute2=f"{side}-{rep}-{i}")
                for i, n in enumerate(part)
            ],
            reps=args.reps,
            chunk=CHUNK,
        )
    finally:
        for client in clients.values():
            client.close()

    summary = Summary()
    print(
        f"\n--- calls/s, median of {args.reps} x {len(names) // CHUNK} interleaved chunks of {CHUNK} calls ---"
    )
    for cmdlet in ("Get-Mailbox", "Set-Mailbox"):
        on, off = results[cmdlet]["enforced"], results[cmdlet]["bypassed"]
        overhead = 1 - on / off
        figure(f"{cmdlet} calls/s RBAC enforced", f"{on:,.1f}")
        figure(f"{cmdlet} calls/s RBAC bypassed", f"{off:,.1f}")
        figure(f"{cmdlet} ratio enforced/bypassed", f"{on / off:.3f}")
        figure(f"{cmdlet} overhead per call ms", f"{(1 / on - 1 / off) * 1000:.2f}")
        summary.check(
            f"{cmdlet} RBAC overhead", overhead, TARGET_OVERHEAD, higher_is_better=False, fmt="{:.1%}"
        )
    summary.print()
    return 0  # a MISS is a finding, not a crash


if __name__ == "__main__":
    bench_main(run, parse_args())
