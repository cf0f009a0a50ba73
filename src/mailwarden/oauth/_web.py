"""HTTP adapter (FastAPI/Starlette) for the authorization server: discovery (OIDC Discovery §4), JWKS
(RFC 7517 §5), the authorize endpoint (RFC 6749 §3.1), token endpoint (§3.2), device authorization endpoint
and verification page (RFC 8628 §3.1, §3.3), userinfo (OIDC Core §5.3), logout (OIDC RP-Initiated Logout §2).

Token responses carry ``Cache-Control: no-store`` (RFC 6749 §5.1); every OAuth error is JSON (400, or 401 for
``invalid_client``). Grant decisions live in the plain-Python grant modules; this module only parses requests,
resolves the tenant and renders answers.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..audit._identity_events import audit_token_exchange, audit_token_failure
from ..cmdlets import TenantInfo
from ..errors import AuthenticationError, NotFoundError
from ._authcode import authorize_redirect, check_authorize_request
from ._clients import authenticate_client
from ._device import decide_device, normalise_user_code, start_device
from ._discovery import discovery_document, endpoints
from ._errors import InvalidRequestError, OAuthError
from ._records import SignIn
from ._server import OAuthServer
from ._storage import SqlStore
from ._token_endpoint import preflight_access, token_request

__all__ = ["client_ip", "install_routes"]


class JsonResponse(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def client_ip(request: Request) -> str:
    """The peer address (no proxy headers are trusted). A non-IP peer (a test transport) maps to 0.0.0.0,
    which no named location contains."""
    host = request.client.host if request.client else ""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return "0.0.0.0"  # noqa: S104 - an address, not a bind


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>"
        f"{html.escape(title)}</title><meta name=viewport content='width=device-width'></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers={**_NO_STORE, "X-Frame-Options": "DENY"})


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and key not in out:
            out[key] = value
    return out


def install_routes(app: FastAPI, server: OAuthServer) -> None:
    csrf_key = hashlib.sha256(b"mailwarden oauth csrf\0" + server.settings.resolved_secret_key()).digest()

    def tenant_of(ref: str) -> TenantInfo:
        info: TenantInfo | None = app.state.mailwarden.tenant(ref)
        if info is None:
            raise NotFoundError("Tenant not found.")
        return info

    def base(request: Request) -> str:
        return server.base_url(str(request.base_url))

    def csrf(session_id: str) -> str:
        return hmac.new(csrf_key, session_id.encode(), hashlib.sha256).hexdigest()

    @app.get("/{tenant}/v2.0/.well-known/openid-configuration", tags=["oauth"])
    def openid_configuration(tenant: str, request: Request) -> JsonResponse:
        info = tenant_of(tenant)
        return JsonResponse(discovery_document(base(request), info.id, tenant))

    @app.get("/{tenant}/discovery/v2.0/keys", tags=["oauth"])
    def jwks(tenant: str) -> JsonResponse:
        tenant_of(tenant)
        return JsonResponse(server.keys.jwks(), headers={"Cache-Control": "public, max-age=3600"})

    @app.post("/{tenant}/oauth2/v2.0/token", tags=["oauth"])
    async def token(tenant: str, request: Request) -> JsonResponse:
        form = await _form(request)
        info = await run_in_threadpool(tenant_of, tenant)
        root = base(request)
        accepted = (
            f"{root}{request.url.path}",
            endpoints(root, info.id)["token_endpoint"],
            endpoints(root, info.initial_domain)["token_endpoint"],
        )
        issuer = f"{root}/{info.id}/v2.0"
        ip = client_ip(request)

        audit = getattr(getattr(request.app.state, "mailwarden", None), "audit", None)  # DESIGN §7

        def run(store: SqlStore) -> dict[str, Any] | OAuthError:
            result = token_request(
                store,
                server.service,
                tenant_id=info.id,
                form=form,
                authorization=request.headers.get("authorization"),
                token_endpoint=accepted,
                issuer=issuer,
                ip=ip,
            )
            audit_token_exchange(audit, store.session, tenant_id=info.id, form=form, result=result, ip=ip)
            return result

        def preflight_then_run() -> dict[str, Any]:
            server.read(
                lambda store: preflight_access(store, server.service, tenant_id=info.id, form=form, ip=ip)
            )
            try:
                return server.transact(run)
            except OAuthError as exc:
                audit_token_failure(
                    audit, tenant_id=info.id, form=form, code=exc.code, message=exc.message, ip=ip
                )
                raise

        body = await run_in_threadpool(preflight_then_run)
        return JsonResponse(body, headers=_NO_STORE)

    @app.post("/{tenant}/oauth2/v2.0/devicecode", tags=["oauth"])
    async def devicecode(tenant: str, request: Request) -> JsonResponse:
        form = await _form(request)
        info = await run_in_threadpool(tenant_of, tenant)
        root = base(request)
        verification = endpoints(root, tenant)["device_verification_uri"]
        token_endpoint = f"{root}/{tenant}/oauth2/v2.0/token"

        def run(store: SqlStore) -> dict[str, Any]:
            client = authenticate_client(
                store,
                info.id,
                form,
                request.headers.get("authorization"),
                token_endpoint=token_endpoint,
                now=server.service.now(),
            )
            return start_device(
                store, server.service, client=client, scope=form.get("scope"), verification_uri=verification
            )

        body = await run_in_threadpool(server.transact, run)
        return JsonResponse(body, headers=_NO_STORE)

    def _return_to(request: Request) -> str:
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")

    def _signed_in(request: Request, info: TenantInfo) -> SignIn | None:
        user = server.identity().current_user(request, info.id)
        return None if user is None else SignIn.from_user(user)

    def _device_form(tenant: str, session_id: str, user_code: str, note: str = "") -> HTMLResponse:
        code = html.escape(user_code)
        return _page(
            "Sign in a device",
            f"{note}<p>Enter the code shown by the application (for example the mailwarden CLI), then "
            "approve only if you started this sign-in yourself.</p>"
            f"<form method=post action='/{html.escape(tenant)}/device'>"
            f"<input type=hidden name=csrf_token value='{csrf(session_id)}'>"
            f"<label>Code <input name=user_code value='{code}' autocomplete=off required></label> "
            "<button name=action value=approve>Approve</button> "
            "<button name=action value=deny>Deny</button></form>",
        )

    @app.get("/{tenant}/device", tags=["oauth"], response_model=None)
    def device_page(tenant: str, request: Request, user_code: str = "") -> Response:
        info = tenant_of(tenant)
        sign_in = _signed_in(request, info)
        if sign_in is None:
            return RedirectResponse(server.identity().login_url(tenant, _return_to(request)), status_code=303)
        return _device_form(tenant, sign_in.session_id, user_code[:16])

    @app.post("/{tenant}/device", tags=["oauth"], response_model=None)
    async def device_decide(tenant: str, request: Request) -> Response:
        form = await _form(request)

        def run() -> Response:
            info = tenant_of(tenant)
            sign_in = _signed_in(request, info)
            if sign_in is None:
                return RedirectResponse(
                    server.identity().login_url(tenant, f"/{tenant}/device"), status_code=303
                )
            if not hmac.compare_digest(form.get("csrf_token", ""), csrf(sign_in.session_id)):
                return _page("Request expired", "<p>Reload the page and try again.</p>", status=400)
            action = form.get("action")
            if action not in ("approve", "deny"):
                return _device_form(tenant, sign_in.session_id, form.get("user_code", "")[:16])
            user_code = normalise_user_code(form.get("user_code", ""))
            try:
                server.transact(
                    lambda store: decide_device(
                        store,
                        server.service,
                        tenant_id=info.id,
                        user_code=user_code,
                        sign_in=sign_in,
                        approve=action == "approve",
                    )
                )
            except InvalidRequestError as exc:
                note = f"<p role=alert>{html.escape(exc.message)}</p>"
                return _device_form(tenant, sign_in.session_id, "", note)
            if action == "deny":
                return _page(
                    "Sign-in denied", "<p>The device was not signed in. You can close this window.</p>"
                )
            return _page(
                "Device signed in",
                f"<p>You signed in as {html.escape(sign_in.upn)}. Return to the application; "
                "you can close this window.</p>",
            )

        return await run_in_threadpool(run)

    @app.get("/{tenant}/oauth2/v2.0/authorize", tags=["oauth"], response_model=None)
    def authorize(tenant: str, request: Request) -> Response:
        info = tenant_of(tenant)
        params: Mapping[str, str] = dict(request.query_params)
        with server.db.unit_of_work(write=False) as uow:
            client = SqlStore(uow.session).client(info.id, params.get("client_id", ""))
        try:
            check_authorize_request(client, params)
        except OAuthError as exc:
            return _page("Sign-in request refused", f"<p>{html.escape(exc.message)}</p>", status=400)
        assert client is not None
        sign_in = _signed_in(request, info)
        if sign_in is None:
            return RedirectResponse(server.identity().login_url(tenant, _return_to(request)), status_code=303)
        location = server.transact(
            lambda store: authorize_redirect(
                store, server.service, client=client, params=params, sign_in=sign_in
            )
        )
        return RedirectResponse(location, status_code=302, headers=_NO_STORE)

    @app.get("/{tenant}/oauth2/v2.0/logout", tags=["oauth"], response_model=None)
    def logout(tenant: str) -> Response:
        tenant_of(tenant)
        return _page(
            "Signed out of the application",
            "<p>The application discarded its tokens. To end your browser session, sign out on the sign-in "
            "page. You can close this window.</p>",
        )

    @app.get("/{tenant}/oidc/userinfo", tags=["oauth"])
    def userinfo(tenant: str, request: Request) -> JsonResponse:
        info = tenant_of(tenant)
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise AuthenticationError("Authorization header with a Bearer token is required.")
        claims = server.verify(header[7:].strip(), tenant_id=info.id, base_url=str(request.base_url))
        if claims.kind != "user":
            raise AuthenticationError("userinfo needs a user's access token.")
        return JsonResponse(server.userinfo(claims), headers=_NO_STORE)
