"""Canonical JSON for audit leaves: sorted keys, no insignificant whitespace, UTF-8, integers and strings
only (RFC 8785's output for the value types audit records use). The same bytes are produced by the server
when appending and by ``mailwarden audit verify`` when checking an export offline."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["canonical_json"]


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()
