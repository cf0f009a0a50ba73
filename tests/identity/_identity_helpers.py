"""Shared helpers for the identity tests: a service on the test database, users, TOTP codes, and a software
WebAuthn authenticator (P-256, attestation "none") built on ``cryptography`` + ``cbor2``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from mailwarden.clock import FakeClock
from mailwarden.identity import IdentityService, LockoutPolicy, PasswordHashing, TotpParams, hotp, time_step
from mailwarden.store import Database

from conftest import SECRET, TenantHandle

PASSWORD = "correct horse battery staple"


def fast_hashing() -> PasswordHashing:
    """Cheap argon2id parameters: the tests exercise logic, not cost."""
    return PasswordHashing(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def make_service(db: Database, clock: FakeClock, *, threshold: int = 10, **kwargs: Any) -> IdentityService:
    return IdentityService(
        db,
        secret_key=SECRET.encode(),
        clock=clock,
        hashing=kwargs.pop("hashing", fast_hashing()),
        lockout=kwargs.pop("lockout", LockoutPolicy(threshold=threshold, lock_seconds=900)),
        **kwargs,
    )


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def code_at(secret_b32: str, clock: FakeClock, offset_steps: int = 0) -> str:
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    step = time_step(clock.now().timestamp(), TotpParams()) + offset_steps
    return hotp(key, step)


def totp(secret_b32: str, clock: FakeClock) -> str:
    """RFC 6238 (SHA-1, 30 s, 6 digits) written out here, independent of the implementation under test."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int(clock.now().timestamp()) // 30
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def service_of(client: TestClient) -> IdentityService:
    service: IdentityService = client.app.state.identity  # type: ignore[attr-defined]
    service.hashing = fast_hashing()  # the tests exercise logic, not argon2 cost
    return service


def post_password(client: TestClient, tenant: TenantHandle, username: str, password: str) -> Any:
    page = client.get(f"/{tenant.domain}/login", params={"return_to": "/x"})
    return client.post(
        f"/{tenant.domain}/login",
        data={"csrf": csrf_of(page.text), "username": username, "password": password, "return_to": "/x"},
        follow_redirects=False,
    )


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


@dataclass
class SoftAuthenticator:
    """A platform authenticator in software: one P-256 credential, a signature counter, UV on request."""

    rp_id: str
    origin: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    counter: int = 0
    user_verified: bool = True

    def _flags(self, *, attested: bool) -> int:
        return 0x01 | (0x04 if self.user_verified else 0) | (0x40 if attested else 0)

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    def register(self, options_json: str) -> dict[str, Any]:
        options = json.loads(options_json)
        assert options["rp"]["id"] == self.rp_id
        client_data = self._client_data("webauthn.create", options["challenge"])
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([self._flags(attested=True)])
            + self.counter.to_bytes(4, "big")
            + bytes(16)
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self._cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64u(self.credential_id),
            "rawId": b64u(self.credential_id),
            "type": "public-key",
            "response": {"clientDataJSON": b64u(client_data), "attestationObject": b64u(attestation)},
            "clientExtensionResults": {},
        }

    def sign(self, options_json: str, *, counter: int | None = None) -> dict[str, Any]:
        options = json.loads(options_json)
        self.counter = self.counter + 1 if counter is None else counter
        client_data = self._client_data("webauthn.get", options["challenge"])
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([self._flags(attested=False)])
            + self.counter.to_bytes(4, "big")
        )
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64u(self.credential_id),
            "rawId": b64u(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64u(client_data),
                "authenticatorData": b64u(auth_data),
                "signature": b64u(signature),
                "userHandle": None,
            },
            "clientExtensionResults": {},
        }
