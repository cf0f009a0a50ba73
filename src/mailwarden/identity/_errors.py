"""Identity errors. Verifiers raise; nothing security-relevant hides in a boolean.

::

    MailwardenError
    ├── InvalidCode                      a TOTP / recovery code / WebAuthn assertion was refused
    ├── InvalidCredentials               unknown account, wrong password or disabled account (one answer)
    └── ApiError
        ├── ArgumentError
        │   └── WeakPasswordError        password refused at set time (NIST SP 800-63B §5.1.1.2)
        ├── AccessDeniedError
        │   ├── FreshSignInRequired      enrolment needs a sign-in within the last 5 minutes
        │   ├── StepUpRequired           changing/removing a factor needs a second factor within 5 minutes
        │   └── LastFactorError          removing a role-group member's last second factor
        └── ThrottledError
            └── SignInThrottled          exponential delay or temporary lock (same for unknown accounts)

``InvalidCode`` and ``InvalidCredentials`` are deliberately *not* API errors: the sign-in pages turn them into
one fixed sentence so that the reason (unknown user, wrong password) never reaches the client.
"""

from __future__ import annotations

from ..errors import AccessDeniedError, ArgumentError, MailwardenError, ThrottledError

__all__ = [
    "FreshSignInRequired",
    "InvalidCode",
    "InvalidCredentials",
    "LastFactorError",
    "SignInThrottled",
    "StepUpRequired",
    "WeakPasswordError",
]


class InvalidCode(MailwardenError):
    """A one-time code or authenticator response was not accepted."""


class InvalidCredentials(MailwardenError):
    """Unknown account, wrong password, or a disabled account: callers cannot tell which."""


class WeakPasswordError(ArgumentError):
    """The password breaks the policy: too short, too long, or on the common-password list."""


class FreshSignInRequired(AccessDeniedError):
    """The session's sign-in is older than the enrolment window."""


class StepUpRequired(AccessDeniedError):
    """No second factor was presented recently enough for this change."""


class LastFactorError(AccessDeniedError):
    """An account in a role group must keep a second factor (DESIGN §5: no sign-in without MFA)."""


class SignInThrottled(ThrottledError):
    """Too many consecutive failures: wait (``retry_after`` seconds) or the account/IP is locked."""
