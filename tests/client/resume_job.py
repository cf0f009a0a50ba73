"""An unattended job like the examples, for the kill-and-resume test: enumerate every mailbox into a JSON
lines file with ``--checkpoint``; on a rerun, keep exactly the objects the checkpoint counts and go on.

    python resume_job.py URL TENANT CLIENT_ID PEM CA OUT CHECKPOINT
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import mailwarden
from mailwarden.client import CertificateAuth, RetryPolicy


def main() -> None:
    url, tenant, client_id, pem, ca, out, checkpoint = sys.argv[1:8]
    delivered = 0
    if Path(checkpoint).exists():
        delivered = int(json.loads(Path(checkpoint).read_text())["delivered"])
    out_path = Path(out)
    kept = out_path.read_text().splitlines(keepends=True)[:delivered] if out_path.exists() else []
    out_path.write_text("".join(kept))
    auth = CertificateAuth.from_pem(client_id, Path(pem).read_text())
    with (
        mailwarden.connect(tenant, url=url, auth=auth, verify=ca, retry=RetryPolicy(base=0.2, cap=2)) as conn,
        out_path.open("a") as fh,
    ):

        def durable(count: int, pages: int) -> None:  # before the checkpoint moves on
            fh.flush()
            os.fsync(fh.fileno())

        for mailbox in conn.invoke(
            "Get-Mailbox", checkpoint=checkpoint, progress=durable, ResultSize="Unlimited"
        ):
            fh.write(json.dumps({"Guid": mailbox["Guid"]}) + "\n")
    print("done")


if __name__ == "__main__":
    main()
