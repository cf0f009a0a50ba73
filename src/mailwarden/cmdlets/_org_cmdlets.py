"""Organization configuration and mail-flow cmdlets (DESIGN §4, "Mail flow & org").

Every cmdlet here is a declaration. A :class:`ConfigKind` says which ``config_objects`` kind it works on,
which parameters are stored properties of the same name, how items of multi-valued ones are validated, which
properties must be unique, which objects are built in and whether the objects are ordered by priority. A few
generic handler factories (singleton get/set, named get/new/set/remove) do the work for every kind; inbox
rules and mailbox audit bypass associations, which hang off recipients, add their own small handlers.

Exchange behaviours kept: Set-* writes only the parameters passed (``WhenChanged`` moves only if something
changed) and returns nothing; New-* returns the new object; names compare without regard to case; an unknown
``-Identity`` is a 404 with Exchange's wording; a bad value is a 400 naming the parameter.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from mailwarden.directory._config_objects import (
    ACCEPTED_DOMAIN,
    ADMIN_AUDIT_LOG_CONFIG,
    DKIM_SIGNING_CONFIG,
    MAILBOX_AUDIT_BYPASS_ASSOCIATION,
    ORGANIZATION_CONFIG,
    REMOTE_DOMAIN,
    SHARING_POLICY,
    TRANSPORT_CONFIG,
    TRANSPORT_RULE,
    config_objects,
    config_query,
    create_config_object,
    ensure_config_name_free,
    find_config_object,
    not_found,
    renumber,
    require_config_object,
    serialize_config_object,
    update_config_object,
)
from mailwarden.directory._config_seed import dkim_defaults, remote_domain_defaults
from mailwarden.directory._inbox_rules import (
    INBOX_RULE_ACTIONS,
    INBOX_RULE_BASE_PRIORITY,
    find_inbox_rules,
    inbox_rule_query,
    mailbox_inbox_rules,
    new_rule_id,
    serialize_inbox_rule,
    serialize_inbox_rules,
    split_rule_identity,
)
from mailwarden.directory._resolve import resolve_recipient, try_resolve_recipient
from mailwarden.directory._types import MAILBOX_TYPES
from mailwarden.directory._views import format_size, iso
from mailwarden.errors import (
    AmbiguousIdentityError,
    ArgumentError,
    DuplicateObjectError,
    ParameterBindingError,
)
from mailwarden.store import ConfigObject, InboxRule, Recipient

from ._binding import MultiValueChange, is_valid_smtp
from ._invocation import Invocation, Listing
from ._registry import CmdletSpec, Param, ParamType

__all__ = ["ORG_CMDLETS", "ConfigKind"]

Handler = Callable[[Invocation], Any]
ItemCheck = Callable[[str], str]

P = ParamType

# --- value validation (each raises ValueError with the message the 400 carries) -----------------------------

_TIMESPAN_RE = re.compile(r"^(?:(\d{1,5})\.)?(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_DOMAIN_RE = re.compile(r"^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_SHARING_ACTIONS = (
    "CalendarSharingFreeBusySimple",
    "CalendarSharingFreeBusyDetail",
    "CalendarSharingFreeBusyReviewer",
    "ContactsSharing",
)


def _timespan(minimum: int, maximum: int) -> Callable[[Any], str]:
    """A .NET TimeSpan (``d.hh:mm:ss`` or ``hh:mm:ss``) within [minimum, maximum] seconds, rendered the
    way Exchange shows it."""

    def check(value: Any) -> str:
        m = _TIMESPAN_RE.match(str(value).strip())
        if not m:
            raise ValueError(f"'{value}' is not a valid time span; use the form dd.hh:mm:ss")
        days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
        if hours > 23 or minutes > 59 or seconds > 59:
            raise ValueError(f"'{value}' is not a valid time span; use the form dd.hh:mm:ss")
        total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
        if not minimum <= total <= maximum:
            raise ValueError(f"the value must be between {_render_span(minimum)} and {_render_span(maximum)}")
        return _render_span(total)

    return check


def _render_span(total: int) -> str:
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}.{clock}" if days else clock


def _size(maximum: int) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value is None:
            raise ValueError("Unlimited isn't valid for this parameter")
        if not 0 < value <= maximum:
            raise ValueError(f"the value must be greater than 0 and at most {format_size(maximum)}")
        return format_size(value)

    return check


def _recipient_limit(value: Any) -> int | str:
    text = str(value).strip()
    if text.lower() == "unlimited":
        return "Unlimited"
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise ValueError("the value must be Unlimited or a number from 1 to 1000")
    return int(text)


def _charset(value: Any) -> str:
    text = str(value).strip().lower()
    try:
        codecs.lookup(text)
    except LookupError:
        raise ValueError(f"'{value}' is not a known character set") from None
    return text


def _domain(value: str) -> str:
    text = value.strip().lower().rstrip(".")
    if len(text) > 255 or not _DOMAIN_RE.match(text):
        raise ValueError(f"'{value}' is not a valid domain name")
    return text


def _smtp(value: str) -> str:
    text = value.strip().removeprefix("smtp:").removeprefix("SMTP:")
    if not is_valid_smtp(text):
        raise ValueError(f"'{value}' is not a valid SMTP address")
    return text


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(f"'{value}' is not an IP address or CIDR range") from None


def _sharing_entry(value: str) -> str:
    """``"contoso.com:CalendarSharingFreeBusyDetail,ContactsSharing"`` normalised, with Exchange's rules: at
    most one calendar level per domain, and no contact sharing with anonymous users."""
    domain, sep, actions_text = value.partition(":")
    if not sep or not actions_text.strip():
        raise ValueError(f"'{value}' is not valid; use the form 'domain:action[,action]'")
    domain = domain.strip()
    if domain == "*":
        pass
    elif domain.lower() == "anonymous":
        domain = "Anonymous"
    else:
        domain = _domain(domain)
    actions: list[str] = []
    for raw in actions_text.split(","):
        match = next((a for a in _SHARING_ACTIONS if a.lower() == raw.strip().lower()), None)
        if match is None:
            raise ValueError(
                f"'{raw.strip()}' is not a sharing action. Valid actions are: {', '.join(_SHARING_ACTIONS)}"
            )
        if match not in actions:
            actions.append(match)
    if sum(a.startswith("CalendarSharing") for a in actions) > 1:
        raise ValueError(f"'{value}' grants more than one calendar sharing level")
    if domain == "Anonymous" and "ContactsSharing" in actions:
        raise ValueError("contacts can't be shared with anonymous users")
    return f"{domain}:{', '.join(actions)}"


def _sharing_domains_unique(props: dict[str, Any]) -> dict[str, Any]:
    seen: set[str] = set()
    for entry in props.get("Domains") or []:
        domain = entry.split(":", 1)[0].lower()
        if domain in seen:
            raise ParameterBindingError(
                "Domains", f"The domain '{entry.split(':', 1)[0]}' is listed more than once."
            )
        seen.add(domain)
    return props


def _dkim_status(props: dict[str, Any]) -> dict[str, Any]:
    """Status follows Enabled. We publish no DNS, so enabling is taken as proof the CNAMEs exist."""
    if props.get("Enabled"):
        return {**props, "Status": "Valid"}
    if props.get("Status") == "Valid":
        return {**props, "Status": "Disabled"}
    return props


def _key_size(value: Any) -> int:
    if value not in (1024, 2048):
        raise ValueError("the key size must be 1024 or 2048")
    return int(value)


# --- the generic machinery ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigKind:
    """One kind of configuration object, as data."""

    kind: str
    settable: tuple[Param, ...] = ()  # parameters stored as the property of the same name
    items: Mapping[str, ItemCheck] = field(default_factory=dict)  # per-item checks of multi-valued ones
    unique: tuple[str, ...] = ()  # properties no two objects of the kind may share (case-insensitive)
    protected: Mapping[str, str] = field(default_factory=dict)  # lower-case name → why it can't go
    ordered: bool = False  # 0-based Priority across the kind, kept consecutive
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # recompute dependent properties


def _item(name: str, check: ItemCheck | None, value: str) -> str:
    if check is None:
        return value
    try:
        return check(value)
    except ValueError as exc:
        raise ParameterBindingError(name, str(exc)) from None


def _merge_list(name: str, current: Any, value: Any, check: ItemCheck | None) -> list[str]:
    """Replace a multi-valued property (list given) or change it (``@{Add=…;Remove=…}``); no duplicates."""
    if isinstance(value, MultiValueChange):
        base = list(current or [])
        removed = {_item(name, check, v).lower() for v in value.remove}
        base = [v for v in base if v.lower() not in removed]
        additions = [_item(name, check, v) for v in value.add]
    else:
        base = []
        additions = [_item(name, check, v) for v in value]
    seen = {v.lower() for v in base}
    for v in additions:
        if v.lower() not in seen:
            base.append(v)
            seen.add(v.lower())
    return base


def _apply(
    inv: Invocation, params: tuple[Param, ...], items: Mapping[str, ItemCheck], current: dict[str, Any]
) -> dict[str, Any]:
    props = dict(current)
    for param in params:
        if not inv.has(param.name):
            continue
        value = inv.get(param.name)
        if param.type is P.STRING_LIST and value is not None:
            value = _merge_list(param.name, current.get(param.name), value, items.get(param.name))
        props[param.name] = value
    return props


def _new_props(inv: Invocation, kind: ConfigKind, current: dict[str, Any]) -> dict[str, Any]:
    props = _apply(inv, kind.settable, kind.items, current)
    return kind.derive(props) if kind.derive else props


def _check_unique(inv: Invocation, kind: ConfigKind, props: dict[str, Any], exclude_id: int | None) -> None:
    if not kind.unique:
        return
    others = [row for row in config_objects(inv.session, inv.tenant.id, kind.kind) if row.id != exclude_id]
    for prop in kind.unique:
        value = props.get(prop)
        for other in others:
            theirs = other.props.get(prop)
            if isinstance(value, str) and isinstance(theirs, str) and value.lower() == theirs.lower():
                raise DuplicateObjectError(
                    f"The {prop} '{value}' is already used by {kind.kind} '{other.name}'."
                )


def _place(rows: list[Any], row: Any, position: int | None, *, base: int) -> None:
    """Insert ``row`` among ``rows`` (its siblings, without it) at ``position``; default last."""
    last = base + len(rows)
    if position is None:
        position = last
    if not base <= position <= last:
        raise ParameterBindingError("Priority", f"The value must be between {base} and {last}.")
    rows.insert(position - base, row)
    renumber(rows, base=base)


def _serializer(kind: ConfigKind) -> Callable[[Session, list[Any]], list[dict[str, Any]]]:
    def serialize(_session: Session, rows: list[Any]) -> list[dict[str, Any]]:
        return [serialize_config_object(row, with_priority=kind.ordered) for row in rows]

    return serialize


def _singleton(inv: Invocation, kind: ConfigKind) -> ConfigObject:
    rows = config_objects(inv.session, inv.tenant.id, kind.kind)
    identity = inv.get("Identity")
    if not rows:
        raise not_found(identity or kind.kind, inv.tenant.initial_domain)
    row = rows[0]
    if identity is not None:
        # The singleton answers to its own name or GUID and to the organization's names.
        accepted = {row.name.lower(), row.guid, inv.tenant.initial_domain.lower(), inv.tenant.name.lower()}
        if identity.strip().lower() not in accepted:
            raise not_found(identity, inv.tenant.initial_domain)
    return row


def get_singleton(kind: ConfigKind) -> Handler:
    def handler(inv: Invocation) -> dict[str, Any]:
        return serialize_config_object(_singleton(inv, kind))

    return handler


def set_singleton(kind: ConfigKind) -> Handler:
    def handler(inv: Invocation) -> None:
        row = _singleton(inv, kind)
        update_config_object(row, _new_props(inv, kind, row.props), inv.now())

    return handler


def _require(inv: Invocation, kind: ConfigKind) -> ConfigObject:
    return require_config_object(
        inv.session, inv.tenant.id, kind.kind, inv.get("Identity"), where=inv.tenant.initial_domain
    )


def get_objects(kind: ConfigKind) -> Handler:
    def handler(inv: Invocation) -> Listing:
        stmt = config_query(inv.tenant.id, kind.kind)
        if inv.has("Identity"):
            stmt = stmt.where(ConfigObject.id == _require(inv, kind).id)
        return Listing(stmt, ConfigObject.id, _serializer(kind))

    return handler


def new_object(kind: ConfigKind, initial: Callable[[Invocation], tuple[str, dict[str, Any]]]) -> Handler:
    """``initial`` validates the identifying parameters and returns the name and the kind's defaults."""

    def handler(inv: Invocation) -> dict[str, Any]:
        name, defaults = initial(inv)
        props = _new_props(inv, kind, defaults)
        ensure_config_name_free(inv.session, inv.tenant.id, kind.kind, name)
        _check_unique(inv, kind, props, None)
        siblings = config_objects(inv.session, inv.tenant.id, kind.kind) if kind.ordered else []
        row = create_config_object(inv.session, inv.tenant.id, kind.kind, name, props, inv.now())
        if kind.ordered:
            _place(siblings, row, inv.get("Priority"), base=0)
        return serialize_config_object(row, with_priority=kind.ordered)

    return handler


