"""``mailwarden`` operator CLI: serve, migrate, tenant management, demo. Every command has ``--json``
where it prints something a script would read."""

# Server-side modules (uvicorn, the store, OAuth, the demo seeder, ...) are imported inside the commands: the
# client commands (login, invoke, ...) share this app and must not pay for the server stack at start-up.
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..clock import SystemClock, utcnow
from ..errors import ApiError, ConfigurationError
from ._audit_cli import register_audit_commands
from ._client_cli import register_client_commands
from ._context import apply_overrides, close_databases, open_database, server_executor
from ._identity_cli import register_identity_commands
from ._oauth_cli import register_oauth_commands
from ._rbac_cli import register_rbac_commands

__all__ = ["app", "main"]

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="mailwarden: Exchange-compatible admin plane."
)
tenant_app = typer.Typer(no_args_is_help=True, help="Create and list tenants.")
app.add_typer(tenant_app, name="tenant")
keys_app = typer.Typer(
    no_args_is_help=True, help="Signing keys (rotation keeps old keys valid for verification)."
)
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)


@app.callback()
def _command(ctx: typer.Context) -> None:
    ctx.call_on_close(close_databases)


DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Data directory (default: MAILWARDEN_DATA_DIR or ~/.local/share/mailwarden)"
    ),
]
DbUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="Database URL (default: MAILWARDEN_DATABASE_URL or SQLite in the data dir)"
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@app.command()
def migrate(data_dir: DataDir = None, database_url: DbUrl = None, as_json: AsJson = False) -> None:
    """Bring the database schema up to date (Alembic)."""
    settings = apply_overrides(data_dir, database_url)
    open_database(settings)
    if as_json:
        print(json.dumps({"status": "current"}))
    else:
        console.print("database schema is current")


