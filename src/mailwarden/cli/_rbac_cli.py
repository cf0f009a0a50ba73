"""Operator commands for privileged access (Exchange PAM, SEMANTICS §9), run on the server host:

    mailwarden elevate --tenant T --as UPN --task Add-MailboxPermission --hours 1 --reason "..."
    mailwarden elevate list --tenant T [--status Pending]
    mailwarden elevate approve|deny REQUEST_ID --tenant T [--as UPN] [--comment "..."]

Each one is the matching cmdlet (New-/Get-/Approve-/Deny-ElevatedAccessRequest) run through the server's
executor, so RBAC, PAM rules and the audit log apply exactly as over HTTP. A request is always made *as a user*
(``--as``): requests belong to a requester, and the local operator is no one's requester. Approving or denying
may be done as a user (``--as``: an approver, never the requester) or, without ``--as``, as the local operator
(the system principal, which PAM counts as an approver: it already has the database in hand).
"""

# The cmdlet, directory and store modules (and SQLAlchemy) are imported inside the helpers: the client
# commands (login, invoke, ...) share the CLI app and must not pay for the server stack at start-up.
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from ..errors import ApiError, ConfigurationError
from ..principal import Principal
from ._context import apply_overrides, open_database, server_executor

if TYPE_CHECKING:
    from ..cmdlets import TenantInfo
    from ..cmdlets._executor import Executor

__all__ = ["register_rbac_commands"]

console = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory")]
DbUrl = Annotated[str | None, typer.Option("--database-url", help="Database URL")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Tenant id or initial domain")]
AsUser = Annotated[str | None, typer.Option("--as", help="Act as this user (UPN)")]
Comment = Annotated[str | None, typer.Option("--comment", help="Shown to the requester")]
RequestId = Annotated[str, typer.Argument(help="The request id (RequestId)")]


def _fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _setup(
    data_dir: Path | None, database_url: str | None, tenant: str | None
) -> tuple[Executor, TenantInfo]:
    from ..cmdlets import TenantInfo
    from ..directory import find_tenant

    if tenant is None:
        _fail("--tenant is required")
    try:
        settings = apply_overrides(data_dir, database_url)
        db = open_database(settings)
        executor = server_executor(settings, db)
    except ConfigurationError as exc:
        _fail(str(exc))
    with db.unit_of_work(write=False) as uow:
        row = find_tenant(uow.session, tenant)
        if row is None:
            _fail(f"no tenant '{tenant}'")
        return executor, TenantInfo(row.id, row.name, row.initial_domain)


def _principal(executor: Executor, info: TenantInfo, upn: str | None) -> Principal:
    from sqlalchemy import select

    from ..store._identity_models import IdentityUser

    if upn is None:
        return Principal(info.id, "system", "System", "system")
    with executor.db.unit_of_work(write=False) as uow:
        user = uow.session.scalar(
            select(IdentityUser).where(
                IdentityUser.tenant_id == info.id, IdentityUser.upn_key == upn.strip().lower()
            )
        )
        if user is None:
            _fail(f"user '{upn}' not found in tenant {info.initial_domain}")
        if user.disabled:
            _fail(f"user '{upn}' is disabled")
        # The same principal a sign-in of this account produces (user object id), so group membership,
        # approvals and "can't approve your own request" see one and the same requester.
        return Principal(info.id, user.id, user.upn, "user")


def _run(
    executor: Executor, info: TenantInfo, principal: Principal, cmdlet: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    spec = executor.registry.get(cmdlet)
    assert spec is not None, cmdlet
    try:
        result = executor.run(spec, params, tenant=info, principal=principal, page_size=1000)
    except ApiError as exc:
        _fail(f"{exc.message} ({exc.code})")
    return result.value


def _show(request: dict[str, Any]) -> str:
    return (
        f"{request['RequestId']}  {request['RequestStatus']}  {request['Task']}  by {request['Requestor']}"
        f"  {request['DurationHours']}h  {request['Reason']!r}"
    )


def register_rbac_commands(app: typer.Typer) -> None:
    elevate_app = typer.Typer(
        no_args_is_help=False,
        invoke_without_command=True,
        help="Privileged access: request elevation for a task (PAM), list, approve or deny requests.",
    )
    app.add_typer(elevate_app, name="elevate")

    @elevate_app.callback()
    def elevate(
        ctx: typer.Context,
        tenant: TenantOpt = None,
        as_user: AsUser = None,
        task: Annotated[str | None, typer.Option("--task", help="Cmdlet under a Task policy")] = None,
        role: Annotated[str | None, typer.Option("--role", help="Role under a Role policy")] = None,
        role_group: Annotated[
            str | None, typer.Option("--role-group", help="Role group under a RoleGroup policy")
        ] = None,
        hours: Annotated[int, typer.Option("--hours", min=1, help="DurationHours (default 4)")] = 4,
        reason: Annotated[str | None, typer.Option("--reason", help="Why (shown to approvers)")] = None,
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """Request elevation (New-ElevatedAccessRequest) as --as; an Auto policy approves it at once."""
        if ctx.invoked_subcommand is not None:
            return
        targets = {"Task": task, "Role": role, "RoleGroup": role_group}
        given = {k: v for k, v in targets.items() if v is not None}
        if len(given) != 1:
            _fail("give exactly one of --task, --role or --role-group")
        if not reason:
            _fail("--reason is required")
        if as_user is None:
            _fail("--as UPN is required: a request is made by a user")
        executor, info = _setup(data_dir, database_url, tenant)
        principal = _principal(executor, info, as_user)
        params = {**given, "Reason": reason, "DurationHours": hours}
        request = _run(executor, info, principal, "New-ElevatedAccessRequest", params)[0]
        if as_json:
            print(json.dumps(request))
        else:
            print(_show(request))

    @elevate_app.command("list")
    def elevate_list(
        tenant: TenantOpt = None,
        status: Annotated[
            str | None, typer.Option("--status", help="Pending, Approved, Denied, Expired, Revoked")
        ] = None,
        as_user: AsUser = None,
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """List requests (Get-ElevatedAccessRequest)."""
        executor, info = _setup(data_dir, database_url, tenant)
        principal = _principal(executor, info, as_user)
        params = {} if status is None else {"RequestStatus": status}
        requests = _run(executor, info, principal, "Get-ElevatedAccessRequest", params)
        if as_json:
            print(json.dumps(requests))
        else:
            for request in requests:
                print(_show(request))

    def _answer(
        cmdlet: str,
        request_id: str,
        tenant: str | None,
        as_user: str | None,
        comment: str | None,
        data_dir: Path | None,
        database_url: str | None,
        as_json: bool,
    ) -> None:
        executor, info = _setup(data_dir, database_url, tenant)
        principal = _principal(executor, info, as_user)
        params: dict[str, Any] = {"RequestId": request_id}
        if comment is not None:
            params["Comment"] = comment
        _run(executor, info, principal, cmdlet, params)
        request = _run(executor, info, principal, "Get-ElevatedAccessRequest", {"Identity": request_id})[0]
        if as_json:
            print(json.dumps(request))
        else:
            print(_show(request))

    @elevate_app.command("approve")
    def elevate_approve(
        request_id: RequestId,
        tenant: TenantOpt = None,
        as_user: AsUser = None,
        comment: Comment = None,
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """Approve a pending request (Approve-ElevatedAccessRequest); never your own."""
        _answer(
            "Approve-ElevatedAccessRequest",
            request_id,
            tenant,
            as_user,
            comment,
            data_dir,
            database_url,
            as_json,
        )

    @elevate_app.command("deny")
    def elevate_deny(
        request_id: RequestId,
        tenant: TenantOpt = None,
        as_user: AsUser = None,
        comment: Comment = None,
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """Deny a pending request (Deny-ElevatedAccessRequest); never your own."""
        _answer(
            "Deny-ElevatedAccessRequest",
            request_id,
            tenant,
            as_user,
            comment,
            data_dir,
            database_url,
            as_json,
        )
