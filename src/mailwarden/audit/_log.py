"""The per-tenant append-only log and its RFC 6962 tree (DESIGN §7).

:func:`append` runs inside the caller's unit of work, so a record commits with the change it describes or
not at all. It locks the tenant's ``audit_log_state`` row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
write transaction is already exclusive), takes the next sequence number, stores the leaf hash and every
aligned subtree the new leaf completes. Roots and proofs then read O(log n) stored hashes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..store._audit_models import AuditLogState, AuditRecord, AuditSubtree
from ._canonical import canonical_json
from ._compact import CompactRange, aligned_blocks
from ._merkle import EMPTY_ROOT, consistency_proof, inclusion_proof, leaf_hash, node_hash

__all__ = ["AppendedRecord", "TreeReader", "append", "append_many", "lock_state"]


_RECORDS: Table = AuditRecord.__table__  # type: ignore[assignment]
_SUBTREES: Table = AuditSubtree.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class AppendedRecord:
    seq: int
    record_id: str
    leaf_hash: bytes


def lock_state(session: Session, tenant_id: str) -> AuditLogState:
    """The tenant's log state row, locked for this transaction (created on first use without a race)."""
    locked = select(AuditLogState).where(AuditLogState.tenant_id == tenant_id).with_for_update()
    state = session.scalar(locked)  # the common case: one round trip
    if state is not None:
        return state
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(AuditLogState)
        .values(tenant_id=tenant_id, next_seq=0, pruned_below=0, retention_days=365, last_head_size=0)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    state = session.scalar(locked)
    assert state is not None
    return state


def append(
    session: Session, tenant_id: str, record: dict[str, Any], *, high_severity: bool = False
) -> AppendedRecord:
    state = lock_state(session, tenant_id)
    seq = state.next_seq
    state.next_seq = seq + 1
    # CreationTime never goes backwards within a tenant's log, so sequence order is time order and a
    # search ordered by (CreationTime, SequenceNumber) pages by sequence alone.
    when = max(
        datetime.strptime(str(record["CreationTime"]), "%Y-%m-%dT%H:%M:%S"), state.last_time or datetime.min
    )
    state.last_time = when
    data = {**record, "CreationTime": when.strftime("%Y-%m-%dT%H:%M:%S"), "SequenceNumber": seq}
    leaf = leaf_hash(canonical_json(data))
    user = str(data.get("UserId") or data.get("UserKey") or "")
    obj = str(data.get("ObjectId") or "") or None
    session.add(
        AuditRecord(
            tenant_id=tenant_id,
            seq=seq,
            record_id=str(data["Id"]),
            record_type=int(data["RecordType"]),
            creation_time=when,
            operation=str(data["Operation"]),
            user_key=user.lower()[:320],
            object_key=obj.lower()[:512] if obj else None,
            client_ip=str(data.get("ClientIP") or "") or None,
            result_status=str(data.get("ResultStatus", "")),
            high_severity=high_severity,
            data=data,
            leaf_hash=leaf,
        )
    )
    _complete_subtrees(session, tenant_id, seq, leaf)
    return AppendedRecord(seq, str(data["Id"]), leaf)


def append_many(
    session: Session, tenant_id: str, records: Iterable[dict[str, Any]], *, chunk: int = 2000
) -> int:
    """Bulk path (seeding, imports, benchmarks): the same rows and hashes :func:`append` would store, but the
    subtree hashes are computed in memory from the tree's frontier (:class:`CompactRange`) and rows go in as
    multi-row INSERTs. Runs in the caller's transaction under the same tenant lock; returns the count."""
    state = lock_state(session, tenant_id)
    session.flush()
    start = state.next_seq
    frontier = CompactRange(
        start,
        [(level, _stored(session, tenant_id, level, index)) for level, index in aligned_blocks(0, start)],
    )
    last = state.last_time or datetime.min
    rows: list[dict[str, Any]] = []
    subtrees: list[dict[str, Any]] = []
    seq = start

    def flush() -> None:
        # Core executemany (not the ORM bulk path): the rows are plain dicts already.
        conn = session.connection()
        if rows:
            conn.execute(insert(_RECORDS), rows)
            rows.clear()
        if subtrees:
            conn.execute(insert(_SUBTREES), subtrees)
            subtrees.clear()

    for record in records:
        when = max(datetime.fromisoformat(str(record["CreationTime"])), last)
        last = when
        data = {**record, "CreationTime": when.strftime("%Y-%m-%dT%H:%M:%S"), "SequenceNumber": seq}
        leaf = leaf_hash(canonical_json(data))
        rows.append(_row(tenant_id, seq, when, data, leaf, False))
        for level, index, value in frontier.append(leaf):
            subtrees.append({"tenant_id": tenant_id, "level": level, "index": index, "hash": value})
        seq += 1
        if len(rows) >= chunk:
            flush()
    flush()
    state.next_seq = seq
    state.last_time = last if seq > start else state.last_time
    return seq - start


