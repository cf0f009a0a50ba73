"""Hand-written OPATH tokenizer (GRAMMAR.md §3 lexical rules, §2 outer braces, §13.12 typos).

Tokens are produced lazily, so a syntax error is reported at the left-most offending token: in
``CountryOrRegion -eq AU'`` (§13.12) the bare word ``AU`` is the error, not the dangling quote after it.

Rules implemented:

* operators need their leading hyphen and are case-insensitive: ``-eq -ne -lt -gt -le -ge -like
  -notlike -and -or -not``; any other ``-word`` (``-xor``, ``-match``, ``-RecipientType``) is an error;
* a hyphen directly followed by a digit starts a negative integer (``-2147483645``, §3);
* text values: ``'...'`` with ``''`` for an apostrophe (``'O''Brien, Laurie L'``), ``"..."`` with ``""``;
  any other character, including ``{ } ( ) : @ , =``, is literal inside quotes;
* ``$true``, ``$false``, ``$null`` (case-insensitive); any other ``$variable`` is an error, because the
  server only ever sees unexpanded variables by mistake (§2);
* integers must fit a signed 64-bit value, so they can always be bound as SQL parameters;
* ``{`` and ``}`` are tokens; the parser accepts them only as the outermost pair.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mailwarden.errors import FilterSyntaxError

__all__ = ["Token", "TokenKind", "tokenize"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

# The operator keywords, keyed by their lower-case spelling without the hyphen.
_OPERATORS = frozenset({"eq", "ne", "lt", "gt", "le", "ge", "like", "notlike", "and", "or", "not"})
_VARIABLES = frozenset({"true", "false", "null"})
_PUNCTUATION = {"(": "LPAREN", ")": "RPAREN", "{": "LBRACE", "}": "RBRACE"}

_Fail = Callable[[int, str], FilterSyntaxError]


class TokenKind(enum.Enum):
    WORD = "property name"
    OPERATOR = "operator"
    STRING = "quoted value"
    INTEGER = "integer"
    VARIABLE = "system value"
    LPAREN = "'('"
    RPAREN = "')'"
    LBRACE = "'{'"
    RBRACE = "'}'"
    END = "end of filter"


@dataclass(frozen=True, slots=True)
class Token:
    """One token. ``text`` is the operator/variable name in lower case, the decoded string, or the word."""

    kind: TokenKind
    text: str
    position: int
    int_value: int = 0


def _is_word_char(ch: str) -> bool:
    # ASCII only: Exchange property names are ASCII identifiers, and accepting Unicode digits here would
    # let int() see characters the filter author did not intend as numbers.
    return ch.isascii() and (ch.isalnum() or ch == "_")


def tokenize(text: str, *, parameter: str = "Filter") -> Iterator[Token]:
    """Yield the tokens of ``text``, ending with one ``END`` token; raise ``FilterSyntaxError`` lazily."""
    i = 0
    n = len(text)

    def fail(position: int, reason: str) -> FilterSyntaxError:
        return FilterSyntaxError(text, position, reason, parameter=parameter)

    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            yield Token(TokenKind.END, "", n)
            return
        ch = text[i]
        start = i
        if ch in _PUNCTUATION:
            i += 1
            yield Token(TokenKind[_PUNCTUATION[ch]], ch, start)
        elif ch in "'\"":
            i, value = _read_string(text, i, fail)
            yield Token(TokenKind.STRING, value, start)
        elif ch == "$":
            i += 1
            while i < n and _is_word_char(text[i]):
                i += 1
            name = text[start + 1 : i].lower()
            if name not in _VARIABLES:
                raise fail(
                    start, f"unknown variable '{text[start:i]}'; only $true, $false and $null are allowed"
                )
            yield Token(TokenKind.VARIABLE, name, start)
        elif ch == "-" and i + 1 < n and text[i + 1].isascii() and text[i + 1].isdigit():
            i, number = _read_integer(text, i + 1, fail, negative=True)
            yield Token(TokenKind.INTEGER, text[start:i], start, number)
        elif ch == "-":
            i += 1
            while i < n and _is_word_char(text[i]):
                i += 1
            name = text[start + 1 : i].lower()
            if name not in _OPERATORS:
                shown = text[start:i] or "-"
                raise fail(start, f"unknown operator '{shown}'")
            yield Token(TokenKind.OPERATOR, name, start)
        elif ch.isascii() and ch.isdigit():
            i, number = _read_integer(text, i, fail, negative=False)
            yield Token(TokenKind.INTEGER, text[start:i], start, number)
        elif _is_word_char(ch):
            while i < n and _is_word_char(text[i]):
                i += 1
            yield Token(TokenKind.WORD, text[start:i], start)
        else:
            raise fail(start, f"unexpected character {ch!r}")


def _read_string(text: str, i: int, fail: _Fail) -> tuple[int, str]:
    quote = text[i]
    start = i
    i += 1
    parts: list[str] = []
    while True:
        end = text.find(quote, i)
        if end < 0:
            raise fail(start, "missing closing quote")
        parts.append(text[i:end])
        if end + 1 < len(text) and text[end + 1] == quote:
            # A doubled delimiter stands for one literal delimiter (§2: 'O''Brien, Laurie L').
            parts.append(quote)
            i = end + 2
            continue
        return end + 1, "".join(parts)


def _read_integer(text: str, i: int, fail: _Fail, *, negative: bool) -> tuple[int, int]:
    start = i
    while i < len(text) and text[i].isascii() and text[i].isdigit():
        i += 1
    if i < len(text) and _is_word_char(text[i]):
        # '5GB' or '12abc': an unquoted word is not a valid value (§3).
        raise fail(start, "unquoted value; enclose text values in quotes")
    value = -int(text[start:i]) if negative else int(text[start:i])
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise fail(start, "integer out of range")
    return i, value
