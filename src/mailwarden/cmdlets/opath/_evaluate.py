"""Evaluate an OPATH tree against one object in Python (GRAMMAR.md §4-§9), e.g. for RBAC scope checks.

Semantics are exactly those of ``compile_filter`` (both come from ``_bind``); the agreement is checked
by a property-based test against SQLite. ``-and``/``-or`` short-circuit left to right (§4), but every
comparison is validated up front, so a bad filter fails the same way whatever the object holds.

Object values (``obj[prop.attr or prop.name]``): ``str``/``None`` for text types (``uuid.UUID`` is
accepted for GUIDs), ``int``, ``bool``, ``datetime`` (naive = UTC; aware values are converted), and an
iterable of such values (or ``None``) for multi-valued properties. A missing key is a programming
error (``KeyError``): silently treating it as blank could widen a management scope.

``*`` patterns are matched with a linear scan rather than a regular expression, so hostile patterns
such as ``'*a*a*a*a*b'`` cannot cause catastrophic backtracking.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mailwarden.cmdlets.opath._ast import And, Comparison, Node, Not, Op
from mailwarden.cmdlets.opath._bind import BoundComparison, Test, bind, like_parts
from mailwarden.cmdlets.opath._parser import parse
from mailwarden.cmdlets.opath._properties import FilterProperty, PropertyMap, PropertyType

__all__ = ["Predicate", "evaluate", "glob_match", "predicate"]

Predicate = Callable[[Mapping[str, Any]], bool]


def glob_match(value: str, parts: tuple[str, ...]) -> bool:
    """Anchored match of ``value`` against the literal pieces between ``*`` wildcards."""
    if len(parts) == 1:
        return value == parts[0]
    first, last = parts[0], parts[-1]
    if len(value) < len(first) + len(last) or not value.startswith(first) or not value.endswith(last):
        return False
    position, end = len(first), len(value) - len(last)
    # Taking the left-most occurrence of each middle piece is optimal for '*'-only patterns.
    for piece in parts[1:-1]:
        found = value.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def _normalise(prop: FilterProperty, value: Any) -> Any:
    """One stored value in the form the tests compare: lower-case text, int, bool, naive-UTC datetime."""
    if value is None:
        return None
    kind = prop.type
    if kind.is_text:
        if isinstance(value, uuid.UUID):
            value = str(value)
        if not isinstance(value, str):
            raise TypeError(f"{prop.name}: expected str, got {type(value).__name__}")
        return value.lower() if value != "" else None
    if kind is PropertyType.BOOL:
        if not isinstance(value, bool | int):
            raise TypeError(f"{prop.name}: expected bool, got {type(value).__name__}")
        return bool(value)
    if kind is PropertyType.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{prop.name}: expected int, got {type(value).__name__}")
        return value
    if kind is PropertyType.DATETIME:
        if not isinstance(value, dt.datetime):
            raise TypeError(f"{prop.name}: expected datetime, got {type(value).__name__}")
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo is not None else value
    raise TypeError(f"{prop.name}: {kind.value} properties can't be evaluated")


def _positive(bound: BoundComparison) -> Callable[[Any], bool]:
    """The positive test on one normalised value; ``None`` (blank) fails every test except nothing."""
    operand = bound.operand
    if bound.test is Test.PRESENT:
        return lambda v: v is not None
    if bound.test is Test.MATCHES:
        parts = like_parts(str(operand))
        return lambda v: v is not None and glob_match(v, parts)
    if bound.test is Test.EQUALS:
        return lambda v: v is not None and v == operand
    order = bound.order
    return lambda v: v is not None and _ordered(order, v, operand)


def _ordered(order: Op | None, left: Any, right: Any) -> bool:
    if order is Op.LT:
        return bool(left < right)
    if order is Op.GT:
        return bool(left > right)
    if order is Op.LE:
        return bool(left <= right)
    return bool(left >= right)


def _comparison(bound: BoundComparison) -> Predicate:
    prop, test, negate = bound.prop, _positive(bound), bound.negate

    if prop.multivalued:

        def check_any(obj: Mapping[str, Any]) -> bool:
            values: Iterable[Any] | None = obj[prop.key]
            if isinstance(values, str):
                raise TypeError(f"{prop.name}: expected a list of values, got str")
            hit = any(test(_normalise(prop, v)) for v in values or ())
            return hit != negate

        return check_any

    def check(obj: Mapping[str, Any]) -> bool:
        return test(_normalise(prop, obj[prop.key])) != negate

    return check


def _build(node: Node, properties: PropertyMap, parameter: str) -> Predicate:
    if isinstance(node, Comparison):
        return _comparison(bind(node, properties, parameter=parameter))
    if isinstance(node, Not):
        inner = _build(node.operand, properties, parameter)
        return lambda obj: not inner(obj)
    left = _build(node.left, properties, parameter)
    right = _build(node.right, properties, parameter)
    if isinstance(node, And):
        return lambda obj: left(obj) and right(obj)
    return lambda obj: left(obj) or right(obj)


def predicate(node_or_text: Node | str, properties: PropertyMap, *, parameter: str = "Filter") -> Predicate:
    """Validate the filter once and return a reusable ``obj -> bool`` test."""
    node = parse(node_or_text, parameter=parameter) if isinstance(node_or_text, str) else node_or_text
    return _build(node, properties, parameter)


def evaluate(
    node_or_text: Node | str, properties: PropertyMap, obj: Mapping[str, Any], *, parameter: str = "Filter"
) -> bool:
    """Whether ``obj`` matches the filter, with the same semantics as ``compile_filter``."""
    return predicate(node_or_text, properties, parameter=parameter)(obj)