def _row(
    tenant_id: str, seq: int, when: datetime, data: dict[str, Any], leaf: bytes, high_severity: bool
) -> dict[str, Any]:
    user = str(data.get("UserId") or data.get("UserKey") or "")
    obj = str(data.get("ObjectId") or "") or None
    return {
        "tenant_id": tenant_id,
        "seq": seq,
        "record_id": str(data["Id"]),
        "record_type": int(data["RecordType"]),
        "creation_time": when,
        "operation": str(data["Operation"]),
        "user_key": user.lower()[:320],
        "object_key": obj.lower()[:512] if obj else None,
        "client_ip": str(data.get("ClientIP") or "") or None,
        "result_status": str(data.get("ResultStatus", "")),
        "high_severity": high_severity,
        "data": data,
        "leaf_hash": leaf,
    }


def _complete_subtrees(session: Session, tenant_id: str, seq: int, leaf: bytes) -> None:
    """Store the hash of every aligned subtree that leaf ``seq`` completes (level ≥ 1)."""
    current, level, index = leaf, 0, seq
    while index % 2 == 1:  # we are a right child: our parent is now complete
        left = _stored(session, tenant_id, level, index - 1)
        current = node_hash(left, current)
        level, index = level + 1, index // 2
        session.add(AuditSubtree(tenant_id=tenant_id, level=level, index=index, hash=current))


def _stored(session: Session, tenant_id: str, level: int, index: int) -> bytes:
    if level == 0:
        value = session.scalar(
            select(AuditRecord.leaf_hash).where(AuditRecord.tenant_id == tenant_id, AuditRecord.seq == index)
        )
        if value is None:  # pruned leaf: its level-0 hash was kept as a subtree row
            value = session.scalar(
                select(AuditSubtree.hash).where(
                    AuditSubtree.tenant_id == tenant_id, AuditSubtree.level == 0, AuditSubtree.index == index
                )
            )
    else:
        value = session.scalar(
            select(AuditSubtree.hash).where(
                AuditSubtree.tenant_id == tenant_id, AuditSubtree.level == level, AuditSubtree.index == index
            )
        )
    if value is None:
        raise LookupError(f"audit subtree ({level}, {index}) of tenant {tenant_id} is missing")
    return bytes(value)


class TreeReader:
    """Roots and proofs for one tenant from stored subtree hashes.

    A proof first runs against a recording stand-in to learn which aligned blocks it needs, then fetches
    them in two queries (subtrees, leaves) — so a proof costs two round trips, not one per block."""

    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self._cache: dict[tuple[int, int], bytes] = {}

    def size(self) -> int:
        value = self.session.scalar(
            select(AuditLogState.next_seq).where(AuditLogState.tenant_id == self.tenant_id)
        )
        return int(value or 0)

    def _block(self, level: int, index: int) -> bytes:
        key = (level, index)
        value = self._cache.get(key)
        if value is None:
            value = _stored(self.session, self.tenant_id, level, index)
        return value

    def subtree_root(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)``, where ``start`` is aligned as in every RFC 6962 subtree: fold the
        aligned power-of-two blocks covering the range from the right."""
        if end <= start:
            return EMPTY_ROOT
        blocks = [self._block(level, index) for level, index in aligned_blocks(start, end)]
        acc = blocks[-1]
        for block in reversed(blocks[:-1]):
            acc = node_hash(block, acc)
        return acc

    def _prefetch(self, run: Callable[[Callable[[int, int], bytes]], object]) -> None:
        needed: set[tuple[int, int]] = set()

        def record(start: int, end: int) -> bytes:
            needed.update(aligned_blocks(start, end))
            return EMPTY_ROOT

        run(record)
        by_level: dict[int, list[int]] = {}
        for level, index in needed:
            if level >= 1 and (level, index) not in self._cache:
                by_level.setdefault(level, []).append(index)
        leaves = [i for level, i in needed if level == 0 and (0, i) not in self._cache]
        if by_level:
            # A proof needs O(log n) blocks, at ~log n levels: ask for the cross product (level IN … AND
            # index IN …) — a fixed statement shape whose compiled form is cached, served by primary-key
            # probes — and keep the blocks actually needed.
            wanted = {(lv, i) for lv, ix in by_level.items() for i in ix}
            for level, index, value in self.session.execute(
                select(AuditSubtree.level, AuditSubtree.index, AuditSubtree.hash).where(
                    AuditSubtree.tenant_id == self.tenant_id,
                    AuditSubtree.level.in_(sorted(by_level)),
                    AuditSubtree.index.in_(sorted({i for _, i in wanted})),
                )
            ):
                if (int(level), int(index)) in wanted:
                    self._cache[(int(level), int(index))] = bytes(value)
        if leaves:
            for seq, value in self.session.execute(
                select(AuditRecord.seq, AuditRecord.leaf_hash).where(
                    AuditRecord.tenant_id == self.tenant_id, AuditRecord.seq.in_(leaves)
                )
            ):
                self._cache[(0, int(seq))] = bytes(value)

    def root(self, size: int | None = None) -> bytes:
        n = self.size() if size is None else size
        self._prefetch(lambda fn: fn(0, n))
        return self.subtree_root(0, n)

    def inclusion(self, seq: int, size: int) -> list[bytes]:
        self._prefetch(lambda fn: inclusion_proof(seq, size, fn))
        return inclusion_proof(seq, size, self.subtree_root)

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        self._prefetch(lambda fn: consistency_proof(old_size, new_size, fn))
        return consistency_proof(old_size, new_size, self.subtree_root)

    def leaf(self, seq: int) -> bytes:
        return _stored(self.session, self.tenant_id, 0, seq)
