"""Named connection profiles (like aws/az profiles) in ``<config>/profiles.json``: tenant, target
(``mailwarden`` with a URL, or ``exo``), client id, how to sign in, and TLS trust. One is current."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._checkpoint import write_private_atomic
from ._config import config_dir
from ._errors import ClientError
from ._targets import Target, exo_target, mailwarden_target

__all__ = ["Profile", "ProfileStore"]

AuthMethod = Literal["device", "browser", "certificate"]


@dataclass
class Profile:
    name: str
    tenant: str
    target: Literal["mailwarden", "exo"] = "mailwarden"
    url: str | None = None
    client_id: str | None = None
    auth: AuthMethod = "device"
    vault_item: str | None = None  # certificate credential kept in the vault
    ca_bundle: str | None = None
    username: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def connection_target(self) -> Target:
        if self.target == "exo":
            return exo_target(self.tenant)
        if not self.url:
            raise ClientError(f"profile '{self.name}' has no URL (mailwarden target)")
        return mailwarden_target(self.url, self.tenant)

    def cache_path(self, directory: Path) -> Path:
        return directory / "cache" / f"{self.name}.bin"


class ProfileStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / "profiles.json"

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"current": None, "profiles": {}}
        except ValueError as exc:
            raise ClientError(f"{self.path} is not valid JSON: {exc}") from exc
        return data if isinstance(data, dict) else {"current": None, "profiles": {}}

    def _save(self, data: dict[str, Any]) -> None:
        write_private_atomic(self.path, json.dumps(data, indent=2, sort_keys=True).encode())

    def list(self) -> tuple[list[Profile], str | None]:
        data = self._load()
        return [Profile(**p) for _, p in sorted(data.get("profiles", {}).items())], data.get("current")

    def get(self, name: str | None = None) -> Profile:
        data = self._load()
        name = name or data.get("current")
        if not name:
            raise ClientError("no profile: run `mailwarden login` or `mailwarden profiles add` first")
        raw = data.get("profiles", {}).get(name)
        if raw is None:
            raise ClientError(f"no profile named '{name}'")
        return Profile(**raw)

    def put(self, profile: Profile, *, make_current: bool = False) -> None:
        data = self._load()
        data.setdefault("profiles", {})[profile.name] = asdict(profile)
        if make_current or not data.get("current"):
            data["current"] = profile.name
        self._save(data)

    def remove(self, name: str) -> bool:
        data = self._load()
        if data.get("profiles", {}).pop(name, None) is None:
            return False
        if data.get("current") == name:
            data["current"] = next(iter(sorted(data["profiles"])), None)
        self._save(data)
        return True

    def use(self, name: str) -> None:
        data = self._load()
        if name not in data.get("profiles", {}):
            raise ClientError(f"no profile named '{name}'")
        data["current"] = name
        self._save(data)