def _check_protected(kind: ConfigKind, row: ConfigObject, action: str) -> None:
    reason = kind.protected.get(row.name.lower())
    if reason is not None:
        raise ArgumentError(f"The {kind.kind} '{row.name}' can't be {action}: {reason}")


def set_object(kind: ConfigKind) -> Handler:
    def handler(inv: Invocation) -> None:
        row = _require(inv, kind)
        props = _new_props(inv, kind, row.props)
        name: str | None = None
        if inv.has("Name") and inv.get("Name").strip() != row.name:
            name = inv.get("Name").strip()
            _check_protected(kind, row, "renamed")
            ensure_config_name_free(inv.session, inv.tenant.id, kind.kind, name, exclude_id=row.id)
        _check_unique(inv, kind, props, row.id)
        moved = False
        if kind.ordered and inv.has("Priority"):
            before = row.priority
            siblings = [r for r in config_objects(inv.session, inv.tenant.id, kind.kind) if r.id != row.id]
            _place(siblings, row, inv.get("Priority"), base=0)
            moved = row.priority != before
        if not update_config_object(row, props, inv.now(), name=name) and moved:
            row.when_changed = inv.now()

    return handler


def set_fixed(kind: ConfigKind, values: Mapping[str, Any]) -> Handler:
    """Enable-*/Disable-*: set fixed property values on the object named by -Identity."""

    def handler(inv: Invocation) -> None:
        row = _require(inv, kind)
        update_config_object(row, {**row.props, **values}, inv.now())

    return handler


