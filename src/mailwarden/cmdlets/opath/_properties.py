"""Filterable-property descriptions: what a name means in SQL and in Python (GRAMMAR.md §8, §11, §15).

A ``PropertyMap`` is built per cmdlet (a property is filterable only on the cmdlets listed for it, §11),
looked up case-insensitively (§3: ``countryCode``, ``POPEnabled``). ``PropertyType`` values are the type
names used in ``PROPERTIES.json``, so ``PropertyType(entry["type"])`` works.

Storage contract the compiler and evaluator rely on (both must see the same data):

* text-like types (STRING, DN, ENUM, GUID, SID, FLAGS, BINARY, SIZE) are string columns; '' counts as blank;
* GUIDs are stored in the canonical lower- or upper-case 36-character form (compared case-insensitively);
* ENUM columns store a canonical name; FLAGS columns store canonical names joined by ``", "`` in
  ``enum_values`` order (so order-insensitive filter values can be compared with one equality);
* DATETIME columns are naive UTC ``DateTime``; INT columns integers; BOOL columns booleans;
* multi-valued properties use ``any_of`` (an EXISTS over a child table); ``child_any_of`` builds one.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists

from mailwarden.errors import UnknownFilterPropertyError

__all__ = ["AnyOf", "ElementPredicate", "FilterProperty", "PropertyMap", "PropertyType", "child_any_of"]

ElementPredicate = Callable[[ColumnElement[Any]], ColumnElement[bool]]
AnyOf = Callable[[ElementPredicate], ColumnElement[bool]]


class PropertyType(enum.Enum):
    STRING = "string"
    BOOL = "bool"
    INT = "int"
    ENUM = "enum"
    GUID = "guid"
    DATETIME = "datetime"
    DN = "dn"
    SIZE = "size"
    FLAGS = "flags"
    SID = "sid"
    BINARY = "binary"
    TIMESPAN = "timespan"

    @property
    def is_text(self) -> bool:
        """Stored as a string column, where '' and NULL both count as blank (§6)."""
        return self not in (PropertyType.BOOL, PropertyType.INT, PropertyType.DATETIME, PropertyType.TIMESPAN)


@dataclass(frozen=True)
class FilterProperty:
    name: str
    """Canonical Exchange spelling."""
    type: PropertyType
    column: ColumnElement[Any] | None = None
    """SQL expression for a scalar property."""
    any_of: AnyOf | None = None
    """Multi-valued "contains" property: given a predicate over the element column, return EXISTS(...)."""
    wildcards: bool = True
    """``-like`` with ``*`` allowed (only meaningful for STRING and DN, §5)."""
    null_ok: bool = True
    enum_values: tuple[str, ...] = ()
    """Allowed names for ENUM/FLAGS (case-insensitive match, canonical spelling stored)."""
    attr: str | None = None
    """Key in the Mapping the Python evaluator reads; defaults to ``name``."""
    strip_smtp_prefix: bool = False
    """EmailAddresses rule (§7): ``-eq`` without ``prefix:`` means ``smtp:``; ``-like`` sees the prefix."""

    def __post_init__(self) -> None:
        if (self.column is None) == (self.any_of is None) and self.type is not PropertyType.TIMESPAN:
            raise ValueError(f"{self.name}: give exactly one of column= or any_of=")

    @property
    def key(self) -> str:
        return self.attr if self.attr is not None else self.name

    @property
    def multivalued(self) -> bool:
        return self.any_of is not None


class PropertyMap:
    """Case-insensitive, read-only collection of the properties one cmdlet can filter on."""

    def __init__(self, properties: Iterable[FilterProperty]) -> None:
        self._by_lower: dict[str, FilterProperty] = {}
        for prop in properties:
            lowered = prop.name.lower()
            if lowered in self._by_lower:
                raise ValueError(f"duplicate filter property {prop.name!r}")
            self._by_lower[lowered] = prop

    def get(self, name: str) -> FilterProperty | None:
        return self._by_lower.get(name.lower())

    def resolve(self, name: str, *, parameter: str = "Filter") -> FilterProperty:
        """The property called ``name``, or Exchange's "not a recognized filterable property" error."""
        prop = self.get(name)
        if prop is None:
            raise UnknownFilterPropertyError(name, self.names(), parameter=parameter)
        return prop

    def names(self) -> list[str]:
        return sorted((p.name for p in self._by_lower.values()), key=str.lower)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_lower

    def __iter__(self) -> Iterator[FilterProperty]:
        return iter(self._by_lower.values())

    def __len__(self) -> int:
        return len(self._by_lower)


def child_any_of(element: ColumnElement[Any], *correlation: ColumnElement[bool]) -> AnyOf:
    """``any_of`` for a child table: ``EXISTS (SELECT 1 FROM child WHERE <correlation> AND <predicate>)``.

    Example for proxy addresses::

        child_any_of(proxy_addresses.c.address, proxy_addresses.c.recipient_id == recipients.c.id)
    """

    def build(predicate: ElementPredicate) -> ColumnElement[bool]:
        return exists().where(*correlation, predicate(element))

    return build
