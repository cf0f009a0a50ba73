"""Serving tamper evidence from storage: signed tree heads, RFC 6962 §2.1.1 inclusion proofs (audit paths)
and §2.1.2 consistency proofs, and the heads' Ed25519 public keys by key id.

The same dictionaries answer the cmdlets (Get-AuditLogTreeHead, Get-AuditLogInclusionProof,
Get-AuditLogConsistencyProof) and the HTTP routes; hashes are lowercase hex, keys and signatures base64.
A client checks them with :func:`~mailwarden.audit.verify_inclusion` / ``verify_consistency`` and
:func:`~mailwarden.audit._heads.verify_head` — never trusting the server's own "valid" flag.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ArgumentError, NotFoundError, ServiceError
from ..store import SigningKey
from ..store._audit_models import AuditLogState, AuditRecord, AuditTreeHead
from ._heads import SignedHead
from ._log import TreeReader
from ._service import AuditService, service_for

__all__ = [
    "audit_service",
    "consistency_document",
    "head_document",
    "inclusion_document",
    "latest_head",
    "log_state",
    "public_keys",
]


def audit_service(session: Session) -> AuditService:
    service = service_for(session)
    if service is None:
        raise ServiceError("The audit log is not configured on this server.")
    return service


def latest_head(session: Session, service: AuditService, tenant_id: str) -> SignedHead | None:
    row = session.scalar(
        select(AuditTreeHead)
        .where(AuditTreeHead.tenant_id == tenant_id)
        .order_by(AuditTreeHead.tree_size.desc())
        .limit(1)
    )
    return None if row is None else service.signer.from_row(row)


def _head_of_size(session: Session, service: AuditService, tenant_id: str, size: int) -> SignedHead | None:
    row = session.scalar(
        select(AuditTreeHead).where(AuditTreeHead.tenant_id == tenant_id, AuditTreeHead.tree_size == size)
    )
    return None if row is None else service.signer.from_row(row)


def head_document(head: SignedHead | None) -> dict[str, Any]:
    if head is None:
        return {"Signed": False, "SignedHead": None}
    return {
        "Signed": True,
        "TreeSize": head.tree_size,
        "RootHash": head.root_hash.hex(),
        "Timestamp": head.timestamp,
        "KeyId": head.kid,
        "SignedHead": head.to_json(),
    }


def inclusion_document(
    session: Session, service: AuditService, tenant_id: str, record_id: str, tree_size: int | None = None
) -> dict[str, Any]:
    row = session.execute(
        select(AuditRecord.seq, AuditRecord.leaf_hash).where(
            AuditRecord.tenant_id == tenant_id, AuditRecord.record_id == record_id
        )
    ).first()
    if row is None:
        raise NotFoundError(f"The audit record '{record_id}' couldn't be found (it may have been pruned).")
    seq, leaf = int(row[0]), bytes(row[1])
    reader = TreeReader(session, tenant_id)
    current = reader.size()
    if tree_size is None:
        head = latest_head(session, service, tenant_id)
        # Prefer the latest signed head, so the proof checks against a root the client can verify.
        tree_size = head.tree_size if head is not None and head.tree_size > seq else current
    if not seq < tree_size <= current:
        raise ArgumentError(f"TreeSize must be greater than {seq} and at most {current}.")
    root = reader.root(tree_size)
    path = reader.inclusion(seq, tree_size)
    head = _head_of_size(session, service, tenant_id, tree_size)
    return {
        "RecordId": record_id,
        "SequenceNumber": seq,
        "LeafIndex": seq,
        "LeafHash": leaf.hex(),
        "TreeSize": tree_size,
        "RootHash": root.hex(),
        "AuditPath": [h.hex() for h in path],
        "SignedHead": None if head is None else head.to_json(),
    }


def consistency_document(
    session: Session, service: AuditService, tenant_id: str, first: int, second: int
) -> dict[str, Any]:
    reader = TreeReader(session, tenant_id)
    current = reader.size()
    if not 0 <= first <= second <= current:
        raise ArgumentError(f"Tree sizes must satisfy 0 <= FirstTreeSize <= SecondTreeSize <= {current}.")
    try:
        path = reader.consistency(first, second)
        first_root = reader.root(first)
    except LookupError:
        raise ArgumentError(
            f"The tree of size {first} lies in the pruned part of the log; use the size of a signed head."
        ) from None
    heads = [_head_of_size(session, service, tenant_id, n) for n in (first, second)]
    return {
        "FirstTreeSize": first,
        "SecondTreeSize": second,
        "FirstRootHash": first_root.hex(),
        "SecondRootHash": reader.root(second).hex(),
        "ConsistencyPath": [h.hex() for h in path],
        "FirstSignedHead": None if heads[0] is None else heads[0].to_json(),
        "SecondSignedHead": None if heads[1] is None else heads[1].to_json(),
    }


def public_keys(session: Session, service: AuditService) -> list[dict[str, Any]]:
    kids = session.scalars(
        select(SigningKey.kid).where(SigningKey.purpose == "audit-head").order_by(SigningKey.created_at)
    )
    out: list[dict[str, Any]] = []
    for kid in kids:
        public = service.signer.public_key(kid)
        if public is not None:
            out.append(
                {
                    "kid": kid,
                    "kty": "OKP",  # RFC 8037 JWK form, plus the base64 form `audit verify --public-key` takes
                    "crv": "Ed25519",
                    "x": base64.urlsafe_b64encode(public).decode().rstrip("="),
                    "public_key": base64.b64encode(public).decode(),
                }
            )
    return out


def log_state(session: Session, tenant_id: str) -> AuditLogState | None:
    return session.get(AuditLogState, tenant_id)
