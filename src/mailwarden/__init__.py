"""mailwarden: an Exchange-Online-compatible admin plane and its admin toolkit.

``mailwarden.connect(tenant, url=..., auth=...)`` is the toolkit's entry point (``mailwarden.client``);
the server lives in the subpackages (``api``, ``cmdlets``, ``oauth``, ...). The toolkit names are resolved
lazily so that server processes do not import MSAL.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import (
        AccessDenied,
        ApiRequestError,
        AuthenticationFailed,
        BadRequest,
        CheckpointMismatchError,
        ClientError,
        CommandNotFound,
        Conflict,
        Connection,
        DecryptionError,
        IncompleteResultError,
        InteractionRequired,
        NotFound,
        ParameterBinding,
        SecretStoreError,
        ServerError,
        Throttled,
        TransientError,
        connect,
    )

__all__ = [
    "AccessDenied",
    "ApiRequestError",
    "AuthenticationFailed",
    "BadRequest",
    "CheckpointMismatchError",
    "ClientError",
    "CommandNotFound",
    "Conflict",
    "Connection",
    "DecryptionError",
    "IncompleteResultError",
    "InteractionRequired",
    "NotFound",
    "ParameterBinding",
    "SecretStoreError",
    "ServerError",
    "Throttled",
    "TransientError",
    "connect",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("mailwarden.client"), name)
    raise AttributeError(f"module 'mailwarden' has no attribute {name!r}")
