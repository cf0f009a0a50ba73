"""Wiring: ``install_oauth(app, state)`` builds the :class:`OAuthServer` (``app.state.oauth``) and mounts the
endpoints of RFC 6749 §3, RFC 8628 §3 and OIDC Discovery §4 on the FastAPI app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ._ports import IdentityPort
from ._server import OAuthServer
from ._web import install_routes

__all__ = ["install_oauth"]


def install_oauth(app: FastAPI, state: Any) -> OAuthServer:
    def identity() -> IdentityPort | None:
        found: IdentityPort | None = getattr(app.state, "identity", None)
        return found

    server = OAuthServer(state.settings, state.db, state.clock, identity)
    app.state.oauth = server
    install_routes(app, server)
    return server
