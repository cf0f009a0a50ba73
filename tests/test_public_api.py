"""Each module's public surface is deliberate: ``__all__`` is sorted and exact (httpx's habit).

Packages re-export from private modules and import nothing else public, so every public name in the
package namespace must be in ``__all__``. Plain modules must define (not merely import) what they export.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types

import pytest

PACKAGES = [
    "mailwarden.api",
    "mailwarden.cli",
    "mailwarden.client",
    "mailwarden.cmdlets",
    "mailwarden.cmdlets.opath",
    "mailwarden.directory",
    "mailwarden.oauth",
    "mailwarden.identity",
    "mailwarden.rbac",
    "mailwarden.store",
]
MODULES = [
    "mailwarden.clock",
    "mailwarden.config",
    "mailwarden.demo",
    "mailwarden.errors",
    "mailwarden.principal",
]


def _isort_key(name: str) -> tuple[int, str]:
    """ruff RUF022 order: SCREAMING_CASE, then CamelCase, then the rest."""
    if re.fullmatch(r"[A-Z0-9_]+", name) and len(name) > 1:
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


@pytest.mark.parametrize("name", PACKAGES + MODULES)
def test_all_is_sorted_and_unique(name: str) -> None:
    exported = list(importlib.import_module(name).__all__)
    assert exported == sorted(exported, key=_isort_key)
    assert len(set(exported)) == len(exported)


@pytest.mark.parametrize("name", PACKAGES)
def test_package_namespace_is_exactly_all(name: str) -> None:
    module = importlib.import_module(name)
    namespace = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and not isinstance(v, types.ModuleType)
        and n not in {"annotations", "TYPE_CHECKING", "Any"}
    }
    lazy = {n for n in module.__all__ if n not in vars(module)}
    for n in lazy:
        assert hasattr(module, n), n  # resolved by the package's __getattr__
    assert namespace | lazy == set(module.__all__)


@pytest.mark.parametrize("name", MODULES)
def test_module_exports_are_its_own(name: str) -> None:
    module = importlib.import_module(name)
    for item in module.__all__:
        assert hasattr(module, item), item
        value = getattr(module, item)
        owner = getattr(value, "__module__", None)
        if isinstance(value, type) or inspect.isfunction(value):
            assert owner == name, f"{item} is defined in {owner}, not {name}"
