"""TOTP, RFC 6238 (on HOTP, RFC 4226), implemented on the standard library's ``hmac``.

* HOTP value: HMAC over the 8-byte big-endian counter, dynamic truncation (RFC 4226 §5.3), ``mod 10^digits``;
* TOTP time step ``T = floor((unix_time - T0) / X)`` with ``T0 = 0`` and ``X = 30`` s (RFC 6238 §4.2);
  SHA-1/SHA-256/SHA-512 and 6 or 8 digits (the Appendix B test vectors use 8 digits);
* verification accepts the current step and one step either side (the network-delay window of RFC 6238 §5.2),
  never a step at or before the last accepted one (so a code works once, §5.2: "the verifier MUST NOT accept the
  second attempt of the same OTP"), compares every candidate in constant time and raises :class:`InvalidCode`.

Authenticator apps get SHA-1, 6 digits, 30 s, a 160-bit secret (RFC 4226 §4 R6) in an ``otpauth://`` URI
(Google Authenticator key-URI format).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlencode

from ._errors import InvalidCode

__all__ = [
    "TotpParams",
    "generate_totp_secret",
    "hotp",
    "otpauth_uri",
    "secret_from_base32",
    "secret_to_base32",
    "time_step",
    "totp",
    "verify_totp",
]

Algorithm = Literal["SHA1", "SHA256", "SHA512"]
_DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


@dataclass(frozen=True)
class TotpParams:
    algorithm: Algorithm = "SHA1"
    digits: int = 6
    period: int = 30
    t0: int = 0

    def __post_init__(self) -> None:
        if self.algorithm not in _DIGESTS:
            raise ValueError(f"unsupported TOTP algorithm {self.algorithm!r}")
        if not 6 <= self.digits <= 10:
            raise ValueError("TOTP codes have 6 to 10 digits")
        if self.period < 1:
            raise ValueError("the TOTP period must be positive")


def hotp(key: bytes, counter: int, *, digits: int = 6, algorithm: Algorithm = "SHA1") -> str:
    """RFC 4226 §5.3: HOTP(K, C) = Truncate(HMAC(K, C)) mod 10^Digit, zero-padded."""
    mac = hmac.new(key, struct.pack(">Q", counter), _DIGESTS[algorithm]).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def time_step(unix_time: float, params: TotpParams = TotpParams()) -> int:
    """RFC 6238 §4.2: T = floor((Current Unix time - T0) / X)."""
    return int((int(unix_time) - params.t0) // params.period)


def totp(key: bytes, unix_time: float, params: TotpParams = TotpParams()) -> str:
    return hotp(key, time_step(unix_time, params), digits=params.digits, algorithm=params.algorithm)


def verify_totp(
    key: bytes,
    code: str,
    unix_time: float,
    *,
    last_step: int | None,
    params: TotpParams = TotpParams(),
    window: int = 1,
) -> int:
    """Return the matched time step (to be persisted as the new ``last_step``) or raise :class:`InvalidCode`.

    Steps ``T-window .. T+window`` are candidates; steps ``<= last_step`` are not. Every candidate is computed
    and compared with :func:`hmac.compare_digest` (no early exit), so timing does not say which step matched.
    """
    candidate = "".join(code.split())
    if len(candidate) != params.digits or not candidate.isascii() or not candidate.isdigit():
        raise InvalidCode("The code is not valid.")
    current = time_step(unix_time, params)
    matched: int | None = None
    for step in range(current - window, current + window + 1):
        expected = hotp(key, step, digits=params.digits, algorithm=params.algorithm)
        ok = hmac.compare_digest(expected.encode(), candidate.encode())
        fresh = last_step is None or step > last_step
        if ok and fresh and matched is None:
            matched = step
    if matched is None:
        raise InvalidCode("The code is not valid.")
    return matched


def generate_totp_secret(length: int = 20) -> bytes:
    """160 bits by default (RFC 4226 §4 R6 recommends 160)."""
    return secrets.token_bytes(length)


def secret_to_base32(secret: bytes) -> str:
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def secret_from_base32(text: str) -> bytes:
    cleaned = "".join(text.split()).upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def otpauth_uri(secret: bytes, *, account: str, issuer: str, params: TotpParams = TotpParams()) -> str:
    """``otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=…&digits=…&period=…``."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode(
        {
            "secret": secret_to_base32(secret),
            "issuer": issuer,
            "algorithm": params.algorithm,
            "digits": params.digits,
            "period": params.period,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"
