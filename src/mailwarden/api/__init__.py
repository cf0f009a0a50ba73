"""HTTP API: the InvokeCommand endpoint, cmdlet discovery, health."""

from ._app import AppState, create_app, create_app_from_env

__all__ = ["AppState", "create_app", "create_app_from_env"]
