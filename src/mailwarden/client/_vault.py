"""Sealed files and the vault of secrets for unattended jobs.

A ``Sealer`` encrypts with AES-256-GCM (NIST SP 800-38D) under a key derived with HKDF-SHA256 (RFC 5869)
from three inputs: a per-user secret (the OS keyring when it has a usable backend, else a 0600 key file in
the config directory), the machine id and the OS user id. A sealed file copied to another machine, or read
by another user, therefore does not decrypt; GCM's tag also detects any edit. Format:
``b"MWS1" ‖ nonce(12) ‖ ciphertext+tag``; the purpose ("vault", "token-cache") is the associated data.

The ``Vault`` is one sealed JSON file of named secrets (passwords, client secrets, certificate keys); files
are mode 0600 in a 0700 directory. Values are never logged or printed by this module.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ._checkpoint import write_private_atomic
from ._config import config_dir
from ._errors import DecryptionError, SecretStoreError
from ._machine import machine_id, user_id

__all__ = ["KeyFileSecret", "KeyringSecret", "Sealer", "Vault", "VaultItem", "default_user_secret"]

_MAGIC = b"MWS1"
_KEYRING_SERVICE = "mailwarden"
_KEYRING_USER = "sealing-key"
SecretKind = Literal["password", "client-secret", "certificate"]


class KeyFileSecret:
    """The per-user secret in a 0600 file (headless machines without a keyring backend)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> bytes:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        if len(data) == 32:
            if (self.path.stat().st_mode & 0o077) != 0:
                raise SecretStoreError(f"{self.path} is readable by others; chmod 600 it")
            return data
        if data:
            raise SecretStoreError(f"{self.path} is not a mailwarden key file")
        fresh = secrets.token_bytes(32)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(fresh)
        return fresh


class KeyringSecret:
    """The per-user secret in the OS keyring (macOS Keychain, Windows Credential Locker, Secret Service)."""

    def __call__(self) -> bytes:
        import keyring

        stored = keyring.get_password(_KEYRING_SERVICE, _KEYRING_USER)
        if stored:
            return base64.b64decode(stored)
        fresh = secrets.token_bytes(32)
        keyring.set_password(_KEYRING_SERVICE, _KEYRING_USER, base64.b64encode(fresh).decode())
        return fresh

    @staticmethod
    def available() -> bool:
        """True when keyring has a real backend (headless Linux usually has none: ``fail.Keyring``,
        or a chainer with nothing in it)."""
        if os.environ.get("MAILWARDEN_NO_KEYRING") == "1":
            return False
        try:
            import keyring
            from keyring.backends import chainer, fail

            backend = keyring.get_keyring()
            if isinstance(backend, fail.Keyring):
                return False
            if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
                return False
            return float(getattr(backend, "priority", 1)) > 0
        except Exception:  # any import or backend probing failure means "no keyring"
            return False


def default_user_secret(directory: Path | None = None) -> Callable[[], bytes]:
    if KeyringSecret.available():
        return KeyringSecret()
    return KeyFileSecret((directory or config_dir()) / "key")


class Sealer:
    """Encrypts and decrypts for one (user secret, machine, user) triple; all three injectable."""

    def __init__(
        self,
        *,
        user_secret: Callable[[], bytes] | None = None,
        machine: Callable[[], str] = machine_id,
        user: Callable[[], str] = user_id,
        directory: Path | None = None,
    ) -> None:
        self._user_secret = user_secret or default_user_secret(directory)
        self._machine = machine
        self._user = user
        self._key: bytes | None = None

    def _derive(self) -> bytes:
        if self._key is None:
            info = (
                b"mailwarden sealed file v1\x00" + self._machine().encode() + b"\x00" + self._user().encode()
            )
            self._key = HKDF(hashes.SHA256(), 32, salt=b"mailwarden-client", info=info).derive(
                self._user_secret()
            )
        return self._key

    def seal(self, purpose: str, plaintext: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return _MAGIC + nonce + AESGCM(self._derive()).encrypt(nonce, plaintext, purpose.encode())

    def open(self, purpose: str, blob: bytes, *, source: str = "sealed data") -> bytes:
        if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + 12 + 16:
            raise DecryptionError(f"{source} is not a mailwarden sealed file")
        nonce = blob[len(_MAGIC) : len(_MAGIC) + 12]
        try:
            return AESGCM(self._derive()).decrypt(nonce, blob[len(_MAGIC) + 12 :], purpose.encode())
        except InvalidTag:
            raise DecryptionError(
                f"{source} cannot be decrypted here: it was sealed on another machine or for another OS "
                "user (or the per-user key changed, or the file was modified). Sign in / store the secret "
                "again on this machine."
            ) from None

    def write(self, path: Path, purpose: str, plaintext: bytes) -> None:
        write_private_atomic(path, self.seal(purpose, plaintext))

    def read(self, path: Path, purpose: str) -> bytes | None:
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        return self.open(purpose, blob, source=str(path))


@dataclass(frozen=True)
class VaultItem:
    name: str
    kind: str
    created: str


class Vault:
    """Named secrets in ``<config>/vault.bin``."""

    PURPOSE = "vault"

    def __init__(self, directory: Path | None = None, *, sealer: Sealer | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / "vault.bin"
        self.sealer = sealer or Sealer(directory=self.directory)

    def _load(self) -> dict[str, dict[str, str]]:
        raw = self.sealer.read(self.path, self.PURPOSE)
        if raw is None:
            return {}
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise SecretStoreError(f"{self.path} is damaged")
        return data

    def _save(self, data: dict[str, dict[str, str]]) -> None:
        self.sealer.write(self.path, self.PURPOSE, json.dumps(data).encode())

    def set(self, name: str, value: str, *, kind: SecretKind = "password") -> None:
        if not name or any(c.isspace() for c in name):
            raise SecretStoreError("a vault name must be non-empty and without spaces")
        data = self._load()
        data[name] = {"kind": kind, "value": value, "created": datetime.now(UTC).isoformat()}
        self._save(data)

    def get(self, name: str) -> str:
        item = self._load().get(name)
        if item is None:
            raise SecretStoreError(f"no secret named '{name}' in the vault")
        return item["value"]

    def kind(self, name: str) -> str:
        item = self._load().get(name)
        if item is None:
            raise SecretStoreError(f"no secret named '{name}' in the vault")
        return item["kind"]

    def list(self) -> list[VaultItem]:
        return [VaultItem(n, v["kind"], v["created"]) for n, v in sorted(self._load().items())]

    def remove(self, name: str) -> bool:
        data = self._load()
        if data.pop(name, None) is None:
            return False
        self._save(data)
        return True

    def __contains__(self, name: object) -> bool:
        with contextlib.suppress(SecretStoreError):
            return isinstance(name, str) and name in self._load()
        return False
