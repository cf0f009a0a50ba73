"""The per-tenant append-only log and its RFC 6962 tree (DESIGN §7).

:func:`append` runs inside the caller's unit of work, so a record commits with the change it describes or
not at all. It locks the tenant's ``audit_log_state`` row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
write transaction is already exclusive), takes the next sequence number, stores the leaf hash and every
aligned subtree the new leaf completes. Roots and proofs then read O(log n) stored hashes.

Round trips per append: the locked state row (shared with :meth:`AuditService.record`), one read of the left
siblings on the tree's right edge (skipped for even sequence numbers, which complete nothing), one INSERT of
the record, one executemany of the completed subtrees, and the state row's UPDATE at flush. The stored
subtrees stay the source of truth for the right edge — not a cached copy — so the tree always extends what
storage (and so every proof) holds."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    LargeBinary,
    Table,
    bindparam,
    case,
    column,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..store._audit_models import AuditLogState, AuditRecord, AuditSubtree
from ..store._prepared import Prepared
from ._canonical import canonical_json
from ._compact import CompactRange, aligned_blocks
from ._merkle import EMPTY_ROOT, consistency_proof, inclusion_proof, leaf_hash, node_hash

__all__ = [
    "AppendedRecord",
    "Claim",
    "TreeReader",
    "append",
    "append_many",
    "claim",
    "lock_state",
    "record_time",
    "store_record",
]


_RECORDS: Table = AuditRecord.__table__  # type: ignore[assignment]
_SUBTREES: Table = AuditSubtree.__table__  # type: ignore[assignment]
_STATE: Table = AuditLogState.__table__  # type: ignore[assignment]
# Every column but the autoincrement id, in the keys _row() produces.
_INSERT_RECORD = Prepared(insert(_RECORDS), columns=[c.name for c in _RECORDS.columns if c.name != "id"])
_INSERT_SUBTREE = Prepared(insert(_SUBTREES))
# Built once: every audited call runs it, and building the statement and its cache key cost more than the
# round trip (the cache key of a reused statement object is memoised).
_LOCK_STATE = select(AuditLogState).where(AuditLogState.tenant_id == bindparam("tenant_id")).with_for_update()


@dataclass(frozen=True)
class AppendedRecord:
    seq: int
    record_id: str
    leaf_hash: bytes


def lock_state(session: Session, tenant_id: str) -> AuditLogState:
    """The tenant's log state row, locked for this transaction (created on first use without a race)."""
    state = session.scalar(_LOCK_STATE, {"tenant_id": tenant_id})  # the common case: one round trip
    if state is not None:
        return state
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(AuditLogState)
        .values(tenant_id=tenant_id, next_seq=0, pruned_below=0, retention_days=365, last_head_size=0)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    state = session.scalar(_LOCK_STATE, {"tenant_id": tenant_id})
    assert state is not None
    return state


def append(
    session: Session,
    tenant_id: str,
    record: dict[str, Any],
    *,
    high_severity: bool = False,
    state: AuditLogState | None = None,
) -> AppendedRecord:
    """Append one record; ``state`` is the tenant's row if the caller already locked it in this transaction
    (saves a second ``SELECT … FOR UPDATE``)."""
    if state is None:
        state = lock_state(session, tenant_id)
    seq = state.next_seq
    # CreationTime never goes backwards within a tenant's log, so sequence order is time order and a
    # search ordered by (CreationTime, SequenceNumber) pages by sequence alone.
    when = max(record_time(record), state.last_time or datetime.min)
    appended = store_record(session, tenant_id, record, seq, when, high_severity=high_severity)
    state.next_seq = seq + 1
    state.last_time = when
    return appended


def record_time(record: dict[str, Any]) -> datetime:
    text = str(record["CreationTime"])
    # fromisoformat is C and ~20x faster than strptime; it is used only on the exact shape strptime accepts.
    if len(text) == 19 and text[10] == "T":
        return datetime.fromisoformat(text)
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class Claim:
    """A sequence number taken by :func:`claim`, with the state the head schedule needs."""

    seq: int
    when: datetime
    last_head_size: int
    last_head_at: datetime | None


