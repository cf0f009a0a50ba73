"""Where a connection goes: a target is configuration only — an authority for MSAL, the API base URL and
the scopes. A mailwarden server and Exchange Online take the very same code path.

* mailwarden: ``oidc_authority = {url}/{tenant}/v2.0``, API ``{url}/adminapi/beta/{tenant}``, scope
  ``api://mailwarden/Exchange.Manage`` (people) or ``api://mailwarden/.default`` (apps);
* Exchange Online: ``authority = https://login.microsoftonline.com/{tenant}``, API
  ``https://outlook.office365.com/adminapi/beta/{tenant}``, scope ``https://outlook.office365.com/.default``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

__all__ = [
    "EXO_API_HOST",
    "EXO_LOGIN_HOST",
    "EXO_SCOPE",
    "MAILWARDEN_APP_SCOPE",
    "MAILWARDEN_SCOPE",
    "Target",
    "exo_target",
    "mailwarden_target",
]

EXO_LOGIN_HOST = "https://login.microsoftonline.com"
EXO_API_HOST = "https://outlook.office365.com"
EXO_SCOPE = "https://outlook.office365.com/.default"
MAILWARDEN_SCOPE = "api://mailwarden/Exchange.Manage"
MAILWARDEN_APP_SCOPE = "api://mailwarden/.default"


@dataclass(frozen=True)
class Target:
    kind: Literal["mailwarden", "exo"]
    tenant: str
    authority: str
    oidc: bool  # MSAL ``oidc_authority=`` (issuer checked) rather than ``authority=``
    api_base: str  # .../adminapi/beta/{tenant}
    user_scopes: tuple[str, ...]
    app_scopes: tuple[str, ...]

    @property
    def invoke_url(self) -> str:
        return f"{self.api_base}/InvokeCommand"

    @property
    def cmdlets_url(self) -> str:
        return f"{self.api_base}/cmdlets"


def mailwarden_target(url: str, tenant: str) -> Target:
    base = url.rstrip("/")
    return Target(
        "mailwarden",
        tenant,
        f"{base}/{quote(tenant)}/v2.0",
        True,
        f"{base}/adminapi/beta/{quote(tenant)}",
        (MAILWARDEN_SCOPE,),
        (MAILWARDEN_APP_SCOPE,),
    )


def exo_target(tenant: str, *, login_host: str = EXO_LOGIN_HOST, api_host: str = EXO_API_HOST) -> Target:
    """Exchange Online. ``login_host``/``api_host`` exist so that a stand-in with the same URL shapes (a
    mailwarden server) can be used; everything else is identical."""
    return Target(
        "exo",
        tenant,
        f"{login_host.rstrip('/')}/{quote(tenant)}",
        False,
        f"{api_host.rstrip('/')}/adminapi/beta/{quote(tenant)}",
        (EXO_SCOPE,),
        (EXO_SCOPE,),
    )
