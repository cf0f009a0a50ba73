"""Password policy (NIST SP 800-63B §5.1.1.2) and argon2id hashing."""

from __future__ import annotations

import pytest
from _identity_helpers import fast_hashing

from mailwarden.identity import (
    InvalidCredentials,
    WeakPasswordError,
    check_password_policy,
    common_passwords,
)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 12"),
        ("elevenchars", "at least 12"),
        ("x" * 257, "at most 256"),
        ("1234567890123", "too common"),
        ("Password1234", "too common"),
        ("PASSWORD1234", "too common"),
        ("ann@contoso.com", "account name"),
    ],
)
def test_refused(password: str, reason: str) -> None:
    with pytest.raises(WeakPasswordError, match=reason):
        check_password_policy(password, context=("ann@contoso.com", "ann"))


@pytest.mark.parametrize(
    "password", ["correct horse battery staple", "x" * 256, "aaaaaaaaaaaa", "ünïcödé pässwörd"]
)
def test_accepted_without_composition_rules(password: str) -> None:
    check_password_policy(password)


def test_blocklist_is_the_shipped_list() -> None:
    words = common_passwords()
    assert len(words) > 19_000
    assert "password1234" in words


def test_hash_and_verify() -> None:
    hashing = fast_hashing()
    stored = hashing.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    hashing.verify(stored, "correct horse battery staple")
    with pytest.raises(InvalidCredentials):
        hashing.verify(stored, "correct horse battery stapler")
    with pytest.raises(InvalidCredentials):
        hashing.verify(None, "correct horse battery staple")  # unknown account: dummy hash, then refused
    # NFKC: the compatibility form of a character hashes the same.
    stored2 = hashing.hash("ﬁne password here")
    hashing.verify(stored2, "fine password here")