def remove_object(kind: ConfigKind) -> Handler:
    def handler(inv: Invocation) -> None:
        row = _require(inv, kind)
        _check_protected(kind, row, "removed")
        inv.session.delete(row)
        inv.session.flush()
        if kind.ordered:
            renumber(config_objects(inv.session, inv.tenant.id, kind.kind), base=0)

    return handler


# --- kinds --------------------------------------------------------------------------------------------------


def _bools(*names: str) -> tuple[Param, ...]:
    return tuple(Param(n, P.BOOL) for n in names)


ORGANIZATION = ConfigKind(
    ORGANIZATION_CONFIG,
    settable=(
        *_bools(
            "AuditDisabled",
            "OAuth2ClientProfileEnabled",
            "SmtpActionableMessagesEnabled",
            "ActivityBasedAuthenticationTimeoutEnabled",
            "AppsForOfficeEnabled",
            "BookingsEnabled",
            "ConnectorsEnabled",
            "CustomerLockboxEnabled",
            "ElcProcessingDisabled",
            "FocusedInboxOn",
            "MailTipsAllTipsEnabled",
            "MailTipsExternalRecipientsTipsEnabled",
            "MailTipsGroupMetricsEnabled",
            "MailTipsMailboxSourcedTipsEnabled",
            "ReadTrackingEnabled",
            "SendFromAliasEnabled",
            "WebPushNotificationsDisabled",
        ),
        Param("DefaultAuthenticationPolicy", P.STRING, nullable=True, max_length=64),
        Param("ActivityBasedAuthenticationTimeoutInterval", P.STRING, validate=_timespan(5 * 60, 8 * 3600)),
        Param(
            "EwsApplicationAccessPolicy", P.ENUM, enum=("EnforceAllowList", "EnforceBlockList"), nullable=True
        ),
        Param("MailTipsLargeAudienceThreshold", P.INT, min_value=0, max_value=2_147_483_647),
        Param("PublicFoldersEnabled", P.ENUM, enum=("Local", "Remote", "None")),
    ),
)

