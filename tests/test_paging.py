"""Keyset paging and signed cursors (DESIGN §3): exact enumeration under concurrent change, tamper-proof
cursors bound to tenant/principal/cmdlet/parameters, and cursors that survive restarts and work on a second
server process sharing the database."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from mailwarden.clock import FakeClock, SystemClock, utcnow
from mailwarden.demo import bulk_mailboxes
from mailwarden.store import Database

from _servers import mailwarden_server
from conftest import SECRET, Api, TenantHandle, issue_user_token, make_tenant


def _seed(db: Database, clock: FakeClock, tenant: TenantHandle, n: int, start: int = 0) -> None:
    with db.unit_of_work() as uow:
        bulk_mailboxes(uow.session, tenant.id, n, now=utcnow(clock), start=start)


def _skiptoken(link: str) -> str:
    return parse_qs(urlsplit(link).query)["$skiptoken"][0]


def _first_link(api: Api, cmdlet: str = "Get-Mailbox", page_size: int = 5, **params: Any) -> str:
    response = api.call(cmdlet, page_size=page_size, **params)
    assert response.status_code == 200, response.text
    link: str = response.json()["@odata.nextLink"]
    return link


def test_next_link_present_exactly_when_more(api: Api, db: Database, clock: FakeClock) -> None:
    _seed(db, clock, api.tenant, 10)
    body = api.call("Get-Mailbox", page_size=5, ResultSize="Unlimited").json()
    assert len(body["value"]) == 5
    assert "@odata.nextLink" in body
    body = api.call("Get-Mailbox", page_size=5, url=body["@odata.nextLink"], ResultSize="Unlimited").json()
    assert len(body["value"]) == 5
    assert "@odata.nextLink" not in body  # exactly 10: the second page is the last
    body = api.call("Get-Mailbox", page_size=10, ResultSize="Unlimited").json()
    assert len(body["value"]) == 10
    assert "@odata.nextLink" not in body


def test_result_size_spans_pages(api: Api, db: Database, clock: FakeClock) -> None:
    _seed(db, clock, api.tenant, 30)
    got = api.all("Get-Mailbox", page_size=4, ResultSize=10)
    assert len(got) == 10
    assert len({m["Guid"] for m in got}) == 10
    # The last page of a capped enumeration says there were more.
    response = api.call("Get-Mailbox", page_size=10, ResultSize=10)
    assert "@odata.nextLink" not in response.json()
    assert "increase the value for the ResultSize" in response.json()["@adminapi.warnings"][0]


def test_prefer_header_is_capped_and_echoed(api: Api, db: Database, clock: FakeClock) -> None:
    _seed(db, clock, api.tenant, 3)
    response = api.call("Get-Mailbox", page_size=5000)
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=1000"
    response = api.call("Get-Mailbox", page_size=2)
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=2"
    assert len(response.json()["value"]) == 2


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    initial=st.integers(min_value=1, max_value=40),
    page_size=st.integers(min_value=1, max_value=9),
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=3), st.lists(st.integers(0, 10_000), max_size=3)),
        max_size=12,
    ),
)
def test_enumeration_exact_under_concurrent_change(
    app_client: TestClient,
    db: Database,
    clock: FakeClock,
    initial: int,
    page_size: int,
    steps: list[tuple[int, list[int]]],
) -> None:
    """Between pages, objects are inserted and deleted. Every object that existed throughout appears exactly
    once; nothing appears twice."""
    tenant = make_tenant(db, clock)
    api = Api(app_client, tenant)
    _seed(db, clock, tenant, initial)
    before = {m["Guid"] for m in api.all("Get-Mailbox", ResultSize="Unlimited")}
    assert len(before) == initial
    removed: set[str] = set()
    counter = initial
    seen: list[str] = []
    response = api.call("Get-Mailbox", page_size=page_size, ResultSize="Unlimited")
    step_iter = iter(steps)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(m["Guid"] for m in body["value"])
        link = body.get("@odata.nextLink")
        if not link:
            break
        inserts, victims = next(step_iter, (0, []))
        if inserts:
            _seed(db, clock, tenant, inserts, start=counter)
            counter += inserts
        alive = sorted(before - removed)
        for v in victims:
            if alive:
                guid = alive[v % len(alive)]
                assert api.call("Remove-Mailbox", Identity=guid).status_code == 200
                removed.add(guid)
                alive.remove(guid)
        response = api.call("Get-Mailbox", page_size=page_size, url=link, ResultSize="Unlimited")
    assert len(seen) == len(set(seen)), "an object was delivered twice"
    survivors = before - removed
    assert survivors <= set(seen), "an object that existed throughout was skipped"


def _tamper(token: str, **changes: Any) -> str:
    body, mac = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data.update(changes)
    new_body = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{new_body}.{mac}"


def test_tampered_cursor_is_refused(api: Api, db: Database, clock: FakeClock) -> None:
    _seed(db, clock, api.tenant, 20)
    link = _first_link(api)
    token = _skiptoken(link)
    base = link.split("?")[0]
    for bad in (
        _tamper(token, k=0),  # rewind the position
        _tamper(token, n=0),
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # broken MAC
        "not-a-cursor",
        token.split(".")[0],
        "",
    ):
        response = api.call("Get-Mailbox", page_size=5, url=f"{base}?$skiptoken={quote(bad)}")
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] in ("InvalidCursorException", "InvalidRequestException")


def test_cursor_bound_to_principal_tenant_cmdlet_and_parameters(
    app_client: TestClient, api: Api, db: Database, clock: FakeClock
) -> None:
    _seed(db, clock, api.tenant, 20)
    link = _first_link(api, Filter="RecipientTypeDetails -eq 'UserMailbox'")
    # Another user of the same tenant is another principal.
    other_key = issue_user_token(db, clock, api.tenant.id, f"second@{api.tenant.domain}")
    other = Api(app_client, TenantHandle(api.tenant.id, api.tenant.domain, other_key))
    response = other.call(
        "Get-Mailbox", page_size=5, url=link, Filter="RecipientTypeDetails -eq 'UserMailbox'"
    )
    assert response.status_code == 400
    assert "another caller" in response.json()["error"]["message"]
    # Another tenant presenting the cursor on its own URL.
    tenant_b = make_tenant(db, clock)
    api_b = Api(app_client, tenant_b)
    moved = f"{api_b.url()}?$skiptoken={quote(_skiptoken(link))}"
    assert (
        api_b.call(
            "Get-Mailbox", page_size=5, url=moved, Filter="RecipientTypeDetails -eq 'UserMailbox'"
        ).status_code
        == 400
    )
    # Same caller, other parameters or other cmdlet.
    assert (
        api.call(
            "Get-Mailbox", page_size=5, url=link, Filter="RecipientTypeDetails -ne 'SharedMailbox'"
        ).status_code
        == 400
    )
    assert (
        api.call(
            "Get-Recipient", page_size=5, url=link, Filter="RecipientTypeDetails -eq 'UserMailbox'"
        ).status_code
        == 400
    )
    # The legitimate continuation still works.
    assert (
        api.call(
            "Get-Mailbox", page_size=5, url=link, Filter="RecipientTypeDetails -eq 'UserMailbox'"
        ).status_code
        == 200
    )


def test_cursor_after_key_rotation(app_client: TestClient, api: Api, db: Database, clock: FakeClock) -> None:
    _seed(db, clock, api.tenant, 12)
    old_link = _first_link(api)
    state = app_client.app.state.mailwarden  # type: ignore[attr-defined]
    state.keyring.rotate("cursor")
    # A cursor signed with the retired key still verifies; new cursors use the new key.
    assert api.call("Get-Mailbox", page_size=5, url=old_link).status_code == 200
    new_link = _first_link(api)
    assert (
        json.loads(base64.urlsafe_b64decode(_skiptoken(new_link).split(".")[0] + "=="))["kid"]
        != json.loads(base64.urlsafe_b64decode(_skiptoken(old_link).split(".")[0] + "=="))["kid"]
    )


def _follow(
    base: str, tenant: TenantHandle, link: str | None, page_size: int = 7
) -> tuple[list[str], str | None]:
    body = {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"ResultSize": "Unlimited"}}}
    url = (
        link.replace(link.split("/adminapi")[0], base)
        if link
        else f"{base}/adminapi/beta/{tenant.domain}/InvokeCommand"
    )
    response = httpx.post(
        url,
        json=body,
        headers={"Authorization": f"Bearer {tenant.key}", "Prefer": f"odata.maxpagesize={page_size}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    data = response.json()
    return [m["Guid"] for m in data["value"]], data.get("@odata.nextLink")


@pytest.mark.slow
def test_cursor_survives_restart_and_works_on_second_process(
    tmp_path: Path, database_url: str, db: Database, clock: FakeClock
) -> None:
    created = make_tenant(db, clock)
    _seed(db, clock, created, 30)
    # The servers run on the real clock and each on its own port: the token must be current and issued
    # for the public base URL all three share (as nodes behind one load balancer do).
    public = "http://mailwarden.test"
    token = issue_user_token(db, SystemClock(), created.id, f"admin@{created.domain}", base_url=public)
    tenant = TenantHandle(created.id, created.domain, token)
    db.dispose()
    data_dir = tmp_path / "srv"
    seen: list[str] = []
    env = {"MAILWARDEN_PUBLIC_BASE_URL": public}
    with mailwarden_server(data_dir, database_url=database_url, secret=SECRET, extra_env=env) as (base_a, _):
        page, link = _follow(base_a, tenant, None)
        seen += page
        # A second node sharing the database continues the enumeration.
        with mailwarden_server(data_dir, database_url=database_url, secret=SECRET, extra_env=env) as (
            base_b,
            _,
        ):
            page, link = _follow(base_b, tenant, link)
            seen += page
    # Both processes gone; a fresh one picks up the cursor.
    with mailwarden_server(data_dir, database_url=database_url, secret=SECRET, extra_env=env) as (base_c, _):
        while link:
            page, link = _follow(base_c, tenant, link)
            seen += page
    assert len(seen) == 30
    assert len(set(seen)) == 30
