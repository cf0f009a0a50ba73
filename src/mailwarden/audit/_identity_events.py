"""Identity and token events as unified audit records (DESIGN §7: "every sign-in (success/failure), MFA change,
token grant … produces a record in the same transaction").

:func:`identity_audit_hook` is the ``IdentityService(audit_hook=...)`` callback: the identity service calls it
inside the unit of work that stores its own event row, so the audit record commits with the action — and a
failed sign-in, which the service records in a transaction of its own, gets its record there too.

Record types and operation names (Office 365 Management Activity API):

* sign-in success / failure → RecordType 15 AzureActiveDirectoryStsLogon, ``UserLoggedIn`` /
  ``UserLoginFailed``, ``ResultStatus`` Failed, with ``LogonError`` (and Entra's AADSTS ``ErrorNumber``) on
  failure and ``amr``. The ``LogonError`` values we write:

  ========================== ====== ==========================================================================
  LogonError                 Number When
  ========================== ====== ==========================================================================
  InvalidUserNameOrPassword  50126  wrong password, unknown or disabled account (one answer: no enumeration)
  IdsLocked                  50053  the attempt was refused by the throttle: back-off or hard lock, of the
                                    account, the IP or a second-factor counter (Entra's Smart Lockout code)
  InvalidMfaCode             500121 a wrong or replayed TOTP code or recovery code (sign-in, step-up,
                                    enrolment); ``ExtendedProperties`` name the ``method`` and ``stage``
  InvalidStrongAuthentication 500121 a WebAuthn assertion that does not verify
  BlockedByConditionalAccess 53003  conditional access denied (names the policy; **high severity**)
  ========================== ====== ==========================================================================

  Password-stage failures (``InvalidUserNameOrPassword``, and ``IdsLocked`` with stage ``password``) are
  attributed to the *attempted* user name — ``UserId``, ``UserKey``, ``ObjectId`` and the actor are what was
  typed — whether or not such an account exists, so the records of a known and an unknown account have the
  same shape and values (DESIGN §5 "no user enumeration", extended to whoever may read the audit log). These
  failures are written by the identity service in a transaction of their own, so they survive the refused
  attempt's rollback;
* security-info changes → RecordType 8 AzureActiveDirectory with Entra's audit activity names ("User
  registered security info", "User deleted security info", "Admin …" when an operator did it); a recovery
  code spent and new recovery codes are ours, in the same record type;
* account, session and conditional-access configuration changes → RecordType 8 with Entra's names.

:func:`token_grant_record` and :func:`refresh_reuse_record` build the OAuth side (RecordType 8; reuse of a
rotated refresh token revokes its family and is high severity).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..principal import Principal
from ..store._identity_models import IdentityUser
from ..store._oauth_models import OAuthRefreshFamily, OAuthRefreshToken
from ._records import RecordType, new_record
from ._service import AuditService

if TYPE_CHECKING:
    from datetime import datetime

    from ..store import UnitOfWork

__all__ = [
    "AUDITED_TOKEN_ERRORS",
    "IdentityEventLike",
    "audit_token_exchange",
    "audit_token_failure",
    "identity_audit_hook",
    "identity_record",
    "refresh_reuse_record",
    "token_grant_record",
]


class IdentityEventLike(Protocol):
    """``mailwarden.identity.RecordedEvent`` (structural, so audit does not import identity)."""

    @property
    def tenant_id(self) -> str: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def ip(self) -> str | None: ...
    @property
    def detail(self) -> dict[str, Any]: ...
    @property
    def at(self) -> datetime: ...


@dataclass(frozen=True)
class _Mapping:
    record_type: RecordType
    operation: str
    succeeded: bool = True
    high_severity: bool = False
    logon_error: str | None = None
    error_number: str | None = None


_LOGON = RecordType.AzureActiveDirectoryStsLogon
_AAD = RecordType.AzureActiveDirectory

_EVENTS: dict[str, _Mapping] = {
    "sign_in": _Mapping(_LOGON, "UserLoggedIn"),
    "step_up": _Mapping(_LOGON, "UserLoggedIn"),
    "sign_in_failed": _Mapping(_LOGON, "UserLoginFailed", False, False, "InvalidUserNameOrPassword", "50126"),
    "sign_in_throttled": _Mapping(_LOGON, "UserLoginFailed", False, False, "IdsLocked", "50053"),
    "mfa_failed": _Mapping(_LOGON, "UserLoginFailed", False, False, "InvalidMfaCode", "500121"),
    "webauthn_refused": _Mapping(
        _LOGON, "UserLoginFailed", False, False, "InvalidStrongAuthentication", "500121"
    ),
    "ca_denied": _Mapping(_LOGON, "UserLoginFailed", False, True, "BlockedByConditionalAccess", "53003"),
    "mfa_added": _Mapping(_AAD, "User registered security info"),
    "mfa_removed": _Mapping(_AAD, "User deleted security info", high_severity=True),
    "recovery_codes_generated": _Mapping(_AAD, "User registered security info"),
    "recovery_code_used": _Mapping(_AAD, "User used a recovery code", high_severity=True),
    "user_created": _Mapping(_AAD, "Add user."),
    "password_changed": _Mapping(_AAD, "Change user password."),
    "user_disabled": _Mapping(_AAD, "Disable account."),
    "user_enabled": _Mapping(_AAD, "Enable account."),
    "session_revoked": _Mapping(_AAD, "Revoke user sessions."),
    "sign_out": _Mapping(_AAD, "User signed out."),
    "ca_location_added": _Mapping(_AAD, "Add named location."),
    "ca_location_removed": _Mapping(_AAD, "Delete named location.", high_severity=True),
    "ca_policy_added": _Mapping(_AAD, "Add conditional access policy."),
    "ca_policy_removed": _Mapping(_AAD, "Delete conditional access policy.", high_severity=True),
}
_OPERATOR_NAMES = {
    "User registered security info": "Admin registered security info",
    "User deleted security info": "Admin deleted security info",
}
_SYSTEM = "system"


def _pre_authentication(event: IdentityEventLike) -> bool:
    """A failure before the password was verified: attributed to the typed name (see the module doc)."""
    return event.kind in ("sign_in_failed", "sign_in_throttled") and event.detail.get(
        "stage", "password"
    ) == ("password")


def _actor(session: Any, event: IdentityEventLike) -> tuple[Principal, str]:
    if _pre_authentication(event):
        typed = str(event.detail.get("username") or "")[:320]
        return Principal(event.tenant_id, typed, typed, "user"), typed
    if event.user_id is None and event.detail.get("app_id"):  # an app's own request (client credentials)
        app_id = str(event.detail["app_id"])[:64]
        return Principal(event.tenant_id, app_id, app_id, "app"), app_id
    if event.user_id is None:
        return Principal(event.tenant_id, _SYSTEM, "mailwarden", "system"), ""
    user = session.get(IdentityUser, event.user_id)
    upn = user.upn if user is not None else event.user_id
    return Principal(event.tenant_id, event.user_id, upn, "user"), upn


def identity_record(session: Any, event: IdentityEventLike) -> tuple[dict[str, Any], bool]:
    """The record for one identity event, and whether it is high severity."""
    mapping = _EVENTS.get(event.kind, _Mapping(_AAD, event.kind))
    principal, upn = _actor(session, event)
    detail = dict(event.detail)
    operation = mapping.operation
    if detail.get("by") == "operator":
        operation = _OPERATOR_NAMES.get(operation, operation)
    extra: dict[str, Any] = {
        "ExtendedProperties": [{"Name": k, "Value": str(v)} for k, v in sorted(detail.items())]
    }
    if mapping.record_type is _LOGON:
        extra["ActorIpAddress"] = event.ip or ""
        extra["Actor"] = [{"ID": principal.id if principal.kind == "user" else "", "Type": 0}]
        if "amr" in detail:
            extra["amr"] = list(detail["amr"])
        elif "method" in detail:
            extra["amr"] = [
                {"totp": "otp", "webauthn": "hwk"}.get(str(detail["method"]), str(detail["method"]))
            ]
        if event.kind == "step_up":
            extra["RequestType"] = "StepUp"
    if mapping.logon_error is not None:
        extra["LogonError"] = mapping.logon_error
        extra["ErrorNumber"] = mapping.error_number
    if event.kind == "ca_denied":
        extra["ConditionalAccessPolicy"] = detail.get("policy")
        extra["ConditionalAccessStatus"] = "failure"
    if "session_id" in detail:
        extra["SessionId"] = detail["session_id"]
    record = new_record(
        record_type=mapping.record_type,
        operation=operation,
        tenant_id=event.tenant_id,
        when=event.at,
        principal=principal,
        user_id=upn,
        workload="AzureActiveDirectory",
        result_status=("Success" if mapping.succeeded else "Failed"),
        object_id=upn or str(detail.get("name") or ""),
        client_ip=event.ip,
        app_id=str(detail["app_id"]) if detail.get("app_id") else None,
        extra=extra,
    )
    return record, mapping.high_severity


def identity_audit_hook(audit: AuditService) -> Callable[[UnitOfWork, IdentityEventLike], None]:
    """``IdentityService(audit_hook=identity_audit_hook(state.audit))``."""

    def hook(uow: UnitOfWork, event: IdentityEventLike) -> None:
        record, high = identity_record(uow.session, event)
        audit.record(uow.session, event.tenant_id, record, high_severity=high)

    return hook


def token_grant_record(
    *,
    tenant_id: str,
    when: datetime,
    grant_type: str,
    client_id: str,
    client_name: str,
    subject: Principal,
    ip: str | None,
    scopes: str,
    amr: tuple[str, ...] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A token issued (RecordType 8): who, to which client, by which grant, with which scopes."""
    return new_record(
        record_type=_AAD,
        operation="Issue token.",
        tenant_id=tenant_id,
        when=when,
        principal=subject,
        user_id=subject.display_name,
        workload="AzureActiveDirectory",
        result_status="Success",
        object_id=client_id,
        client_ip=ip,
        app_id=client_id,
        extra={
            "ExtendedProperties": [
                {"Name": "GrantType", "Value": grant_type},
                {"Name": "ClientName", "Value": client_name},
                {"Name": "Scopes", "Value": scopes},
            ],
            "amr": list(amr),
            **dict(extra or {}),
        },
    )


