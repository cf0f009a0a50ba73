"""Settable recipient properties, declared once: each :class:`Field` is at the same time a Set-*/New-*
parameter, a stored value (a column of ``recipients`` or a key of its ``props`` JSON) and an output property.
Set-* applies exactly the fields whose parameters were passed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..cmdlets._registry import Param, ParamType
from ..store import Recipient

__all__ = [
    "AUDIT_ADMIN_DEFAULT",
    "AUDIT_DELEGATE_DEFAULT",
    "AUDIT_OWNER_DEFAULT",
    "CUSTOM_ATTRIBUTE_FIELDS",
    "GROUP_FIELDS",
    "MAILBOX_FIELDS",
    "MAIL_CONTACT_FIELDS",
    "MAIL_USER_FIELDS",
    "USER_FIELDS",
    "Field",
    "field_params",
    "read_field",
    "write_field",
]


@dataclass(frozen=True)
class Field:
    name: str
    type: ParamType = ParamType.STRING
    column: str | None = None  # attribute of Recipient; None → props[name]
    default: Any = None
    enum: tuple[str, ...] = ()
    nullable: bool = True
    max_length: int | None = None
    min_value: int | None = None
    max_value: int | None = None
    custom: bool = False  # stored in custom_attributes

    def param(self) -> Param:
        return Param(
            self.name,
            self.type,
            enum=self.enum,
            nullable=self.nullable,
            max_length=self.max_length,
            min_value=self.min_value,
            max_value=self.max_value,
        )


def read_field(row: Recipient, field: Field) -> Any:
    if field.column is not None:
        return getattr(row, field.column)
    if field.custom:
        return row.custom_attributes.get(field.name)
    return row.props.get(field.name, field.default)


def write_field(row: Recipient, field: Field, value: Any) -> None:
    if isinstance(value, tuple):
        value = list(value)
    if field.column is not None:
        setattr(row, field.column, value)
    elif field.custom:
        row.custom_attributes = {**row.custom_attributes, field.name: value}
    else:
        row.props = {**row.props, field.name: value}


def field_params(fields: Sequence[Field]) -> tuple[Param, ...]:
    return tuple(f.param() for f in fields)


# Microsoft's default mailbox audit action sets (Exchange Online, E3/E5 defaults).
AUDIT_ADMIN_DEFAULT = (
    "Update", "MoveToDeletedItems", "SoftDelete", "HardDelete", "SendAs", "SendOnBehalf", "Create",
    "UpdateFolderPermissions", "UpdateInboxRules", "UpdateCalendarDelegation", "ApplyRecord", "MailItemsAccessed",
    "Send",
)  # fmt: skip
AUDIT_DELEGATE_DEFAULT = (
    "Update", "MoveToDeletedItems", "SoftDelete", "HardDelete", "SendAs", "SendOnBehalf", "Create",
    "UpdateFolderPermissions", "UpdateInboxRules", "ApplyRecord", "MailItemsAccessed",
)  # fmt: skip
AUDIT_OWNER_DEFAULT = (
    "Update", "MoveToDeletedItems", "SoftDelete", "HardDelete", "UpdateFolderPermissions", "UpdateInboxRules",
    "UpdateCalendarDelegation", "ApplyRecord", "MailItemsAccessed", "Send",
)  # fmt: skip
_AUDIT_ACTIONS = tuple(
    sorted(set(AUDIT_ADMIN_DEFAULT) | {"Copy", "FolderBind", "MessageBind", "Move", "SearchQueryInitiated"})
)

CUSTOM_ATTRIBUTE_FIELDS = tuple(
    Field(f"CustomAttribute{i}", custom=True, max_length=1024) for i in range(1, 16)
)

_COMMON_MAIL = (
    Field("DisplayName", column="display_name", nullable=False, max_length=256),
    Field(
        "HiddenFromAddressListsEnabled",
        ParamType.BOOL,
        column="hidden_from_address_lists_enabled",
        nullable=False,
    ),
    Field("MaxSendSize", ParamType.SIZE, default=37748736),
    Field("MaxReceiveSize", ParamType.SIZE, default=37748736),
    Field("RequireSenderAuthenticationEnabled", ParamType.BOOL, default=False, nullable=False),
    *CUSTOM_ATTRIBUTE_FIELDS,
)

MAILBOX_FIELDS: tuple[Field, ...] = (
    *_COMMON_MAIL,
    Field("ForwardingSmtpAddress", column="forwarding_smtp_address", max_length=330),
    Field(
        "DeliverToMailboxAndForward", ParamType.BOOL, column="deliver_to_mailbox_and_forward", nullable=False
    ),
    Field("LitigationHoldEnabled", ParamType.BOOL, column="litigation_hold_enabled", nullable=False),
    Field("AuditEnabled", ParamType.BOOL, column="audit_enabled", nullable=False),
    Field("AuditLogAgeLimit", default="90.00:00:00", nullable=False, max_length=32),
    Field("AuditAdmin", ParamType.STRING_LIST, default=list(AUDIT_ADMIN_DEFAULT), enum=_AUDIT_ACTIONS),
    Field("AuditDelegate", ParamType.STRING_LIST, default=list(AUDIT_DELEGATE_DEFAULT), enum=_AUDIT_ACTIONS),
    Field("AuditOwner", ParamType.STRING_LIST, default=list(AUDIT_OWNER_DEFAULT), enum=_AUDIT_ACTIONS),
    Field("IssueWarningQuota", ParamType.SIZE, default=105226698752),
    Field("ProhibitSendQuota", ParamType.SIZE, default=106300440576),
    Field("ProhibitSendReceiveQuota", ParamType.SIZE, default=107374182400),
    Field("RetainDeletedItemsFor", default="14.00:00:00", nullable=False, max_length=32),
    Field("SingleItemRecoveryEnabled", ParamType.BOOL, default=True, nullable=False),
    Field("MessageCopyForSentAsEnabled", ParamType.BOOL, default=False, nullable=False),
    Field("MessageCopyForSendOnBehalfEnabled", ParamType.BOOL, default=False, nullable=False),
    Field("ResourceCapacity", ParamType.INT, column="resource_capacity", min_value=0, max_value=100000),
    Field("Office", column="office", max_length=128),
    Field("Type", ParamType.ENUM, enum=("Regular", "Room", "Equipment", "Shared")),
)

USER_FIELDS: tuple[Field, ...] = (
    Field("DisplayName", column="display_name", nullable=False, max_length=256),
    Field("FirstName", column="first_name", max_length=64),
    Field("LastName", column="last_name", max_length=64),
    Field("Department", column="department", max_length=64),
    Field("Company", column="company", max_length=64),
    Field("Title", column="title", max_length=128),
    Field("Office", column="office", max_length=128),
    Field("City", column="city", max_length=128),
    Field("StateOrProvince", column="state_or_province", max_length=128),
    Field("CountryOrRegion", column="country_or_region", max_length=64),
    Field("PostalCode", column="postal_code", max_length=40),
    Field("Phone", column="phone", max_length=64),
    Field("MobilePhone", max_length=64),
    Field("StreetAddress", max_length=1024),
    Field("Notes", max_length=1024),
)

MAIL_USER_FIELDS: tuple[Field, ...] = (*_COMMON_MAIL,)

MAIL_CONTACT_FIELDS: tuple[Field, ...] = (*_COMMON_MAIL,)

GROUP_FIELDS: tuple[Field, ...] = (
    Field("DisplayName", column="display_name", nullable=False, max_length=256),
    Field(
        "HiddenFromAddressListsEnabled",
        ParamType.BOOL,
        column="hidden_from_address_lists_enabled",
        nullable=False,
    ),
    Field("RequireSenderAuthenticationEnabled", ParamType.BOOL, default=True, nullable=False),
    Field(
        "MemberJoinRestriction", ParamType.ENUM, default="Closed", enum=("Open", "Closed", "ApprovalRequired")
    ),
    Field("MemberDepartRestriction", ParamType.ENUM, default="Open", enum=("Open", "Closed")),
    Field("Notes", max_length=1024),
    *CUSTOM_ATTRIBUTE_FIELDS,
)
