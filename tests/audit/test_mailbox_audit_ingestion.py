"""Mailbox audit ingestion: ``POST /api/v1.0/{tenant}/audit/mailbox-events`` from an app of the "Mailbox Audit
Ingestion" role group — schema, mailbox resolution, idempotency by Id, the policy — and Search-MailboxAuditLog
over what was kept."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from mailwarden.clock import FakeClock, utcnow
from mailwarden.oauth import register_app
from mailwarden.store import Database
from mailwarden.store._audit_models import AuditRecord

from conftest import Api

ROLE_GROUP = "Mailbox Audit Ingestion"


def _app_token(api: Api, db: Database, clock: FakeClock, role_groups: tuple[str, ...]) -> str:
    with db.unit_of_work() as uow:
        client_id, secret = register_app(
            uow.session, api.tenant.id, name="Mail store", now=utcnow(clock), with_secret=True,
            role_groups=role_groups,
        )  # fmt: skip
    assert secret is not None
    response = api.client.post(
        f"/{api.tenant.domain}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "scope": "api://mailwarden/.default",
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


class Store:
    def __init__(self, client: TestClient, domain: str, token: str) -> None:
        self.client = client
        self.url = f"/api/v1.0/{domain}/audit/mailbox-events"
        self.token = token

    def submit(self, body: Any, token: str | None = None) -> Any:
        return self.client.post(
            self.url, json=body, headers={"Authorization": f"Bearer {token or self.token}"}
        )


@pytest.fixture
def setup(api: Api, db: Database, clock: FakeClock) -> tuple[Api, Store, dict[str, Any]]:
    mailbox = api.ok("New-Mailbox", Name="Alex Wilber", Alias="alexw")[0]
    api.ok("New-Mailbox", Name="Megan Bowen", Alias="meganb")
    store = Store(api.client, api.tenant.domain, _app_token(api, db, clock, (ROLE_GROUP,)))
    return api, store, mailbox


def _event(mailbox: dict[str, Any], clock: FakeClock, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "Id": str(uuid.uuid4()),
        "CreationTime": (utcnow(clock) - timedelta(minutes=1)).isoformat() + "Z",
        "Operation": "SendAs",
        "MailboxGuid": mailbox["ExchangeGuid"],
        "LogonType": 2,
        "UserId": mailbox["UserPrincipalName"].replace("alexw", "meganb"),
        "ClientInfoString": "Client=OWA;Action=ViaProxy",
        "ClientIP": "203.0.113.9",
        "Item": {"Id": "AAMk1", "Subject": "Invoice", "ParentFolder": {"Id": "LgAA", "Path": "\\Sent Items"}},
    }
    event.update(overrides)
    return event


def _count(db: Database, tenant_id: str) -> int:
    with db.unit_of_work(write=False) as uow:
        return int(
            uow.session.scalar(
                select(func.count()).select_from(AuditRecord).where(AuditRecord.tenant_id == tenant_id)
            )
            or 0
        )


def test_events_are_recorded_and_searchable(
    setup: tuple[Api, Store, dict[str, Any]], clock: FakeClock, db: Database
) -> None:
    api, store, mailbox = setup
    sent = _event(mailbox, clock)
    owner = _event(mailbox, clock, Operation="HardDelete", LogonType=0, UserId=mailbox["UserPrincipalName"])
    by_upn = _event(mailbox, clock, MailboxGuid=None, MailboxOwnerUPN=mailbox["UserPrincipalName"])
    by_upn.pop("MailboxGuid")
    response = store.submit([sent, owner, by_upn])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Recorded"] == 3
    assert body["Duplicate"] == 0
    assert body["NotAudited"] == 0

    rows = api.all("Search-MailboxAuditLog", Identity="alexw", ShowDetails=True)
    assert [r["Operation"] for r in rows] == ["SendAs", "HardDelete", "SendAs"]
    first = rows[0]
    assert first["MailboxIdentity"] == "Alex Wilber"
    assert first["MailboxResolvedOwnerName"] == "Alex Wilber"
    assert first["LogonType"] == "Delegate"
    assert first["ClientInfoString"] == "Client=OWA;Action=ViaProxy"
    assert first["ClientIPAddress"] == "203.0.113.9"
    assert first["ItemSubject"] == "Invoice"
    assert first["FolderPathName"] == "\\Sent Items"
    assert first["MailboxGuid"] == mailbox["ExchangeGuid"]
    assert first["RecordId"] == sent["Id"]
    assert first["LastAccessed"].endswith("Z")
    assert rows[1]["LogonType"] == "Owner"

    # Filters: logon type, operation, dates, and summary shape without -ShowDetails.
    assert len(api.all("Search-MailboxAuditLog", LogonTypes=["Owner"])) == 1
    assert (
        len(api.all("Search-MailboxAuditLog", Operations=["SendAs"], LogonTypes=["Delegate", "Admin"])) == 2
    )
    assert api.all("Search-MailboxAuditLog", Identity="meganb") == []
    later = (utcnow(clock) + timedelta(hours=1)).isoformat() + "Z"
    assert api.all("Search-MailboxAuditLog", StartDate=later) == []
    summary = api.all("Search-MailboxAuditLog", EndDate=later)
    assert len(summary) == 3
    assert set(summary[0]) == {
        "MailboxIdentity",
        "MailboxResolvedOwnerName",
        "LastAccessed",
        "Operation",
        "OperationResult",
        "LogonType",
    }
    # Pageable, and the search itself is an audited read.
    pages = api.call("Search-MailboxAuditLog", page_size=2)
    assert len(pages.json()["value"]) == 2
    assert "@odata.nextLink" in pages.json()
    assert len(api.all("Search-MailboxAuditLog", page_size=1)) == 3
    with db.unit_of_work(write=False) as uow:
        reads = uow.session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.tenant_id == api.tenant.id, AuditRecord.operation == "Search-MailboxAuditLog")
        )
    assert reads
    assert reads >= 5


def test_the_record_is_in_the_exchange_mailbox_schema(
    setup: tuple[Api, Store, dict[str, Any]], clock: FakeClock, db: Database
) -> None:
    api, store, mailbox = setup
    event = _event(mailbox, clock, ExternalAccess=False, InternalLogonType=2)
    assert store.submit([event]).status_code == 200
    with db.unit_of_work(write=False) as uow:
        data = uow.session.scalars(
            select(AuditRecord.data).where(
                AuditRecord.tenant_id == api.tenant.id, AuditRecord.record_id == event["Id"]
            )
        ).one()
    assert data["RecordType"] == 2
    assert data["Workload"] == "Exchange"
    assert data["OrganizationId"] == api.tenant.id
    assert data["Operation"] == "SendAs"
    assert data["LogonType"] == 2
    assert data["InternalLogonType"] == 2
    assert data["MailboxOwnerUPN"] == mailbox["UserPrincipalName"]
    assert data["UserId"] == event["UserId"]
    assert data["ClientIP"] == "203.0.113.9"
    assert data["AppId"]  # the ingesting app
    assert data["Item"]["ParentFolder"]["Path"] == "\\Sent Items"
    group = _event(mailbox, clock, Operation="MoveToDeletedItems", LogonType=2, AffectedItems=[{"Id": "a"}])
    assert store.submit([group]).status_code == 200
    with db.unit_of_work(write=False) as uow:
        kind = uow.session.scalar(
            select(AuditRecord.record_type).where(
                AuditRecord.tenant_id == api.tenant.id, AuditRecord.record_id == group["Id"]
            )
        )
    assert kind == 3  # ExchangeItemGroup


def test_replay_is_idempotent_and_a_reused_id_conflicts(
    setup: tuple[Api, Store, dict[str, Any]], clock: FakeClock, db: Database
) -> None:
    api, store, mailbox = setup
    event = _event(mailbox, clock)
    assert store.submit([event]).json()["Recorded"] == 1
    count = _count(db, api.tenant.id)
    again = store.submit([event])
    assert again.status_code == 200
    assert again.json()["value"] == [{"Id": event["Id"], "Status": "Duplicate"}]
    assert _count(db, api.tenant.id) == count
    # The same Id in one batch twice, identical: accepted once.
    twin = _event(mailbox, clock)
    assert store.submit([twin, twin]).json()["Recorded"] == 1
    count = _count(db, api.tenant.id)
    # A different event with a used Id: 409, and the whole batch is refused.
    fresh = _event(mailbox, clock)
    conflict = store.submit([fresh, {**event, "ClientInfoString": "Client=EWS"}])
    assert conflict.status_code == 409, conflict.text
    assert _count(db, api.tenant.id) == count
    assert store.submit([{**twin, "Operation": "Update"}]).status_code == 409
    assert store.submit([fresh, {**fresh, "LogonType": 1}]).status_code == 409
    # An Id that is some other audit record's is taken too.
    with db.unit_of_work(write=False) as uow:
        other = uow.session.scalar(
            select(AuditRecord.record_id).where(
                AuditRecord.tenant_id == api.tenant.id, AuditRecord.operation == "New-Mailbox"
            )
        )
    assert store.submit([_event(mailbox, clock, Id=other)]).status_code == 409


@pytest.mark.parametrize(
    "change",
    [
        {"Id": "not-a-guid"},
        {"Operation": "DeleteEverything"},
        {"LogonType": 3},
        {"CreationTime": "yesterday"},
        {"ClientIP": "999.1.1.1"},
        {"Unexpected": True},
        {"MailboxGuid": None},
        {"UserId": ""},
        {"Item": {"Subject": "x" * 2000}},
    ],
)
def test_schema_errors_are_400(
    setup: tuple[Api, Store, dict[str, Any]], clock: FakeClock, db: Database, change: dict[str, Any]
) -> None:
    api, store, mailbox = setup
    count = _count(db, api.tenant.id)
    response = store.submit([_event(mailbox, clock, **change)])
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "InvalidRequestException"
    assert _count(db, api.tenant.id) == count


def test_malformed_bodies_are_400(setup: tuple[Api, Store, dict[str, Any]], clock: FakeClock) -> None:
    api, store, mailbox = setup
    assert store.submit([]).status_code == 400
    assert store.submit({"events": []}).status_code == 400
    assert store.submit([_event(mailbox, clock)] * 1001).status_code == 400
    future = (utcnow(clock) + timedelta(hours=1)).isoformat() + "Z"
    assert store.submit([_event(mailbox, clock, CreationTime=future)]).status_code == 400
    raw = api.client.post(store.url, content=b"{not json", headers={"Authorization": f"Bearer {store.token}"})
    assert raw.status_code == 400


def test_unknown_mailbox_is_404(
    setup: tuple[Api, Store, dict[str, Any]], clock: FakeClock, db: Database
) -> None:
    api, store, mailbox = setup
    count = _count(db, api.tenant.id)
    ghost = _event(mailbox, clock, MailboxGuid=str(uuid.uuid4()))
    assert store.submit([_event(mailbox, clock), ghost]).status_code == 404
    nobody = _event(mailbox, clock, MailboxOwnerUPN=f"nobody@{api.tenant.domain}")
    nobody.pop("MailboxGuid")
    assert store.submit([nobody]).status_code == 404
    # Guid and UPN of two different mailboxes do not resolve.
    mixed = _event(mailbox, clock, MailboxOwnerUPN=f"meganb@{api.tenant.domain}")
    assert store.submit([mixed]).status_code == 404
    assert _count(db, api.tenant.id) == count


def test_only_apps_of_the_role_group_may_submit(
    setup: tuple[Api, Store, dict[str, Any]], clock: FakeClock, db: Database
) -> None:
    api, store, mailbox = setup
    event = [_event(mailbox, clock)]
    user = store.submit(event, token=api.tenant.key)
    assert user.status_code == 403, user.text
    other_app = _app_token(api, db, clock, ("Organization Management",))
    assert store.submit(event, token=other_app).status_code == 403
    assert store.submit(event, token="not-a-token").status_code == 401
    with db.unit_of_work(write=False) as uow:
        denials = list(
            uow.session.scalars(
                select(AuditRecord).where(
                    AuditRecord.tenant_id == api.tenant.id,
                    AuditRecord.operation == "SubmitMailboxAuditEvents",
                )
            )
        )
    assert len(denials) == 2
    assert all(d.high_severity and d.result_status == "False" for d in denials)
    assert api.all("Search-MailboxAuditLog") == []


def test_the_policy_decides_what_is_kept(setup: tuple[Api, Store, dict[str, Any]], clock: FakeClock) -> None:
    api, store, mailbox = setup
    meganb = f"meganb@{api.tenant.domain}"
    # Owner SendAs is not in the owner's default set.
    owner_send_as = _event(mailbox, clock, LogonType=0, UserId=mailbox["UserPrincipalName"])
    # A bypassed delegate's actions are not logged.
    api.ok("Set-MailboxAuditBypassAssociation", Identity="meganb", AuditBypassEnabled=True)
    bypassed = _event(mailbox, clock, UserId=meganb)
    kept = _event(mailbox, clock, UserId=mailbox["UserPrincipalName"], LogonType=1, Operation="HardDelete")
    body = store.submit([owner_send_as, bypassed, kept]).json()
    assert [r["Status"] for r in body["value"]] == ["NotAudited", "NotAudited", "Recorded"]
    api.ok("Set-OrganizationConfig", AuditDisabled=True)
    late = _event(mailbox, clock, UserId=mailbox["UserPrincipalName"], LogonType=1, Operation="HardDelete")
    assert store.submit([late]).json()["NotAudited"] == 1
    assert [r["Operation"] for r in api.all("Search-MailboxAuditLog")] == ["HardDelete"]
