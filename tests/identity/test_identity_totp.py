"""TOTP: RFC 6238 Appendix B vectors, the ±1 window, and "each step accepted once" — persisted, across two
Database objects on one file (two processes) and under a thread race."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from _identity_helpers import PASSWORD, code_at, make_service

from mailwarden.clock import FakeClock
from mailwarden.identity import (
    InvalidCode,
    SignInThrottled,
    TotpParams,
    otpauth_uri,
    secret_from_base32,
    totp,
    verify_totp,
)
from mailwarden.store import Database

from conftest import TenantHandle

# RFC 6238 Appendix B: seeds are the ASCII strings below (20/32/64 bytes for SHA-1/256/512), 8 digits, X=30.
SEEDS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("t", "sha1", "sha256", "sha512"), VECTORS)
def test_rfc6238_appendix_b(t: int, sha1: str, sha256: str, sha512: str) -> None:
    for algorithm, expected in (("SHA1", sha1), ("SHA256", sha256), ("SHA512", sha512)):
        params = TotpParams(algorithm=algorithm, digits=8)  # type: ignore[arg-type]
        assert totp(SEEDS[algorithm], t, params) == expected
        step = verify_totp(SEEDS[algorithm], expected, t, last_step=None, params=params)
        assert step == t // 30


def test_window_is_one_step_either_side() -> None:
    key = SEEDS["SHA1"]
    now = 1_700_000_000
    for offset in (-1, 0, 1):
        verify_totp(key, totp(key, now + 30 * offset), now, last_step=None)
    for offset in (-2, 2):
        with pytest.raises(InvalidCode):
            verify_totp(key, totp(key, now + 30 * offset), now, last_step=None)


def test_replay_and_older_steps_refused() -> None:
    key = SEEDS["SHA1"]
    now = 1_700_000_000
    step = verify_totp(key, totp(key, now), now, last_step=None)
    with pytest.raises(InvalidCode):
        verify_totp(key, totp(key, now), now, last_step=step)
    with pytest.raises(InvalidCode):
        verify_totp(key, totp(key, now - 30), now, last_step=step)
    assert verify_totp(key, totp(key, now + 30), now, last_step=step) == step + 1


@pytest.mark.parametrize(
    "bad", ["", "12345", "1234567", "abcdef", "\uff11\uff12\uff13\uff14\uff15\uff16", "12 34 5"]
)
def test_malformed_codes_raise(bad: str) -> None:
    with pytest.raises(InvalidCode):
        verify_totp(SEEDS["SHA1"], bad, 1_700_000_000, last_step=None)


def test_otpauth_uri_roundtrip() -> None:
    uri = otpauth_uri(SEEDS["SHA1"], account="ann@contoso.com", issuer="mailwarden")
    assert uri.startswith("otpauth://totp/mailwarden:ann@contoso.com?secret=")
    assert "digits=6" in uri
    assert "period=30" in uri
    secret = uri.split("secret=")[1].split("&")[0]
    assert secret_from_base32(secret) == SEEDS["SHA1"]


def _enrolled(db: Database, clock: FakeClock, tenant: TenantHandle) -> tuple[str, str]:
    service = make_service(db, clock)
    user = service.create_user(tenant.id, f"ann@{tenant.domain}", PASSWORD)
    enrolment = service.operator_enroll_totp(tenant.id, user.user_id)
    return user.user_id, enrolment.secret_base32


def test_code_accepted_once_also_from_a_second_database(
    db: Database, database_url: str, clock: FakeClock, tenant: TenantHandle
) -> None:
    user_id, secret = _enrolled(db, clock, tenant)
    service = make_service(db, clock)
    code = code_at(secret, clock)
    service.verify_totp_code(tenant.id, user_id, code)
    with pytest.raises(InvalidCode):
        service.verify_totp_code(tenant.id, user_id, code)
    other_db = Database(database_url)  # a second "process": its own engine and connection pool
    try:
        with pytest.raises(InvalidCode):
            make_service(other_db, clock).verify_totp_code(tenant.id, user_id, code)
        # The previous step is older than the accepted one: refused too; the next step works once.
        with pytest.raises(InvalidCode):
            make_service(other_db, clock).verify_totp_code(tenant.id, user_id, code_at(secret, clock, -1))
        make_service(other_db, clock).verify_totp_code(tenant.id, user_id, code_at(secret, clock, 1))
    finally:
        other_db.dispose()


def test_code_from_two_steps_ago_refused(db: Database, clock: FakeClock, tenant: TenantHandle) -> None:
    user_id, secret = _enrolled(db, clock, tenant)
    old = code_at(secret, clock)
    clock.advance(timedelta(seconds=60))
    with pytest.raises(InvalidCode):
        make_service(db, clock).verify_totp_code(tenant.id, user_id, old)


def test_racing_threads_accept_a_code_once(
    db: Database, database_url: str, clock: FakeClock, tenant: TenantHandle
) -> None:
    user_id, secret = _enrolled(db, clock, tenant)
    code = code_at(secret, clock)
    second = Database(database_url)
    services = [make_service(db, clock), make_service(second, clock)]
    accepted: list[int] = []
    refused: list[int] = []
    barrier = threading.Barrier(8)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            services[i % 2].verify_totp_code(tenant.id, user_id, code)
        except (InvalidCode, SignInThrottled):  # replays count as failures: back-off may answer first
            refused.append(i)
        else:
            accepted.append(i)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    second.dispose()
    assert len(accepted) == 1
    assert len(refused) == 7
