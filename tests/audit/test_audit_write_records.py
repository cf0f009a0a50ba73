"""Every write cmdlet of the registry leaves exactly one ExchangeAdmin record with its parameters — on
success (same transaction as the change), on failure (a transaction of its own) and for -WhatIf (a preview,
no change); secrets are redacted; a failure after the change and before commit leaves neither change nor
success record."""

from __future__ import annotations

from typing import Any

import pytest
from audit_support import AuditEnv, make_env
from sqlalchemy import select

from mailwarden.audit._records import REDACTED
from mailwarden.clock import FakeClock
from mailwarden.cmdlets import default_registry
from mailwarden.cmdlets._invocation import Invocation
from mailwarden.cmdlets._rbac_cmdlets import RBAC_CMDLETS
from mailwarden.cmdlets._registry import CmdletSpec, Param, ParamType, Registry
from mailwarden.errors import ApiError
from mailwarden.store import Database, Recipient

from cmdlet_scenarios import IDENTITY_PARAMS, SCENARIOS, render, table_snapshot

# The RBAC/PAM family authorises the caller against role assignments this executor-level harness does not
# grant (their scenarios assume the HTTP fixture's Organization Management admin); they are exercised
# through the HTTP scenarios instead. Every other write cmdlet of the registry is covered here.
RBAC_FAMILY = {s.name for s in RBAC_CMDLETS}
WRITES = sorted(
    s.name for s in default_registry() if s.writes and s.name in SCENARIOS and s.name not in RBAC_FAMILY
)
AUDIT_TABLES = {"audit_records", "audit_subtrees", "audit_log_state", "audit_tree_heads", "signing_keys"}


@pytest.fixture
def env(db: Database, clock: FakeClock) -> AuditEnv:
    return make_env(db, clock)


def _setup(env: AuditEnv, cmdlet: str) -> dict[str, Any]:
    scenario = SCENARIOS[cmdlet]
    for step in scenario.setup:
        if callable(step):
            step(env.db, env.tenant.id, env.clock)
        else:
            name, params = step
            env.call(name, **render(params, env.tenant.initial_domain))
    params: dict[str, Any] = render(scenario.params, env.tenant.initial_domain)
    return params


def _new_records(env: AuditEnv, before: int) -> list[dict[str, Any]]:
    return [r for r in env.records()[before:] if r["RecordType"] == 1]


def test_every_write_cmdlet_is_covered() -> None:
    missing = {s.name for s in default_registry() if s.writes} - set(WRITES) - RBAC_FAMILY
    assert not missing, missing


def check_whatif_writes_one_preview(env: AuditEnv, cmdlet: str, params: dict[str, Any]) -> None:
    before = len(env.records())
    snapshot = {k: v for k, v in table_snapshot(env.db, env.tenant.id).items() if k not in AUDIT_TABLES}
    env.call(cmdlet, **params, WhatIf=True)
    after = {k: v for k, v in table_snapshot(env.db, env.tenant.id).items() if k not in AUDIT_TABLES}
    assert after == snapshot
    new = _new_records(env, before)
    assert [(r["Operation"], r.get("IsPreview")) for r in new] == [(cmdlet, True)]
    assert new[0]["ModifiedProperties"] == []


def check_failure_writes_one_failure_record(env: AuditEnv, cmdlet: str, params: dict[str, Any]) -> None:
    before = len(env.records())
    with pytest.raises(ApiError):
        env.call(cmdlet, **params, NoSuchParameter="x")
    new = _new_records(env, before)
    assert [(r["Operation"], r["ResultStatus"]) for r in new] == [(cmdlet, "False")]
    assert new[0]["ErrorCode"] == "ParameterBindingException"
    # A failure while running (the object does not exist) is recorded too, with its own error code.
    identity = next((p for p in IDENTITY_PARAMS if p in params), None)
    if identity is not None:
        before = len(env.records())
        with pytest.raises(ApiError) as info:
            env.call(cmdlet, **{**params, identity: "nobody-at-all-xyz"})
        new = _new_records(env, before)
        assert [(r["Operation"], r["ResultStatus"]) for r in new] == [(cmdlet, "False")]
        assert new[0]["ErrorCode"] == info.value.code
        assert {"Name": identity, "Value": "nobody-at-all-xyz"} in new[0]["Parameters"]


