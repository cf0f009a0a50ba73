"""Recursive-descent OPATH parser (GRAMMAR.md §3, §4, §11, §13.1, §13.2, §13.12).

Grammar (operators case-insensitive, whitespace free)::

    filter     := '{' expr '}' | expr                  (outer braces pass verbatim, §2)
    expr       := unary (('-and' | '-or') unary)*
    unary      := '-not' unary | primary
    primary    := '(' expr ')' | comparison
    comparison := WORD ('-eq'|'-ne'|'-lt'|'-gt'|'-le'|'-ge'|'-like'|'-notlike') value
    value      := QUOTED | INTEGER | '$true' | '$false' | '$null'

Precedence decisions:

* ``-not`` covers the comparison or parenthesised group right after it (§4, §13.2), so
  ``-not DisplayName -like 'CAS_{*'`` negates the whole comparison, as the documented
  Get-MobileDeviceStatistics example requires.
* ``-and`` and ``-or`` have *equal* precedence and associate left to right, as PowerShell's
  about_Logical_Operators states and [RF] links to (§4, §13.1): ``A -or B -and C`` is ``(A -or B) -and C``.
  A run of the same operator (``A -and B -and C``) is built as a balanced tree: the result and the
  left-to-right order of the operands are the same, and the tree stays shallow for long generated filters.

Each operand of ``-and``/``-or`` must be a full comparison, so ``(RecipientType -eq 'UserMailbox' -or
'MailUser')`` fails at ``'MailUser'`` (§4). Bare words as values fail (§3). Errors are
``FilterSyntaxError`` with the 0-based offset of the offending token (§11).

Limits: at most ``MAX_FILTER_LENGTH`` characters and ``MAX_DEPTH`` levels of nesting (parentheses,
``-not`` and the tree depth of the result), checked before Python's recursion limit could be reached.
"""

from __future__ import annotations

from collections.abc import Iterator

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
)
from mailwarden.cmdlets.opath._lexer import Token, TokenKind, tokenize
from mailwarden.errors import FilterSyntaxError

__all__ = ["MAX_DEPTH", "MAX_FILTER_LENGTH", "parse"]

MAX_FILTER_LENGTH = 4096
"""Twice Exchange's documented 2048-character RecipientFilter limit (§4), which counts internal syntax."""

MAX_DEPTH = 32
"""Nesting limit. SQLAlchemy compiles a tree recursively (about 7 frames per level), so 32 levels stay
far below Python's default recursion limit wherever the statement is compiled; real filters nest < 10."""

_COMPARISON_OPS = {op.value[1:]: op for op in Op}


def _depth(node: Node) -> int:
    # Called only on trees the parser has already bounded, so the recursion is shallow.
    if isinstance(node, Comparison):
        return 1
    if isinstance(node, Not):
        return 1 + _depth(node.operand)
    return 1 + max(_depth(node.left), _depth(node.right))