ADMIN_AUDIT_LOG = ConfigKind(
    ADMIN_AUDIT_LOG_CONFIG,
    settable=(
        Param("UnifiedAuditLogIngestionEnabled", P.BOOL),
        Param("AdminAuditLogAgeLimit", P.STRING, validate=_timespan(0, 24855 * 86400)),
        Param("AdminAuditLogCmdlets", P.STRING_LIST, max_length=128),
        Param("AdminAuditLogParameters", P.STRING_LIST, max_length=128),
        Param("AdminAuditLogExcludedCmdlets", P.STRING_LIST, max_length=128),
        Param("LogLevel", P.ENUM, enum=("None", "Verbose")),
        Param("TestCmdletLoggingEnabled", P.BOOL),
    ),
)

_MAX_MESSAGE_SIZE = 150 * 1024 * 1024  # Exchange Online's ceiling for messages

TRANSPORT = ConfigKind(
    TRANSPORT_CONFIG,
    settable=(
        *_bools(
            "SmtpClientAuthenticationDisabled",
            "AddressBookPolicyRoutingEnabled",
            "AllowLegacyTLSClients",
            "ClearCategories",
            "ConvertDisclaimerWrapperToEml",
            "ReplyAllStormProtectionEnabled",
            "Rfc2231EncodingEnabled",
            "VoicemailJournalingEnabled",
        ),
        Param("MaxSendSize", P.SIZE, validate=_size(_MAX_MESSAGE_SIZE)),
        Param("MaxReceiveSize", P.SIZE, validate=_size(_MAX_MESSAGE_SIZE)),
        Param("MaxRecipientEnvelopeLimit", P.STRING, validate=_recipient_limit),
        Param("ExternalPostmasterAddress", P.SMTP, nullable=True),
        Param("HeaderPromotionModeSetting", P.ENUM, enum=("MustCreate", "MayCreate", "NoCreate")),
        Param("InternalSMTPServers", P.STRING_LIST, nullable=True),
        Param("MessageExpiration", P.STRING, validate=_timespan(12 * 3600, 24 * 3600)),
        Param("ReplyAllStormDetectionMinimumRecipients", P.INT, min_value=1000, max_value=5000),
        Param("ReplyAllStormDetectionMinimumReplies", P.INT, min_value=5, max_value=20),
        Param("ReplyAllStormBlockDurationHours", P.INT, min_value=1, max_value=12),
    ),
    items={"InternalSMTPServers": _ip},
)

REMOTE = ConfigKind(
    REMOTE_DOMAIN,
    settable=(
        *_bools(
            "AutoForwardEnabled",
            "AutoReplyEnabled",
            "DeliveryReportEnabled",
            "DisplaySenderName",
            "IsInternal",
            "MeetingForwardNotificationEnabled",
            "NDREnabled",
            "NDRDiagnosticInfoEnabled",
            "TrustedMailInboundEnabled",
            "TrustedMailOutboundEnabled",
            "UseSimpleDisplayName",
        ),
        Param("AllowedOOFType", P.ENUM, enum=("External", "ExternalLegacy", "InternalLegacy", "None")),
        # $null: follow the organization's TNEF setting.
        Param("TNEFEnabled", P.BOOL, nullable=True),
        Param("CharacterSet", P.STRING, nullable=True, validate=_charset),
        Param("NonMimeCharacterSet", P.STRING, nullable=True, validate=_charset),
        Param("ContentType", P.ENUM, enum=("MimeHtmlText", "MimeText", "MimeHtml")),
    ),
    unique=("DomainName",),
    protected={"default": "it is the built-in remote domain that applies to every other domain"},
)

