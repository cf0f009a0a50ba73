"""Admin toolkit SDK: ``connect()`` to a mailwarden server or Exchange Online, ``Connection.invoke`` streams
cmdlet results page by page under the resume contract; auth through MSAL; sealed token cache and vault."""

from ._auth import (
    BrowserAuth,
    CertificateAuth,
    ClientSecretAuth,
    DeviceCodeAuth,
    StaticTokenAuth,
    StoredCredentialAuth,
    TokenProvider,
    decode_claims,
)
from ._cache import TokenCache
from ._checkpoint import CheckpointFile
from ._config import config_dir
from ._connection import Connection, ResultIterator, connect
from ._errors import (
    AccessDenied,
    AmbiguousIdentity,
    ApiRequestError,
    AuthenticationFailed,
    BadRequest,
    CheckpointMismatchError,
    ClientError,
    CommandNotFound,
    Conflict,
    DecryptionError,
    IncompleteResultError,
    InteractionRequired,
    InvalidCursor,
    NotFound,
    ParameterBinding,
    SecretStoreError,
    ServerError,
    Throttled,
    TransientError,
)
from ._machine import machine_id, user_id
from ._resume import CheckpointState, ResumeStats, RetryPolicy
from ._targets import Target, exo_target, mailwarden_target
from ._vault import Sealer, Vault

__all__ = [
    "AccessDenied",
    "AmbiguousIdentity",
    "ApiRequestError",
    "AuthenticationFailed",
    "BadRequest",
    "BrowserAuth",
    "CertificateAuth",
    "CheckpointFile",
    "CheckpointMismatchError",
    "CheckpointState",
    "ClientError",
    "ClientSecretAuth",
    "CommandNotFound",
    "Conflict",
    "Connection",
    "DecryptionError",
    "DeviceCodeAuth",
    "IncompleteResultError",
    "InteractionRequired",
    "InvalidCursor",
    "NotFound",
    "ParameterBinding",
    "ResultIterator",
    "ResumeStats",
    "RetryPolicy",
    "Sealer",
    "SecretStoreError",
    "ServerError",
    "StaticTokenAuth",
    "StoredCredentialAuth",
    "Target",
    "Throttled",
    "TokenCache",
    "TokenProvider",
    "TransientError",
    "Vault",
    "config_dir",
    "connect",
    "decode_claims",
    "exo_target",
    "machine_id",
    "mailwarden_target",
    "user_id",
]
