"""Helpers of the RBAC tests: plausible parameter values derived from the registry declarations, the
expected permission of a built-in role group computed from the seed data alone, users holding one role
group, and the assertions on denied calls (Exchange's error shape, no change, an audit record)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from mailwarden.clock import FakeClock
from mailwarden.cmdlets import CmdletSpec, Param, ParamType, default_registry
from mailwarden.rbac import role_group_name, seed_plan
from mailwarden.rbac._targets import target_kind
from mailwarden.store import Database
from mailwarden.store._audit_models import AuditRecord

from conftest import Api, TenantHandle, issue_user_token

REGISTRY = default_registry()
PLAN = seed_plan(REGISTRY)
ROLES = {r.name: r for r in PLAN.roles}
GROUPS = {g.name: g for g in PLAN.role_groups}


def spec_of(name: str) -> CmdletSpec:
    spec = REGISTRY.get(name)
    assert spec is not None, name
    return spec


def _unique(prefix: str = "mw") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def plausible_value(param: Param) -> Any:
    """A value the binder accepts for ``param`` that names nothing existing (identities are unknown)."""
    t = param.type
    if param.enum:
        return [param.enum[0]] if t is ParamType.STRING_LIST else param.enum[0]
    if t in (ParamType.IDENTITY, ParamType.STRING):
        return _unique("nobody")
    if t is ParamType.SMTP:
        return f"{_unique('x')}@example.invalid"
    if t is ParamType.BOOL:
        return True
    if t is ParamType.SWITCH:
        return True
    if t is ParamType.INT:
        return param.min_value if param.min_value is not None else 1
    if t is ParamType.DATETIME:
        return "2026-01-01T00:00:00Z"
    if t is ParamType.GUID:
        return str(uuid.uuid4())
    if t is ParamType.STRING_LIST:
        return [_unique("nobody")]
    if t is ParamType.FILTER:
        return "Name -eq 'nobody'"
    if t is ParamType.RESULT_SIZE:
        return 1
    if t is ParamType.SIZE:
        return "1GB"
    raise AssertionError(f"no plausible value for {param}")


def mandatory_params(spec: CmdletSpec) -> dict[str, Any]:
    """Values for the mandatory parameters of the default parameter set (or of every set)."""
    out: dict[str, Any] = {}
    for p in spec.params:
        if not p.mandatory:
            continue
        if p.sets and (spec.default_set is None or spec.default_set not in p.sets):
            continue
        out[p.name] = plausible_value(p)
    return out


def effective_roles(group: str) -> set[str]:
    """The roles a member of the built-in role group ``group`` (template name) holds regularly, including
    those of the role groups it is nested in (``member_of``; RGU13, PERM)."""
    roles: set[str] = set()
    frontier = [group]
    seen: set[str] = set()
    while frontier:
        name = frontier.pop()
        if name in seen:
            continue
        seen.add(name)
        g = GROUPS[name]
        roles |= set(g.roles)
        frontier.extend(g.member_of)
    return roles


def expected_allowed(group: str, spec: CmdletSpec, supplied: Iterable[str]) -> bool:
    """From the seed data only: some role of the group has an entry for the cmdlet that allows every
    supplied parameter and, for configuration writes, a configuration write scope other than None."""
    wanted = {p.lower() for p in supplied}
    kind = target_kind(spec)
    for role in effective_roles(group):
        params = PLAN.entries.get(role, {}).get(spec.name)
        if params is None:
            continue
        if not wanted <= {p.lower() for p in params}:
            continue
        if spec.writes and kind == "config" and ROLES[role].scopes.get("config_write") == "None":
            continue
        return True
    return False


def user_in(
    db: Database, clock: FakeClock, client: TestClient, tenant: TenantHandle, groups: Iterable[str], upn: str
) -> Api:
    """An Api whose token is that of a new user who is a member of exactly ``groups``."""
    names = tuple(role_group_name(g, tenant.id) for g in groups)
    token = issue_user_token(db, clock, tenant.id, f"{upn}@{tenant.domain}", role_groups=names)
    return Api(client, TenantHandle(tenant.id, tenant.domain, key=token))


def assert_access_denied(response: Any) -> str:
    """Exchange's access-denied shape: 403, ``AccessDeniedException``, a non-empty reason. The reason."""
    assert response.status_code == 403, response.text
    assert "Traceback" not in response.text
    err = response.json()["error"]
    assert err["code"] == "AccessDeniedException", err
    assert isinstance(err.get("message"), str), err
    assert len(err["message"]) > 10, err
    return str(err["message"])