ACCEPTED = ConfigKind(ACCEPTED_DOMAIN)

SHARING = ConfigKind(
    SHARING_POLICY,
    settable=(Param("Domains", P.STRING_LIST, max_length=300), Param("Enabled", P.BOOL)),
    items={"Domains": _sharing_entry},
    derive=_sharing_domains_unique,
)

DKIM = ConfigKind(
    DKIM_SIGNING_CONFIG,
    settable=(
        Param("Enabled", P.BOOL),
        Param("BodyCanonicalization", P.ENUM, enum=("Relaxed", "Simple")),
        Param("HeaderCanonicalization", P.ENUM, enum=("Relaxed", "Simple")),
    ),
    derive=_dkim_status,
)

_SCOPES = ("InOrganization", "NotInOrganization", "ExternalPartner", "ExternalNonPartner")
_ADDRESS_LISTS = ("From", "SentTo", "RedirectMessageTo", "BlindCopyTo", "AddToRecipients")

RULE = ConfigKind(
    TRANSPORT_RULE,
    settable=(
        Param("Mode", P.ENUM, enum=("Enforce", "Audit", "AuditAndNotify")),
        Param("Comments", P.STRING, nullable=True, max_length=1024),
        Param("From", P.STRING_LIST, nullable=True),
        Param("FromScope", P.ENUM, enum=("InOrganization", "NotInOrganization"), nullable=True),
        Param("SentTo", P.STRING_LIST, nullable=True),
        Param("SentToScope", P.ENUM, enum=_SCOPES, nullable=True),
        Param("SubjectContainsWords", P.STRING_LIST, nullable=True, max_length=128),
        Param("RedirectMessageTo", P.STRING_LIST, nullable=True),
        Param("BlindCopyTo", P.STRING_LIST, nullable=True),
        Param("AddToRecipients", P.STRING_LIST, nullable=True),
        Param("DeleteMessage", P.BOOL),
        Param("RejectMessageReasonText", P.STRING, nullable=True, max_length=1024),
        Param("SetSCL", P.INT, nullable=True, min_value=-1, max_value=9),
        Param("StopRuleProcessing", P.BOOL),
        Param("SenderAddressLocation", P.ENUM, enum=("Header", "Envelope", "HeaderOrEnvelope")),
    ),
    items=dict.fromkeys(_ADDRESS_LISTS, _smtp),
    ordered=True,
)


def _remote_domain_initial(inv: Invocation) -> tuple[str, dict[str, Any]]:
    try:
        domain = _domain(inv.get("DomainName"))
    except ValueError as exc:
        raise ParameterBindingError("DomainName", str(exc)) from None
    # New remote domains get Exchange's parameter defaults (automatic forwarding allowed); only the
    # built-in Default domain is seeded locked down.
    return inv.get("Name").strip(), remote_domain_defaults(domain, auto_forward=True)


def _transport_rule_initial(inv: Invocation) -> tuple[str, dict[str, Any]]:
    props: dict[str, Any] = {p.name: None for p in RULE.settable}
    props.update(
        {
            "State": "Enabled" if inv.get("Enabled", True) else "Disabled",
            "Mode": "Enforce",
            "DeleteMessage": False,
            "StopRuleProcessing": False,
            "SenderAddressLocation": "Header",
            "RuleErrorAction": "Ignore",
        }
    )
    return inv.get("Name").strip(), props


def _dkim_initial(inv: Invocation) -> tuple[str, dict[str, Any]]:
    domain = inv.get("DomainName").strip().lower()
    if find_config_object(inv.session, inv.tenant.id, ACCEPTED_DOMAIN, domain) is None:
        raise ParameterBindingError(
            "DomainName", f"'{domain}' is not an accepted domain of this organization."
        )
    props = dkim_defaults(
        domain,
        inv.tenant.initial_domain,
        inv.now(),
        enabled=inv.get("Enabled"),
        key_size=inv.get("KeySize", 2048),
    )
    return domain, props


# --- inbox rules --------------------------------------------------------------------------------------------

_INBOX_ADDRESS_LISTS = ("From", "ForwardTo", "ForwardAsAttachmentTo", "RedirectTo")
_INBOX_PARAMS = (
    *(Param(n, P.STRING_LIST, nullable=True) for n in _INBOX_ADDRESS_LISTS),
    Param("SubjectContainsWords", P.STRING_LIST, nullable=True, max_length=255),
    Param("DeleteMessage", P.BOOL),
    Param("MoveToFolder", P.STRING, nullable=True, max_length=255),
    Param("MarkAsRead", P.BOOL),
    Param("StopProcessingRules", P.BOOL),
)


def _mailbox(inv: Invocation, identity: str, parameter: str) -> Recipient:
    return resolve_recipient(inv.session, inv.tenant.id, identity, types=MAILBOX_TYPES, parameter=parameter)


