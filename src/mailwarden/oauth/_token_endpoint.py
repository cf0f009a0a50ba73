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
from ._refresh import refresh_grant
from ._repository import OAuthStore
from ._service import TokenService

__all__ = ["DEVICE_GRANT", "token_request"]

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
        return client_credentials_grant(
            store, service, client=client, scope=form.get("scope"), issuer=issuer, ip=ip
        )
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