def audit_records(db: Database, tenant_id: str) -> list[dict[str, Any]]:
    with db.unit_of_work(write=False) as uow:
        return [
            dict(r)
            for r in uow.session.scalars(
                select(AuditRecord.data).where(AuditRecord.tenant_id == tenant_id).order_by(AuditRecord.seq)
            )
        ]


def fresh_token(db: Database, clock: FakeClock, tenant_id: str, upn: str) -> str:
    """A new sign-in and access token for an existing account (after the FakeClock has moved on)."""
    from mailwarden.identity import IdentityService
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
    )
    from mailwarden.oauth._tokens import TokenMinter
    from mailwarden.store import SecretBox

    from conftest import FAST_HASHING, SECRET, TEST_PASSWORD, ensure_builtin_clients_id

    identity = IdentityService(db, secret_key=SECRET.encode(), clock=clock, hashing=FAST_HASHING)
    ticket = identity.sign_in_password(tenant_id, upn, TEST_PASSWORD, ip="127.0.0.1")
    assert ticket.state == "active"
    service = TokenService(
        TokenMinter(SigningKeys(db, SecretBox(SECRET.encode()), clock)), lambda: identity, Lifetimes(), clock
    )
    sign_in = SignIn(ticket.user_id, upn, upn, ("pwd",), "1", 0, ticket.session_id, ())
    with db.unit_of_work(write=False) as uow:
        store = SqlStore(uow.session)
        client = store.client(tenant_id, ensure_builtin_clients_id(db, tenant_id))
        assert client is not None
        unsigned, _ = service.prepare_for_user(
            store,
            issuer=issuer_for("http://testserver", tenant_id),
            client=client,
            sign_in=sign_in,
            scopes=parse_scopes(f"{RESOURCE}/{DELEGATED_SCOPE}"),
            ip="127.0.0.1",
        )
        body = service.minter.finish(unsigned)
    return str(body["access_token"])


def app_token(
    db: Database, clock: FakeClock, client: TestClient, tenant: TenantHandle, groups: Iterable[str]
) -> Api:
    """A registered app (client secret) in ``groups``, signed in with the client-credentials grant."""
    from mailwarden.clock import utcnow
    from mailwarden.oauth import register_app
    from mailwarden.rbac import add_principal_to_role_groups

    with db.unit_of_work() as uow:
        client_id, secret = register_app(
            uow.session, tenant.id, name=_unique("app"), now=utcnow(clock), with_secret=True
        )
        add_principal_to_role_groups(
            uow.session, tenant.id, "app", client_id, [role_group_name(g, tenant.id) for g in groups]
        )
    response = client.post(
        f"/{tenant.domain}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "api://mailwarden/.default",
        },
    )
    assert response.status_code == 200, response.text
    return Api(client, TenantHandle(tenant.id, tenant.domain, key=response.json()["access_token"]))


def assign_directly(
    db: Database, clock: FakeClock, tenant_id: str, role: str, group: str, *, delegating: bool = False
) -> str:
    """A regular assignment of ``role`` to role group ``group`` written as the operator would (no cmdlet):
    for tests whose subject is what the assignment grants, not who may create it."""
    from mailwarden.clock import utcnow
    from mailwarden.rbac._store import bump_generation
    from mailwarden.store._rbac_models import RbacAssignment, RbacRole, RbacRoleGroup

    with db.unit_of_work() as uow:
        s = uow.session
        role_row = s.scalars(
            select(RbacRole).where(RbacRole.tenant_id == tenant_id, RbacRole.name_key == role.lower())
        ).one()
        group_row = s.scalars(
            select(RbacRoleGroup).where(
                RbacRoleGroup.tenant_id == tenant_id, RbacRoleGroup.name_key == group.lower()
            )
        ).one()
        name = f"{role}-Delegating_{group}" if delegating else f"{role}_{group}"
        s.add(
            RbacAssignment(
                tenant_id=tenant_id,
                guid=str(uuid.uuid4()),
                name=name,
                name_key=name.lower(),
                role_id=role_row.id,
                assignee_kind="rolegroup",
                assignee_ref=str(group_row.id),
                delegating=delegating,
                enabled=True,
                relative_scope=None,
                scope_id=None,
                restrict_reads=False,
                created_at=utcnow(clock),
            )
        )
        s.flush()
        bump_generation(s, tenant_id)
    return name