class _Parser:
    def __init__(self, text: str, parameter: str) -> None:
        self._text = text
        self._parameter = parameter
        self._tokens: Iterator[Token] = tokenize(text, parameter=parameter)
        self._current: Token = next(self._tokens)
        self._nesting = 0

    def error(self, position: int, reason: str) -> FilterSyntaxError:
        return FilterSyntaxError(self._text, position, reason, parameter=self._parameter)

    def advance(self) -> Token:
        token = self._current
        if token.kind is not TokenKind.END:
            self._current = next(self._tokens)
        return token

    def at_end(self) -> bool:
        # A method call, so mypy does not narrow ``self._current.kind`` across ``advance()`` calls.
        return self._current.kind is TokenKind.END

    def expect(self, kind: TokenKind, what: str) -> Token:
        if self._current.kind is not kind:
            raise self.unexpected(what)
        return self.advance()

    def unexpected(self, expected: str) -> FilterSyntaxError:
        token = self._current
        if token.kind is TokenKind.WORD:
            found = f"'{token.text}'"
        elif token.kind is TokenKind.OPERATOR:
            found = f"'-{token.text}'"
        else:
            found = token.kind.value
        return self.error(token.position, f"expected {expected}, found {found}")

    def is_operator(self, *names: str) -> bool:
        return self._current.kind is TokenKind.OPERATOR and self._current.text in names

    # filter := '{' expr '}' | expr
    def parse_filter(self) -> Node:
        if self.at_end():
            raise self.error(0, "the filter is empty")
        braced = self._current.kind is TokenKind.LBRACE
        if braced:
            self.advance()
        node = self.parse_expr()
        if braced:
            self.expect(TokenKind.RBRACE, "'-and', '-or' or '}'")
        if not self.at_end():
            raise self.unexpected("'-and', '-or' or end of filter")
        if _depth(node) > MAX_DEPTH:
            raise self.error(0, f"the filter is nested more than {MAX_DEPTH} levels deep")
        return node

    # expr := unary (('-and' | '-or') unary)*, equal precedence, left to right
    def parse_expr(self) -> Node:
        result = self.parse_unary()
        while self.is_operator("and", "or"):
            keyword = self.advance()
            run = [result, self.parse_unary()]
            while self._current.kind is TokenKind.OPERATOR and self._current.text == keyword.text:
                self.advance()
                run.append(self.parse_unary())
            result = _balanced(run, And if keyword.text == "and" else Or)
            if _depth(result) > MAX_DEPTH:
                raise self.error(keyword.position, f"the filter is nested more than {MAX_DEPTH} levels deep")
        return result

    # unary := '-not' unary | primary
    def parse_unary(self) -> Node:
        if self.is_operator("not"):
            token = self.advance()
            with self._nested(token):
                return Not(self.parse_unary())
        return self.parse_primary()

    # primary := '(' expr ')' | comparison
    def parse_primary(self) -> Node:
        if self._current.kind is TokenKind.LPAREN:
            token = self.advance()
            with self._nested(token):
                node = self.parse_expr()
            self.expect(TokenKind.RPAREN, "'-and', '-or' or ')'")
            return node
        return self.parse_comparison()

    # comparison := WORD op value
    def parse_comparison(self) -> Comparison:
        if self._current.kind is not TokenKind.WORD:
            raise self.unexpected("a property name, '(' or '-not'")
        prop = self.advance()
        op_token = self._current
        if op_token.kind is not TokenKind.OPERATOR or op_token.text not in _COMPARISON_OPS:
            raise self.unexpected("a comparison operator such as -eq or -like")
        self.advance()
        return Comparison(prop.text, _COMPARISON_OPS[op_token.text], self.parse_value(), prop.position)

    def parse_value(self) -> Value:
        token = self._current
        if token.kind is TokenKind.STRING:
            self.advance()
            return StringValue(token.text)
        if token.kind is TokenKind.INTEGER:
            self.advance()
            return IntValue(token.int_value)
        if token.kind is TokenKind.VARIABLE:
            self.advance()
            return NullValue() if token.text == "null" else BoolValue(token.text == "true")
        if token.kind is TokenKind.WORD:
            raise self.error(token.position, f"unquoted value '{token.text}'; enclose text values in quotes")
        raise self.unexpected("a value (quoted text, an integer, $true, $false or $null)")

    def _nested(self, token: Token) -> _Nesting:
        return _Nesting(self, token)


class _Nesting:
    """Counts parentheses and ``-not`` so deep input fails cleanly instead of hitting RecursionError."""

    def __init__(self, parser: _Parser, token: Token) -> None:
        self._parser = parser
        self._token = token

    def __enter__(self) -> None:
        self._parser._nesting += 1
        if self._parser._nesting > MAX_DEPTH:
            raise self._parser.error(
                self._token.position, f"the filter is nested more than {MAX_DEPTH} levels deep"
            )

    def __exit__(self, *exc: object) -> None:
        self._parser._nesting -= 1


def _balanced(operands: list[Node], cls: type[And] | type[Or]) -> Node:
    """Fold a same-operator run into a balanced tree that keeps the operands' left-to-right order."""
    if len(operands) == 1:
        return operands[0]
    middle = len(operands) // 2
    return cls(_balanced(operands[:middle], cls), _balanced(operands[middle:], cls))


def parse(text: str, *, parameter: str = "Filter") -> Node:
    """Parse OPATH ``text`` into a tree. ``parameter`` names the cmdlet parameter in error messages."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterSyntaxError(
            text[:MAX_FILTER_LENGTH] + "...",
            MAX_FILTER_LENGTH,
            f"the filter is longer than {MAX_FILTER_LENGTH} characters",
            parameter=parameter,
        )
    return _Parser(text, parameter).parse_filter()
