"""PowerShell-like command lines, parsed by hand (no evaluation, ever):

    Get-Mailbox -Filter "Department -eq 'Sales'" -ResultSize Unlimited
    Set-Mailbox jane -ForwardingSmtpAddress $null -Confirm:$false
    Set-Mailbox -Identity jane -EmailAddresses @{Add='smtp:j@x.com';Remove='smtp:old@x.com'}
    Add-MailboxPermission 'Sales Team' -User alex -AccessRights FullAccess,SendAs

Values: ``$true``/``$false``/``$null``, integers and decimals, ``'single'`` (``''`` escapes ``'``) and
``"double"`` (backtick escapes) quoted strings, bare words, arrays ``a,b,c`` (also ``@(a,b)``), hashtables
``@{Key=value;Other=a,b}``. ``-Name:value`` binds a value to a switch-like parameter; ``-Name`` followed by
another ``-Param`` or the end is a switch (``True``). Arguments without a name are positional.
``parse_value`` serves ``mailwarden invoke -p Name=Value`` with the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CommandLine", "ShellSyntaxError", "parse_command", "parse_value", "tokenize_for_completion"]

_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?\Z")
_BARE_STOP = set(" \t,;){}=")


class ShellSyntaxError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position + 1})")
        self.position = position


@dataclass
class CommandLine:
    cmdlet: str
    params: dict[str, Any] = field(default_factory=dict)
    positional: list[Any] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.text)

    def word(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _BARE_STOP:
            self.pos += 1
        return self.text[start : self.pos]

    def single_quoted(self) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise ShellSyntaxError("unterminated single-quoted string", start)
            ch = self.text[self.pos]
            if ch == "'":
                if self.text[self.pos + 1 : self.pos + 2] == "'":
                    out.append("'")
                    self.pos += 2
                    continue
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1

    def double_quoted(self) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        escapes = {"n": "\n", "t": "\t", "0": "\0", "`": "`", '"': '"', "$": "$"}
        while True:
            if self.pos >= len(self.text):
                raise ShellSyntaxError("unterminated double-quoted string", start)
            ch = self.text[self.pos]
            if ch == "`" and self.pos + 1 < len(self.text):
                out.append(escapes.get(self.text[self.pos + 1], self.text[self.pos + 1]))
                self.pos += 2
                continue
            if ch == '"':
                if self.text[self.pos + 1 : self.pos + 2] == '"':
                    out.append('"')
                    self.pos += 2
                    continue
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1

    def scalar(self) -> Any:
        self.skip_ws()
        ch = self.peek()
        start = self.pos
        if ch == "'":
            return self.single_quoted()
        if ch == '"':
            return self.double_quoted()
        if self.text.startswith("@{", self.pos):
            return self.hashtable()
        if self.text.startswith("@(", self.pos):
            return self.array_literal()
        if ch == "" or ch in _BARE_STOP:
            raise ShellSyntaxError("a value is missing", start)
        return literal(self.word())

    def value(self) -> Any:
        first = self.scalar()
        items = [first]
        while True:
            save = self.pos
            self.skip_ws()
            if self.peek() != ",":
                self.pos = save
                break
            self.pos += 1
            items.append(self.scalar())
        return items if len(items) > 1 else first

    def array_literal(self) -> list[Any]:
        start = self.pos
        self.pos += 2
        items: list[Any] = []
        while True:
            self.skip_ws()
            if self.peek() == ")":
                self.pos += 1
                return items
            if self.peek() == "":
                raise ShellSyntaxError("unterminated @( array", start)
            value = self.value()
            items.extend(value if isinstance(value, list) else [value])

    def hashtable(self) -> dict[str, Any]:
        start = self.pos
        self.pos += 2
        out: dict[str, Any] = {}
        while True:
            self.skip_ws()
            ch = self.peek()
            if ch == "}":
                self.pos += 1
                return out
            if ch == ";":
                self.pos += 1
                continue
            if ch == "":
                raise ShellSyntaxError("unterminated @{ hashtable", start)
            key_pos = self.pos
            key = self.single_quoted() if ch == "'" else self.double_quoted() if ch == '"' else self.word()
            if not key:
                raise ShellSyntaxError("a hashtable key is missing", key_pos)
            self.skip_ws()
            if self.peek() != "=":
                raise ShellSyntaxError(f"'=' expected after hashtable key '{key}'", self.pos)
            self.pos += 1
            out[key] = self.value()


def literal(word: str) -> Any:
    lowered = word.lower()
    if lowered == "$true":
        return True
    if lowered == "$false":
        return False
    if lowered == "$null":
        return None
    if _NUMBER.match(word):
        return float(word) if "." in word else int(word)
    return word


def parse_value(text: str) -> Any:
    """One value as PowerShell would bind it: ``$true``, ``42``, ``a,b``, ``@{Add=x;Remove=y}``, quotes."""
    parser = _Parser(text)
    if parser.at_end():
        return ""
    value = parser.value()
    if not parser.at_end():
        raise ShellSyntaxError("unexpected text after the value", parser.pos)
    return value


def parse_command(text: str) -> CommandLine:
    parser = _Parser(text)
    if parser.at_end():
        raise ShellSyntaxError("empty command", 0)
    name_pos = parser.pos
    cmdlet = parser.word()
    if not re.fullmatch(r"[A-Za-z]+-[A-Za-z0-9]+", cmdlet):
        raise ShellSyntaxError(f"'{cmdlet}' is not a cmdlet name (Verb-Noun)", name_pos)
    line = CommandLine(cmdlet)
    while not parser.at_end():
        ch = parser.peek()
        if ch == "-" and parser.pos + 1 < len(parser.text) and parser.text[parser.pos + 1].isalpha():
            start = parser.pos
            parser.pos += 1
            match = re.compile(r"[A-Za-z][A-Za-z0-9]*").match(parser.text, parser.pos)
            assert match is not None
            name = match.group(0)
            parser.pos = match.end()
            if name in line.params:
                raise ShellSyntaxError(f"parameter -{name} is given twice", start)
            if parser.peek() == ":":
                parser.pos += 1
                line.params[name] = parser.value()
                continue
            save = parser.pos
            parser.skip_ws()
            nxt = parser.peek()
            if nxt == "" or (
                nxt == "-" and parser.pos + 1 < len(parser.text) and parser.text[parser.pos + 1].isalpha()
            ):
                parser.pos = save
                line.params[name] = True  # a switch
                continue
            line.params[name] = parser.value()
        else:
            line.positional.append(parser.value())
    return line


def tokenize_for_completion(text: str) -> tuple[str | None, str, set[str]]:
    """(cmdlet or None, the word being typed, parameter names already given) — tolerant of unfinished
    input, for the completer."""
    words = re.findall(r"""'(?:[^']|'')*'?|"(?:[^"`]|`.)*"?|[^\s]+""", text)
    if text.endswith((" ", "\t")) or not words:
        words.append("")
    current = words[-1]
    cmdlet = words[0] if len(words) > 1 else None
    given = {w[1:].split(":")[0].lower() for w in words[1:-1] if w.startswith("-") and len(w) > 1}
    return cmdlet, current, given
