"""The organization configuration a new tenant starts with: Microsoft's defaults, Exchange property names.

``seed_org_config`` creates the singletons (OrganizationConfig, AdminAuditLogConfig, TransportConfig) and the
built-in objects (the "Default" remote domain, the initial accepted domain, the "Default Sharing Policy" and
the initial domain's DKIM configuration). The per-object defaults are functions because New-RemoteDomain and
New-DkimSigningConfig create objects with the same defaults later.

Where Microsoft's default is insecure and has since been changed for new tenants we seed the current, secure
value (the Default remote domain does not allow automatic forwarding).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store import ConfigObject
from ._config_objects import (
    ACCEPTED_DOMAIN,
    ADMIN_AUDIT_LOG_CONFIG,
    DKIM_SIGNING_CONFIG,
    ORGANIZATION_CONFIG,
    REMOTE_DOMAIN,
    SHARING_POLICY,
    TRANSPORT_CONFIG,
    new_config_object,
)
from ._views import format_size, iso

__all__ = [
    "ADMIN_AUDIT_LOG_NAME",
    "DEFAULT_REMOTE_DOMAIN",
    "DEFAULT_SHARING_POLICY",
    "TRANSPORT_CONFIG_NAME",
    "dkim_defaults",
    "remote_domain_defaults",
    "seed_org_config",
]

ADMIN_AUDIT_LOG_NAME = "Admin Audit Log Settings"
TRANSPORT_CONFIG_NAME = "Transport Settings"
DEFAULT_REMOTE_DOMAIN = "Default"
DEFAULT_SHARING_POLICY = "Default Sharing Policy"


def _organization_config() -> dict[str, Any]:
    return {
        "AuditDisabled": False,
        "DefaultAuthenticationPolicy": None,
        "OAuth2ClientProfileEnabled": True,
        "SmtpActionableMessagesEnabled": True,
        "ActivityBasedAuthenticationTimeoutEnabled": True,
        "ActivityBasedAuthenticationTimeoutInterval": "06:00:00",
        "AppsForOfficeEnabled": True,
        "AutoExpandingArchiveEnabled": False,
        "BookingsEnabled": True,
        "ConnectorsEnabled": True,
        "CustomerLockboxEnabled": False,
        "ElcProcessingDisabled": False,
        "EwsApplicationAccessPolicy": None,
        "FocusedInboxOn": True,
        "IsDehydrated": False,
        "MailTipsAllTipsEnabled": True,
        "MailTipsExternalRecipientsTipsEnabled": False,
        "MailTipsGroupMetricsEnabled": True,
        "MailTipsLargeAudienceThreshold": 25,
        "MailTipsMailboxSourcedTipsEnabled": True,
        "PublicFoldersEnabled": "Local",
        "ReadTrackingEnabled": False,
        "SendFromAliasEnabled": False,
        "WebPushNotificationsDisabled": False,
    }


def _admin_audit_log_config() -> dict[str, Any]:
    return {
        "AdminAuditLogEnabled": True,
        "UnifiedAuditLogIngestionEnabled": True,
        "AdminAuditLogAgeLimit": "90.00:00:00",
        "AdminAuditLogCmdlets": ["*"],
        "AdminAuditLogParameters": ["*"],
        "AdminAuditLogExcludedCmdlets": [],
        "LogLevel": "None",
        "TestCmdletLoggingEnabled": False,
    }


def _transport_config() -> dict[str, Any]:
    return {
        "SmtpClientAuthenticationDisabled": True,
        "MaxSendSize": format_size(35 * 1024 * 1024),
        "MaxReceiveSize": format_size(36 * 1024 * 1024),
        "MaxRecipientEnvelopeLimit": 500,
        "ExternalPostmasterAddress": None,
        "AddressBookPolicyRoutingEnabled": False,
        "AllowLegacyTLSClients": False,
        "ClearCategories": True,
        "ConvertDisclaimerWrapperToEml": False,
        "DSNConversionMode": "UseExchangeDSNs",
        "HeaderPromotionModeSetting": "NoCreate",
        "InternalSMTPServers": [],
        "MessageExpiration": "1.00:00:00",
        "ReplyAllStormProtectionEnabled": True,
        "ReplyAllStormDetectionMinimumRecipients": 2500,
        "ReplyAllStormDetectionMinimumReplies": 10,
        "ReplyAllStormBlockDurationHours": 6,
        "Rfc2231EncodingEnabled": False,
        "VoicemailJournalingEnabled": True,
    }


def remote_domain_defaults(domain_name: str, *, auto_forward: bool) -> dict[str, Any]:
    """A remote domain as New-RemoteDomain creates it (``auto_forward`` differs for the built-in one)."""
    return {
        "DomainName": domain_name,
        "IsInternal": False,
        "AllowedOOFType": "External",
        "AutoForwardEnabled": auto_forward,
        "AutoReplyEnabled": True,
        "DeliveryReportEnabled": True,
        "DisplaySenderName": True,
        "MeetingForwardNotificationEnabled": False,
        "NDREnabled": True,
        "NDRDiagnosticInfoEnabled": True,
        "TNEFEnabled": None,
        "TrustedMailInboundEnabled": False,
        "TrustedMailOutboundEnabled": False,
        "UseSimpleDisplayName": False,
        "CharacterSet": "iso-8859-1",
        "NonMimeCharacterSet": "iso-8859-1",
        "ContentType": "MimeHtmlText",
        "LineWrapSize": "Unlimited",
    }


def dkim_defaults(
    domain: str, initial_domain: str, now: datetime, *, enabled: bool, key_size: int
) -> dict[str, Any]:
    """A DKIM signing configuration. The selector CNAME targets live under the tenant's initial domain,
    which is what the admin publishes in the custom domain's DNS before enabling signing."""
    label = domain.lower().replace(".", "-")
    timestamp = iso(now)
    return {
        "Domain": domain.lower(),
        "Enabled": enabled,
        "Status": "Valid" if enabled else "CnameMissing",
        "Algorithm": "RSA",
        "BodyCanonicalization": "Relaxed",
        "HeaderCanonicalization": "Relaxed",
        "Selector1CNAME": f"selector1-{label}._domainkey.{initial_domain.lower()}",
        "Selector2CNAME": f"selector2-{label}._domainkey.{initial_domain.lower()}",
        "Selector1KeySize": key_size,
        "Selector2KeySize": key_size,
        "SelectorBeforeRotateOnDate": "selector2",
        "SelectorAfterRotateOnDate": "selector1",
        "KeyCreationTime": timestamp,
        "RotateOnDate": timestamp,
        "LastChecked": timestamp,
    }


