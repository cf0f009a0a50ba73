"""Shared fixtures: a real database per test (SQLite file, and PostgreSQL when MAILWARDEN_TEST_POSTGRES_URL
is set — `scripts/test` starts a throwaway cluster and sets it), the real ASGI app driven through
Starlette's TestClient (real HTTP semantics in-process), tenants with a real user and a real access token
issued by the authorization server's token service (the one the OAuth grants use).

Database-backed tests take the ``db`` fixture and run once per backend.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from mailwarden.api import create_app
from mailwarden.clock import FakeClock, utcnow
from mailwarden.config import Settings
from mailwarden.directory import create_tenant
from mailwarden.identity import IdentityService, PasswordHashing
from mailwarden.oauth import (
    DELEGATED_SCOPE,
    RESOURCE,
    Lifetimes,
    SignIn,
    SigningKeys,
    SqlStore,
    TokenService,
    ensure_builtin_clients,
    issuer_for,
    parse_scopes,
)
from mailwarden.oauth._tokens import TokenMinter
from mailwarden.rbac import add_principal_to_role_groups
from mailwarden.store import Database, SecretBox, normalise_url, upgrade

PG_URL = os.environ.get("MAILWARDEN_TEST_POSTGRES_URL")
REQUIRE_PG = os.environ.get("MAILWARDEN_TEST_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgres"] if PG_URL else ["sqlite"]
SECRET = "test-secret-key-0123456789abcdef-0123456789"


def pytest_configure(config: pytest.Config) -> None:
    if REQUIRE_PG and not PG_URL:
        raise pytest.UsageError(
            "MAILWARDEN_TEST_REQUIRE_POSTGRES=1 but MAILWARDEN_TEST_POSTGRES_URL is not set"
        )


def pytest_report_header(config: pytest.Config) -> str:
    return f"mailwarden database backends: {', '.join(BACKENDS)}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS, scope="session")


_counter = itertools.count()


def _prepare_template(db: Database) -> None:
    """Migrate, and create the token signing keys once per session instead of once per test (an RSA-2048
    key pair costs ~0.1 s). Dated 2000-01-01 so keys a test creates or rotates (FakeClock starts in 2026)
    are newer. Wrapped with SECRET, which every test server uses."""
    upgrade(db)
    SigningKeys(db, SecretBox(SECRET.encode()), FakeClock(datetime(2000, 1, 1, tzinfo=UTC))).signing_key()


class _PgTemplates:
    """One migrated template database per session; each test gets ``CREATE DATABASE … TEMPLATE`` (fast)."""

    def __init__(self, url: str) -> None:
        self.url = make_url(normalise_url(url))
        self.admin = create_engine(self.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        self.template = f"mw_tpl_{os.getpid()}"
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template}"'))
            conn.execute(text(f'CREATE DATABASE "{self.template}"'))
        db = Database(self.url.set(database=self.template).render_as_string(hide_password=False))
        _prepare_template(db)
        db.dispose()
        self.created: list[str] = []

    def fresh(self) -> str:
        name = f"mw_t_{os.getpid()}_{next(_counter)}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self.created.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, name_url: str) -> None:
        name = make_url(name_url).database
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    db = Database(f"sqlite:///{path}")
    _prepare_template(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_templates() -> Iterator[_PgTemplates | None]:
    if not PG_URL:
        yield None
        return
    templates = _PgTemplates(PG_URL)
    yield templates
    templates.close()


@pytest.fixture
def database_url(
    backend: str, tmp_path: Path, _sqlite_template: Path, _pg_templates: _PgTemplates | None
) -> Iterator[str]:
    if backend == "sqlite":
        target = tmp_path / "mailwarden.db"
        shutil.copyfile(_sqlite_template, target)
        yield f"sqlite:///{target}"
        return
    assert _pg_templates is not None
    url = _pg_templates.fresh()
    yield url
    _pg_templates.drop(url)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        env="dev",
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=SECRET,
        rate_limit_per_minute=100_000,
    )


class TenantHandle:
    """``id``, ``domain`` and ``key`` — an access token of the tenant's admin user, created on first use (so
    tests that only need the tenant see no extra account or session)."""

    def __init__(
        self, id: str, domain: str, key: str | None = None, mint: Callable[[], str] | None = None
    ) -> None:
        self.id = id
        self.domain = domain
        self._key = key
        self._mint = mint

    @property
    def key(self) -> str:
        if self._key is None:
            assert self._mint is not None
            self._key = self._mint()
        return self._key

    def __repr__(self) -> str:
        return f"TenantHandle(id={self.id!r}, domain={self.domain!r})"


# Cheap argon2 parameters: tests create many accounts; the production parameters are the identity part's.
FAST_HASHING = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
TEST_PASSWORD = "correct horse battery staple 42"


def issue_user_token(
    db: Database,
    clock: FakeClock,
    tenant_id: str,
    upn: str,
    *,
    base_url: str = "http://testserver",
    role_groups: tuple[str, ...] = ("Organization Management",),
) -> str:
    """A real account (identity API), a real password sign-in session, and an access token minted by the
    token service the grants use (issuer ``base_url``, audience ``api://mailwarden``). The account is a
    member of ``role_groups`` (RBAC role-group membership; ``()`` for none)."""
    identity = IdentityService(db, secret_key=SECRET.encode(), clock=clock, hashing=FAST_HASHING)
    user = identity.create_user(tenant_id, upn, TEST_PASSWORD)
    with db.unit_of_work() as uow:
        add_principal_to_role_groups(uow.session, tenant_id, "user", user.user_id, role_groups)
    ticket = identity.sign_in_password(tenant_id, upn, TEST_PASSWORD, ip="127.0.0.1")
    assert ticket.state == "active"
    service = TokenService(
        TokenMinter(SigningKeys(db, SecretBox(SECRET.encode()), clock)), lambda: identity, Lifetimes(), clock
    )
    sign_in = SignIn(ticket.user_id, user.upn, user.display_name, ("pwd",), "1", 0, ticket.session_id, ())
    with db.unit_of_work(write=False) as uow:
        store = SqlStore(uow.session)
        client = store.client(tenant_id, ensure_builtin_clients_id(db, tenant_id))
        assert client is not None
        unsigned, _ = service.prepare_for_user(
            store,
            issuer=issuer_for(base_url, tenant_id),
            client=client,
            sign_in=sign_in,
            scopes=parse_scopes(f"{RESOURCE}/{DELEGATED_SCOPE}"),
            ip="127.0.0.1",
        )
        body = service.minter.finish(unsigned)
    token: str = body["access_token"]
    return token


def ensure_builtin_clients_id(db: Database, tenant_id: str) -> str:
    with db.unit_of_work() as uow:
        return ensure_builtin_clients(uow.session, tenant_id)


def make_tenant(db: Database, clock: FakeClock, domain: str | None = None) -> TenantHandle:
    """A tenant with its built-in client and an admin user; ``key`` is that user's access token."""
    domain = domain or f"t{uuid.uuid4().hex[:10]}.onmicrosoft.com"
    with db.unit_of_work() as uow:
        tenant = create_tenant(uow.session, name=domain.split(".")[0], domain=domain, now=utcnow(clock))
        ensure_builtin_clients(uow.session, tenant.id, now=utcnow(clock))
        tenant_id, tenant_domain = tenant.id, tenant.initial_domain
    return TenantHandle(
        tenant_id,
        tenant_domain,
        mint=lambda: issue_user_token(db, clock, tenant_id, f"admin@{tenant_domain}"),
    )


class Api:
    """InvokeCommand through the real app; returns the httpx response."""

    def __init__(self, client: TestClient, tenant: TenantHandle) -> None:
        self.client = client
        self.tenant = tenant
        assert tenant.key  # sign the admin in now, before a test snapshots tables

    def url(self) -> str:
        return f"/adminapi/beta/{self.tenant.domain}/InvokeCommand"

    def call(
        self, cmdlet: str, *, page_size: int | None = None, url: str | None = None, **params: Any
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.tenant.key}"}
        if page_size is not None:
            headers["Prefer"] = f"odata.maxpagesize={page_size}"
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}}
        return self.client.post(url or self.url(), json=body, headers=headers)

    def ok(self, cmdlet: str, **params: Any) -> list[dict[str, Any]]:
        response = self.call(cmdlet, **params)
        assert response.status_code == 200, response.text
        value: list[dict[str, Any]] = response.json()["value"]
        return value

    def all(self, cmdlet: str, *, page_size: int = 1000, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        response = self.call(cmdlet, page_size=page_size, **params)
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            out.extend(body["value"])
            link = body.get("@odata.nextLink")
            if not link:
                return out
            response = self.call(cmdlet, page_size=page_size, url=link, **params)

    def error(self, cmdlet: str, status: int, **params: Any) -> dict[str, Any]:
        response = self.call(cmdlet, **params)
        assert response.status_code == status, response.text
        assert "Traceback" not in response.text
        err: dict[str, Any] = response.json()["error"]
        return err


@pytest.fixture
def app_client(settings: Settings, clock: FakeClock, db: Database) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock, db=db)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def tenant(db: Database, clock: FakeClock) -> TenantHandle:
    return make_tenant(db, clock)


@pytest.fixture
def api(app_client: TestClient, tenant: TenantHandle) -> Api:
    return Api(app_client, tenant)
