"""The cmdlet registry: each cmdlet is one declaration (DESIGN §4).

A :class:`CmdletSpec` names the cmdlet, its parameters (type, mandatory, parameter sets, validation), whether
it writes, the object type it returns and its handler. The registry drives parameter binding and errors, the
cmdlet list endpoint, shell completion and (later) RBAC role entries and audit operations.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._invocation import Invocation

__all__ = [
    "ALL_SETS",
    "CmdletSpec",
    "Param",
    "ParamType",
    "Registry",
]

ALL_SETS = "__AllParameterSets"


class ParamType(enum.Enum):
    STRING = "String"
    BOOL = "Boolean"
    SWITCH = "SwitchParameter"
    INT = "Int32"
    ENUM = "Enum"
    IDENTITY = "Identity"
    STRING_LIST = "MultiValuedProperty"
    DATETIME = "DateTime"
    GUID = "Guid"
    SMTP = "SmtpAddress"
    RESULT_SIZE = "Unlimited[UInt32]"
    SIZE = "Unlimited[ByteQuantifiedSize]"
    FILTER = "OPathFilter"


@dataclass(frozen=True)
class Param:
    name: str
    type: ParamType = ParamType.STRING
    mandatory: bool = False
    sets: tuple[str, ...] = ()  # empty: member of every set
    enum: tuple[str, ...] = ()
    secret: bool = False  # redacted wherever parameters are recorded
    nullable: bool = False  # accepts $null (clears the property)
    min_value: int | None = None
    max_value: int | None = None
    max_length: int | None = None
    position: int | None = None
    help: str = ""
    validate: Callable[[Any], Any] | None = None  # raises ValueError with a message; returns normalised value

    def in_set(self, set_name: str) -> bool:
        return not self.sets or set_name in self.sets


@dataclass(frozen=True)
class CmdletSpec:
    name: str
    params: tuple[Param, ...]
    handler: Callable[[Invocation], Any]
    writes: bool
    object_type: str
    description: str = ""
    default_set: str | None = None
    filterable: bool = False  # adds -Filter; the object type must provide a property map
    pageable: bool = False  # adds -ResultSize; handler returns a Listing
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def verb(self) -> str:
        return self.name.split("-", 1)[0]

    @property
    def noun(self) -> str:
        return self.name.split("-", 1)[1]

    def all_params(self) -> tuple[Param, ...]:
        extra: list[Param] = []
        if self.filterable:
            extra.append(Param("Filter", ParamType.FILTER, help="OPATH filter, evaluated on the server"))
        if self.pageable:
            extra.append(
                Param("ResultSize", ParamType.RESULT_SIZE, help="Number or Unlimited (default 1000)")
            )
        if self.writes:
            extra.append(Param("WhatIf", ParamType.SWITCH, help="Validate and preview; change nothing"))
            extra.append(Param("Confirm", ParamType.SWITCH, help="Accepted for compatibility"))
        return (*self.params, *extra)

    def parameter_sets(self) -> list[str]:
        names: list[str] = []
        for p in self.params:
            for s in p.sets:
                if s not in names:
                    names.append(s)
        return names or [self.default_set or "Default"]

    def describe(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Verb": self.verb,
            "Noun": self.noun,
            "Writes": self.writes,
            "OutputType": self.object_type,
            "Description": self.description,
            "ParameterSets": self.parameter_sets(),
            "Parameters": [
                {
                    "Name": p.name,
                    "Type": p.type.value,
                    "Mandatory": p.mandatory,
                    "ParameterSets": list(p.sets) or [ALL_SETS],
                    **({"ValidValues": list(p.enum)} if p.enum else {}),
                    **({"Position": p.position} if p.position is not None else {}),
                    **({"Help": p.help} if p.help else {}),
                }
                for p in self.all_params()
            ],
        }


class Registry:
    """Case-insensitive lookup of cmdlet specs, as PowerShell resolves command names."""

    def __init__(self, specs: Iterable[CmdletSpec] = ()) -> None:
        self._specs: dict[str, CmdletSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: CmdletSpec) -> None:
        key = spec.name.lower()
        if key in self._specs:
            raise ValueError(f"cmdlet {spec.name} declared twice")
        names = [p.name.lower() for p in spec.all_params()]
        if len(names) != len(set(names)):
            raise ValueError(f"cmdlet {spec.name} declares a parameter twice")
        self._specs[key] = spec

    def get(self, name: str) -> CmdletSpec | None:
        return self._specs.get(name.lower())

    def __iter__(self) -> Any:
        return iter(sorted(self._specs.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return sorted(s.name for s in self._specs.values())
