"""Recovery codes: NIST SP 800-63B §5.1.2 (look-up secrets) — ten single-use codes of 50 random bits each
(§5.1.2.1 asks for at least 20 bits), shown once, stored only as argon2id hashes (§5.1.2.2: "salted and hashed
using a suitable one-way key derivation function"), compared after normalisation (case, dashes and spaces
ignored). Their use is throttled separately (§5.2.2) and recorded as a notification event.
"""

from __future__ import annotations

import secrets

__all__ = ["RECOVERY_CODE_COUNT", "generate_recovery_codes", "normalise_recovery_code"]

RECOVERY_CODE_COUNT = 10
# Crockford base32 without I, L, O, U: nothing to confuse when read aloud or typed.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def generate_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """``count`` codes like ``7K2QD-9XHMB`` (10 symbols of 5 bits = 50 bits each)."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalise_recovery_code(code: str) -> str:
    """Upper-case, drop separators, map the look-alikes Crockford base32 folds (I/L→1, O→0)."""
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    return cleaned.translate(str.maketrans("ILO", "110"))
