"""The "security info" pages through HTTP: listing factors, removing one and resetting the authenticator app need
a step-up (a second factor within the last 5 minutes) — the pages send the user to step-up and back; an admin
cannot remove the last second factor; forms are CSRF-protected; every change is audited. Real TOTP codes
(RFC 6238, computed here independently of the implementation) and a FakeClock."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from _identity_helpers import PASSWORD, csrf_of, post_password, service_of, totp
from sqlalchemy import select
from starlette.testclient import TestClient

from mailwarden.clock import FakeClock
from mailwarden.store import Database
from mailwarden.store._audit_models import AuditRecord

from conftest import TenantHandle


def _security(tenant: TenantHandle) -> str:
    return f"/{tenant.domain}/login/account/security"


def _sign_in_with_totp(
    client: TestClient, tenant: TenantHandle, upn: str, secret: str, clock: FakeClock
) -> None:
    response = post_password(client, tenant, upn, PASSWORD)
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    done = client.post(
        f"/{tenant.domain}/login/mfa",
        data={"csrf": csrf_of(page.text), "method": "totp", "code": totp(secret, clock), "return_to": "/x"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert client.cookies.get("mw_session")


def _post(client: TestClient, tenant: TenantHandle, path: str, **fields: str) -> Any:
    page = client.get(_security(tenant))
    assert page.status_code == 200, page.text
    return client.post(
        f"{_security(tenant)}{path}", data={"csrf": csrf_of(page.text), **fields}, follow_redirects=False
    )


def _factors(client: TestClient, tenant: TenantHandle) -> list[tuple[str, str]]:
    page = client.get(_security(tenant)).text
    return re.findall(
        r'name="kind" value="([a-z_]+)">\s*<input type="hidden" name="factor_id" value="([^"]+)"', page
    )


def _security_records(db: Database, tenant_id: str) -> list[dict[str, Any]]:
    with db.unit_of_work(write=False) as uow:
        rows = uow.session.scalars(
            select(AuditRecord)
            .where(
                AuditRecord.tenant_id == tenant_id,
                AuditRecord.operation.in_(["User registered security info", "User deleted security info"]),
            )
            .order_by(AuditRecord.seq)
        )
        return [dict(r.data) for r in rows]


def _step_up(client: TestClient, tenant: TenantHandle, location: str, code: str) -> Any:
    assert urlsplit(location).path == f"/{tenant.domain}/login/stepup"
    return_to = parse_qs(urlsplit(location).query)["return_to"][0]
    assert return_to == _security(tenant)
    page = client.get(location)
    assert "Confirm it" in page.text
    return client.post(
        f"/{tenant.domain}/login/stepup",
        data={"csrf": csrf_of(page.text), "method": "totp", "code": code, "return_to": return_to},
        follow_redirects=False,
    )


def test_admin_changes_factors_with_step_up_and_keeps_one(
    app_client: TestClient, tenant: TenantHandle, clock: FakeClock, db: Database
) -> None:
    service = service_of(app_client)
    upn = f"adm@{tenant.domain}"
    user = service.create_user(tenant.id, upn, PASSWORD, role_groups=["Organization Management"])
    old_secret = service.operator_enroll_totp(tenant.id, user.user_id).secret_base32
    _sign_in_with_totp(app_client, tenant, upn, old_secret, clock)
    baseline = len(_security_records(db, tenant.id))
    assert app_client.get(f"/{tenant.domain}/login/account").text.count("/login/account/security") == 1

    # Six minutes later the second factor of the sign-in is no longer recent: removing asks for step-up.
    clock.advance(6 * 60)
    factors = _factors(app_client, tenant)
    assert [kind for kind, _ in factors] == ["totp"]
    totp_id = factors[0][1]
    ask = _post(app_client, tenant, "/remove", kind="totp", factor_id=totp_id)
    assert ask.status_code == 303
    assert _factors(app_client, tenant) == factors
    # A forged form does nothing.
    forged = app_client.post(
        f"{_security(tenant)}/remove", data={"csrf": "forged", "kind": "totp", "factor_id": totp_id}
    )
    assert forged.status_code == 400
    assert _factors(app_client, tenant) == factors
    # Step-up with a wrong code fails; the right one goes back to the security page.
    good = totp(old_secret, clock)
    wrong = _step_up(app_client, tenant, ask.headers["location"], f"{(int(good) + 1) % 1_000_000:06d}")
    assert wrong.status_code == 200
    assert "didn" in wrong.text
    with db.unit_of_work(write=False) as uow:
        failed = uow.session.scalars(
            select(AuditRecord).where(
                AuditRecord.tenant_id == tenant.id, AuditRecord.operation == "UserLoginFailed"
            )
        ).all()
    assert [r.data["LogonError"] for r in failed] == ["InvalidMfaCode"]
    assert {"Name": "stage", "Value": "step_up"} in failed[0].data["ExtendedProperties"]
    back = _step_up(app_client, tenant, ask.headers["location"], good)
    assert back.status_code == 303
    assert back.headers["location"] == _security(tenant)

    # Stepped up, but it is the admin's only second factor: refused, and nothing is deleted or audited.
    last = _post(app_client, tenant, "/remove", kind="totp", factor_id=totp_id)
    assert last.status_code == 409
    assert "last second factor" in last.text
    assert _factors(app_client, tenant) == factors
    assert len(_security_records(db, tenant.id)) == baseline

    # Reset the authenticator app: a new secret, confirmed with a code from it; recovery codes come with it.
    enrol = _post(app_client, tenant, "/totp")
    assert enrol.status_code == 200, enrol.text
    new_secret = re.search(r"<code>([A-Z2-7]+)</code>", enrol.text)
    assert new_secret is not None
    assert new_secret.group(1) != old_secret
    assert f'action="{_security(tenant)}/totp/confirm"' in enrol.text
    bad = app_client.post(
        f"{_security(tenant)}/totp/confirm", data={"csrf": csrf_of(enrol.text), "code": "000000"}
    )
    assert "didn" in bad.text
    clock.advance(30)
    confirmed = app_client.post(
        f"{_security(tenant)}/totp/confirm",
        data={"csrf": csrf_of(enrol.text), "code": totp(new_secret.group(1), clock)},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert len(re.findall(r"<li>[0-9A-Z]{5}-[0-9A-Z]{5}</li>", confirmed.text)) == 10
    kinds = [kind for kind, _ in _factors(app_client, tenant)]
    assert kinds == ["totp", "recovery_codes"]

    # The recovery codes can go (still within 5 minutes of the last second factor); the app cannot.
    removed = _post(app_client, tenant, "/remove", kind="recovery_codes", factor_id="recovery")
    assert removed.status_code == 200
    assert "removed" in removed.text
    new_totp_id = _factors(app_client, tenant)[0][1]
    assert _post(app_client, tenant, "/remove", kind="totp", factor_id=new_totp_id).status_code == 409

    records = _security_records(db, tenant.id)[baseline:]
    assert [r["Operation"] for r in records] == [
        "User registered security info",  # the new authenticator app
        "User registered security info",  # its recovery codes
        "User deleted security info",
    ]
    props = [{p["Name"]: p["Value"] for p in r["ExtendedProperties"]} for r in records]
    assert props[0]["method"] == "totp"
    assert props[2]["method"] == "recovery_codes"
    assert all(r["UserId"] == upn and r["RecordType"] == 8 for r in records)

    # The old app's codes no longer work for step-up; the new one's do.
    clock.advance(6 * 60)
    ask = _post(app_client, tenant, "/totp")
    assert ask.status_code == 303
    assert "didn" in _step_up(app_client, tenant, ask.headers["location"], totp(old_secret, clock)).text
    assert (
        _step_up(app_client, tenant, ask.headers["location"], totp(new_secret.group(1), clock)).status_code
        == 303
    )


def test_user_without_role_group_may_remove_the_last_factor(
    app_client: TestClient, tenant: TenantHandle, clock: FakeClock, db: Database
) -> None:
    service = service_of(app_client)
    upn = f"ann@{tenant.domain}"
    user = service.create_user(tenant.id, upn, PASSWORD)
    secret = service.operator_enroll_totp(tenant.id, user.user_id).secret_base32
    _sign_in_with_totp(app_client, tenant, upn, secret, clock)
    # The sign-in's own second factor is recent: no extra step-up needed.
    [(kind, factor_id)] = _factors(app_client, tenant)
    assert kind == "totp"
    removed = _post(app_client, tenant, "/remove", kind="totp", factor_id=factor_id)
    assert removed.status_code == 200
    assert _factors(app_client, tenant) == []
    assert _security_records(db, tenant.id)[-1]["Operation"] == "User deleted security info"
    # Unknown factors and junk are refused without a server error.
    assert _post(app_client, tenant, "/remove", kind="totp", factor_id=factor_id).status_code == 404
    assert _post(app_client, tenant, "/remove", kind="password", factor_id="1").status_code == 400
    assert _post(app_client, tenant, "/remove", kind="webauthn", factor_id="1 or 1=1").status_code == 400
    # Enrolling needs a sign-in within the last 5 minutes; with no factor left to step up with, that means
    # signing in again.
    clock.advance(6 * 60)
    again = _post(app_client, tenant, "/totp")
    assert again.status_code == 303
    assert urlsplit(again.headers["location"]).path == f"/{tenant.domain}/login"
    # Signed out, the page sends the browser to sign in.
    app_client.cookies.delete("mw_session")
    page = app_client.get(_security(tenant), follow_redirects=False)
    assert page.status_code == 303
    assert urlsplit(page.headers["location"]).path == f"/{tenant.domain}/login"
