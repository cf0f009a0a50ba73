"""RBAC refusals that are not authorisation failures (those are ``AccessDeniedError``, 403)::

BadRequestError (400)
 └── InvalidOperationError   built-in role changed, lock-out rail hit, role still assigned, ...
"""

from __future__ import annotations

from ..errors import BadRequestError

__all__ = ["InvalidOperationError"]


class InvalidOperationError(BadRequestError):
    code = "InvalidOperationException"
