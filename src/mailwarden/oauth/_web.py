"""HTTP adapter (FastAPI/Starlette) for the authorization server: discovery (OIDC Discovery §4), JWKS
(RFC 7517 §5), the authorize endpoint (RFC 6749 §3.1), token endpoint (§3.2), device authorization endpoint
and verification page (RFC 8628 §3.1, §3.3), userinfo (OIDC Core §5.3), logout (OIDC RP-Initiated Logout §2).

Token responses carry ``Cache-Control: no-store`` (RFC 6749 §5.1); every OAuth error is JSON (400, or 401 for
``invalid_client``). Grant decisions live in the plain-Python grant modules; this module only parses requests,
resolves the tenant and renders answers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import FastAPI, Request
from joserfc import jws
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..audit._identity_events import audit_token_exchange, audit_token_failure
from ..cmdlets import TenantInfo
from ..errors import AuthenticationError, NotFoundError
from ..identity import SESSION_COOKIE
from ._authcode import authorize_redirect, check_authorize_request
from ._clients import authenticate_client
from ._device import decide_device, normalise_user_code, start_device
from ._discovery import discovery_document, endpoints
from ._errors import InvalidRequestError, OAuthError
from ._records import SignIn
from ._server import OAuthServer
from ._storage import SqlStore
from ._token_endpoint import token_request

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


# These endpoints take a handful of short fields (RFC 6749 §3.2, RFC 8628 §3.1): a body beyond this is not
# a token request, and is refused before it is read whole.
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 64


async def _form(request: Request) -> dict[str, str]:
    """The request's form fields, first occurrence of each name. The endpoints' own format,
    ``application/x-www-form-urlencoded`` (RFC 6749 §3.2, Appendix B), is parsed with the standard library
    in one pass — the generic streaming form parser cost more per token request than the grant's SQL;
    anything else (a multipart form) still goes through Starlette's parser."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        form = await request.form(max_fields=MAX_FORM_FIELDS)
        pairs: list[tuple[str, Any]] = list(form.multi_items())
    else:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise InvalidRequestError("The request body is too large.")
        try:
            pairs = list(
                parse_qsl(
                    body.decode("utf-8", "replace"),
                    keep_blank_values=True,
                    max_num_fields=MAX_FORM_FIELDS,
                    errors="replace",
                )
            )
        except ValueError as exc:  # more fields than max_num_fields
            raise InvalidRequestError("The request has too many parameters.") from exc
    out: dict[str, str] = {}
    for key, value in pairs:
        if isinstance(value, str) and key not in out:
            out[key] = value
    return out


def _assertion_audiences(root: str, token_path: str, info: TenantInfo) -> tuple[str, ...]:
    """What a client assertion's ``aud`` may be (RFC 7523 §3 item 3; see ``_assertions``): this tenant's
    token endpoint, as requested or by tenant id / initial domain, or this tenant's issuer identifier."""
    return (
        f"{root}{token_path}",
        endpoints(root, info.id)["token_endpoint"],
        endpoints(root, info.initial_domain)["token_endpoint"],
        f"{root}/{info.id}/v2.0",
    )


