"""Audit HTTP routes (Office 365 Management Activity API-flavoured feed, RFC 6962 heads and proofs) through
the real app, and a real server SIGKILLed under concurrent Set-Mailbox load: no change without its record."""

from __future__ import annotations

import base64
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mailwarden.audit import verify_consistency, verify_inclusion
from mailwarden.audit._heads import SignedHead, verify_head
from mailwarden.clock import FakeClock
from mailwarden.store import Database, Recipient
from mailwarden.store._audit_models import AuditRecord

from _servers import mailwarden_server
from conftest import SECRET, Api, issue_user_token, make_tenant


def _get(api: Api, path: str, **params: Any) -> httpx.Response:
    return api.client.get(
        f"/api/v1.0/{api.tenant.domain}{path}",
        params=params,
        headers={"Authorization": f"Bearer {api.tenant.key}"},
    )


def test_feed_is_contiguous_and_audited(api: Api) -> None:
    for i in range(5):
        api.ok("New-Mailbox", Name=f"Feed {i}")
    first = _get(api, "/activity/feed/records", startSeq=0, limit=3)
    assert first.status_code == 200, first.text
    body = first.json()
    assert [r["SequenceNumber"] for r in body["records"]] == [0, 1, 2]
    assert body["nextSeq"] == 3
    seen = list(body["records"])
    nxt = body["nextSeq"]
    while True:
        page = _get(api, "/activity/feed/records", startSeq=nxt, limit=1000).json()
        seen += page["records"]
        if page["nextSeq"] == nxt:
            break
        nxt = page["nextSeq"]
        if len(seen) > 50:
            break
    seqs = [r["SequenceNumber"] for r in seen]
    assert seqs == list(range(len(seqs)))
    reads = [r for r in seen if r["RecordType"] == 1002 and r["Operation"] == "ReadAuditFeed"]
    assert reads  # every feed read is itself recorded
    assert {"Name": "startSeq", "Value": "0"} in reads[0]["Parameters"]
    assert _get(api, "/activity/feed/records").status_code == 200
    assert (
        api.client.get(f"/api/v1.0/{api.tenant.domain}/activity/feed/records").status_code == 401
    )  # same authentication as InvokeCommand


def test_heads_proofs_and_keys_verify(api: Api) -> None:
    for i in range(7):
        api.ok("New-Mailbox", Name=f"Proof {i}")
    old = api.ok("Update-AuditLogTreeHead")[0]
    for i in range(4):
        api.ok("New-Mailbox", Name=f"Later {i}")
    api.ok("Update-AuditLogTreeHead")
    latest = _get(api, "/audit/heads/latest").json()
    head = SignedHead.from_json(latest["SignedHead"])
    keys = _get(api, "/audit/keys").json()["keys"]
    pinned = {k["kid"]: base64.b64decode(k["public_key"]) for k in keys}[head.kid]
    verify_head(head, trusted_public_key=pinned)
    records = [
        r
        for r in _get(api, "/activity/feed/records").json()["records"]
        if r["SequenceNumber"] < head.tree_size
    ]
    for record in records:
        proof = _get(api, "/audit/proofs/inclusion", recordId=record["Id"]).json()
        assert proof["TreeSize"] == head.tree_size
        verify_inclusion(
            bytes.fromhex(proof["LeafHash"]),
            proof["LeafIndex"],
            head.tree_size,
            [bytes.fromhex(h) for h in proof["AuditPath"]],
            head.root_hash,
        )
    old_head = SignedHead.from_json(old["SignedHead"])
    proof = _get(api, "/audit/proofs/consistency", first=old_head.tree_size, second=head.tree_size).json()
    verify_consistency(
        old_head.tree_size,
        head.tree_size,
        old_head.root_hash,
        head.root_hash,
        [bytes.fromhex(h) for h in proof["ConsistencyPath"]],
    )
    missing = _get(api, "/audit/proofs/inclusion", recordId="00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert _get(api, "/audit/proofs/inclusion", recordId="\x00").status_code == 400  # fuzz: was a 500 on PG
    assert _get(api, "/audit/proofs/consistency", first=5, second=10**9).status_code == 400


@pytest.mark.slow
def test_sigkill_mid_load_leaves_no_change_without_its_record(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    clock = FakeClock(datetime.now(UTC))
    tenant = make_tenant(db, clock)
    names = [f"Kill {i}" for i in range(20)]
    with mailwarden_server(tmp_path / "srv", database_url=database_url, secret=SECRET) as (base, proc):
        # A token whose issuer is this server.
        key = issue_user_token(db, clock, tenant.id, f"admin@{tenant.domain}", base_url=f"{base}/")
        db.dispose()
        url = f"{base}/adminapi/beta/{tenant.domain}/InvokeCommand"
        headers = {"Authorization": f"Bearer {key}"}

        def invoke(cmdlet: str, **params: Any) -> int:
            body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}}
            try:
                return httpx.post(url, json=body, headers=headers, timeout=30).status_code
            except httpx.HTTPError:
                return -1

        for name in names:
            assert invoke("New-Mailbox", Name=name) == 200
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = [
                pool.submit(invoke, "Set-Mailbox", Identity=names[i % len(names)], DisplayName=f"Changed {i}")
                for i in range(400)
            ]
            time.sleep(1.5)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            codes = [f.result() for f in futures]
    assert codes.count(200) > 0, "the kill came before any change"
    assert -1 in codes, "the kill came after every request"
    check = Database(database_url)
    try:
        with check.unit_of_work(write=False) as uow:
            s = uow.session
            shown = dict(
                s.execute(
                    select(Recipient.name, Recipient.display_name).where(Recipient.tenant_id == tenant.id)
                ).all()
            )
            recorded: dict[str, set[str]] = {}
            for data in s.scalars(
                select(AuditRecord.data).where(
                    AuditRecord.tenant_id == tenant.id, AuditRecord.operation == "Set-Mailbox"
                )
            ):
                if data["ResultStatus"] != "True":
                    continue
                for prop in data["ModifiedProperties"]:
                    if prop["Name"] == "DisplayName":
                        recorded.setdefault(data["ObjectId"], set()).add(prop["NewValue"])
    finally:
        check.dispose()
    changed = {name: shown[name] for name in names if shown[name] != name}
    assert changed
    for name, value in changed.items():
        assert value in recorded.get(name, set()), f"{name} shows {value!r} without a record of that change"
