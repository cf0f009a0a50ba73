"""MSAL's token cache (``msal.SerializableTokenCache``) kept sealed at rest (see ``_vault.Sealer``): loaded
once, written back (atomically, 0600) whenever MSAL changed it. One file per profile."""

from __future__ import annotations

from pathlib import Path

import msal  # type: ignore[import-untyped]

from ._config import config_dir
from ._vault import Sealer

__all__ = ["TokenCache"]


class TokenCache:
    PURPOSE = "token-cache"

    def __init__(self, path: Path | None = None, *, sealer: Sealer | None = None) -> None:
        self.path = path or config_dir() / "token_cache.bin"
        self.sealer = sealer or Sealer(directory=self.path.parent)
        self.msal = msal.SerializableTokenCache()
        raw = self.sealer.read(self.path, self.PURPOSE)
        if raw is not None:
            self.msal.deserialize(raw.decode())

    def persist(self) -> None:
        if self.msal.has_state_changed:
            self.sealer.write(self.path, self.PURPOSE, self.msal.serialize().encode())
            self.msal.has_state_changed = False

    def clear(self) -> None:
        self.msal = msal.SerializableTokenCache()
        self.path.unlink(missing_ok=True)
