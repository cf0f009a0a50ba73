"""Tenant lookups of the HTTP layer (``/{tenant}/…`` and ``/adminapi/beta/{tenant}/…``), cached briefly.

Every request names its tenant by id or initial domain, and resolving it cost a read transaction of its own
before the request's real work. A tenant's id, name and initial domain never change once created, so a
short time-to-live only delays noticing a *deleted* tenant — whose rows are gone, so nothing can be read or
written through the stale entry anyway. Unknown references are not cached, so a tenant created on another
node is found on the next request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from ..cmdlets import TenantInfo

__all__ = ["TenantCache"]


class TenantCache:
    def __init__(
        self,
        load: Callable[[str], TenantInfo | None],
        *,
        ttl_seconds: float = 10.0,
        size: int = 4096,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._monotonic = monotonic
        self._ttl = ttl_seconds
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, TenantInfo]] = OrderedDict()

    def get(self, ref: str) -> TenantInfo | None:
        key = ref.lower()
        now = self._monotonic()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and now - hit[0] < self._ttl:
                self._entries.move_to_end(key)
                return hit[1]
        info = self._load(ref)
        if info is not None:
            with self._lock:
                self._entries[key] = (now, info)
                self._entries.move_to_end(key)
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        return info
