"""Password policy and hashing per NIST SP 800-63B §5.1.1.2 (memorized secret verifiers).

* at least 12 characters (after NFKC normalisation, counted in code points), at most 256; no composition rules;
* refused when found, case-insensitively, on the shipped list of 19,646 common passwords (Django's, BSD —
  see NOTICE), the "commonly-used, expected, or compromised" check of §5.1.1.2;
* stored with argon2id (RFC 9106) using argon2-cffi's defaults; an unknown account is verified against a dummy
  hash so that both paths cost the same (no user enumeration by timing).
"""

from __future__ import annotations

import gzip
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ._errors import InvalidCredentials, WeakPasswordError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PasswordHashing",
    "check_password_policy",
    "common_passwords",
    "normalise_password",
]

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256


@cache
def common_passwords() -> frozenset[str]:
    """The blocklist, lower-cased, loaded once."""
    data = resources.files(__package__).joinpath("common-passwords.txt.gz").read_bytes()
    words = gzip.decompress(data).decode("utf-8").splitlines()
    return frozenset(w.strip().lower() for w in words if w.strip())


def normalise_password(password: str) -> str:
    """NFKC, as §5.1.1.2 recommends, so the same password typed on two keyboards hashes the same."""
    return unicodedata.normalize("NFKC", password)


def check_password_policy(password: str, *, context: tuple[str, ...] = ()) -> None:
    """Raise :class:`WeakPasswordError` naming the reason; return nothing when the password is acceptable.

    ``context`` holds account-specific words (the UPN, its local part, the display name); a password equal to
    one of them is refused too (§5.1.1.2, "context-specific words").
    """
    value = normalise_password(password)
    if len(value) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if len(value) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(f"The password must be at most {MAX_PASSWORD_LENGTH} characters long.")
    folded = value.lower()
    if folded in common_passwords():
        raise WeakPasswordError("The password is too common; choose a different one.")
    if any(folded == word.lower() for word in context if word):
        raise WeakPasswordError("The password must not be the account name.")


@dataclass(frozen=True)
class PasswordHashing:
    """argon2id hashing with a precomputed dummy hash for unknown accounts."""

    hasher: PasswordHasher

    @classmethod
    def default(cls) -> PasswordHashing:
        return cls(PasswordHasher())

    def hash(self, password: str) -> str:
        return self.hasher.hash(normalise_password(password))

    @property
    def dummy_hash(self) -> str:
        return _dummy_hash(self.hasher)

    def verify(self, stored_hash: str | None, password: str) -> None:
        """Raise :class:`InvalidCredentials` unless ``password`` matches. ``stored_hash=None`` (unknown account)
        still runs a full argon2 verification against the dummy hash, then raises."""
        target = stored_hash if stored_hash is not None else self.dummy_hash
        candidate = normalise_password(password)[: MAX_PASSWORD_LENGTH * 4]
        try:
            self.hasher.verify(target, candidate)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise InvalidCredentials("invalid credentials") from None
        if stored_hash is None:
            raise InvalidCredentials("invalid credentials")

    def needs_rehash(self, stored_hash: str) -> bool:
        return self.hasher.check_needs_rehash(stored_hash)


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("mailwarden dummy password for unknown accounts")
