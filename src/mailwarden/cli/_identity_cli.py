"""Operator commands for identity, run on the server host with database access: ``user``, ``mfa``, ``session``
and ``ca`` (conditional access). ``--tenant`` takes the tenant id or its initial domain; ``--json`` everywhere.
``mailwarden mfa enroll-totp`` is how the first administrator is bootstrapped (secret + otpauth URI, or a QR code
in the terminal)."""

# The identity, audit, RBAC, directory and store modules (and segno) are imported inside the commands: the
# client commands (login, invoke, ...) share the CLI app and must not pay for the server stack at start-up.
from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from ..clock import SystemClock
from ..errors import ApiError, ConfigurationError, NotFoundError
from ._context import apply_overrides, open_database

if TYPE_CHECKING:
    from ..identity import IdentityService, RecordedEvent, UserInfo
    from ..store import UnitOfWork

__all__ = ["register_identity_commands"]

console = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory")]
DbUrl = Annotated[str | None, typer.Option("--database-url", help="Database URL")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant id or initial domain")]
UpnOpt = Annotated[str, typer.Option("--upn", help="User principal name (user@domain)")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input (one line)")
]
# mailwarden.identity.ACTIONS, for the help of `ca policy add` without importing the identity stack
# (tests/test_cli_startup.py checks that the two agree).
_CA_ACTIONS = ("block_outside_locations", "require_mfa", "require_phishing_resistant_mfa")


def _fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except ApiError as exc:
        _fail(exc.message)
    except ConfigurationError as exc:
        _fail(str(exc))


def _service(
    data_dir: Path | None,
    database_url: str | None,
    on_event: Callable[[UnitOfWork, RecordedEvent], None] | None = None,
) -> IdentityService:
    """``on_event`` runs inside the unit of work of each identity event, before its audit record."""
    from ..audit._identity_events import identity_audit_hook
    from ..audit._service import AuditService
    from ..identity import IdentityService
    from ..store import KeyRing, SecretBox

    settings = apply_overrides(data_dir, database_url)
    with _errors():
        db = open_database(settings)
        clock = SystemClock()
        # Operator actions (factor resets, accounts, CA changes) go to the unified audit log too (DESIGN §7).
        audit = AuditService(db, KeyRing(db, SecretBox(settings.resolved_secret_key()), clock), clock)
        audit_hook = identity_audit_hook(audit)
        if on_event is None:
            return IdentityService.from_settings(settings, db, clock, audit_hook=audit_hook)
        extra = on_event

        def hook(uow: UnitOfWork, event: RecordedEvent) -> None:
            extra(uow, event)
            audit_hook(uow, event)

        return IdentityService.from_settings(settings, db, clock, audit_hook=hook)


def _tenant_id(service: IdentityService, ref: str) -> str:
    from ..directory import find_tenant

    with service.db.unit_of_work(write=False) as uow:
        row = find_tenant(uow.session, ref)
        if row is None:
            _fail(f"tenant '{ref}' not found")
        return row.id


def _user(service: IdentityService, tenant_id: str, upn: str) -> UserInfo:
    user = service.find_user(tenant_id, upn)
    if user is None:
        _fail(f"user '{upn}' not found")
    return user


def _read_password(from_stdin: bool) -> str:
    if not from_stdin:
        _fail("pass the password on standard input with --password-stdin (never on the command line)")
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def _emit(as_json: bool, payload: Any, text: Callable[[], None]) -> None:
    if as_json:
        print(json.dumps(payload))
    else:
        text()


def register_identity_commands(app: typer.Typer) -> None:
    user_app = typer.Typer(no_args_is_help=True, help="Sign-in accounts (passwords: argon2id).")
    mfa_app = typer.Typer(no_args_is_help=True, help="Second factors: TOTP, passkeys, recovery codes.")
    session_app = typer.Typer(no_args_is_help=True, help="Browser sign-in sessions.")
    ca_app = typer.Typer(no_args_is_help=True, help="Conditional access: named locations and policies.")
    location_app = typer.Typer(no_args_is_help=True, help="Named locations (CIDR lists).")
    policy_app = typer.Typer(no_args_is_help=True, help="Conditional access policies.")
    app.add_typer(user_app, name="user")
    app.add_typer(mfa_app, name="mfa")
    app.add_typer(session_app, name="session")
    app.add_typer(ca_app, name="ca")
    ca_app.add_typer(location_app, name="location")
    ca_app.add_typer(policy_app, name="policy")

    # --- user ---------------------------------------------------------------------------------------------

    @user_app.command("create")
    def user_create(
        tenant: TenantOpt,
        upn: UpnOpt,
        password_stdin: PasswordStdin = False,
        role_group: Annotated[
            list[str] | None, typer.Option("--role-group", help="Role group (repeatable); any = admin")
        ] = None,
        display_name: Annotated[str | None, typer.Option("--display-name")] = None,
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """Create an account (linked to the mailbox with the same UPN when there is one)."""
        from ..rbac import add_principal_to_role_groups

        password = _read_password(password_stdin)
        groups = tuple(role_group or ())

        def join_role_groups(uow: UnitOfWork, event: RecordedEvent) -> None:
            # RBAC membership is what grants permissions (the account's own list is informational): it is
            # written in the account's unit of work, so an unknown role group leaves no account behind.
            if event.kind == "user_created" and event.user_id is not None:
                add_principal_to_role_groups(uow.session, event.tenant_id, "user", event.user_id, groups)

        service = _service(data_dir, database_url, join_role_groups)
        tid = _tenant_id(service, tenant)
        try:
            user = service.create_user(tid, upn, password, display_name=display_name, role_groups=groups)
        except NotFoundError as exc:
            _fail(f"unknown role group: {exc.message} Nothing was created.")
        except ApiError as exc:
            _fail(exc.message)
        _emit(
            as_json,
            {"user_id": user.user_id, "upn": user.upn},
            lambda: console.print(f"user {user.upn} created ({user.user_id})", highlight=False),
        )

    @user_app.command("set-password")
    def user_set_password(
        tenant: TenantOpt,
        upn: UpnOpt,
        password_stdin: PasswordStdin = False,
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """Set a new password; the user's sessions end."""
        password = _read_password(password_stdin)
        service = _service(data_dir, database_url)
        user = _user(service, _tenant_id(service, tenant), upn)
        with _errors():
            service.set_password(user.tenant_id, user.user_id, password)
        _emit(
            as_json,
            {"user_id": user.user_id, "upn": user.upn, "password_set": True},
            lambda: console.print(f"password set for {user.upn}", highlight=False),
        )

    @user_app.command("list")
    def user_list(
        tenant: TenantOpt, data_dir: DataDir = None, database_url: DbUrl = None, as_json: AsJson = False
    ) -> None:
        """List accounts."""
        service = _service(data_dir, database_url)
        users = service.list_users(_tenant_id(service, tenant))

        def text() -> None:
            for u in users:
                flags = " (disabled)" if u.disabled else ""
                groups = f" [{', '.join(u.role_groups)}]" if u.role_groups else ""
                print(f"{u.user_id}  {u.upn}{groups}{flags}")

        _emit(as_json, [u.to_json() for u in users], text)

    @user_app.command("disable")
    def user_disable(
        tenant: TenantOpt,
        upn: UpnOpt,
        enable: Annotated[bool, typer.Option("--enable", help="Re-enable instead")] = False,
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """Disable an account (its sessions end at once), or re-enable it with --enable."""
        service = _service(data_dir, database_url)
        user = _user(service, _tenant_id(service, tenant), upn)
        with _errors():
            service.set_disabled(user.tenant_id, user.user_id, not enable)
        _emit(
            as_json,
            {"user_id": user.user_id, "upn": user.upn, "disabled": not enable},
            lambda: console.print(f"{user.upn} {'enabled' if enable else 'disabled'}", highlight=False),
        )

    # --- mfa ----------------------------------------------------------------------------------------------

    @mfa_app.command("enroll-totp")
    def mfa_enroll_totp(
        tenant: TenantOpt,
        upn: UpnOpt,
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """Give the user an authenticator-app secret (replaces any previous one). Without --json, shows a QR
        code in the terminal."""
        import segno

        service = _service(data_dir, database_url)
        user = _user(service, _tenant_id(service, tenant), upn)
        with _errors():
            enrolment = service.operator_enroll_totp(user.tenant_id, user.user_id)

        def text() -> None:
            console.print(f"authenticator app for {user.upn}: scan this code, or enter the key by hand")
            segno.make(enrolment.otpauth_uri, error="m").terminal(out=sys.stdout, compact=True)
            print(f"key: {enrolment.secret_base32}")
            print(f"uri: {enrolment.otpauth_uri}")

        _emit(as_json, {"secret": enrolment.secret_base32, "otpauth_uri": enrolment.otpauth_uri}, text)

    @mfa_app.command("list")
    def mfa_list(
        tenant: TenantOpt,
        upn: UpnOpt,
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """List a user's second factors."""
        service = _service(data_dir, database_url)
        user = _user(service, _tenant_id(service, tenant), upn)
        factors = service.list_factors(user.tenant_id, user.user_id)

        def text() -> None:
            for f in factors:
                extra = f" ({f.remaining} left)" if f.remaining is not None else ""
                print(f"{f.kind}  {f.factor_id}  {f.name}{extra}")

        _emit(as_json, [f.to_json() for f in factors], text)

    @mfa_app.command("reset")
    def mfa_reset(
        tenant: TenantOpt,
        upn: UpnOpt,
        kind: Annotated[
            str | None, typer.Option("--kind", help="totp, webauthn or recovery_codes (default: all)")
        ] = None,
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """Remove a user's factors (all, or one kind) and end their sessions."""
        service = _service(data_dir, database_url)
        user = _user(service, _tenant_id(service, tenant), upn)
        with _errors():
            removed = service.reset_factors(user.tenant_id, user.user_id, kind)
        _emit(
            as_json,
            {"user_id": user.user_id, "upn": user.upn, "removed": removed},
            lambda: console.print(f"{removed} factor record(s) removed for {user.upn}", highlight=False),
        )

    # --- session ------------------------------------------------------------------------------------------

    @session_app.command("list")
    def session_list(
        tenant: TenantOpt,
        user: Annotated[str | None, typer.Option("--user", help="Only this user's sessions (UPN)")] = None,
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """List active sessions."""
        service = _service(data_dir, database_url)
        tid = _tenant_id(service, tenant)
        user_id = _user(service, tid, user).user_id if user else None
        sessions = service.list_sessions(tid, user_id)

        def text() -> None:
            for s in sessions:
                print(
                    f"{s.session_id}  {s.upn}  since {s.created_at:%Y-%m-%d %H:%M}  {'+'.join(s.amr)}  {s.ip or ''}"
                )

        _emit(as_json, [s.to_json() for s in sessions], text)

    @session_app.command("revoke")
    def session_revoke(
        tenant: TenantOpt,
        user: Annotated[
            str | None, typer.Option("--user", help="Revoke all of this user's sessions (UPN)")
        ] = None,
        session_id: Annotated[str | None, typer.Option("--session-id", help="Revoke this session")] = None,
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """Revoke one session (--session-id) or every session of a user (--user)."""
        if (user is None) == (session_id is None):
            _fail("pass exactly one of --user or --session-id")
        service = _service(data_dir, database_url)
        tid = _tenant_id(service, tenant)
        with _errors():
            if session_id is not None:
                service.revoke_session(tid, session_id)
                revoked = 1
            else:
                assert user is not None
                revoked = service.revoke_user_sessions(tid, _user(service, tid, user).user_id)
        _emit(as_json, {"revoked": revoked}, lambda: console.print(f"{revoked} session(s) revoked"))

    # --- conditional access -----------------------------------------------------------------------------------

    @location_app.command("add")
    def location_add(
        tenant: TenantOpt,
        name: Annotated[str, typer.Option("--name")],
        cidr: Annotated[list[str], typer.Option("--cidr", help="CIDR range, IPv4 or IPv6 (repeatable)")],
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """Add a named location."""
        service = _service(data_dir, database_url)
        with _errors():
            loc = service.add_location(_tenant_id(service, tenant), name, cidr)
        _emit(as_json, loc.to_json(), lambda: console.print(f"location {loc.name} added", highlight=False))

    @location_app.command("list")
    def location_list(
        tenant: TenantOpt, data_dir: DataDir = None, database_url: DbUrl = None, as_json: AsJson = False
    ) -> None:
        """List named locations."""
        service = _service(data_dir, database_url)
        locations = service.list_locations(_tenant_id(service, tenant))

        def text() -> None:
            for loc in locations:
                print(f"{loc.name}  {', '.join(loc.cidrs)}")

        _emit(as_json, [loc.to_json() for loc in locations], text)

    @location_app.command("remove")
    def location_remove(
        tenant: TenantOpt,
        name: Annotated[str, typer.Option("--name")],
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """Remove a named location (refused while a policy uses it)."""
        service = _service(data_dir, database_url)
        with _errors():
            service.remove_location(_tenant_id(service, tenant), name)
        _emit(as_json, {"removed": name}, lambda: console.print(f"location {name} removed", highlight=False))

    @policy_app.command("add")
    def policy_add(
        tenant: TenantOpt,
        name: Annotated[str, typer.Option("--name")],
        action: Annotated[str, typer.Option("--action", help=" | ".join(_CA_ACTIONS))],
        all_users: Annotated[bool, typer.Option("--all-users", help="Assign to every user")] = False,
        user: Annotated[list[str] | None, typer.Option("--user", help="User UPN or id (repeatable)")] = None,
        role_group: Annotated[
            list[str] | None, typer.Option("--role-group", help="Role group (repeatable)")
        ] = None,
        app_id: Annotated[
            list[str] | None, typer.Option("--app", help="App (client) id, or * (repeatable)")
        ] = None,
        location: Annotated[
            list[str] | None, typer.Option("--location", help="Allowed named location (repeatable)")
        ] = None,
        disabled: Annotated[bool, typer.Option("--disabled", help="Create switched off")] = False,
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """Add a policy: require_mfa, require_phishing_resistant_mfa or block_outside_locations."""
        service = _service(data_dir, database_url)
        with _errors():
            policy = service.add_policy(
                _tenant_id(service, tenant),
                name,
                action,
                all_users=all_users,
                users=user or (),
                role_groups=role_group or (),
                apps=app_id or (),
                locations=location or (),
                enabled=not disabled,
            )
        _emit(
            as_json, policy.to_json(), lambda: console.print(f"policy {policy.name} added", highlight=False)
        )

    @policy_app.command("list")
    def policy_list(
        tenant: TenantOpt, data_dir: DataDir = None, database_url: DbUrl = None, as_json: AsJson = False
    ) -> None:
        """List policies."""
        service = _service(data_dir, database_url)
        policies = service.list_policies(_tenant_id(service, tenant))

        def text() -> None:
            for p in policies:
                state = "" if p.enabled else " (disabled)"
                print(f"{p.name}  {p.action}{state}")

        _emit(as_json, [p.to_json() for p in policies], text)

    @policy_app.command("remove")
    def policy_remove(
        tenant: TenantOpt,
        name: Annotated[str, typer.Option("--name")],
        data_dir: DataDir = None,
        database_url: DbUrl = None,
        as_json: AsJson = False,
    ) -> None:
        """Remove a policy."""
        service = _service(data_dir, database_url)
        with _errors():
            service.remove_policy(_tenant_id(service, tenant), name)
        _emit(as_json, {"removed": name}, lambda: console.print(f"policy {name} removed", highlight=False))