def refresh_reuse_record(
    *, tenant_id: str, when: datetime, client_id: str, family_id: str, user: Principal, ip: str | None
) -> dict[str, Any]:
    """A rotated refresh token was presented again: its whole family is revoked (RFC 9700 §4.14.2).
    Record it high severity — it means a token was stolen or a client is broken."""
    return new_record(
        record_type=_AAD,
        operation="Refresh token reuse detected; token family revoked.",
        tenant_id=tenant_id,
        when=when,
        principal=user,
        user_id=user.display_name,
        workload="AzureActiveDirectory",
        result_status="Failed",
        object_id=family_id,
        client_ip=ip,
        app_id=client_id,
        extra={
            "LogonError": "RefreshTokenReused",
            "ExtendedProperties": [{"Name": "FamilyRevoked", "Value": "True"}],
        },
    )


# --- the token endpoint ---------------------------------------------------------------------------------------

# Token-endpoint failures worth a record of their own (others, e.g. ``authorization_pending`` while a device
# polls, are protocol chatter; ``access_denied`` is already recorded by conditional access).
AUDITED_TOKEN_ERRORS = frozenset(
    {"invalid_client", "invalid_grant", "unauthorized_client", "interaction_required"}
)


def _claims(access_token: Any) -> dict[str, Any]:
    """The payload of a token this server has just minted (no verification needed: we made it), signed or
    still :class:`~mailwarden.oauth._tokens.Unsigned` (its claims)."""
    if not isinstance(access_token, str):
        claims = getattr(access_token, "claims", None)
        return claims if isinstance(claims, dict) else {}
    part = access_token.split(".")[1]
    value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value if isinstance(value, dict) else {}


