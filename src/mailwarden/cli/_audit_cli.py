"""``mailwarden audit search|export|verify|prune`` (DESIGN §7).

``search`` and ``export`` are operator commands with database access; a search runs Search-UnifiedAuditLog
as the System principal through the executor, so it is audited like any other search (RecordType 1002).
``verify`` is offline: an export file and a saved signed tree head (RFC 6962 + Ed25519), no database. Exit
code 0 only when everything verifies; otherwise the first bad record is named (see
:mod:`mailwarden.audit._verify`).
"""

# The audit, cmdlet and directory modules are imported inside the commands: the client commands (login,
# invoke, ...) share the CLI app and must not pay for the server stack at start-up.
from __future__ import annotations

import base64
import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from rich.console import Console

from ..errors import ApiError
from ..principal import Principal
from ._context import apply_overrides, open_database, server_executor

if TYPE_CHECKING:
    from ..audit._service import AuditService
    from ..audit._verify import VerificationReport
    from ..cmdlets import TenantInfo
    from ..cmdlets._executor import Executor
    from ..config import Settings

__all__ = ["register_audit_commands"]

console = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory")]
DbUrl = Annotated[str | None, typer.Option("--database-url", help="Database URL")]
Tenant = Annotated[str, typer.Option("--tenant", help="Tenant id or initial domain")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
_CSV_FIELDS = ["ResultIndex", "CreationDate", "RecordType", "Operations", "UserIds", "Identity", "AuditData"]


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _setup(data_dir: Path | None, database_url: str | None, tenant: str) -> tuple[Executor, TenantInfo]:
    from ..cmdlets import TenantInfo
    from ..directory import find_tenant

    settings: Settings = apply_overrides(data_dir, database_url)
    db = open_database(settings)
    executor = server_executor(settings, db)
    with db.unit_of_work(write=False) as uow:
        row = find_tenant(uow.session, tenant)
        if row is None:
            _fail(f"no tenant '{tenant}'")
        assert row is not None
        info = TenantInfo(row.id, row.name, row.initial_domain)
    return executor, info


def _service(executor: Executor) -> AuditService:
    assert executor.audit is not None
    return executor.audit


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@contextmanager
def _output(file: Path | None) -> Iterator[TextIO]:
    if file is None:
        yield sys.stdout
        return
    with file.open("w", encoding="utf-8", newline="") as fh:
        yield fh


def search(
    tenant: Tenant,
    start: Annotated[str | None, typer.Option(help="StartDate (UTC ISO-8601); default 10 years ago")] = None,
    end: Annotated[str | None, typer.Option(help="EndDate, exclusive; default tomorrow")] = None,
    record_type: Annotated[str | None, typer.Option("--record-type", help="RecordType name")] = None,
    operations: Annotated[list[str] | None, typer.Option("--operations", help="Comma-separated")] = None,
    user_ids: Annotated[list[str] | None, typer.Option("--user-ids", help="Comma-separated")] = None,
    object_ids: Annotated[list[str] | None, typer.Option("--object-ids", help="Comma-separated")] = None,
    ip_addresses: Annotated[list[str] | None, typer.Option("--ip-addresses", help="Comma-separated")] = None,
    free_text: Annotated[str | None, typer.Option("--free-text")] = None,
    output: Annotated[str, typer.Option("--output", help="jsonl or csv")] = "jsonl",
    file: Annotated[Path | None, typer.Option("--file", help="Write here instead of stdout")] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Search the unified audit log (all pages, constant memory); the search itself is audited."""
    if output not in ("jsonl", "csv"):
        _fail("--output must be jsonl or csv")
    executor, info = _setup(data_dir, database_url, tenant)
    now = datetime.now(UTC)
    params: dict[str, Any] = {
        "StartDate": start or (now - timedelta(days=3650)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "EndDate": end or (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ResultSize": "Unlimited",
    }
    for name, value in (
        ("RecordType", record_type),
        ("Operations", _split(operations)),
        ("UserIds", _split(user_ids)),
        ("ObjectIds", _split(object_ids)),
        ("IPAddresses", _split(ip_addresses)),
        ("FreeText", free_text),
    ):
        if value:
            params[name] = value
    spec = executor.registry.get("Search-UnifiedAuditLog")
    assert spec is not None
    system = Principal(info.id, "system", "System", "system")
    count = 0
    with _output(file) as out:
        writer = (
            csv.DictWriter(out, fieldnames=_CSV_FIELDS, extrasaction="ignore") if output == "csv" else None
        )
        if writer is not None:
            writer.writeheader()
        cursor: str | None = None
        while True:
            try:
                result = executor.run(
                    spec, params, tenant=info, principal=system, page_size=1000, cursor=cursor
                )
            except ApiError as exc:
                _fail(exc.message)
            for row in result.value:
                count += 1
                if writer is not None:
                    writer.writerow(row)
                else:
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
            cursor = result.next_cursor
            if cursor is None:
                break
    console.print(f"{count} records")


def export(
    tenant: Tenant,
    output: Annotated[Path, typer.Option("--output", help="A directory, or the export file to write")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Export records (JSONL, SequenceNumber order, with leaf hashes) and signed heads; a fresh head is
    signed now and also written as ``<export>.head.json``."""
    from ..audit._export import ExportSummary, export_lines

    executor, info = _setup(data_dir, database_url, tenant)
    target = output / f"audit-{info.id}.jsonl" if output.is_dir() else output
    summary = ExportSummary(info.id, 0, 0)
    with target.open("w", encoding="utf-8") as fh:
        for line in export_lines(executor.db, _service(executor), info.id, summary):
            fh.write(line + "\n")
    assert summary.head is not None
    head_file = target.with_name(target.name + ".head.json")
    head_file.write_text(json.dumps(summary.head.to_json(), indent=2) + "\n", encoding="utf-8")
    out = {
        "export": str(target),
        "head": str(head_file),
        "records": summary.records,
        "first_seq": summary.first_seq,
        "tree_size": summary.tree_size,
        "signed_heads": summary.heads,
        "root_hash": summary.head.root_hash.hex(),
    }
    if as_json:
        print(json.dumps(out))
    else:
        console.print(
            f"{summary.records} records (seq {summary.first_seq}..{summary.tree_size - 1}) → {target}\n"
            f"head of size {summary.tree_size} → {head_file} (root {out['root_hash']})"
        )


def verify(
    export_file: Annotated[Path, typer.Argument(metavar="EXPORT", help="File written by `audit export`")],
    head: Annotated[Path, typer.Option("--head", help="A signed tree head saved earlier (JSON)")],
    public_key: Annotated[
        str | None, typer.Option("--public-key", help="Pinned Ed25519 public key (base64)")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Verify an export offline against a saved signed head; names the first bad record."""
    from ..audit._verify import ExportVerificationError, verify_export

    try:
        head_json = json.loads(head.read_text(encoding="utf-8"))
        pinned = base64.b64decode(public_key, validate=True) if public_key else None
    except (OSError, ValueError) as exc:
        _fail(f"cannot read the head or the key: {exc}", 2)
        return
    try:
        with export_file.open(encoding="utf-8") as fh:
            report: VerificationReport = verify_export(fh, head_json, trusted_public_key=pinned)
        ok = True
    except ExportVerificationError as exc:
        report, ok = exc.report, False
    except OSError as exc:
        _fail(f"cannot read the export: {exc}", 2)
        return
    if as_json:
        print(json.dumps(report.to_json()))
    elif ok:
        console.print(
            f"[green]OK[/green]: {report.records} records from SequenceNumber {report.first_seq} verify "
            f"against the signed head of size {report.head_size} ({len(report.checkpoints)} signed roots)"
        )
    else:
        console.print(f"[red]TAMPERED[/red]: first bad record: {report.first_bad}")
        if report.window is not None:
            console.print(f"  window: SequenceNumber {report.window[0]}..{report.window[1]}")
        for note in report.notes:
            console.print(f"  note: {note}")
        for problem in report.problems[1:10]:
            console.print(f"  also: {problem}")
    if not ok:
        raise typer.Exit(1)


def prune_command(
    tenant: Tenant,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Delete records older than the retention (Set-AuditLogRetention), whole aligned subtrees only."""
    from ..audit._prune import prune

    executor, info = _setup(data_dir, database_url, tenant)
    with executor.db.unit_of_work(write=True) as uow:
        result = prune(uow.session, _service(executor), info.id)
    out = {
        "tenant_id": info.id,
        "cutoff": result.cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "pruned_below": result.pruned_below,
        "deleted": result.deleted,
    }
    if as_json:
        print(json.dumps(out))
    else:
        console.print(f"deleted {result.deleted} records; records below {result.pruned_below} are pruned")


def register_audit_commands(app: typer.Typer) -> None:
    audit_app = typer.Typer(no_args_is_help=True, help="Unified audit log: search, export, verify, prune.")
    audit_app.command("search")(search)
    audit_app.command("export")(export)
    audit_app.command("verify")(verify)
    audit_app.command("prune")(prune_command)
    app.add_typer(audit_app, name="audit")
