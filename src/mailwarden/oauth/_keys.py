"""Token signing keys (RFC 7517 JWK sets, RFC 7518 §3.3 RS256).

RSA-2048 private keys are kept in ``signing_keys`` (purpose ``oauth-rs256``) wrapped with the master secret
(:class:`mailwarden.store.SecretBox`, associated data ``oauth-rs256:<kid>``), so every node sharing the
database signs with the same key. Rotation keeps an overlap: the JWKS document publishes the current key and
the one before it, and tokens signed by either verify; older keys are unknown ``kid`` values.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey
from sqlalchemy import select

from ..clock import Clock, utcnow
from ..store import Database, SecretBox, SigningKey

__all__ = ["PURPOSE", "SigningKeys", "TokenKey"]

PURPOSE = "oauth-rs256"


@dataclass(frozen=True)
class TokenKey:
    kid: str
    key: RSAKey  # private for the signing key, public otherwise

    def public_jwk(self) -> dict[str, Any]:
        jwk = RSAKey.import_key(self.key.as_dict(private=False))
        data: dict[str, Any] = jwk.as_dict(private=False)
        data.update(kid=self.kid, use="sig", alg="RS256")
        return data


class SigningKeys:
    """Current signing key and the verification set (current + previous), cached for ``ttl_seconds``."""

    def __init__(self, db: Database, box: SecretBox, clock: Clock, *, ttl_seconds: float = 30.0) -> None:
        self._db = db
        self._box = box
        self._clock = clock
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._loaded_at = -1e18
        self._signing: TokenKey | None = None
        self._verify: dict[str, TokenKey] = {}

    def _aad(self, kid: str) -> bytes:
        return f"{PURPOSE}:{kid}".encode()

    def _unwrap(self, row: SigningKey) -> TokenKey:
        der = self._box.open(row.material, self._aad(row.kid))
        private = serialization.load_der_private_key(der, password=None)
        assert isinstance(private, rsa.RSAPrivateKey)
        return TokenKey(row.kid, RSAKey.import_key(private))

    def _load(self) -> None:
        if not self._load_rows():
            self._insert_new()
            self._load_rows()

    def _load_rows(self) -> bool:
        with self._db.unit_of_work(write=False) as uow:
            rows = list(
                uow.session.scalars(
                    select(SigningKey)
                    .where(SigningKey.purpose == PURPOSE)
                    .order_by(SigningKey.created_at.desc(), SigningKey.kid.desc())
                    .limit(2)
                )
            )
            keys = [self._unwrap(r) for r in rows]
            current = keys[0] if rows and rows[0].retired_at is None else None
        if current is None:
            return False
        self._signing = current
        self._verify = {k.kid: k for k in keys}
        self._loaded_at = time.monotonic()
        return True

    def _fresh(self) -> None:
        with self._lock:
            if self._signing is None or time.monotonic() - self._loaded_at > self._ttl:
                self._load()

    def signing_key(self) -> TokenKey:
        self._fresh()
        assert self._signing is not None
        return self._signing

    def verification_key(self, kid: str) -> TokenKey | None:
        self._fresh()
        key = self._verify.get(kid)
        if key is None and time.monotonic() - self._loaded_at > 1.0:
            # A key rotated on another node: reload at most once a second.
            with self._lock:
                self._load()
            key = self._verify.get(kid)
        return key

    def jwks(self) -> dict[str, Any]:
        self._fresh()
        return {"keys": [k.public_jwk() for k in self._verify.values()]}

    def rotate(self) -> TokenKey:
        """Make a new signing key current; the previous one stays published for verification."""
        key = self._insert_new()
        with self._lock:
            self._loaded_at = -1e18
        return key

    def _insert_new(self) -> TokenKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Sortable within one clock second (kids order keys created in the same second; see _load_rows).
        kid = f"{PURPOSE}-{time.time_ns() // 1000:x}{secrets.token_hex(3)}"
        now = utcnow(self._clock)
        with self._db.unit_of_work(write=True) as uow:
            for row in uow.session.scalars(
                select(SigningKey).where(SigningKey.purpose == PURPOSE, SigningKey.retired_at.is_(None))
            ):
                row.retired_at = now
            uow.session.add(
                SigningKey(
                    kid=kid, purpose=PURPOSE, created_at=now, material=self._box.seal(der, self._aad(kid))
                )
            )
        return TokenKey(kid, RSAKey.import_key(private))
