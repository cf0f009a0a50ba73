"""OAuth clients (RFC 6749 §2): each tenant's built-in public client for the CLI/SDK (device code, and
authorization code with loopback redirect URIs, RFC 8252 §7.3), and apps for unattended jobs (confidential
clients authenticating with a client secret, RFC 6749 §2.3.1, or a certificate, RFC 7523 §2.2).

Client authentication at the token endpoint accepts ``none`` (public clients), ``client_secret_basic``,
``client_secret_post`` and ``private_key_jwt``; a request may use one method only (RFC 6749 §2.3).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import secrets
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import unquote_plus, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ArgumentError
from ..store._oauth_models import OAuthClient, OAuthClientCert
from ._assertions import ASSERTION_TYPE, thumbprints, verify_client_assertion
from ._errors import InvalidClientError, InvalidRequestError
from ._records import Client, token_hash
from ._repository import OAuthStore

__all__ = [
    "CLI_CLIENT_NAME",
    "LOOPBACK_REDIRECTS",
    "authenticate_client",
    "ensure_builtin_clients",
    "redirect_uri_allowed",
    "register_app",
]

CLI_CLIENT_NAME = "mailwarden CLI"
LOOPBACK_REDIRECTS = ("http://localhost", "http://127.0.0.1", "http://[::1]")


def ensure_builtin_clients(session: Session, tenant_id: str, *, now: datetime | None = None) -> str:
    """Create the tenant's built-in public client if missing; return its client id (``cli_client_id``)."""
    existing = session.scalar(
        select(OAuthClient.id).where(OAuthClient.tenant_id == tenant_id, OAuthClient.builtin == "cli")
    )
    if existing is not None:
        return existing
    client_id = str(uuid.uuid4())
    session.add(
        OAuthClient(
            id=client_id,
            tenant_id=tenant_id,
            name=CLI_CLIENT_NAME,
            public=True,
            builtin="cli",
            redirect_uris=list(LOOPBACK_REDIRECTS),
            role_groups=[],
            secret_hash=None,
            created_at=now or datetime.now(UTC).replace(tzinfo=None),
            disabled=False,
        )
    )
    session.flush()
    return client_id


def register_app(
    session: Session,
    tenant_id: str,
    *,
    name: str,
    now: datetime,
    cert_pem: bytes | None = None,
    with_secret: bool = False,
    role_groups: Sequence[str] = (),
) -> tuple[str, str | None]:
    """Register an app (confidential client). Returns (client_id, client_secret shown once or None)."""
    if not name.strip():
        raise ArgumentError("The app name cannot be empty.")
    if (cert_pem is None) == (not with_secret):
        raise ArgumentError("Give exactly one credential: a certificate or a client secret.")
    cert: x509.Certificate | None = None
    if cert_pem is not None:
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
        except ValueError as exc:
            raise ArgumentError("The certificate is not a PEM X.509 certificate.") from exc
        if not isinstance(cert.public_key(), rsa.RSAPublicKey):
            raise ArgumentError("The certificate must carry an RSA key (RS256/PS256 assertions).")
    secret = secrets.token_urlsafe(32) if with_secret else None
    client_id = str(uuid.uuid4())
    session.add(
        OAuthClient(
            id=client_id,
            tenant_id=tenant_id,
            name=name.strip(),
            public=False,
            builtin=None,
            redirect_uris=[],
            role_groups=sorted(set(role_groups)),
            secret_hash=None if secret is None else token_hash(secret),
            created_at=now,
            disabled=False,
        )
    )
    session.flush()
    if cert is not None:
        sha1, sha256 = thumbprints(cert)
        session.add(
            OAuthClientCert(
                tenant_id=tenant_id,
                client_id=client_id,
                sha1=sha1,
                sha256=sha256,
                pem=cert_pem.decode() if cert_pem else "",
                not_after=cert.not_valid_after_utc.replace(tzinfo=None),
                created_at=now,
            )
        )
    return client_id, secret


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def redirect_uri_allowed(client: Client, redirect_uri: str) -> bool:
    """Exact string match (RFC 6749 §3.1.2.3), except that a public client's registered loopback URI
    matches any port (RFC 8252 §7.3)."""
    if redirect_uri in client.redirect_uris:
        return True
    if not client.public:
        return False
    try:
        parts = urlsplit(redirect_uri)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return False
    if parts.scheme != "http" or not parts.hostname or not _is_loopback(parts.hostname) or parts.fragment:
        return False
    for registered in client.redirect_uris:
        reg = urlsplit(registered)
        if (
            reg.scheme == "http"
            and reg.hostname == parts.hostname
            and reg.port is None
            and (reg.path or "/") == (parts.path or "/")
            and reg.query == parts.query
        ):
            return True
    return False


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClientError("Malformed Basic credentials.") from exc
    user, sep, password = raw.partition(":")
    if not sep:
        raise InvalidClientError("Malformed Basic credentials.")
    return unquote_plus(user), unquote_plus(password)


def authenticate_client(
    store: OAuthStore,
    tenant_id: str,
    form: Mapping[str, str],
    authorization: str | None,
    *,
    token_endpoint: str | tuple[str, ...],
    now: datetime,
) -> Client:
    """Identify and authenticate the client of a token request (RFC 6749 §2.3, §3.2.1; RFC 7523 §2.2)."""
    basic = _basic(authorization)
    assertion = form.get("client_assertion")
    methods = [m for m in (basic, form.get("client_secret"), assertion) if m]
    if len(methods) > 1:
        raise InvalidRequestError("Use exactly one client authentication method.")
    client_id = form.get("client_id", "")
    if basic is not None:
        if client_id and client_id != basic[0]:
            raise InvalidRequestError("client_id does not match the Basic credentials.")
        client_id = basic[0]
    if not client_id:
        raise InvalidClientError("client_id is required.")
    client = store.client(tenant_id, client_id)
    if client is None or client.disabled:
        raise InvalidClientError(f"The client '{client_id[:64]}' is not registered in this tenant.")
    if assertion:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise InvalidClientError(f"client_assertion_type must be {ASSERTION_TYPE}.")
        verify_client_assertion(assertion, client, token_endpoint=token_endpoint, now=now, store=store)
        return client
    secret = basic[1] if basic is not None else form.get("client_secret")
    if secret:
        if client.secret_hash is None or not hmac.compare_digest(token_hash(secret), client.secret_hash):
            raise InvalidClientError("The client secret is wrong.")
        return client
    if not client.public:
        raise InvalidClientError("This client must authenticate (client secret or certificate).")
    return client
