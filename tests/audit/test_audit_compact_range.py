"""Compact ranges (the tree's right frontier) against RFC 6962 §2.1 roots computed from all leaves, and the
offline verifier on hand-made exports (no database)."""

from __future__ import annotations

import hashlib

import pytest

from mailwarden.audit import (
    CompactRange,
    ExportVerificationError,
    leaf_hash,
    root_from_leaf_hashes,
    verify_export,
)
from mailwarden.audit._compact import aligned_blocks


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(str(i).encode()) for i in range(n)]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8, 13, 64, 100, 257])
def test_frontier_roots_match_full_rebuild(n: int) -> None:
    leaves = _leaves(n)
    cr = CompactRange()
    completed = {}
    for i, leaf in enumerate(leaves):
        for level, index, value in cr.append(leaf):
            completed[(level, index)] = value
        assert cr.root() == root_from_leaf_hashes(leaves[: i + 1])
    # Every completed subtree is the root of its aligned block.
    for (level, index), value in completed.items():
        assert value == root_from_leaf_hashes(leaves[index << level : (index + 1) << level])
    # Resuming from a stored frontier gives the same roots.
    for start in range(n):
        frontier = [
            (level, root_from_leaf_hashes(leaves[index << level : (index + 1) << level]))
            for level, index in aligned_blocks(0, start)
        ]
        resumed = CompactRange(start, frontier)
        for leaf in leaves[start:]:
            resumed.append(leaf)
        assert resumed.root() == root_from_leaf_hashes(leaves)


def test_frontier_shape_is_checked() -> None:
    with pytest.raises(ValueError):
        CompactRange(3, [(1, hashlib.sha256().digest())])


def test_verifier_refuses_unsigned_heads() -> None:
    head = {
        "tenant_id": "t",
        "tree_size": 1,
        "root_hash": "00" * 32,
        "timestamp": "2026-01-01T00:00:00Z",
        "kid": "k",
        "public_key": "A" * 43 + "=",
        "signature": "A" * 86 + "==",
    }
    with pytest.raises(ExportVerificationError) as info:
        verify_export(['{"export": {"tenant_id": "t", "first_seq": 0}}'], head)
    assert not info.value.report.ok