def _address_check(inv: Invocation) -> ItemCheck:
    """Addresses stay as given; a recipient's name or alias becomes its primary SMTP address."""

    def check(value: str) -> str:
        text = value.strip().removeprefix("smtp:").removeprefix("SMTP:")
        if is_valid_smtp(text):
            return text
        matches = try_resolve_recipient(inv.session, inv.tenant.id, text)
        if len(matches) == 1 and matches[0].primary_smtp_address:
            return matches[0].primary_smtp_address
        raise ValueError(f"'{value}' is neither an SMTP address nor a single recipient of this organization")

    return check


def _inbox_props(inv: Invocation, current: dict[str, Any]) -> dict[str, Any]:
    check = _address_check(inv)
    return _apply(inv, _INBOX_PARAMS, dict.fromkeys(_INBOX_ADDRESS_LISTS, check), current)


def _ensure_rule_name_free(inv: Invocation, mailbox: Recipient, name: str, exclude_id: int | None) -> None:
    for rule in mailbox_inbox_rules(inv.session, inv.tenant.id, mailbox.id):
        if rule.id != exclude_id and rule.name.lower() == name.lower():
            raise DuplicateObjectError(
                f"An inbox rule with the name '{name}' already exists in mailbox '{mailbox.name}'."
            )


def _find_rule(inv: Invocation) -> tuple[InboxRule, Recipient]:
    identity: str = inv.get("Identity")
    mailbox_part, rule_part = split_rule_identity(identity)
    mailbox: Recipient | None = None
    if mailbox_part:
        mailbox = _mailbox(inv, mailbox_part, "Identity")
    elif inv.has("Mailbox"):
        mailbox = _mailbox(inv, inv.get("Mailbox"), "Mailbox")
    rules = find_inbox_rules(inv.session, inv.tenant.id, rule_part, mailbox.id if mailbox else None)
    exact = [r for r in rules if r.rule_id == rule_part]
    rules = exact or rules
    if not rules:
        raise not_found(identity, inv.tenant.initial_domain)
    owner = mailbox or inv.session.get(Recipient, rules[0].mailbox_id)
    assert owner is not None  # the foreign key guarantees it
    if len(rules) > 1:
        owners = serialize_inbox_rules(inv.session, rules)
        raise AmbiguousIdentityError(identity, [f"{r['Name']} ({r['Identity']})" for r in owners])
    return rules[0], owner


def get_inbox_rules(inv: Invocation) -> Listing:
    stmt = inbox_rule_query(inv.tenant.id)
    if inv.has("Identity"):
        rule, _owner = _find_rule(inv)
        stmt = stmt.where(InboxRule.id == rule.id)
    elif inv.has("Mailbox"):
        stmt = stmt.where(InboxRule.mailbox_id == _mailbox(inv, inv.get("Mailbox"), "Mailbox").id)
    return Listing(stmt, InboxRule.id, serialize_inbox_rules)


def new_inbox_rule(inv: Invocation) -> dict[str, Any]:
    mailbox = _mailbox(inv, inv.get("Mailbox"), "Mailbox")
    name = inv.get("Name").strip()
    _ensure_rule_name_free(inv, mailbox, name, None)
    siblings = mailbox_inbox_rules(inv.session, inv.tenant.id, mailbox.id)
    rule = InboxRule(
        tenant_id=inv.tenant.id,
        mailbox_id=mailbox.id,
        rule_id=new_rule_id(),
        name=name,
        enabled=inv.get("Enabled", True),
        priority=INBOX_RULE_BASE_PRIORITY + len(siblings),
        props=_inbox_props(inv, dict(INBOX_RULE_ACTIONS)),
        when_changed=inv.now(),
    )
    inv.session.add(rule)
    _place(siblings, rule, inv.get("Priority"), base=INBOX_RULE_BASE_PRIORITY)
    inv.session.flush()
    return serialize_inbox_rule(rule, mailbox.name)


def set_inbox_rule(inv: Invocation) -> None:
    rule, owner = _find_rule(inv)
    changed = False
    if inv.has("Name") and inv.get("Name").strip() != rule.name:
        _ensure_rule_name_free(inv, owner, inv.get("Name").strip(), rule.id)
        rule.name = inv.get("Name").strip()
        changed = True
    if inv.has("Enabled") and inv.get("Enabled") != rule.enabled:
        rule.enabled = inv.get("Enabled")
        changed = True
    if inv.has("Priority"):
        before = rule.priority
        siblings = [r for r in mailbox_inbox_rules(inv.session, inv.tenant.id, owner.id) if r.id != rule.id]
        _place(siblings, rule, inv.get("Priority"), base=INBOX_RULE_BASE_PRIORITY)
        changed = changed or rule.priority != before
    props = _inbox_props(inv, rule.props)
    if props != rule.props:
        rule.props = props
        changed = True
    if changed:
        rule.when_changed = inv.now()


def remove_inbox_rule(inv: Invocation) -> None:
    rule, owner = _find_rule(inv)
    inv.session.delete(rule)
    inv.session.flush()
    renumber(mailbox_inbox_rules(inv.session, inv.tenant.id, owner.id), base=INBOX_RULE_BASE_PRIORITY)


# --- mailbox audit bypass associations ----------------------------------------------------------------------