def _claim_statement(*, even_when_off: bool) -> Prepared:
    state = _STATE.c
    when: Any = bindparam("when", type_=DateTime())
    stmt = (
        update(_STATE)
        .where(state.tenant_id == bindparam("t"))
        .values(
            next_seq=state.next_seq + 1,
            last_time=case(
                (or_(state.last_time.is_(None), state.last_time < when), when), else_=state.last_time
            ),
        )
        .returning(state.next_seq, state.last_time, state.last_head_size, state.last_head_at)
    )
    if not even_when_off:  # routine records are dropped once ingestion is off: take no number for them
        stmt = stmt.where(
            or_(state.ingestion_off_at.is_(None), state.ingestion_off_at > bindparam("now", type_=DateTime()))
        )
    return Prepared(stmt)


_CLAIM = _claim_statement(even_when_off=False)
_CLAIM_ALWAYS = _claim_statement(even_when_off=True)


def claim(
    session: Session, tenant_id: str, when: datetime, *, now: datetime, high_severity: bool
) -> Claim | None:
    """Lock the tenant's state row and take the next sequence number in one ``UPDATE … RETURNING`` (the row
    lock serialises appends exactly as ``SELECT … FOR UPDATE`` does). None when the fast path does not apply
    — no state row yet, the row already loaded into this session (a Core UPDATE would leave that object
    stale), or ingestion off for a routine record — and the caller takes :func:`lock_state`'s path."""
    if (AuditLogState, (tenant_id,), None) in session.identity_map:  # identity_key(), without its lookups
        return None
    statement = _CLAIM_ALWAYS if high_severity else _CLAIM
    row = statement.first(session, {"t": tenant_id, "when": when, "now": now})
    if row is None:
        return None
    next_seq, last_time, head_size, head_at = row
    return Claim(int(next_seq) - 1, last_time, int(head_size), head_at)


def store_record(
    session: Session,
    tenant_id: str,
    record: dict[str, Any],
    seq: int,
    when: datetime,
    *,
    high_severity: bool,
) -> AppendedRecord:
    """Store record ``seq`` (already taken under the tenant's lock) with its leaf hash and every aligned
    subtree the leaf completes."""
    data = {**record, "CreationTime": when.strftime("%Y-%m-%dT%H:%M:%S"), "SequenceNumber": seq}
    leaf = leaf_hash(canonical_json(data))
    # The subtrees this leaf completes need only the left siblings on the tree's right edge: none for an
    # even seq, else the trailing blocks of the frontier — read in one statement, not one per level.
    siblings = _blocks(session, tenant_id, _left_siblings(seq))
    subtrees: list[dict[str, Any]] = []
    current, level, index = leaf, 0, seq
    while index % 2 == 1:  # a right child: its parent is now complete
        current = node_hash(siblings[(level, index - 1)], current)
        level, index = level + 1, index // 2
        subtrees.append({"tenant_id": tenant_id, "level": level, "index": index, "hash": current})
    # Core INSERTs on the session's connection: the ORM unit of work cost more than the SQL itself for
    # these write-once rows. (The record was built after the call's changes were flushed.)
    _INSERT_RECORD.run(session, _row(tenant_id, seq, when, data, leaf, high_severity))
    _INSERT_SUBTREE.run_many(session, subtrees)
    return AppendedRecord(seq, str(data["Id"]), leaf)


def _left_siblings(seq: int) -> list[tuple[int, int]]:
    """``(level, index)`` of the completed blocks that leaf ``seq`` merges with: one per trailing 1-bit."""
    out: list[tuple[int, int]] = []
    level, index = 0, seq
    while index % 2 == 1:
        out.append((level, index - 1))
        level, index = level + 1, index // 2
    return out


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


def _column_text(value: Any) -> str:
    """A record value copied into an indexed text column. A refused call's record repeats what the caller
    sent, which may hold a NUL that PostgreSQL text cannot store; the column gets U+FFFD in its place (the
    record's JSON, which the leaf hash covers, keeps the exact text)."""
    return str(value).replace("\x00", "\ufffd")


