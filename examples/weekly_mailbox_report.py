"""Weekly mailbox report: size and item count (Get-MailboxStatistics) and forwarding settings
(ForwardingSmtpAddress, ForwardingAddress, DeliverToMailboxAndForward from Get-Mailbox) for every mailbox,
as CSV. Written on the mailwarden SDK; runs against a mailwarden server (e.g. the demo tenant from
``scripts/demo``) or, with ``--exo``, Exchange Online.

    python examples/weekly_mailbox_report.py --url https://127.0.0.1:8000 --tenant contoso.onmicrosoft.com \\
        --client-id APP_ID --client-secret-file .demo-data/demo-app.secret --ca-bundle CA.pem -o report.csv
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import sys
from pathlib import Path
from typing import Any

import mailwarden
from mailwarden.client import CertificateAuth, ClientSecretAuth, StoredCredentialAuth, TokenProvider

FIELDS = [
    "DisplayName", "PrimarySmtpAddress", "RecipientTypeDetails", "TotalItemSize", "ItemCount",
    "ForwardingSmtpAddress", "ForwardingAddress", "DeliverToMailboxAndForward",
]  # fmt: skip


def auth_from(args: argparse.Namespace) -> TokenProvider:
    if args.cert:
        return CertificateAuth.from_pem(args.client_id, Path(args.cert).read_text())
    if args.client_secret_file:
        return ClientSecretAuth(args.client_id, secret=Path(args.client_secret_file).read_text().strip())
    if args.vault_item:
        return StoredCredentialAuth(args.vault_item, args.client_id)
    raise SystemExit("give --cert, --client-secret-file or --vault-item")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--tenant", required=True, help="tenant id or initial domain")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="mailwarden server URL, e.g. https://127.0.0.1:8000")
    where.add_argument("--exo", action="store_true", help="Exchange Online")
    p.add_argument("--client-id", required=True, help="app (client) id")
    p.add_argument("--cert", help="PEM with the app's certificate and private key")
    p.add_argument("--client-secret-file", help="file holding the app's client secret")
    p.add_argument("--vault-item", help="app credential stored with `mailwarden vault set`")
    p.add_argument("--ca-bundle", help="CA certificate of a self-hosted server")
    p.add_argument("-o", "--output", default="-", help="CSV file (default: stdout)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    out = sys.stdout if args.output == "-" else open(args.output, "w", newline="")  # noqa: SIM115
    with mailwarden.connect(
        args.tenant, url=None if args.exo else args.url, auth=auth_from(args), verify=args.ca_bundle
    ) as conn:
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for mailbox in conn.invoke("Get-Mailbox", ResultSize="Unlimited"):
            stats: dict[str, Any] = {}
            with contextlib.suppress(mailwarden.NotFound):  # deleted since the enumeration started
                stats = next(iter(conn.invoke_all("Get-MailboxStatistics", Identity=mailbox["Guid"])), {})
            writer.writerow(
                {
                    "DisplayName": mailbox.get("DisplayName"),
                    "PrimarySmtpAddress": mailbox.get("PrimarySmtpAddress"),
                    "RecipientTypeDetails": mailbox.get("RecipientTypeDetails"),
                    "TotalItemSize": stats.get("TotalItemSize"),
                    "ItemCount": stats.get("ItemCount"),
                    "ForwardingSmtpAddress": mailbox.get("ForwardingSmtpAddress") or "",
                    "ForwardingAddress": mailbox.get("ForwardingAddress") or "",
                    "DeliverToMailboxAndForward": mailbox.get("DeliverToMailboxAndForward"),
                }
            )
    if out is not sys.stdout:
        out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
