"""``connect()`` and ``Connection``: InvokeCommand over HTTP (DESIGN §3), enumerations streamed page by page
in constant memory under the resume contract (``_resume``), one httpx client (injectable transport) shared
with MSAL for token requests."""

from __future__ import annotations

import os
import random
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from ._auth import BoundAuth, TokenProvider
from ._checkpoint import CheckpointFile, call_digest
from ._errors import AuthenticationFailed, TransientError, error_from_response
from ._msal_http import MsalHttpClient
from ._resume import CheckpointState, Page, Progress, ResumeStats, RetryPolicy, enumerate_pages
from ._targets import Target, exo_target, mailwarden_target

__all__ = ["Connection", "ResultIterator", "connect"]

_USER_AGENT = "mailwarden-client/0.1"


class ResultIterator(Iterator[dict[str, Any]]):
    """Objects of one call, fetched lazily page by page; ``delivered`` counts what was handed out,
    ``stats`` tells the retries, waits and refreshes the enumeration needed."""

    def __init__(self, pages: Iterator[Page], stats: ResumeStats) -> None:
        self._pages = pages
        self._buffer: Iterator[dict[str, Any]] = iter(())
        self.stats = stats

    @property
    def delivered(self) -> int:
        return self.stats.delivered

    def __iter__(self) -> ResultIterator:
        return self

    def __next__(self) -> dict[str, Any]:
        while True:
            item = next(self._buffer, None)
            if item is not None:
                return item
            page = next(self._pages)  # StopIteration ends us; errors propagate
            self._buffer = iter(page.items)

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        """The same enumeration one page at a time (for writers that flush per page)."""
        for page in self._pages:
            yield page.items

    def close(self) -> None:
        close = getattr(self._pages, "close", None)
        if close is not None:
            close()


class Connection:
    """A connection to one tenant. Use as a context manager, or call ``close()``."""

    def __init__(
        self,
        target: Target,
        auth: TokenProvider,
        *,
        transport: httpx.BaseTransport | None = None,
        verify: bool | str = True,
        timeout: float = 120.0,
        page_size: int = 1000,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.target = target
        self.auth = auth
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._token: str | None = None
        tls: bool | ssl.SSLContext = (
            ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        )
        self.http = httpx.Client(
            transport=transport,
            verify=tls,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            headers={"User-Agent": _USER_AGENT},
            follow_redirects=False,
        )
        if isinstance(auth, BoundAuth):
            auth.bind(target, MsalHttpClient(self.http))

    # --- lifecycle ---------------------------------------------------------------------------------------
    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- tokens: cached until the server says 401 --------------------------------------------------------
    def get_token(self, force_refresh: bool = False) -> str:
        if self._token is None or force_refresh:
            self._token = self.auth.get_token(force_refresh)
        return self._token

    def reset_token(self) -> None:
        """Forget the bearer token held for requests (after a new sign-in)."""
        self._token = None

    # --- one HTTP exchange ---------------------------------------------------------------------------------
    def _post(self, url: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        headers = {
            "Authorization": f"Bearer {token}",
            "Prefer": f"odata.maxpagesize={self.page_size}",
            "X-ResponseFormat": "json",
            "client-request-id": str(uuid.uuid4()),
        }
        try:
            response = self.http.post(url, json=body, headers=headers)
            content = response.content
        except httpx.TransportError as exc:  # timeouts, resets, refused, truncated bodies
            raise TransientError(
                f"{type(exc).__name__} talking to {self.target.api_base}", cause=exc
            ) from exc
        try:
            parsed: Any = response.json() if content else None
        except ValueError:
            parsed = None
        if response.status_code >= 400:
            raise error_from_response(response.status_code, parsed, dict(response.headers))
        if not isinstance(parsed, dict) or not isinstance(parsed.get("value"), list):
            raise TransientError(f"unreadable answer (HTTP {response.status_code}) from {url}")
        return parsed

    def _body(self, cmdlet: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}}

    # --- public API -----------------------------------------------------------------------------------------
    def invoke(
        self,
        cmdlet: str,
        /,
        *,
        checkpoint: str | os.PathLike[str] | None = None,
        progress: Progress | None = None,
        **params: Any,
    ) -> ResultIterator:
        """Run a cmdlet; iterate the result lazily. With ``checkpoint=path`` the position is saved after
        every page and a rerun with the same call continues where the last one stopped."""
        body = self._body(cmdlet, params)
        store: CheckpointFile | None = None
        start: CheckpointState | None = None
        if checkpoint is not None:
            digest = call_digest(self.target.tenant, self.target.api_base, cmdlet, params)
            store = CheckpointFile(checkpoint, digest=digest, cmdlet=cmdlet)
            start = store.load()

        def fetch(link: str | None, token: str) -> Page:
            answer = self._post(link or self.target.invoke_url, body, token)
            next_link = answer.get("@odata.nextLink")
            return Page(answer["value"], next_link if isinstance(next_link, str) else None)

        stats = ResumeStats()
        pages = enumerate_pages(
            fetch,
            self,
            start=start,
            store=store,
            policy=self.retry,
            sleep=self._sleep,
            rng=self._rng,
            progress=progress,
            stats=stats,
        )
        return ResultIterator(pages, stats)

    def invoke_all(self, cmdlet: str, /, **params: Any) -> list[dict[str, Any]]:
        """Everything in a list — for small results."""
        return list(self.invoke(cmdlet, **params))

    def cmdlets(self) -> list[dict[str, Any]]:
        """The server's cmdlet registry (names, parameters), for completion and help."""
        for force in (False, True):
            token = self.get_token(force)
            try:
                response = self.http.get(
                    self.target.cmdlets_url, headers={"Authorization": f"Bearer {token}"}
                )
            except httpx.TransportError as exc:
                raise TransientError(
                    f"{type(exc).__name__} talking to {self.target.api_base}", cause=exc
                ) from exc
            if response.status_code == 401 and not force:
                continue
            if response.status_code >= 400:
                try:
                    parsed = response.json()
                except ValueError:
                    parsed = None
                raise error_from_response(response.status_code, parsed, dict(response.headers))
            value = response.json().get("value", [])
            return [v for v in value if isinstance(v, dict)]
        raise AuthenticationFailed("the server refused the token")  # pragma: no cover


def connect(
    tenant: str,
    *,
    url: str | None = None,
    auth: TokenProvider,
    target: Target | None = None,
    transport: httpx.BaseTransport | None = None,
    verify: bool | str | None = None,
    timeout: float = 120.0,
    page_size: int = 1000,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Connection:
    """Connect to ``tenant`` on a mailwarden server at ``url``, or — without ``url`` — on Exchange Online
    (or give ``target=`` explicitly). TLS trust: ``verify`` (True, False or a CA bundle path); by default
    ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE`` when set, so one variable serves MSAL users and us."""
    if target is None:
        target = mailwarden_target(url, tenant) if url else exo_target(tenant)
    if verify is None:
        verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or True
    return Connection(
        target,
        auth,
        transport=transport,
        verify=verify,
        timeout=timeout,
        page_size=page_size,
        retry=retry,
        sleep=sleep,
    )
