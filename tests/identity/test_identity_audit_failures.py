"""Failed and throttled sign-ins in the unified audit log, through the HTTP sign-in pages: every wrong password,
wrong second-factor code and throttled/locked attempt is an AzureActiveDirectoryStsLogon (RecordType 15)
``UserLoginFailed`` record, ``ResultStatus`` Failed, with the ``LogonError`` names documented in
``audit/_identity_events``; the records survive the refused attempt's rollback, and an unknown account's
records look exactly like a known account's."""

from __future__ import annotations

from typing import Any

from _identity_helpers import PASSWORD, csrf_of, post_password, service_of, totp
from sqlalchemy import select
from starlette.testclient import TestClient

from mailwarden.clock import FakeClock
from mailwarden.store import Database
from mailwarden.store._audit_models import AuditRecord
from mailwarden.store._identity_models import LoginThrottle

from conftest import TenantHandle


def failed_records(db: Database, tenant_id: str) -> list[dict[str, Any]]:
    with db.unit_of_work(write=False) as uow:
        rows = uow.session.scalars(
            select(AuditRecord)
            .where(AuditRecord.tenant_id == tenant_id, AuditRecord.operation == "UserLoginFailed")
            .order_by(AuditRecord.seq)
        )
        return [dict(r.data) for r in rows]


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    """What may differ between two attempts: ids, times, addresses and the typed name itself."""
    typed = record["UserId"]
    drop = {"Id", "CreationTime", "ClientIP", "ActorIpAddress", "SequenceNumber"}
    out = {k: v for k, v in record.items() if k not in drop}
    return {k: (str(v).replace(typed, "<typed>") if isinstance(v, str | list) else v) for k, v in out.items()}


def test_password_failures_and_lockout_are_audited_alike_for_unknown_accounts(
    app_client: TestClient, tenant: TenantHandle, db: Database
) -> None:
    service = service_of(app_client)
    service.create_user(tenant.id, f"ann@{tenant.domain}", PASSWORD)
    for who, ip in (("ann", "192.0.2.21"), ("nobody", "192.0.2.22")):
        with TestClient(app_client.app, base_url="http://testserver", client=(ip, 50000)) as client:
            # Four attempts cost nothing; then the back-off refuses the fifth (identity/_lockout).
            for _ in range(4):
                assert (
                    post_password(client, tenant, f"{who}@{tenant.domain}", "wrong password 1").status_code
                    == 200
                )
            assert (
                post_password(client, tenant, f"{who}@{tenant.domain}", "wrong password 1").status_code == 429
            )
    records = failed_records(db, tenant.id)
    by_user: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_user.setdefault(record["UserId"], []).append(record)
    ann, nobody = by_user[f"ann@{tenant.domain}"], by_user[f"nobody@{tenant.domain}"]
    assert [r["LogonError"] for r in ann] == ["InvalidUserNameOrPassword"] * 4 + ["IdsLocked"]
    assert [r["ErrorNumber"] for r in ann] == ["50126"] * 4 + ["50053"]
    for record in ann + nobody:
        assert record["RecordType"] == 15
        assert record["ResultStatus"] == "Failed"
        assert record["Workload"] == "AzureActiveDirectory"
    # Same shape AND same values once the typed name, ids, times and IPs are set aside: the audit log does not
    # tell whether "ann" exists.
    assert [_comparable(r) for r in ann] == [_comparable(r) for r in nobody]
    assert ann[0]["UserKey"] == f"ann@{tenant.domain}"
    assert ann[-1]["ClientIP"] == "192.0.2.21"
    # The throttled attempt's own transaction was rolled back (no fifth failure counted) — the record was not.
    with db.unit_of_work(write=False) as uow:
        counter = uow.session.scalar(
            select(LoginThrottle.failures).where(
                LoginThrottle.tenant_id == tenant.id, LoginThrottle.key == f"acct:ann@{tenant.domain}"
            )
        )
    assert counter == 4


def _signed_in_to_mfa(client: TestClient, tenant: TenantHandle, upn: str) -> str:
    """Password accepted: the browser holds a pending sign-in; returns the MFA page's HTML."""
    response = post_password(client, tenant, upn, PASSWORD)
    assert response.status_code == 303
    assert urlpath(response.headers["location"]) == f"/{tenant.domain}/login/mfa"
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    return page.text


def urlpath(location: str) -> str:
    return location.split("?", 1)[0]


def test_failed_and_throttled_second_factor_is_audited(
    app_client: TestClient, tenant: TenantHandle, db: Database, clock: FakeClock
) -> None:
    service = service_of(app_client)
    upn = f"adm@{tenant.domain}"
    user = service.create_user(tenant.id, upn, PASSWORD, role_groups=["Organization Management"])
    secret = service.operator_enroll_totp(tenant.id, user.user_id).secret_base32
    before = len(failed_records(db, tenant.id))

    page = _signed_in_to_mfa(app_client, tenant, upn)
    good = totp(secret, clock)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    refused = app_client.post(
        f"/{tenant.domain}/login/mfa",
        data={"csrf": csrf_of(page), "method": "totp", "code": wrong, "return_to": "/x"},
        follow_redirects=False,
    )
    assert refused.status_code == 200
    assert "didn" in refused.text
    refused_rc = app_client.post(
        f"/{tenant.domain}/login/mfa",
        data={"csrf": csrf_of(page), "method": "recovery_code", "code": "AAAAA-BBBBB", "return_to": "/x"},
        follow_redirects=False,
    )
    assert refused_rc.status_code == 200
    records = failed_records(db, tenant.id)[before:]
    assert [(r["LogonError"], r["ErrorNumber"]) for r in records] == [("InvalidMfaCode", "500121")] * 2
    props = [{p["Name"]: p["Value"] for p in r["ExtendedProperties"]} for r in records]
    assert [(p["method"], p["stage"]) for p in props] == [("totp", "sign_in"), ("recovery_code", "sign_in")]
    assert {r["UserId"] for r in records} == {upn}
    assert {r["UserKey"] for r in records} == {user.user_id}
    assert all(r["ResultStatus"] == "Failed" and r["RecordType"] == 15 for r in records)

    # Keep failing the TOTP until the OTP counter throttles: that attempt is audited as IdsLocked.
    statuses = []
    for _ in range(4):
        response = app_client.post(
            f"/{tenant.domain}/login/mfa",
            data={"csrf": csrf_of(page), "method": "totp", "code": wrong, "return_to": "/x"},
            follow_redirects=False,
        )
        statuses.append("Too many attempts" in response.text)
    assert statuses[-1], statuses
    throttled = [r for r in failed_records(db, tenant.id) if r["LogonError"] == "IdsLocked"]
    assert throttled
    assert {p["Name"]: p["Value"] for p in throttled[-1]["ExtendedProperties"]}["stage"] == "sign_in"
    assert throttled[-1]["UserId"] == upn
    assert throttled[-1]["ErrorNumber"] == "50053"
    # After the back-off the right code signs in (the refusals above were real refusals, not breakage).
    clock.advance(2)
    ok = app_client.post(
        f"/{tenant.domain}/login/mfa",
        data={"csrf": csrf_of(page), "method": "totp", "code": totp(secret, clock), "return_to": "/x"},
        follow_redirects=False,
    )
    assert ok.status_code == 303, ok.text
    assert app_client.cookies.get("mw_session")