def _id_token_hint(server: OAuthServer, token: str, *, issuer: str) -> dict[str, Any] | None:
    """The claims of an id_token this server issued (signature under a known ``kid`` with that key's own
    algorithm, our issuer), else ``None``. Expiry is not checked: RP-Initiated Logout §2 lets RPs send
    expired ID Tokens as hints."""
    parts = token.split(".")
    if len(token) > 16384 or len(parts) != 3:
        return None
    try:
        header = orjson.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
        kid = header.get("kid") if isinstance(header, dict) else None
        key = server.keys.verification_key(kid) if isinstance(kid, str) else None
        if key is None or header.get("alg") != key.alg:
            return None
        claims = orjson.loads(jws.deserialize_compact(token, key.key, algorithms=[key.alg]).payload)
    except (JoseError, ValueError, TypeError, binascii.Error):
        return None
    if not isinstance(claims, dict) or claims.get("iss") != issuer or not isinstance(claims.get("aud"), str):
        return None
    return claims


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
        root = base(request)
        ip = client_ip(request)
        authorization = request.headers.get("authorization")
        audit = getattr(getattr(request.app.state, "mailwarden", None), "audit", None)  # DESIGN §7

        def grant() -> dict[str, Any]:
            # One hop to the token threads for the whole request (tenant lookup included): each hop costs
            # more than the tenant cache's answer.
            info = tenant_of(tenant)
            issuer = f"{root}/{info.id}/v2.0"
            accepted = _assertion_audiences(root, request.url.path, info)

            def run(store: SqlStore) -> dict[str, Any] | OAuthError:
                result = token_request(
                    store,
                    server.service,
                    tenant_id=info.id,
                    form=form,
                    authorization=authorization,
                    token_endpoint=accepted,
                    issuer=issuer,
                    ip=ip,
                )
                audit_token_exchange(audit, store.session, tenant_id=info.id, form=form, result=result, ip=ip)
                return result

            try:
                # Signed after the commit, outside the write lock (see _tokens.Unsigned).
                return server.service.minter.finish(server.transact(run))
            except OAuthError as exc:
                audit_token_failure(
                    audit, tenant_id=info.id, form=form, code=exc.code, message=exc.message, ip=ip
                )
                raise

        body = await server.run_grant(grant)
        return JsonResponse(body, headers=_NO_STORE)

    @app.post("/{tenant}/oauth2/v2.0/devicecode", tags=["oauth"])
    async def devicecode(tenant: str, request: Request) -> JsonResponse:
        form = await _form(request)
        info = await run_in_threadpool(tenant_of, tenant)
        root = base(request)
        verification = endpoints(root, tenant)["device_verification_uri"]
        token_endpoint = _assertion_audiences(root, f"/{tenant}/oauth2/v2.0/token", info)

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

    # --- RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0) ------------------------------------------

    def _logout_done(request: Request, redirect: str | None, state: str | None, ended: bool) -> Response:
        response: Response
        if redirect is not None:
            # §3: the OP redirects to the registered post_logout_redirect_uri, with state if the RP sent one.
            target = redirect
            if state:
                target += ("&" if "?" in redirect else "?") + urlencode({"state": state})
            response = RedirectResponse(target, status_code=302, headers=_NO_STORE)
        else:
            response = _page(
                "You have signed out",
                "<p>You signed out of this organisation's sign-in session. You can close this window.</p>"
                if ended
                else "<p>You are not signed in. You can close this window.</p>",
            )
        # The cookie goes in every case: a stale or foreign cookie must not outlive the logout.
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def _logout_confirm(tenant: str, session_id: str, client: str, redirect: str, state: str) -> HTMLResponse:
        hidden = "".join(
            f"<input type=hidden name={name} value='{html.escape(value)}'>"
            for name, value in (
                ("csrf_token", csrf(f"logout:{session_id}")),
                ("client_id", client),
                ("post_logout_redirect_uri", redirect),
                ("state", state),
            )
            if value
        )
        return _page(
            "Sign out?",
            "<p>An application asked to sign you out. Sign out of this organisation on this browser?</p>"
            f"<form method=post action='/{html.escape(tenant)}/oauth2/v2.0/logout'>{hidden}"
            "<button name=action value=signout>Sign out</button></form>",
        )

    async def logout(tenant: str, request: Request) -> Response:
        params: dict[str, str] = (
            await _form(request) if request.method == "POST" else dict(request.query_params)
        )
        info = await run_in_threadpool(tenant_of, tenant)
        refused = _page("Sign-out request refused", "<p>The sign-out request is invalid.</p>", status=400)
        hint = None
        if params.get("id_token_hint"):
            hint = _id_token_hint(server, params["id_token_hint"], issuer=f"{base(request)}/{info.id}/v2.0")
            if hint is None or hint.get("tid") != info.id:
                return refused  # §2: the OP MUST validate that it issued the ID Token
        client_id = params.get("client_id", "")
        if hint is not None:
            if client_id and client_id != hint.get("aud"):
                return refused  # §2: client_id and the hint's audience must agree
            client_id = str(hint.get("aud") or "")
        redirect = params.get("post_logout_redirect_uri") or None
        if redirect is not None:
            # §2/§3: only a URI registered for the identified client, compared exactly (no loopback-port
            # leniency here: RFC 8252 §7.3 is about authorization redirects); Entra likewise checks the
            # app's registered redirect URIs. Otherwise no redirect at all (no open redirector).
            with server.db.unit_of_work(write=False) as uow:
                client = SqlStore(uow.session).client(info.id, client_id) if client_id else None
            if client is None or client.disabled or redirect not in client.redirect_uris:
                return refused
        state = params.get("state", "")[:512] or None
        identity = server.identity()
        sign_in = await run_in_threadpool(_signed_in, request, info)
        if sign_in is None:
            return _logout_done(request, redirect, state, ended=False)
        confirmed = request.method == "POST" and hmac.compare_digest(
            params.get("csrf_token", ""), csrf(f"logout:{sign_in.session_id}")
        )
        # §2: without an id_token_hint for *this* session the OP MUST ask the user (else any page could log
        # the user out with a GET — logout CSRF); a confirmed POST carries our CSRF token.
        if not confirmed and (hint is None or hint.get("sid") != sign_in.session_id):
            return _logout_confirm(tenant, sign_in.session_id, client_id, redirect or "", state or "")
        secret = request.cookies.get(SESSION_COOKIE, "")
        # Ending the session is what revokes the rest: refresh tokens of the session fail (invalid_grant,
        # ``_refresh``) and its access tokens are refused by the API (``OAuthServer.authenticate``), both
        # because ``session_active`` turns false; the identity service audits "User signed out.".
        await run_in_threadpool(identity.sign_out, info.id, secret)
        return _logout_done(request, redirect, state, ended=True)

    for method in ("GET", "POST"):  # §2: the OP MUST support both; one route each keeps operation ids unique
        app.add_api_route(
            "/{tenant}/oauth2/v2.0/logout",
            logout,
            methods=[method],
            operation_id=f"logout_{method.lower()}",
            tags=["oauth"],
            response_model=None,
            include_in_schema=True,
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
        # As for the API (OAuthServer.authenticate): a token does not outlive its sign-in session, ended by
        # sign-out or RP-Initiated Logout (RFC 6750 §3.1 invalid_token).
        assert claims.session_id is not None
        if not server.identity().session_active(claims.session_id):
            raise AuthenticationError("The sign-in session of this token has ended or was revoked.")
        return JsonResponse(server.userinfo(claims), headers=_NO_STORE)
