"""Output objects (Exchange property names) and filterable properties of recipients.

``RECIPIENT_PROPERTIES`` is every recipient property mailwarden can filter on, mapped to SQL. Each Get-*
cmdlet may filter only on the properties Microsoft documents as filterable for that cmdlet
(``filterable_properties.json``, from the reference data), intersected with this catalogue: an
undocumented property is refused with Exchange's "not a recognized filterable property" error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import ColumnElement, case, exists, func, select
from sqlalchemy.orm import Session, aliased

from ..cmdlets._registry import ParamType
from ..cmdlets.opath import FilterProperty, PropertyMap, PropertyType
from ..store import CasMailbox, GroupMember, ProxyAddress, Recipient
from ._addresses import load_addresses
from ._fields import (
    CUSTOM_ATTRIBUTE_FIELDS,
    GROUP_FIELDS,
    MAIL_CONTACT_FIELDS,
    MAIL_USER_FIELDS,
    MAILBOX_FIELDS,
    USER_FIELDS,
    Field,
)
from ._types import RECIPIENT_TYPE

__all__ = [
    "RECIPIENT_PROPERTIES",
    "cas_view",
    "format_size",
    "group_view",
    "iso",
    "mail_contact_view",
    "mail_user_view",
    "mailbox_statistics_view",
    "mailbox_view",
    "property_map_for",
    "recipient_view",
    "user_view",
]

Serializer = Callable[[Session, list[Any]], list[dict[str, Any]]]


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@lru_cache(maxsize=4096)  # pure, and most mailboxes carry the default quotas
def format_size(value: int | None) -> str:
    """Exchange's ByteQuantifiedSize rendering: ``'99 GB (106,300,440,576 bytes)'`` or ``'Unlimited'``."""
    if value is None:
        return "Unlimited"
    units = (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("KB", 1024))
    for unit, size in units:
        if value >= size:
            amount = value / size
            text = f"{amount:.0f}" if amount == int(amount) else f"{amount:.3g}"
            return f"{text} {unit} ({value:,} bytes)"
    return f"{value} B ({value:,} bytes)"


# --- filterable properties ------------------------------------------------------------------------------


def _proxy_any(predicate: Callable[[ColumnElement[Any]], ColumnElement[bool]]) -> ColumnElement[bool]:
    return exists().where(
        ProxyAddress.recipient_id == Recipient.id, predicate(ProxyAddress.address.expression)
    )


def _member_of_any(predicate: Callable[[ColumnElement[Any]], ColumnElement[bool]]) -> ColumnElement[bool]:
    group = aliased(Recipient)
    return exists().where(
        GroupMember.member_id == Recipient.id,
        GroupMember.group_id == group.id,
        predicate(group.name.expression),
    )


def _members_any(predicate: Callable[[ColumnElement[Any]], ColumnElement[bool]]) -> ColumnElement[bool]:
    member = aliased(Recipient)
    return exists().where(
        GroupMember.group_id == Recipient.id,
        GroupMember.member_id == member.id,
        predicate(member.name.expression),
    )


def _cas(column: Any) -> ColumnElement[Any]:
    return select(column).where(CasMailbox.recipient_id == Recipient.id).scalar_subquery()


_TYPE_DETAILS = tuple(sorted(RECIPIENT_TYPE))
_TYPES = tuple(sorted(set(RECIPIENT_TYPE.values())))


