"""OPATH, the filter language of Exchange's ``-Filter``/``-RecipientFilter`` parameters (GRAMMAR.md).

::

    node = parse("Department -eq 'Sales' -and -not (Title -like '*Temp*')")   # syntax only (§3, §4)
    where = compile_filter(node, properties)          # SQLAlchemy Core boolean (§5-§9)
    inside = evaluate(node, properties, {"Department": "Sales", "Title": None})  # same result in Python
    to_text(node)   # "((Department -eq 'Sales') -and -not(Title -like '*Temp*'))", the stored form (§4)

Modules: ``_lexer`` (tokens), ``_parser`` (grammar, precedence, limits), ``_ast`` (tree, ``to_text``),
``_properties`` (``PropertyMap``), ``_bind`` (value rules shared by SQL and Python), ``_compile`` (SQL),
``_evaluate`` (Python).
"""

from mailwarden.cmdlets.opath._ast import (
    And,
    BoolValue,
    Comparison,
    IntValue,
    Node,
    Not,
    NullValue,
    Op,
    Or,
    StringValue,
    Value,
    to_text,
)
from mailwarden.cmdlets.opath._compile import compile_filter, sqlite_unicode_lower
from mailwarden.cmdlets.opath._evaluate import Predicate, evaluate, predicate
from mailwarden.cmdlets.opath._parser import MAX_DEPTH, MAX_FILTER_LENGTH, parse
from mailwarden.cmdlets.opath._properties import (
    AnyOf,
    ElementPredicate,
    FilterProperty,
    PropertyMap,
    PropertyType,
    child_any_of,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_FILTER_LENGTH",
    "And",
    "AnyOf",
    "BoolValue",
    "Comparison",
    "ElementPredicate",
    "FilterProperty",
    "IntValue",
    "Node",
    "Not",
    "NullValue",
    "Op",
    "Or",
    "Predicate",
    "PropertyMap",
    "PropertyType",
    "StringValue",
    "Value",
    "child_any_of",
    "compile_filter",
    "evaluate",
    "parse",
    "predicate",
    "sqlite_unicode_lower",
    "to_text",
]
