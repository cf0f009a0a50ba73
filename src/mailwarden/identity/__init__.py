"""Identity: who the user is (DESIGN §5; NIST SP 800-63B).

Accounts per tenant with argon2id passwords (§5.1.1.2), second factors — TOTP (RFC 6238), WebAuthn passkeys
and recovery codes (§5.1.2) —, database-shared throttling and lockout (§5.2.2), server-side sessions (§7.1),
conditional access, the sign-in pages (``install_identity``) and the interface the OAuth server relies on
(:class:`IdentityService`: ``current_user``, ``login_url``, ``session_active``, ``get_user``, ``check_access``).
"""

from ._conditional_access import (
    ACTIONS,
    AccessDecision,
    AccessPolicy,
    AccessSubject,
    NamedLocation,
    evaluate_access,
    parse_networks,
)
from ._errors import (
    FreshSignInRequired,
    InvalidCode,
    InvalidCredentials,
    LastFactorError,
    SignInThrottled,
    StepUpRequired,
    WeakPasswordError,
)
from ._lockout import LockoutDecision, LockoutPolicy, ThrottleState, decide, record_failure, retry_delay
from ._models import (
    FactorInfo,
    LocationInfo,
    PolicyInfo,
    SessionInfo,
    SignedInUser,
    SignInTicket,
    TotpEnrolment,
    UserInfo,
)
from ._passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    PasswordHashing,
    check_password_policy,
    common_passwords,
)
from ._recovery_codes import RECOVERY_CODE_COUNT, generate_recovery_codes, normalise_recovery_code
from ._return_to import login_path, safe_return_to
from ._service import SESSION_COOKIE, AuditHook, IdentityService, RecordedEvent
from ._sessions import SessionLimits
from ._totp import (
    TotpParams,
    generate_totp_secret,
    hotp,
    otpauth_uri,
    secret_from_base32,
    secret_to_base32,
    time_step,
    totp,
    verify_totp,
)
from ._web import PENDING_COOKIE, PRE_SESSION_COOKIE, install_identity

__all__ = [
    "ACTIONS",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PENDING_COOKIE",
    "PRE_SESSION_COOKIE",
    "RECOVERY_CODE_COUNT",
    "SESSION_COOKIE",
    "AccessDecision",
    "AccessPolicy",
    "AccessSubject",
    "AuditHook",
    "FactorInfo",
    "FreshSignInRequired",
    "IdentityService",
    "InvalidCode",
    "InvalidCredentials",
    "LastFactorError",
    "LocationInfo",
    "LockoutDecision",
    "LockoutPolicy",
    "NamedLocation",
    "PasswordHashing",
    "PolicyInfo",
    "RecordedEvent",
    "SessionInfo",
    "SessionLimits",
    "SignInThrottled",
    "SignInTicket",
    "SignedInUser",
    "StepUpRequired",
    "ThrottleState",
    "TotpEnrolment",
    "TotpParams",
    "UserInfo",
    "WeakPasswordError",
    "check_password_policy",
    "common_passwords",
    "decide",
    "evaluate_access",
    "generate_recovery_codes",
    "generate_totp_secret",
    "hotp",
    "install_identity",
    "login_path",
    "normalise_recovery_code",
    "otpauth_uri",
    "parse_networks",
    "record_failure",
    "retry_delay",
    "safe_return_to",
    "secret_from_base32",
    "secret_to_base32",
    "time_step",
    "totp",
    "verify_totp",
]
