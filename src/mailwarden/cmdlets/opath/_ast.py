"""OPATH syntax tree: frozen dataclasses, plus the canonical text form (GRAMMAR.md §4).

The tree is purely syntactic: property names are kept as written and values as literals. Checking names
and values against a cmdlet's properties is the job of ``_bind``; this keeps ``parse`` usable without a
property map (e.g. to validate and normalise a stored RecipientFilter).

``to_text`` renders the normalised form Exchange stores (§4, [EX-AL]/[EX-ALS]): every comparison in
parentheses, every nested ``-and``/``-or`` group in parentheses, ``-not(...)``, lower-case operators and
single-quoted text. Re-parsing the output gives an equal tree (``position`` is excluded from equality).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypeAlias

__all__ = [
    "And",
    "BoolValue",
    "Comparison",
    "IntValue",
    "Node",
    "Not",
    "NullValue",
    "Op",
    "Or",
    "StringValue",
    "Value",
    "to_text",
]


class Op(enum.Enum):
    """Comparison operators (GRAMMAR.md §3, §5). The value is the canonical spelling."""

    EQ = "-eq"
    NE = "-ne"
    LT = "-lt"
    GT = "-gt"
    LE = "-le"
    GE = "-ge"
    LIKE = "-like"
    NOTLIKE = "-notlike"

    @property
    def negated(self) -> Op:
        """The operator that is true exactly when this one is false (for -eq/-ne/-like/-notlike)."""
        return _NEGATED[self]

    @property
    def is_ordering(self) -> bool:
        return self in (Op.LT, Op.GT, Op.LE, Op.GE)


_NEGATED = {
    Op.EQ: Op.NE,
    Op.NE: Op.EQ,
    Op.LIKE: Op.NOTLIKE,
    Op.NOTLIKE: Op.LIKE,
    Op.LT: Op.GE,
    Op.GE: Op.LT,
    Op.GT: Op.LE,
    Op.LE: Op.GT,
}


@dataclass(frozen=True, slots=True)
class StringValue:
    """A quoted literal (single or double quotes; the quote style is not semantic)."""

    text: str


@dataclass(frozen=True, slots=True)
class IntValue:
    """An unquoted integer literal (signed 64-bit range, checked by the lexer)."""

    value: int


@dataclass(frozen=True, slots=True)
class BoolValue:
    """``$true`` / ``$false``."""

    value: bool


@dataclass(frozen=True, slots=True)
class NullValue:
    """``$null``."""


Value: TypeAlias = StringValue | IntValue | BoolValue | NullValue


@dataclass(frozen=True, slots=True)
class Comparison:
    """``Property -op Value``. ``position`` is the 0-based offset of the property name in the source."""

    prop: str
    op: Op
    value: Value
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


Node: TypeAlias = Comparison | And | Or | Not


def _value_text(value: Value) -> str:
    if isinstance(value, StringValue):
        return "'" + value.text.replace("'", "''") + "'"
    if isinstance(value, IntValue):
        return str(value.value)
    if isinstance(value, BoolValue):
        return "$true" if value.value else "$false"
    return "$null"


def to_text(node: Node) -> str:
    """Canonical OPATH for ``node``; ``parse(to_text(n)) == n`` for every tree ``n``."""
    if isinstance(node, Comparison):
        return f"({node.prop} {node.op.value} {_value_text(node.value)})"
    if isinstance(node, Not):
        return f"-not{to_text(node.operand)}"
    # Every binary node gets its own parentheses, so each group holds exactly two operands and the
    # parser's grouping of same-operator runs cannot change the shape on re-parse.
    keyword = "-and" if isinstance(node, And) else "-or"
    return f"({to_text(node.left)} {keyword} {to_text(node.right)})"
