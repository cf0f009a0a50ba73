"""Bootstrap bearer keys: created with a tenant (shown once), stored as SHA-256, accepted by the API until the
identity service issues tokens. A key is 256 random bits with a recognisable prefix (so secret scanners can
find leaked keys); comparison is by hash lookup, so no timing signal depends on the key's content."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import AuthenticationError
from .principal import Principal
from .store import ApiKey

__all__ = ["KEY_PREFIX", "issue_key", "verify_key"]

KEY_PREFIX = "mwk_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(session: Session, tenant_id: str, *, name: str, now: datetime) -> str:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(tenant_id=tenant_id, key_hash=_hash(key), prefix=key[:10], name=name, created_at=now))
    return key


def verify_key(session: Session, key: str) -> Principal:
    """The principal a key stands for; raises :class:`AuthenticationError` for anything else."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        raise AuthenticationError("The access token is invalid.")
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash(key)))
    if row is None or row.revoked_at is not None:
        raise AuthenticationError("The access token is invalid.")
    return Principal(tenant_id=row.tenant_id, id=f"apikey:{row.id}", display_name=row.name, kind="apikey")
