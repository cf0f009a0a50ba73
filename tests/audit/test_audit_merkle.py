"""RFC 6962 §2.1 Merkle tree: our iterative implementation against a literal, recursive transcription of the
RFC's definitions (the independent reference), and proofs that must fail when history is rewritten."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailwarden.audit import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)


# --- the reference: RFC 6962 §2.1, transcribed literally ------------------------------------------------
def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def _data(n: int) -> list[bytes]:
    return [f"record-{i}".encode() for i in range(n)]


# --- known answers ---------------------------------------------------------------------------------------
def test_empty_and_single() -> None:
    assert root_from_leaf_hashes([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert root_from_leaf_hashes([leaf_hash(b"")]) == hashlib.sha256(b"\x00").digest()


def test_certificate_transparency_test_vector() -> None:
    # The 8-leaf tree of the CT reference test data (certificate-transparency, merkle_tree_test.cc).
    leaves = [
        bytes.fromhex(h)
        for h in (
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        )
    ]
    hashed = [leaf_hash(x) for x in leaves]
    assert (
        root_from_leaf_hashes(hashed).hex()
        == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )
    assert (
        root_from_leaf_hashes(hashed[:1]).hex()
        == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


@given(n=st.integers(min_value=0, max_value=70))
@settings(max_examples=70, deadline=None)
def test_root_matches_reference(n: int) -> None:
    d = _data(n)
    assert root_from_leaf_hashes([leaf_hash(x) for x in d]) == ref_mth(d)


@given(data=st.data(), n=st.integers(min_value=1, max_value=70))
@settings(max_examples=120, deadline=None)
def test_inclusion_matches_reference_and_verifies(data: st.DataObject, n: int) -> None:
    d = _data(n)
    hashed = [leaf_hash(x) for x in d]
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = inclusion_proof(m, n, hashed)
    assert proof == ref_path(m, d)
    root = ref_mth(d)
    verify_inclusion(hashed[m], m, n, proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(b"forged"), m, n, proof, root)
    if n > 1:
        with pytest.raises(ProofError):
            verify_inclusion(hashed[m], (m + 1) % n, n, proof, root)
        with pytest.raises(ProofError):
            verify_inclusion(hashed[m], m, n, proof[:-1], root)


@given(data=st.data(), n=st.integers(min_value=1, max_value=70))
@settings(max_examples=150, deadline=None)
def test_consistency_matches_reference_and_detects_rewrites(data: st.DataObject, n: int) -> None:
    d = _data(n)
    hashed = [leaf_hash(x) for x in d]
    m = data.draw(st.integers(min_value=1, max_value=n))
    proof = consistency_proof(m, n, hashed)
    assert proof == (ref_proof(m, d) if m < n else [])
    old_root, new_root = ref_mth(d[:m]), ref_mth(d)
    verify_consistency(m, n, old_root, new_root, proof)
    # Rewriting any record of the old history breaks the proof against the old head.
    i = data.draw(st.integers(min_value=0, max_value=m - 1))
    rewritten = list(d)
    rewritten[i] = b"rewritten"
    forged_hashes = [leaf_hash(x) for x in rewritten]
    forged_proof = consistency_proof(m, n, forged_hashes)
    with pytest.raises(ProofError):
        verify_consistency(m, n, old_root, ref_mth(rewritten), forged_proof)


def test_inclusion_with_subtree_callback_costs_log_n() -> None:
    d = [leaf_hash(x) for x in _data(1000)]
    calls: list[tuple[int, int]] = []

    def subtree(start: int, end: int) -> bytes:
        calls.append((start, end))
        return root_from_leaf_hashes(d[start:end])

    proof = inclusion_proof(417, 1000, subtree)
    assert len(calls) == len(proof) <= 10
    verify_inclusion(d[417], 417, 1000, proof, root_from_leaf_hashes(d))
