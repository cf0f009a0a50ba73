"""Auth providers: one small protocol, ``get_token(force_refresh) -> str``; every token comes from MSAL.

* ``DeviceCodeAuth`` — device authorization grant (RFC 8628): prints a code and a URL, works over SSH;
* ``BrowserAuth`` — authorization code + PKCE (RFC 7636) with a loopback redirect (RFC 8252 §7.3) on
  127.0.0.1 and a random port;
* ``CertificateAuth`` — client credentials with a certificate (``private_key_jwt``, RFC 7523);
* ``ClientSecretAuth`` — client credentials with a secret;
* ``StoredCredentialAuth`` — a certificate key or client secret taken from the vault (unattended jobs);
* ``StaticTokenAuth`` — a bearer token you already have.

People's providers try a silent refresh first (``acquire_token_silent_with_error``, ``force_refresh`` on a
401) and raise ``InteractionRequired`` when that is impossible, unless ``interactive=True``. App providers
drop the cached app token and ask for a new one (a new client assertion) when forced.

Providers are *bound* to a target (authority, scopes) and an HTTP client by ``connect``.
"""

from __future__ import annotations

import abc
import base64
import http.server
import json
import sys
import threading
import time
import warnings
import webbrowser
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

import msal  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ._cache import TokenCache
from ._errors import AuthenticationFailed, InteractionRequired, TransientError
from ._msal_http import MsalHttpClient
from ._targets import Target
from ._vault import Vault

__all__ = [
    "BoundAuth",
    "BrowserAuth",
    "CertificateAuth",
    "ClientSecretAuth",
    "DeviceCodeAuth",
    "StaticTokenAuth",
    "StoredCredentialAuth",
    "TokenProvider",
    "decode_claims",
    "print_device_message",
]


@runtime_checkable
class TokenProvider(Protocol):
    def get_token(self, force_refresh: bool = False) -> str: ...


@runtime_checkable
class BoundAuth(Protocol):
    def bind(self, target: Target, http: MsalHttpClient) -> None: ...


def decode_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, *not verified*: for display only (``whoami``)."""
    try:
        payload = token.split(".")[1]
        value = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as exc:
        raise AuthenticationFailed("the access token is not a JWT") from exc
    if not isinstance(value, dict):
        raise AuthenticationFailed("the access token is not a JWT")
    return value


def print_device_message(flow: dict[str, Any]) -> None:
    """Default device-code prompt: MSAL's message (URL + code) on stderr, so stdout stays clean."""
    print(
        flow.get("message") or f"Open {flow['verification_uri']} and enter {flow['user_code']}",
        file=sys.stderr,
    )
    sys.stderr.flush()


def _describe(result: dict[str, Any] | None) -> str:
    if not result:
        return "no token"
    error = str(result.get("error", "error"))
    description = str(result.get("error_description", "")).splitlines()[0:1]
    return f"{error}: {description[0]}" if description else error


def _check(result: dict[str, Any] | None) -> str:
    if result and "access_token" in result:
        return str(result["access_token"])
    if result and result.get("error") in ("invalid_grant", "interaction_required", "login_required"):
        raise InteractionRequired(f"sign in again ({_describe(result)})", code=str(result["error"]))
    if result and result.get("error") in ("temporarily_unavailable", "server_error"):
        raise TransientError(f"token endpoint: {_describe(result)}")
    raise AuthenticationFailed(f"no token: {_describe(result)}", code=str((result or {}).get("error", "")))


class _MsalBase(abc.ABC):
    def __init__(
        self, client_id: str, *, cache: TokenCache | None = None, scopes: tuple[str, ...] | None = None
    ):
        self.client_id = client_id
        self.cache = cache
        self._scopes = scopes
        self._target: Target | None = None
        self._http: MsalHttpClient | None = None
        self._app: Any = None
        self._lock = threading.RLock()

    def bind(self, target: Target, http: MsalHttpClient) -> None:
        self._target, self._http, self._app = target, http, None

    @property
    def target(self) -> Target:
        if self._target is None:
            raise AuthenticationFailed(
                "the auth provider is not bound to a connection (use mailwarden.connect)"
            )
        return self._target

    def _authority_kwargs(self) -> dict[str, Any]:
        target = self.target
        kwargs: dict[str, Any] = {"http_client": self._http}
        if self.cache is not None:
            kwargs["token_cache"] = self.cache.msal
        if target.oidc:
            kwargs["oidc_authority"] = target.authority
        else:
            kwargs["authority"] = target.authority
            kwargs["instance_discovery"] = False
        return kwargs

    @abc.abstractmethod
    def _build(self) -> Any:
        """The MSAL application object (public or confidential client)."""

    def app(self) -> Any:
        with self._lock:
            if self._app is None:
                try:
                    self._app = self._build()
                except TransientError:
                    raise
                except (ValueError, KeyError, msal.exceptions.MsalServiceError) as exc:  # discovery refused
                    raise AuthenticationFailed(f"identity provider discovery failed: {exc}") from exc
            return self._app

    def _persist(self) -> None:
        if self.cache is not None:
            self.cache.persist()

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TransientError:
            raise
        except msal.exceptions.MsalServiceError as exc:  # 5xx from the token endpoint (MSAL raises)
            raise TransientError(f"token endpoint error: {type(exc).__name__}", cause=exc) from exc
        except ValueError as exc:  # non-JSON answers (proxies, restarts)
            raise TransientError(f"token endpoint gave an unreadable answer ({type(exc).__name__})") from exc


