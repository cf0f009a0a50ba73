"""Offline verification of an audit export against a saved signed tree head (``mailwarden audit verify``).

No database, no server: the export (see :mod:`mailwarden.audit._export`) and a head the admin saved earlier.

1. The head's Ed25519 signature is checked (against a pinned public key when given); heads embedded in the
   export are checked with the same key and become extra checkpoints.
2. SequenceNumbers must run contiguously from the export's first one, in file order: a gap is a *missing*
   record, a number seen before is an *inserted* one, a number that shows up late is *out of order*.
3. Every leaf is recomputed as SHA-256(0x00 ‖ canonical JSON) (RFC 6962 §2.1) and compared with the exported
   leaf hash: a difference means the record was *edited*.
4. The RFC 6962 root over the recomputed leaves (after the pruned prefix's subtree hashes) is compared with
   the head's root at its tree size, and with every embedded head's root at its size.

Localisation. If the *exported* leaf hashes fold to the signed root at the first failing checkpoint, they
are authentic, so the first record whose recomputed leaf differs is exactly the first bad record. Otherwise
the leaf hashes were rewritten as well; the signed heads bracket the damage — the first bad record lies
after the last checkpoint that verifies and at or before the first that fails — and the report names that
window, plus the first concrete anomaly inside it when there is one. It never claims more than that.

:func:`verify_export` raises :class:`ExportVerificationError` (carrying the report) unless everything
verifies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._canonical import canonical_json
from ._compact import CompactRange
from ._heads import SignedHead, verify_head
from ._merkle import ProofError, leaf_hash

__all__ = ["ExportVerificationError", "Problem", "VerificationReport", "verify_export"]


@dataclass(frozen=True)
class Problem:
    kind: str  # edited | missing | inserted | out of order | leaf hash altered | root mismatch | malformed
    seq: int | None
    record_id: str | None
    detail: str
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sequence_number": self.seq,
            "record_id": self.record_id,
            "line": self.line,
            "detail": self.detail,
        }

    def __str__(self) -> str:
        where = f"SequenceNumber {self.seq}" if self.seq is not None else "record"
        ident = f" (Id {self.record_id})" if self.record_id else ""
        return f"{self.kind}: {where}{ident}: {self.detail}"


@dataclass
class VerificationReport:
    tenant_id: str = ""
    first_seq: int = 0
    records: int = 0
    head_size: int = 0
    checkpoints: list[int] = field(default_factory=list)
    first_bad: Problem | None = None
    window: tuple[int, int] | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.first_bad is None and not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tenant_id": self.tenant_id,
            "first_seq": self.first_seq,
            "records": self.records,
            "head_tree_size": self.head_size,
            "checkpoints": self.checkpoints,
            "first_bad": None if self.first_bad is None else self.first_bad.to_json(),
            "window": None if self.window is None else list(self.window),
            "problems": [p.to_json() for p in self.problems[:50]],
            "notes": self.notes,
        }


class ExportVerificationError(ProofError):
    def __init__(self, report: VerificationReport) -> None:
        self.report = report
        first = report.first_bad or (report.problems[0] if report.problems else None)
        super().__init__(str(first) if first else "the export does not verify")


@dataclass
class _Line:
    line: int
    seq: int | None
    record_id: str | None
    stored: bytes | None
    recomputed: bytes


def _parse(lines: Iterable[str], report: VerificationReport) -> tuple[dict[str, Any], list[_Line], list[Any]]:
    header: dict[str, Any] | None = None
    records: list[_Line] = []
    heads: list[Any] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            report.problems.append(Problem("malformed", None, None, "not JSON", number))
            continue
        if not isinstance(obj, dict):
            report.problems.append(Problem("malformed", None, None, "not a JSON object", number))
        elif "export" in obj and header is None:
            header = dict(obj["export"])
        elif "record" in obj and isinstance(obj["record"], dict):
            data = obj["record"]
            seq = data.get("SequenceNumber")
            try:
                stored: bytes | None = bytes.fromhex(str(obj.get("leaf_hash", "")))
            except ValueError:
                stored = None
            records.append(
                _Line(
                    number,
                    seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
                    str(data["Id"]) if "Id" in data else None,
                    stored,
                    leaf_hash(canonical_json(data)),
                )
            )
        elif "head" in obj:
            heads.append(obj["head"])
        else:
            report.problems.append(Problem("malformed", None, None, "unknown line", number))
    if header is None:
        raise ExportVerificationError(_fatal(report, "the file has no export header line"))
    return header, records, heads


def _fatal(report: VerificationReport, detail: str) -> VerificationReport:
    report.first_bad = Problem("malformed", None, None, detail)
    return report


def _order_problems(records: list[_Line], first: int) -> list[tuple[int, Problem]]:
    """(position, problem) for every break in the contiguous SequenceNumber run, in file order."""
    present = {r.seq for r in records}
    owner: dict[int, _Line] = {}
    out: list[tuple[int, Problem]] = []
    expected = first
    for pos, rec in enumerate(records):
        if rec.seq is None:
            out.append((pos, Problem("malformed", None, rec.record_id, "no SequenceNumber", rec.line)))
            continue
        if rec.seq in owner:
            other = owner[rec.seq]
            out.append(
                (
                    pos,
                    Problem(
                        "inserted",
                        rec.seq,
                        rec.record_id,
                        f"SequenceNumber {rec.seq} is claimed twice: by Id {other.record_id} (line "
                        f"{other.line}) and by Id {rec.record_id} (line {rec.line}); one was inserted",
                        rec.line,
                    ),
                )
            )
            continue
        owner[rec.seq] = rec
        if rec.seq < expected:
            # The expected number was reported (missing or late) already; this is the late one arriving.
            continue
        if rec.seq > expected:
            if expected in present:
                out.append(
                    (
                        pos,
                        Problem(
                            "out of order",
                            rec.seq,
                            rec.record_id,
                            f"SequenceNumber {rec.seq} appears before SequenceNumber {expected}",
                            rec.line,
                        ),
                    )
                )
            else:
                out.append(
                    (
                        pos,
                        Problem(
                            "missing",
                            expected,
                            None,
                            f"SequenceNumber {expected} is missing (the next record present is "
                            f"SequenceNumber {rec.seq}, Id {rec.record_id}, line {rec.line})",
                            rec.line,
                        ),
                    )
                )
        expected = rec.seq + 1
    return out


def verify_export(
    lines: Iterable[str], head_json: dict[str, Any], *, trusted_public_key: bytes | None = None
) -> VerificationReport:
    report = VerificationReport()
    try:
        head = SignedHead.from_json(head_json)
        verify_head(head, trusted_public_key=trusted_public_key)
    except ProofError as exc:
        raise ExportVerificationError(_fatal(report, f"the saved head does not verify: {exc}")) from None
    key = trusted_public_key if trusted_public_key is not None else head.public_key
    report.head_size = head.tree_size
    header, records, embedded = _parse(lines, report)
    first = int(header.get("first_seq", 0))
    report.tenant_id, report.first_seq, report.records = str(header.get("tenant_id", "")), first, len(records)
    if report.tenant_id != head.tenant_id:
        raise ExportVerificationError(
            _fatal(report, f"the head is for tenant {head.tenant_id}, the export for {report.tenant_id}")
        )
    roots: dict[int, bytes] = {head.tree_size: head.root_hash}
    for raw in embedded:
        try:
            other = SignedHead.from_json(raw)
            verify_head(other, trusted_public_key=key)
        except ProofError as exc:
            report.notes.append(f"an embedded head was ignored: {exc}")
            continue
        if other.tenant_id != head.tenant_id:
            report.notes.append(f"an embedded head of another tenant ({other.tenant_id}) was ignored")
        elif roots.setdefault(other.tree_size, other.root_hash) != other.root_hash:
            report.problems.append(
                Problem("root mismatch", None, None, f"two signed heads of size {other.tree_size} disagree")
            )
    end = first + len(records)
    if head.tree_size <= first:
        raise ExportVerificationError(
            _fatal(report, f"the head (size {head.tree_size}) predates the export's first record ({first})")
        )
    checkpoints = sorted(size for size in roots if first < size <= end)
    report.checkpoints = checkpoints
    if head.tree_size > end:
        report.problems.append(
            Problem(
                "missing",
                end,
                None,
                f"the head covers {head.tree_size} records but the export ends at SequenceNumber {end - 1}",
            )
        )
    if not checkpoints or checkpoints[-1] < end:
        report.problems.append(
            Problem(
                "root mismatch",
                checkpoints[-1] if checkpoints else first,
                None,
                "records at the end of the export are not covered by any signed head",
            )
        )

    prefix = [(int(b["level"]), bytes.fromhex(str(b["hash"]))) for b in header.get("prefix", [])]
    try:
        computed, exported = CompactRange(first, prefix), CompactRange(first, prefix)
    except ValueError as exc:
        raise ExportVerificationError(_fatal(report, f"the pruned prefix is malformed: {exc}")) from None
    computed_ok: dict[int, bool] = {}
    exported_ok: dict[int, bool] = {}
    wanted = set(checkpoints)
    for rec in records:
        computed.append(rec.recomputed)
        exported.append(rec.stored if rec.stored is not None and len(rec.stored) == 32 else b"")
        if computed.size in wanted:
            computed_ok[computed.size] = computed.root() == roots[computed.size]
            exported_ok[computed.size] = exported.root() == roots[computed.size]

    order = _order_problems(records, first)
    edits = [
        (
            pos,
            Problem(
                "edited",
                rec.seq,
                rec.record_id,
                "its content does not hash to its leaf hash (recomputed "
                f"{rec.recomputed.hex()[:16]}…, exported {(rec.stored or b'').hex()[:16]}…)",
                rec.line,
            ),
        )
        for pos, rec in enumerate(records)
        if rec.stored != rec.recomputed
    ]
    report.problems += [p for _, p in sorted(order + edits, key=lambda item: item[0])]
    failing = [size for size in checkpoints if not computed_ok[size]]
    if failing:
        bad = failing[0]
        good = max([size for size in checkpoints if size < bad and computed_ok[size]], default=first)
        lo, hi = good - first, bad - first  # positions of the window
        in_window = sorted((item for item in order + edits if lo <= item[0] < hi), key=lambda i: i[0])
        if exported_ok[bad]:
            # The exported leaf hashes are authentic up to `bad`: the first recomputed mismatch is the one.
            report.first_bad = next((p for pos, p in edits if lo <= pos < hi), None) or (
                in_window[0][1] if in_window else None
            )
            report.notes.append(
                f"the exported leaf hashes fold to the signed root of size {bad}, so they are authentic "
                "and the first bad record is exact"
            )
        else:
            report.window = (good, bad - 1)
            report.notes.append(
                f"the leaf hashes were rewritten too; the signed heads place the first bad record between "
                f"SequenceNumber {good} and {bad - 1}"
                + (" (the first anomaly in that window is named)" if in_window else "")
            )
            report.first_bad = (
                in_window[0][1]
                if in_window
                else Problem(
                    "root mismatch",
                    good,
                    records[lo].record_id if lo < len(records) else None,
                    f"records {good}..{bad - 1} do not fold to the signed root of size {bad}: one of them "
                    "was edited, inserted, removed or moved (with its leaf hash recomputed)",
                )
            )
    elif report.problems:
        # Every signed root verifies: remaining problems are in fields outside the signed content.
        report.first_bad = report.problems[0]
    return _finish(report)


def _finish(report: VerificationReport) -> VerificationReport:
    if not report.ok:
        if report.first_bad is None:
            report.first_bad = report.problems[0]
        raise ExportVerificationError(report)
    return report
