"""The token endpoint's dispatch (RFC 6749 §3.2, §4.1.3, §4.4.2, §6; RFC 8628 §3.4): authenticate the
client, pick the grant by ``grant_type``, refuse everything else (``unsupported_grant_type`` — no ROPC
``password`` grant, no implicit). Unknown parameters are ignored (§3.2; MSAL sends ``client_info``, ``code``
with device polls, ``claims``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._authcode import exchange_code
from ._client_credentials import client_credentials_grant
from ._clients import authenticate_client
from ._device import poll_device
from ._errors import InvalidRequestError, OAuthError, UnauthorizedClientError, UnsupportedGrantTypeError
from ._records import token_hash
from ._refresh import refresh_grant
from ._repository import OAuthStore
from ._service import TokenService

__all__ = ["DEVICE_GRANT", "preflight_access", "token_request"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def token_request(
    store: OAuthStore,
    service: TokenService,
    *,
    tenant_id: str,
    form: Mapping[str, str],
    authorization: str | None,
    token_endpoint: str | tuple[str, ...],
    issuer: str,
    ip: str,
) -> dict[str, Any] | OAuthError:
    grant_type = form.get("grant_type", "")
    if not grant_type:
        raise InvalidRequestError("grant_type is required.")
    if grant_type not in ("authorization_code", "refresh_token", "client_credentials", DEVICE_GRANT):
        raise UnsupportedGrantTypeError(f"The grant type '{grant_type[:64]}' is not supported.")
    client = authenticate_client(
        store, tenant_id, form, authorization, token_endpoint=token_endpoint, now=service.now()
    )
    if grant_type == "client_credentials":
        return client_credentials_grant(service, client=client, scope=form.get("scope"), issuer=issuer, ip=ip)
    if not client.public and client.builtin is None:
        raise UnauthorizedClientError("Apps use the client credentials grant.")
    if grant_type == DEVICE_GRANT:
        return poll_device(
            store, service, client=client, device_code=form.get("device_code", ""), issuer=issuer, ip=ip
        )
    if grant_type == "authorization_code":
        return exchange_code(store, service, client=client, form=form, issuer=issuer, ip=ip)
    return refresh_grant(
        store,
        service,
        client=client,
        refresh_token=form.get("refresh_token", ""),
        scope=form.get("scope"),
        issuer=issuer,
        ip=ip,
    )


def preflight_access(
    store: OAuthStore, service: TokenService, *, tenant_id: str, form: Mapping[str, str], ip: str
) -> None:
    """Conditional access for the subject a token request would be issued to, looked up read-only before
    the grant's write transaction (DESIGN §5: evaluated at token issue). Anything not found here is left to
    the grant, which refuses it."""
    grant_type = form.get("grant_type", "")
    sign_in = None
    if grant_type == DEVICE_GRANT and form.get("device_code"):
        device = store.device(token_hash(form["device_code"]))
        if device is not None and device.tenant_id == tenant_id and device.status == "approved":
            sign_in = device.sign_in
    elif grant_type == "authorization_code" and form.get("code"):
        code = store.auth_code(token_hash(form["code"]))
        if code is not None and code.tenant_id == tenant_id and code.used_at is None:
            sign_in = code.sign_in
    elif grant_type == "refresh_token" and 0 < len(form.get("refresh_token", "")) < 512:
        record = store.refresh(token_hash(form["refresh_token"]))
        if record is not None and record.family.tenant_id == tenant_id and record.rotated_at is None:
            sign_in = record.family.sign_in
    elif grant_type == "client_credentials":
        client = store.client(tenant_id, form.get("client_id", ""))
        if client is not None and not client.public:
            service.check_access(
                tenant_id, user_id=None, app_id=client.id, amr=(), ip=ip, session=store.session
            )
    if sign_in is not None:
        service.check_access(
            tenant_id, user_id=sign_in.user_id, app_id=None, amr=sign_in.amr, ip=ip, session=store.session
        )