def _bypass_view(recipient: Recipient, row: ConfigObject | None) -> dict[str, Any]:
    source: ConfigObject | Recipient = row if row is not None else recipient
    changed, created = iso(source.when_changed), iso(source.when_created)
    return {
        "Identity": recipient.name,
        "Name": recipient.name,
        "AuditBypassEnabled": bool(row.props.get("AuditBypassEnabled")) if row is not None else False,
        "Guid": recipient.guid,
        "WhenChanged": changed,
        "WhenCreated": created,
        "WhenChangedUTC": changed,
        "WhenCreatedUTC": created,
    }


def _serialize_bypass(session: Session, rows: list[Any]) -> list[dict[str, Any]]:
    if not rows:
        return []
    recipients = {
        r.guid: r
        for r in session.scalars(
            select(Recipient).where(
                Recipient.tenant_id == rows[0].tenant_id, Recipient.guid.in_([row.name for row in rows])
            )
        )
    }
    return [_bypass_view(recipients[row.name], row) for row in rows if row.name in recipients]


def get_bypass(inv: Invocation) -> Listing | dict[str, Any]:
    if inv.has("Identity"):
        recipient = resolve_recipient(inv.session, inv.tenant.id, inv.get("Identity"))
        row = find_config_object(inv.session, inv.tenant.id, MAILBOX_AUDIT_BYPASS_ASSOCIATION, recipient.guid)
        return _bypass_view(recipient, row)
    # Associations of removed recipients are left behind by the recipient's removal; the join hides them.
    stmt = config_query(inv.tenant.id, MAILBOX_AUDIT_BYPASS_ASSOCIATION).join(
        Recipient, and_(Recipient.tenant_id == ConfigObject.tenant_id, Recipient.guid == ConfigObject.name)
    )
    return Listing(stmt, ConfigObject.id, _serialize_bypass)


def set_bypass(inv: Invocation) -> None:
    recipient = resolve_recipient(inv.session, inv.tenant.id, inv.get("Identity"))
    enabled = bool(inv.get("AuditBypassEnabled"))
    row = find_config_object(inv.session, inv.tenant.id, MAILBOX_AUDIT_BYPASS_ASSOCIATION, recipient.guid)
    if row is None:
        create_config_object(
            inv.session,
            inv.tenant.id,
            MAILBOX_AUDIT_BYPASS_ASSOCIATION,
            recipient.guid,
            {"AuditBypassEnabled": enabled},
            inv.now(),
        )
    else:
        update_config_object(row, {**row.props, "AuditBypassEnabled": enabled}, inv.now())


# --- declarations -------------------------------------------------------------------------------------------

_IDENTITY = Param("Identity", P.IDENTITY, mandatory=True, position=0)
_OPTIONAL_IDENTITY = Param("Identity", P.IDENTITY, position=0)


def _singleton_specs(noun: str, kind: ConfigKind, description: str) -> tuple[CmdletSpec, ...]:
    return (
        CmdletSpec(
            f"Get-{noun}",
            (_OPTIONAL_IDENTITY,),
            get_singleton(kind),
            writes=False,
            object_type=noun,
            description=f"Shows the {description}.",
        ),
        CmdletSpec(
            f"Set-{noun}",
            (_OPTIONAL_IDENTITY, *kind.settable),
            set_singleton(kind),
            writes=True,
            object_type=noun,
            description=f"Changes the {description}.",
        ),
    )


def _get_spec(noun: str, kind: ConfigKind, what: str) -> CmdletSpec:
    return CmdletSpec(
        f"Get-{noun}",
        (_OPTIONAL_IDENTITY,),
        get_objects(kind),
        writes=False,
        object_type=noun,
        description=f"Lists {what}.",
        pageable=True,
    )


_NAME = Param("Name", P.STRING, mandatory=True, max_length=64)
_RENAME = Param("Name", P.STRING, max_length=64)
_PRIORITY = Param("Priority", P.INT, min_value=0)
_INBOX_PRIORITY = Param("Priority", P.INT, min_value=INBOX_RULE_BASE_PRIORITY)