def _catalogue() -> list[FilterProperty]:
    S, B, I, D, G, E = (  # noqa: E741
        PropertyType.STRING,
        PropertyType.BOOL,
        PropertyType.INT,
        PropertyType.DATETIME,
        PropertyType.GUID,
        PropertyType.ENUM,
    )
    manager = aliased(Recipient)
    props = [
        FilterProperty("Name", S, Recipient.name.expression, null_ok=False),
        FilterProperty("Alias", S, Recipient.alias.expression),
        FilterProperty("DisplayName", S, Recipient.display_name.expression),
        FilterProperty("FirstName", S, Recipient.first_name.expression),
        FilterProperty("LastName", S, Recipient.last_name.expression),
        FilterProperty("PrimarySmtpAddress", S, Recipient.primary_smtp_address.expression),
        FilterProperty("WindowsEmailAddress", S, Recipient.primary_smtp_address.expression),
        FilterProperty("UserPrincipalName", S, Recipient.user_principal_name.expression),
        FilterProperty("WindowsLiveID", S, Recipient.user_principal_name.expression),
        FilterProperty("ExternalEmailAddress", S, Recipient.external_email_address.expression),
        FilterProperty("ForwardingSmtpAddress", S, Recipient.forwarding_smtp_address.expression),
        FilterProperty("Department", S, Recipient.department.expression),
        FilterProperty("Company", S, Recipient.company.expression),
        FilterProperty("Title", S, Recipient.title.expression),
        FilterProperty("Office", S, Recipient.office.expression),
        FilterProperty("City", S, Recipient.city.expression),
        FilterProperty("StateOrProvince", S, Recipient.state_or_province.expression),
        FilterProperty("CountryOrRegion", S, Recipient.country_or_region.expression),
        FilterProperty("PostalCode", S, Recipient.postal_code.expression),
        FilterProperty("Phone", S, Recipient.phone.expression),
        FilterProperty("Notes", S, Recipient.props["Notes"].as_string()),
        FilterProperty("EmailAddresses", S, any_of=_proxy_any, strip_smtp_prefix=True),
        FilterProperty("MemberOfGroup", PropertyType.DN, any_of=_member_of_any, wildcards=False),
        FilterProperty("Members", PropertyType.DN, any_of=_members_any, wildcards=False),
        FilterProperty(
            "Manager",
            PropertyType.DN,
            select(manager.name).where(manager.id == Recipient.manager_id).scalar_subquery(),
            wildcards=False,
        ),
        FilterProperty(
            "RecipientType", E, Recipient.recipient_type.expression, enum_values=_TYPES, wildcards=False
        ),
        FilterProperty(
            "RecipientTypeDetails",
            E,
            Recipient.recipient_type_details.expression,
            enum_values=_TYPE_DETAILS,
            wildcards=False,
        ),
        FilterProperty(
            "ResourceType",
            E,
            case(
                (Recipient.recipient_type_details == "RoomMailbox", "Room"),
                (Recipient.recipient_type_details == "EquipmentMailbox", "Equipment"),
                else_=None,
            ),
            enum_values=("Room", "Equipment"),
            wildcards=False,
        ),
        FilterProperty(
            "HiddenFromAddressListsEnabled", B, Recipient.hidden_from_address_lists_enabled.expression
        ),
        FilterProperty("DeliverToMailboxAndForward", B, Recipient.deliver_to_mailbox_and_forward.expression),
        FilterProperty("LitigationHoldEnabled", B, Recipient.litigation_hold_enabled.expression),
        FilterProperty("AuditEnabled", B, Recipient.audit_enabled.expression),
        FilterProperty("IsShared", B, Recipient.recipient_type_details == "SharedMailbox"),
        FilterProperty(
            "IsResource", B, Recipient.recipient_type_details.in_(["RoomMailbox", "EquipmentMailbox"])
        ),
        FilterProperty("ResourceCapacity", I, Recipient.resource_capacity.expression),
        FilterProperty("Guid", G, Recipient.guid.expression, wildcards=False),
        FilterProperty("ExchangeGuid", G, Recipient.exchange_guid.expression, wildcards=False),
        FilterProperty(
            "ExternalDirectoryObjectId", G, Recipient.external_directory_object_id.expression, wildcards=False
        ),
        FilterProperty("WhenCreated", D, Recipient.when_created.expression, wildcards=False),
        FilterProperty("WhenChanged", D, Recipient.when_changed.expression, wildcards=False),
        FilterProperty("WhenCreatedUTC", D, Recipient.when_created.expression, wildcards=False),
        FilterProperty("WhenChangedUTC", D, Recipient.when_changed.expression, wildcards=False),
        FilterProperty(
            "RequireAllSendersAreAuthenticated",
            B,
            func.coalesce(Recipient.props["RequireSenderAuthenticationEnabled"].as_boolean(), False),
        ),
        FilterProperty(
            "GroupType",
            PropertyType.STRING,
            case(
                (
                    Recipient.recipient_type_details == "MailUniversalSecurityGroup",
                    "Universal, SecurityEnabled",
                ),
                (Recipient.recipient_type_details == "MailUniversalDistributionGroup", "Universal"),
                else_=None,
            ),
            wildcards=False,
        ),
        FilterProperty(
            "MemberJoinRestriction",
            E,
            Recipient.props["MemberJoinRestriction"].as_string(),
            enum_values=("Open", "Closed", "ApprovalRequired"),
            wildcards=False,
        ),
        FilterProperty(
            "MemberDepartRestriction",
            E,
            Recipient.props["MemberDepartRestriction"].as_string(),
            enum_values=("Open", "Closed"),
            wildcards=False,
        ),
        FilterProperty("ActiveSyncEnabled", B, _cas(CasMailbox.activesync_enabled)),
        FilterProperty("OWAEnabled", B, _cas(CasMailbox.owa_enabled)),
        FilterProperty("PopEnabled", B, _cas(CasMailbox.pop_enabled)),
        FilterProperty("ImapEnabled", B, _cas(CasMailbox.imap_enabled)),
        FilterProperty("MAPIEnabled", B, _cas(CasMailbox.mapi_enabled)),
        FilterProperty("EwsEnabled", B, _cas(CasMailbox.ews_enabled)),
    ]
    props += [
        FilterProperty(f.name, S, Recipient.custom_attributes[f.name].as_string())
        for f in CUSTOM_ATTRIBUTE_FIELDS
    ]
    return props


