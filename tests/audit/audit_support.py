"""Executor-level harness for the unified audit log tests: a real migrated database (per backend), the real
executor with the real audit service, and a tenant. Not a conftest, so test modules import what they use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from mailwarden.audit._service import AuditService
from mailwarden.clock import FakeClock, utcnow
from mailwarden.cmdlets import CursorSigner, TenantInfo, default_registry
from mailwarden.cmdlets._executor import CallResult, Executor
from mailwarden.cmdlets._registry import Registry
from mailwarden.directory import create_tenant
from mailwarden.principal import Principal
from mailwarden.store import Database, KeyRing, SecretBox
from mailwarden.store._audit_models import AuditRecord

SECRET = b"audit-test-secret-0123456789abcdef-0123456789"


@dataclass
class AuditEnv:
    db: Database
    clock: FakeClock
    audit: AuditService
    executor: Executor
    registry: Registry
    tenant: TenantInfo
    principal: Principal

    def call(
        self, cmdlet: str, *, cursor: str | None = None, page_size: int = 1000, **params: Any
    ) -> CallResult:
        spec = self.registry.get(cmdlet)
        assert spec is not None, cmdlet
        return self.executor.run(
            spec, params, tenant=self.tenant, principal=self.principal, page_size=page_size, cursor=cursor
        )

    def records(self) -> list[dict[str, Any]]:
        with self.db.unit_of_work(write=False) as uow:
            return [
                dict(r)
                for r in uow.session.scalars(
                    select(AuditRecord.data)
                    .where(AuditRecord.tenant_id == self.tenant.id)
                    .order_by(AuditRecord.seq)
                )
            ]


def make_env(db: Database, clock: FakeClock, registry: Registry | None = None) -> AuditEnv:
    keyring = KeyRing(db, SecretBox(SECRET), clock)
    audit = AuditService(db, keyring, clock)
    keyring.current("cursor")
    signer = CursorSigner(
        lambda: (keyring.current("cursor").kid, keyring.current("cursor").secret),
        lambda kid: None if (k := keyring.get("cursor", kid)) is None else k.secret,
    )
    reg = registry or default_registry()
    executor = Executor(db, reg, signer, clock, audit=audit)
    domain = f"t{uuid.uuid4().hex[:8]}.onmicrosoft.com"
    with db.unit_of_work() as uow:
        row = create_tenant(uow.session, name="Contoso", domain=domain, now=utcnow(clock))
        tenant = TenantInfo(row.id, row.name, row.initial_domain)
    principal = Principal(tenant.id, "admin-1", f"admin@{domain}", "user")
    return AuditEnv(db, clock, audit, executor, reg, tenant, principal)


def synthetic_records(count: int, *, start_index: int = 0, second_step: int = 1) -> list[dict[str, Any]]:
    """ExchangeAdmin-shaped records for bulk seeding: 7 users, 4 operations, one per second (or slower)."""
    ops = ("Set-Mailbox", "New-Mailbox", "Add-MailboxPermission", "Set-TransportRule")
    out = []
    for i in range(start_index, start_index + count):
        t = i * second_step
        out.append(
            {
                "Id": str(uuid.uuid4()),
                "RecordType": 1,
                "CreationTime": f"2026-01-{1 + t // 86400:02d}T{t // 3600 % 24:02d}:{t // 60 % 60:02d}:{t % 60:02d}",
                "Operation": ops[i % 4],
                "OrganizationId": "org",
                "UserType": 2,
                "UserKey": f"user-{i % 7}",
                "UserId": f"user{i % 7}@contoso.example",
                "Workload": "Exchange",
                "ResultStatus": "True",
                "ObjectId": f"mailbox-{i % 1000}",
                "ClientIP": f"10.0.{i % 3}.1",
                "Parameters": [{"Name": "Identity", "Value": f"mailbox-{i % 1000}"}],
            }
        )
    return out
