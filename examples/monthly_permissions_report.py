"""Monthly permissions report: every FullAccess (Get-MailboxPermission), SendAs (Get-RecipientPermission)
and SendOnBehalf (GrantSendOnBehalfTo on Get-Mailbox) delegation that is not the mailbox's own, as CSV.
Written on the mailwarden SDK; same connection options as weekly_mailbox_report.py.

    python examples/monthly_permissions_report.py --url https://127.0.0.1:8000 --tenant contoso.onmicrosoft.com \\
        --client-id APP_ID --client-secret-file .demo-data/demo-app.secret --ca-bundle CA.pem -o perms.csv
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from weekly_mailbox_report import auth_from, parser

import mailwarden

FIELDS = ["Mailbox", "PrimarySmtpAddress", "Permission", "Trustee"]
SELF = ("NT AUTHORITY\\SELF", "S-1-5-10")


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    out = sys.stdout if args.output == "-" else open(args.output, "w", newline="")  # noqa: SIM115
    with mailwarden.connect(
        args.tenant, url=None if args.exo else args.url, auth=auth_from(args), verify=args.ca_bundle
    ) as conn:
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for mailbox in conn.invoke("Get-Mailbox", ResultSize="Unlimited"):
            name, smtp = mailbox.get("DisplayName"), mailbox.get("PrimarySmtpAddress")
            for perm in conn.invoke("Get-MailboxPermission", Identity=mailbox["Guid"]):
                user = str(perm.get("User", ""))
                if (
                    "FullAccess" in (perm.get("AccessRights") or [])
                    and not perm.get("Deny")
                    and user not in SELF
                ):
                    writer.writerow(
                        {
                            "Mailbox": name,
                            "PrimarySmtpAddress": smtp,
                            "Permission": "FullAccess",
                            "Trustee": user,
                        }
                    )
            for perm in conn.invoke("Get-RecipientPermission", Identity=mailbox["Guid"]):
                trustee = str(perm.get("Trustee", ""))
                if "SendAs" in (perm.get("AccessRights") or []) and trustee not in SELF:
                    writer.writerow(
                        {
                            "Mailbox": name,
                            "PrimarySmtpAddress": smtp,
                            "Permission": "SendAs",
                            "Trustee": trustee,
                        }
                    )
            for delegate in mailbox.get("GrantSendOnBehalfTo") or []:
                writer.writerow(
                    {
                        "Mailbox": name,
                        "PrimarySmtpAddress": smtp,
                        "Permission": "SendOnBehalf",
                        "Trustee": delegate,
                    }
                )
    if out is not sys.stdout:
        out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
