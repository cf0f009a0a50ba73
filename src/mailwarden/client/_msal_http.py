"""MSAL's ``http_client`` over httpx, so that token requests use the same transport, TLS trust and
timeouts as the API calls (MSAL only needs ``get``/``post``/``close`` and a response with
``status_code``, ``text``, ``headers`` and ``raise_for_status``)."""

from __future__ import annotations

from typing import Any

import httpx

from ._errors import TransientError

__all__ = ["MsalHttpClient"]


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.text = response.text
        self.headers = dict(response.headers)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise TransientError(f"token endpoint answered HTTP {self.status_code}")


class MsalHttpClient:
    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def _send(self, method: str, url: str, **kwargs: Any) -> _Response:
        data = kwargs.get("data")
        if isinstance(data, dict):  # MSAL hands some values (the client assertion) over as bytes
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items() if v is not None}
        try:
            response = self._client.request(
                method,
                url,
                params=kwargs.get("params"),
                data=data,
                headers=kwargs.get("headers"),
            )
        except httpx.TransportError as exc:
            raise TransientError(f"identity provider unreachable ({type(exc).__name__})", cause=exc) from exc
        return _Response(response)

    def get(self, url: str, **kwargs: Any) -> _Response:
        return self._send("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> _Response:
        return self._send("POST", url, **kwargs)

    def close(self) -> None:  # the connection owns the httpx client
        return None
