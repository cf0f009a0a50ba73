"""Sessions: idle (30 min) and absolute (12 h) expiry on the FakeClock, revoke, session_active, listing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from _identity_helpers import PASSWORD, make_service

from mailwarden.clock import FakeClock
from mailwarden.errors import NotFoundError
from mailwarden.identity import IdentityService, SignInTicket
from mailwarden.store import Database

from conftest import TenantHandle


def _signed_in(db: Database, clock: FakeClock, tenant: TenantHandle) -> tuple[IdentityService, SignInTicket]:
    service = make_service(db, clock)
    service.create_user(tenant.id, f"ann@{tenant.domain}", PASSWORD, display_name="Ann")
    ticket = service.sign_in_password(tenant.id, f"ANN@{tenant.domain}", PASSWORD, ip="203.0.113.5")
    assert ticket.state == "active"
    return service, ticket


def test_signed_in_user_fields(db: Database, clock: FakeClock, tenant: TenantHandle) -> None:
    service, ticket = _signed_in(db, clock, tenant)
    user = service.session_from_secret(tenant.id, ticket.secret)
    assert user is not None
    assert user.upn == f"ann@{tenant.domain}"
    assert user.display_name == "Ann"
    assert user.amr == ("pwd",)
    assert user.acr == "1"
    assert user.session_id == ticket.session_id
    assert user.session_id != ticket.secret
    assert service.session_from_secret("other-tenant", ticket.secret) is None
    assert service.session_from_secret(tenant.id, "not-a-secret") is None


def test_idle_expiry(db: Database, clock: FakeClock, tenant: TenantHandle) -> None:
    service, ticket = _signed_in(db, clock, tenant)
    for _ in range(4):  # activity keeps it alive past 30 minutes in total
        clock.advance(timedelta(minutes=29))
        assert service.session_from_secret(tenant.id, ticket.secret) is not None
    clock.advance(timedelta(minutes=30))
    assert service.session_from_secret(tenant.id, ticket.secret) is None
    assert not service.session_active(ticket.session_id)


def test_absolute_expiry(db: Database, clock: FakeClock, tenant: TenantHandle) -> None:
    service, ticket = _signed_in(db, clock, tenant)
    for _ in range(24):  # 24 x 29.5 min = 11 h 48 min of continuous activity: still signed in
        clock.advance(timedelta(minutes=29, seconds=30))
        assert service.session_from_secret(tenant.id, ticket.secret) is not None
    clock.advance(timedelta(minutes=12))  # exactly 12 h after sign-in
    assert service.session_from_secret(tenant.id, ticket.secret) is None
    assert not service.session_active(ticket.session_id)


def test_revoke_and_list(db: Database, clock: FakeClock, tenant: TenantHandle) -> None:
    service, ticket = _signed_in(db, clock, tenant)
    other = service.sign_in_password(tenant.id, f"ann@{tenant.domain}", PASSWORD, ip="203.0.113.6")
    assert other.session_id != ticket.session_id  # a new id at every sign-in
    listed = {s.session_id for s in service.list_sessions(tenant.id)}
    assert listed == {ticket.session_id, other.session_id}
    assert service.session_active(ticket.session_id)
    service.revoke_session(tenant.id, ticket.session_id)
    assert not service.session_active(ticket.session_id)
    assert service.session_from_secret(tenant.id, ticket.secret) is None
    assert service.session_active(other.session_id)
    with pytest.raises(NotFoundError):
        service.revoke_session(tenant.id, ticket.session_id)
    assert service.revoke_user_sessions(tenant.id, other.user_id) == 1
    assert not service.session_active(other.session_id)
    assert service.list_sessions(tenant.id) == []


def test_disable_and_password_change_end_sessions(
    db: Database, clock: FakeClock, tenant: TenantHandle
) -> None:
    service, ticket = _signed_in(db, clock, tenant)
    service.set_password(tenant.id, ticket.user_id, "another fine passphrase")
    assert not service.session_active(ticket.session_id)
    again = service.sign_in_password(
        tenant.id, f"ann@{tenant.domain}", "another fine passphrase", ip="203.0.113.5"
    )
    service.set_disabled(tenant.id, ticket.user_id)
    assert not service.session_active(again.session_id)
    assert service.get_user(tenant.id, ticket.user_id).disabled  # type: ignore[union-attr]
