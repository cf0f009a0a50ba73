"""Signed tree heads: Ed25519 signatures over (tenant, tree size, root hash, timestamp), with a key id.

Heads are signed every ``HEAD_EVERY_RECORDS`` records or ``HEAD_EVERY_SECONDS`` seconds (checked as records
are appended, inside the same transaction) and on demand. A head is the trust anchor an admin saves: any
later export or consistency proof is checked against it offline.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store._audit_models import AuditLogState, AuditTreeHead
from ._canonical import canonical_json
from ._merkle import ProofError

__all__ = [
    "HEAD_EVERY_RECORDS",
    "HEAD_EVERY_SECONDS",
    "HeadSigner",
    "SignedHead",
    "head_message",
    "verify_head",
]

HEAD_EVERY_RECORDS = 1000
HEAD_EVERY_SECONDS = 300


def head_message(tenant_id: str, tree_size: int, root: bytes, timestamp: str) -> bytes:
    return canonical_json(
        {"tenant_id": tenant_id, "tree_size": tree_size, "root_hash": root.hex(), "timestamp": timestamp}
    )


@dataclass(frozen=True)
class SignedHead:
    tenant_id: str
    tree_size: int
    root_hash: bytes
    timestamp: str
    kid: str
    public_key: bytes
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": self.timestamp,
            "kid": self.kid,
            "public_key": base64.b64encode(self.public_key).decode(),
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignedHead:
        try:
            return cls(
                tenant_id=str(data["tenant_id"]),
                tree_size=int(data["tree_size"]),
                root_hash=bytes.fromhex(str(data["root_hash"])),
                timestamp=str(data["timestamp"]),
                kid=str(data["kid"]),
                public_key=base64.b64decode(str(data["public_key"])),
                signature=base64.b64decode(str(data["signature"])),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ProofError(f"malformed tree head: {exc}") from None


def verify_head(head: SignedHead, *, trusted_public_key: bytes | None = None) -> None:
    """Raise :class:`ProofError` unless the head's signature is valid (against a pinned key if given)."""
    key = trusted_public_key if trusted_public_key is not None else head.public_key
    if trusted_public_key is not None and head.public_key != trusted_public_key:
        raise ProofError("the head was signed with another key than the pinned one")
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(
            head.signature, head_message(head.tenant_id, head.tree_size, head.root_hash, head.timestamp)
        )
    except (InvalidSignature, ValueError):
        raise ProofError("the tree head signature is not valid") from None


class HeadSigner:
    """Signs heads with the audit key (an Ed25519 seed kept wrapped in the key ring)."""

    def __init__(self, current_key: Any, lookup_key: Any) -> None:
        self._current = current_key  # () -> (kid, 32-byte seed)
        self._lookup = lookup_key  # (kid) -> seed | None

    def public_key(self, kid: str) -> bytes | None:
        seed = self._lookup(kid)
        if seed is None:
            return None
        return (
            Ed25519PrivateKey.from_private_bytes(seed)
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
        )

    def sign(
        self, session: Session, tenant_id: str, tree_size: int, root: bytes, now: datetime
    ) -> SignedHead:
        existing = session.scalar(
            select(AuditTreeHead).where(
                AuditTreeHead.tenant_id == tenant_id, AuditTreeHead.tree_size == tree_size
            )
        )
        if existing is not None:
            return self._from_row(existing)
        kid, seed = self._current()
        private = Ed25519PrivateKey.from_private_bytes(seed)
        timestamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        signature = private.sign(head_message(tenant_id, tree_size, root, timestamp))
        session.add(
            AuditTreeHead(
                tenant_id=tenant_id,
                tree_size=tree_size,
                root_hash=root,
                timestamp=now,
                kid=kid,
                signature=signature,
            )
        )
        state = session.get(AuditLogState, tenant_id)
        if state is not None and tree_size >= state.last_head_size:
            state.last_head_size, state.last_head_at = tree_size, now
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return SignedHead(tenant_id, tree_size, root, timestamp, kid, public, signature)

    def due(self, size: int, last_head_size: int, last_head_at: datetime | None, now: datetime) -> bool:
        """Whether a head is due for a log of ``size`` records, given when the last one was signed."""
        if size - last_head_size >= HEAD_EVERY_RECORDS:
            return True
        return size > last_head_size and (
            last_head_at is None or now - last_head_at >= timedelta(seconds=HEAD_EVERY_SECONDS)
        )

    def _from_row(self, row: AuditTreeHead) -> SignedHead:
        public = self.public_key(row.kid) or b""
        return SignedHead(
            row.tenant_id,
            int(row.tree_size),
            bytes(row.root_hash),
            row.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            row.kid,
            public,
            bytes(row.signature),
        )

    def from_row(self, row: AuditTreeHead) -> SignedHead:
        return self._from_row(row)
