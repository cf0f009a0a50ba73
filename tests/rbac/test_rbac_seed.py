"""Acceptance 4: the seed data decides every registry cmdlet, and the 14 built-in role groups of
``shared/reference/exchange-rbac/ROLE_GROUPS.json`` are seeded with their documented roles — in the seed
files and in a real tenant's database."""

from __future__ import annotations

import json
import re
from pathlib import Path

from rbac_support import GROUPS, PLAN, REGISTRY, ROLES
from sqlalchemy import select

from mailwarden.clock import FakeClock
from mailwarden.rbac import load_rbac, role_group_name, undecided_cmdlets
from mailwarden.store import Database

from conftest import make_tenant

# A copy of the project's reference facts (shared/reference/exchange-rbac/ROLE_GROUPS.json, every fact with its
# Microsoft source), kept with the tests so CI checks the seed against it on any machine.
REFERENCE = Path(__file__).resolve().parent / "reference" / "ROLE_GROUPS.json"
# Ours, added to every built-in role group (seed/roles.json explains why): the only permitted extra.
OURS = {"Privileged Access Requests"}


def _template(reference_name: str) -> str:
    """``TenantAdmins_-<unique value>`` (reference) → ``TenantAdmins_-{unique}`` (seed)."""
    return re.sub(r"<unique value>", "{unique}", reference_name)


def _reference() -> list[dict[str, object]]:
    data: list[dict[str, object]] = json.loads(REFERENCE.read_text(encoding="utf-8"))["role_groups"]
    return data


def test_every_registry_cmdlet_has_a_decision() -> None:
    assert undecided_cmdlets(REGISTRY.names()) == []


def test_undecided_cmdlets_reports_unknown_names() -> None:
    assert undecided_cmdlets(["Get-Mailbox", "Frobnicate-Thing"]) == ["Frobnicate-Thing"]


def test_every_decision_names_seeded_roles_and_declared_parameters() -> None:
    for role, cmdlets in PLAN.entries.items():
        assert role in ROLES
        for cmdlet, params in cmdlets.items():
            spec = REGISTRY.get(cmdlet)
            assert spec is not None, cmdlet
            declared = {p.name for p in spec.all_params()}
            assert set(params) <= declared, (role, cmdlet, set(params) - declared)


def test_every_cmdlet_is_reachable_by_organization_management_or_deliberately_not() -> None:
    held = {
        cmdlet for role in GROUPS["Organization Management"].roles for cmdlet in PLAN.entries.get(role, {})
    }
    unreachable = sorted(set(REGISTRY.names()) - held)
    # Exchange gives Organization Management every role but a few (Mailbox Search, Mailbox Import Export,
    # ApplicationImpersonation…: ROLE_GROUPS.json roles_assigned_to_no_role_group_by_default).
    for name in unreachable:
        spec = REGISTRY.get(name)
        assert spec is not None
        roles = {r for r, cmdlets in PLAN.entries.items() if name in cmdlets}
        assert roles, f"{name} is in no role"


def test_the_fourteen_role_groups_are_seeded_with_their_documented_roles() -> None:
    reference = _reference()
    assert len(reference) == 14
    assert len(PLAN.role_groups) == 14
    for ref in reference:
        name = _template(str(ref["name"]))
        assert name in GROUPS, name
        seeded = GROUPS[name]
        documented = set(ref["roles"])  # type: ignore[arg-type]
        assert documented <= set(seeded.roles), (name, documented - set(seeded.roles))
        assert set(seeded.roles) - documented <= OURS, (name, set(seeded.roles) - documented)
        assert set(seeded.member_of) == {_template(m) for m in ref.get("member_of") or ()}, name  # type: ignore[attr-defined]
        for role in seeded.roles:
            assert role in ROLES, role


def test_a_new_tenant_holds_the_seeded_role_groups_and_assignments(db: Database, clock: FakeClock) -> None:
    tenant = make_tenant(db, clock)
    with db.unit_of_work(write=False) as uow:
        snap = load_rbac(uow.session, tenant.id)
        from mailwarden.store._rbac_models import RbacRoleGroup

        builtin = set(
            uow.session.scalars(
                select(RbacRoleGroup.name).where(RbacRoleGroup.tenant_id == tenant.id, RbacRoleGroup.builtin)
            )
        )
    assert builtin == {role_group_name(g, tenant.id) for g in GROUPS}
    by_name = {name: gid for gid, name in snap.groups.items()}
    for template, group in GROUPS.items():
        gid = by_name[role_group_name(template, tenant.id)]
        regular = {
            snap.roles[a.role_id].name
            for a in snap.assignments
            if a.assignee_kind == "rolegroup" and a.assignee_ref == str(gid) and not a.delegating
        }
        assert regular == set(group.roles), template
        delegating = {
            snap.roles[a.role_id].name
            for a in snap.assignments
            if a.assignee_kind == "rolegroup" and a.assignee_ref == str(gid) and a.delegating
        }
        assert delegating == (set(ROLES) if group.delegating_all else set()), template
    for role in snap.roles.values():
        if role.builtin:
            expected = {c.lower() for c in PLAN.entries.get(role.name, {})}
            assert set(role.entries) == expected, role.name