def _row(
    tenant_id: str, seq: int, when: datetime, data: dict[str, Any], leaf: bytes, high_severity: bool
) -> dict[str, Any]:
    user = _column_text(data.get("UserId") or data.get("UserKey") or "")
    obj = _column_text(data.get("ObjectId") or "") or None
    return {
        "tenant_id": tenant_id,
        "seq": seq,
        "record_id": str(data["Id"]),
        "record_type": int(data["RecordType"]),
        "creation_time": when,
        "operation": _column_text(data["Operation"]),
        "user_key": user.lower()[:320],
        "object_key": obj.lower()[:512] if obj else None,
        "client_ip": _column_text(data.get("ClientIP") or "") or None,
        "result_status": _column_text(data.get("ResultStatus", "")),
        "high_severity": high_severity,
        "data": data,
        "leaf_hash": leaf,
    }


def _stored(session: Session, tenant_id: str, level: int, index: int) -> bytes:
    return _blocks(session, tenant_id, [(level, index)])[(level, index)]


def _blocks(
    session: Session, tenant_id: str, blocks: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """Stored hashes of aligned blocks in one round trip: level 0 is a record's leaf hash (or, for a pruned
    record, its kept level-0 subtree row), higher levels are subtree rows. Raises :class:`LookupError` if
    one is missing."""
    if not blocks:
        return {}
    wanted = sorted(set(blocks))
    leaves = [index for level, index in wanted if level == 0]
    # Pad both lists to a power of two with probes that match nothing (level/seq -1): a handful of statement
    # shapes serve every proof, so each is compiled and prepared once instead of once per block count.
    arms, leaf_arms = _bucket(len(wanted)), _bucket(len(leaves))
    params: dict[str, Any] = {"t": tenant_id}
    for i in range(arms):
        level, index = wanted[i] if i < len(wanted) else (-1, -1)
        params[f"l{i}"], params[f"i{i}"] = level, index
    for i in range(leaf_arms):
        params[f"s{i}"] = leaves[i] if i < len(leaves) else -1
    found: dict[tuple[int, int], bytes] = {}
    rows = _blocks_statement(arms, leaf_arms).all(session, params)
    for level, index, value in rows:
        if level == -1:  # a live record's leaf: preferred over a kept level-0 row
            found[(0, int(index))] = bytes(value)
        else:
            found.setdefault((int(level), int(index)), bytes(value))
    for key in wanted:
        if key not in found:
            raise LookupError(f"audit subtree {key} of tenant {tenant_id} is missing")
    return found


def _bucket(count: int) -> int:
    return 0 if count == 0 else 1 << (count - 1).bit_length()


@functools.lru_cache(maxsize=64)
def _blocks_statement(subtrees: int, leaves: int) -> Prepared:
    """A UNION ALL of primary-key point reads, one per block. Both planners turn each arm into one index
    probe; an ``OR`` of (level, index) pairs or a row-value ``IN`` let SQLite's planner (without ANALYZE
    statistics) fall back to scanning every subtree row of the tenant. Text, built once per shape: the
    same statement as Core costs more to cache-key on every execution than the probes themselves."""
    # Only placeholder numbers are interpolated; every value is a bound parameter.
    arms = [
        f'SELECT level, "index", hash FROM audit_subtrees '  # noqa: S608
        f'WHERE tenant_id = :t AND level = :l{i} AND "index" = :i{i}'
        for i in range(subtrees)
    ]
    arms += [
        f"SELECT -1, seq, leaf_hash FROM audit_records WHERE tenant_id = :t AND seq = :s{i}"  # noqa: S608
        for i in range(leaves)
    ]
    return Prepared(
        text(" UNION ALL ".join(arms)).columns(
            column("level", Integer), column("index", BigInteger), column("hash", LargeBinary)
        )
    )


class TreeReader:
    """Roots and proofs for one tenant from stored subtree hashes.

    A proof first runs against a recording stand-in to learn which aligned blocks it needs, then fetches
    them in one statement — so a proof costs one round trip, not one per block."""

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
        # One statement for every block the proof needs (O(log n) of them), by primary key.
        missing = sorted(key for key in needed if key not in self._cache)
        self._cache.update(_blocks(self.session, self.tenant_id, missing))

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