def check_success_writes_one_record_with_parameters(
    env: AuditEnv, cmdlet: str, params: dict[str, Any]
) -> None:
    before = len(env.records())
    env.call(cmdlet, **params)
    new = _new_records(env, before)
    assert [r["Operation"] for r in new] == [cmdlet]
    record = new[0]
    assert record["ResultStatus"] == "True"
    assert record["UserId"] == env.principal.display_name
    assert {p["Name"] for p in record["Parameters"]} == set(params)
    assert "IsPreview" not in record


@pytest.mark.parametrize("cmdlet", WRITES)
def test_write_cmdlet_records(env: AuditEnv, cmdlet: str) -> None:
    """Exactly one ExchangeAdmin record per call, in an order that keeps each step's precondition: the
    -WhatIf preview (changes nothing), the failures (change nothing), then the success."""
    params = _setup(env, cmdlet)
    check_whatif_writes_one_preview(env, cmdlet, params)
    check_failure_writes_one_failure_record(env, cmdlet, params)
    check_success_writes_one_record_with_parameters(env, cmdlet, params)


# --- redaction and fault injection with private test cmdlets ---------------------------------------------


def _rename(inv: Invocation) -> dict[str, Any]:
    row = inv.session.scalar(
        select(Recipient).where(Recipient.tenant_id == inv.tenant.id, Recipient.alias == inv.get("Identity"))
    )
    assert row is not None
    row.display_name = str(inv.get("DisplayName"))
    inv.session.flush()
    if inv.get("Fail") == "handler":
        raise RuntimeError("injected fault after the change")
    if inv.get("Fail") == "commit":

        def boom(_uow: Any) -> None:
            raise RuntimeError("injected fault just before commit")

        inv.uow.before_commit(boom)
    return {"Identity": row.alias, "DisplayName": row.display_name}


TEST_REGISTRY_SPECS = (
    CmdletSpec(
        "Set-TestMailbox",
        (
            Param("Identity", ParamType.IDENTITY, mandatory=True),
            Param("DisplayName", ParamType.STRING),
            Param("ApiKeyMaterial", ParamType.STRING, secret=True),
            Param("Fail", ParamType.ENUM, enum=("handler", "commit")),
        ),
        _rename,
        writes=True,
        object_type="Mailbox",
    ),
)


@pytest.fixture
def test_env(db: Database, clock: FakeClock) -> AuditEnv:
    registry = Registry((*default_registry(), *TEST_REGISTRY_SPECS))
    env = make_env(db, clock, registry)
    env.call("New-Mailbox", Name="Ada Lovelace", Alias="ada")
    return env


def _display_name(env: AuditEnv) -> str:
    with env.db.unit_of_work(write=False) as uow:
        value = uow.session.scalar(
            select(Recipient.display_name).where(
                Recipient.tenant_id == env.tenant.id, Recipient.alias == "ada"
            )
        )
    return str(value)


def test_declared_secret_is_redacted(test_env: AuditEnv) -> None:
    test_env.call("Set-TestMailbox", Identity="ada", DisplayName="Ada L.", ApiKeyMaterial="s3cr3t-value")
    record = test_env.records()[-1]
    assert {"Name": "ApiKeyMaterial", "Value": REDACTED} in record["Parameters"]
    assert "s3cr3t-value" not in str(test_env.records())
    assert {"Name": "DisplayName", "OldValue": "Ada Lovelace", "NewValue": "Ada L."} in record[
        "ModifiedProperties"
    ]


@pytest.mark.parametrize("where", ["handler", "commit"])
def test_fault_after_change_leaves_no_change_and_no_success_record(test_env: AuditEnv, where: str) -> None:
    before = len(test_env.records())
    with pytest.raises((RuntimeError, ApiError)):
        test_env.call("Set-TestMailbox", Identity="ada", DisplayName="Hacked", Fail=where)
    assert _display_name(test_env) == "Ada Lovelace"
    new = test_env.records()[before:]
    assert [(r["Operation"], r["ResultStatus"]) for r in new] == [("Set-TestMailbox", "False")]
    assert new[0]["ModifiedProperties"] == []
