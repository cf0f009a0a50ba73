"""Operator commands of the authorization server: ``mailwarden app create`` (confidential clients for
unattended jobs, RFC 6749 §2 / RFC 7523 §2.2) and ``mailwarden ca-path`` (the local CA of ``serve --tls``)."""

# The OAuth, RBAC and directory modules are imported inside the commands: the client commands (login,
# invoke, ...) share the CLI app and must not pay for the server stack at start-up.
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..clock import SystemClock, utcnow
from ..errors import ApiError
from ._context import apply_overrides, open_database

__all__ = ["register_oauth_commands"]

console = Console(stderr=True)


def register_oauth_commands(app: typer.Typer) -> None:
    apps = typer.Typer(no_args_is_help=True, help="Apps (OAuth confidential clients) for unattended jobs.")
    app.add_typer(apps, name="app")

    @apps.command("create")
    def app_create(
        tenant: Annotated[str, typer.Option("--tenant", help="Tenant id or initial domain")],
        name: Annotated[str, typer.Option("--name", help="Display name of the app")],
        cert: Annotated[
            Path | None, typer.Option("--cert", help="PEM certificate whose key signs client assertions")
        ] = None,
        secret: Annotated[
            bool, typer.Option("--secret", help="Generate a client secret (shown once)")
        ] = False,
        role_group: Annotated[
            list[str] | None, typer.Option("--role-group", help="Role group the app belongs to (repeatable)")
        ] = None,
        data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory")] = None,
        database_url: Annotated[str | None, typer.Option("--database-url", help="Database URL")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    ) -> None:
        """Register an app authenticating with a certificate (--cert) or a client secret (--secret)."""
        from ..directory import find_tenant
        from ..oauth import register_app
        from ..rbac import add_principal_to_role_groups

        if (cert is None) == (not secret):
            console.print("[red]error:[/red] give exactly one of --cert PEM or --secret")
            raise typer.Exit(1)
        settings = apply_overrides(data_dir, database_url)
        db = open_database(settings)
        try:
            pem = cert.read_bytes() if cert is not None else None
        except OSError as exc:
            console.print(f"[red]error:[/red] cannot read {cert}: {exc.strerror}")
            raise typer.Exit(1) from exc
        try:
            with db.unit_of_work() as uow:
                row = find_tenant(uow.session, tenant)
                if row is None:
                    console.print(f"[red]error:[/red] no tenant '{tenant}'")
                    raise typer.Exit(1)
                client_id, client_secret = register_app(
                    uow.session,
                    row.id,
                    name=name,
                    now=utcnow(SystemClock()),
                    cert_pem=pem,
                    with_secret=secret,
                    role_groups=role_group or (),
                )
                add_principal_to_role_groups(uow.session, row.id, "app", client_id, role_group or ())
                tenant_id = row.id
        except ApiError as exc:
            console.print(f"[red]error:[/red] {exc.message}")
            raise typer.Exit(1) from exc
        out = {"client_id": client_id, "tenant_id": tenant_id}
        if client_secret is not None:
            out["client_secret"] = client_secret
        if as_json:
            print(json.dumps(out))
            return
        console.print(f"app [bold]{name}[/bold] registered; client id:")
        print(client_id)
        if client_secret is not None:
            console.print("client secret (shown once, keep it secret):")
            print(client_secret)

    @app.command("ca-path")
    def ca_path_command(
        data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory")] = None,
    ) -> None:
        """Print the local CA certificate of `serve --tls` (set REQUESTS_CA_BUNDLE to it)."""
        from ..oauth import ca_path

        settings = apply_overrides(data_dir, None)
        path = ca_path(settings.data_dir)
        if not path.exists():
            console.print("[yellow]no local CA yet: start `mailwarden serve --tls` once[/yellow]")
        print(path)
