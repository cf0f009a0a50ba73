"""Compile an OPATH tree to a SQLAlchemy Core boolean expression (GRAMMAR.md §4-§9).

Semantics come from ``_bind`` (see its table); this module only spells them in SQL:

* every value is a bound parameter (``literal``/comparison operands), never SQL text, so
  ``Name -eq 'x'' OR 1=1 --'`` is just a strange name;
* text comparisons use ``lower(column)`` against a value lower-cased in Python. SQLite's built-in
  ``lower()`` folds ASCII only; install ``sqlite_unicode_lower`` on SQLite connections so non-ASCII
  text folds exactly as in the Python evaluator;
* ``-like`` becomes an anchored ``LIKE`` with ``*`` → ``%`` and ``%``, ``_``, ``\\`` escaped;
* every positive test is guarded with ``IS NOT NULL`` so it is two-valued and ``NOT`` never meets NULL:
  the SQL result always equals ``evaluate`` on the same row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, literal, not_, or_

from mailwarden.cmdlets.opath._ast import And, Comparison, Node, Not, Op
from mailwarden.cmdlets.opath._bind import BoundComparison, Test, bind, like_parts
from mailwarden.cmdlets.opath._parser import parse
from mailwarden.cmdlets.opath._properties import PropertyMap

__all__ = ["compile_filter", "like_pattern", "sqlite_unicode_lower"]

_LIKE_ESCAPE = "\\"


def like_pattern(pattern: str) -> str:
    """SQL LIKE pattern for an OPATH pattern: ``*`` → ``%``, literal ``%``, ``_`` and ``\\`` escaped."""
    escaped = (
        part.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
        for part in like_parts(pattern)
    )
    return "%".join(escaped)


def _positive(bound: BoundComparison, column: ColumnElement[Any]) -> ColumnElement[bool]:
    """The two-valued positive test of ``bound`` on one value (a scalar column or an element column)."""
    text = bound.prop.type.is_text
    present = column.is_not(None)
    if bound.test is Test.PRESENT:
        return and_(present, column != "") if text else present
    if bound.test is Test.MATCHES:
        pattern = like_pattern(str(bound.operand))
        return and_(present, column != "", func.lower(column).like(literal(pattern), escape=_LIKE_ESCAPE))
    operand = literal(bound.operand, type_=column.type) if not text else literal(bound.operand)
    target: ColumnElement[Any] = func.lower(column) if text else column
    if bound.test is Test.EQUALS:
        return and_(present, target == operand)
    comparisons = {
        Op.LT: target < operand,
        Op.GT: target > operand,
        Op.LE: target <= operand,
        Op.GE: target >= operand,
    }
    assert bound.order is not None
    return and_(present, comparisons[bound.order])


def _comparison(bound: BoundComparison) -> ColumnElement[bool]:
    prop = bound.prop
    if prop.any_of is not None:
        result = prop.any_of(lambda element: _positive(bound, element))
    elif prop.column is not None:
        result = _positive(bound, prop.column)
    else:  # pragma: no cover - FilterProperty.__post_init__ and bind() rule this out
        return false()
    return not_(result) if bound.negate else result


def _compile(node: Node, properties: PropertyMap, parameter: str) -> ColumnElement[bool]:
    if isinstance(node, Comparison):
        return _comparison(bind(node, properties, parameter=parameter))
    if isinstance(node, Not):
        return not_(_compile(node.operand, properties, parameter))
    left = _compile(node.left, properties, parameter)
    right = _compile(node.right, properties, parameter)
    return and_(left, right) if isinstance(node, And) else or_(left, right)


def compile_filter(
    node_or_text: Node | str, properties: PropertyMap, *, parameter: str = "Filter"
) -> ColumnElement[bool]:
    """SQLAlchemy boolean expression selecting exactly the rows ``evaluate`` accepts.

    Raises ``FilterSyntaxError``, ``UnknownFilterPropertyError`` or ``ParameterBindingError``; every
    comparison is validated, not only the ones a short-circuit would reach.
    """
    node = parse(node_or_text, parameter=parameter) if isinstance(node_or_text, str) else node_or_text
    return _compile(node, properties, parameter)


def sqlite_unicode_lower(dbapi_connection: Any, _connection_record: Any = None) -> None:
    """Connect-event hook replacing SQLite's ASCII-only ``lower()`` with Python's ``str.lower``.

    ``event.listen(engine, "connect", sqlite_unicode_lower)`` makes SQLite fold case exactly like the
    Python evaluator (PostgreSQL's ``lower()`` is already Unicode-aware).
    """

    def lower(value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    dbapi_connection.create_function("lower", 1, lower, deterministic=True)