class _UserAuth(_MsalBase):
    def __init__(
        self,
        client_id: str,
        *,
        cache: TokenCache | None = None,
        scopes: tuple[str, ...] | None = None,
        interactive: bool = False,
        username: str | None = None,
    ) -> None:
        super().__init__(client_id, cache=cache, scopes=scopes)
        self.interactive = interactive
        self.username = username

    @property
    def scopes(self) -> list[str]:
        return list(self._scopes or self.target.user_scopes)

    def _build(self) -> Any:
        return msal.PublicClientApplication(self.client_id, **self._authority_kwargs())

    def account(self) -> dict[str, Any] | None:
        accounts: list[dict[str, Any]] = self._call(self.app().get_accounts)
        for account in accounts:
            if self.username is None or str(account.get("username", "")).lower() == self.username.lower():
                return account
        return None

    def get_token(self, force_refresh: bool = False) -> str:
        with self._lock:
            account = self.account()
            if account is not None:
                result = self._call(
                    self.app().acquire_token_silent_with_error,
                    self.scopes,
                    account,
                    force_refresh=force_refresh,
                )
                self._persist()
                if result and "access_token" in result:
                    return str(result["access_token"])
                if result and result.get("error") not in (None, "invalid_grant", "interaction_required"):
                    _check(result)
            if not self.interactive:
                raise InteractionRequired("not signed in, or the sign-in expired: run `mailwarden login`")
            return self.sign_in()

    @abc.abstractmethod
    def sign_in(self) -> str:
        """Interactive sign-in (device code or browser); returns an access token."""

    def sign_out(self) -> None:
        with self._lock:
            app = self.app()
            for account in self._call(app.get_accounts):
                app.remove_account(account)
            self._persist()


class DeviceCodeAuth(_UserAuth):
    """Device code sign-in; ``prompt`` shows the code (default: MSAL's message on stderr)."""

    def __init__(
        self,
        client_id: str,
        *,
        prompt: Callable[[dict[str, Any]], None] = print_device_message,
        **kwargs: Any,
    ) -> None:
        super().__init__(client_id, **kwargs)
        self.prompt = prompt

    def sign_in(self) -> str:
        with self._lock:
            app = self.app()
            flow = self._call(app.initiate_device_flow, scopes=self.scopes)
            if "user_code" not in flow:
                raise AuthenticationFailed(f"device sign-in could not start: {_describe(flow)}")
            self.prompt(flow)
            result = self._call(app.acquire_token_by_device_flow, flow)
            token = _check(result)
            self._persist()
            if self.username is None:
                self.username = (result.get("id_token_claims") or {}).get("preferred_username") or None
            return token


class _LoopbackHandler(http.server.BaseHTTPRequestHandler):
    server: _LoopbackServer

    def do_GET(self) -> None:
        params = dict(parse_qsl(urlsplit(self.path).query))
        if "code" not in params and "error" not in params:
            self.send_response(404)
            self.end_headers()
            return
        self.server.result = params
        body = b"<!doctype html><title>mailwarden</title><p>Sign-in finished. You can close this window.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # the query holds the code: never log it
        return


class _LoopbackServer(http.server.HTTPServer):
    result: dict[str, str] | None = None


