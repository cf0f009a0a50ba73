"""Command-line interface (typer)."""

from ._app import app, main

__all__ = ["app", "main"]
