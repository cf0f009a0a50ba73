"""Acceptance 3 (hypothesis): for random RBAC configurations — a custom child role of Mail Recipients with a
subset of its entries and parameters, regular, custom-filter and exclusive write scopes over Department and
CustomAttribute1, one or two assignments to a role group the caller is in, and sometimes an exclusive scope
assigned to nobody — and random calls (cmdlet, parameters, target named by name, SMTP address or GUID), the
HTTP outcome (403 or not) equals the pure ``decide(...)`` computed from the RBAC snapshot loaded from the
database (``load_rbac``/``grants_for``) and the target's facts, and a denied call changes nothing.

The configuration is written straight to the RBAC tables (the subject is enforcement, not the management
cmdlets) and removed after each example. Calls never move a target across a scope boundary (values of
Department/CustomAttribute1 are re-set to the current ones), so the "before" decision is the whole answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rbac_support import PLAN, ROLES, assert_access_denied
from sqlalchemy import delete, select
from starlette.testclient import TestClient

from mailwarden.clock import FakeClock, utcnow
from mailwarden.principal import Principal
from mailwarden.rbac import Request, decide, load_rbac, recipient_facts
from mailwarden.rbac._grants import grants_for
from mailwarden.rbac._store import bump_generation, group_ids_of
from mailwarden.store import Database, Recipient
from mailwarden.store._identity_models import IdentityUser
from mailwarden.store._rbac_models import (
    RbacAssignment,
    RbacMember,
    RbacRole,
    RbacRoleEntry,
    RbacRoleGroup,
    RbacScope,
)

from cmdlet_scenarios import table_snapshot
from conftest import Api, TenantHandle, issue_user_token, make_tenant

PARENT = "Mail Recipients"
# cmdlet → the parameters the calls may use (all on the parent's entries)
USED = {
    "Get-Mailbox": ("Identity",),
    "Get-User": ("Identity",),
    "Set-Mailbox": (
        "Identity",
        "DisplayName",
        "CustomAttribute1",
        "CustomAttribute2",
        "ForwardingSmtpAddress",
    ),
    "Set-User": ("Identity", "Title", "Department"),
}
WRITES = {"Set-Mailbox", "Set-User"}
FILTERS = (
    "Department -eq 'Sales'",
    "Department -eq 'Finance'",
    "Department -like 'Fin*'",
    "CustomAttribute1 -eq 'A'",
    "CustomAttribute1 -ne 'A'",
    "Department -eq 'Sales' -and CustomAttribute1 -eq 'B'",
    "Department -eq 'Finance' -or CustomAttribute1 -eq 'A'",
)
MAILBOXES = {  # name → (Department, CustomAttribute1)
    "sa": ("Sales", "A"),
    "sb": ("Sales", "B"),
    "fa": ("Finance", "A"),
    "fb": ("Finance", "B"),
}


@dataclass(frozen=True)
class AssignmentSpec:
    kind: str  # "none" | "relative" | "custom" | "exclusive"
    relative: str | None = None
    filter: str = ""


entries_st = st.dictionaries(
    st.sampled_from(sorted(USED)),
    st.sets(
        st.sampled_from(
            (
                "Identity",
                "DisplayName",
                "CustomAttribute1",
                "CustomAttribute2",
                "ForwardingSmtpAddress",
                "Title",
                "Department",
            )
        )
    ),
    min_size=1,
)
assignment_st = st.one_of(
    st.just(AssignmentSpec("none")),
    st.builds(AssignmentSpec, st.just("relative"), st.sampled_from(("Organization", "None", "Self"))),
    st.builds(AssignmentSpec, st.just("custom"), st.none(), st.sampled_from(FILTERS)),
    st.builds(AssignmentSpec, st.just("exclusive"), st.none(), st.sampled_from(FILTERS)),
)
call_st = st.tuples(
    st.sampled_from(sorted(USED)),
    st.sampled_from(sorted(MAILBOXES)),
    st.sampled_from(("name", "smtp", "guid")),
    st.sets(
        st.sampled_from(
            (
                "DisplayName",
                "CustomAttribute1",
                "CustomAttribute2",
                "ForwardingSmtpAddress",
                "Title",
                "Department",
            )
        )
    ),
)


class World:
    """One tenant, four mailboxes, one caller whose role groups are replaced per example."""

    def __init__(self, db: Database, clock: FakeClock, client: TestClient) -> None:
        self.db, self.clock = db, clock
        tenant = make_tenant(db, clock)
        admin = Api(client, tenant)
        self.mailboxes: dict[str, dict[str, Any]] = {}
        for name, (department, ca1) in MAILBOXES.items():
            admin.ok("New-Mailbox", Name=name)
            admin.ok("Set-User", Identity=name, Department=department)
            admin.ok("Set-Mailbox", Identity=name, CustomAttribute1=ca1)
            self.mailboxes[name] = admin.ok("Get-Mailbox", Identity=name)[0]
        upn = f"prop@{tenant.domain}"
        token = issue_user_token(db, clock, tenant.id, upn, role_groups=())
        self.caller = Api(client, TenantHandle(tenant.id, tenant.domain, key=token))
        self.tenant = tenant
        with db.unit_of_work(write=False) as uow:
            user_id = uow.session.scalar(select(IdentityUser.id).where(IdentityUser.upn == upn))
            self.guids = {
                name: str(g)
                for name, g in uow.session.execute(
                    select(Recipient.name, Recipient.guid).where(Recipient.tenant_id == tenant.id)
                )
            }
        assert user_id is not None
        self.principal = Principal(tenant.id, str(user_id), upn, "user")

    # --- configuration (straight to the RBAC tables) ---

    def configure(
        self, entries: dict[str, set[str]], assignments: list[AssignmentSpec], stray_exclusive: str | None
    ) -> None:
        tid, now = self.tenant.id, utcnow(self.clock)
        tag = uuid.uuid4().hex[:8]
        parent = PLAN.entries[PARENT]
        with self.db.unit_of_work() as uow:
            s = uow.session
            parent_row = s.scalars(
                select(RbacRole).where(RbacRole.tenant_id == tid, RbacRole.name_key == PARENT.lower())
            ).one()
            role = RbacRole(
                tenant_id=tid,
                guid=str(uuid.uuid4()),
                name=f"Child {tag}",
                name_key=f"child {tag}",
                role_type=parent_row.role_type,
                kind="administrative",
                builtin=False,
                parent_id=parent_row.id,
                description="",
                scopes=dict(ROLES[PARENT].scopes),
                created_at=now,
            )
            group = RbacRoleGroup(
                tenant_id=tid,
                guid=str(uuid.uuid4()),
                name=f"Group {tag}",
                name_key=f"group {tag}",
                description="",
                builtin=False,
                synchronized=False,
                managed_by=[],
                created_at=now,
            )
            s.add_all([role, group])
            s.flush()
            for cmdlet, params in entries.items():
                allowed = [p for p in parent[cmdlet] if p in params]  # a child only loses parameters
                s.add(
                    RbacRoleEntry(
                        tenant_id=tid,
                        role_id=role.id,
                        cmdlet=cmdlet,
                        cmdlet_key=cmdlet.lower(),
                        parameters=allowed,
                    )
                )
            s.execute(
                delete(RbacMember).where(
                    RbacMember.member_kind == "user", RbacMember.member_ref == self.principal.id
                )
            )
            s.add(
                RbacMember(
                    tenant_id=tid,
                    group_id=group.id,
                    member_kind="user",
                    member_ref=self.principal.id,
                    display=self.principal.display_name,
                )
            )
            for i, a in enumerate(assignments):
                scope_id = None
                if a.kind in ("custom", "exclusive"):
                    scope = self._scope(s, f"{tag}-{i}", a.filter, a.kind == "exclusive")
                    scope_id = scope.id
                name = f"A{i} {tag}"
                s.add(
                    RbacAssignment(
                        tenant_id=tid,
                        guid=str(uuid.uuid4()),
                        name=name,
                        name_key=name.lower(),
                        role_id=role.id,
                        assignee_kind="rolegroup",
                        assignee_ref=str(group.id),
                        delegating=False,
                        enabled=True,
                        relative_scope=a.relative if a.kind == "relative" else None,
                        scope_id=scope_id,
                        restrict_reads=False,
                        created_at=now,
                    )
                )
            if stray_exclusive is not None:
                self._scope(s, f"{tag}-stray", stray_exclusive, True)
            s.flush()
            bump_generation(s, tid)

    def _scope(self, s: Any, tag: str, text: str, exclusive: bool) -> RbacScope:
        scope = RbacScope(
            tenant_id=self.tenant.id,
            guid=str(uuid.uuid4()),
            name=f"Scope {tag}",
            name_key=f"scope {tag}",
            recipient_filter=text,
            recipient_root=None,
            exclusive=exclusive,
            created_at=utcnow(self.clock),
        )
        s.add(scope)
        s.flush()
        return scope

    def reset(self) -> None:
        """Remove every custom role, role group, scope and assignment (the built-in ones stay)."""
        tid = self.tenant.id
        with self.db.unit_of_work() as uow:
            s = uow.session
            custom_roles = select(RbacRole.id).where(RbacRole.tenant_id == tid, RbacRole.builtin.is_(False))
            s.execute(delete(RbacAssignment).where(RbacAssignment.role_id.in_(custom_roles)))
            s.execute(delete(RbacRoleEntry).where(RbacRoleEntry.role_id.in_(custom_roles)))
            s.execute(delete(RbacRole).where(RbacRole.tenant_id == tid, RbacRole.builtin.is_(False)))
            s.execute(delete(RbacScope).where(RbacScope.tenant_id == tid))
            groups = select(RbacRoleGroup.id).where(
                RbacRoleGroup.tenant_id == tid, RbacRoleGroup.builtin.is_(False)
            )
            s.execute(delete(RbacMember).where(RbacMember.group_id.in_(groups)))
            s.execute(
                delete(RbacRoleGroup).where(RbacRoleGroup.tenant_id == tid, RbacRoleGroup.builtin.is_(False))
            )
            bump_generation(s, tid)

    # --- the oracle: the pure decision on the loaded snapshot ---

    def expected(self, cmdlet: str, params: dict[str, Any], mailbox: str, text: str) -> bool:
        with self.db.unit_of_work(write=False) as uow:
            s = uow.session
            snap = load_rbac(s, self.tenant.id)
            groups = group_ids_of(s, snap, self.tenant.id, self.principal)
            grants = grants_for(snap, groups, self.principal)
            rid = s.scalar(
                select(Recipient.id).where(Recipient.tenant_id == self.tenant.id, Recipient.name == mailbox)
            )
            assert rid is not None
            facts = recipient_facts(s, rid)
            assert facts is not None
            request = Request(cmdlet, frozenset(params), cmdlet in WRITES, "recipient", facts, text, None)
            return decide(grants, snap.exclusive_scopes, request).allowed

    def identity(self, mailbox: str, form: str) -> str:
        if form == "name":
            return mailbox
        if form == "smtp":
            return str(self.mailboxes[mailbox]["PrimarySmtpAddress"])
        return self.guids[mailbox]

    def params(self, cmdlet: str, mailbox: str, form: str, extra: set[str]) -> dict[str, Any]:
        department, ca1 = MAILBOXES[mailbox]
        values = {
            "DisplayName": f"{mailbox} {uuid.uuid4().hex[:4]}",
            "CustomAttribute1": ca1,  # unchanged: the target stays where the scopes put it
            "CustomAttribute2": uuid.uuid4().hex[:6],
            "ForwardingSmtpAddress": "smtp:fwd@example.com",
            "Title": "Dr",
            "Department": department,
        }
        out: dict[str, Any] = {"Identity": self.identity(mailbox, form)}
        out.update({p: values[p] for p in extra if p in USED[cmdlet]})
        return out


@pytest.fixture
def world(db: Database, clock: FakeClock, app_client: TestClient) -> World:
    return World(db, clock, app_client)


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(
    entries=entries_st,
    assignments=st.lists(assignment_st, min_size=1, max_size=2),
    stray=st.one_of(st.none(), st.sampled_from(FILTERS)),
    calls=st.lists(call_st, min_size=2, max_size=4),
)
def test_http_outcome_equals_pure_decision(
    world: World,
    entries: dict[str, set[str]],
    assignments: list[AssignmentSpec],
    stray: str | None,
    calls: list[tuple[str, str, str, set[str]]],
) -> None:
    world.configure(entries, assignments, stray)
    try:
        for cmdlet, mailbox, form, extra in calls:
            params = world.params(cmdlet, mailbox, form, extra)
            allowed = world.expected(cmdlet, params, mailbox, params["Identity"])
            before = table_snapshot(world.db, world.tenant.id) if not allowed else None
            response = world.caller.call(cmdlet, **params)
            if allowed:
                assert response.status_code == 200, (cmdlet, params, response.text)
            else:
                assert_access_denied(response)
                assert table_snapshot(world.db, world.tenant.id) == before, (cmdlet, params)
    finally:
        world.reset()
