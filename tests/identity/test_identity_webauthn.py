"""WebAuthn with a software authenticator: registration (attestation "none"), sign-in assertion, step-up, counter
regression refused, user verification required for role-group accounts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from _identity_helpers import PASSWORD, SoftAuthenticator, code_at, make_service

from mailwarden.clock import FakeClock
from mailwarden.identity import (
    FreshSignInRequired,
    IdentityService,
    InvalidCode,
    SignInThrottled,
    SignInTicket,
)
from mailwarden.store import Database

from conftest import TenantHandle

RP_ID = "login.example.test"
ORIGIN = "https://login.example.test"


def _admin_with_totp(
    db: Database, clock: FakeClock, tenant: TenantHandle
) -> tuple[IdentityService, SignInTicket, str]:
    service = make_service(db, clock)
    user = service.create_user(
        tenant.id, f"adm@{tenant.domain}", PASSWORD, role_groups=["Organization Management"]
    )
    secret = service.operator_enroll_totp(tenant.id, user.user_id).secret_base32
    pending = service.sign_in_password(tenant.id, f"adm@{tenant.domain}", PASSWORD, ip="192.0.2.1")
    assert pending.state == "pending"
    ticket = service.complete_with_totp(tenant.id, pending.secret, code_at(secret, clock))
    return service, ticket, secret


def test_register_then_sign_in_with_key(db: Database, clock: FakeClock, tenant: TenantHandle) -> None:
    service, ticket, _ = _admin_with_totp(db, clock, tenant)
    key = SoftAuthenticator(RP_ID, ORIGIN)
    options = service.webauthn_registration_options(tenant.id, ticket.session_id, rp_id=RP_ID)
    info = service.register_webauthn(
        tenant.id, ticket.session_id, key.register(options), rp_id=RP_ID, origin=ORIGIN, name="YubiKey"
    )
    assert info.kind == "webauthn"
    assert info.name == "YubiKey"

    pending = service.sign_in_password(tenant.id, f"adm@{tenant.domain}", PASSWORD, ip="192.0.2.1")
    options = service.webauthn_authentication_options(tenant.id, rp_id=RP_ID, pending_secret=pending.secret)
    done = service.complete_with_webauthn(
        tenant.id, pending.secret, key.sign(options), rp_id=RP_ID, origin=ORIGIN
    )
    user = service.session_from_secret(tenant.id, done.secret)
    assert user is not None
    assert user.amr == ("pwd", "hwk")
    assert user.acr == "3"

    # The same assertion cannot be replayed: the challenge is single-use.
    pending = service.sign_in_password(tenant.id, f"adm@{tenant.domain}", PASSWORD, ip="192.0.2.1")
    options = service.webauthn_authentication_options(tenant.id, rp_id=RP_ID, pending_secret=pending.secret)
    response = key.sign(options)
    service.complete_with_webauthn(tenant.id, pending.secret, response, rp_id=RP_ID, origin=ORIGIN)
    with pytest.raises(InvalidCode):
        service.complete_with_webauthn(tenant.id, pending.secret, response, rp_id=RP_ID, origin=ORIGIN)


def test_counter_regression_refused(db: Database, clock: FakeClock, tenant: TenantHandle) -> None:
    service, ticket, _ = _admin_with_totp(db, clock, tenant)
    key = SoftAuthenticator(RP_ID, ORIGIN)
    options = service.webauthn_registration_options(tenant.id, ticket.session_id, rp_id=RP_ID)
    service.register_webauthn(
        tenant.id, ticket.session_id, key.register(options), rp_id=RP_ID, origin=ORIGIN, name="k"
    )
    options = service.webauthn_authentication_options(tenant.id, rp_id=RP_ID, session_id=ticket.session_id)
    service.step_up_webauthn(
        tenant.id, ticket.session_id, key.sign(options, counter=5), rp_id=RP_ID, origin=ORIGIN
    )
    clone = SoftAuthenticator(RP_ID, ORIGIN, key=key.key, credential_id=key.credential_id)
    for counter in (5, 3):
        options = service.webauthn_authentication_options(
            tenant.id, rp_id=RP_ID, session_id=ticket.session_id
        )
        with pytest.raises(InvalidCode, match="count"):
            service.step_up_webauthn(
                tenant.id,
                ticket.session_id,
                clone.sign(options, counter=counter),
                rp_id=RP_ID,
                origin=ORIGIN,
            )
    options = service.webauthn_authentication_options(tenant.id, rp_id=RP_ID, session_id=ticket.session_id)
    service.step_up_webauthn(
        tenant.id, ticket.session_id, key.sign(options, counter=6), rp_id=RP_ID, origin=ORIGIN
    )


def test_wrong_origin_and_missing_uv_refused(db: Database, clock: FakeClock, tenant: TenantHandle) -> None:
    service, ticket, _ = _admin_with_totp(db, clock, tenant)
    key = SoftAuthenticator(RP_ID, ORIGIN)
    options = service.webauthn_registration_options(tenant.id, ticket.session_id, rp_id=RP_ID)
    service.register_webauthn(
        tenant.id, ticket.session_id, key.register(options), rp_id=RP_ID, origin=ORIGIN, name="k"
    )
    phish = SoftAuthenticator(
        RP_ID, "https://evil.example", key=key.key, credential_id=key.credential_id, counter=10
    )
    options = service.webauthn_authentication_options(tenant.id, rp_id=RP_ID, session_id=ticket.session_id)
    with pytest.raises(InvalidCode):
        service.step_up_webauthn(
            tenant.id, ticket.session_id, phish.sign(options), rp_id=RP_ID, origin=ORIGIN
        )
    no_uv = SoftAuthenticator(
        RP_ID, ORIGIN, key=key.key, credential_id=key.credential_id, counter=20, user_verified=False
    )
    options = service.webauthn_authentication_options(tenant.id, rp_id=RP_ID, session_id=ticket.session_id)
    with pytest.raises(InvalidCode):  # role-group account: user verification required
        service.step_up_webauthn(
            tenant.id, ticket.session_id, no_uv.sign(options), rp_id=RP_ID, origin=ORIGIN
        )


def test_registration_needs_fresh_sign_in(db: Database, clock: FakeClock, tenant: TenantHandle) -> None:
    service, ticket, _ = _admin_with_totp(db, clock, tenant)
    clock.advance(timedelta(minutes=6))
    with pytest.raises(FreshSignInRequired):
        service.webauthn_registration_options(tenant.id, ticket.session_id, rp_id=RP_ID)


def test_refused_assertions_are_throttled(db: Database, clock: FakeClock, tenant: TenantHandle) -> None:
    """WebAuthn has its own counter, as the OTP and recovery codes do: after the free failures even a valid
    assertion waits (nothing is verified while throttled), and a success resets the count."""
    service, ticket, _ = _admin_with_totp(db, clock, tenant)
    key = SoftAuthenticator(RP_ID, ORIGIN)
    options = service.webauthn_registration_options(tenant.id, ticket.session_id, rp_id=RP_ID)
    service.register_webauthn(
        tenant.id, ticket.session_id, key.register(options), rp_id=RP_ID, origin=ORIGIN, name="k"
    )
    phish = SoftAuthenticator(RP_ID, "https://evil.example", key=key.key, credential_id=key.credential_id)
    for _ in range(service.lockout.free_failures + 1):  # the free ones, and one that sets a delay
        options = service.webauthn_authentication_options(
            tenant.id, rp_id=RP_ID, session_id=ticket.session_id
        )
        with pytest.raises(InvalidCode):
            service.step_up_webauthn(
                tenant.id, ticket.session_id, phish.sign(options), rp_id=RP_ID, origin=ORIGIN
            )
    options = service.webauthn_authentication_options(tenant.id, rp_id=RP_ID, session_id=ticket.session_id)
    valid = key.sign(options, counter=1)
    with pytest.raises(SignInThrottled) as throttled:
        service.step_up_webauthn(tenant.id, ticket.session_id, valid, rp_id=RP_ID, origin=ORIGIN)
    clock.advance(timedelta(seconds=throttled.value.retry_after))
    service.step_up_webauthn(tenant.id, ticket.session_id, valid, rp_id=RP_ID, origin=ORIGIN)  # not consumed
    # The success reset the counter: the free failures are free again.
    for _ in range(service.lockout.free_failures):
        options = service.webauthn_authentication_options(
            tenant.id, rp_id=RP_ID, session_id=ticket.session_id
        )
        with pytest.raises(InvalidCode):
            service.step_up_webauthn(
                tenant.id, ticket.session_id, phish.sign(options), rp_id=RP_ID, origin=ORIGIN
            )