_CATALOGUE = _catalogue()
RECIPIENT_PROPERTIES = PropertyMap(_CATALOGUE)


@cache
def _documented() -> dict[str, list[str]]:
    text = resources.files(__package__).joinpath("filterable_properties.json").read_text()
    data: dict[str, list[str]] = json.loads(text)["cmdlets"]
    return data


@cache
def property_map_for(cmdlet: str) -> PropertyMap:
    documented = set(_documented().get(cmdlet, []))
    return PropertyMap([p for p in _CATALOGUE if p.name in documented])


# --- output objects -------------------------------------------------------------------------------------


def _dn(row: Recipient, domain: str) -> str:
    name = row.name.replace("\\", "\\\\").replace(",", "\\,")
    return f"CN={name},OU={domain},OU=Microsoft Exchange Hosted Organizations,DC=mailwarden,DC=local"


def _base(row: Recipient, addresses: list[str], domain: str) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "Identity": row.name,
        "Id": row.name,
        "Name": row.name,
        "DistinguishedName": _dn(row, domain),
        "Alias": row.alias,
        "DisplayName": row.display_name,
        "PrimarySmtpAddress": row.primary_smtp_address,
        "WindowsEmailAddress": row.primary_smtp_address,
        "EmailAddresses": addresses,
        "RecipientType": row.recipient_type,
        "RecipientTypeDetails": row.recipient_type_details,
        "Guid": row.guid,
        "ExternalDirectoryObjectId": row.external_directory_object_id,
        "OrganizationalUnit": domain,
    }
    created, changed = iso(row.when_created), iso(row.when_changed)
    obj["WhenCreated"] = obj["WhenCreatedUTC"] = created
    obj["WhenChanged"] = obj["WhenChangedUTC"] = changed
    return obj


def _names_by_id(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Recipient.id, Recipient.name).where(Recipient.id.in_(ids))).all())


def _fields_out(row: Recipient, fields: Sequence[Field]) -> dict[str, Any]:
    # The hot path of every Get-* page: read the JSON columns once per row, not once per field.
    props, custom = row.props, row.custom_attributes
    out: dict[str, Any] = {}
    for f in fields:
        if f.column is not None:
            value = getattr(row, f.column)
        elif f.custom:
            value = custom.get(f.name)
        else:
            value = props.get(f.name, f.default)
        out[f.name] = format_size(value) if f.type is ParamType.SIZE else value
    return out


