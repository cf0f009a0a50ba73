"""Recovery codes (single use, own throttle, notification event), enrolment freshness, step-up for changes."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from _identity_helpers import PASSWORD, code_at, make_service

from mailwarden.clock import FakeClock
from mailwarden.identity import FreshSignInRequired, InvalidCode, SignInThrottled, StepUpRequired
from mailwarden.store import Database

from conftest import TenantHandle


def test_forced_enrolment_then_recovery_codes_single_use(
    db: Database, clock: FakeClock, tenant: TenantHandle
) -> None:
    events: list[str] = []
    service = make_service(db, clock, audit_hook=lambda uow, event: events.append(event.kind))
    service.create_user(tenant.id, f"adm@{tenant.domain}", PASSWORD, role_groups=["Organization Management"])
    pending = service.sign_in_password(tenant.id, f"adm@{tenant.domain}", PASSWORD, ip="192.0.2.1")
    assert pending.state == "enrol"
    enrolment = service.forced_enrolment(tenant.id, pending.secret)
    assert (
        service.forced_enrolment(tenant.id, pending.secret).secret_base32 == enrolment.secret_base32
    )  # reload-safe
    assert enrolment.qr_svg_data_uri.startswith("data:image/svg+xml")
    with pytest.raises(InvalidCode):
        service.complete_enrolment(
            tenant.id,
            pending.secret,
            "000000" if code_at(enrolment.secret_base32, clock) != "000000" else "111111",
        )
    ticket, codes = service.complete_enrolment(
        tenant.id, pending.secret, code_at(enrolment.secret_base32, clock)
    )
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert service.session_from_secret(tenant.id, ticket.secret).amr == ("pwd", "otp")  # type: ignore[union-attr]

    second = service.sign_in_password(tenant.id, f"adm@{tenant.domain}", PASSWORD, ip="192.0.2.1")
    assert second.state == "pending"
    done = service.complete_with_recovery_code(tenant.id, second.secret, codes[0].lower())
    assert service.session_from_secret(tenant.id, done.secret).amr == ("pwd", "rc")  # type: ignore[union-attr]
    third = service.sign_in_password(tenant.id, f"adm@{tenant.domain}", PASSWORD, ip="192.0.2.1")
    with pytest.raises(InvalidCode):
        service.complete_with_recovery_code(tenant.id, third.secret, codes[0])
    used = [e for e in service.list_events(tenant.id) if e["kind"] == "recovery_code_used"]
    assert len(used) == 1
    assert used[0]["remaining"] == 9
    assert used[0]["notify"] is True
    assert "recovery_code_used" in events  # the audit hook saw it, inside the transaction
    factors = {f.kind: f for f in service.list_factors(tenant.id, ticket.user_id)}
    assert factors["recovery_codes"].remaining == 9


def test_recovery_code_race_and_throttle(db: Database, clock: FakeClock, tenant: TenantHandle) -> None:
    service = make_service(db, clock)
    user = service.create_user(tenant.id, f"ann@{tenant.domain}", PASSWORD)
    secret = service.operator_enroll_totp(tenant.id, user.user_id).secret_base32
    pending = service.sign_in_password(tenant.id, f"ann@{tenant.domain}", PASSWORD, ip="192.0.2.1")
    ticket = service.complete_with_totp(tenant.id, pending.secret, code_at(secret, clock))
    codes = service.regenerate_recovery_codes(tenant.id, ticket.session_id)
    wins: list[int] = []

    def use(i: int) -> None:
        try:
            service.step_up_recovery_code(tenant.id, ticket.session_id, codes[1])
            wins.append(i)
        except (InvalidCode, SignInThrottled):
            pass

    threads = [threading.Thread(target=use, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    throttled = False
    for _ in range(12):
        try:
            service.step_up_recovery_code(tenant.id, ticket.session_id, "AAAAA-AAAAA")
        except SignInThrottled:
            throttled = True
            break
        except InvalidCode:
            pass
    assert throttled


def test_enrolment_needs_fresh_sign_in_and_changes_need_step_up(
    db: Database, clock: FakeClock, tenant: TenantHandle
) -> None:
    service = make_service(db, clock)
    service.create_user(tenant.id, f"ann@{tenant.domain}", PASSWORD)
    ticket = service.sign_in_password(tenant.id, f"ann@{tenant.domain}", PASSWORD, ip="192.0.2.1")
    clock.advance(timedelta(minutes=6))
    assert service.session_from_secret(tenant.id, ticket.secret) is not None
    with pytest.raises(FreshSignInRequired):
        service.begin_totp_enrolment(tenant.id, ticket.session_id)
    fresh = service.sign_in_password(tenant.id, f"ann@{tenant.domain}", PASSWORD, ip="192.0.2.1")
    enrolment = service.begin_totp_enrolment(tenant.id, fresh.session_id)
    codes = service.confirm_totp_enrolment(
        tenant.id, fresh.session_id, code_at(enrolment.secret_base32, clock)
    )
    assert len(codes) == 10
    clock.advance(timedelta(minutes=6))
    # Removing or replacing a factor needs step-up within 5 minutes.
    login = service.sign_in_password(tenant.id, f"ann@{tenant.domain}", PASSWORD, ip="192.0.2.1")
    assert login.state == "pending"
    clock.advance(timedelta(seconds=31))
    active = service.complete_with_totp(tenant.id, login.secret, code_at(enrolment.secret_base32, clock))
    clock.advance(timedelta(minutes=6))
    with pytest.raises(StepUpRequired):
        service.remove_factor(tenant.id, active.session_id, "totp")
    with pytest.raises((StepUpRequired, FreshSignInRequired)):
        service.begin_totp_enrolment(tenant.id, active.session_id)
    clock.advance(timedelta(seconds=31))
    service.step_up_totp(tenant.id, active.session_id, code_at(enrolment.secret_base32, clock))
    service.remove_factor(tenant.id, active.session_id, "totp")
    assert [f.kind for f in service.list_factors(tenant.id, active.user_id)] == ["recovery_codes"]
    kinds = [e["kind"] for e in service.list_events(tenant.id, active.user_id)]
    assert "mfa_removed" in kinds
    assert "step_up" in kinds
