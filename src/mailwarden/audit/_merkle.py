"""Merkle tree of the audit log, as specified by RFC 6962 §2.1 (Certificate Transparency).

* leaf hash  ``MTH({d0}) = SHA-256(0x00 || d0)``; the empty tree's hash is ``SHA-256()``;
* node hash  ``SHA-256(0x01 || left || right)``, where the left subtree holds the largest power of two
  smaller than ``n`` leaves (§2.1);
* inclusion proofs are audit paths (§2.1.1), consistency proofs follow §2.1.2, and the verifiers follow
  RFC 9162 §2.1.3.2 / §2.1.4.2 (the iterative algorithms). Verifiers raise :class:`ProofError`.

Written by hand because it is small, the specification is exact, and no maintained Python library exposes
RFC 6962 proofs without bringing a whole transparency-log server along. Everything is iterative so a
10-million-leaf tree never recurses deeply.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof does not verify, or is malformed."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves, bottom-up.

    Pairing adjacent nodes level by level and carrying an odd last node up unchanged yields exactly the
    RFC 6962 tree: its left subtrees are always complete power-of-two trees.
    """
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    sha = hashlib.sha256
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


SubtreeRoot = Callable[[int, int], bytes]


def _subtree_fn(leaves: Sequence[bytes]) -> SubtreeRoot:
    return lambda start, end: root_from_leaf_hashes(leaves[start:end])


def inclusion_proof(index: int, size: int, subtree_root: SubtreeRoot | Sequence[bytes]) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of the first ``size`` leaves (RFC 6962 §2.1.1).

    ``subtree_root(start, end)`` returns the MTH of leaves ``[start, end)``; storage can answer it from
    cached complete subtrees so a proof costs O(log n) hashes, not a rebuild.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    root_of = subtree_root if callable(subtree_root) else _subtree_fn(subtree_root)
    path: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m - start < k:
            path.append(root_of(start + k, end))
            end = start + k
        else:
            path.append(root_of(start, start + k))
            start = start + k
    path.reverse()
    return path


def consistency_proof(
    old_size: int, new_size: int, subtree_root: SubtreeRoot | Sequence[bytes]
) -> list[bytes]:
    """Proof that the first ``old_size`` leaves are a prefix of the ``new_size`` tree (RFC 6962 §2.1.2)."""
    if not 0 <= old_size <= new_size:
        raise ProofError("the old tree must not be larger than the new one")
    if old_size == 0 or old_size == new_size:
        return []
    root_of = subtree_root if callable(subtree_root) else _subtree_fn(subtree_root)
    # SUBPROOF(m, D[start:end], b), unrolled; the right-hand pushes come out leaf-to-root, as specified.
    out: list[bytes] = []
    start, end, m, complete = 0, new_size, old_size, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                out.append(root_of(start, end))
            break
        k = _split(n)
        if m <= k:
            out.append(root_of(start + k, end))
            end = start + k
        else:
            out.append(root_of(start, start + k))
            start, m, complete = start + k, m - k, False
    out.reverse()
    return out


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check an audit path (RFC 9162 §2.1.3.2). ``leaf`` is the leaf *hash*."""
    if not 0 <= index < size:
        raise ProofError("index out of range")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ProofError("proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is too short")
    if r != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check a consistency proof (RFC 9162 §2.1.4.2)."""
    if not 0 <= old_size <= new_size:
        raise ProofError("sizes out of order")
    if old_size == new_size:
        if proof:
            raise ProofError("a proof between equal trees must be empty")
        if old_root != new_root:
            raise ProofError("equal sizes but different roots: history was rewritten")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # old tree is a complete subtree: its root starts the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is too short")
    if fr != old_root:
        raise ProofError("consistency proof does not reproduce the old root: history was rewritten")
    if sr != new_root:
        raise ProofError("consistency proof does not reproduce the new root")
