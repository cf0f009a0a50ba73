"""Conditional access: the pure evaluation function as a table, then check_access on the database."""

from __future__ import annotations

import pytest
from _identity_helpers import PASSWORD, make_service

from mailwarden.clock import FakeClock
from mailwarden.errors import AccessDeniedError, ArgumentError
from mailwarden.identity import AccessPolicy, AccessSubject, NamedLocation, evaluate_access, parse_networks
from mailwarden.store import Database

from conftest import TenantHandle

LOCATIONS = {
    "office": NamedLocation("office", parse_networks(["192.0.2.0/24", "2001:db8:1::/48"])),
    "vpn": NamedLocation("vpn", parse_networks(["198.51.100.0/25"])),
}
POLICIES = [
    AccessPolicy(
        "admins-hwk", "require_phishing_resistant_mfa", role_groups=frozenset({"organization management"})
    ),
    AccessPolicy("everyone-mfa", "require_mfa", all_users=True),
    AccessPolicy(
        "office-only",
        "block_outside_locations",
        users=frozenset({"bob@contoso.com"}),
        locations=("office", "vpn"),
    ),
    AccessPolicy("app-office", "block_outside_locations", apps=frozenset({"app-1"}), locations=("office",)),
    AccessPolicy("off", "require_mfa", all_users=True, enabled=False),
]
ANN = AccessSubject(user_id="u-ann", upn="ann@contoso.com")
ADMIN = AccessSubject(
    user_id="u-adm", upn="adm@contoso.com", role_groups=frozenset({"Organization Management"})
)
BOB = AccessSubject(user_id="u-bob", upn="bob@contoso.com")
APP = AccessSubject(app_id="app-1")
OTHER_APP = AccessSubject(app_id="app-2")


@pytest.mark.parametrize(
    ("subject", "amr", "ip", "denied_by"),
    [
        (ANN, ("pwd",), "203.0.113.1", "everyone-mfa"),
        (ANN, ("pwd", "otp"), "203.0.113.1", None),
        (ANN, ("pwd", "rc"), "203.0.113.1", None),
        (ADMIN, ("pwd", "otp"), "203.0.113.1", "admins-hwk"),
        (ADMIN, ("pwd", "hwk"), "203.0.113.1", None),
        (ADMIN, ("pwd",), "203.0.113.1", "admins-hwk"),  # name order: admins-hwk before everyone-mfa
        (BOB, ("pwd", "otp"), "203.0.113.1", "office-only"),
        (BOB, ("pwd", "otp"), "192.0.2.44", None),
        (BOB, ("pwd", "otp"), "198.51.100.3", None),
        (BOB, ("pwd", "otp"), "198.51.100.200", "office-only"),
        (BOB, ("pwd", "otp"), "2001:db8:1::5", None),
        (BOB, ("pwd", "otp"), "2001:db8:2::5", "office-only"),
        (BOB, ("pwd", "otp"), "::ffff:192.0.2.9", None),
        (BOB, ("pwd", "otp"), "not-an-ip", "office-only"),
        (APP, (), "192.0.2.1", None),
        (APP, (), "203.0.113.1", "app-office"),
        (OTHER_APP, (), "203.0.113.1", None),  # MFA policies never apply to apps
    ],
)
def test_evaluate_table(subject: AccessSubject, amr: tuple[str, ...], ip: str, denied_by: str | None) -> None:
    decision = evaluate_access(POLICIES, LOCATIONS, subject, amr, ip)
    assert decision.allowed is (denied_by is None)
    assert decision.policy == denied_by


def test_missing_location_fails_closed() -> None:
    policy = AccessPolicy("gone", "block_outside_locations", all_users=True, locations=("deleted",))
    assert not evaluate_access([policy], {}, ANN, ("pwd",), "192.0.2.1").allowed


def test_invalid_cidr_named() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.1/8"):
        parse_networks(["10.0.0.1/8"])


def test_check_access_on_the_database(db: Database, clock: FakeClock, tenant: TenantHandle) -> None:
    service = make_service(db, clock)
    admin = service.create_user(
        tenant.id, f"adm@{tenant.domain}", PASSWORD, role_groups=["Organization Management"]
    )
    user = service.create_user(tenant.id, f"ann@{tenant.domain}", PASSWORD)
    service.add_location(tenant.id, "Office", ["192.0.2.0/24", "2001:db8::/32"])
    service.add_policy(
        tenant.id,
        "Admins need keys",
        "require_phishing_resistant_mfa",
        role_groups=["organization management"],
    )
    service.add_policy(
        tenant.id,
        "Ann in office",
        "block_outside_locations",
        users=[f"ann@{tenant.domain}"],
        locations=["office"],
    )
    with pytest.raises(AccessDeniedError, match="policy 'Admins need keys'"):
        service.check_access(
            tenant.id, user_id=admin.user_id, app_id=None, amr=("pwd", "otp"), ip="192.0.2.1", stage="token"
        )
    service.check_access(
        tenant.id, user_id=admin.user_id, app_id="cli", amr=("pwd", "hwk"), ip="203.0.113.9", stage="call"
    )
    with pytest.raises(AccessDeniedError, match="policy 'Ann in office'"):
        service.check_access(
            tenant.id, user_id=user.user_id, app_id=None, amr=("pwd",), ip="203.0.113.9", stage="call"
        )
    service.check_access(
        tenant.id, user_id=user.user_id, app_id=None, amr=("pwd",), ip="2001:db8::1", stage="call"
    )
    service.check_access(tenant.id, user_id=None, app_id="some-app", amr=(), ip="203.0.113.9", stage="call")
    denials = [e for e in service.list_events(tenant.id) if e["kind"] == "ca_denied"]
    assert {e["policy"] for e in denials} == {"Admins need keys", "Ann in office"}
    # Management rules.
    with pytest.raises(ArgumentError, match="used by policies"):
        service.remove_location(tenant.id, "office")
    with pytest.raises(ArgumentError, match="Unknown named location"):
        service.add_policy(tenant.id, "x", "block_outside_locations", all_users=True, locations=["nowhere"])
    with pytest.raises(ArgumentError):
        service.add_policy(tenant.id, "y", "require_mfa", apps=["*"])
    service.remove_policy(tenant.id, "ann in office")
    service.remove_location(tenant.id, "office")
    assert [p.name for p in service.list_policies(tenant.id)] == ["Admins need keys"]
    # A disabled account is refused whatever the policies.
    service.set_disabled(tenant.id, user.user_id)
    with pytest.raises(AccessDeniedError, match="disabled"):
        service.check_access(
            tenant.id, user_id=user.user_id, app_id=None, amr=("pwd",), ip="192.0.2.1", stage="call"
        )