def audit_token_exchange(
    audit: AuditService | None,
    session: Any,
    *,
    tenant_id: str,
    form: Mapping[str, str],
    result: Mapping[str, Any] | Exception,
    ip: str | None,
) -> None:
    """Inside the token request's transaction: a grant → "Issue token."; a refresh token presented again
    (its family now revoked by the grant) → high severity. Other outcomes record nothing here."""
    if audit is None:
        return
    grant_type = form.get("grant_type", "")
    now = audit.now()
    if isinstance(result, Exception):
        if grant_type != "refresh_token" or not form.get("refresh_token"):
            return
        from ..oauth._records import token_hash  # late: the oauth package imports this module

        row = session.get(OAuthRefreshToken, token_hash(form["refresh_token"]))
        family = None if row is None else session.get(OAuthRefreshFamily, row.family_id)
        if family is None or family.tenant_id != tenant_id or family.revoked_reason != "refresh_token_reuse":
            return
        user = session.get(IdentityUser, family.user_id)
        principal = Principal(tenant_id, family.user_id, user.upn if user else family.user_id, "user")
        record = refresh_reuse_record(
            tenant_id=tenant_id,
            when=now,
            client_id=family.client_id,
            family_id=family.id,
            user=principal,
            ip=ip,
        )
        audit.record(session, tenant_id, record, high_severity=True)
        return
    claims = _claims(result.get("access_token"))
    if not claims:
        return
    client_id = str(claims.get("azp") or claims.get("appid") or "")
    if "scp" in claims:
        subject = Principal(
            tenant_id,
            str(claims.get("oid")),
            str(claims.get("preferred_username") or claims.get("oid")),
            "user",
        )
    else:
        subject = Principal(tenant_id, client_id, str(claims.get("app_displayname") or client_id), "app")
    extra: dict[str, Any] = {}
    if claims.get("sid"):
        extra["SessionId"] = claims["sid"]
    if result.get("refresh_token"):
        extra["RefreshTokenIssued"] = True
    record = token_grant_record(
        tenant_id=tenant_id,
        when=now,
        grant_type=grant_type,
        client_id=client_id,
        client_name=str(claims.get("app_displayname") or ""),
        subject=subject,
        ip=ip,
        scopes=str(result.get("scope", "")),
        amr=tuple(claims.get("amr") or ()),
        extra=extra,
    )
    audit.record(session, tenant_id, record)


def audit_token_failure(
    audit: AuditService | None,
    *,
    tenant_id: str,
    form: Mapping[str, str],
    code: str,
    message: str,
    ip: str | None,
) -> None:
    """A refused token request, in a transaction of its own (the request's rolled back)."""
    if audit is None or code not in AUDITED_TOKEN_ERRORS:
        return
    service = audit
    client_id = form.get("client_id", "")[:64]

    def build() -> dict[str, Any]:
        return new_record(
            record_type=_LOGON,
            operation="UserLoginFailed",
            tenant_id=tenant_id,
            when=service.now(),
            principal=Principal(tenant_id, client_id or "unknown", client_id or "unknown", "app"),
            user_id=client_id,
            workload="AzureActiveDirectory",
            result_status="Failed",
            object_id=client_id,
            client_ip=ip,
            app_id=client_id or None,
            extra={
                "LogonError": code,
                "ErrorMessage": message[:512],
                "ExtendedProperties": [{"Name": "GrantType", "Value": form.get("grant_type", "")[:128]}],
            },
        )

    audit.record_separately(tenant_id, build)