def mailbox_view(domain: str) -> Serializer:
    def serialize(session: Session, rows: list[Recipient]) -> list[dict[str, Any]]:
        addresses = load_addresses(session, [r.id for r in rows])
        names = _names_by_id(session, {r.forwarding_address_id for r in rows if r.forwarding_address_id})
        out = []
        for r in rows:
            obj = _base(r, addresses[r.id], domain)
            obj.update(_fields_out(r, MAILBOX_FIELDS))
            obj.update(
                {
                    "UserPrincipalName": r.user_principal_name,
                    "MicrosoftOnlineServicesID": r.user_principal_name,
                    "ExchangeGuid": r.exchange_guid,
                    "ForwardingAddress": names.get(r.forwarding_address_id)
                    if r.forwarding_address_id
                    else None,
                    "IsShared": r.recipient_type_details == "SharedMailbox",
                    "IsResource": r.recipient_type_details in ("RoomMailbox", "EquipmentMailbox"),
                    "ResourceType": {"RoomMailbox": "Room", "EquipmentMailbox": "Equipment"}.get(
                        r.recipient_type_details
                    ),
                    "AccountDisabled": r.account_disabled,
                    "GrantSendOnBehalfTo": r.props.get("GrantSendOnBehalfTo", []),
                }
            )
            obj.pop("Type", None)
            out.append(obj)
        return out

    return serialize


def user_view(domain: str) -> Serializer:
    def serialize(session: Session, rows: list[Recipient]) -> list[dict[str, Any]]:
        managers = _names_by_id(session, {r.manager_id for r in rows if r.manager_id})
        out = []
        for r in rows:
            obj: dict[str, Any] = {
                "Identity": r.name,
                "Id": r.name,
                "Name": r.name,
                "DistinguishedName": _dn(r, domain),
                "UserPrincipalName": r.user_principal_name,
                "WindowsEmailAddress": r.primary_smtp_address,
                "RecipientType": "UserMailbox" if r.recipient_type == "UserMailbox" else "MailUser",
                "RecipientTypeDetails": r.recipient_type_details,
                "Guid": r.guid,
                "ExternalDirectoryObjectId": r.external_directory_object_id,
                "AccountDisabled": r.account_disabled,
                "Manager": managers.get(r.manager_id) if r.manager_id else None,
            }
            created, changed = iso(r.when_created), iso(r.when_changed)
            obj["WhenCreated"] = obj["WhenCreatedUTC"] = created
            obj["WhenChanged"] = obj["WhenChangedUTC"] = changed
            obj.update(_fields_out(r, USER_FIELDS))
            out.append(obj)
        return out

    return serialize


def recipient_view(domain: str) -> Serializer:
    def serialize(session: Session, rows: list[Recipient]) -> list[dict[str, Any]]:
        addresses = load_addresses(session, [r.id for r in rows])
        managers = _names_by_id(session, {r.manager_id for r in rows if r.manager_id})
        out = []
        for r in rows:
            obj = _base(r, addresses[r.id], domain)
            obj.update(
                {
                    "ExchangeGuid": r.exchange_guid,
                    "ExternalEmailAddress": r.external_email_address,
                    "HiddenFromAddressListsEnabled": r.hidden_from_address_lists_enabled,
                    "Department": r.department,
                    "Company": r.company,
                    "Title": r.title,
                    "Office": r.office,
                    "City": r.city,
                    "Manager": managers.get(r.manager_id) if r.manager_id else None,
                    "LitigationHoldEnabled": r.litigation_hold_enabled,
                }
            )
            obj.update({f.name: r.custom_attributes.get(f.name) for f in CUSTOM_ATTRIBUTE_FIELDS})
            out.append(obj)
        return out

    return serialize


