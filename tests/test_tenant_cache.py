"""The HTTP layer's tenant lookup cache: hits within the TTL, reloads after it, never caches an unknown
tenant (one created on another node is found at once), and stays bounded."""

from __future__ import annotations

from mailwarden.api._tenant_cache import TenantCache
from mailwarden.cmdlets import TenantInfo


class Loader:
    def __init__(self) -> None:
        self.known: dict[str, TenantInfo] = {}
        self.calls: list[str] = []

    def __call__(self, ref: str) -> TenantInfo | None:
        self.calls.append(ref)
        return self.known.get(ref.lower())


def test_hits_expiry_unknown_and_bound() -> None:
    now = [100.0]
    load = Loader()
    cache = TenantCache(load, ttl_seconds=10, size=2, monotonic=lambda: now[0])
    contoso = TenantInfo("t1", "Contoso", "contoso.onmicrosoft.com")
    assert cache.get("contoso.onmicrosoft.com") is None
    load.known["contoso.onmicrosoft.com"] = contoso
    assert cache.get("contoso.onmicrosoft.com") == contoso  # the miss was not cached
    assert cache.get("CONTOSO.onmicrosoft.com") == contoso  # same key, case-insensitively
    assert load.calls == ["contoso.onmicrosoft.com"] * 2
    now[0] += 9.9
    assert cache.get("contoso.onmicrosoft.com") == contoso
    assert len(load.calls) == 2
    now[0] += 0.2
    del load.known["contoso.onmicrosoft.com"]  # deleted: noticed once the entry expires
    assert cache.get("contoso.onmicrosoft.com") is None
    assert len(load.calls) == 3
    for name in ("a", "b", "c"):
        load.known[name] = TenantInfo(name, name, f"{name}.example")
        cache.get(name)
    cache.get("a")  # evicted by the size bound: loaded again
    assert load.calls[-1] == "a"
    assert load.calls.count("a") == 2
