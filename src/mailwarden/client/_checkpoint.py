"""Checkpoint files for resumable enumerations: JSON written atomically (temp file, fsync, rename, mode
0600) after every page, holding the nextLink, the count delivered and a digest of the call (tenant, API
base, cmdlet, parameters) so that a checkpoint is never used to resume a different call."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ._errors import CheckpointMismatchError
from ._resume import CheckpointState

__all__ = ["CheckpointFile", "call_digest"]

_VERSION = 1


def call_digest(tenant: str, api_base: str, cmdlet: str, params: dict[str, Any]) -> str:
    canonical = json.dumps(
        {"tenant": tenant.lower(), "api": api_base.rstrip("/"), "cmdlet": cmdlet.lower(), "params": params},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def write_private_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename durable too
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class CheckpointFile:
    """A ``CheckpointStore`` backed by one file."""

    def __init__(self, path: str | os.PathLike[str], *, digest: str, cmdlet: str) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.digest = digest
        self.cmdlet = cmdlet

    def load(self) -> CheckpointState | None:
        """The saved state, ``None`` when there is no file; refuses a checkpoint of another call."""
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise CheckpointMismatchError(f"checkpoint {self.path} is unreadable: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("version") != _VERSION:
            raise CheckpointMismatchError(f"checkpoint {self.path} has an unknown format")
        if raw.get("digest") != self.digest:
            raise CheckpointMismatchError(
                f"checkpoint {self.path} belongs to another call ({raw.get('cmdlet')} with other "
                "parameters, tenant or server); delete it or use another file"
            )
        link = raw.get("next_link")
        return CheckpointState(
            link if isinstance(link, str) else None, int(raw.get("delivered", 0)), bool(raw.get("complete"))
        )

    def save(self, state: CheckpointState) -> None:
        body = {
            "version": _VERSION,
            "cmdlet": self.cmdlet,
            "digest": self.digest,
            "next_link": state.next_link,
            "delivered": state.delivered,
            "complete": state.complete,
        }
        write_private_atomic(self.path, json.dumps(body, indent=1).encode())
