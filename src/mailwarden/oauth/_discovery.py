"""OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414 §2) in Entra's v2 per-tenant layout: issuer
``{base}/{tenant_id}/v2.0``, endpoints under ``{base}/{tenant}/oauth2/v2.0/``, keys at
``{base}/{tenant}/discovery/v2.0/keys`` (msal-contract §2-§4)."""

from __future__ import annotations

from typing import Any

from ._scopes import DELEGATED_SCOPE, RESOURCE
from ._tokens import issuer_for

__all__ = ["discovery_document", "endpoints"]


def endpoints(base_url: str, tenant_ref: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    root = f"{base}/{tenant_ref}/oauth2/v2.0"
    return {
        "authorization_endpoint": f"{root}/authorize",
        "token_endpoint": f"{root}/token",
        "device_authorization_endpoint": f"{root}/devicecode",
        "end_session_endpoint": f"{root}/logout",
        "jwks_uri": f"{base}/{tenant_ref}/discovery/v2.0/keys",
        "userinfo_endpoint": f"{base}/{tenant_ref}/oidc/userinfo",
        "device_verification_uri": f"{base}/{tenant_ref}/device",
    }


def discovery_document(base_url: str, tenant_id: str, tenant_ref: str) -> dict[str, Any]:
    urls = endpoints(base_url, tenant_ref)
    urls.pop("device_verification_uri")
    return {
        "issuer": issuer_for(base_url, tenant_id),
        **urls,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_post",
            "client_secret_basic",
            "private_key_jwt",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],  # access tokens: ES256 (only our API reads them)
        "scopes_supported": ["openid", "profile", "offline_access", f"{RESOURCE}/{DELEGATED_SCOPE}"],
        "claims_supported": [
            "sub",
            "oid",
            "tid",
            "iss",
            "aud",
            "iat",
            "nbf",
            "exp",
            "name",
            "preferred_username",
            "amr",
            "acr",
            "sid",
            "auth_time",
            "nonce",
        ],
        "tenant_region_scope": None,
        "cloud_instance_name": "mailwarden",
    }
