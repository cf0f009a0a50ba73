"""Scenario data for the per-cmdlet HTTP tests: for every cmdlet of the registry, what to create first, a
valid call, and how its effect shows through the matching Get-* cmdlet. A plain module (not a conftest) so
both ``test_cmdlets_http.py`` and ``test_tenant_isolation.py`` can import it.

Strings may contain ``{domain}``: it is replaced by the tenant's initial domain before use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from mailwarden.clock import FakeClock, utcnow
from mailwarden.directory._config_objects import create_config_object
from mailwarden.store import Base, Database

__all__ = [
    "EXTRA_DOMAIN",
    "IDENTITY_PARAMS",
    "SCENARIOS",
    "Scenario",
    "Step",
    "pam_request",
    "partial_match",
    "render",
    "table_snapshot",
]

# A setup step: a cmdlet call, or a function run against the database (for what no cmdlet can create).
DbStep = Callable[[Database, str, FakeClock], None]
Step = tuple[str, dict[str, Any]] | DbStep

# Parameters that name an existing object (unknown value → 404).
# RBAC: -SecurityGroup names a role group (New-ManagementRoleAssignment), -RequestId a PAM request.
IDENTITY_PARAMS = (
    "Identity",
    "Mailbox",
    "Member",
    "User",
    "Trustee",
    "Manager",
    "SecurityGroup",
    "RequestId",
)

EXTRA_DOMAIN = "contoso.example"


def add_accepted_domain(db: Database, tenant_id: str, clock: FakeClock) -> None:
    """A second accepted domain without a DKIM signing config (there is no New-AcceptedDomain cmdlet)."""
    with db.unit_of_work() as uow:
        create_config_object(
            uow.session,
            tenant_id,
            "AcceptedDomain",
            EXTRA_DOMAIN,
            {
                "DomainName": EXTRA_DOMAIN,
                "DomainType": "Authoritative",
                "Default": False,
                "InitialDomain": False,
            },
            utcnow(clock),
        )


ADA: Step = ("New-Mailbox", {"Name": "Ada Lovelace", "Alias": "ada"})
BOB: Step = ("New-Mailbox", {"Name": "Bob Builder", "Alias": "bob"})
TEAM: Step = ("New-DistributionGroup", {"Name": "Team", "Alias": "team", "Members": ["ada"]})
CARL: Step = (
    "New-MailContact",
    {"Name": "Carl", "Alias": "carl", "ExternalEmailAddress": "carl@fabrikam.com"},
)
DORA: Step = ("New-MailUser", {"Name": "Dora", "Alias": "dora", "ExternalEmailAddress": "dora@fabrikam.com"})
RULE: Step = ("New-InboxRule", {"Name": "Archive", "Mailbox": "ada", "MoveToFolder": "Archive"})
TRULE: Step = ("New-TransportRule", {"Name": "Block spam", "SubjectContainsWords": ["spam"]})
REMOTE: Step = ("New-RemoteDomain", {"Name": "Fabrikam", "DomainName": "fabrikam.com"})
FULL: Step = ("Add-MailboxPermission", {"Identity": "ada", "User": "bob", "AccessRights": ["FullAccess"]})
SENDAS: Step = ("Add-RecipientPermission", {"Identity": "ada", "Trustee": "bob", "AccessRights": ["SendAs"]})


@dataclass(frozen=True)
class Scenario:
    params: dict[str, Any]
    setup: tuple[Step, ...] = ()
    # Get-*: the call's own value, matched element by element (same length, listed keys equal).
    returns: list[dict[str, Any]] | None = None
    # The Get-* call that shows the object the cmdlet creates/changes/removes.
    get: tuple[str, dict[str, Any]] | None = None
    # New-*/Set-*/Enable-*/Disable-*: property values the object shows afterwards. For Set-*, no other
    # property may differ except WhenChanged/WhenChangedUTC and ``derived``.
    expect: dict[str, Any] = field(default_factory=dict)
    derived: frozenset[str] = frozenset()
    gone: bool = False  # Remove-*: ``get`` answers 404 afterwards
    # A listing that must equal (element-wise partial match) the given list after the call.
    after: tuple[str, dict[str, Any], list[dict[str, Any]]] | None = None
    duplicate: bool = False  # a second identical call is a 409


SCENARIOS: dict[str, Scenario] = {
    # --- reads ------------------------------------------------------------------------------------------
    "Get-AcceptedDomain": Scenario(
        {"Identity": "{domain}"}, returns=[{"DomainName": "{domain}", "Default": True, "InitialDomain": True}]
    ),
    "Get-AdminAuditLogConfig": Scenario(
        {}, returns=[{"Name": "Admin Audit Log Settings", "LogLevel": "None"}]
    ),
    "Get-CASMailbox": Scenario(
        {"Identity": "ada"},
        setup=(ADA,),
        returns=[{"Name": "Ada Lovelace", "OWAEnabled": True, "PopEnabled": True, "ImapEnabled": True}],
    ),
    "Get-DistributionGroup": Scenario(
        {"Identity": "team"},
        setup=(ADA, TEAM),
        returns=[{"Name": "Team", "RecipientTypeDetails": "MailUniversalDistributionGroup"}],
    ),
    "Get-DistributionGroupMember": Scenario(
        {"Identity": "Team"}, setup=(ADA, TEAM), returns=[{"Name": "Ada Lovelace"}]
    ),
    "Get-DkimSigningConfig": Scenario(
        {"Identity": "{domain}"}, returns=[{"Name": "{domain}", "Enabled": False, "Status": "CnameMissing"}]
    ),
    "Get-InboxRule": Scenario(
        {"Mailbox": "ada"}, setup=(ADA, RULE), returns=[{"Name": "Archive", "MoveToFolder": "Archive"}]
    ),
    "Get-MailContact": Scenario(
        {"Identity": "carl"},
        setup=(CARL,),
        returns=[{"Name": "Carl", "ExternalEmailAddress": "SMTP:carl@fabrikam.com"}],
    ),
    "Get-MailUser": Scenario(
        {"Identity": "dora"}, setup=(DORA,), returns=[{"Name": "Dora", "PrimarySmtpAddress": "dora@{domain}"}]
    ),
    "Get-Mailbox": Scenario(
        {"Identity": "ada"},
        setup=(ADA, BOB),
        returns=[
            {
                "Name": "Ada Lovelace",
                "PrimarySmtpAddress": "ada@{domain}",
                "RecipientTypeDetails": "UserMailbox",
            }
        ],
    ),
    "Get-MailboxAuditBypassAssociation": Scenario(
        {"Identity": "ada"}, setup=(ADA,), returns=[{"Name": "Ada Lovelace", "AuditBypassEnabled": False}]
    ),
    "Get-MailboxPermission": Scenario(
        {"Identity": "ada"},
        setup=(ADA, BOB, FULL),
        returns=[
            {"User": "NT AUTHORITY\\SELF", "AccessRights": ["FullAccess", "ReadPermission"]},
            {"User": "bob@{domain}", "AccessRights": ["FullAccess"], "Deny": False},
        ],
    ),
    "Get-MailboxStatistics": Scenario(
        {"Identity": "ada"}, setup=(ADA,), returns=[{"DisplayName": "Ada Lovelace", "ItemCount": 0}]
    ),
    "Get-OrganizationConfig": Scenario({}, returns=[{"AuditDisabled": False, "FocusedInboxOn": True}]),
    "Get-Recipient": Scenario(
        {"Identity": "carl"},
        setup=(ADA, CARL),
        returns=[{"Name": "Carl", "RecipientType": "MailContact", "PrimarySmtpAddress": "carl@fabrikam.com"}],
    ),
    "Get-RecipientPermission": Scenario(
        {"Identity": "ada"},
        setup=(ADA, BOB, SENDAS),
        returns=[{"Identity": "Ada Lovelace", "Trustee": "bob@{domain}", "AccessRights": ["SendAs"]}],
    ),
    "Get-RemoteDomain": Scenario(
        {},
        setup=(REMOTE,),
        returns=[{"Name": "Default", "DomainName": "*"}, {"Name": "Fabrikam", "DomainName": "fabrikam.com"}],
    ),
    "Get-SharingPolicy": Scenario({}, returns=[{"Name": "Default Sharing Policy", "Enabled": True}]),
    "Get-TransportConfig": Scenario(
        {}, returns=[{"Name": "Transport Settings", "MaxRecipientEnvelopeLimit": 500}]
    ),
    "Get-TransportRule": Scenario(
        {"Identity": "Block spam"},
        setup=(TRULE,),
        returns=[{"Name": "Block spam", "State": "Enabled", "Priority": 0, "SubjectContainsWords": ["spam"]}],
    ),
    "Get-User": Scenario(
        {"Identity": "ada"},
        setup=(ADA, DORA),
        returns=[{"Name": "Ada Lovelace", "RecipientTypeDetails": "UserMailbox"}],
    ),
    # --- New-* ------------------------------------------------------------------------------------------
    "New-DistributionGroup": Scenario(
        {"Name": "Staff", "Members": ["ada", "bob"], "ManagedBy": ["ada"], "Type": "Security"},
        setup=(ADA, BOB),
        get=("Get-DistributionGroup", {"Identity": "Staff"}),
        expect={
            "RecipientTypeDetails": "MailUniversalSecurityGroup",
            "ManagedBy": ["Ada Lovelace"],
            "PrimarySmtpAddress": "Staff@{domain}",
        },
        after=(
            "Get-DistributionGroupMember",
            {"Identity": "Staff"},
            [{"Name": "Ada Lovelace"}, {"Name": "Bob Builder"}],
        ),
        duplicate=True,
    ),
    "New-DkimSigningConfig": Scenario(
        {"DomainName": EXTRA_DOMAIN, "Enabled": True},
        setup=(add_accepted_domain,),
        get=("Get-DkimSigningConfig", {"Identity": EXTRA_DOMAIN}),
        expect={"Name": EXTRA_DOMAIN, "Enabled": True, "Status": "Valid"},
        duplicate=True,
    ),
    "New-InboxRule": Scenario(
        {"Name": "Forward", "Mailbox": "ada", "ForwardTo": ["x@fabrikam.com"]},
        setup=(ADA,),
        get=("Get-InboxRule", {"Identity": "ada\\Forward"}),
        expect={"Name": "Forward", "ForwardTo": ["x@fabrikam.com"], "Enabled": True},
        duplicate=True,
    ),
    "New-MailContact": Scenario(
        {"Name": "Eve", "ExternalEmailAddress": "eve@fabrikam.com"},
        get=("Get-MailContact", {"Identity": "Eve"}),
        expect={
            "PrimarySmtpAddress": "eve@fabrikam.com",
            "ExternalEmailAddress": "SMTP:eve@fabrikam.com",
            "RecipientTypeDetails": "MailContact",
        },
        duplicate=True,
    ),
    "New-MailUser": Scenario(
        {"Name": "Fay", "ExternalEmailAddress": "fay@fabrikam.com"},
        get=("Get-MailUser", {"Identity": "Fay"}),
        expect={
            "PrimarySmtpAddress": "Fay@{domain}",
            "ExternalEmailAddress": "SMTP:fay@fabrikam.com",
            "RecipientTypeDetails": "MailUser",
        },
        duplicate=True,
    ),
    "New-Mailbox": Scenario(
        {"Name": "Zed Shaw", "Alias": "zed", "DisplayName": "Zed"},
        get=("Get-Mailbox", {"Identity": "zed"}),
        expect={
            "Name": "Zed Shaw",
            "DisplayName": "Zed",
            "PrimarySmtpAddress": "zed@{domain}",
            "EmailAddresses": ["SMTP:zed@{domain}"],
            "RecipientTypeDetails": "UserMailbox",
        },
        duplicate=True,
    ),
    "New-RemoteDomain": Scenario(
        {"Name": "Contoso", "DomainName": "contoso.com"},
        get=("Get-RemoteDomain", {"Identity": "Contoso"}),
        expect={"DomainName": "contoso.com", "AutoForwardEnabled": True},
        duplicate=True,
    ),
    "New-TransportRule": Scenario(
        {"Name": "Bcc legal", "BlindCopyTo": ["legal@fabrikam.com"], "Mode": "Audit"},
        get=("Get-TransportRule", {"Identity": "Bcc legal"}),
        expect={"BlindCopyTo": ["legal@fabrikam.com"], "Mode": "Audit", "State": "Enabled", "Priority": 0},
        duplicate=True,
    ),
    # --- Set-*, Enable-*, Disable-* --------------------------------------------------------------------
    "Set-AdminAuditLogConfig": Scenario(
        {"LogLevel": "Verbose", "AdminAuditLogAgeLimit": "180.00:00:00"},
        get=("Get-AdminAuditLogConfig", {}),
        expect={"LogLevel": "Verbose", "AdminAuditLogAgeLimit": "180.00:00:00"},
    ),
    "Set-CASMailbox": Scenario(
        {"Identity": "ada", "PopEnabled": False, "ImapEnabled": False},
        setup=(ADA,),
        get=("Get-CASMailbox", {"Identity": "ada"}),
        expect={"PopEnabled": False, "ImapEnabled": False},
    ),
    "Set-DistributionGroup": Scenario(
        {"Identity": "team", "DisplayName": "The Team", "MemberJoinRestriction": "Open"},
        setup=(ADA, TEAM),
        get=("Get-DistributionGroup", {"Identity": "team"}),
        expect={"DisplayName": "The Team", "MemberJoinRestriction": "Open"},
    ),
    "Set-DkimSigningConfig": Scenario(
        {"Identity": "{domain}", "Enabled": True},
        get=("Get-DkimSigningConfig", {"Identity": "{domain}"}),
        expect={"Enabled": True},
        # Status follows Enabled (CnameMissing → Valid), as Exchange derives it.
        derived=frozenset({"Status"}),
    ),
    "Set-InboxRule": Scenario(
        {"Identity": "ada\\Archive", "MarkAsRead": True, "StopProcessingRules": True},
        setup=(ADA, RULE),
        get=("Get-InboxRule", {"Mailbox": "ada"}),
        expect={"MarkAsRead": True, "StopProcessingRules": True},
        # Description is Exchange's prose rendering of the rule's conditions and actions.
        derived=frozenset({"Description"}),
    ),
    "Set-Mailbox": Scenario(
        {
            "Identity": "ada",
            "DisplayName": "Countess",
            "HiddenFromAddressListsEnabled": True,
            "MaxSendSize": "10MB",
            "EmailAddresses": {"Add": ["lovelace@{domain}"]},
        },
        setup=(ADA,),
        get=("Get-Mailbox", {"Identity": "ada"}),
        expect={
            "DisplayName": "Countess",
            "HiddenFromAddressListsEnabled": True,
            "MaxSendSize": "10 MB (10,485,760 bytes)",
            "EmailAddresses": ["SMTP:ada@{domain}", "smtp:lovelace@{domain}"],
        },
    ),
    "Set-MailboxAuditBypassAssociation": Scenario(
        {"Identity": "ada", "AuditBypassEnabled": True},
        setup=(ADA,),
        get=("Get-MailboxAuditBypassAssociation", {"Identity": "ada"}),
        expect={"AuditBypassEnabled": True},
        # The association object comes into being with the first Set; its creation time is shown.
        derived=frozenset({"WhenCreated", "WhenCreatedUTC"}),
    ),
    "Set-MailContact": Scenario(
        {"Identity": "carl", "DisplayName": "Carl C", "CustomAttribute1": "vendor"},
        setup=(CARL,),
        get=("Get-MailContact", {"Identity": "carl"}),
        expect={"DisplayName": "Carl C", "CustomAttribute1": "vendor"},
    ),
    "Set-MailUser": Scenario(
        {"Identity": "dora", "DisplayName": "Dora D", "RequireSenderAuthenticationEnabled": True},
        setup=(DORA,),
        get=("Get-MailUser", {"Identity": "dora"}),
        expect={"DisplayName": "Dora D", "RequireSenderAuthenticationEnabled": True},
    ),
    "Set-OrganizationConfig": Scenario(
        {"FocusedInboxOn": False, "MailTipsLargeAudienceThreshold": 50},
        get=("Get-OrganizationConfig", {}),
        expect={"FocusedInboxOn": False, "MailTipsLargeAudienceThreshold": 50},
    ),
    "Set-RemoteDomain": Scenario(
        {"Identity": "Fabrikam", "AutoReplyEnabled": False, "ContentType": "MimeText"},
        setup=(REMOTE,),
        get=("Get-RemoteDomain", {"Identity": "Fabrikam"}),
        expect={"AutoReplyEnabled": False, "ContentType": "MimeText"},
    ),
    "Set-SharingPolicy": Scenario(
        {"Identity": "Default Sharing Policy", "Enabled": False},
        get=("Get-SharingPolicy", {"Identity": "Default Sharing Policy"}),
        expect={"Enabled": False},
    ),
    "Set-TransportConfig": Scenario(
        {"MaxSendSize": "50MB", "ReplyAllStormProtectionEnabled": False},
        get=("Get-TransportConfig", {}),
        expect={"MaxSendSize": "50 MB (52,428,800 bytes)", "ReplyAllStormProtectionEnabled": False},
    ),
    "Set-TransportRule": Scenario(
        {"Identity": "Block spam", "Comments": "hello", "Mode": "Audit"},
        setup=(TRULE,),
        get=("Get-TransportRule", {"Identity": "Block spam"}),
        expect={"Comments": "hello", "Mode": "Audit"},
    ),
    "Set-User": Scenario(
        {"Identity": "ada", "Department": "Mathematics", "Title": "Countess", "Manager": "bob"},
        setup=(ADA, BOB),
        get=("Get-User", {"Identity": "ada"}),
        expect={"Department": "Mathematics", "Title": "Countess", "Manager": "Bob Builder"},
    ),
    "Enable-TransportRule": Scenario(
        {"Identity": "Block spam"},
        setup=(TRULE, ("Disable-TransportRule", {"Identity": "Block spam"})),
        get=("Get-TransportRule", {"Identity": "Block spam"}),
        expect={"State": "Enabled"},
    ),
    "Disable-TransportRule": Scenario(
        {"Identity": "Block spam"},
        setup=(TRULE,),
        get=("Get-TransportRule", {"Identity": "Block spam"}),
        expect={"State": "Disabled"},
    ),
    # --- Remove-* ---------------------------------------------------------------------------------------
    "Remove-DistributionGroup": Scenario(
        {"Identity": "team"},
        setup=(ADA, TEAM),
        get=("Get-DistributionGroup", {"Identity": "team"}),
        gone=True,
    ),
    "Remove-InboxRule": Scenario(
        {"Identity": "ada\\Archive"},
        setup=(ADA, RULE),
        get=("Get-InboxRule", {"Identity": "ada\\Archive"}),
        gone=True,
    ),
    "Remove-MailContact": Scenario(
        {"Identity": "carl"}, setup=(CARL,), get=("Get-MailContact", {"Identity": "carl"}), gone=True
    ),
    "Remove-MailUser": Scenario(
        {"Identity": "dora"}, setup=(DORA,), get=("Get-MailUser", {"Identity": "dora"}), gone=True
    ),
    "Remove-Mailbox": Scenario(
        {"Identity": "ada"}, setup=(ADA,), get=("Get-Mailbox", {"Identity": "ada"}), gone=True
    ),
    "Remove-RemoteDomain": Scenario(
        {"Identity": "Fabrikam"},
        setup=(REMOTE,),
        get=("Get-RemoteDomain", {"Identity": "Fabrikam"}),
        gone=True,
    ),
    "Remove-TransportRule": Scenario(
        {"Identity": "Block spam"},
        setup=(TRULE,),
        get=("Get-TransportRule", {"Identity": "Block spam"}),
        gone=True,
    ),
    "Remove-DistributionGroupMember": Scenario(
        {"Identity": "team", "Member": "ada"},
        setup=(ADA, TEAM),
        after=("Get-DistributionGroupMember", {"Identity": "team"}, []),
    ),
    "Remove-MailboxPermission": Scenario(
        {"Identity": "ada", "User": "bob", "AccessRights": ["FullAccess"]},
        setup=(ADA, BOB, FULL),
        after=("Get-MailboxPermission", {"Identity": "ada"}, [{"User": "NT AUTHORITY\\SELF"}]),
    ),
    "Remove-RecipientPermission": Scenario(
        {"Identity": "ada", "Trustee": "bob", "AccessRights": ["SendAs"]},
        setup=(ADA, BOB, SENDAS),
        after=("Get-RecipientPermission", {"Identity": "ada"}, []),
    ),
    # --- Add-* ------------------------------------------------------------------------------------------
    "Add-DistributionGroupMember": Scenario(
        {"Identity": "team", "Member": "bob"},
        setup=(ADA, BOB, TEAM),
        after=(
            "Get-DistributionGroupMember",
            {"Identity": "team"},
            [{"Name": "Ada Lovelace"}, {"Name": "Bob Builder"}],
        ),
        duplicate=True,
    ),
    "Add-MailboxPermission": Scenario(
        {"Identity": "ada", "User": "bob", "AccessRights": ["FullAccess"]},
        setup=(ADA, BOB),
        after=(
            "Get-MailboxPermission",
            {"Identity": "ada", "User": "bob"},
            [
                {
                    "Identity": "Ada Lovelace",
                    "User": "bob@{domain}",
                    "AccessRights": ["FullAccess"],
                    "Deny": False,
                }
            ],
        ),
        duplicate=True,
    ),
    "Add-RecipientPermission": Scenario(
        {"Identity": "ada", "Trustee": "bob", "AccessRights": ["SendAs"]},
        setup=(ADA, BOB),
        after=(
            "Get-RecipientPermission",
            {"Trustee": "bob"},
            [{"Identity": "Ada Lovelace", "Trustee": "bob@{domain}", "AccessRights": ["SendAs"]}],
        ),
        duplicate=True,
    ),
}


def render(value: Any, domain: str) -> Any:
    """Replace ``{domain}`` in every string of a (nested) value."""
    if isinstance(value, str):
        return value.replace("{domain}", domain)
    if isinstance(value, list):
        return [render(v, domain) for v in value]
    if isinstance(value, tuple):
        return tuple(render(v, domain) for v in value)
    if isinstance(value, dict):
        return {k: render(v, domain) for k, v in value.items()}
    return value


def partial_match(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """``actual`` has exactly as many objects as ``expected`` and each shows the expected values."""
    assert len(actual) == len(expected), actual
    for got, want in zip(actual, expected, strict=True):
        assert {k: got.get(k) for k in want} == want, got


# Rows every call may add without changing directory state: the rate-limit counter, and the audit log (a
# failed or previewed call is recorded by design — tests/audit checks those records exactly), and the
# signing keys created on first use.
_VOLATILE = {"rate_limits", "signing_keys"}


def _volatile(name: str) -> bool:
    return name in _VOLATILE or name.startswith("audit_")


def table_snapshot(db: Database, tenant_id: str | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, ordered by primary key (only ``tenant_id``'s rows when given)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if _volatile(table.name):
                continue
            stmt = select(table).order_by(*table.primary_key.columns)
            if tenant_id is not None:
                if "tenant_id" in table.c:
                    stmt = stmt.where(table.c.tenant_id == tenant_id)
                elif table.name == "tenants":
                    stmt = stmt.where(table.c.id == tenant_id)
                else:
                    continue
            out[table.name] = [tuple(row) for row in conn.execute(stmt)]
    return out


# --- RBAC (mailwarden.rbac) -------------------------------------------------------------------------------


def pam_request(guid: str, policy_type: str = "Task", target: str = "Set-TransportConfig") -> DbStep:
    """A policy for ``target`` and a pending elevation request ``guid`` under it, made by another principal
    (an app): no cmdlet can create a request in someone else's name, and a caller can't answer their own."""

    def step(db: Database, tenant_id: str, clock: FakeClock) -> None:
        import uuid as _uuid

        from mailwarden.rbac._store import bump_generation
        from mailwarden.store._rbac_models import RbacElevationPolicy, RbacElevationRequest

        with db.unit_of_work() as uow:
            policy = RbacElevationPolicy(
                tenant_id=tenant_id,
                guid=str(_uuid.uuid4()),
                policy_type=policy_type,
                target=target,
                target_key=target.lower(),
                approval_type="Manual",
                approver_group="Organization Management",
                created_at=utcnow(clock),
            )
            uow.session.add(policy)
            uow.session.flush()
            uow.session.add(
                RbacElevationRequest(
                    tenant_id=tenant_id,
                    guid=guid,
                    policy_id=policy.id,
                    requester_kind="app",
                    requester_id="someone-else",
                    requester_name="Someone else",
                    task=target,
                    reason="maintenance",
                    duration_hours=4,
                    status="Pending",
                    created_at=utcnow(clock),
                )
            )
            # As New-ElevatedAccessApprovalPolicy does: cached RBAC snapshots must see the new policy.
            bump_generation(uow.session, tenant_id)

    return step


def _pam_request_by_other(db: Database, tenant_id: str, clock: FakeClock) -> None:
    pam_request(PAM_REQUEST)(db, tenant_id, clock)


def _pam_approved(db: Database, tenant_id: str, clock: FakeClock) -> None:
    from sqlalchemy import update as _update

    from mailwarden.store._rbac_models import RbacElevationRequest

    _pam_request_by_other(db, tenant_id, clock)
    with db.unit_of_work() as uow:
        uow.session.execute(
            _update(RbacElevationRequest).values(
                status="Approved", access_ends_at=utcnow(clock).replace(year=2999)
            )
        )


PAM_REQUEST = "5f0c2c4e-9a57-4d3e-9a3b-6f1d2e3c4b5a"
CHILD: Step = ("New-ManagementRole", {"Name": "Sales Recipients", "Parent": "Mail Recipients"})
SALES: Step = (
    "New-ManagementScope",
    {"Name": "Sales", "RecipientRestrictionFilter": "Department -eq 'Sales'"},
)
HELPERS: Step = ("New-RoleGroup", {"Name": "Helpers", "Roles": ["Mail Recipients"]})
POLICY: Step = (
    "New-ElevatedAccessApprovalPolicy",
    {"Task": "Set-TransportConfig", "ApproverGroup": "Organization Management"},
)
ASSIGN: Step = (
    "New-ManagementRoleAssignment",
    {"Name": "MR Helpers", "Role": "Mail Recipients", "SecurityGroup": "Helpers"},
)

SCENARIOS.update(
    {
        "Get-ManagementRole": Scenario(
            {"Identity": "Mail Recipients"},
            returns=[{"Name": "Mail Recipients", "RoleType": "MailRecipients"}],
        ),
        "New-ManagementRole": Scenario(
            {"Name": "Sales Recipients", "Parent": "Mail Recipients"},
            get=("Get-ManagementRole", {"Identity": "Sales Recipients"}),
            expect={"Parent": "Mail Recipients", "IsRootRole": False},
            duplicate=True,
        ),
        "Remove-ManagementRole": Scenario(
            {"Identity": "Sales Recipients"},
            setup=(CHILD,),
            get=("Get-ManagementRole", {"Identity": "Sales Recipients"}),
            gone=True,
        ),
        "Get-ManagementRoleEntry": Scenario(
            {"Identity": "Mail Recipients\\Set-Mailbox"},
            returns=[{"Identity": "Mail Recipients\\Set-Mailbox"}],
        ),
        "Add-ManagementRoleEntry": Scenario(
            {"Identity": "Sales Recipients\\Get-Mailbox"},
            setup=(CHILD, ("Remove-ManagementRoleEntry", {"Identity": "Sales Recipients\\Get-Mailbox"})),
            # Add-* here creates the entry (it doesn't change an existing object), so its effect is a listing.
            after=(
                "Get-ManagementRoleEntry",
                {"Identity": "Sales Recipients\\Get-Mailbox"},
                [{"Identity": "Sales Recipients\\Get-Mailbox", "Role": "Sales Recipients"}],
            ),
            duplicate=True,
        ),
        "Set-ManagementRoleEntry": Scenario(
            {
                "Identity": "Sales Recipients\\Set-Mailbox",
                "Parameters": ["ForwardingSmtpAddress"],
                "RemoveParameter": True,
            },
            setup=(CHILD,),
            after=(
                "Get-ManagementRoleEntry",
                {"Identity": "Sales Recipients\\Set-Mailbox", "Parameters": ["ForwardingSmtpAddress"]},
                [],
            ),
        ),
        "Remove-ManagementRoleEntry": Scenario(
            {"Identity": "Sales Recipients\\Set-Mailbox"},
            setup=(CHILD,),
            get=("Get-ManagementRoleEntry", {"Identity": "Sales Recipients\\Set-Mailbox"}),
            gone=True,
        ),
        "Get-RoleGroup": Scenario(
            {"Identity": "Help Desk"}, returns=[{"Name": "Help Desk", "IsBuiltIn": True}]
        ),
        "New-RoleGroup": Scenario(
            {"Name": "Helpers", "Roles": ["Mail Recipients"]},
            get=("Get-RoleGroup", {"Identity": "Helpers"}),
            expect={"Roles": ["Mail Recipients"]},
            duplicate=True,
        ),
        "Set-RoleGroup": Scenario(
            {"Identity": "Helpers", "Description": "Front line"},
            setup=(HELPERS,),
            get=("Get-RoleGroup", {"Identity": "Helpers"}),
            expect={"Description": "Front line"},
        ),
        "Remove-RoleGroup": Scenario(
            {"Identity": "Helpers"},
            setup=(HELPERS,),
            get=("Get-RoleGroup", {"Identity": "Helpers"}),
            gone=True,
        ),
        "Get-RoleGroupMember": Scenario(
            {"Identity": "Organization Management"},
            returns=[
                {"RecipientType": "RoleGroup"},
                {"RecipientType": "RoleGroup"},
                {"RecipientType": "User"},
            ],
        ),
        "Add-RoleGroupMember": Scenario(
            {"Identity": "Helpers", "Member": "Help Desk"},
            setup=(HELPERS,),
            after=("Get-RoleGroupMember", {"Identity": "Helpers"}, [{"Name": "Help Desk"}]),
            duplicate=True,
        ),
        "Remove-RoleGroupMember": Scenario(
            {"Identity": "Helpers", "Member": "Help Desk"},
            setup=(HELPERS, ("Add-RoleGroupMember", {"Identity": "Helpers", "Member": "Help Desk"})),
            after=("Get-RoleGroupMember", {"Identity": "Helpers"}, []),
        ),
        "Update-RoleGroupMember": Scenario(
            {"Identity": "Helpers", "Members": ["Help Desk"]},
            setup=(HELPERS,),
            after=("Get-RoleGroupMember", {"Identity": "Helpers"}, [{"Name": "Help Desk"}]),
        ),
        "Get-ManagementRoleAssignment": Scenario(
            {"Identity": "Mail Recipients_Recipient Management"},
            returns=[{"Role": "Mail Recipients", "RoleAssigneeType": "RoleGroup"}],
        ),
        "New-ManagementRoleAssignment": Scenario(
            {
                "Name": "MR Helpers",
                "Role": "Mail Recipients",
                "SecurityGroup": "Helpers",
                "CustomRecipientWriteScope": "Sales",
            },
            setup=(HELPERS, SALES),
            get=("Get-ManagementRoleAssignment", {"Identity": "MR Helpers"}),
            expect={"CustomRecipientWriteScope": "Sales", "RoleAssigneeType": "RoleGroup"},
            duplicate=True,
        ),
        "Set-ManagementRoleAssignment": Scenario(
            {"Identity": "MR Helpers", "Enabled": False},
            setup=(HELPERS, ASSIGN),
            get=("Get-ManagementRoleAssignment", {"Identity": "MR Helpers"}),
            expect={"Enabled": False},
        ),
        "Remove-ManagementRoleAssignment": Scenario(
            {"Identity": "MR Helpers"},
            setup=(HELPERS, ASSIGN),
            get=("Get-ManagementRoleAssignment", {"Identity": "MR Helpers"}),
            gone=True,
        ),
        "Get-ManagementScope": Scenario(
            {"Identity": "Sales"}, setup=(SALES,), returns=[{"Name": "Sales", "Exclusive": False}]
        ),
        "New-ManagementScope": Scenario(
            {
                "Name": "Sales",
                "RecipientRestrictionFilter": "Department -eq 'Sales'",
                "RecipientRoot": "{domain}/Users",
            },
            after=(
                "Get-ManagementScope",
                {"Identity": "Sales"},
                [{"RecipientRoot": "{domain}/Users", "Exclusive": False}],
            ),
            duplicate=True,
        ),
        "Set-ManagementScope": Scenario(
            {"Identity": "Sales", "RecipientRestrictionFilter": "Department -eq 'Finance'"},
            setup=(SALES,),
            after=(
                "Get-ManagementScope",
                {"Identity": "Sales"},
                [{"RecipientFilter": "(Department -eq 'Finance')"}],
            ),
        ),
        "Remove-ManagementScope": Scenario(
            {"Identity": "Sales"},
            setup=(SALES,),
            get=("Get-ManagementScope", {"Identity": "Sales"}),
            gone=True,
        ),
        "Get-RoleAssignmentPolicy": Scenario(
            {}, returns=[{"Name": "Default Role Assignment Policy", "IsDefault": True}]
        ),
        "Get-ElevatedAccessApprovalPolicy": Scenario(
            {}, setup=(POLICY,), returns=[{"Task": "Exchange\\Set-TransportConfig", "ApprovalType": "Manual"}]
        ),
        "New-ElevatedAccessApprovalPolicy": Scenario(
            {
                "Task": "Exchange\\Set-TransportConfig",
                "ApprovalType": "Manual",
                "ApproverGroup": "Organization Management",
            },
            after=(
                "Get-ElevatedAccessApprovalPolicy",
                {},
                [{"PolicyType": "Task", "ApprovalType": "Manual"}],
            ),
            duplicate=True,
        ),
        "Set-ElevatedAccessApprovalPolicy": Scenario(
            {"Identity": "Set-TransportConfig", "ApprovalType": "Auto"},
            setup=(POLICY,),
            after=("Get-ElevatedAccessApprovalPolicy", {}, [{"ApprovalType": "Auto"}]),
        ),
        "Remove-ElevatedAccessApprovalPolicy": Scenario(
            {"Identity": "Set-TransportConfig"},
            setup=(POLICY,),
            after=("Get-ElevatedAccessApprovalPolicy", {}, []),
        ),
        "New-ElevatedAccessRequest": Scenario(
            {"Task": "Exchange\\Set-TransportConfig", "Reason": "maintenance", "DurationHours": 1},
            setup=(POLICY,),
            after=(
                "Get-ElevatedAccessRequest",
                {"RequestStatus": "Pending"},
                [{"DurationHours": 1, "Reason": "maintenance"}],
            ),
            duplicate=True,  # a second request while the first is pending (same requester and task)
        ),
        "Get-ElevatedAccessRequest": Scenario(
            {"Identity": PAM_REQUEST}, setup=(_pam_request_by_other,), returns=[{"RequestStatus": "Pending"}]
        ),
        "Approve-ElevatedAccessRequest": Scenario(
            {"RequestId": PAM_REQUEST, "Comment": "ok"},
            setup=(_pam_request_by_other,),
            after=("Get-ElevatedAccessRequest", {"Identity": PAM_REQUEST}, [{"RequestStatus": "Approved"}]),
        ),
        "Deny-ElevatedAccessRequest": Scenario(
            {"RequestId": PAM_REQUEST},
            setup=(_pam_request_by_other,),
            after=("Get-ElevatedAccessRequest", {"Identity": PAM_REQUEST}, [{"RequestStatus": "Denied"}]),
        ),
        "Revoke-ElevatedAccessAuthorization": Scenario(
            {"RequestId": PAM_REQUEST},
            setup=(_pam_approved,),
            after=("Get-ElevatedAccessRequest", {"Identity": PAM_REQUEST}, [{"RequestStatus": "Revoked"}]),
        ),
        "Test-CmdletPermission": Scenario(
            {"Cmdlet": "Set-Mailbox", "Parameters": ["ForwardingSmtpAddress"]},
            returns=[{"Cmdlet": "Set-Mailbox", "Allowed": True}],
        ),
    }
)

# Mailbox audit (Search-MailboxAuditLog): the inbox rule the setup creates is an Admin UpdateInboxRules record.
SCENARIOS.update(
    {
        "Search-MailboxAuditLog": Scenario(
            {"Identity": "ada"},
            setup=(ADA, RULE),
            returns=[
                {"MailboxIdentity": "Ada Lovelace", "Operation": "UpdateInboxRules", "LogonType": "Admin"}
            ],
        ),
    }
)

# Unified audit log (Search-UnifiedAuditLog, tamper evidence, retention).
AUDIT_RECORD_ID = "4d1f5a3e-0000-4000-8000-00000000a0d1"


def _audit_record(db: Database, tenant_id: str, clock: FakeClock) -> None:
    from mailwarden.audit._log import append

    with db.unit_of_work() as uow:
        append(
            uow.session,
            tenant_id,
            {
                "Id": AUDIT_RECORD_ID,
                "RecordType": 1,
                "CreationTime": utcnow(clock).strftime("%Y-%m-%dT%H:%M:%S"),
                "Operation": "Set-Mailbox",
                "UserId": "admin",
                "ResultStatus": "True",
            },
        )


SCENARIOS.update(
    {
        "Search-UnifiedAuditLog": Scenario(
            {
                "StartDate": "2025-01-01T00:00:00Z",
                "EndDate": "2028-01-01T00:00:00Z",
                "Operations": ["New-Mailbox"],
            },
            setup=(ADA,),
            returns=[
                {
                    "Operations": "New-Mailbox",
                    "RecordType": "ExchangeAdmin",
                    "ResultIndex": 1,
                    "ResultCount": 1,
                }
            ],
        ),
        "Get-AuditLogTreeHead": Scenario({"Identity": "{domain}"}, returns=[{"Signed": False}]),
        "Update-AuditLogTreeHead": Scenario(
            {"Identity": "{domain}"}, setup=(ADA,), after=("Get-AuditLogTreeHead", {}, [{"Signed": True}])
        ),
        "Get-AuditLogInclusionProof": Scenario(
            {"RecordId": AUDIT_RECORD_ID}, setup=(_audit_record,), returns=[{"RecordId": AUDIT_RECORD_ID}]
        ),
        "Get-AuditLogConsistencyProof": Scenario(
            {"FirstTreeSize": 1, "SecondTreeSize": 1},
            setup=(_audit_record,),
            returns=[{"FirstTreeSize": 1, "SecondTreeSize": 1, "ConsistencyPath": []}],
        ),
        "Get-AuditLogRetention": Scenario({"Identity": "{domain}"}, returns=[{"RetentionDays": 365}]),
        "Set-AuditLogRetention": Scenario(
            {"Identity": "{domain}", "Days": 180},
            get=("Get-AuditLogRetention", {}),
            expect={"RetentionDays": 180},
            derived=frozenset({"TreeSize"}),
        ),
    }
)