class BrowserAuth(_UserAuth):
    """Authorization code + PKCE through the system browser; the redirect lands on 127.0.0.1:<random>."""

    def __init__(
        self,
        client_id: str,
        *,
        open_browser: Callable[[str], object] = webbrowser.open,
        timeout: float = 300.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(client_id, **kwargs)
        self.open_browser = open_browser
        self.timeout = timeout

    def sign_in(self) -> str:
        with self._lock:
            app = self.app()
            server = _LoopbackServer(("127.0.0.1", 0), _LoopbackHandler)
            server.timeout = 0.5
            try:
                redirect_uri = f"http://127.0.0.1:{server.server_address[1]}"
                with warnings.catch_warnings():
                    # The redirect is a loopback GET (RFC 8252 §7.3), so the code comes in the query; PKCE
                    # binds it to this process. MSAL recommends form_post, which a loopback GET cannot use.
                    warnings.filterwarnings(
                        "ignore", message="response_mode='form_post'", category=UserWarning
                    )
                    flow = self._call(
                        app.initiate_auth_code_flow,
                        self.scopes,
                        redirect_uri=redirect_uri,
                        response_mode="query",
                    )
                opener = threading.Thread(target=self.open_browser, args=(flow["auth_uri"],), daemon=True)
                opener.start()
                deadline = time.monotonic() + self.timeout
                while server.result is None and time.monotonic() < deadline:
                    server.handle_request()
                opener.join(timeout=5)
            finally:
                server.server_close()
            if server.result is None:
                raise AuthenticationFailed("browser sign-in timed out")
            result = self._call(app.acquire_token_by_auth_code_flow, flow, server.result)
            token = _check(result)
            self._persist()
            return token


class _AppAuth(_MsalBase):
    @property
    def scopes(self) -> list[str]:
        return list(self._scopes or self.target.app_scopes)

    @abc.abstractmethod
    def _credential(self) -> Any:
        """The client credential MSAL signs with (certificate or secret)."""

    def _build(self) -> Any:
        return msal.ConfidentialClientApplication(
            self.client_id, client_credential=self._credential(), **self._authority_kwargs()
        )

    def get_token(self, force_refresh: bool = False) -> str:
        with self._lock:
            app = self.app()
            if force_refresh:
                app.remove_tokens_for_client()
            result = self._call(app.acquire_token_for_client, self.scopes)
            self._persist()
            return _check(result)


class CertificateAuth(_AppAuth):
    """App-only sign-in with a certificate: MSAL signs a client assertion (RS256, ``x5t``) per RFC 7523."""

    def __init__(
        self,
        client_id: str,
        *,
        private_key_pem: str | bytes,
        certificate_pem: str | bytes,
        password: bytes | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(client_id, **kwargs)
        key_pem = private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem
        cert_pem = certificate_pem.encode() if isinstance(certificate_pem, str) else certificate_pem
        key = serialization.load_pem_private_key(key_pem, password)
        self._key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        cert = x509.load_pem_x509_certificate(cert_pem)
        self.thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - x5t is SHA-1 by spec

    @classmethod
    def from_pem(cls, client_id: str, pem: str | bytes, **kwargs: Any) -> CertificateAuth:
        """One PEM holding the certificate and its private key (what ``mailwarden login --cert`` reads)."""
        text = pem.decode() if isinstance(pem, bytes) else pem
        return cls(client_id, private_key_pem=text, certificate_pem=text, **kwargs)

    def _credential(self) -> Any:
        return {"private_key": self._key_pem, "thumbprint": self.thumbprint}


class ClientSecretAuth(_AppAuth):
    def __init__(self, client_id: str, *, secret: str, **kwargs: Any) -> None:
        super().__init__(client_id, **kwargs)
        self._secret = secret

    def _credential(self) -> Any:
        return self._secret


class StoredCredentialAuth:
    """An app credential kept in the vault under ``name``: a certificate (PEM with key) or a client secret."""

    def __init__(self, name: str, client_id: str, *, vault: Vault | None = None, **kwargs: Any) -> None:
        vault = vault or Vault()
        kind = vault.kind(name)
        value = vault.get(name)
        self.inner: _AppAuth
        if kind == "certificate":
            self.inner = CertificateAuth.from_pem(client_id, value, **kwargs)
        elif kind == "client-secret":
            self.inner = ClientSecretAuth(client_id, secret=value, **kwargs)
        else:
            raise AuthenticationFailed(f"vault item '{name}' is a {kind}, not an app credential")

    def bind(self, target: Target, http: MsalHttpClient) -> None:
        self.inner.bind(target, http)

    def get_token(self, force_refresh: bool = False) -> str:
        return self.inner.get_token(force_refresh)


class StaticTokenAuth:
    """A bearer token obtained elsewhere; it cannot be refreshed."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._used = False

    def get_token(self, force_refresh: bool = False) -> str:
        if force_refresh and self._used:
            raise InteractionRequired("the static token was rejected and cannot be refreshed")
        self._used = True
        return self._token
