"""The per-user configuration directory: ``MAILWARDEN_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/mailwarden``,
else ``~/.config/mailwarden``; created with mode 0700."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["config_dir"]


def config_dir(create: bool = True) -> Path:
    override = os.environ.get("MAILWARDEN_CONFIG_DIR")
    if override:
        path = Path(override)
    else:
        xdg = os.environ.get("XDG_CONFIG_HOME")
        path = (Path(xdg) if xdg else Path.home() / ".config") / "mailwarden"
    if create:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if (path.stat().st_mode & 0o777) != 0o700:
            os.chmod(path, 0o700)
    return path
