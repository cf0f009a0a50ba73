"""The cmdlet engine: declarative registry, parameter binding, OPATH filters, signed cursors, executor.

The assembled registry (``default_registry``) is loaded lazily: the directory layer imports the engine's
light parts (parameter types, OPATH), and the cmdlet declarations import the directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._binding import UNLIMITED, BoundParameters, MultiValueChange, bind_parameters
from ._cursor import CursorSigner, CursorState, params_digest
from ._invocation import Invocation, Listing, TenantInfo
from ._registry import CmdletSpec, Param, ParamType, Registry

if TYPE_CHECKING:
    from ._catalog import default_registry
    from ._executor import CallResult, Executor

__all__ = [
    "UNLIMITED",
    "BoundParameters",
    "CallResult",
    "CmdletSpec",
    "CursorSigner",
    "CursorState",
    "Executor",
    "Invocation",
    "Listing",
    "MultiValueChange",
    "Param",
    "ParamType",
    "Registry",
    "TenantInfo",
    "bind_parameters",
    "default_registry",
    "params_digest",
]


def __getattr__(name: str) -> Any:
    if name == "default_registry":
        from ._catalog import default_registry

        return default_registry
    if name in ("Executor", "CallResult"):
        from . import _executor

        return getattr(_executor, name)
    raise AttributeError(name)
