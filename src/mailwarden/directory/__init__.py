"""The directory: recipients and organization configuration objects with Exchange's behaviours."""

from ._addresses import accepted_domains, address_key, default_domain, load_addresses, make_alias
from ._config_seed import seed_org_config
from ._fields import (
    GROUP_FIELDS,
    MAIL_CONTACT_FIELDS,
    MAIL_USER_FIELDS,
    MAILBOX_FIELDS,
    USER_FIELDS,
    Field,
)
from ._recipients import (
    apply_fields,
    change_addresses,
    change_external_address,
    create_recipient,
    ensure_name_free,
    remove_recipient,
    rename_recipient,
)
from ._resolve import not_found, resolve_recipient, try_resolve_recipient
from ._tenants import create_tenant, find_tenant
from ._types import CONTACT_TYPES, GROUP_TYPES, MAIL_USER_TYPES, MAILBOX_TYPES, RECIPIENT_TYPE, USER_TYPES
from ._views import (
    RECIPIENT_PROPERTIES,
    cas_view,
    format_size,
    group_view,
    iso,
    mail_contact_view,
    mail_user_view,
    mailbox_statistics_view,
    mailbox_view,
    property_map_for,
    recipient_view,
    user_view,
)

__all__ = [
    "CONTACT_TYPES",
    "GROUP_FIELDS",
    "GROUP_TYPES",
    "MAILBOX_FIELDS",
    "MAILBOX_TYPES",
    "MAIL_CONTACT_FIELDS",
    "MAIL_USER_FIELDS",
    "MAIL_USER_TYPES",
    "RECIPIENT_PROPERTIES",
    "RECIPIENT_TYPE",
    "USER_FIELDS",
    "USER_TYPES",
    "Field",
    "accepted_domains",
    "address_key",
    "apply_fields",
    "cas_view",
    "change_addresses",
    "change_external_address",
    "create_recipient",
    "create_tenant",
    "default_domain",
    "ensure_name_free",
    "find_tenant",
    "format_size",
    "group_view",
    "iso",
    "load_addresses",
    "mail_contact_view",
    "mail_user_view",
    "mailbox_statistics_view",
    "mailbox_view",
    "make_alias",
    "not_found",
    "property_map_for",
    "recipient_view",
    "remove_recipient",
    "rename_recipient",
    "resolve_recipient",
    "seed_org_config",
    "try_resolve_recipient",
    "user_view",
]
