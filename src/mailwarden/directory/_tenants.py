"""Tenants: creation (with the organization's default configuration) and lookup by id or initial domain."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..errors import ArgumentError, DuplicateObjectError
from ..store import Tenant
from ._config_seed import seed_org_config

__all__ = ["create_tenant", "find_tenant"]

_DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def create_tenant(session: Session, *, name: str, domain: str, now: datetime) -> Tenant:
    domain = domain.strip().lower()
    if not _DOMAIN_RE.match(domain):
        raise ArgumentError(f"'{domain}' is not a valid domain name.")
    if not name.strip():
        raise ArgumentError("The tenant name cannot be empty.")
    if session.scalar(select(Tenant.id).where(Tenant.initial_domain == domain)) is not None:
        raise DuplicateObjectError(f"A tenant with the domain '{domain}' already exists.")
    tenant = Tenant(id=str(uuid.uuid4()), name=name.strip(), initial_domain=domain, created_at=now)
    session.add(tenant)
    session.flush()
    seed_org_config(session, tenant.id, domain, now)
    from ..rbac._seeding import seed_tenant_rbac  # the RBAC package imports the directory

    seed_tenant_rbac(session, tenant.id, now)
    return tenant


def find_tenant(session: Session, ref: str) -> Tenant | None:
    """``ref`` is the tenant id (GUID) or its initial domain, as in the InvokeCommand URL."""
    return session.scalar(
        select(Tenant).where(or_(Tenant.id == ref.lower(), Tenant.initial_domain == func.lower(ref)))
    )
