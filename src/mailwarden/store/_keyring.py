"""Keys with ids, kept in the database wrapped under the master secret, so every node sharing the database
signs and verifies with the same keys and a key can be rotated (old ones stay valid for verification).

Wrapping: AES-256-GCM with a key derived by HKDF-SHA256 from the master secret; the key id and purpose are the
associated data, so a wrapped key cannot be moved to another slot.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select

from ..clock import Clock, utcnow
from ._database import Database
from ._models import SigningKey

__all__ = ["KeyRing", "SecretBox", "StoredKey"]


class SecretBox:
    def __init__(self, master_secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mailwarden keywrap v1").derive(
            master_secret
        )
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        return self._aead.decrypt(blob[:12], blob[12:], aad)


@dataclass(frozen=True)
class StoredKey:
    kid: str
    purpose: str
    secret: bytes
    active: bool


class KeyRing:
    """Symmetric keys per purpose (e.g. ``cursor``). ``current`` creates the first key on demand."""

    def __init__(self, db: Database, box: SecretBox, clock: Clock) -> None:
        self._db = db
        self._box = box
        self._clock = clock
        self._cache: dict[str, StoredKey] = {}
        # Which key signs may lag a rotation on another node by this long: harmless, since retired keys
        # still verify, and it saves a database read per page.
        self._current: dict[str, tuple[float, StoredKey]] = {}
        self.current_ttl_seconds = 30.0

    def _unwrap(self, row: SigningKey) -> StoredKey:
        secret = self._box.open(row.material, f"{row.purpose}:{row.kid}".encode())
        return StoredKey(row.kid, row.purpose, secret, row.retired_at is None)

    def current(self, purpose: str) -> StoredKey:
        now = self._clock.now().timestamp()
        cached = self._current.get(purpose)
        if cached is not None and now - cached[0] < self.current_ttl_seconds:
            return cached[1]
        key = self._load_current(purpose)
        self._current[purpose] = (now, key)
        return key

    def _load_current(self, purpose: str) -> StoredKey:
        with self._db.unit_of_work(write=False) as uow:
            row = uow.session.scalars(
                select(SigningKey)
                .where(SigningKey.purpose == purpose, SigningKey.retired_at.is_(None))
                .order_by(SigningKey.created_at.desc(), SigningKey.kid)
                .limit(1)
            ).first()
            if row is not None:
                return self._unwrap(row)
        return self.rotate(purpose, retire_current=False)

    def get(self, purpose: str, kid: str) -> StoredKey | None:
        cached = self._cache.get(kid)
        if cached is not None and cached.purpose == purpose:
            return cached
        with self._db.unit_of_work(write=False) as uow:
            row = uow.session.get(SigningKey, kid)
            if row is None or row.purpose != purpose:
                return None
            key = self._unwrap(row)
        self._cache[kid] = key
        return key

    def rotate(self, purpose: str, *, retire_current: bool = True) -> StoredKey:
        kid = f"{purpose}-{secrets.token_hex(6)}"
        secret = secrets.token_bytes(32)
        now = utcnow(self._clock)
        with self._db.unit_of_work(write=True) as uow:
            if not retire_current:
                # Another process may have created the first key meanwhile: use it.
                existing = uow.session.scalars(
                    select(SigningKey).where(SigningKey.purpose == purpose, SigningKey.retired_at.is_(None))
                ).first()
                if existing is not None:
                    return self._unwrap(existing)
            else:
                for row in uow.session.scalars(
                    select(SigningKey).where(SigningKey.purpose == purpose, SigningKey.retired_at.is_(None))
                ):
                    row.retired_at = now
                    self._cache.pop(row.kid, None)
            uow.session.add(
                SigningKey(
                    kid=kid,
                    purpose=purpose,
                    created_at=now,
                    material=self._box.seal(secret, f"{purpose}:{kid}".encode()),
                )
            )
        key = StoredKey(kid, purpose, secret, True)
        self._current.pop(purpose, None)
        return key
