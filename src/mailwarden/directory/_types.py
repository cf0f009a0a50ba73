"""Recipient kinds: RecipientTypeDetails → RecipientType, and the groupings cmdlets resolve within."""

from __future__ import annotations

__all__ = [
    "CONTACT_TYPES",
    "GROUP_TYPES",
    "MAILBOX_TYPES",
    "MAIL_USER_TYPES",
    "RECIPIENT_TYPE",
    "USER_TYPES",
]

RECIPIENT_TYPE = {
    "UserMailbox": "UserMailbox",
    "SharedMailbox": "UserMailbox",
    "RoomMailbox": "UserMailbox",
    "EquipmentMailbox": "UserMailbox",
    "MailUser": "MailUser",
    "MailContact": "MailContact",
    "MailUniversalDistributionGroup": "MailUniversalDistributionGroup",
    "MailUniversalSecurityGroup": "MailUniversalSecurityGroup",
}

MAILBOX_TYPES = frozenset({"UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox"})
MAIL_USER_TYPES = frozenset({"MailUser"})
CONTACT_TYPES = frozenset({"MailContact"})
GROUP_TYPES = frozenset({"MailUniversalDistributionGroup", "MailUniversalSecurityGroup"})
# Objects Get-User returns: every recipient backed by a user account.
USER_TYPES = MAILBOX_TYPES | MAIL_USER_TYPES
