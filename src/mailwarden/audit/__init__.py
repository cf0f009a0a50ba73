"""Unified audit log: records, search, and tamper evidence (RFC 6962 Merkle tree, signed tree heads)."""

from ._compact import CompactRange
from ._heads import SignedHead, verify_head
from ._merkle import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from ._verify import ExportVerificationError, Problem, VerificationReport, verify_export

__all__ = [
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
]
