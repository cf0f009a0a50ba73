"""Where the browser goes after sign-in: only same-origin relative paths (OWASP "Unvalidated Redirects and
Forwards"; RFC 3986 §4.2 — a leading ``//`` would be a network-path reference to another host)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

__all__ = ["login_path", "safe_return_to"]


def safe_return_to(value: str | None) -> str | None:
    """``value`` when it is a same-origin relative path (``/x?y``), else ``None``: no scheme, no host, no ``//``
    or backslash tricks, no control characters."""
    if not value or len(value) > 2048 or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def login_path(tenant_ref: str, return_to: str) -> str:
    """``/{tenant}/login?return_to=…``; raises ``ValueError`` for a ``return_to`` that is not same-origin."""
    safe = safe_return_to(return_to)
    if safe is None:
        raise ValueError(
            "return_to must be a same-origin relative path such as '/tenant/oauth2/v2.0/authorize?...'"
        )
    return f"/{quote(tenant_ref, safe='')}/login?return_to={quote(safe, safe='')}"
