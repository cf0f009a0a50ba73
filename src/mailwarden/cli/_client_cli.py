"""The admin toolkit's commands: ``login``, ``logout``, ``whoami``, ``invoke``, ``profiles``, ``vault`` and
``shell`` — all on the SDK (``mailwarden.client``).

Exit codes: 0 ok, 1 other errors, 2 usage (bad flags, bad parameter values, unknown cmdlet), 3 sign-in
failed or needed, 4 access denied, 5 not found, 6 incomplete result (the checkpoint says where to resume).
Secrets are never printed, except ``vault get --reveal``.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..client import (
    AccessDenied,
    AuthenticationFailed,
    BadRequest,
    BrowserAuth,
    CertificateAuth,
    ClientError,
    Connection,
    DeviceCodeAuth,
    IncompleteResultError,
    NotFound,
    StoredCredentialAuth,
    TokenCache,
    Vault,
    config_dir,
    connect,
    decode_claims,
)
from ..client._auth import _UserAuth
from ..client._output import OutputFormat, write_results
from ..client._profiles import Profile, ProfileStore
from ..client._shell_syntax import ShellSyntaxError, parse_value

__all__ = ["exit_code_for", "open_connection", "register_client_commands"]

err = Console(stderr=True, highlight=False, soft_wrap=True)

ProfileOpt = Annotated[str | None, typer.Option("--profile", help="Profile name (default: the current one)")]


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, IncompleteResultError):
        return 6
    if isinstance(exc, AuthenticationFailed):
        return 3
    if isinstance(exc, AccessDenied):
        return 4
    if isinstance(exc, NotFound):
        return 5
    if isinstance(exc, BadRequest | ShellSyntaxError):
        return 2
    return 1


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (ClientError, ShellSyntaxError) as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True)
        raise typer.Exit(exit_code_for(exc)) from None


def _verify(profile: Profile) -> bool | str:
    return (
        profile.ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or True
    )


def _provider(profile: Profile, directory: Path, *, interactive: bool) -> Any:
    cache = TokenCache(profile.cache_path(directory))
    if not profile.client_id:
        raise ClientError(f"profile '{profile.name}' has no client id")
    if profile.auth == "certificate":
        if not profile.vault_item:
            raise ClientError(f"profile '{profile.name}' has no vault item for its certificate")
        return StoredCredentialAuth(
            profile.vault_item, profile.client_id, vault=Vault(directory), cache=cache
        )
    cls = BrowserAuth if profile.auth == "browser" else DeviceCodeAuth
    return cls(profile.client_id, cache=cache, interactive=interactive, username=profile.username)


def open_connection(profile_name: str | None, *, interactive: bool = False) -> tuple[Profile, Connection]:
    directory = config_dir()
    profile = ProfileStore(directory).get(profile_name)
    auth = _provider(profile, directory, interactive=interactive)
    conn = connect(profile.tenant, target=profile.connection_target(), auth=auth, verify=_verify(profile))
    return profile, conn


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"'{pair}' is not Name=Value", param_hint="-p")
        try:
            params[name.strip().lstrip("-")] = parse_value(raw)
        except ShellSyntaxError:
            # Not one PowerShell value (e.g. a filter with spaces, already one shell argument): as written.
            params[name.strip().lstrip("-")] = raw
    return params


def register_client_commands(app: typer.Typer) -> None:
    profiles_app = typer.Typer(no_args_is_help=True, help="Connection profiles (tenants and targets).")
    vault_app = typer.Typer(no_args_is_help=True, help="Sealed secrets for unattended jobs.")
    app.add_typer(profiles_app, name="profiles")
    app.add_typer(vault_app, name="vault")

    @app.command()
    def login(
        profile: Annotated[str, typer.Option("--profile", help="Profile to create or update")] = "default",
        tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant id or initial domain")] = None,
        url: Annotated[str | None, typer.Option("--url", help="mailwarden server URL (https)")] = None,
        exo: Annotated[bool, typer.Option("--exo", help="Target Exchange Online")] = False,
        client_id: Annotated[str | None, typer.Option("--client-id", help="Public client / app id")] = None,
        browser: Annotated[bool, typer.Option("--browser", help="Sign in with the browser")] = False,
        cert: Annotated[
            Path | None, typer.Option("--cert", help="PEM with the app's certificate and private key")
        ] = None,
        ca_bundle: Annotated[
            Path | None, typer.Option("--ca-bundle", help="CA certificate to trust (self-hosted TLS)")
        ] = None,
    ) -> None:
        """Sign in (device code by default; --browser; --cert PATH --client-id ID for an app) and remember it."""
        directory = config_dir()
        store = ProfileStore(directory)
        with _errors():
            try:
                current = store.get(profile)
            except ClientError:
                current = None
            if current is None:
                if not tenant:
                    raise typer.BadParameter("--tenant is required for a new profile", param_hint="--tenant")
                if not exo and not url:
                    raise typer.BadParameter("give --url (mailwarden server) or --exo", param_hint="--url")
                current = Profile(profile, tenant)
            if tenant:
                current.tenant = tenant
            if exo:
                current.target, current.url = "exo", None
            elif url:
                current.target, current.url = "mailwarden", url.rstrip("/")
            if client_id:
                current.client_id = client_id
            if ca_bundle:
                current.ca_bundle = str(ca_bundle.resolve())
            if cert is not None:
                if not current.client_id:
                    raise typer.BadParameter("--cert needs --client-id", param_hint="--client-id")
                try:
                    pem = cert.read_text()
                except OSError as exc:
                    raise ClientError(f"cannot read {cert}: {exc.strerror}") from exc
                CertificateAuth.from_pem(current.client_id, pem)  # validates the key and certificate
                current.auth, current.vault_item = "certificate", f"profile:{profile}:certificate"
                Vault(directory).set(current.vault_item, pem, kind="certificate")
            elif browser:
                current.auth = "browser"
            auth = _provider(current, directory, interactive=True)
            conn = connect(
                current.tenant, target=current.connection_target(), auth=auth, verify=_verify(current)
            )
            with conn:
                if isinstance(auth, _UserAuth):
                    auth.sign_in()
                    current.username = auth.username
                else:
                    auth.get_token(True)
            store.put(current, make_current=True)
        who = current.username or f"app {current.client_id}"
        err.print(f"signed in as {who} to {current.tenant} (profile {profile})")

    @app.command()
    def logout(profile: ProfileOpt = None) -> None:
        """Forget the cached tokens of a profile (the vault is left alone)."""
        directory = config_dir()
        with _errors():
            p = ProfileStore(directory).get(profile)
            TokenCache(p.cache_path(directory)).clear()
        err.print(f"signed out of profile {p.name}")

    @app.command()
    def whoami(profile: ProfileOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Who the current token is for: principal, tenant, roles, MFA methods (amr), expiry."""
        with _errors():
            p, conn = open_connection(profile)
            with conn:
                claims = decode_claims(conn.get_token())
        exp = claims.get("exp")
        info = {
            "profile": p.name,
            "target": p.target,
            "principal": claims.get("preferred_username")
            or claims.get("upn")
            or claims.get("app_displayname")
            or claims.get("appid"),
            "tenant": claims.get("tid"),
            "role_groups": claims.get("role_groups") or claims.get("wids") or claims.get("groups") or [],
            "roles": claims.get("roles") or [],
            "amr": claims.get("amr") or [],
            "expires": datetime.fromtimestamp(exp, UTC).isoformat() if isinstance(exp, int | float) else None,
        }
        if as_json:
            print(json.dumps(info))
            return
        for key, value in info.items():
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            print(f"{key:12} {shown if shown not in (None, '') else '-'}")

    @app.command(context_settings={"allow_interspersed_args": True})
    def invoke(
        cmdlet: Annotated[str, typer.Argument(help="Cmdlet, e.g. Get-Mailbox")],
        param: Annotated[
            list[str] | None, typer.Option("-p", "--param", help="Name=Value (PowerShell syntax), repeatable")
        ] = None,
        output: Annotated[str, typer.Option("--output", "-o", help="table|json|jsonl|csv")] = "table",
        checkpoint: Annotated[
            Path | None, typer.Option("--checkpoint", help="Resume file (written after each page)")
        ] = None,
        profile: ProfileOpt = None,
    ) -> None:
        """Run a cmdlet and print its result; large results stream."""
        if output not in ("table", "json", "jsonl", "csv"):
            raise typer.BadParameter("use table, json, jsonl or csv", param_hint="--output")
        params = _parse_params(param or [])
        fmt: OutputFormat = output  # type: ignore[assignment]
        with _errors():
            _, conn = open_connection(profile)
            with conn:
                show = err.is_terminal
                with Progress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    TextColumn("{task.completed} objects"),
                    TimeElapsedColumn(),
                    console=err,
                    transient=True,
                    disable=not show,
                ) as bar:
                    task = bar.add_task(cmdlet, total=None)

                    def progress(delivered: int, pages: int) -> None:
                        bar.update(task, completed=delivered)

                    result = conn.invoke(cmdlet, checkpoint=checkpoint, progress=progress, **params)
                    count = write_results(result, fmt, sys.stdout)
                if result.stats.retries or result.stats.refreshes:
                    err.print(
                        f"{count} objects ({result.stats.retries} retries, {result.stats.refreshes} token refreshes)"
                    )

    # --- profiles -------------------------------------------------------------------------------------
    @profiles_app.command("list")
    def profiles_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """List profiles; * marks the current one."""
        items, current = ProfileStore().list()
        if as_json:
            print(json.dumps({"current": current, "profiles": [p.__dict__ for p in items]}))
            return
        for p in items:
            mark = "*" if p.name == current else " "
            where = p.url if p.target == "mailwarden" else "Exchange Online"
            print(f"{mark} {p.name:16} {p.tenant:32} {p.target:10} {where}  auth={p.auth}")

    @profiles_app.command("add")
    def profiles_add(
        name: Annotated[str, typer.Argument(help="Profile name")],
        tenant: Annotated[str, typer.Option("--tenant")],
        target: Annotated[str, typer.Option("--target", help="mailwarden|exo")] = "mailwarden",
        url: Annotated[str | None, typer.Option("--url")] = None,
        client_id: Annotated[str | None, typer.Option("--client-id")] = None,
        auth: Annotated[str, typer.Option("--auth", help="device|browser")] = "device",
        ca_bundle: Annotated[Path | None, typer.Option("--ca-bundle")] = None,
    ) -> None:
        """Add (or replace) a profile without signing in."""
        if target not in ("mailwarden", "exo"):
            raise typer.BadParameter("mailwarden or exo", param_hint="--target")
        if auth not in ("device", "browser"):
            raise typer.BadParameter("device or browser (certificates: login --cert)", param_hint="--auth")
        if target == "mailwarden" and not url:
            raise typer.BadParameter("a mailwarden target needs --url", param_hint="--url")
        ProfileStore().put(
            Profile(
                name,
                tenant,
                target,  # type: ignore[arg-type]
                url.rstrip("/") if url else None,
                client_id,
                auth,  # type: ignore[arg-type]
                ca_bundle=str(ca_bundle.resolve()) if ca_bundle else None,
            )
        )
        err.print(f"profile {name} saved")

    @profiles_app.command("remove")
    def profiles_remove(name: Annotated[str, typer.Argument()]) -> None:
        """Remove a profile and its cached tokens."""
        directory = config_dir()
        store = ProfileStore(directory)
        with _errors():
            p = store.get(name)
            TokenCache(p.cache_path(directory)).clear()
            store.remove(name)
        err.print(f"profile {name} removed")

    @profiles_app.command("use")
    def profiles_use(name: Annotated[str, typer.Argument()]) -> None:
        """Make a profile the current one."""
        with _errors():
            ProfileStore().use(name)
        err.print(f"current profile: {name}")

    # --- vault ----------------------------------------------------------------------------------------------
    @vault_app.command("set")
    def vault_set(
        name: Annotated[str, typer.Argument()],
        kind: Annotated[str, typer.Option("--kind", help="password|client-secret|certificate")] = "password",
        from_file: Annotated[
            Path | None, typer.Option("--from-file", help="Read the secret from a file")
        ] = None,
    ) -> None:
        """Store a secret: from --from-file, from stdin when it is not a terminal, else a hidden prompt."""
        if kind not in ("password", "client-secret", "certificate"):
            raise typer.BadParameter("password, client-secret or certificate", param_hint="--kind")
        if from_file is not None:
            value = from_file.read_text()
        elif not sys.stdin.isatty():
            value = sys.stdin.read()
            value = value if kind == "certificate" else value.rstrip("\r\n")
        else:
            value = getpass.getpass(f"secret for {name}: ")
        if not value:
            raise typer.BadParameter("the secret is empty")
        with _errors():
            Vault().set(name, value, kind=kind)  # type: ignore[arg-type]
        err.print(f"stored {name} ({kind})")

    @vault_app.command("get")
    def vault_get(
        name: Annotated[str, typer.Argument()],
        reveal: Annotated[bool, typer.Option("--reveal", help="Print the secret itself")] = False,
    ) -> None:
        """Confirm that a secret exists; --reveal prints it."""
        with _errors():
            vault = Vault()
            value = vault.get(name)
            kind = vault.kind(name)
        if reveal:
            sys.stdout.write(value if value.endswith("\n") else value + "\n")
        else:
            err.print(f"{name} exists ({kind}); use --reveal to print it")

    @vault_app.command("list")
    def vault_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Names and kinds of the stored secrets (never the values)."""
        with _errors():
            items = Vault().list()
        if as_json:
            print(json.dumps([{"name": i.name, "kind": i.kind, "created": i.created} for i in items]))
            return
        for item in items:
            print(f"{item.name:40} {item.kind:14} {item.created}")

    @vault_app.command("remove")
    def vault_remove(name: Annotated[str, typer.Argument()]) -> None:
        """Delete a secret."""
        with _errors():
            removed = Vault().remove(name)
        if not removed:
            err.print(f"[red]error:[/red] no secret named {name}", markup=True)
            raise typer.Exit(5)
        err.print(f"removed {name}")

    # --- shell ----------------------------------------------------------------------------------------------
    @app.command()
    def shell(profile: ProfileOpt = None) -> None:
        """Interactive PowerShell-like shell with completion, history and in-place re-authentication."""
        from ..client._shell import Shell

        with _errors():
            p, conn = open_connection(profile)
            with conn:
                Shell(conn, history_path=config_dir() / "history", title=f"{p.name} {p.tenant}").run()
