"""Sign-in pages under ``/{tenant}/login/…``: server-rendered HTML forms (Jinja2, autoescaped), CSRF tokens bound
to a pre-session cookie (OWASP CSRF cheat sheet, "signed double-submit cookie"), session cookies ``HttpOnly``,
``SameSite=Lax`` and ``Secure`` over TLS (RFC 6265 §4.1.2). Unknown account, wrong password and a locked
account read "Your account or password is incorrect."; a throttled attempt (known or unknown account alike)
adds "Too many attempts. Try again later." (NIST SP 800-63B §5.2.2). WebAuthn uses a few lines of JavaScript
around ``navigator.credentials`` (W3C WebAuthn Level 2 §5.1).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..audit._identity_events import identity_audit_hook
from ..errors import AccessDeniedError, ApiError, NotFoundError
from ._errors import (
    FreshSignInRequired,
    InvalidCode,
    InvalidCredentials,
    LastFactorError,
    SignInThrottled,
    StepUpRequired,
)
from ._models import SignedInUser, SignInTicket
from ._return_to import login_path, safe_return_to
from ._service import SESSION_COOKIE, IdentityService

__all__ = ["PENDING_COOKIE", "PRE_SESSION_COOKIE", "install_identity"]

PRE_SESSION_COOKIE = "mw_pre"
PENDING_COOKIE = "mw_pending"
INCORRECT = "Your account or password is incorrect."
THROTTLED = "Too many attempts. Try again later."
BAD_CODE = "That code didn't work. Check it and try again."
EXPIRED = "Your sign-in took too long. Start again."
BAD_FORM = "The form expired. Reload the page and try again."
MAX_FORM_FIELD = 4096

_env = Environment(
    loader=PackageLoader("mailwarden.identity", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class _Pages:
    def __init__(self, service: IdentityService, state: Any) -> None:
        self.service = service
        self.state = state

    # --- helpers ------------------------------------------------------------------------------------------

    def tenant_id(self, ref: str) -> str | None:
        info = self.state.tenant(ref)
        return None if info is None else str(info.id)

    def csrf_token(self, pre: str) -> str:
        return hmac.new(self.service.csrf_key, f"csrf:{pre}".encode(), hashlib.sha256).hexdigest()

    def render(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        pre = request.cookies.get(PRE_SESSION_COOKIE)
        new_pre = None
        if not pre or len(pre) > 64:
            pre = new_pre = secrets.token_urlsafe(32)
        body = _env.get_template(template).render(csrf=self.csrf_token(pre), **context)
        response = HTMLResponse(body, status_code=status, headers=headers)
        self.harden(response)
        if new_pre is not None:
            self.cookie(request, response, PRE_SESSION_COOKIE, new_pre)
        return response

    @staticmethod
    def harden(response: Response) -> None:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"

    def secure(self, request: Request) -> bool:
        base = self.state.settings.public_base_url or ""
        return request.url.scheme == "https" or base.startswith("https://")

    def cookie(
        self, request: Request, response: Response, name: str, value: str, max_age: int | None = None
    ) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=self.secure(request)
        )

    def redirect(self, url: str) -> RedirectResponse:
        response = RedirectResponse(url, status_code=303)
        self.harden(response)
        return response

    async def form(self, request: Request) -> dict[str, str] | None:
        """The POSTed form fields, or ``None`` when the CSRF token does not match the pre-session cookie."""
        raw = await request.form()
        fields = {k: v[:MAX_FORM_FIELD] for k, v in raw.items() if isinstance(v, str)}
        pre = request.cookies.get(PRE_SESSION_COOKIE)
        token = fields.get("csrf", "")
        if not pre or not hmac.compare_digest(token.encode(), self.csrf_token(pre).encode()):
            return None
        return fields

    def rp(self, request: Request) -> tuple[str, str]:
        base = self.state.settings.public_base_url
        parts = urlsplit(base) if base else urlsplit(str(request.base_url))
        return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"

    def default_return(self, ref: str) -> str:
        return f"/{quote(ref, safe='')}/login/account"

    def ret(self, ref: str, value: str | None) -> str:
        return safe_return_to(value) or self.default_return(ref)

    def finish(self, request: Request, ref: str, ticket: SignInTicket, return_to: str) -> Response:
        """Set the session cookie (new secret: no fixation) and go on."""
        response = self.redirect(return_to)
        self.cookie(request, response, SESSION_COOKIE, ticket.secret)
        response.delete_cookie(PENDING_COOKIE, path="/")
        return response

    def after_password(self, request: Request, ref: str, ticket: SignInTicket, return_to: str) -> Response:
        if ticket.state == "active":
            return self.finish(request, ref, ticket, return_to)
        step = "enroll" if ticket.state == "enrol" else "mfa"
        response = self.redirect(f"/{quote(ref, safe='')}/login/{step}?return_to={quote(return_to, safe='')}")
        self.cookie(request, response, PENDING_COOKIE, ticket.secret, max_age=600)
        return response

    def attempt_factor(
        self,
        request: Request,
        tenant_id: str,
        fields: dict[str, str],
        *,
        pending: str | None = None,
        session_id: str | None = None,
    ) -> tuple[SignInTicket | None, str | None]:
        """The one handler of a second-factor form (``method`` totp, recovery_code or webauthn), for the
        second step of a sign-in (``pending``: returns the new session's ticket) and for step-up
        (``session_id``). Returns ``(ticket, None)`` or ``(None, message)``; refusals stay generic."""
        service = self.service
        method = fields.get("method", "totp")
        code, credential = fields.get("code", ""), fields.get("credential", "")
        rp_id, origin = self.rp(request)
        try:
            if pending is not None:
                if method == "recovery_code":
                    return service.complete_with_recovery_code(tenant_id, pending, code), None
                if method == "webauthn":
                    ticket = service.complete_with_webauthn(
                        tenant_id, pending, credential, rp_id=rp_id, origin=origin
                    )
                    return ticket, None
                return service.complete_with_totp(tenant_id, pending, code), None
            assert session_id is not None
            if method == "recovery_code":
                service.step_up_recovery_code(tenant_id, session_id, code)
            elif method == "webauthn":
                service.step_up_webauthn(tenant_id, session_id, credential, rp_id=rp_id, origin=origin)
            else:
                service.step_up_totp(tenant_id, session_id, code)
            return None, None
        except SignInThrottled:
            return None, THROTTLED
        except InvalidCode:
            return None, BAD_CODE

    def client_ip(self, request: Request) -> str:
        return request.client.host if request.client else "0.0.0.0"  # noqa: S104 - a label, not a bind address

    def signed_in(self, request: Request, tenant_id: str) -> SignedInUser | None:
        return self.service.current_user(request, tenant_id)

    def not_found(self, request: Request) -> HTMLResponse:
        return self.render(
            request, "message.html", status=404, title="Not found", message="Unknown organisation."
        )


def install_identity(app: FastAPI, state: Any) -> IdentityService:
    """Build the :class:`IdentityService` for ``state`` (an ``AppState``), store it as ``app.state.identity``
    and mount the sign-in pages."""
    audit = getattr(state, "audit", None)  # unified audit log: sign-ins, MFA changes, CA denials (DESIGN §7)
    hook = None if audit is None else identity_audit_hook(audit)
    service = IdentityService.from_settings(state.settings, state.db, state.clock, audit_hook=hook)
    app.state.identity = service
    pages = _Pages(service, state)

    # --- password -------------------------------------------------------------------------------------------

    @app.get("/{tenant}/login", include_in_schema=False)
    def login_page(request: Request, tenant: str, return_to: str | None = None) -> Response:
        if pages.tenant_id(tenant) is None:
            return pages.not_found(request)
        return pages.render(request, "password.html", tenant=tenant, return_to=pages.ret(tenant, return_to))

    @app.post("/{tenant}/login", include_in_schema=False)
    async def login_submit(request: Request, tenant: str) -> Response:
        tenant_id = pages.tenant_id(tenant)
        if tenant_id is None:
            return pages.not_found(request)
        fields = await pages.form(request)
        return_to = pages.ret(tenant, (fields or {}).get("return_to"))
        if fields is None:
            return pages.render(
                request, "password.html", status=400, tenant=tenant, return_to=return_to, error=BAD_FORM
            )
        try:
            ticket = service.sign_in_password(
                tenant_id,
                fields.get("username", ""),
                fields.get("password", ""),
                ip=pages.client_ip(request),
                user_agent=request.headers.get("user-agent"),
            )
        except InvalidCredentials:
            return pages.render(request, "password.html", tenant=tenant, return_to=return_to, error=INCORRECT)
        except SignInThrottled as exc:
            return pages.render(
                request,
                "password.html",
                status=429,
                headers={"Retry-After": str(exc.retry_after)},
                tenant=tenant,
                return_to=return_to,
                error=INCORRECT,
                notice=THROTTLED,
            )
        return pages.after_password(request, tenant, ticket, return_to)

    # --- second step ---------------------------------------------------------------------------------------

    def mfa_page(request: Request, tenant: str, tenant_id: str, return_to: str, **extra: Any) -> Response:
        pending = request.cookies.get(PENDING_COOKIE, "")
        try:
            user, state_name, methods = service.pending_user(tenant_id, pending)
        except InvalidCode:
            return pages.redirect(login_path(tenant, return_to))
        if state_name == "enrol":
            return pages.redirect(
                f"/{quote(tenant, safe='')}/login/enroll?return_to={quote(return_to, safe='')}"
            )
        return pages.render(
            request, "mfa.html", tenant=tenant, return_to=return_to, upn=user.upn, methods=methods, **extra
        )

    @app.get("/{tenant}/login/mfa", include_in_schema=False)
    def mfa_get(request: Request, tenant: str, return_to: str | None = None) -> Response:
        tenant_id = pages.tenant_id(tenant)
        if tenant_id is None:
            return pages.not_found(request)
        return mfa_page(request, tenant, tenant_id, pages.ret(tenant, return_to))

    @app.post("/{tenant}/login/mfa", include_in_schema=False)
    async def mfa_post(request: Request, tenant: str) -> Response:
        tenant_id = pages.tenant_id(tenant)
        if tenant_id is None:
            return pages.not_found(request)
        fields = await pages.form(request)
        return_to = pages.ret(tenant, (fields or {}).get("return_to"))
        if fields is None:
            return mfa_page(request, tenant, tenant_id, return_to, error=BAD_FORM)
        pending = request.cookies.get(PENDING_COOKIE, "")
        ticket, error = pages.attempt_factor(request, tenant_id, fields, pending=pending)
        if ticket is None:
            return mfa_page(request, tenant, tenant_id, return_to, error=error)
        return pages.finish(request, tenant, ticket, return_to)

    @app.post("/{tenant}/login/mfa/webauthn-options", include_in_schema=False)
    async def mfa_webauthn_options(request: Request, tenant: str) -> Response:
        tenant_id = pages.tenant_id(tenant)
        fields = await pages.form(request)
        if tenant_id is None or fields is None:
            return Response(status_code=400)
        rp_id, _ = pages.rp(request)
        try:
            options = service.webauthn_authentication_options(
                tenant_id, rp_id=rp_id, pending_secret=request.cookies.get(PENDING_COOKIE, "")
            )
        except InvalidCode:
            return Response(status_code=400)
        return Response(options, media_type="application/json", headers={"Cache-Control": "no-store"})

    # --- forced enrolment -------------------------------------------------------------------------------------

    def enroll_page(request: Request, tenant: str, tenant_id: str, return_to: str, **extra: Any) -> Response:
        try:
            enrolment = service.forced_enrolment(tenant_id, request.cookies.get(PENDING_COOKIE, ""))
        except InvalidCode:
            return pages.redirect(login_path(tenant, return_to))
        return pages.render(
            request, "enroll.html", tenant=tenant, return_to=return_to, enrolment=enrolment, **extra
        )

    @app.get("/{tenant}/login/enroll", include_in_schema=False)
    def enroll_get(request: Request, tenant: str, return_to: str | None = None) -> Response:
        tenant_id = pages.tenant_id(tenant)
        if tenant_id is None:
            return pages.not_found(request)
        return enroll_page(request, tenant, tenant_id, pages.ret(tenant, return_to))

    @app.post("/{tenant}/login/enroll", include_in_schema=False)
    async def enroll_post(request: Request, tenant: str) -> Response:
        tenant_id = pages.tenant_id(tenant)
        if tenant_id is None:
            return pages.not_found(request)
        fields = await pages.form(request)
        return_to = pages.ret(tenant, (fields or {}).get("return_to"))
        if fields is None:
            return enroll_page(request, tenant, tenant_id, return_to, error=BAD_FORM)
        try:
            ticket, codes = service.complete_enrolment(
                tenant_id, request.cookies.get(PENDING_COOKIE, ""), fields.get("code", "")
            )
        except SignInThrottled:
            return enroll_page(request, tenant, tenant_id, return_to, error=THROTTLED)
        except InvalidCode:
            return enroll_page(request, tenant, tenant_id, return_to, error=BAD_CODE)
        response = pages.render(
            request, "recovery_codes.html", tenant=tenant, return_to=return_to, codes=codes
        )
        pages.cookie(request, response, SESSION_COOKIE, ticket.secret)
        response.delete_cookie(PENDING_COOKIE, path="/")
        return response

    # --- signed in: account, step-up, passkeys, sign-out --------------------------------------------------------

    @app.get("/{tenant}/login/account", include_in_schema=False)
    def account(request: Request, tenant: str) -> Response:
        tenant_id = pages.tenant_id(tenant)
        if tenant_id is None:
            return pages.not_found(request)
        user = pages.signed_in(request, tenant_id)
        if user is None:
            return pages.redirect(login_path(tenant, pages.default_return(tenant)))
        factors = service.list_factors(tenant_id, user.user_id)
        return pages.render(request, "account.html", tenant=tenant, user=user, factors=factors)

    def stepup_page(
        request: Request, tenant: str, user: SignedInUser, return_to: str, **extra: Any
    ) -> Response:
        methods = sorted({f.kind for f in service.list_factors(user.tenant_id, user.user_id)})
        return pages.render(
            request, "stepup.html", tenant=tenant, return_to=return_to, user=user, methods=methods, **extra
        )

    @app.get("/{tenant}/login/stepup", include_in_schema=False)
    def stepup_get(request: Request, tenant: str, return_to: str | None = None) -> Response:
        tenant_id = pages.tenant_id(tenant)
        if tenant_id is None:
            return pages.not_found(request)
        ret = pages.ret(tenant, return_to)
        user = pages.signed_in(request, tenant_id)
        if user is None:
            return pages.redirect(login_path(tenant, ret))
        return stepup_page(request, tenant, user, ret)

    @app.post("/{tenant}/login/stepup", include_in_schema=False)
    async def stepup_post(request: Request, tenant: str) -> Response:
        tenant_id = pages.tenant_id(tenant)
        if tenant_id is None:
            return pages.not_found(request)
        fields = await pages.form(request)
        ret = pages.ret(tenant, (fields or {}).get("return_to"))
        user = pages.signed_in(request, tenant_id)
        if user is None:
            return pages.redirect(login_path(tenant, ret))
        if fields is None:
            return stepup_page(request, tenant, user, ret, error=BAD_FORM)
        _, error = pages.attempt_factor(request, tenant_id, fields, session_id=user.session_id)
        if error is not None:
            return stepup_page(request, tenant, user, ret, error=error)
        return pages.redirect(ret)

    @app.post("/{tenant}/login/stepup/webauthn-options", include_in_schema=False)
    async def stepup_webauthn_options(request: Request, tenant: str) -> Response:
        tenant_id = pages.tenant_id(tenant)
        fields = await pages.form(request)
        user = None if tenant_id is None else pages.signed_in(request, tenant_id)
        if tenant_id is None or fields is None or user is None:
            return Response(status_code=400)
        rp_id, _ = pages.rp(request)
        options = service.webauthn_authentication_options(tenant_id, rp_id=rp_id, session_id=user.session_id)
        return Response(options, media_type="application/json", headers={"Cache-Control": "no-store"})

    @app.post("/{tenant}/login/account/passkey-options", include_in_schema=False)
    async def passkey_options(request: Request, tenant: str) -> Response:
        tenant_id = pages.tenant_id(tenant)
        fields = await pages.form(request)
        user = None if tenant_id is None else pages.signed_in(request, tenant_id)
        if tenant_id is None or fields is None or user is None:
            return Response(status_code=400)
        rp_id, _ = pages.rp(request)
        try:
            options = service.webauthn_registration_options(tenant_id, user.session_id, rp_id=rp_id)
        except ApiError as exc:
            return Response(exc.message, status_code=exc.status, media_type="text/plain")
        return Response(options, media_type="application/json", headers={"Cache-Control": "no-store"})

    @app.post("/{tenant}/login/account/passkey", include_in_schema=False)
    async def passkey_register(request: Request, tenant: str) -> Response:
        tenant_id = pages.tenant_id(tenant)
        if tenant_id is None:
            return pages.not_found(request)
        fields = await pages.form(request)
        user = pages.signed_in(request, tenant_id)
        if user is None:
            return pages.redirect(login_path(tenant, pages.default_return(tenant)))
        message = "Security key added."
        if fields is None:
            message = BAD_FORM
        else:
            rp_id, origin = pages.rp(request)
            try:
                service.register_webauthn(
                    tenant_id,
                    user.session_id,
                    fields.get("credential", ""),
                    rp_id=rp_id,
                    origin=origin,
                    name=fields.get("name", "Security key"),
                )
            except InvalidCode:
                message = "The security key could not be registered."
            except (AccessDeniedError, ApiError) as exc:
                message = exc.message
        return pages.render(
            request, "message.html", title="Security key", message=message, back=pages.default_return(tenant)
        )

    # --- security info: list, remove and reset factors (DESIGN §5: enrolment needs a sign-in within the last
    # 5 minutes, changing or removing a factor needs step-up; NIST SP 800-63B §6.1.2.1/§7.2 reauthentication).
    # The rules live in the service; these pages send the user to step-up (or to sign in again) when it
    # refuses, and come back here afterwards.

    def security_path(tenant: str) -> str:
        return f"/{quote(tenant, safe='')}/login/account/security"

    def security_page(
        request: Request, tenant: str, user: SignedInUser, *, status: int = 200, **extra: Any
    ) -> Response:
        factors = service.list_factors(user.tenant_id, user.user_id)
        return pages.render(
            request, "security.html", status=status, tenant=tenant, user=user, factors=factors, **extra
        )

    def reauthenticate(tenant: str, user: SignedInUser, exc: AccessDeniedError) -> Response:
        """Step-up with an existing factor; a user without one signs in again (a fresh sign-in)."""
        back = security_path(tenant)
        if isinstance(exc, StepUpRequired) or service.list_factors(user.tenant_id, user.user_id):
            return pages.redirect(f"/{quote(tenant, safe='')}/login/stepup?return_to={quote(back, safe='')}")
        return pages.redirect(login_path(tenant, back))

    async def security_action(
        request: Request, tenant: str, act: Callable[[str, SignedInUser, dict[str, str]], Response]
    ) -> Response:
        """Run ``act`` for a signed-in user's CSRF-checked form; a refusal for want of step-up or of a fresh
        sign-in goes to :func:`reauthenticate` (the one place that decides where the user goes)."""
        tenant_id = pages.tenant_id(tenant)
        if tenant_id is None:
            return pages.not_found(request)
        fields = await pages.form(request)
        user = pages.signed_in(request, tenant_id)
        if user is None:
            return pages.redirect(login_path(tenant, security_path(tenant)))
        try:
            if fields is None:
                return security_page(request, tenant, user, status=400, error=BAD_FORM)
            return act(tenant_id, user, fields)
        except (StepUpRequired, FreshSignInRequired) as exc:
            return reauthenticate(tenant, user, exc)

    @app.get("/{tenant}/login/account/security", include_in_schema=False)
    def security_get(request: Request, tenant: str) -> Response:
        tenant_id = pages.tenant_id(tenant)
        if tenant_id is None:
            return pages.not_found(request)
        user = pages.signed_in(request, tenant_id)
        if user is None:
            return pages.redirect(login_path(tenant, security_path(tenant)))
        return security_page(request, tenant, user)

    @app.post("/{tenant}/login/account/security/remove", include_in_schema=False)
    async def security_remove(request: Request, tenant: str) -> Response:
        def act(tenant_id: str, user: SignedInUser, fields: dict[str, str]) -> Response:
            kind = fields.get("kind", "")
            factor_id = None if kind == "recovery_codes" else fields.get("factor_id", "")
            if kind not in ("totp", "webauthn", "recovery_codes") or (
                factor_id is not None and not factor_id.isdigit()
            ):
                return security_page(request, tenant, user, status=400, error="Unknown sign-in method.")
            try:
                service.remove_factor(tenant_id, user.session_id, kind, factor_id)
            except LastFactorError as exc:
                return security_page(request, tenant, user, status=409, error=exc.message)
            except NotFoundError:
                return security_page(request, tenant, user, status=404, error="That sign-in method is gone.")
            return security_page(request, tenant, user, notice="The sign-in method was removed.")

        return await security_action(request, tenant, act)

    def security_enrol_page(request: Request, tenant: str, user: SignedInUser, **extra: Any) -> Response:
        enrolment = service.begin_totp_enrolment(user.tenant_id, user.session_id)
        return pages.render(
            request,
            "enroll.html",
            tenant=tenant,
            return_to=security_path(tenant),
            enrolment=enrolment,
            action=f"{security_path(tenant)}/totp/confirm",
            intro="Set up (or replace) your authenticator app.",
            **extra,
        )

    @app.post("/{tenant}/login/account/security/totp", include_in_schema=False)
    async def security_totp(request: Request, tenant: str) -> Response:
        return await security_action(
            request, tenant, lambda _tenant_id, user, _fields: security_enrol_page(request, tenant, user)
        )

    @app.post("/{tenant}/login/account/security/totp/confirm", include_in_schema=False)
    async def security_totp_confirm(request: Request, tenant: str) -> Response:
        def act(tenant_id: str, user: SignedInUser, fields: dict[str, str]) -> Response:
            try:
                codes = service.confirm_totp_enrolment(tenant_id, user.session_id, fields.get("code", ""))
            except SignInThrottled:
                return security_enrol_page(request, tenant, user, error=THROTTLED)
            except InvalidCode:
                return security_enrol_page(request, tenant, user, error=BAD_CODE)
            if codes:
                return pages.render(
                    request,
                    "recovery_codes.html",
                    tenant=tenant,
                    return_to=security_path(tenant),
                    codes=codes,
                )
            return security_page(request, tenant, user, notice="Your authenticator app is set up.")

        return await security_action(request, tenant, act)

    @app.post("/{tenant}/login/signout", include_in_schema=False)
    async def signout(request: Request, tenant: str) -> Response:
        tenant_id = pages.tenant_id(tenant)
        fields = await pages.form(request)
        if tenant_id is not None and fields is not None:
            secret = request.cookies.get(SESSION_COOKIE)
            if secret:
                service.sign_out(tenant_id, secret)
        response = pages.render(
            request,
            "message.html",
            title="Signed out",
            message="You have signed out.",
            back=login_path(tenant, pages.default_return(tenant)),
        )
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(PENDING_COOKIE, path="/")
        return response

    return service
