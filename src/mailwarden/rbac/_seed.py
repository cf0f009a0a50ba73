"""The built-in RBAC data (``seed/roles.json``, ``seed/role_groups.json``) and the plan derived from it and
the cmdlet registry: which role gets an entry for which cmdlet, with which parameters.

The data is the single source: tenants are seeded from it, the matrix test reads it to know what every
built-in role group may do, and :func:`undecided_cmdlets` lists registry cmdlets without a decision (a test
fails on any).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "BuiltinRole",
    "BuiltinRoleGroup",
    "SeedPlan",
    "load_seed",
    "role_group_name",
    "seed_plan",
    "undecided_cmdlets",
]


@dataclass(frozen=True)
class BuiltinRole:
    name: str
    kind: str
    role_type: str
    parent: str | None
    scopes: dict[str, str]
    description: str


@dataclass(frozen=True)
class BuiltinRoleGroup:
    name: str  # may contain {unique}
    description: str
    roles: tuple[str, ...]
    synchronized: bool
    member_of: tuple[str, ...]
    delegating_all: bool


@dataclass(frozen=True)
class SeedPlan:
    roles: tuple[BuiltinRole, ...]
    role_groups: tuple[BuiltinRoleGroup, ...]
    entries: dict[str, dict[str, tuple[str, ...]]]  # role → cmdlet → parameters (canonical spelling)


def _read(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath("seed", name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def load_seed() -> tuple[dict[str, Any], dict[str, Any]]:
    """The raw JSON documents (roles, role groups)."""
    return _read("roles.json"), _read("role_groups.json")


def role_group_name(template: str, tenant_id: str) -> str:
    return template.replace("{unique}", tenant_id.replace("-", "")[:8])


def undecided_cmdlets(cmdlet_names: Iterable[str]) -> list[str]:
    decided = {d["cmdlet"].lower() for d in load_seed()[0]["decisions"]}
    return sorted(n for n in cmdlet_names if n.lower() not in decided)


def seed_plan(registry: Iterable[Any]) -> SeedPlan:
    """``registry`` yields CmdletSpec-like objects (``name``, ``all_params()``)."""
    roles_doc, groups_doc = load_seed()
    specs = {s.name.lower(): s for s in registry}
    roles = tuple(
        BuiltinRole(
            r["name"],
            r["kind"],
            r["role_type"],
            r.get("parent"),
            dict(r["implicit_scopes"]),
            r.get("description", ""),
        )
        for r in roles_doc["roles"]
    )
    entries: dict[str, dict[str, tuple[str, ...]]] = {r.name: {} for r in roles}
    for decision in roles_doc["decisions"]:
        spec = specs.get(decision["cmdlet"].lower())
        if spec is None:  # decided ahead of a cmdlet another part has not declared yet
            continue
        names = [p.name for p in spec.all_params()]
        for grant in decision["grants"]:
            wanted = grant["parameters"]
            if wanted == "*":
                params = tuple(names)
            else:
                lowered = {w.lower() for w in wanted}
                params = tuple(n for n in names if n.lower() in lowered)
            entries[grant["role"]][spec.name] = params
    groups = tuple(
        BuiltinRoleGroup(
            g["name"],
            g["description"],
            tuple(g["roles"]),
            bool(g["synchronized"]),
            tuple(g.get("member_of") or ()),
            g.get("delegating") == "*",
        )
        for g in groups_doc["role_groups"]
    )
    return SeedPlan(roles, groups, entries)
