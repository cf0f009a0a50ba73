"""Storage: SQLAlchemy models, the database handle and unit of work, Alembic migrations, wrapped keys."""

from . import _audit_models, _identity_models, _oauth_models, _rbac_models  # noqa: F401  (register tables)
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