GRACEFUL_SHUTDOWN_SECONDS = 5


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes")] = 1,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    tls: Annotated[
        bool, typer.Option("--tls/--no-tls", help="HTTPS with a local CA generated on first start")
    ] = False,
) -> None:
    """Run the admin plane (InvokeCommand API and the OAuth/OIDC endpoints) with uvicorn."""
    import uvicorn

    from ..config import load_secret_key
    from ..oauth import ensure_tls

    settings = apply_overrides(data_dir, database_url)
    try:
        load_secret_key(settings)
        open_database(settings)
    except ConfigurationError as exc:
        _fail(str(exc))
    ssl: dict[str, str] = {}
    if tls:
        files = ensure_tls(settings.data_dir)
        ssl = {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)}
        console.print(
            f"TLS with the local CA {files.ca_cert}; clients: export REQUESTS_CA_BUNDLE={files.ca_cert}"
        )
    uvicorn.run(
        "mailwarden.api:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=os.environ.get("MAILWARDEN_LOG_LEVEL", "info"),
        server_header=False,
        # Bounded shutdown: in-flight requests get this long to finish, then the process exits. Without it,
        # an idle TLS keep-alive connection holds shutdown for asyncio's 30 s SSL close timeout.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        **ssl,  # type: ignore[arg-type]
    )


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Option(help="Display name of the organization")],
    domain: Annotated[str, typer.Option(help="Initial domain, e.g. contoso.onmicrosoft.com")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Create a tenant (with its built-in public client for the CLI/SDK; sign in by device code)."""
    from ..directory import create_tenant
    from ..oauth import ensure_builtin_clients

    settings = apply_overrides(data_dir, database_url)
    db = open_database(settings)
    clock = SystemClock()
    try:
        with db.unit_of_work() as uow:
            tenant = create_tenant(uow.session, name=name, domain=domain, now=utcnow(clock))
            cli_client_id = ensure_builtin_clients(uow.session, tenant.id, now=utcnow(clock))
            out = {"tenant_id": tenant.id, "domain": tenant.initial_domain, "cli_client_id": cli_client_id}
    except ApiError as exc:
        _fail(exc.message)
    if as_json:
        print(json.dumps(out))
    else:
        console.print(f"tenant [bold]{out['domain']}[/bold] ({out['tenant_id']}) created")
        console.print("client id of the built-in public client (device code sign-in):")
        print(out["cli_client_id"])


@tenant_app.command("list")
def tenant_list(data_dir: DataDir = None, database_url: DbUrl = None, as_json: AsJson = False) -> None:
    """List tenants."""
    from sqlalchemy import select

    from ..store import Tenant

    settings = apply_overrides(data_dir, database_url)
    db = open_database(settings)
    with db.unit_of_work(write=False) as uow:
        rows = [
            {
                "tenant_id": t.id,
                "name": t.name,
                "domain": t.initial_domain,
                "created": t.created_at.isoformat(),
            }
            for t in uow.session.scalars(select(Tenant).order_by(Tenant.created_at, Tenant.id))
        ]
    if as_json:
        print(json.dumps(rows))
        return
    for row in rows:
        print(f"{row['tenant_id']}  {row['domain']}  {row['name']}")


@keys_app.command("rotate")
def keys_rotate(
    purpose: Annotated[str, typer.Option(help="Key purpose")] = "cursor",
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Start signing with a new key; what older keys signed keeps verifying (cursors: any key still in
    the ring; ``oauth``: tokens signed by the previous key of each algorithm, until they expire)."""
    from ..oauth import SigningKeys
    from ..store import KeyRing, SecretBox

    if purpose not in ("cursor", "oauth"):
        _fail(f"unknown key purpose '{purpose}' (cursor or oauth)")
    settings = apply_overrides(data_dir, database_url)
    db = open_database(settings)
    try:
        box = SecretBox(settings.resolved_secret_key())
        if purpose == "oauth":
            kids = [k.kid for k in SigningKeys(db, box, SystemClock()).rotate()]
        else:
            kids = [KeyRing(db, box, SystemClock()).rotate(purpose).kid]
    except ConfigurationError as exc:
        _fail(str(exc))
    if as_json:
        print(json.dumps({"purpose": purpose, "kid": kids[0], "kids": kids}))
    else:
        for kid in kids:
            console.print(f"new {purpose} key {kid}")


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    mailboxes: Annotated[int, typer.Option(min=10, help="User mailboxes to seed")] = 2000,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the server after seeding")
    ] = True,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Seed a realistic demo tenant (once) and serve it."""
    from ..demo import seed_demo_tenant

    settings = apply_overrides(data_dir, database_url)
    db = open_database(settings)
    executor = server_executor(settings, db)
    result = seed_demo_tenant(executor, executor.clock, mailboxes=mailboxes)
    secret_file = settings.data_dir / "demo-app.secret"
    id_file = settings.data_dir / "demo-app.id"
    if result.app_secret is not None and result.app_client_id is not None:
        # The demo app's secret is kept 0600 in the data dir so `scripts/demo` prints a ready call on every start.
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        for path, value in ((secret_file, result.app_secret), (id_file, result.app_client_id)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(value)
    app_id = id_file.read_text().strip() if id_file.exists() else "<app client id>"
    url = f"http://{host}:{port}"
    authority = f"{url}/{result.domain}/v2.0"
    info = {
        "url": url,
        "tenant_id": result.tenant_id,
        "domain": result.domain,
        "cli_client_id": result.cli_client_id,
        "app_client_id": app_id,
        "app_secret_file": str(secret_file),
    }
    if as_json:
        print(json.dumps(info))
    else:
        console.print(f"\n[bold green]mailwarden demo[/bold green] tenant [bold]{result.domain}[/bold]")
        console.print(f"  URL:           {url}")
        console.print(f"  tenant id:     {result.tenant_id}")
        console.print(
            f"  CLI client id: {result.cli_client_id} (public client: device code, loopback auth code)"
        )
        console.print(f"  demo app:      {app_id}, secret in {secret_file} (0600)")
        console.print(
            "\nSign in as a person (device code; MSAL needs HTTPS: run `mailwarden serve --tls` and set "
            "REQUESTS_CA_BUNDLE to `mailwarden ca-path`):\n"
            f"  mailwarden user create --tenant {result.domain} --upn admin@{result.domain} --password-stdin\n"
            f'  msal.PublicClientApplication("{result.cli_client_id}", '
            f'oidc_authority="https://{host}:{port}/{result.domain}/v2.0")'
            '.initiate_device_flow(["api://mailwarden/Exchange.Manage"])  -> open the printed page, enter the code'
        )
        console.print(f"  (discovery: {authority}/.well-known/openid-configuration)")
        console.print("\nTry it (app token by client credentials, then the first page of mailboxes):\n")
        token = (
            f"$(curl -s {url}/{result.domain}/oauth2/v2.0/token -d grant_type=client_credentials "
            f"-d client_id={app_id} --data-urlencode client_secret@{secret_file} "
            "-d scope=api://mailwarden/.default | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
        )
        print(
            f"curl -s -X POST {url}/adminapi/beta/{result.domain}/InvokeCommand "
            f"-H \"Authorization: Bearer {token}\" -H 'Content-Type: application/json' "
            "-H 'Prefer: odata.maxpagesize=100' "
            '-d \'{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"ResultSize":"Unlimited"}}}\''
        )
        print()
    if serve_after:
        sys.stdout.flush()
        serve(host=host, port=port, workers=1, data_dir=None, database_url=None)


register_oauth_commands(app)


register_identity_commands(app)


register_audit_commands(app)


register_client_commands(app)


register_rbac_commands(app)


def main() -> None:
    app()
