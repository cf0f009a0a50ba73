"""Identity and token events in the unified audit log: sign-in success/failure (RecordType 15 with LogonError
and amr), security-info changes (RecordType 8), conditional-access denials (high severity), token grants and
refresh-token reuse (family revoked, high severity) — through the app's own identity service and token
endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from mailwarden.clock import FakeClock, utcnow
from mailwarden.errors import AccessDeniedError
from mailwarden.identity import IdentityService, InvalidCredentials, UserInfo
from mailwarden.oauth import (
    DELEGATED_SCOPE,
    RESOURCE,
    Lifetimes,
    SignIn,
    SigningKeys,
    SqlStore,
    TokenService,
    issuer_for,
    parse_scopes,
    register_app,
)
from mailwarden.oauth._tokens import TokenMinter
from mailwarden.store import Database, SecretBox
from mailwarden.store._audit_models import AuditRecord

from conftest import FAST_HASHING, SECRET, TEST_PASSWORD, TenantHandle, ensure_builtin_clients_id


def _records(db: Database, tenant_id: str) -> list[AuditRecord]:
    with db.unit_of_work(write=False) as uow:
        return list(
            uow.session.scalars(
                select(AuditRecord).where(AuditRecord.tenant_id == tenant_id).order_by(AuditRecord.seq)
            )
        )


def _identity(app_client: TestClient) -> IdentityService:
    service: IdentityService = app_client.app.state.identity  # type: ignore[attr-defined]
    service.hashing = FAST_HASHING
    return service


def test_sign_in_success_and_failure(app_client: TestClient, tenant: TenantHandle, db: Database) -> None:
    identity = _identity(app_client)
    user = identity.create_user(tenant.id, f"ada@{tenant.domain}", TEST_PASSWORD)
    with pytest.raises(InvalidCredentials):
        identity.sign_in_password(tenant.id, user.upn, "wrong password 123", ip="198.51.100.7")
    with pytest.raises(InvalidCredentials):
        identity.sign_in_password(tenant.id, f"ghost@{tenant.domain}", "whatever 12345", ip="198.51.100.8")
    ticket = identity.sign_in_password(tenant.id, user.upn, TEST_PASSWORD, ip="198.51.100.7")
    records = _records(db, tenant.id)
    assert [r.data["Operation"] for r in records] == [
        "Add user.",
        "UserLoginFailed",
        "UserLoginFailed",
        "UserLoggedIn",
    ]
    created, failed, unknown, ok = (r.data for r in records)
    assert created["RecordType"] == 8
    assert created["UserId"] == user.upn
    assert failed["RecordType"] == 15
    assert failed["ResultStatus"] == "Failed"
    assert failed["LogonError"] == "InvalidUserNameOrPassword"
    assert failed["ErrorNumber"] == "50126"
    assert failed["UserId"] == user.upn
    assert failed["ClientIP"] == "198.51.100.7"
    # Attributed to the attempted name, like a known account's (no enumeration through the audit log).
    assert unknown["UserId"] == f"ghost@{tenant.domain}"
    assert unknown.keys() == failed.keys()
    assert unknown["LogonError"] == "InvalidUserNameOrPassword"
    assert ok["RecordType"] == 15
    assert ok["ResultStatus"] == "Success"
    assert ok["amr"] == ["pwd"]
    assert ok["SessionId"] == ticket.session_id
    assert "LogonError" not in ok
    assert not any(r.high_severity for r in records)


def test_mfa_changes_and_recovery_codes(app_client: TestClient, tenant: TenantHandle, db: Database) -> None:
    identity = _identity(app_client)
    user = identity.create_user(tenant.id, f"ada@{tenant.domain}", TEST_PASSWORD)
    identity.operator_enroll_totp(tenant.id, user.user_id)
    identity.reset_factors(tenant.id, user.user_id)
    by_op = {r.data["Operation"]: r for r in _records(db, tenant.id)}
    added = by_op["Admin registered security info"]
    assert added.record_type == 8
    assert {"Name": "method", "Value": "totp"} in added.data["ExtendedProperties"]
    removed = by_op["Admin deleted security info"]
    assert removed.record_type == 8
    assert removed.high_severity


def test_conditional_access_denial_is_high_severity(
    app_client: TestClient, tenant: TenantHandle, db: Database
) -> None:
    identity = _identity(app_client)
    user = identity.create_user(tenant.id, f"ada@{tenant.domain}", TEST_PASSWORD)
    identity.add_location(tenant.id, "Office", ["198.51.100.0/24"])
    identity.add_policy(
        tenant.id, "Office only", "block_outside_locations", all_users=True, locations=["Office"]
    )
    with pytest.raises(AccessDeniedError):
        identity.check_access(
            tenant.id, user_id=user.user_id, app_id=None, amr=("pwd",), ip="203.0.113.9", stage="token"
        )
    denial = [r for r in _records(db, tenant.id) if r.data.get("LogonError") == "BlockedByConditionalAccess"]
    assert len(denial) == 1
    assert denial[0].high_severity
    assert denial[0].record_type == 15
    assert denial[0].data["ConditionalAccessPolicy"] == "Office only"
    assert denial[0].data["ErrorNumber"] == "53003"
    assert denial[0].data["ClientIP"] == "203.0.113.9"


@dataclass(frozen=True)
class _Family:
    family_id: str
    token: str


def _refresh_family(
    identity: IdentityService, tenant: TenantHandle, db: Database, clock: FakeClock
) -> tuple[UserInfo, str, _Family]:
    """A user signed in with a password and a refresh-token family of the built-in CLI client."""
    user = identity.create_user(tenant.id, f"ada@{tenant.domain}", TEST_PASSWORD)
    ticket = identity.sign_in_password(tenant.id, user.upn, TEST_PASSWORD, ip="127.0.0.1")
    cli_id = ensure_builtin_clients_id(db, tenant.id)
    keys = SigningKeys(db, SecretBox(SECRET.encode()), clock)
    keys.signing_key()  # created in a transaction of its own, before the grant's
    service = TokenService(TokenMinter(keys), lambda: identity, Lifetimes(), clock)
    sign_in = SignIn(user.user_id, user.upn, user.display_name, ("pwd",), "1", 0, ticket.session_id, ())
    with db.unit_of_work() as uow:
        store = SqlStore(uow.session)
        client = store.client(tenant.id, cli_id)
        assert client is not None
        body, family = service.prepare_for_user(
            store,
            issuer=issuer_for("http://testserver", tenant.id),
            client=client,
            sign_in=sign_in,
            scopes=parse_scopes(f"{RESOURCE}/{DELEGATED_SCOPE} offline_access"),
            ip="127.0.0.1",
        )
    assert family is not None
    return user, cli_id, _Family(family.id, body["refresh_token"])


def _token(client: TestClient, domain: str, **form: str) -> Any:
    return client.post(f"/{domain}/oauth2/v2.0/token", data=form)


def test_token_grants_and_failures(
    app_client: TestClient, tenant: TenantHandle, db: Database, clock: FakeClock
) -> None:
    with db.unit_of_work() as uow:
        client_id, secret = register_app(
            uow.session, tenant.id, name="Nightly job", now=utcnow(clock), with_secret=True
        )
    assert secret is not None
    form = {"grant_type": "client_credentials", "scope": "api://mailwarden/.default", "client_id": client_id}
    assert _token(app_client, tenant.domain, **form, client_secret=secret).status_code == 200
    assert _token(app_client, tenant.domain, **form, client_secret="wrong").status_code == 401
    records = [r.data for r in _records(db, tenant.id)]
    issued = [r for r in records if r["Operation"] == "Issue token."]
    assert len(issued) == 1
    assert issued[0]["RecordType"] == 8
    assert issued[0]["UserType"] == 5  # Application
    assert issued[0]["AppId"] == client_id
    assert {"Name": "GrantType", "Value": "client_credentials"} in issued[0]["ExtendedProperties"]
    refused = [r for r in records if r["Operation"] == "UserLoginFailed"]
    assert len(refused) == 1
    assert refused[0]["LogonError"] == "invalid_client"


def test_refresh_token_reuse_is_high_severity(
    app_client: TestClient, tenant: TenantHandle, db: Database, clock: FakeClock
) -> None:
    identity = _identity(app_client)
    user, cli_id, family = _refresh_family(identity, tenant, db, clock)
    refresh = {"grant_type": "refresh_token", "client_id": cli_id, "refresh_token": family.token}
    first = _token(app_client, tenant.domain, **refresh)
    assert first.status_code == 200, first.text
    reused = _token(app_client, tenant.domain, **refresh)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    records = _records(db, tenant.id)
    grants = [r for r in records if r.operation == "Issue token."]
    assert len(grants) == 1
    assert grants[0].data["UserId"] == user.upn
    assert grants[0].data["RefreshTokenIssued"] is True
    assert grants[0].data["amr"] == ["pwd"]
    reuse = [r for r in records if r.operation.startswith("Refresh token reuse")]
    assert len(reuse) == 1
    assert reuse[0].high_severity
    assert reuse[0].data["ObjectId"] == family.family_id
    assert reuse[0].data["UserId"] == user.upn


def test_conditional_access_denies_grants_inside_their_transaction(
    app_client: TestClient, tenant: TenantHandle, db: Database, clock: FakeClock
) -> None:
    """Conditional access runs inside the grant's write transaction; the denial is recorded once, after
    that transaction rolled back (a nested writer would wait on the grant's own lock), and the refused
    grant changed nothing: the refresh token is still unused, the app got no token."""
    identity = _identity(app_client)
    user, cli_id, family = _refresh_family(identity, tenant, db, clock)
    with db.unit_of_work() as uow:
        app_id, secret = register_app(uow.session, tenant.id, name="Job", now=utcnow(clock), with_secret=True)
    assert secret is not None
    identity.add_location(tenant.id, "Office", ["198.51.100.0/24"])  # the test client is outside it
    identity.add_policy(
        tenant.id, "Office only", "block_outside_locations", all_users=True, apps=["*"], locations=["Office"]
    )
    refresh = {"grant_type": "refresh_token", "client_id": cli_id, "refresh_token": family.token}
    app = {
        "grant_type": "client_credentials",
        "scope": "api://mailwarden/.default",
        "client_id": app_id,
        "client_secret": secret,
    }
    for form in (refresh, app):
        refused = _token(app_client, tenant.domain, **form)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "access_denied"
        assert "Office only" in refused.json()["error_description"]
    records = _records(db, tenant.id)
    denials = [r for r in records if r.data.get("LogonError") == "BlockedByConditionalAccess"]
    assert [(d.data["UserId"], d.high_severity) for d in denials] == [(user.upn, True), (app_id, True)]
    assert not [r for r in records if r.operation == "Issue token."]
    events = [e for e in identity.list_events(tenant.id) if e["kind"] == "ca_denied"]
    assert len(events) == 2
    identity.remove_policy(tenant.id, "Office only")
    again = _token(app_client, tenant.domain, **refresh)
    assert again.status_code == 200, again.text  # the refused grant did not rotate the token
    assert _token(app_client, tenant.domain, **app).status_code == 200
