"""The identity service: accounts, sign-in (password → second factor, or forced TOTP enrolment), sessions,
factor management with fresh-sign-in and step-up rules, operator actions and conditional access.

Implements DESIGN §5 with NIST SP 800-63B: §5.1.1.2 (passwords: argon2id, blocklist, no composition rules),
§5.1.2 (look-up secrets = recovery codes), §5.1.4.2/§5.1.5.2 (OTP, RFC 6238, each step accepted once),
§5.2.2 (throttling, shared in the database), §7.1/§7.2 (sessions: 12 h absolute, 30 min idle, reauthentication);
WebAuthn (W3C Level 2) for phishing-resistant sign-in. All state lives in the database, so any number of nodes
share it; every check-and-update happens in one write transaction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import segno
from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.orm import Session

from ..clock import Clock, SystemClock, utcnow
from ..config import Settings
from ..errors import AccessDeniedError, ArgumentError, DuplicateObjectError, NotFoundError
from ..store import Database, Recipient, SecretBox, UnitOfWork
from ..store._identity_models import (
    CaNamedLocation,
    CaPolicy,
    IdentityEvent,
    IdentitySession,
    IdentityUser,
    RecoveryCode,
    TotpFactor,
    WebAuthnCredential,
)
from ._conditional_access import (
    ACTIONS,
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
)
from ._lockout import LockoutPolicy
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
from ._passwords import PasswordHashing, check_password_policy
from ._reads import location_rows, policy_rows, session_with_user, user_row
from ._recovery_codes import generate_recovery_codes, normalise_recovery_code
from ._return_to import login_path
from ._sessions import SessionLimits, hash_session_secret, new_session_id, new_session_secret
from ._throttles import check_and_count, reset_counters
from ._totp import generate_totp_secret, otpauth_uri, secret_to_base32, verify_totp
from ._webauthn import (
    assertion_credential_id,
    authentication_options_json,
    registration_options_json,
    verify_assertion,
    verify_registration,
)

__all__ = ["AuditHook", "IdentityService", "RecordedEvent"]

log = logging.getLogger("mailwarden.identity")

SESSION_COOKIE = "mw_session"
FRESH_WINDOW = timedelta(minutes=5)
PENDING_LIFETIME = timedelta(minutes=10)
CHALLENGE_LIFETIME = timedelta(minutes=5)
TOUCH_GRANULARITY = timedelta(seconds=60)
MAX_USERNAME = 320


@dataclass(frozen=True)
class RecordedEvent:
    """What the audit hook receives, inside the transaction that records the event."""

    tenant_id: str
    user_id: str | None
    kind: str
    ip: str | None
    detail: dict[str, Any]
    at: datetime


AuditHook = Callable[[UnitOfWork, RecordedEvent], None]


@dataclass
class _Attempt:
    """[failure audit] Whose second-factor attempt this is, set by the attempt once it knows."""

    user_id: str | None = None
    ip: str | None = None


def _acr(amr: Iterable[str]) -> str:
    methods = set(amr)
    if "hwk" in methods:
        return "3"
    if methods & {"otp", "rc"}:
        return "2"
    return "1"


def _user_info(row: IdentityUser | Row[Any]) -> UserInfo:
    return UserInfo(
        tenant_id=row.tenant_id,
        user_id=row.id,
        upn=row.upn,
        display_name=row.display_name,
        disabled=row.disabled,
        role_groups=tuple(row.role_groups or ()),
        recipient_id=row.recipient_id,
        created_at=row.created_at,
    )


def _validate_upn(upn: str) -> str:
    value = upn.strip()
    local, _, domain = value.partition("@")
    if (
        not local
        or not domain
        or "." not in domain
        or len(value) > MAX_USERNAME
        or any(c.isspace() for c in value)
    ):
        raise ArgumentError(f"'{upn}' is not a valid user principal name (user@domain).")
    return value


class IdentityService:
    """One per app (``install_identity``) or per CLI invocation. Thread-safe: no mutable state of its own."""

    def __init__(
        self,
        db: Database,
        *,
        secret_key: bytes,
        clock: Clock | None = None,
        lockout: LockoutPolicy | None = None,
        limits: SessionLimits | None = None,
        hashing: PasswordHashing | None = None,
        issuer: str = "mailwarden",
        audit_hook: AuditHook | None = None,
    ) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()
        self.lockout = lockout or LockoutPolicy()
        self.limits = limits or SessionLimits()
        self.hashing = hashing or PasswordHashing.default()
        self.issuer = issuer
        self.audit_hook = audit_hook
        self._box = SecretBox(secret_key)
        self.csrf_key = hmac.new(secret_key, b"mailwarden identity csrf v1", hashlib.sha256).digest()

    @classmethod
    def from_settings(
        cls, settings: Settings, db: Database, clock: Clock | None = None, **kwargs: Any
    ) -> IdentityService:
        return cls(
            db,
            secret_key=settings.resolved_secret_key(),
            clock=clock,
            lockout=LockoutPolicy(
                threshold=settings.lockout_threshold, lock_seconds=settings.lockout_minutes * 60
            ),
            limits=SessionLimits(
                absolute=timedelta(hours=settings.session_absolute_hours),
                idle=timedelta(minutes=settings.session_idle_minutes),
            ),
            **kwargs,
        )

    # --- plumbing -----------------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return utcnow(self.clock)

    def _event(
        self,
        uow: UnitOfWork,
        tenant_id: str,
        user_id: str | None,
        kind: str,
        *,
        ip: str | None = None,
        **detail: Any,
    ) -> None:
        now = self._now()
        uow.session.add(
            IdentityEvent(
                tenant_id=tenant_id, user_id=user_id, kind=kind, created_at=now, ip=ip, detail=detail
            )
        )
        event = RecordedEvent(tenant_id, user_id, kind, ip, dict(detail), now)
        if self.audit_hook is not None:
            self.audit_hook(uow, event)
        uow.after_commit(
            lambda: log.info("identity event %s tenant=%s user=%s %s", kind, tenant_id, user_id, detail)
        )

    # [failure audit] Failed second factors and throttled/locked attempts (RecordType 15, see
    # audit/_identity_events): each recorded in a unit of work of its own, opened after the attempt's own has
    # ended — it survives that one's rollback, and on SQLite it does not wait on that one's write lock.

    def _record_failure(
        self, tenant_id: str, user_id: str | None, ip: str | None, kind: str, **detail: Any
    ) -> None:
        with self.db.unit_of_work() as uow:
            self._event(uow, tenant_id, user_id, kind, ip=ip, **detail)

    @contextmanager
    def _failures_recorded(
        self, tenant_id: str, stage: str, method: str, *, refusals: bool = True
    ) -> Iterator[_Attempt]:
        """Wrap a second-factor attempt: a wrong code (``mfa_failed``) or a throttled/locked one
        (``sign_in_throttled``) is recorded once the body has named the user (``attempt.user_id``; an
        expired or unknown pending sign-in names nobody and records nothing), then re-raised.
        ``refusals=False``: the attempt records its own refusals (WebAuthn's ``webauthn_refused``, in its
        transaction), so only throttling is recorded here."""
        attempt = _Attempt()
        try:
            yield attempt
        except SignInThrottled as exc:
            if attempt.user_id is not None:
                self._record_failure(
                    tenant_id, attempt.user_id, attempt.ip, "sign_in_throttled", stage=stage, method=method,
                    retry_after=exc.retry_after,
                )  # fmt: skip
            raise
        except InvalidCode as exc:
            if attempt.user_id is not None and refusals:
                self._record_failure(
                    tenant_id, attempt.user_id, attempt.ip, "mfa_failed", stage=stage, method=method,
                    reason=str(exc),
                )  # fmt: skip
            raise

    def _totp_aad(self, tenant_id: str, user_id: str) -> bytes:
        return f"totp:{tenant_id}:{user_id}".encode()

    @contextmanager
    def _reading(self, session: Session | None) -> Iterator[Session]:
        """The caller's session when it has one (the OAuth grants pass theirs: one transaction per token
        request instead of one per check), else a read-only unit of work of our own."""
        if session is not None:
            yield session
            return
        with self.db.unit_of_work(write=False) as uow:
            yield uow.session

    def _user(self, session: Session, tenant_id: str, user_id: str) -> IdentityUser | None:
        row = session.get(IdentityUser, user_id)
        return row if row is not None and row.tenant_id == tenant_id else None

    def _user_by_upn(self, session: Session, tenant_id: str, upn: str) -> IdentityUser | None:
        return session.scalar(
            select(IdentityUser).where(
                IdentityUser.tenant_id == tenant_id,
                IdentityUser.upn_key == upn.strip().lower()[:MAX_USERNAME],
            )
        )

    def _require_user(self, session: Session, tenant_id: str, user_id: str) -> IdentityUser:
        row = self._user(session, tenant_id, user_id)
        if row is None:
            raise NotFoundError(f"The user '{user_id}' was not found.")
        return row

    def _has_second_factor(self, session: Session, user_id: str) -> bool:
        totp = session.scalar(
            select(func.count())
            .select_from(TotpFactor)
            .where(TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None))
        )
        keys = session.scalar(
            select(func.count()).select_from(WebAuthnCredential).where(WebAuthnCredential.user_id == user_id)
        )
        return bool(totp or keys)

    def _pending(
        self, session: Session, tenant_id: str, secret: str, *, states: tuple[str, ...]
    ) -> IdentitySession:
        row = session.scalar(
            select(IdentitySession)
            .where(IdentitySession.secret_hash == hash_session_secret(secret))
            .with_for_update()
        )
        now = self._now()
        if (
            row is None
            or row.tenant_id != tenant_id
            or row.state not in states
            or row.revoked_at is not None
            or now >= row.created_at + PENDING_LIFETIME
        ):
            raise InvalidCode("The sign-in has expired. Start again.")
        return row

    def _active(self, session: Session, tenant_id: str, session_id: str) -> IdentitySession:
        row = session.get(IdentitySession, session_id, with_for_update=True)
        if row is None or row.tenant_id != tenant_id or not self._alive(row, self._now()):
            raise AccessDeniedError("The session has ended. Sign in again.")
        return row

    def _alive(self, row: IdentitySession | Row[Any], now: datetime) -> bool:
        return (
            row.state == "active"
            and row.revoked_at is None
            and not self.limits.expired(created_at=row.created_at, last_seen_at=row.last_seen_at, now=now)
        )

    def _require_fresh(self, row: IdentitySession) -> None:
        latest = max(row.auth_time, row.mfa_at or row.auth_time)
        if self._now() - latest > FRESH_WINDOW:
            raise FreshSignInRequired("Sign in again (within the last 5 minutes) to enrol a factor.")

    def _require_step_up(self, row: IdentitySession) -> None:
        if row.mfa_at is None or self._now() - row.mfa_at > FRESH_WINDOW:
            raise StepUpRequired("Confirm with a second factor (step-up) to change or remove a factor.")

    def _new_session(
        self,
        session: Session,
        user: IdentityUser,
        state: Literal["active", "pending", "enrol"],
        amr: list[str],
        *,
        ip: str | None,
        user_agent: str | None,
        auth_time: datetime | None = None,
    ) -> SignInTicket:
        now = self._now()
        secret = new_session_secret()
        sid = new_session_id()
        session.add(
            IdentitySession(
                id=sid,
                tenant_id=user.tenant_id,
                user_id=user.id,
                secret_hash=hash_session_secret(secret),
                state=state,
                created_at=now,
                last_seen_at=now,
                auth_time=auth_time or now,
                mfa_at=now if set(amr) & {"otp", "hwk", "rc"} else None,
                amr=amr,
                ip=ip,
                user_agent=(user_agent or "")[:256] or None,
            )
        )
        return SignInTicket(user.tenant_id, user.id, sid, secret, state)

    def _promote(self, uow: UnitOfWork, pending: IdentitySession, method: str) -> SignInTicket:
        """Finish a pending sign-in: a NEW session id and secret (no fixation); the pending row goes."""
        user = self._require_user(uow.session, pending.tenant_id, pending.user_id)
        amr = ["pwd", method]
        ticket = self._new_session(
            uow.session, user, "active", amr, ip=pending.ip, user_agent=pending.user_agent
        )
        uow.session.delete(pending)
        self._event(
            uow, user.tenant_id, user.id, "sign_in", ip=pending.ip, amr=amr, session_id=ticket.session_id
        )
        return ticket

    # --- accounts -----------------------------------------------------------------------------------------

    def create_user(
        self,
        tenant_id: str,
        upn: str,
        password: str,
        *,
        display_name: str | None = None,
        role_groups: Iterable[str] = (),
    ) -> UserInfo:
        """Create an account; it is linked to the directory recipient with the same UPN when one exists."""
        upn = _validate_upn(upn)
        check_password_policy(password, context=(upn, upn.split("@")[0], display_name or ""))
        password_hash = self.hashing.hash(password)
        groups = sorted({g.strip() for g in role_groups if g.strip()}, key=str.lower)
        now = self._now()
        with self.db.unit_of_work() as uow:
            if self._user_by_upn(uow.session, tenant_id, upn) is not None:
                raise DuplicateObjectError(f"The user '{upn}' already exists.")
            recipient = uow.session.scalar(
                select(Recipient).where(
                    Recipient.tenant_id == tenant_id, func.lower(Recipient.user_principal_name) == upn.lower()
                )
            )
            row = IdentityUser(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                upn=upn,
                upn_key=upn.lower(),
                display_name=(
                    display_name or (recipient.display_name if recipient else None) or upn.split("@")[0]
                ),
                password_hash=password_hash,
                disabled=False,
                role_groups=groups,
                recipient_id=recipient.id if recipient else None,
                created_at=now,
                password_changed_at=now,
            )
            uow.session.add(row)
            uow.session.flush()
            self._event(uow, tenant_id, row.id, "user_created", role_groups=groups)
            return _user_info(row)

    def set_password(self, tenant_id: str, user_id: str, password: str) -> None:
        """Set a new password (policy-checked) and end the user's sessions."""
        with self.db.unit_of_work(write=False) as uow:
            user = self._require_user(uow.session, tenant_id, user_id)
            context = (user.upn, user.upn.split("@")[0], user.display_name)
        check_password_policy(password, context=context)
        password_hash = self.hashing.hash(password)
        with self.db.unit_of_work() as uow:
            user = self._require_user(uow.session, tenant_id, user_id)
            user.password_hash = password_hash
            user.password_changed_at = self._now()
            self._revoke_all(uow.session, tenant_id, user_id)
            self._event(uow, tenant_id, user_id, "password_changed")

    def set_disabled(self, tenant_id: str, user_id: str, disabled: bool = True) -> None:
        with self.db.unit_of_work() as uow:
            user = self._require_user(uow.session, tenant_id, user_id)
            user.disabled = disabled
            if disabled:
                self._revoke_all(uow.session, tenant_id, user_id)
            self._event(uow, tenant_id, user_id, "user_disabled" if disabled else "user_enabled")

    def get_user(self, tenant_id: str, user_id: str, *, session: Session | None = None) -> UserInfo | None:
        with self._reading(session) as read:
            row = user_row(read, tenant_id, user_id)
            return None if row is None else _user_info(row)

    def find_user(self, tenant_id: str, upn: str) -> UserInfo | None:
        with self.db.unit_of_work(write=False) as uow:
            row = self._user_by_upn(uow.session, tenant_id, upn)
            return None if row is None else _user_info(row)

    def list_users(self, tenant_id: str) -> list[UserInfo]:
        with self.db.unit_of_work(write=False) as uow:
            rows = uow.session.scalars(
                select(IdentityUser).where(IdentityUser.tenant_id == tenant_id).order_by(IdentityUser.upn_key)
            )
            return [_user_info(r) for r in rows]

    # --- sign-in: password ----------------------------------------------------------------------------------

    def sign_in_password(
        self, tenant_id: str, username: str, password: str, *, ip: str, user_agent: str | None = None
    ) -> SignInTicket:
        """First factor. Raises :class:`InvalidCredentials` (unknown account, wrong password, disabled — one
        answer, one cost) or :class:`SignInThrottled` (account or IP counter; unknown accounts count too).

        Returns an ``active`` ticket (no second factor needed), ``pending`` (second factor due) or ``enrol``
        (an account in a role group without a second factor: TOTP enrolment is forced)."""
        key = username.strip().lower()[:MAX_USERNAME]
        now = self._now()
        keys = [f"acct:{key}", f"ip:{ip}"]
        user_id: str | None = None
        try:
            with self.db.unit_of_work() as uow:
                user = self._user_by_upn(uow.session, tenant_id, key)
                user_id = user.id if user is not None else None
                check_and_count(uow.session, self.lockout, tenant_id, keys, now)
                stored = user.password_hash if user is not None and not user.disabled else None
        except SignInThrottled as exc:
            # [failure audit] The refusal rolled the attempt's transaction back; its record gets its own.
            # ``username`` (what was typed) attributes pre-authentication records, whether or not an
            # account exists (audit/_identity_events).
            self._record_failure(
                tenant_id, user_id, ip, "sign_in_throttled", stage="password", username=key,
                retry_after=exc.retry_after,
            )  # fmt: skip
            raise
        try:
            self.hashing.verify(stored, password)
        except InvalidCredentials:
            with self.db.unit_of_work() as uow:
                self._event(
                    uow, tenant_id, user_id, "sign_in_failed", ip=ip, reason="credentials", username=key
                )
            raise
        assert user_id is not None
        assert stored is not None
        rehash = self.hashing.hash(password) if self.hashing.needs_rehash(stored) else None
        with self.db.unit_of_work() as uow:
            reset_counters(uow.session, tenant_id, keys)
            row = self._require_user(uow.session, tenant_id, user_id)
            if rehash is not None:
                row.password_hash = rehash
            if self._has_second_factor(uow.session, row.id):
                state: Literal["active", "pending", "enrol"] = "pending"
            elif row.role_groups:
                state = "enrol"
            else:
                state = "active"
            ticket = self._new_session(uow.session, row, state, ["pwd"], ip=ip, user_agent=user_agent)
            if state == "active":
                self._event(
                    uow, tenant_id, row.id, "sign_in", ip=ip, amr=["pwd"], session_id=ticket.session_id
                )
            return ticket

    def pending_user(self, tenant_id: str, pending_secret: str) -> tuple[UserInfo, str, list[str]]:
        """For the second-step page: the user, the pending state and the methods available
        (``totp``, ``webauthn``, ``recovery_code``). Raises :class:`InvalidCode` when expired."""
        with self.db.unit_of_work(write=False) as uow:
            row = self._pending(uow.session, tenant_id, pending_secret, states=("pending", "enrol"))
            user = self._require_user(uow.session, tenant_id, row.user_id)
            return _user_info(user), row.state, self._methods(uow.session, user.id)

    def _methods(self, session: Session, user_id: str) -> list[str]:
        methods = []
        if session.scalar(
            select(TotpFactor.id)
            .where(TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None))
            .limit(1)
        ):
            methods.append("totp")
        if session.scalar(
            select(WebAuthnCredential.id).where(WebAuthnCredential.user_id == user_id).limit(1)
        ):
            methods.append("webauthn")
        if session.scalar(
            select(RecoveryCode.id)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
            .limit(1)
        ):
            methods.append("recovery_code")
        return methods

    # --- second factors: TOTP ---------------------------------------------------------------------------------

    def _totp_attempt(self, session: Session, tenant_id: str, user_id: str, code: str) -> InvalidCode | None:
        """Check-and-count the OTP throttle, verify against the confirmed factor, persist the step. Returns the
        refusal instead of raising it so that the caller commits the failure count first."""
        now = self._now()
        check_and_count(session, self.lockout, tenant_id, [f"otp:{user_id}"], now)
        row = session.scalar(
            select(TotpFactor)
            .where(TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None))
            .order_by(TotpFactor.id.desc())
            .limit(1)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is None:
            return InvalidCode("No authenticator app is registered.")
        key = self._box.open(row.secret, self._totp_aad(tenant_id, user_id))
        try:
            row.last_step = verify_totp(key, code, self.clock.now().timestamp(), last_step=row.last_step)
        except InvalidCode as exc:
            return exc
        reset_counters(session, tenant_id, [f"otp:{user_id}"])
        return None

    def verify_totp_code(self, tenant_id: str, user_id: str, code: str) -> None:
        """Verify (and consume) a TOTP code for a user; raises :class:`InvalidCode` or ``SignInThrottled``."""
        with self._failures_recorded(tenant_id, "verify", "totp") as attempt:
            attempt.user_id = user_id
            with self.db.unit_of_work() as uow:
                failure = self._totp_attempt(uow.session, tenant_id, user_id, code)
            if failure is not None:
                raise failure

    def complete_with_totp(self, tenant_id: str, pending_secret: str, code: str) -> SignInTicket:
        with self._failures_recorded(tenant_id, "sign_in", "totp") as attempt:
            with self.db.unit_of_work() as uow:
                pending = self._pending(uow.session, tenant_id, pending_secret, states=("pending",))
                attempt.user_id, attempt.ip = pending.user_id, pending.ip
                failure = self._totp_attempt(uow.session, tenant_id, pending.user_id, code)
                ticket = self._promote(uow, pending, "otp") if failure is None else None
            if failure is not None:
                raise failure
        assert ticket is not None
        return ticket

    def step_up_totp(self, tenant_id: str, session_id: str, code: str) -> None:
        with self._failures_recorded(tenant_id, "step_up", "totp") as attempt:
            with self.db.unit_of_work() as uow:
                row = self._active(uow.session, tenant_id, session_id)
                attempt.user_id, attempt.ip = row.user_id, row.ip
                failure = self._totp_attempt(uow.session, tenant_id, row.user_id, code)
                if failure is None:
                    self._stepped_up(uow, row, "otp")
            if failure is not None:
                raise failure

    def _stepped_up(self, uow: UnitOfWork, row: IdentitySession, method: str) -> None:
        now = self._now()
        row.mfa_at = now
        row.last_seen_at = now
        if method not in row.amr:
            row.amr = [*row.amr, method]
        self._event(uow, row.tenant_id, row.user_id, "step_up", ip=row.ip, method=method)

    def _enrolment_secret(self, session: Session, tenant_id: str, user_id: str) -> bytes:
        """The pending (unconfirmed) TOTP secret, created on first call and reused while it is fresh, so that
        reloading the enrolment page does not invalidate a QR code already scanned."""
        now = self._now()
        row = session.scalar(
            select(TotpFactor)
            .where(TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_(None))
            .order_by(TotpFactor.id.desc())
            .limit(1)
        )
        if row is not None and now - row.created_at < PENDING_LIFETIME:
            return self._box.open(row.secret, self._totp_aad(tenant_id, user_id))
        session.execute(
            delete(TotpFactor).where(TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_(None))
        )
        secret = generate_totp_secret()
        session.add(
            TotpFactor(
                tenant_id=tenant_id,
                user_id=user_id,
                secret=self._box.seal(secret, self._totp_aad(tenant_id, user_id)),
                created_at=now,
            )
        )
        return secret

    def _enrolment(self, upn: str, secret: bytes) -> TotpEnrolment:
        uri = otpauth_uri(secret, account=upn, issuer=self.issuer)
        svg = segno.make(uri, error="m").svg_data_uri(scale=4, border=2)
        return TotpEnrolment(secret_to_base32(secret), uri, svg)

    def _confirm_enrolment(
        self, uow: UnitOfWork, tenant_id: str, user_id: str, code: str
    ) -> InvalidCode | None:
        session = uow.session
        now = self._now()
        check_and_count(session, self.lockout, tenant_id, [f"otp:{user_id}"], now)
        row = session.scalar(
            select(TotpFactor)
            .where(TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_(None))
            .order_by(TotpFactor.id.desc())
            .limit(1)
            .with_for_update()
        )
        if row is None or now - row.created_at >= PENDING_LIFETIME:
            return InvalidCode("The enrolment has expired. Start again.")
        key = self._box.open(row.secret, self._totp_aad(tenant_id, user_id))
        try:
            row.last_step = verify_totp(key, code, self.clock.now().timestamp(), last_step=None)
        except InvalidCode as exc:
            return exc
        reset_counters(session, tenant_id, [f"otp:{user_id}"])
        session.execute(
            delete(TotpFactor).where(
                TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None), TotpFactor.id != row.id
            )
        )
        row.confirmed_at = now
        self._event(uow, tenant_id, user_id, "mfa_added", method="totp")
        return None

    def _fresh_recovery_codes(self, uow: UnitOfWork, tenant_id: str, user_id: str, hashes: list[str]) -> None:
        uow.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        now = self._now()
        for code_hash in hashes:
            uow.session.add(
                RecoveryCode(tenant_id=tenant_id, user_id=user_id, code_hash=code_hash, created_at=now)
            )
        self._event(uow, tenant_id, user_id, "recovery_codes_generated", count=len(hashes))

    def _new_codes(self) -> tuple[list[str], list[str]]:
        codes = generate_recovery_codes()
        return codes, [self.hashing.hasher.hash(normalise_recovery_code(c)) for c in codes]

    def forced_enrolment(self, tenant_id: str, pending_secret: str) -> TotpEnrolment:
        """The enrolment forced on an account in a role group at its first sign-in (the password was just
        verified, so the sign-in is fresh)."""
        with self.db.unit_of_work() as uow:
            pending = self._pending(uow.session, tenant_id, pending_secret, states=("enrol",))
            user = self._require_user(uow.session, tenant_id, pending.user_id)
            return self._enrolment(user.upn, self._enrolment_secret(uow.session, tenant_id, user.id))

    def complete_enrolment(
        self, tenant_id: str, pending_secret: str, code: str
    ) -> tuple[SignInTicket, list[str]]:
        """Confirm the forced enrolment with a code: the sign-in completes (amr pwd+otp) and ten recovery codes
        are issued (shown once)."""
        codes, hashes = self._new_codes()
        with self._failures_recorded(tenant_id, "enrolment", "totp") as attempt:
            with self.db.unit_of_work() as uow:
                pending = self._pending(uow.session, tenant_id, pending_secret, states=("enrol",))
                attempt.user_id, attempt.ip = pending.user_id, pending.ip
                failure = self._confirm_enrolment(uow, tenant_id, pending.user_id, code)
                if failure is None:
                    self._fresh_recovery_codes(uow, tenant_id, pending.user_id, hashes)
                    ticket = self._promote(uow, pending, "otp")
            if failure is not None:
                raise failure
        return ticket, codes

    def begin_totp_enrolment(self, tenant_id: str, session_id: str) -> TotpEnrolment:
        """Enrol (or replace) the authenticator app from a signed-in session: needs a sign-in within the last
        5 minutes; replacing an existing one needs step-up."""
        with self.db.unit_of_work() as uow:
            row = self._active(uow.session, tenant_id, session_id)
            self._require_fresh(row)
            if "totp" in self._methods(uow.session, row.user_id):
                self._require_step_up(row)
            user = self._require_user(uow.session, tenant_id, row.user_id)
            return self._enrolment(user.upn, self._enrolment_secret(uow.session, tenant_id, user.id))

    def confirm_totp_enrolment(self, tenant_id: str, session_id: str, code: str) -> list[str]:
        """Confirm with a code. Returns new recovery codes when the user had none, else ``[]``."""
        codes, hashes = self._new_codes()
        with self._failures_recorded(tenant_id, "enrolment", "totp") as attempt:
            with self.db.unit_of_work() as uow:
                row = self._active(uow.session, tenant_id, session_id)
                self._require_fresh(row)
                attempt.user_id, attempt.ip = row.user_id, row.ip
                had_codes = "recovery_code" in self._methods(uow.session, row.user_id)
                failure = self._confirm_enrolment(uow, tenant_id, row.user_id, code)
                if failure is None:
                    self._stepped_up(uow, row, "otp")
                    if not had_codes:
                        self._fresh_recovery_codes(uow, tenant_id, row.user_id, hashes)
            if failure is not None:
                raise failure
        return [] if had_codes else codes

    def operator_enroll_totp(self, tenant_id: str, user_id: str) -> TotpEnrolment:
        """Operator bootstrap (``mailwarden mfa enroll-totp``, run on the server host): a confirmed factor at
        once, replacing any previous one. The operator hands the secret/QR to the user."""
        secret = generate_totp_secret()
        now = self._now()
        with self.db.unit_of_work() as uow:
            user = self._require_user(uow.session, tenant_id, user_id)
            uow.session.execute(delete(TotpFactor).where(TotpFactor.user_id == user_id))
            uow.session.add(
                TotpFactor(
                    tenant_id=tenant_id,
                    user_id=user_id,
                    secret=self._box.seal(secret, self._totp_aad(tenant_id, user_id)),
                    created_at=now,
                    confirmed_at=now,
                )
            )
            self._event(uow, tenant_id, user_id, "mfa_added", method="totp", by="operator")
            return self._enrolment(user.upn, secret)

    # --- second factors: recovery codes -------------------------------------------------------------------------

    def regenerate_recovery_codes(self, tenant_id: str, session_id: str) -> list[str]:
        """Ten new codes (the old ones stop working). Replacing existing codes needs step-up."""
        codes, hashes = self._new_codes()
        with self.db.unit_of_work() as uow:
            row = self._active(uow.session, tenant_id, session_id)
            self._require_fresh(row)
            if "recovery_code" in self._methods(uow.session, row.user_id):
                self._require_step_up(row)
            self._fresh_recovery_codes(uow, tenant_id, row.user_id, hashes)
        return codes

    def _recovery_attempt(
        self,
        tenant_id: str,
        code: str,
        *,
        pending_secret: str | None = None,
        session_id: str | None = None,
        attempt: _Attempt | None = None,
    ) -> SignInTicket | None:
        now = self._now()
        with self.db.unit_of_work() as uow:
            if pending_secret is not None:
                first = self._pending(uow.session, tenant_id, pending_secret, states=("pending",))
            else:
                assert session_id is not None
                first = self._active(uow.session, tenant_id, session_id)
            user_id = first.user_id
            if attempt is not None:
                attempt.user_id, attempt.ip = user_id, first.ip
            check_and_count(uow.session, self.lockout, tenant_id, [f"rc:{user_id}"], now)
            candidates = [
                (r.id, r.code_hash)
                for r in uow.session.scalars(
                    select(RecoveryCode).where(
                        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
                    )
                )
            ]
        # argon2 verification outside the write transaction (it is slow on purpose).
        normalised = normalise_recovery_code(code)
        matched: int | None = None
        if 8 <= len(normalised) <= 32:
            for code_id, code_hash in candidates:
                try:
                    self.hashing.hasher.verify(code_hash, normalised)
                except Exception:  # noqa: S112 - any mismatch/invalid hash is "not this one"
                    continue
                matched = code_id
                break
        if matched is None:
            raise InvalidCode("The recovery code is not valid.")
        with self.db.unit_of_work() as uow:
            # Lock order as in the first transaction (session row, then counters, then codes): no deadlock.
            if pending_secret is not None:
                row = self._pending(uow.session, tenant_id, pending_secret, states=("pending",))
            else:
                assert session_id is not None
                row = self._active(uow.session, tenant_id, session_id)
            reset_counters(uow.session, tenant_id, [f"rc:{user_id}"])
            # Single use, also under races: only the transaction that flips used_at wins.
            used = uow.session.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == matched, RecoveryCode.used_at.is_(None))
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(used, "rowcount", 0) != 1:
                raise InvalidCode("The recovery code is not valid.")
            left = uow.session.scalar(
                select(func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
            )
            # The "notified" record: the user (and later the audit log) learns a recovery code was spent.
            self._event(uow, tenant_id, user_id, "recovery_code_used", remaining=left, notify=True)
            if pending_secret is not None:
                return self._promote(uow, row, "rc")
            self._stepped_up(uow, row, "rc")
            return None

    def complete_with_recovery_code(self, tenant_id: str, pending_secret: str, code: str) -> SignInTicket:
        with self._failures_recorded(tenant_id, "sign_in", "recovery_code") as attempt:
            ticket = self._recovery_attempt(tenant_id, code, pending_secret=pending_secret, attempt=attempt)
        assert ticket is not None
        return ticket

    def step_up_recovery_code(self, tenant_id: str, session_id: str, code: str) -> None:
        with self._failures_recorded(tenant_id, "step_up", "recovery_code") as attempt:
            self._recovery_attempt(tenant_id, code, session_id=session_id, attempt=attempt)

    # --- second factors: WebAuthn --------------------------------------------------------------------------------

    def _set_challenge(self, row: IdentitySession, purpose: str) -> bytes:
        challenge = secrets.token_bytes(32)
        row.challenge = challenge
        row.challenge_purpose = purpose
        row.challenge_expires_at = self._now() + CHALLENGE_LIFETIME
        return challenge

    def _take_challenge(self, row: IdentitySession, purpose: str) -> bytes:
        challenge, ok = row.challenge, row.challenge_purpose == purpose
        expires = row.challenge_expires_at
        row.challenge = row.challenge_purpose = row.challenge_expires_at = None  # single use
        if challenge is None or not ok or expires is None or self._now() >= expires:
            raise InvalidCode("The security-key challenge has expired. Try again.")
        return challenge

    def _allow_list(self, session: Session, user_id: str) -> list[bytes]:
        ids = session.scalars(
            select(WebAuthnCredential.credential_id).where(WebAuthnCredential.user_id == user_id)
        )
        return [base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)) for c in ids]

    def webauthn_registration_options(self, tenant_id: str, session_id: str, *, rp_id: str) -> str:
        """``PublicKeyCredentialCreationOptions`` as JSON for ``navigator.credentials.create``. Needs a fresh
        sign-in; user verification is required for accounts in a role group."""
        with self.db.unit_of_work() as uow:
            row = self._active(uow.session, tenant_id, session_id)
            self._require_fresh(row)
            user = self._require_user(uow.session, tenant_id, row.user_id)
            challenge = self._set_challenge(row, "register")
            return registration_options_json(
                rp_id=rp_id,
                rp_name=self.issuer,
                user_handle=uuid.UUID(user.id).bytes,
                user_name=user.upn,
                display_name=user.display_name,
                challenge=challenge,
                exclude_credential_ids=self._allow_list(uow.session, user.id),
                require_user_verification=bool(user.role_groups),
            )

    def register_webauthn(
        self,
        tenant_id: str,
        session_id: str,
        credential: str | dict[str, Any],
        *,
        rp_id: str,
        origin: str,
        name: str,
    ) -> FactorInfo:
        failure: InvalidCode | None = None
        with self.db.unit_of_work() as uow:
            row = self._active(uow.session, tenant_id, session_id)
            self._require_fresh(row)
            user = self._require_user(uow.session, tenant_id, row.user_id)
            try:
                challenge = self._take_challenge(row, "register")
                verified = verify_registration(
                    credential,
                    challenge=challenge,
                    rp_id=rp_id,
                    origin=origin,
                    require_user_verification=bool(user.role_groups),
                )
            except InvalidCode as exc:
                failure = exc
            else:
                exists = uow.session.scalar(
                    select(WebAuthnCredential.id).where(
                        WebAuthnCredential.tenant_id == tenant_id,
                        WebAuthnCredential.credential_id == verified.credential_id,
                    )
                )
                if exists is not None:
                    raise DuplicateObjectError("This security key is already registered.")
                cred = WebAuthnCredential(
                    tenant_id=tenant_id,
                    user_id=user.id,
                    credential_id=verified.credential_id,
                    public_key=verified.public_key,
                    sign_count=verified.sign_count,
                    name=(name.strip() or "Security key")[:128],
                    created_at=self._now(),
                )
                uow.session.add(cred)
                uow.session.flush()
                self._event(uow, tenant_id, user.id, "mfa_added", method="webauthn", name=cred.name)
                info = FactorInfo("webauthn", str(cred.id), cred.name, cred.created_at, None)
        if failure is not None:
            raise failure
        return info

    def webauthn_authentication_options(
        self, tenant_id: str, *, rp_id: str, pending_secret: str | None = None, session_id: str | None = None
    ) -> str:
        """``PublicKeyCredentialRequestOptions`` JSON for ``navigator.credentials.get`` — for the second step of
        a pending sign-in (``pending_secret``) or a step-up (``session_id``)."""
        with self.db.unit_of_work() as uow:
            row = self._factor_session(uow.session, tenant_id, pending_secret, session_id)
            user = self._require_user(uow.session, tenant_id, row.user_id)
            challenge = self._set_challenge(row, "authenticate")
            return authentication_options_json(
                rp_id=rp_id,
                challenge=challenge,
                allow_credential_ids=self._allow_list(uow.session, user.id),
                require_user_verification=bool(user.role_groups),
            )

    def _factor_session(
        self, session: Session, tenant_id: str, pending_secret: str | None, session_id: str | None
    ) -> IdentitySession:
        if pending_secret is not None:
            return self._pending(session, tenant_id, pending_secret, states=("pending",))
        if session_id is None:
            raise TypeError("pass pending_secret or session_id")
        return self._active(session, tenant_id, session_id)

    def _webauthn_attempt(
        self, uow: UnitOfWork, row: IdentitySession, credential: str | dict[str, Any], rp_id: str, origin: str
    ) -> InvalidCode | None:
        session = uow.session
        user = self._require_user(session, row.tenant_id, row.user_id)
        # Own throttle, like the OTP and recovery-code counters: a refused assertion counts (it is returned,
        # not raised, so the count commits); a locked counter raises before anything is verified.
        throttle = [f"hwk:{user.id}"]
        check_and_count(session, self.lockout, row.tenant_id, throttle, self._now())
        try:
            challenge = self._take_challenge(row, "authenticate")
            cred_id = assertion_credential_id(credential)
            cred = session.scalar(
                select(WebAuthnCredential)
                .where(
                    WebAuthnCredential.tenant_id == row.tenant_id,
                    WebAuthnCredential.user_id == user.id,
                    WebAuthnCredential.credential_id == cred_id,
                )
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            if cred is None:
                raise InvalidCode("This security key is not registered for the account.")
            cred.sign_count = verify_assertion(
                credential,
                challenge=challenge,
                rp_id=rp_id,
                origin=origin,
                public_key=cred.public_key,
                sign_count=cred.sign_count,
                require_user_verification=bool(user.role_groups),
            )
        except InvalidCode as exc:
            self._event(uow, row.tenant_id, user.id, "webauthn_refused", ip=row.ip, reason=str(exc))
            return exc
        cred.last_used_at = self._now()
        reset_counters(session, row.tenant_id, throttle)
        return None

    def complete_with_webauthn(
        self,
        tenant_id: str,
        pending_secret: str,
        credential: str | dict[str, Any],
        *,
        rp_id: str,
        origin: str,
    ) -> SignInTicket:
        with self._failures_recorded(tenant_id, "sign_in", "webauthn", refusals=False) as attempt:
            with self.db.unit_of_work() as uow:
                pending = self._pending(uow.session, tenant_id, pending_secret, states=("pending",))
                attempt.user_id, attempt.ip = pending.user_id, pending.ip
                failure = self._webauthn_attempt(uow, pending, credential, rp_id, origin)
                ticket = self._promote(uow, pending, "hwk") if failure is None else None
            if failure is not None:
                raise failure
        assert ticket is not None
        return ticket

    def step_up_webauthn(
        self, tenant_id: str, session_id: str, credential: str | dict[str, Any], *, rp_id: str, origin: str
    ) -> None:
        with self._failures_recorded(tenant_id, "step_up", "webauthn", refusals=False) as attempt:
            with self.db.unit_of_work() as uow:
                row = self._active(uow.session, tenant_id, session_id)
                attempt.user_id, attempt.ip = row.user_id, row.ip
                failure = self._webauthn_attempt(uow, row, credential, rp_id, origin)
                if failure is None:
                    self._stepped_up(uow, row, "hwk")
            if failure is not None:
                raise failure

    # --- factor listing and removal -------------------------------------------------------------------------------

    def list_factors(self, tenant_id: str, user_id: str) -> list[FactorInfo]:
        with self.db.unit_of_work(write=False) as uow:
            self._require_user(uow.session, tenant_id, user_id)
            out: list[FactorInfo] = []
            for t in uow.session.scalars(
                select(TotpFactor)
                .where(TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None))
                .order_by(TotpFactor.id)
            ):
                out.append(FactorInfo("totp", str(t.id), "Authenticator app", t.created_at, None))
            for w in uow.session.scalars(
                select(WebAuthnCredential)
                .where(WebAuthnCredential.user_id == user_id)
                .order_by(WebAuthnCredential.id)
            ):
                out.append(FactorInfo("webauthn", str(w.id), w.name, w.created_at, w.last_used_at))
            codes = list(uow.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user_id)))
            if codes:
                left = sum(1 for c in codes if c.used_at is None)
                used = [c.used_at for c in codes if c.used_at is not None]
                out.append(
                    FactorInfo(
                        "recovery_codes",
                        "recovery",
                        "Recovery codes",
                        min(c.created_at for c in codes),
                        max(used) if used else None,
                        left,
                    )
                )
            return out

    def _delete_factor(self, session: Session, user_id: str, kind: str, factor_id: str | None) -> int:
        if kind == "totp":
            stmt = delete(TotpFactor).where(TotpFactor.user_id == user_id)
            if factor_id is not None:
                stmt = stmt.where(TotpFactor.id == int(factor_id))
        elif kind == "webauthn":
            stmt = delete(WebAuthnCredential).where(WebAuthnCredential.user_id == user_id)
            if factor_id is not None:
                stmt = stmt.where(WebAuthnCredential.id == int(factor_id))
        elif kind == "recovery_codes":
            stmt = delete(RecoveryCode).where(RecoveryCode.user_id == user_id)
        else:
            raise ArgumentError(f"Unknown factor kind '{kind}' (totp, webauthn, recovery_codes).")
        result = session.execute(stmt.execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)

    def remove_factor(self, tenant_id: str, session_id: str, kind: str, factor_id: str | None = None) -> None:
        """Remove the caller's own factor; needs step-up (a second factor within the last 5 minutes)."""
        with self.db.unit_of_work() as uow:
            row = self._active(uow.session, tenant_id, session_id)
            self._require_step_up(row)
            if not self._delete_factor(uow.session, row.user_id, kind, factor_id):
                raise NotFoundError("No such factor.")
            # [factor removal] A role-group member cannot finish a sign-in without MFA (DESIGN §5), so the
            # last TOTP/WebAuthn factor stays: raising here rolls the deletion back. Recovery codes are a
            # fallback, not a factor of their own. (Operators can still reset: ``reset_factors``.)
            user = self._require_user(uow.session, tenant_id, row.user_id)
            if user.role_groups and not self._has_second_factor(uow.session, user.id):
                raise LastFactorError(
                    "This is your last second factor, and your account needs one. Add another sign-in "
                    "method first."
                )
            self._event(uow, tenant_id, row.user_id, "mfa_removed", method=kind, factor_id=factor_id)

    def reset_factors(self, tenant_id: str, user_id: str, kind: str | None = None) -> int:
        """Operator reset (``mailwarden mfa reset``): remove one kind or all factors and end the sessions. An
        account in a role group must enrol again at its next sign-in."""
        with self.db.unit_of_work() as uow:
            self._require_user(uow.session, tenant_id, user_id)
            kinds = [kind] if kind else ["totp", "webauthn", "recovery_codes"]
            removed = sum(self._delete_factor(uow.session, user_id, k, None) for k in kinds)
            self._revoke_all(uow.session, tenant_id, user_id)
            self._event(uow, tenant_id, user_id, "mfa_removed", method=kind or "all", by="operator")
            return removed

    # --- sessions ---------------------------------------------------------------------------------------------

    def session_from_secret(self, tenant_id: str, secret: str) -> SignedInUser | None:
        """The signed-in user for a session-cookie secret, enforcing idle/absolute limits; refreshes last-seen
        (at most once a minute, so reads stay reads)."""
        if not secret or len(secret) > 128:
            return None
        now = self._now()
        digest = hash_session_secret(secret)
        with self.db.unit_of_work(write=False) as uow:
            row = uow.session.scalar(select(IdentitySession).where(IdentitySession.secret_hash == digest))
            if row is None or row.tenant_id != tenant_id or not self._alive(row, now):
                return None
            user = self._user(uow.session, tenant_id, row.user_id)
            if user is None or user.disabled:
                return None
            touch = now - row.last_seen_at >= TOUCH_GRANULARITY
            signed_in = SignedInUser(
                tenant_id=tenant_id,
                user_id=user.id,
                upn=user.upn,
                display_name=user.display_name,
                amr=tuple(row.amr),
                acr=_acr(row.amr),
                auth_time=row.auth_time,
                session_id=row.id,
                role_groups=tuple(user.role_groups or ()),
            )
        if touch:
            with self.db.unit_of_work() as uow:
                uow.session.execute(
                    update(IdentitySession)
                    .where(IdentitySession.id == signed_in.session_id, IdentitySession.last_seen_at < now)
                    .values(last_seen_at=now)
                )
        return signed_in

    def login_url(self, tenant_ref: str, return_to: str) -> str:
        """Where an unauthenticated browser goes; after sign-in it lands on ``return_to`` (a same-origin
        relative path — anything else raises ``ValueError``)."""
        return login_path(tenant_ref, return_to)

    def current_user(self, request: Any, tenant_id: str) -> SignedInUser | None:
        """From the session cookie of a Starlette request."""
        secret = request.cookies.get(SESSION_COOKIE)
        return None if not secret else self.session_from_secret(tenant_id, secret)

    def session_active(self, session_id: str, *, session: Session | None = None) -> bool:
        with self._reading(session) as read:
            row = session_with_user(read, session_id)
            # user_disabled is None when the account is gone (outer join): not active either.
            return row is not None and row.user_disabled is False and self._alive(row, self._now())

    def list_sessions(self, tenant_id: str, user_id: str | None = None) -> list[SessionInfo]:
        now = self._now()
        with self.db.unit_of_work(write=False) as uow:
            stmt = (
                select(IdentitySession, IdentityUser.upn)
                .join(IdentityUser, IdentityUser.id == IdentitySession.user_id)
                .where(IdentitySession.tenant_id == tenant_id, IdentitySession.state == "active")
                .order_by(IdentitySession.created_at, IdentitySession.id)
            )
            if user_id is not None:
                stmt = stmt.where(IdentitySession.user_id == user_id)
            return [
                SessionInfo(
                    session_id=s.id,
                    tenant_id=s.tenant_id,
                    user_id=s.user_id,
                    upn=upn,
                    created_at=s.created_at,
                    last_seen_at=s.last_seen_at,
                    auth_time=s.auth_time,
                    expires_at=self.limits.expires_at(created_at=s.created_at, last_seen_at=s.last_seen_at),
                    amr=tuple(s.amr),
                    ip=s.ip,
                    user_agent=s.user_agent,
                )
                for s, upn in uow.session.execute(stmt).all()
                if self._alive(s, now)
            ]

    def _revoke_all(self, session: Session, tenant_id: str, user_id: str) -> int:
        result = session.execute(
            update(IdentitySession)
            .where(
                IdentitySession.tenant_id == tenant_id,
                IdentitySession.user_id == user_id,
                IdentitySession.revoked_at.is_(None),
            )
            .values(revoked_at=self._now())
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def revoke_session(self, tenant_id: str, session_id: str) -> None:
        with self.db.unit_of_work() as uow:
            row = uow.session.get(IdentitySession, session_id)
            if row is None or row.tenant_id != tenant_id or row.revoked_at is not None:
                raise NotFoundError(f"The session '{session_id}' was not found.")
            row.revoked_at = self._now()
            self._event(uow, tenant_id, row.user_id, "session_revoked", session_id=session_id)

    def revoke_user_sessions(self, tenant_id: str, user_id: str) -> int:
        with self.db.unit_of_work() as uow:
            count = self._revoke_all(uow.session, tenant_id, user_id)
            self._event(uow, tenant_id, user_id, "session_revoked", count=count)
            return count

    def sign_out(self, tenant_id: str, secret: str) -> None:
        """End the session whose cookie secret this is (no error when it is unknown or already ended)."""
        with self.db.unit_of_work() as uow:
            row = uow.session.scalar(
                select(IdentitySession).where(IdentitySession.secret_hash == hash_session_secret(secret))
            )
            if row is not None and row.tenant_id == tenant_id and row.revoked_at is None:
                row.revoked_at = self._now()
                self._event(uow, tenant_id, row.user_id, "sign_out", session_id=row.id)

    def list_events(
        self, tenant_id: str, user_id: str | None = None, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        with self.db.unit_of_work(write=False) as uow:
            stmt = select(IdentityEvent).where(IdentityEvent.tenant_id == tenant_id)
            if user_id is not None:
                stmt = stmt.where(IdentityEvent.user_id == user_id)
            return [
                {"kind": e.kind, "user_id": e.user_id, "at": e.created_at.isoformat(), "ip": e.ip, **e.detail}
                for e in uow.session.scalars(stmt.order_by(IdentityEvent.id.desc()).limit(limit))
            ]

    # --- conditional access ------------------------------------------------------------------------------------

    def add_location(self, tenant_id: str, name: str, cidrs: Iterable[str]) -> LocationInfo:
        name = name.strip()
        if not name or len(name) > 128:
            raise ArgumentError("A named location needs a name of 1 to 128 characters.")
        try:
            networks = parse_networks(cidrs)
        except ValueError as exc:
            raise ArgumentError(str(exc)) from None
        if not networks:
            raise ArgumentError("A named location needs at least one CIDR range.")
        with self.db.unit_of_work() as uow:
            if uow.session.scalar(
                select(CaNamedLocation.id).where(
                    CaNamedLocation.tenant_id == tenant_id, CaNamedLocation.name_key == name.lower()
                )
            ):
                raise DuplicateObjectError(f"The named location '{name}' already exists.")
            texts = [str(n) for n in networks]
            uow.session.add(
                CaNamedLocation(
                    tenant_id=tenant_id, name=name, name_key=name.lower(), cidrs=texts, created_at=self._now()
                )
            )
            self._event(uow, tenant_id, None, "ca_location_added", name=name, cidrs=texts)
            return LocationInfo(name, tuple(texts))

    def list_locations(self, tenant_id: str) -> list[LocationInfo]:
        with self.db.unit_of_work(write=False) as uow:
            rows = uow.session.scalars(
                select(CaNamedLocation)
                .where(CaNamedLocation.tenant_id == tenant_id)
                .order_by(CaNamedLocation.name_key)
            )
            return [LocationInfo(r.name, tuple(r.cidrs)) for r in rows]

    def remove_location(self, tenant_id: str, name: str) -> None:
        key = name.strip().lower()
        with self.db.unit_of_work() as uow:
            row = uow.session.scalar(
                select(CaNamedLocation).where(
                    CaNamedLocation.tenant_id == tenant_id, CaNamedLocation.name_key == key
                )
            )
            if row is None:
                raise NotFoundError(f"The named location '{name}' was not found.")
            users = [
                p.name
                for p in uow.session.scalars(select(CaPolicy).where(CaPolicy.tenant_id == tenant_id))
                if key in p.locations
            ]
            if users:
                raise ArgumentError(
                    f"The named location '{row.name}' is used by policies: {', '.join(sorted(users))}."
                )
            uow.session.delete(row)
            self._event(uow, tenant_id, None, "ca_location_removed", name=row.name)

    def add_policy(
        self,
        tenant_id: str,
        name: str,
        action: str,
        *,
        all_users: bool = False,
        users: Iterable[str] = (),
        role_groups: Iterable[str] = (),
        apps: Iterable[str] = (),
        locations: Iterable[str] = (),
        enabled: bool = True,
    ) -> PolicyInfo:
        name = name.strip()
        if not name or len(name) > 128:
            raise ArgumentError("A policy needs a name of 1 to 128 characters.")
        if action not in ACTIONS:
            raise ArgumentError(f"Unknown action '{action}'; use one of {', '.join(ACTIONS)}.")
        user_list = sorted({u.strip().lower() for u in users if u.strip()})
        group_list = sorted({g.strip().lower() for g in role_groups if g.strip()})
        app_list = sorted({a.strip().lower() for a in apps if a.strip()})
        loc_list = sorted({loc.strip().lower() for loc in locations if loc.strip()})
        if not (all_users or user_list or group_list or app_list):
            raise ArgumentError("Assign the policy to all users, users, role groups or apps.")
        if app_list and action != "block_outside_locations":
            raise ArgumentError("Only block_outside_locations applies to apps (apps have no second factor).")
        if action == "block_outside_locations" and not loc_list:
            raise ArgumentError("block_outside_locations needs at least one named location.")
        if action != "block_outside_locations" and loc_list:
            raise ArgumentError("Named locations only apply to block_outside_locations.")
        with self.db.unit_of_work() as uow:
            known = set(
                uow.session.scalars(
                    select(CaNamedLocation.name_key).where(CaNamedLocation.tenant_id == tenant_id)
                )
            )
            missing = [loc for loc in loc_list if loc not in known]
            if missing:
                raise ArgumentError(f"Unknown named location(s): {', '.join(missing)}.")
            if uow.session.scalar(
                select(CaPolicy.id).where(CaPolicy.tenant_id == tenant_id, CaPolicy.name_key == name.lower())
            ):
                raise DuplicateObjectError(f"The policy '{name}' already exists.")
            row = CaPolicy(
                tenant_id=tenant_id,
                name=name,
                name_key=name.lower(),
                action=action,
                enabled=enabled,
                all_users=all_users,
                users=user_list,
                role_groups=group_list,
                apps=app_list,
                locations=loc_list,
                created_at=self._now(),
            )
            uow.session.add(row)
            self._event(uow, tenant_id, None, "ca_policy_added", name=name, action=action)
            return self._policy_info(row)

    @staticmethod
    def _policy_info(row: CaPolicy) -> PolicyInfo:
        return PolicyInfo(
            row.name,
            row.action,
            row.enabled,
            row.all_users,
            tuple(row.users),
            tuple(row.role_groups),
            tuple(row.apps),
            tuple(row.locations),
        )

    def list_policies(self, tenant_id: str) -> list[PolicyInfo]:
        with self.db.unit_of_work(write=False) as uow:
            rows = uow.session.scalars(
                select(CaPolicy).where(CaPolicy.tenant_id == tenant_id).order_by(CaPolicy.name_key)
            )
            return [self._policy_info(r) for r in rows]

    def remove_policy(self, tenant_id: str, name: str) -> None:
        with self.db.unit_of_work() as uow:
            row = uow.session.scalar(
                select(CaPolicy).where(
                    CaPolicy.tenant_id == tenant_id, CaPolicy.name_key == name.strip().lower()
                )
            )
            if row is None:
                raise NotFoundError(f"The policy '{name}' was not found.")
            uow.session.delete(row)
            self._event(uow, tenant_id, None, "ca_policy_removed", name=row.name)

    def check_access(
        self,
        tenant_id: str,
        *,
        user_id: str | None,
        app_id: str | None,
        amr: tuple[str, ...],
        ip: str,
        stage: Literal["token", "call"],
        session: Session | None = None,
    ) -> None:
        """Conditional access at token issue (``stage="token"``) and on every API call (``"call"``). Raises
        :class:`AccessDeniedError` naming the policy; the denial is recorded as an event (audited) in a
        transaction of its own, so it survives the caller's rollback."""
        with self._reading(session) as read:
            subject = AccessSubject(app_id=app_id)
            if user_id is not None:
                user = user_row(read, tenant_id, user_id)
                if user is None or user.disabled:
                    denial: tuple[str | None, str] | None = (
                        None,
                        "the account is disabled or does not exist",
                    )
                    subject = AccessSubject(user_id=user_id, app_id=app_id)
                else:
                    denial = None
                    subject = AccessSubject(
                        user_id=user.id,
                        upn=user.upn,
                        role_groups=frozenset(user.role_groups or ()),
                        app_id=app_id,
                    )
            else:
                denial = None
            if denial is None:
                policies = [
                    AccessPolicy(
                        name=p.name,
                        action=p.action,  # validated on insert
                        all_users=p.all_users,
                        users=frozenset(p.users),
                        role_groups=frozenset(p.role_groups),
                        apps=frozenset(p.apps),
                        locations=tuple(p.locations),
                        enabled=p.enabled,
                    )
                    for p in policy_rows(read, tenant_id)
                ]
                # Named locations matter only to a policy that names some (most tenants have no policy).
                locations = (
                    {
                        loc.name_key: NamedLocation(loc.name_key, parse_networks(loc.cidrs))
                        for loc in location_rows(read, tenant_id)
                    }
                    if any(p.locations for p in policies)
                    else {}
                )
                decision = evaluate_access(policies, locations, subject, amr, ip)
                if not decision.allowed:
                    denial = (decision.policy, decision.reason or "denied")
        if denial is None:
            return
        policy, reason = denial

        def record() -> None:
            with self.db.unit_of_work() as uow:
                self._event(
                    uow,
                    tenant_id,
                    user_id,
                    "ca_denied",
                    ip=ip,
                    policy=policy,
                    reason=reason,
                    stage=stage,
                    app_id=app_id,
                )

        # Inside a caller's write transaction (a token grant) the record waits until that transaction has
        # ended: it rolls back on this denial, and a second writer now would wait on its lock.
        caller = None if session is None else UnitOfWork.of(session)
        if caller is not None and caller.write:
            caller.after_end(record)
        else:
            record()
        if policy is None:
            raise AccessDeniedError(f"Access denied: {reason}.")
        raise AccessDeniedError(f"Access denied by conditional access policy '{policy}': {reason}.")
