"""Assembles the registry from every family of cmdlet declarations."""

from __future__ import annotations

from functools import cache

from ._audit_cmdlets import AUDIT_CMDLETS
from ._mailbox_audit_cmdlets import MAILBOX_AUDIT_CMDLETS
from ._org_cmdlets import ORG_CMDLETS
from ._permission_cmdlets import PERMISSION_CMDLETS
from ._rbac_cmdlets import RBAC_CMDLETS
from ._recipient_cmdlets import RECIPIENT_CMDLETS
from ._registry import Registry

__all__ = ["default_registry"]


@cache
def default_registry() -> Registry:
    return Registry(
        (
            *RECIPIENT_CMDLETS,
            *PERMISSION_CMDLETS,
            *ORG_CMDLETS,
            *MAILBOX_AUDIT_CMDLETS,
            *AUDIT_CMDLETS,
            *RBAC_CMDLETS,
        )
    )
