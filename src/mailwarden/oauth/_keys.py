"""Token signing keys (RFC 7517 JWK sets; RFC 7518 §3.3 RS256 and §3.4 ES256).

Two key families, each with its own current key:

* **ES256** (P-256) signs access tokens. Only this server's API verifies them, and an ECDSA signature
  costs about a tenth of an RSA-2048 one — it is most of the CPU of a refresh-token grant otherwise.
* **RS256** (RSA-2048) signs id_tokens, which go to client apps: RS256 is what Entra uses and what apps
  that validate id_tokens themselves expect (reference/msal-contract.md §4).

Private keys are kept in ``signing_keys`` (purpose ``oauth-es256`` / ``oauth-rs256``) wrapped with the
master secret (:class:`mailwarden.store.SecretBox`, associated data ``<purpose>:<kid>``), so every node
sharing the database signs with the same keys. Rotation keeps an overlap: the JWKS document publishes the
current and the previous key of each family, and tokens signed by either verify; older keys are unknown
``kid`` values. A key verifies only signatures of its own algorithm (no algorithm confusion).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select

from ..clock import Clock, utcnow
from ..store import Database, SecretBox, SigningKey

__all__ = ["ALGORITHMS", "PURPOSES", "Algorithm", "SigningKeys", "TokenKey"]

Algorithm = Literal["ES256", "RS256"]
ALGORITHMS: tuple[Algorithm, ...] = ("ES256", "RS256")
PURPOSES: dict[Algorithm, str] = {"ES256": "oauth-es256", "RS256": "oauth-rs256"}


@dataclass(frozen=True)
class TokenKey:
    kid: str
    alg: Algorithm
    key: RSAKey | ECKey  # private for a signing key, public otherwise

    def public_jwk(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.key.as_dict(private=False))
        data.update(kid=self.kid, use="sig", alg=self.alg)
        return data


def _generate(alg: Algorithm) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _import(alg: Algorithm, private: Any) -> RSAKey | ECKey:
    if alg == "ES256":
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        return ECKey.import_key(private)
    assert isinstance(private, rsa.RSAPrivateKey)
    return RSAKey.import_key(private)


class SigningKeys:
    """Current signing key per algorithm and the verification set (current + previous of each), cached for
    ``ttl_seconds`` so a rotation on another node is picked up."""

    def __init__(self, db: Database, box: SecretBox, clock: Clock, *, ttl_seconds: float = 30.0) -> None:
        self._db = db
        self._box = box
        self._clock = clock
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._loaded_at = -1e18
        self._signing: dict[Algorithm, TokenKey] = {}
        self._verify: dict[str, TokenKey] = {}

    @staticmethod
    def _aad(alg: Algorithm, kid: str) -> bytes:
        return f"{PURPOSES[alg]}:{kid}".encode()

    def _unwrap(self, alg: Algorithm, row: SigningKey) -> TokenKey:
        der = self._box.open(row.material, self._aad(alg, row.kid))
        # The key is ours: generated here and stored sealed (AEAD, bound to its purpose and kid), so it cannot
        # have been altered; OpenSSL's RSA consistency check (~35 ms per key) guards untrusted input only.
        private = serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
        return TokenKey(row.kid, alg, _import(alg, private))

    def _load(self) -> None:
        signing: dict[Algorithm, TokenKey] = {}
        verify: dict[str, TokenKey] = {}
        for alg in ALGORITHMS:
            current = self._load_rows(alg, verify)
            if current is None:
                self._insert_new(alg)
                current = self._load_rows(alg, verify)
            assert current is not None
            signing[alg] = current
        self._signing, self._verify = signing, verify
        self._loaded_at = time.monotonic()

    def _load_rows(self, alg: Algorithm, verify: dict[str, TokenKey]) -> TokenKey | None:
        with self._db.unit_of_work(write=False) as uow:
            rows = list(
                uow.session.scalars(
                    select(SigningKey)
                    .where(SigningKey.purpose == PURPOSES[alg])
                    .order_by(SigningKey.created_at.desc(), SigningKey.kid.desc())
                    .limit(2)
                )
            )
            keys = [self._unwrap(alg, r) for r in rows]
        if not rows or rows[0].retired_at is not None:
            return None
        verify.update((k.kid, k) for k in keys)
        return keys[0]

    def _fresh(self) -> None:
        with self._lock:
            if not self._signing or time.monotonic() - self._loaded_at > self._ttl:
                self._load()

    def signing_key(self, alg: Algorithm = "ES256") -> TokenKey:
        self._fresh()
        return self._signing[alg]

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

    def rotate(self) -> list[TokenKey]:
        """Make new signing keys current; the previous ones stay published for verification."""
        keys = [self._insert_new(alg) for alg in ALGORITHMS]
        with self._lock:
            self._loaded_at = -1e18
        return keys

    def _insert_new(self, alg: Algorithm) -> TokenKey:
        private = _generate(alg)
        der = private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        purpose = PURPOSES[alg]
        # Sortable within one clock second (kids order keys created in the same second; see _load_rows).
        kid = f"{purpose}-{time.time_ns() // 1000:x}{secrets.token_hex(3)}"
        now = utcnow(self._clock)
        with self._db.unit_of_work(write=True) as uow:
            for row in uow.session.scalars(
                select(SigningKey).where(SigningKey.purpose == purpose, SigningKey.retired_at.is_(None))
            ):
                row.retired_at = now
            uow.session.add(
                SigningKey(
                    kid=kid,
                    purpose=purpose,
                    created_at=now,
                    material=self._box.seal(der, self._aad(alg, kid)),
                )
            )
        return TokenKey(kid, alg, _import(alg, private))
