"""Merkle end to end (RFC 6962): export → `mailwarden audit verify` (a subprocess, offline) passes; editing,
deleting, inserting or reordering any record of the export is detected and the first bad record named; a
rewritten history fails the consistency proof against an old saved head; pruning keeps proofs verifiable."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from audit_support import AuditEnv, make_env, synthetic_records
from sqlalchemy import delete, select, update

from mailwarden.audit import ProofError, leaf_hash, verify_consistency, verify_inclusion
from mailwarden.audit._canonical import canonical_json
from mailwarden.audit._compact import CompactRange
from mailwarden.audit._export import export_lines
from mailwarden.audit._heads import SignedHead, verify_head
from mailwarden.audit._log import append_many
from mailwarden.audit._prune import prune
from mailwarden.clock import FakeClock
from mailwarden.store import Database
from mailwarden.store._audit_models import AuditRecord, AuditSubtree


@pytest.fixture
def env(db: Database, clock: FakeClock) -> AuditEnv:
    env = make_env(db, clock)
    # 300 records with a signed head every 64, so localisation has checkpoints.
    for chunk in range(5):
        with db.unit_of_work() as uow:
            append_many(uow.session, env.tenant.id, synthetic_records(60, start_index=chunk * 60))
            uow.session.flush()
            env.audit.sign_head(uow.session, env.tenant.id)
    return env


def _export(env: AuditEnv, tmp_path: Path) -> tuple[Path, Path, list[str]]:
    lines = list(export_lines(env.db, env.audit, env.tenant.id))
    export = tmp_path / "export.jsonl"
    export.write_text("\n".join(lines) + "\n")
    head = tmp_path / "head.json"
    head.write_text(json.dumps(json.loads(lines[-1])["head"]))
    return export, head, lines


def _verify(export: Path, head: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mailwarden",
            "audit",
            "verify",
            str(export),
            "--head",
            str(head),
            "--json",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, json.loads(proc.stdout)


def test_export_verifies_offline(env: AuditEnv, tmp_path: Path) -> None:
    export, head, _ = _export(env, tmp_path)
    key = json.loads(head.read_text())["public_key"]
    code, report = _verify(export, head, "--public-key", key)
    assert code == 0, report
    assert report["ok"]
    assert report["records"] == 300
    assert len(report["checkpoints"]) >= 5
    # A pinned key that is not the signer's is refused.
    other = "A" * 43 + "="
    code, report = _verify(export, head, "--public-key", other)
    assert code == 1
    assert "head" in report["first_bad"]["detail"]


def _rewrite(export: Path, lines: list[str], new_lines: list[str]) -> None:
    export.write_text("\n".join(new_lines) + "\n")


def _record_line(lines: list[str], seq: int) -> int:
    for i, line in enumerate(lines):
        obj = json.loads(line)
        if "record" in obj and obj["record"]["SequenceNumber"] == seq:
            return i
    raise AssertionError(seq)


@pytest.mark.parametrize("seq", [0, 137, 299])
def test_edit_is_named(env: AuditEnv, tmp_path: Path, seq: int) -> None:
    export, head, lines = _export(env, tmp_path)
    i = _record_line(lines, seq)
    obj = json.loads(lines[i])
    obj["record"]["Operation"] = "Get-Nothing"
    _rewrite(export, lines, [*lines[:i], json.dumps(obj), *lines[i + 1 :]])
    code, report = _verify(export, head)
    assert code == 1
    assert report["first_bad"]["kind"] == "edited"
    assert report["first_bad"]["sequence_number"] == seq
    assert report["first_bad"]["record_id"] == obj["record"]["Id"]


def test_edit_with_recomputed_leaf_hash_is_bracketed_by_signed_heads(env: AuditEnv, tmp_path: Path) -> None:
    export, head, lines = _export(env, tmp_path)
    i = _record_line(lines, 137)
    obj = json.loads(lines[i])
    obj["record"]["UserId"] = "someone-else@contoso.example"
    obj["leaf_hash"] = leaf_hash(canonical_json(obj["record"])).hex()
    _rewrite(export, lines, [*lines[:i], json.dumps(obj), *lines[i + 1 :]])
    code, report = _verify(export, head)
    assert code == 1
    lo, hi = report["window"]
    assert lo <= 137 <= hi
    assert hi - lo < 64
    assert report["first_bad"]["kind"] == "root mismatch"


@pytest.mark.parametrize("seq", [0, 150, 299])
def test_deletion_is_named(env: AuditEnv, tmp_path: Path, seq: int) -> None:
    export, head, lines = _export(env, tmp_path)
    i = _record_line(lines, seq)
    _rewrite(export, lines, [*lines[:i], *lines[i + 1 :]])
    code, report = _verify(export, head)
    assert code == 1
    assert report["first_bad"]["kind"] == "missing"
    assert report["first_bad"]["sequence_number"] == seq


def test_insertion_is_named(env: AuditEnv, tmp_path: Path) -> None:
    export, head, lines = _export(env, tmp_path)
    i = _record_line(lines, 42)
    fake = json.loads(lines[i])
    fake["record"]["Id"] = "00000000-0000-0000-0000-00000000beef"
    fake["record"]["Operation"] = "Remove-Mailbox"
    fake["leaf_hash"] = leaf_hash(canonical_json(fake["record"])).hex()
    _rewrite(export, lines, [*lines[: i + 1], json.dumps(fake), *lines[i + 1 :]])
    code, report = _verify(export, head)
    assert code == 1
    assert report["first_bad"]["kind"] == "inserted"
    assert report["first_bad"]["sequence_number"] == 42
    assert "00000000-0000-0000-0000-00000000beef" in report["first_bad"]["detail"]


def test_reordering_is_named(env: AuditEnv, tmp_path: Path) -> None:
    export, head, lines = _export(env, tmp_path)
    i = _record_line(lines, 200)
    _rewrite(export, lines, [*lines[:i], lines[i + 1], lines[i], *lines[i + 2 :]])
    code, report = _verify(export, head)
    assert code == 1
    assert report["first_bad"]["kind"] == "out of order"
    assert report["first_bad"]["sequence_number"] == 201


def test_text_output_names_the_record(env: AuditEnv, tmp_path: Path) -> None:
    export, head, lines = _export(env, tmp_path)
    i = _record_line(lines, 7)
    record_id = json.loads(lines[i])["record"]["Id"]
    _rewrite(export, lines, [*lines[:i], *lines[i + 1 :]])
    proc = subprocess.run(
        [sys.executable, "-m", "mailwarden", "audit", "verify", str(export), "--head", str(head)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "SequenceNumber 7" in proc.stderr
    assert "missing" in proc.stderr
    del record_id


def test_rewritten_history_fails_consistency_with_old_head(env: AuditEnv) -> None:
    with env.db.unit_of_work() as uow:
        old = env.audit.sign_head(uow.session, env.tenant.id)
    saved = SignedHead.from_json(json.loads(json.dumps(old.to_json())))
    # The attacker rewrites record 10 and every hash above it, as a consistent-looking database.
    with env.db.unit_of_work() as uow:
        s = uow.session
        data = dict(
            s.scalar(
                select(AuditRecord.data).where(AuditRecord.tenant_id == env.tenant.id, AuditRecord.seq == 10)
            )
        )
        data["Operation"] = "Get-Nothing"
        s.execute(
            update(AuditRecord)
            .where(AuditRecord.tenant_id == env.tenant.id, AuditRecord.seq == 10)
            .values(data=data, leaf_hash=leaf_hash(canonical_json(data)))
        )
        s.execute(delete(AuditSubtree).where(AuditSubtree.tenant_id == env.tenant.id))
        leaves = [
            bytes(h)
            for h in s.scalars(
                select(AuditRecord.leaf_hash)
                .where(AuditRecord.tenant_id == env.tenant.id)
                .order_by(AuditRecord.seq)
            )
        ]
        rebuild = CompactRange()
        for leaf in leaves:
            for level, index, value in rebuild.append(leaf):
                s.add(AuditSubtree(tenant_id=env.tenant.id, level=level, index=index, hash=value))
    for _ in range(3):
        env.call("New-Mailbox", Name=f"Late {_}")
    new = env.call("Update-AuditLogTreeHead").value[0]
    proof = env.call(
        "Get-AuditLogConsistencyProof", FirstTreeSize=saved.tree_size, SecondTreeSize=new["TreeSize"]
    ).value[0]
    new_head = SignedHead.from_json(new["SignedHead"])
    verify_head(new_head)
    verify_head(saved)
    with pytest.raises(ProofError):
        verify_consistency(
            saved.tree_size,
            new_head.tree_size,
            saved.root_hash,
            new_head.root_hash,
            [bytes.fromhex(h) for h in proof["ConsistencyPath"]],
        )


def test_pruning_keeps_roots_and_proofs(env: AuditEnv, tmp_path: Path) -> None:
    with env.db.unit_of_work() as uow:
        before = env.audit.sign_head(uow.session, env.tenant.id)
    env.call("Set-AuditLogRetention", Days=30)
    # Records are dated 2026-01-01; jump well past the retention and add a few fresh ones.
    env.clock.advance(timedelta(days=60))
    for n in range(3):
        env.call("New-Mailbox", Name=f"Fresh {n}")
    with env.db.unit_of_work() as uow:
        result = prune(uow.session, env.audit, env.tenant.id)
    assert result.pruned_below > 0
    assert result.pruned_below % 2 == 0
    assert result.deleted == result.pruned_below
    retention = env.call("Get-AuditLogRetention").value[0]
    assert retention["PrunedBelow"] == result.pruned_below
    with env.db.unit_of_work() as uow:
        head = env.audit.sign_head(uow.session, env.tenant.id)
    # Consistency from the pre-prune head to now, and from every head inside the pruned range.
    for first in (before.tree_size, 64, 60, 120, 180, 240):
        proof = env.call(
            "Get-AuditLogConsistencyProof", FirstTreeSize=first, SecondTreeSize=head.tree_size
        ).value[0]
        verify_consistency(
            first,
            head.tree_size,
            bytes.fromhex(proof["FirstRootHash"]),
            head.root_hash,
            [bytes.fromhex(h) for h in proof["ConsistencyPath"]],
        )
    assert proof["FirstSignedHead"] is not None
    # The heads signed before pruning still have the same roots.
    assert (
        env.call(
            "Get-AuditLogConsistencyProof", FirstTreeSize=before.tree_size, SecondTreeSize=head.tree_size
        ).value[0]["FirstRootHash"]
        == before.root_hash.hex()
    )
    # Inclusion proofs of the remaining records.
    with env.db.unit_of_work(write=False) as uow:
        remaining = list(
            uow.session.execute(
                select(AuditRecord.record_id, AuditRecord.seq, AuditRecord.leaf_hash)
                .where(AuditRecord.tenant_id == env.tenant.id)
                .order_by(AuditRecord.seq)
            )
        )
    assert remaining[0][1] == result.pruned_below
    for record_id, seq, leaf in remaining[:: max(1, len(remaining) // 20)]:
        proof = env.call("Get-AuditLogInclusionProof", RecordId=record_id, TreeSize=head.tree_size).value[0]
        verify_inclusion(
            bytes(leaf), seq, head.tree_size, [bytes.fromhex(h) for h in proof["AuditPath"]], head.root_hash
        )
    # The prune is itself a high-severity record; an export after pruning still verifies offline.
    assert any(r["Operation"] == "PruneAuditLog" for r in env.records())
    export, head_file, _ = _export(env, tmp_path)
    code, report = _verify(export, head_file)
    assert code == 0, report
    assert report["first_seq"] == result.pruned_below
    assert result.pruned_below < report["head_tree_size"]


def test_public_surface_of_the_audit_package() -> None:
    import mailwarden.audit as audit

    assert audit.__all__ == sorted(audit.__all__, key=lambda n: (not n.isupper(), n))
    assert set(audit.__all__) == {
        "EMPTY_ROOT",
        "CompactRange",
        "ExportVerificationError",
        "Problem",
        "ProofError",
        "SignedHead",
        "VerificationReport",
        "consistency_proof",
        "inclusion_proof",
        "leaf_hash",
        "node_hash",
        "root_from_leaf_hashes",
        "verify_consistency",
        "verify_export",
        "verify_head",
        "verify_inclusion",
    }
