"""Acceptance 1: every registry cmdlet x every built-in role group, through real HTTP with real tokens.

The expectation is computed from the seed data alone (role group → its roles, including those of the role
groups it is nested in → role entries for the cmdlet and their parameters; SEMANTICS §1, §3, §5), never from
the decision function. The call carries plausible values for the mandatory parameters of the default
parameter set, derived from the registry declarations; identities name nothing, so a call that passes
authorisation ends in 404/400/409/200 and a call that does not is a 403 with Exchange's access-denied shape.

One tenant and one user per role group (the user is a member of that role group only). The full matrix
(14 x ~100 calls, 5-8 s per role group on one core) runs on SQLite; on PostgreSQL a stratified sample runs:
every role group, each with every fourth cmdlet (offset by the role group's index, so every cmdlet is
exercised on PostgreSQL by three or four role groups), which keeps each backend under a minute.
"""

from __future__ import annotations

import pytest
from rbac_support import (
    GROUPS,
    REGISTRY,
    assert_access_denied,
    effective_roles,
    expected_allowed,
    mandatory_params,
    user_in,
)
from starlette.testclient import TestClient

from mailwarden.clock import FakeClock
from mailwarden.store import Database

from conftest import make_tenant

ROLE_GROUPS = sorted(GROUPS)

# New-* calls run last: what they create (a role group, a scope) must not change how later calls of the same
# user are decided; identities are unknown so removals and changes touch nothing.
ORDER = sorted(REGISTRY.names(), key=lambda n: (n.startswith("New-"), n))


def test_matrix_covers_fourteen_role_groups() -> None:
    assert len(ROLE_GROUPS) == 14
    assert len(ORDER) == len(set(ORDER)) >= 90


@pytest.mark.slow  # ~100 HTTP calls: 5-8 s per role group on an idle core, over 10 s on a loaded one
@pytest.mark.parametrize("group", ROLE_GROUPS)
def test_role_group_matrix(
    group: str, backend: str, db: Database, clock: FakeClock, app_client: TestClient
) -> None:
    names = ORDER
    if backend != "sqlite":
        offset = ROLE_GROUPS.index(group)
        names = [n for i, n in enumerate(ORDER) if (i + offset) % 4 == 0]
    tenant = make_tenant(db, clock)
    api = user_in(db, clock, app_client, tenant, [group], "matrix")
    wrong: list[str] = []
    allowed = denied = 0
    for name in names:
        spec = REGISTRY.get(name)
        assert spec is not None
        params = mandatory_params(spec)
        expected = expected_allowed(group, spec, params)
        response = api.call(name, **params)
        if expected:
            allowed += 1
            if response.status_code == 403 or response.status_code >= 500:
                wrong.append(
                    f"{name} {sorted(params)}: expected allowed, got {response.status_code} {response.text}"
                )
        else:
            denied += 1
            if response.status_code != 403:
                wrong.append(
                    f"{name} {sorted(params)}: expected 403, got {response.status_code} {response.text}"
                )
            else:
                assert_access_denied(response)
    assert not wrong, "\n".join(wrong)
    assert allowed + denied == len(names)
    if backend == "sqlite" and effective_roles(group) != effective_roles("Organization Management"):
        assert denied > 0, f"{group} is denied nothing"
        assert allowed > 0, f"{group} is allowed nothing"
