"""Seeds a realistic demo tenant: thousands of mailboxes with departments and cities, shared and room
mailboxes, groups, contacts, mail users, and a few risky settings (an inbox rule forwarding outside, a remote
domain with automatic forwarding, SMTP AUTH on) so compliance scans and audit reviews find something.

Bulk mailboxes go in with multi-row INSERTs (the benchmarks seed 100,000); everything else goes through the
cmdlet executor like any admin call, so the demo exercises the real engine.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from .clock import Clock, utcnow
from .cmdlets import TenantInfo
from .cmdlets._executor import Executor
from .directory import create_tenant, default_domain, find_tenant
from .oauth import ensure_builtin_clients, register_app
from .principal import Principal
from .rbac import add_principal_to_role_groups
from .store import CasMailbox, ProxyAddress, Recipient

__all__ = ["CITIES", "DEPARTMENTS", "DemoTenant", "bulk_mailboxes", "seed_demo_tenant"]

DEPARTMENTS = (
    "Sales", "Finance", "Marketing", "Engineering", "Human Resources", "Legal", "Operations", "Support",
    "IT", "Executive",
)  # fmt: skip
CITIES = (
    ("Seattle", "WA", "US"), ("New York", "NY", "US"), ("London", None, "GB"), ("Paris", None, "FR"),
    ("Berlin", None, "DE"), ("Sydney", "NSW", "AU"), ("Toronto", "ON", "CA"), ("Tokyo", None, "JP"),
)  # fmt: skip
_FIRST = (
    "Alex", "Megan", "Adele", "Diego", "Grady", "Henrietta", "Isaiah", "Johanna", "Joni", "Lee", "Lidia",
    "Lynne", "Miriam", "Nestor", "Patti", "Pradeep", "Raul", "Sanjay", "Christie", "Debra", "Irvin", "Emily",
    "Enrico", "Allan", "Cameron", "Ben", "Isabella", "Lucas", "Olivia", "Noah", "Sofia", "Mateo",
)  # fmt: skip
_LAST = (
    "Wilber", "Bowen", "Vance", "Siciliani", "Archie", "Mueller", "Langer", "Lauer", "Sherman", "Gu",
    "Holloway", "Robbins", "Graham", "Wilke", "Fernandez", "Gupta", "Razo", "Shah", "Cline", "Berg",
    "Sink", "Braun", "Catteneo", "Deyoung", "White", "Walker", "Garcia", "Kim", "Nguyen", "Okafor",
)  # fmt: skip
_TITLES = ("Associate", "Specialist", "Manager", "Director", "Analyst", "Engineer", "Consultant", "Lead")


@dataclass(frozen=True)
class DemoTenant:
    tenant_id: str
    domain: str
    cli_client_id: str
    app_client_id: str | None  # the demo app (client credentials), created with the tenant
    app_secret: str | None  # shown once: only when the tenant was created by this run
    created: bool


def _people(count: int, rng: random.Random, start: int) -> Iterator[tuple[str, str, str, str]]:
    for i in range(start, start + count):
        first = _FIRST[i % len(_FIRST)]
        last = _LAST[(i // len(_FIRST)) % len(_LAST)]
        suffix = i // (len(_FIRST) * len(_LAST))
        name = f"{first} {last}" + (f" {suffix}" if suffix else "")
        alias = f"{first}.{last}".lower() + (str(suffix) if suffix else "")
        yield first, last, name, alias


def bulk_mailboxes(
    session: Session,
    tenant_id: str,
    count: int,
    *,
    now: datetime,
    seed: int = 7,
    start: int = 0,
    batch: int = 2000,
) -> int:
    """Insert ``count`` user mailboxes (with proxies and CAS settings) in multi-row INSERTs."""
    rng = random.Random(seed * 1_000_003 + start)  # a later batch must not repeat an earlier one's GUIDs
    domain = default_domain(session, tenant_id)
    made = 0
    people = _people(count, rng, start)
    while made < count:
        chunk: list[dict[str, Any]] = []
        for first, last, name, alias in (next(people) for _ in range(min(batch, count - made))):
            city, state, country = CITIES[rng.randrange(len(CITIES))]
            dept = DEPARTMENTS[rng.randrange(len(DEPARTMENTS))]
            address = f"{alias}@{domain}"
            chunk.append(
                {
                    "tenant_id": tenant_id,
                    "guid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "exchange_guid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "external_directory_object_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "recipient_type": "UserMailbox",
                    "recipient_type_details": "UserMailbox",
                    "name": name,
                    "alias": alias,
                    "display_name": name,
                    "first_name": first,
                    "last_name": last,
                    "primary_smtp_address": address,
                    "user_principal_name": address,
                    "department": dept,
                    "company": "Contoso",
                    "title": f"{dept} {_TITLES[rng.randrange(len(_TITLES))]}",
                    "office": f"{city} {rng.randint(1, 9)}",
                    "city": city,
                    "state_or_province": state,
                    "country_or_region": country,
                    "hidden_from_address_lists_enabled": False,
                    "deliver_to_mailbox_and_forward": False,
                    "litigation_hold_enabled": rng.random() < 0.05,
                    "audit_enabled": True,
                    "account_disabled": False,
                    "custom_attributes": {},
                    "props": {},
                    "total_item_size": rng.randint(1, 40_000) * 1024 * 1024,
                    "item_count": rng.randint(10, 200_000),
                    "when_created": now,
                    "when_changed": now,
                }
            )
        ids = session.scalars(
            insert(Recipient).returning(Recipient.id, sort_by_parameter_order=True), chunk
        ).all()
        session.execute(
            insert(ProxyAddress),
            [
                {
                    "tenant_id": tenant_id,
                    "recipient_id": rid,
                    "address": f"SMTP:{row['primary_smtp_address']}",
                    "address_key": row["primary_smtp_address"].lower(),
                    "is_primary": True,
                }
                for rid, row in zip(ids, chunk, strict=True)
            ],
        )
        session.execute(
            insert(CasMailbox),
            [{"recipient_id": rid, "tenant_id": tenant_id, "when_changed": now} for rid in ids],
        )
        made += len(chunk)
    return made


def _call(executor: Executor, tenant: TenantInfo, principal: Principal, cmdlet: str, **params: Any) -> Any:
    spec = executor.registry.get(cmdlet)
    if spec is None:  # pragma: no cover - programming error in the seed list
        raise LookupError(cmdlet)
    return executor.run(spec, params, tenant=tenant, principal=principal, page_size=1000).value


def seed_demo_tenant(
    executor: Executor,
    clock: Clock,
    *,
    name: str = "Contoso (demo)",
    domain: str = "contoso.onmicrosoft.com",
    mailboxes: int = 2000,
) -> DemoTenant:
    """Create and populate the demo tenant; a second run finds it and changes nothing."""
    db = executor.db
    with db.unit_of_work() as uow:
        existing = find_tenant(uow.session, domain)
        if existing is not None:
            cli = ensure_builtin_clients(uow.session, existing.id, now=utcnow(clock))
            return DemoTenant(existing.id, existing.initial_domain, cli, None, None, created=False)
        tenant_row = create_tenant(uow.session, name=name, domain=domain, now=utcnow(clock))
        cli = ensure_builtin_clients(uow.session, tenant_row.id, now=utcnow(clock))
        app_id, app_secret = register_app(
            uow.session, tenant_row.id, name="mailwarden demo app", now=utcnow(clock), with_secret=True
        )
        # The demo's ready-to-paste call runs as this app: it administers the demo tenant (Exchange's
        # ManageAsApp model — an app holds roles through a role group like any admin).
        add_principal_to_role_groups(uow.session, tenant_row.id, "app", app_id, ["Organization Management"])
        bulk_mailboxes(uow.session, tenant_row.id, mailboxes, now=utcnow(clock))
        tenant = TenantInfo(tenant_row.id, tenant_row.name, tenant_row.initial_domain)
    admin = Principal(tenant.id, "system", "mailwarden demo seeder", "system")

    def call(cmdlet: str, **params: Any) -> Any:
        return _call(executor, tenant, admin, cmdlet, **params)

    for n, shared in enumerate(("Sales Team", "Support Desk", "Finance Shared", "Reception", "Helpdesk")):
        call("New-Mailbox", Name=shared, Shared=True, Alias=shared.replace(" ", "").lower())
        if n == 0:
            call("Add-MailboxPermission", Identity=shared, User="Alex Wilber", AccessRights=["FullAccess"])
            call("Add-RecipientPermission", Identity=shared, Trustee="Megan Wilber", AccessRights=["SendAs"])
    for room, capacity in (("Board Room", 20), ("Conf Room Adams", 8), ("Conf Room Baker", 12), ("Lab", 4)):
        call("New-Mailbox", Name=room, Room=True, ResourceCapacity=capacity)
    for i in range(25):
        call(
            "New-MailContact",
            Name=f"Partner Contact {i:02d}",
            ExternalEmailAddress=f"contact{i:02d}@fabrikam.example",
        )
    for i in range(15):
        call(
            "New-MailUser",
            Name=f"Contractor {i:02d}",
            ExternalEmailAddress=f"contractor{i:02d}@tailspin.example",
        )
    with db.unit_of_work(write=False) as uow:
        names = list(
            uow.session.scalars(
                select(Recipient.name)
                .where(Recipient.tenant_id == tenant.id, Recipient.recipient_type_details == "UserMailbox")
                .order_by(Recipient.id)
                .limit(600)
            )
        )
    rng = random.Random(11)
    for i in range(50):
        dept = DEPARTMENTS[i % len(DEPARTMENTS)]
        members = rng.sample(names, k=min(len(names), 12))
        call(
            "New-DistributionGroup",
            Name=f"{dept} Team {i // len(DEPARTMENTS) + 1}",
            Type="Security" if i % 5 == 0 else "Distribution",
            Members=members,
            ManagedBy=[members[0]],
        )
    # The risky settings an audit should find.
    call(
        "New-InboxRule",
        Mailbox="Diego Siciliani",
        Name="Forward everything",
        ForwardTo=["diego.personal@gmail.example"],
    )
    call("New-RemoteDomain", Name="Gmail", DomainName="gmail.example")
    call("Set-RemoteDomain", Identity="Gmail", AutoForwardEnabled=True)
    call("Set-TransportConfig", SmtpClientAuthenticationDisabled=False)
    call("Set-Mailbox", Identity="Grady Archie", ForwardingSmtpAddress="grady@outlook.example")
    return DemoTenant(tenant.id, tenant.initial_domain, cli, app_id, app_secret, created=True)