def seed_org_config(session: Session, tenant_id: str, initial_domain: str, now: datetime) -> None:
    """Create the tenant's configuration objects; objects that already exist are left as they are, so seeding
    twice is harmless."""
    domain = initial_domain.strip().lower()
    seeds: list[tuple[str, str, dict[str, Any]]] = [
        (ORGANIZATION_CONFIG, domain.split(".", 1)[0], _organization_config()),
        (ADMIN_AUDIT_LOG_CONFIG, ADMIN_AUDIT_LOG_NAME, _admin_audit_log_config()),
        (TRANSPORT_CONFIG, TRANSPORT_CONFIG_NAME, _transport_config()),
        (REMOTE_DOMAIN, DEFAULT_REMOTE_DOMAIN, remote_domain_defaults("*", auto_forward=False)),
        (
            ACCEPTED_DOMAIN,
            domain,
            {"DomainName": domain, "DomainType": "Authoritative", "Default": True, "InitialDomain": True},
        ),
        (
            SHARING_POLICY,
            DEFAULT_SHARING_POLICY,
            {
                "Domains": ["Anonymous:CalendarSharingFreeBusyReviewer", "*:CalendarSharingFreeBusySimple"],
                "Enabled": True,
                "Default": True,
            },
        ),
        (DKIM_SIGNING_CONFIG, domain, dkim_defaults(domain, domain, now, enabled=False, key_size=2048)),
    ]
    # One read of what exists and one flush for what is missing (not a lookup and a flush per object):
    # every tenant creation runs this.
    existing = {
        (kind, name.lower())
        for kind, name in session.execute(
            select(ConfigObject.kind, ConfigObject.name).where(
                ConfigObject.tenant_id == tenant_id, ConfigObject.kind.in_({kind for kind, _, _ in seeds})
            )
        )
    }
    for kind, name, props in seeds:
        if (kind, name.lower()) not in existing:
            session.add(new_config_object(tenant_id, kind, name, props, now))
    session.flush()