ORG_CMDLETS: tuple[CmdletSpec, ...] = (
    *_singleton_specs("OrganizationConfig", ORGANIZATION, "organization-wide settings"),
    *_singleton_specs("AdminAuditLogConfig", ADMIN_AUDIT_LOG, "administrator audit logging settings"),
    *_singleton_specs("TransportConfig", TRANSPORT, "organization-wide transport settings"),
    # Remote domains
    _get_spec("RemoteDomain", REMOTE, "remote domains (message format and forwarding settings per domain)"),
    CmdletSpec(
        "New-RemoteDomain",
        (_NAME, Param("DomainName", P.STRING, mandatory=True, max_length=255)),
        new_object(REMOTE, _remote_domain_initial),
        writes=True,
        object_type="RemoteDomain",
        description="Creates a remote domain; change its settings with Set-RemoteDomain.",
    ),
    CmdletSpec(
        "Set-RemoteDomain",
        (_IDENTITY, _RENAME, *REMOTE.settable),
        set_object(REMOTE),
        writes=True,
        object_type="RemoteDomain",
        description="Changes a remote domain.",
    ),
    CmdletSpec(
        "Remove-RemoteDomain",
        (_IDENTITY,),
        remove_object(REMOTE),
        writes=True,
        object_type="RemoteDomain",
        description="Removes a remote domain (not the built-in Default).",
    ),
    # Transport rules
    _get_spec("TransportRule", RULE, "transport (mail flow) rules"),
    CmdletSpec(
        "New-TransportRule",
        (_NAME, _PRIORITY, Param("Enabled", P.BOOL), *RULE.settable),
        new_object(RULE, _transport_rule_initial),
        writes=True,
        object_type="TransportRule",
        description="Creates a transport rule; by default it is enabled and placed last.",
    ),
    CmdletSpec(
        "Set-TransportRule",
        (_IDENTITY, _RENAME, _PRIORITY, *RULE.settable),
        set_object(RULE),
        writes=True,
        object_type="TransportRule",
        description="Changes a transport rule; a new Priority shifts the others.",
    ),
    CmdletSpec(
        "Remove-TransportRule",
        (_IDENTITY,),
        remove_object(RULE),
        writes=True,
        object_type="TransportRule",
        description="Removes a transport rule.",
    ),
    CmdletSpec(
        "Enable-TransportRule",
        (_IDENTITY,),
        set_fixed(RULE, {"State": "Enabled"}),
        writes=True,
        object_type="TransportRule",
        description="Enables a transport rule.",
    ),
    CmdletSpec(
        "Disable-TransportRule",
        (_IDENTITY,),
        set_fixed(RULE, {"State": "Disabled"}),
        writes=True,
        object_type="TransportRule",
        description="Disables a transport rule.",
    ),
    # Inbox rules
    CmdletSpec(
        "Get-InboxRule",
        (_OPTIONAL_IDENTITY, Param("Mailbox", P.IDENTITY)),
        get_inbox_rules,
        writes=False,
        object_type="InboxRule",
        pageable=True,
        description="Lists the inbox rules of a mailbox, or of every mailbox when -Mailbox is omitted.",
    ),
    CmdletSpec(
        "New-InboxRule",
        (
            Param("Name", P.STRING, mandatory=True, max_length=256),
            Param("Mailbox", P.IDENTITY, mandatory=True),
            Param("Enabled", P.BOOL),
            _INBOX_PRIORITY,
            *_INBOX_PARAMS,
        ),
        new_inbox_rule,
        writes=True,
        object_type="InboxRule",
        description="Creates an inbox rule in a mailbox; by default it is enabled and runs last.",
    ),
    CmdletSpec(
        "Set-InboxRule",
        (
            _IDENTITY,
            Param("Mailbox", P.IDENTITY),
            Param("Name", P.STRING, max_length=256),
            Param("Enabled", P.BOOL),
            _INBOX_PRIORITY,
            *_INBOX_PARAMS,
        ),
        set_inbox_rule,
        writes=True,
        object_type="InboxRule",
        description="Changes an inbox rule.",
    ),
    CmdletSpec(
        "Remove-InboxRule",
        (_IDENTITY, Param("Mailbox", P.IDENTITY)),
        remove_inbox_rule,
        writes=True,
        object_type="InboxRule",
        description="Removes an inbox rule.",
    ),
    # DKIM
    _get_spec("DkimSigningConfig", DKIM, "DKIM signing configurations, one per domain"),
    CmdletSpec(
        "New-DkimSigningConfig",
        (
            Param("DomainName", P.STRING, mandatory=True, max_length=255),
            Param("Enabled", P.BOOL, mandatory=True),
            Param("KeySize", P.INT, validate=_key_size),
            *DKIM.settable[1:],
        ),
        new_object(DKIM, _dkim_initial),
        writes=True,
        object_type="DkimSigningConfig",
        description="Creates the DKIM signing configuration of an accepted domain.",
    ),
    CmdletSpec(
        "Set-DkimSigningConfig",
        (_IDENTITY, *DKIM.settable),
        set_object(DKIM),
        writes=True,
        object_type="DkimSigningConfig",
        description="Enables or disables DKIM signing for a domain.",
    ),
    _get_spec("AcceptedDomain", ACCEPTED, "the domains the organization accepts mail for"),
    # Sharing policies
    _get_spec("SharingPolicy", SHARING, "sharing policies (calendar and contact sharing with other domains)"),
    CmdletSpec(
        "Set-SharingPolicy",
        (_IDENTITY, _RENAME, *SHARING.settable),
        set_object(SHARING),
        writes=True,
        object_type="SharingPolicy",
        description="Changes a sharing policy.",
    ),
    # Mailbox audit bypass
    CmdletSpec(
        "Get-MailboxAuditBypassAssociation",
        (_OPTIONAL_IDENTITY,),
        get_bypass,
        writes=False,
        object_type="MailboxAuditBypassAssociation",
        pageable=True,
        description="Shows whether accounts bypass mailbox audit logging.",
    ),
    CmdletSpec(
        "Set-MailboxAuditBypassAssociation",
        (_IDENTITY, Param("AuditBypassEnabled", P.BOOL, mandatory=True)),
        set_bypass,
        writes=True,
        object_type="MailboxAuditBypassAssociation",
        description="Lets an account's mailbox access bypass mailbox audit logging, or stops it.",
    ),
)
