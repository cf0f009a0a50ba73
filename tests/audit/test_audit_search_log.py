"""Search-UnifiedAuditLog: filters, EndDate exclusive, ordering by (CreationTime, SequenceNumber), exact
ResultCount and ResultIndex, keyset paging without caps, the search itself recorded (RecordType 1002); and
the UnifiedAuditLogIngestionEnabled switch (60-minute delay, high-severity records always kept)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from audit_support import AuditEnv, make_env, synthetic_records

from mailwarden.audit._log import append_many
from mailwarden.clock import FakeClock
from mailwarden.errors import ParameterBindingError
from mailwarden.store import Database

WINDOW = {"StartDate": "2026-01-01T00:00:00Z", "EndDate": "2026-01-15T00:00:00Z"}


@pytest.fixture
def env(db: Database, clock: FakeClock) -> AuditEnv:
    env = make_env(db, clock)
    with db.unit_of_work() as uow:
        append_many(uow.session, env.tenant.id, synthetic_records(2000))
    return env


def _all(env: AuditEnv, page_size: int = 1000, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        result = env.call("Search-UnifiedAuditLog", cursor=cursor, page_size=page_size, **params)
        out += result.value
        cursor = result.next_cursor
        if cursor is None:
            return out


def test_filters_counts_and_positions(env: AuditEnv) -> None:
    rows = _all(env, page_size=300, **WINDOW, ResultSize="Unlimited", UserIds=["USER3@contoso.example"])
    assert len(rows) == len(range(3, 2000, 7))
    assert [r["ResultIndex"] for r in rows] == list(range(1, len(rows) + 1))
    assert {r["ResultCount"] for r in rows} == {len(rows)}
    assert {r["UserIds"] for r in rows} == {"user3@contoso.example"}
    seqs = [json.loads(r["AuditData"])["SequenceNumber"] for r in rows]
    assert seqs == sorted(seqs)
    ops = _all(env, **WINDOW, ResultSize="Unlimited", Operations=["set-mailbox", "New-Mailbox"])
    assert len(ops) == 1000
    assert {r["Operations"] for r in ops} == {"Set-Mailbox", "New-Mailbox"}
    ips = _all(env, **WINDOW, ResultSize="Unlimited", IPAddresses=["10.0.1.1"])
    assert len(ips) == len(range(1, 2000, 3))
    objs = _all(env, **WINDOW, ResultSize="Unlimited", ObjectIds=["MAILBOX-5"])
    assert len(objs) == 2
    text = _all(env, **WINDOW, ResultSize="Unlimited", FreeText="ADD-mailboxPERM")
    assert len(text) == 500
    assert _all(env, **WINDOW, FreeText="100%_") == []
    typed = _all(
        env, **WINDOW, ResultSize="Unlimited", RecordType="ExchangeAdmin", UserIds=["user1@contoso.example"]
    )
    assert len(typed) == len(range(1, 2000, 7))
    assert _all(env, **WINDOW, RecordType="AzureActiveDirectoryStsLogon") == []


def test_dates_are_start_inclusive_end_exclusive(env: AuditEnv) -> None:
    # Record i is at 2026-01-01 00:00:00 + i seconds.
    rows = _all(env, StartDate="2026-01-01T00:00:10Z", EndDate="2026-01-01T00:00:20Z")
    assert [json.loads(r["AuditData"])["SequenceNumber"] for r in rows] == list(range(10, 20))
    assert rows[0]["ResultIndex"] == 1
    assert rows[0]["ResultCount"] == 10
    assert rows[0]["CreationDate"] == "2026-01-01T00:00:10Z"
    with pytest.raises(ParameterBindingError):
        env.call("Search-UnifiedAuditLog", StartDate="2026-01-02T00:00:00Z", EndDate="2026-01-01T00:00:00Z")
    with pytest.raises(ParameterBindingError):
        env.call("Search-UnifiedAuditLog", StartDate="2026-01-02T00:00:00Z")


def test_default_result_size_and_each_search_is_recorded(env: AuditEnv) -> None:
    first = env.call("Search-UnifiedAuditLog", **WINDOW, page_size=500)
    assert len(first.value) == 500
    assert first.next_cursor is not None
    second = env.call("Search-UnifiedAuditLog", **WINDOW, page_size=500, cursor=first.next_cursor)
    assert second.value[0]["ResultIndex"] == 501
    access = [r for r in env.records() if r["RecordType"] == 1002]
    assert len(access) == 1  # one per search, on its first page
    assert access[0]["Operation"] == "Search-UnifiedAuditLog"
    assert {"Name": "StartDate", "Value": "2026-01-01T00:00:00"} in access[0]["Parameters"]
    assert access[0]["UserId"] == env.principal.display_name


@pytest.mark.slow
def test_200k_records_page_through_unlimited(db: Database, clock: FakeClock) -> None:
    env = make_env(db, clock)
    for chunk in range(4):
        with db.unit_of_work() as uow:
            append_many(uow.session, env.tenant.id, synthetic_records(50_000, start_index=chunk * 50_000))
    # The searches' own access records (RecordType 1002) land after the window.
    clock.advance(timedelta(days=30))
    rows = _all(env, **WINDOW, ResultSize="Unlimited")
    assert len(rows) == 200_000
    ids = [r["Identity"] for r in rows]
    assert len(set(ids)) == 200_000
    assert [r["ResultIndex"] for r in rows] == list(range(1, 200_001))
    assert {r["ResultCount"] for r in rows} == {200_000}
    times = [r["CreationDate"] for r in rows]
    assert times == sorted(times)
    # A filtered search counts exactly too.
    user = _all(env, **WINDOW, ResultSize="Unlimited", UserIds=["user0@contoso.example"])
    assert len(user) == len(range(0, 200_000, 7))
    assert user[-1]["ResultCount"] == len(user)


# --- ingestion switch ----------------------------------------------------------------------------------------


def test_ingestion_off_after_60_minutes_control_changes_always_recorded(
    db: Database, clock: FakeClock
) -> None:
    env = make_env(db, clock)
    env.call("New-Mailbox", Name="Ada", Alias="ada")
    env.call("Set-AdminAuditLogConfig", UnifiedAuditLogIngestionEnabled=False)
    off = env.records()[-1]
    assert off["Operation"] == "Set-AdminAuditLogConfig"
    assert {"Name": "UnifiedAuditLogIngestionEnabled", "Value": "False"} in off["Parameters"]
    from sqlalchemy import select

    from mailwarden.store._audit_models import AuditRecord

    with db.unit_of_work(write=False) as uow:
        assert uow.session.scalar(select(AuditRecord.high_severity).where(AuditRecord.record_id == off["Id"]))
    # Records keep flowing for 60 minutes.
    clock.advance(timedelta(minutes=59))
    env.call("Set-Mailbox", Identity="ada", DisplayName="Ada 59")
    assert env.records()[-1]["Operation"] == "Set-Mailbox"
    count = len(env.records())
    clock.advance(timedelta(minutes=2))
    env.call("Set-Mailbox", Identity="ada", DisplayName="Ada 61")
    env.call("Search-UnifiedAuditLog", **WINDOW)
    assert len(env.records()) == count  # routine records stopped
    # Audit-control changes are always recorded, high severity.
    env.call("Set-AuditLogRetention", Days=100)
    env.call("Set-OrganizationConfig", AuditDisabled=True)
    env.call("Set-AdminAuditLogConfig", UnifiedAuditLogIngestionEnabled=True)
    ops = [r["Operation"] for r in env.records()[count:]]
    assert ops == ["Set-AuditLogRetention", "Set-OrganizationConfig", "Set-AdminAuditLogConfig"]
    env.call("Set-Mailbox", Identity="ada", DisplayName="Ada back")
    assert env.records()[-1]["Operation"] == "Set-Mailbox"
