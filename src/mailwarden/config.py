"""Settings, validated once at start. Fail closed: outside dev mode a missing secret key is an error, never a
silently generated default."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigurationError

__all__ = ["Settings", "load_secret_key"]


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mailwarden"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAILWARDEN_", extra="ignore")

    env: Literal["dev", "production"] = "dev"
    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    # Master secret (hex or any string of >= 32 chars). Derives cursor keys and wraps keys stored in the
    # database. In dev mode it is generated once into data_dir/secret.key (0600).
    secret_key: str | None = None
    default_page_size: int = Field(default=1000, ge=1, le=1000)
    max_page_size: int = Field(default=1000, ge=1, le=1000)
    default_result_size: int = Field(default=1000, ge=1)
    rate_limit_per_minute: int = Field(default=1200, ge=1)
    public_base_url: str | None = None
    # Identity (DESIGN §5). Lockout stays well under 100 consecutive failures whatever is configured.
    lockout_threshold: int = Field(default=10, ge=1, lt=100)
    lockout_minutes: int = Field(default=15, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    session_idle_minutes: int = Field(default=30, ge=1)
    access_token_seconds: int = Field(default=3600, ge=5)
    refresh_idle_days: int = Field(default=14, ge=1)
    refresh_absolute_days: int = Field(default=90, ge=1)
    device_code_minutes: int = Field(default=15, ge=1)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'mailwarden.db'}"

    def resolved_secret_key(self) -> bytes:
        return load_secret_key(self)


def load_secret_key(settings: Settings) -> bytes:
    if settings.secret_key:
        if len(settings.secret_key) < 32:
            raise ConfigurationError("MAILWARDEN_SECRET_KEY must be at least 32 characters")
        return settings.secret_key.encode()
    if settings.env != "dev":
        raise ConfigurationError("MAILWARDEN_SECRET_KEY is required outside dev mode")
    path = settings.data_dir / "secret.key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # O_EXCL so two processes starting together cannot write two different keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    value = path.read_text().strip()
    if len(value) < 32:
        raise ConfigurationError(f"{path} holds no usable secret key")
    return value.encode()
