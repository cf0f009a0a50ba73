"""The HTTP surface: health and readiness, discovery, authentication, error shapes, throttling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from mailwarden.api import create_app
from mailwarden.clock import FakeClock
from mailwarden.cmdlets import CmdletSpec, Param, ParamType, Registry, default_registry
from mailwarden.config import Settings
from mailwarden.store import Database

from conftest import SECRET, Api, TenantHandle


def test_healthz_and_readyz(app_client: TestClient) -> None:
    assert app_client.get("/healthz").json() == {"status": "ok"}
    response = app_client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_readyz_reports_unmigrated_database(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    settings = Settings(data_dir=tmp_path, secret_key=SECRET)
    with TestClient(create_app(settings, db=db)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "ServiceUnavailable"
    assert "Traceback" not in response.text


def test_openapi_describes_invoke_command(app_client: TestClient) -> None:
    spec = app_client.get("/openapi.json").json()
    assert "/adminapi/beta/{tenant}/InvokeCommand" in spec["paths"]
    assert "post" in spec["paths"]["/adminapi/beta/{tenant}/InvokeCommand"]


def test_cmdlet_list_matches_registry(api: Api) -> None:
    response = api.client.get(
        f"/adminapi/beta/{api.tenant.domain}/cmdlets", headers={"Authorization": f"Bearer {api.tenant.key}"}
    )
    assert response.status_code == 200
    listed = {c["Name"] for c in response.json()["value"]}
    assert listed == set(default_registry().names())
    get_mailbox = next(c for c in response.json()["value"] if c["Name"] == "Get-Mailbox")
    names = {p["Name"] for p in get_mailbox["Parameters"]}
    assert {"Identity", "Filter", "ResultSize", "Anr"} <= names
    new_mailbox = next(c for c in response.json()["value"] if c["Name"] == "New-Mailbox")
    assert {"WhatIf", "Confirm"} <= {p["Name"] for p in new_mailbox["Parameters"]}
    assert set(new_mailbox["ParameterSets"]) == {"User", "Shared", "Room", "Equipment"}


def test_cmdlet_list_requires_authentication(app_client: TestClient, tenant: TenantHandle) -> None:
    assert app_client.get(f"/adminapi/beta/{tenant.domain}/cmdlets").status_code == 401


def _post(client: TestClient, url: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.post(url, json=body, headers=headers or {})


def test_authentication_failures_are_uniform(app_client: TestClient, tenant: TenantHandle) -> None:
    url = f"/adminapi/beta/{tenant.domain}/InvokeCommand"
    body = {"CmdletInput": {"CmdletName": "Get-Mailbox"}}
    for headers in (
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer mwk_not-a-real-key"},
        {"Authorization": f"Bearer {tenant.key}x"},
    ):
        response = _post(app_client, url, body, headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert response.json()["error"]["code"] == "Unauthorized"
    # An unknown tenant answers exactly like a bad key.
    response = _post(
        app_client,
        "/adminapi/beta/nosuch.onmicrosoft.com/InvokeCommand",
        body,
        {"Authorization": f"Bearer {tenant.key}"},
    )
    assert response.status_code == 401


def test_tenant_addressed_by_id_or_domain(api: Api) -> None:
    by_id = f"/adminapi/beta/{api.tenant.id}/InvokeCommand"
    assert api.call("Get-AcceptedDomain", url=by_id).status_code == 200
    assert (
        api.call("Get-AcceptedDomain", url=by_id.replace(api.tenant.id, api.tenant.id.upper())).status_code
        == 200
    )
    assert api.call("Get-AcceptedDomain").status_code == 200


def test_malformed_requests_are_400_without_trace(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.tenant.key}", "Content-Type": "application/json"}
    for raw in (b"{", b"[]", b'{"CmdletInput": 5}', b'{"CmdletInput": {"Parameters": {}}}', b"\xff\xfe"):
        response = api.client.post(api.url(), content=raw, headers=headers)
        assert response.status_code == 400, raw
        assert response.json()["error"]["code"] == "InvalidRequestException"
        assert "Traceback" not in response.text
    err = api.error("Get-Nothing", 400)
    assert err["code"] == "CommandNotFoundException"
    assert "Get-Nothing" in err["message"]
    response = api.client.post(
        api.url(),
        json={"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": ["Identity", "x"]}},
        headers=headers,
    )
    assert response.status_code == 400


def test_cmdlet_names_and_parameters_are_case_insensitive(api: Api) -> None:
    assert api.call("get-mailbox", resultsize="unlimited").status_code == 200
    assert api.call("GET-ACCEPTEDDOMAIN").status_code == 200


def test_client_request_id_is_echoed(api: Api) -> None:
    response = api.client.post(
        api.url(),
        json={"CmdletInput": {"CmdletName": "Get-AcceptedDomain"}},
        headers={"Authorization": f"Bearer {api.tenant.key}", "client-request-id": "abc-123"},
    )
    assert response.headers["client-request-id"] == "abc-123"


def test_rate_limit_answers_429_with_retry_after(
    tmp_path: Path, db: Database, settings: Settings, tenant: TenantHandle
) -> None:
    clock = FakeClock()
    limited = settings.model_copy(update={"rate_limit_per_minute": 3})
    with TestClient(create_app(limited, clock=clock, db=db)) as client:
        api = Api(client, tenant)
        for _ in range(3):
            assert api.call("Get-AcceptedDomain").status_code == 200
        response = api.call("Get-AcceptedDomain")
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "ThrottlingException"
        retry = int(response.headers["Retry-After"])
        assert 1 <= retry <= 61
        clock.advance(retry)
        assert api.call("Get-AcceptedDomain").status_code == 200


def test_unexpected_error_is_500_without_detail(
    db: Database, settings: Settings, tenant: TenantHandle, clock: FakeClock
) -> None:
    def boom(_inv: Any) -> None:
        raise RuntimeError("secret internal detail")

    app = create_app(settings, db=db, clock=clock)
    state = app.state.mailwarden
    registry = Registry(
        [*default_registry(), CmdletSpec("Test-Boom", (Param("X", ParamType.STRING),), boom, False, "x")]
    )
    state.registry = registry
    state.executor.registry = registry
    # Test-Boom has no role entry; this test is about error rendering, not authorisation.
    state.executor.before_handler.clear()
    state.executor.after_handler.clear()
    with TestClient(app, raise_server_exceptions=False) as client:
        response = Api(client, tenant).call("Test-Boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "InternalServerError"
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