def _mail_view(domain: str, fields: Sequence[Field], with_upn: bool) -> Serializer:
    def serialize(session: Session, rows: list[Recipient]) -> list[dict[str, Any]]:
        addresses = load_addresses(session, [r.id for r in rows])
        out = []
        for r in rows:
            obj = _base(r, addresses[r.id], domain)
            obj["ExternalEmailAddress"] = (
                f"SMTP:{r.external_email_address}" if r.external_email_address else None
            )
            if with_upn:
                obj["UserPrincipalName"] = r.user_principal_name
                obj["MicrosoftOnlineServicesID"] = r.user_principal_name
            obj.update(_fields_out(r, fields))
            out.append(obj)
        return out

    return serialize


def mail_user_view(domain: str) -> Serializer:
    return _mail_view(domain, MAIL_USER_FIELDS, True)


def mail_contact_view(domain: str) -> Serializer:
    return _mail_view(domain, MAIL_CONTACT_FIELDS, False)


def group_view(domain: str) -> Serializer:
    def serialize(session: Session, rows: list[Recipient]) -> list[dict[str, Any]]:
        addresses = load_addresses(session, [r.id for r in rows])
        guids = {g for r in rows for g in r.props.get("ManagedBy", [])}
        owners = (
            dict(
                session.execute(select(Recipient.guid, Recipient.name).where(Recipient.guid.in_(guids))).all()
            )
            if guids
            else {}
        )
        out = []
        for r in rows:
            obj = _base(r, addresses[r.id], domain)
            obj.update(_fields_out(r, GROUP_FIELDS))
            obj["GroupType"] = (
                "Universal, SecurityEnabled"
                if r.recipient_type_details == "MailUniversalSecurityGroup"
                else "Universal"
            )
            obj["ManagedBy"] = [owners[g] for g in r.props.get("ManagedBy", []) if g in owners]
            out.append(obj)
        return out

    return serialize


def cas_view(domain: str) -> Serializer:
    def serialize(session: Session, rows: list[Recipient]) -> list[dict[str, Any]]:
        addresses = load_addresses(session, [r.id for r in rows])
        cas = {
            c.recipient_id: c
            for c in session.scalars(
                select(CasMailbox).where(CasMailbox.recipient_id.in_([r.id for r in rows]))
            )
        }
        out = []
        for r in rows:
            c = cas.get(r.id)
            out.append(
                {
                    "Identity": r.name,
                    "Name": r.name,
                    "DisplayName": r.display_name,
                    "PrimarySmtpAddress": r.primary_smtp_address,
                    "EmailAddresses": addresses[r.id],
                    "Guid": r.guid,
                    "ExchangeGuid": r.exchange_guid,
                    "OWAEnabled": c.owa_enabled if c else True,
                    "EwsEnabled": c.ews_enabled if c else True,
                    "MAPIEnabled": c.mapi_enabled if c else True,
                    "PopEnabled": c.pop_enabled if c else True,
                    "ImapEnabled": c.imap_enabled if c else True,
                    "ActiveSyncEnabled": c.activesync_enabled if c else True,
                    "SmtpClientAuthenticationDisabled": c.smtp_client_authentication_disabled if c else None,
                    "WhenChanged": iso(c.when_changed if c else r.when_changed),
                }
            )
        return out

    return serialize


def mailbox_statistics_view(domain: str) -> Serializer:
    def serialize(session: Session, rows: list[Recipient]) -> list[dict[str, Any]]:
        return [
            {
                "Identity": r.exchange_guid,
                "DisplayName": r.display_name,
                "MailboxGuid": r.exchange_guid,
                "MailboxTypeDetail": r.recipient_type_details,
                "ItemCount": r.item_count,
                "DeletedItemCount": 0,
                "TotalItemSize": format_size(r.total_item_size),
                "TotalItemSizeBytes": r.total_item_size,
                "TotalDeletedItemSize": format_size(0),
                "LastLogonTime": None,
                "OwnerADGuid": r.guid,
                "OrganizationalUnit": domain,
            }
            for r in rows
        ]

    return serialize
