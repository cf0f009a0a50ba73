"""Recipient cmdlets (DESIGN §4): mailboxes, users, recipients, mail users, mail contacts, distribution groups
and their members, CAS settings, mailbox statistics. Each cmdlet is a declaration; the handlers are a few
generic functions parameterised by recipient kind."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, select

from ..directory import (
    CONTACT_TYPES,
    GROUP_FIELDS,
    GROUP_TYPES,
    MAIL_CONTACT_FIELDS,
    MAIL_USER_FIELDS,
    MAIL_USER_TYPES,
    MAILBOX_FIELDS,
    MAILBOX_TYPES,
    USER_FIELDS,
    USER_TYPES,
    Field,
    apply_fields,
    cas_view,
    change_addresses,
    change_external_address,
    create_recipient,
    group_view,
    mail_contact_view,
    mail_user_view,
    mailbox_statistics_view,
    mailbox_view,
    property_map_for,
    recipient_view,
    remove_recipient,
    rename_recipient,
    resolve_recipient,
    user_view,
)
from ..directory import RECIPIENT_TYPE as _RECIPIENT_TYPE
from ..errors import ArgumentError, DuplicateObjectError, NotFoundError
from ..store import CasMailbox, GroupMember, Recipient
from ._binding import MultiValueChange
from ._invocation import Invocation, Listing
from ._registry import CmdletSpec, Param, ParamType

__all__ = ["RECIPIENT_CMDLETS"]

ViewFactory = Callable[[str], Callable[..., list[dict[str, Any]]]]

_ALL_TYPES = frozenset(_RECIPIENT_TYPE)
_TYPE_DETAILS = tuple(sorted(_RECIPIENT_TYPE))
_TYPES = tuple(sorted(set(_RECIPIENT_TYPE.values())))


@dataclass(frozen=True)
class Kind:
    """A family of recipients as one cmdlet noun sees them."""

    noun: str
    types: frozenset[str]
    view: ViewFactory
    fields: tuple[Field, ...] = ()


MAILBOX = Kind("Mailbox", MAILBOX_TYPES, mailbox_view, MAILBOX_FIELDS)
USER = Kind("User", USER_TYPES, user_view, USER_FIELDS)
RECIPIENT = Kind("Recipient", _ALL_TYPES, recipient_view)
MAIL_USER = Kind("MailUser", MAIL_USER_TYPES, mail_user_view, MAIL_USER_FIELDS)
MAIL_CONTACT = Kind("MailContact", CONTACT_TYPES, mail_contact_view, MAIL_CONTACT_FIELDS)
GROUP = Kind("DistributionGroup", GROUP_TYPES, group_view, GROUP_FIELDS)
CAS = Kind("CASMailbox", MAILBOX_TYPES, cas_view)
STATS = Kind("MailboxStatistics", MAILBOX_TYPES, mailbox_statistics_view)


def _resolve(inv: Invocation, kind: Kind, parameter: str = "Identity") -> Recipient:
    return resolve_recipient(
        inv.session, inv.tenant.id, inv.get(parameter), types=kind.types, parameter=parameter
    )


def _changes(inv: Invocation, fields: Sequence[Field]) -> list[tuple[Field, Any]]:
    return [(f, inv.get(f.name)) for f in fields if inv.has(f.name)]


# --- reads ----------------------------------------------------------------------------------------------


def _get(kind: Kind) -> Callable[[Invocation], Listing]:
    def handler(inv: Invocation) -> Listing:
        stmt = select(Recipient).where(Recipient.tenant_id == inv.tenant.id)
        types = set(kind.types)
        if inv.has("RecipientTypeDetails"):
            types &= set(inv.get("RecipientTypeDetails"))
        if inv.has("RecipientType"):
            wanted = set(inv.get("RecipientType"))
            types = {t for t in types if _RECIPIENT_TYPE[t] in wanted}
        stmt = stmt.where(Recipient.recipient_type_details.in_(sorted(types)))
        if inv.has("Identity"):
            target = _resolve(inv, kind)
            stmt = stmt.where(Recipient.id == target.id)
        if inv.has("Anr"):
            anr = inv.get("Anr").lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            cols = (
                Recipient.name,
                Recipient.alias,
                Recipient.display_name,
                Recipient.first_name,
                Recipient.last_name,
                Recipient.primary_smtp_address,
            )
            stmt = stmt.where(or_(*(func.lower(c).like(anr, escape="\\") for c in cols)))
        return Listing(
            stmt,
            Recipient.id,
            kind.view(inv.tenant.initial_domain),
            property_map_for(f"Get-{kind.noun}"),
        )

    return handler


def _get_stats(inv: Invocation) -> list[dict[str, Any]]:
    row = _resolve(inv, STATS)
    return STATS.view(inv.tenant.initial_domain)(inv.session, [row])


# --- writes ---------------------------------------------------------------------------------------------


def _set(
    kind: Kind, extra: Callable[[Invocation, Recipient], None] | None = None
) -> Callable[[Invocation], None]:
    def handler(inv: Invocation) -> None:
        row = _resolve(inv, kind)
        now = inv.now()
        if inv.has("Name"):
            rename_recipient(inv.session, row, inv.get("Name"), now)
        if inv.has("Alias"):
            row.alias = inv.get("Alias")
        if inv.has("EmailAddresses") or inv.has("PrimarySmtpAddress"):
            change_addresses(
                inv.session,
                row,
                email_addresses=inv.get("EmailAddresses"),
                primary_smtp=inv.get("PrimarySmtpAddress"),
                now=now,
            )
        if inv.has("ExternalEmailAddress"):
            change_external_address(inv.session, row, inv.get("ExternalEmailAddress"), now)
        apply_fields(inv.session, row, _changes(inv, kind.fields), now)
        if extra is not None:
            extra(inv, row)
        row.when_changed = now

    return handler


def _remove(kind: Kind) -> Callable[[Invocation], None]:
    def handler(inv: Invocation) -> None:
        remove_recipient(inv.session, _resolve(inv, kind))

    return handler


def _new_mailbox(inv: Invocation) -> list[dict[str, Any]]:
    type_details = {"Shared": "SharedMailbox", "Room": "RoomMailbox", "Equipment": "EquipmentMailbox"}.get(
        inv.params.parameter_set, "UserMailbox"
    )
    row = create_recipient(
        inv.session,
        inv.tenant.id,
        type_details=type_details,
        name=inv.get("Name"),
        now=inv.now(),
        alias=inv.get("Alias"),
        display_name=inv.get("DisplayName"),
        primary_smtp=inv.get("PrimarySmtpAddress"),
        upn=inv.get("MicrosoftOnlineServicesID"),
        first_name=inv.get("FirstName"),
        last_name=inv.get("LastName"),
        fields=_changes(inv, [f for f in MAILBOX_FIELDS if f.name == "ResourceCapacity"]),
    )
    return MAILBOX.view(inv.tenant.initial_domain)(inv.session, [row])


def _mailbox_extra(inv: Invocation, row: Recipient) -> None:
    if inv.has("ForwardingAddress"):
        target = inv.get("ForwardingAddress")
        row.forwarding_address_id = (
            None
            if target is None
            else resolve_recipient(inv.session, inv.tenant.id, target, parameter="ForwardingAddress").id
        )
    if inv.has("GrantSendOnBehalfTo"):
        value = inv.get("GrantSendOnBehalfTo")
        current: list[str] = list(row.props.get("GrantSendOnBehalfTo", []))
        if isinstance(value, MultiValueChange):
            drop = {
                resolve_recipient(inv.session, inv.tenant.id, v, parameter="GrantSendOnBehalfTo").name.lower()
                for v in value.remove
            }
            names = [n for n in current if n.lower() not in drop]
            adds = value.add
        else:
            names, adds = [], value
        for v in adds:
            name = resolve_recipient(inv.session, inv.tenant.id, v, parameter="GrantSendOnBehalfTo").name
            if name.lower() not in {n.lower() for n in names}:
                names.append(name)
        row.props = {**row.props, "GrantSendOnBehalfTo": names}
    if inv.has("Type"):
        new_type = {
            "Regular": "UserMailbox",
            "Shared": "SharedMailbox",
            "Room": "RoomMailbox",
            "Equipment": "EquipmentMailbox",
        }[inv.get("Type")]
        row.recipient_type_details = new_type
        row.account_disabled = new_type != "UserMailbox"
        row.props = {k: v for k, v in row.props.items() if k != "Type"}


def _user_extra(inv: Invocation, row: Recipient) -> None:
    if inv.has("Manager"):
        target = inv.get("Manager")
        if target is None:
            row.manager_id = None
        else:
            manager = resolve_recipient(
                inv.session, inv.tenant.id, target, types=USER_TYPES, parameter="Manager"
            )
            if manager.id == row.id:
                raise ArgumentError("A user can't be their own manager.")
            row.manager_id = manager.id


def _new_mail_recipient(kind: Kind, type_details: str) -> Callable[[Invocation], list[dict[str, Any]]]:
    """New-MailUser and New-MailContact: parameters a cmdlet does not declare are simply absent (None)."""

    def handler(inv: Invocation) -> list[dict[str, Any]]:
        row = create_recipient(
            inv.session,
            inv.tenant.id,
            type_details=type_details,
            name=inv.get("Name"),
            now=inv.now(),
            alias=inv.get("Alias"),
            display_name=inv.get("DisplayName"),
            primary_smtp=inv.get("PrimarySmtpAddress"),
            upn=inv.get("MicrosoftOnlineServicesID"),
            external_email=inv.get("ExternalEmailAddress"),
            first_name=inv.get("FirstName"),
            last_name=inv.get("LastName"),
        )
        return kind.view(inv.tenant.initial_domain)(inv.session, [row])

    return handler


def _resolve_many(
    inv: Invocation, values: Sequence[str], parameter: str, types: frozenset[str] | None = None
) -> list[Recipient]:
    return [
        resolve_recipient(inv.session, inv.tenant.id, v, types=types, parameter=parameter) for v in values
    ]


def _managed_by(inv: Invocation, row: Recipient) -> None:
    if not inv.has("ManagedBy"):
        return
    value = inv.get("ManagedBy")
    current: list[str] = list(row.props.get("ManagedBy", []))
    if isinstance(value, MultiValueChange):
        drop = {r.guid for r in _resolve_many(inv, value.remove, "ManagedBy")}
        guids = [g for g in current if g not in drop]
        adds = _resolve_many(inv, value.add, "ManagedBy")
    else:
        guids, adds = [], _resolve_many(inv, value, "ManagedBy")
    for owner in adds:
        if owner.guid not in guids:
            guids.append(owner.guid)
    row.props = {**row.props, "ManagedBy": guids}


def _new_group(inv: Invocation) -> list[dict[str, Any]]:
    type_details = (
        "MailUniversalSecurityGroup"
        if inv.get("Type", "Distribution") == "Security"
        else "MailUniversalDistributionGroup"
    )
    row = create_recipient(
        inv.session,
        inv.tenant.id,
        type_details=type_details,
        name=inv.get("Name"),
        now=inv.now(),
        alias=inv.get("Alias"),
        display_name=inv.get("DisplayName"),
        primary_smtp=inv.get("PrimarySmtpAddress"),
        fields=[
            (f, inv.get(f.name))
            for f in GROUP_FIELDS
            if f.name in ("MemberJoinRestriction", "MemberDepartRestriction") and inv.has(f.name)
        ],
    )
    defaults = {"MemberJoinRestriction": "Closed", "MemberDepartRestriction": "Open"}
    row.props = {**defaults, **row.props}
    _managed_by(inv, row)
    for member in _resolve_many(inv, inv.get("Members", ()), "Members"):
        _add_member(inv, row, member)
    return GROUP.view(inv.tenant.initial_domain)(inv.session, [row])


def _is_member(inv: Invocation, group: Recipient, member: Recipient) -> bool:
    return (
        inv.session.scalar(
            select(GroupMember.group_id).where(
                GroupMember.group_id == group.id, GroupMember.member_id == member.id
            )
        )
        is not None
    )


def _contains(inv: Invocation, group_id: int, target_id: int) -> bool:
    """Is ``target_id`` reachable from ``group_id`` through nested membership?"""
    seen: set[int] = set()
    frontier = {group_id}
    while frontier:
        if target_id in frontier:
            return True
        seen |= frontier
        frontier = (
            set(inv.session.scalars(select(GroupMember.member_id).where(GroupMember.group_id.in_(frontier))))
            - seen
        )
    return False


def _add_member(inv: Invocation, group: Recipient, member: Recipient) -> None:
    if _is_member(inv, group, member):
        raise DuplicateObjectError(
            f'The recipient "{member.name}" is already a member of the group "{group.name}".'
        )
    if member.id == group.id or (
        member.recipient_type_details in GROUP_TYPES and _contains(inv, member.id, group.id)
    ):
        raise ArgumentError(f'Adding "{member.name}" to "{group.name}" would create a membership loop.')
    inv.session.add(GroupMember(group_id=group.id, member_id=member.id, tenant_id=inv.tenant.id))
    group.when_changed = inv.now()


def _get_members(inv: Invocation) -> Listing:
    group = _resolve(inv, GROUP)
    members = select(GroupMember.member_id).where(GroupMember.group_id == group.id)
    stmt = select(Recipient).where(Recipient.tenant_id == inv.tenant.id, Recipient.id.in_(members))
    return Listing(stmt, Recipient.id, recipient_view(inv.tenant.initial_domain))


def _add_member_handler(inv: Invocation) -> None:
    group = _resolve(inv, GROUP)
    member = resolve_recipient(inv.session, inv.tenant.id, inv.get("Member"), parameter="Member")
    _add_member(inv, group, member)


def _remove_member_handler(inv: Invocation) -> None:
    group = _resolve(inv, GROUP)
    member = resolve_recipient(inv.session, inv.tenant.id, inv.get("Member"), parameter="Member")
    result = inv.session.execute(
        delete(GroupMember).where(and_(GroupMember.group_id == group.id, GroupMember.member_id == member.id))
    )
    if getattr(result, "rowcount", 0) == 0:
        raise NotFoundError(f'The recipient "{member.name}" isn\'t a member of the group "{group.name}".')
    group.when_changed = inv.now()


_CAS_COLUMNS = {
    "OWAEnabled": "owa_enabled",
    "EwsEnabled": "ews_enabled",
    "MAPIEnabled": "mapi_enabled",
    "PopEnabled": "pop_enabled",
    "ImapEnabled": "imap_enabled",
    "ActiveSyncEnabled": "activesync_enabled",
    "SmtpClientAuthenticationDisabled": "smtp_client_authentication_disabled",
}


def _set_cas(inv: Invocation) -> None:
    row = _resolve(inv, CAS)
    cas = inv.session.get(CasMailbox, row.id)
    if cas is None:  # pragma: no cover - created with every mailbox; repair if an import skipped it
        cas = CasMailbox(recipient_id=row.id, tenant_id=inv.tenant.id, when_changed=inv.now())
        inv.session.add(cas)
    for param, column in _CAS_COLUMNS.items():
        if inv.has(param):
            setattr(cas, column, inv.get(param))
    cas.when_changed = inv.now()


# --- declarations ---------------------------------------------------------------------------------------

_ID = Param("Identity", ParamType.IDENTITY, position=0, help="Name, alias, email address or GUID")
_ID_REQ = Param(
    "Identity", ParamType.IDENTITY, mandatory=True, position=0, help="Name, alias, email address or GUID"
)
_NAME = Param("Name", ParamType.STRING, max_length=64)
_ALIAS = Param("Alias", ParamType.STRING, max_length=64)
_ADDRS = Param("EmailAddresses", ParamType.STRING_LIST, max_length=340)
_PRIMARY = Param("PrimarySmtpAddress", ParamType.SMTP)
_ANR = Param("Anr", ParamType.STRING, max_length=256, help="Ambiguous name resolution (prefix match)")


def _rtd_param(kind: Kind) -> Param:
    return Param("RecipientTypeDetails", ParamType.STRING_LIST, enum=tuple(sorted(kind.types)))


def _get_spec(kind: Kind, *extra: Param, description: str) -> CmdletSpec:
    return CmdletSpec(
        f"Get-{kind.noun}",
        (_ID, _ANR, _rtd_param(kind), *extra),
        _get(kind),
        writes=False,
        object_type=kind.noun,
        filterable=True,
        pageable=True,
        description=description,
    )


def _field_params(fields: Sequence[Field], skip: frozenset[str] = frozenset()) -> tuple[Param, ...]:
    return tuple(f.param() for f in fields if f.name not in skip)


RECIPIENT_CMDLETS: tuple[CmdletSpec, ...] = (
    # Mailboxes
    _get_spec(MAILBOX, description="Mailboxes (user, shared, room, equipment)."),
    CmdletSpec(
        "New-Mailbox",
        (
            Param("Name", ParamType.STRING, mandatory=True, max_length=64),
            _ALIAS,
            Param("DisplayName", ParamType.STRING, max_length=256),
            Param("FirstName", ParamType.STRING, max_length=64, sets=("User",)),
            Param("LastName", ParamType.STRING, max_length=64, sets=("User",)),
            _PRIMARY,
            Param("MicrosoftOnlineServicesID", ParamType.SMTP, sets=("User",)),
            Param("Shared", ParamType.SWITCH, mandatory=True, sets=("Shared",)),
            Param("Room", ParamType.SWITCH, mandatory=True, sets=("Room",)),
            Param("Equipment", ParamType.SWITCH, mandatory=True, sets=("Equipment",)),
            Param(
                "ResourceCapacity", ParamType.INT, min_value=0, max_value=100000, sets=("Room", "Equipment")
            ),
        ),
        _new_mailbox,
        writes=True,
        object_type="Mailbox",
        default_set="User",
        description="Creates a user, shared, room or equipment mailbox.",
    ),
    CmdletSpec(
        "Set-Mailbox",
        (
            _ID_REQ,
            _NAME,
            _ALIAS,
            _ADDRS,
            _PRIMARY,
            Param("ForwardingAddress", ParamType.IDENTITY, nullable=True),
            Param("GrantSendOnBehalfTo", ParamType.STRING_LIST),
            *_field_params(MAILBOX_FIELDS),
        ),
        _set(MAILBOX, _mailbox_extra),
        writes=True,
        object_type="Mailbox",
        description="Changes the properties that are passed, and only those.",
    ),
    CmdletSpec(
        "Remove-Mailbox",
        (_ID_REQ, Param("Permanent", ParamType.BOOL)),
        _remove(MAILBOX),
        writes=True,
        object_type="Mailbox",
        description="Removes a mailbox with its permissions, memberships and rules.",
    ),
    # Users and recipients
    _get_spec(USER, description="User accounts (mailbox users and mail users)."),
    CmdletSpec(
        "Set-User",
        (_ID_REQ, _NAME, Param("Manager", ParamType.IDENTITY, nullable=True), *_field_params(USER_FIELDS)),
        _set(USER, _user_extra),
        writes=True,
        object_type="User",
    ),
    _get_spec(
        RECIPIENT,
        Param("RecipientType", ParamType.STRING_LIST, enum=_TYPES),
        description="Every recipient of the organization.",
    ),
    # Mail users
    _get_spec(MAIL_USER, description="Mail users."),
    CmdletSpec(
        "New-MailUser",
        (
            Param("Name", ParamType.STRING, mandatory=True, max_length=64),
            Param("ExternalEmailAddress", ParamType.SMTP, mandatory=True),
            _ALIAS,
            Param("DisplayName", ParamType.STRING, max_length=256),
            Param("FirstName", ParamType.STRING, max_length=64),
            Param("LastName", ParamType.STRING, max_length=64),
            _PRIMARY,
            Param("MicrosoftOnlineServicesID", ParamType.SMTP),
        ),
        _new_mail_recipient(MAIL_USER, "MailUser"),
        writes=True,
        object_type="MailUser",
    ),
    CmdletSpec(
        "Set-MailUser",
        (
            _ID_REQ,
            _NAME,
            _ALIAS,
            _ADDRS,
            _PRIMARY,
            Param("ExternalEmailAddress", ParamType.SMTP),
            *_field_params(MAIL_USER_FIELDS),
        ),
        _set(MAIL_USER),
        writes=True,
        object_type="MailUser",
    ),
    CmdletSpec("Remove-MailUser", (_ID_REQ,), _remove(MAIL_USER), writes=True, object_type="MailUser"),
    # Mail contacts
    _get_spec(MAIL_CONTACT, description="Mail contacts."),
    CmdletSpec(
        "New-MailContact",
        (
            Param("Name", ParamType.STRING, mandatory=True, max_length=64),
            Param("ExternalEmailAddress", ParamType.SMTP, mandatory=True),
            _ALIAS,
            Param("DisplayName", ParamType.STRING, max_length=256),
            Param("FirstName", ParamType.STRING, max_length=64),
            Param("LastName", ParamType.STRING, max_length=64),
        ),
        _new_mail_recipient(MAIL_CONTACT, "MailContact"),
        writes=True,
        object_type="MailContact",
    ),
    CmdletSpec(
        "Set-MailContact",
        (
            _ID_REQ,
            _NAME,
            _ALIAS,
            _ADDRS,
            _PRIMARY,
            Param("ExternalEmailAddress", ParamType.SMTP),
            *_field_params(MAIL_CONTACT_FIELDS),
        ),
        _set(MAIL_CONTACT),
        writes=True,
        object_type="MailContact",
    ),
    CmdletSpec(
        "Remove-MailContact", (_ID_REQ,), _remove(MAIL_CONTACT), writes=True, object_type="MailContact"
    ),
    # Distribution groups
    _get_spec(GROUP, description="Distribution groups and mail-enabled security groups."),
    CmdletSpec(
        "New-DistributionGroup",
        (
            Param("Name", ParamType.STRING, mandatory=True, max_length=64),
            _ALIAS,
            Param("DisplayName", ParamType.STRING, max_length=256),
            _PRIMARY,
            Param("Type", ParamType.ENUM, enum=("Distribution", "Security")),
            Param("Members", ParamType.STRING_LIST),
            Param("ManagedBy", ParamType.STRING_LIST),
            Param("MemberJoinRestriction", ParamType.ENUM, enum=("Open", "Closed", "ApprovalRequired")),
            Param("MemberDepartRestriction", ParamType.ENUM, enum=("Open", "Closed")),
        ),
        _new_group,
        writes=True,
        object_type="DistributionGroup",
    ),
    CmdletSpec(
        "Set-DistributionGroup",
        (
            _ID_REQ,
            _NAME,
            _ALIAS,
            _ADDRS,
            _PRIMARY,
            Param("ManagedBy", ParamType.STRING_LIST),
            Param("BypassSecurityGroupManagerCheck", ParamType.SWITCH),
            *_field_params(GROUP_FIELDS),
        ),
        _set(GROUP, _managed_by),
        writes=True,
        object_type="DistributionGroup",
    ),
    CmdletSpec(
        "Remove-DistributionGroup",
        (_ID_REQ, Param("BypassSecurityGroupManagerCheck", ParamType.SWITCH)),
        _remove(GROUP),
        writes=True,
        object_type="DistributionGroup",
    ),
    CmdletSpec(
        "Get-DistributionGroupMember",
        (_ID_REQ,),
        _get_members,
        writes=False,
        object_type="Recipient",
        pageable=True,
    ),
    CmdletSpec(
        "Add-DistributionGroupMember",
        (
            _ID_REQ,
            Param("Member", ParamType.IDENTITY, mandatory=True),
            Param("BypassSecurityGroupManagerCheck", ParamType.SWITCH),
        ),
        _add_member_handler,
        writes=True,
        object_type="DistributionGroup",
    ),
    CmdletSpec(
        "Remove-DistributionGroupMember",
        (
            _ID_REQ,
            Param("Member", ParamType.IDENTITY, mandatory=True),
            Param("BypassSecurityGroupManagerCheck", ParamType.SWITCH),
        ),
        _remove_member_handler,
        writes=True,
        object_type="DistributionGroup",
    ),
    # Client access and statistics
    CmdletSpec(
        "Get-CASMailbox",
        (_ID, _ANR),
        _get(CAS),
        writes=False,
        object_type="CASMailbox",
        filterable=True,
        pageable=True,
    ),
    CmdletSpec(
        "Set-CASMailbox",
        (
            _ID_REQ,
            *(
                Param(name, ParamType.BOOL, nullable=name == "SmtpClientAuthenticationDisabled")
                for name in _CAS_COLUMNS
            ),
        ),
        _set_cas,
        writes=True,
        object_type="CASMailbox",
    ),
    CmdletSpec(
        "Get-MailboxStatistics",
        (_ID_REQ,),
        _get_stats,
        writes=False,
        object_type="MailboxStatistics",
    ),
)
