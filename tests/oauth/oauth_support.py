"""Test doubles and helpers for the OAuth tests. ``FakeIdentity`` stands in for the *collaborator*
(``mailwarden.identity.IdentityService``) only — the grants, tokens and endpoints under test are the real ones."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from mailwarden.errors import AccessDeniedError


@dataclass(frozen=True)
class FakeSignedIn:
    tenant_id: str
    user_id: str
    upn: str
    display_name: str
    amr: tuple[str, ...]
    acr: str
    auth_time: datetime
    session_id: str
    role_groups: tuple[str, ...]


@dataclass(frozen=True)
class FakeUserInfo:
    upn: str
    display_name: str
    disabled: bool
    role_groups: tuple[str, ...]


@dataclass
class FakeIdentity:
    signed_in: FakeSignedIn | None = None
    users: dict[str, FakeUserInfo] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    blocked_ips: set[str] = field(default_factory=set)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def sign_in(
        self,
        tenant_id: str,
        *,
        amr: tuple[str, ...] = ("pwd", "otp"),
        role_groups: tuple[str, ...] = (),
        upn: str = "ada@example.com",
    ) -> FakeSignedIn:
        user_id = secrets.token_hex(8)
        user = FakeSignedIn(
            tenant_id, user_id, upn, "Ada", amr, "2" if len(amr) > 1 else "1", datetime(2026, 1, 1),
            secrets.token_hex(8), role_groups,
        )  # fmt: skip
        self.users[user_id] = FakeUserInfo(upn, "Ada", False, role_groups)
        self.signed_in = user
        return user

    def current_user(self, request: Any, tenant_id: str) -> FakeSignedIn | None:
        if self.signed_in is not None and self.signed_in.tenant_id == tenant_id:
            return self.signed_in
        return None

    def login_url(self, tenant_ref: str, return_to: str) -> str:
        return f"/{tenant_ref}/login?return_to={quote(return_to)}"

    def session_active(self, session_id: str, *, session: Any = None) -> bool:
        return session_id not in self.revoked

    def get_user(self, tenant_id: str, user_id: str, *, session: Any = None) -> FakeUserInfo | None:
        return self.users.get(user_id)

    def check_access(
        self,
        tenant_id: str,
        *,
        user_id: str | None,
        app_id: str | None,
        amr: tuple[str, ...],
        ip: str,
        stage: Literal["token", "call"],
        session: Any = None,
    ) -> None:
        self.calls.append((stage, ip))
        if ip in self.blocked_ips:
            raise AccessDeniedError(
                f"Access is blocked by the conditional access policy 'Office only' ({stage})."
            )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def b64json(part: str) -> dict[str, Any]:
    import json

    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


# --- an app with the fake identity ------------------------------------------------------------------------

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from mailwarden.api import create_app  # noqa: E402
from mailwarden.clock import FakeClock, utcnow  # noqa: E402
from mailwarden.config import Settings  # noqa: E402
from mailwarden.directory import create_tenant  # noqa: E402
from mailwarden.oauth import ensure_builtin_clients, register_app  # noqa: E402
from mailwarden.rbac import add_principal_to_role_groups  # noqa: E402
from mailwarden.store import Database  # noqa: E402

OFFICE_IP = "198.51.100.7"
HOME_IP = "203.0.113.9"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
API_SCOPE = "api://mailwarden/Exchange.Manage"


@dataclass
class Env:
    client: TestClient
    identity: FakeIdentity
    clock: FakeClock
    db: Database
    tenant_id: str
    domain: str
    cli_client_id: str
    app: Any
    members: set[tuple[str, str]] = field(default_factory=set)

    @property
    def root(self) -> str:
        return f"/{self.domain}/oauth2/v2.0"

    def token(self, ip: str = OFFICE_IP, headers: dict[str, str] | None = None, **form: str) -> Any:
        return self.with_ip(ip).post(f"{self.root}/token", data=form, headers=headers or {})

    def with_ip(self, ip: str) -> TestClient:
        client = TestClient(self.app, base_url="http://testserver", client=(ip, 50000))
        return client

    def member(self, kind: str, ref: str) -> None:
        """RBAC: make the principal a member of Organization Management (the API authorizes every call)."""
        if (kind, ref) in self.members:
            return
        self.members.add((kind, ref))
        with self.db.unit_of_work() as uow:
            add_principal_to_role_groups(uow.session, self.tenant_id, kind, ref, ["Organization Management"])

    def register_app(self, *, secret: bool = False, cert_pem: bytes | None = None) -> tuple[str, str | None]:
        with self.db.unit_of_work() as uow:
            made = register_app(
                uow.session, self.tenant_id, name="Nightly job", now=utcnow(self.clock), cert_pem=cert_pem,
                with_secret=secret,
            )  # fmt: skip
        self.member("app", made[0])
        return made

    def invoke(self, token: str, ip: str = OFFICE_IP) -> Any:
        return self.with_ip(ip).post(
            f"/adminapi/beta/{self.domain}/InvokeCommand",
            json={"CmdletInput": {"CmdletName": "Get-AcceptedDomain"}},
            headers={"Authorization": f"Bearer {token}"},
        )

    def device_login(self, *, scope: str = f"{API_SCOPE} openid profile offline_access") -> dict[str, Any]:
        """Start a device flow and approve it as the fake identity's signed-in user."""
        flow = self.client.post(
            f"{self.root}/devicecode", data={"client_id": self.cli_client_id, "scope": scope}
        )
        assert flow.status_code == 200, flow.text
        body: dict[str, Any] = flow.json()
        page = self.client.get(f"/{self.domain}/device", params={"user_code": body["user_code"]})
        assert page.status_code == 200, page.text
        import re

        csrf = re.search(r"name=csrf_token value='([0-9a-f]+)'", page.text)
        assert csrf is not None
        done = self.client.post(
            f"/{self.domain}/device",
            data={"csrf_token": csrf.group(1), "user_code": body["user_code"], "action": "approve"},
        )
        assert done.status_code == 200, done.text
        assert "Device signed in" in done.text
        return body

    def user_tokens(self, **kw: Any) -> dict[str, Any]:
        if self.identity.signed_in is not None:
            self.member("user", self.identity.signed_in.user_id)
        flow = self.device_login(**kw)
        response = self.token(
            grant_type=DEVICE_GRANT, client_id=self.cli_client_id, device_code=flow["device_code"]
        )
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens


@pytest.fixture
def env(settings: Settings, clock: FakeClock, db: Database) -> Iterator[Env]:
    app = create_app(settings, clock=clock, db=db)
    identity = FakeIdentity()
    app.state.identity = identity
    domain = f"o{secrets.token_hex(5)}.onmicrosoft.com"
    with db.unit_of_work() as uow:
        tenant = create_tenant(uow.session, name="OAuth", domain=domain, now=utcnow(clock))
        cli = ensure_builtin_clients(uow.session, tenant.id, now=utcnow(clock))
        tenant_id = tenant.id
    with TestClient(app, base_url="http://testserver", client=(OFFICE_IP, 50000)) as client:
        identity.sign_in(tenant_id)
        yield Env(client, identity, clock, db, tenant_id, domain, cli, app)
