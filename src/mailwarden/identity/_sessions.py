"""Server-side sessions (OWASP Session Management: new id at sign-in, idle and absolute timeouts;
NIST SP 800-63B §7.1 session bindings, §7.2 reauthentication).

The browser holds a 256-bit random secret (``secrets.token_urlsafe(32)``); the database holds only its
SHA-256, so a database read does not yield usable cookies. Each session also has a public id (shown in
listings, carried as ``sid`` in tokens). This module is the policy (limits, secret handling); the service
stores the rows.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["SessionLimits", "hash_session_secret", "new_session_id", "new_session_secret"]


@dataclass(frozen=True)
class SessionLimits:
    absolute: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(minutes=30)

    def expired(self, *, created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
        """True once the absolute lifetime or the idle limit has passed (both boundaries exclusive)."""
        return now >= created_at + self.absolute or now >= last_seen_at + self.idle

    def expires_at(self, *, created_at: datetime, last_seen_at: datetime) -> datetime:
        return min(created_at + self.absolute, last_seen_at + self.idle)


def new_session_secret() -> str:
    """256 random bits, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def new_session_id() -> str:
    """The public id: 128 random bits, independent from the secret."""
    return secrets.token_hex(16)


def hash_session_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
