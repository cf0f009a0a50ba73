"""Storage: SQLAlchemy models, the database handle and unit of work, Alembic migrations, wrapped keys."""

from ._database import Database, UnitOfWork, normalise_url
from ._keyring import KeyRing, SecretBox, StoredKey
from ._migrate import is_current, upgrade
from ._models import (
    ApiKey,
    Base,
    CasMailbox,
    ConfigObject,
    GroupMember,
    InboxRule,
    MailboxPermission,
    ProxyAddress,
    RateLimitWindow,
    Recipient,
    RecipientPermission,
    SigningKey,
    Tenant,
)

__all__ = [
    "ApiKey",
    "Base",
    "CasMailbox",
    "ConfigObject",
    "Database",
    "GroupMember",
    "InboxRule",
    "KeyRing",
    "MailboxPermission",
    "ProxyAddress",
    "RateLimitWindow",
    "Recipient",
    "RecipientPermission",
    "SecretBox",
    "SigningKey",
    "StoredKey",
    "Tenant",
    "UnitOfWork",
    "is_current",
    "normalise_url",
    "upgrade",
]
