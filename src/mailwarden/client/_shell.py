"""``mailwarden shell``: a PowerShell-like prompt (prompt_toolkit) on one ``Connection``.

Completion of cmdlet names, parameter names and valid values from the server's ``/cmdlets`` registry;
history in ``<config>/history``; results as tables, paged (``-- More --``) a screenful at a time while
pages stream in; every error as one line. When the session expires the resume logic refreshes the token
silently; only if that is impossible (refresh token gone) does the shell run a device-code sign-in in
place and then re-run the command that was typed.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.output import Output
from rich.console import Console

from ._connection import Connection
from ._errors import ClientError, IncompleteResultError, InteractionRequired
from ._output import columns_for, render_table
from ._shell_syntax import ShellSyntaxError, parse_command, tokenize_for_completion

__all__ = ["CmdletCompleter", "Shell"]


class CmdletCompleter(Completer):
    def __init__(self, catalog: dict[str, dict[str, Any]]) -> None:
        self.catalog = catalog  # lower-case name -> description from /cmdlets

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        cmdlet, word, given = tokenize_for_completion(document.text_before_cursor)
        if cmdlet is None:
            for spec in sorted(self.catalog.values(), key=lambda s: str(s["Name"])):
                name = str(spec["Name"])
                if name.lower().startswith(word.lower()):
                    yield Completion(name, start_position=-len(word))
            return
        found = self.catalog.get(cmdlet.lower())
        if found is None:
            return
        params = found.get("Parameters", [])
        if word.startswith("-"):
            prefix = word[1:].lower()
            for p in params:
                name = str(p["Name"])
                if name.lower().startswith(prefix) and name.lower() not in given:
                    yield Completion(
                        f"-{name}", start_position=-len(word), display_meta=str(p.get("Type", ""))
                    )
            return
        before = document.text_before_cursor[: len(document.text_before_cursor) - len(word)].split()
        if before and before[-1].startswith("-"):
            for p in params:
                if str(p["Name"]).lower() == before[-1][1:].lower():
                    for value in p.get("ValidValues", []):
                        if str(value).lower().startswith(word.lower()):
                            yield Completion(str(value), start_position=-len(word))


class Shell:
    def __init__(
        self,
        conn: Connection,
        *,
        input: Input | None = None,
        output: Output | None = None,
        out: TextIO | None = None,
        history_path: Path | None = None,
        title: str = "",
        page_rows: int | None = None,
    ) -> None:
        self.conn = conn
        self.out = out or sys.stdout
        self.console = Console(file=self.out, soft_wrap=True, highlight=False)
        self.catalog: dict[str, dict[str, Any]] = {}
        self.completer = CmdletCompleter(self.catalog)
        history: History = FileHistory(str(history_path)) if history_path else InMemoryHistory()
        self.session: PromptSession[str] = PromptSession(
            history=history, completer=self.completer, input=input, output=output, complete_while_typing=False
        )
        self.more: PromptSession[str] = PromptSession(input=input, output=output)
        self.title = title
        self.page_rows = page_rows or max(10, shutil.get_terminal_size((100, 30)).lines - 4)
        self.reauths = 0

    # --- output --------------------------------------------------------------------------------------
    def error(self, exc: BaseException) -> None:
        if isinstance(exc, IncompleteResultError):
            text = f"incomplete after {exc.delivered} objects: {exc.cause}"
        else:
            text = str(exc)
        self.console.print(f"error: {' '.join(text.split())}", markup=False)

    def load_catalog(self) -> None:
        try:
            specs = self.conn.cmdlets()
        except InteractionRequired:
            if not self.reauth():
                return
            specs = self.conn.cmdlets()
        except ClientError as exc:
            self.error(exc)
            return
        self.catalog.clear()
        self.catalog.update({str(s["Name"]).lower(): s for s in specs if "Name" in s})

    def reauth(self) -> bool:
        sign_in = getattr(self.conn.auth, "sign_in", None)
        if sign_in is None:
            return False
        self.console.print("session expired and cannot be refreshed: sign in again", markup=False)
        try:
            sign_in()
        except ClientError as exc:
            self.error(exc)
            return False
        self.conn.reset_token()
        self.reauths += 1
        return True

    # --- commands ------------------------------------------------------------------------------------
    def bind_positional(self, cmdlet: str, params: dict[str, Any], positional: list[Any]) -> dict[str, Any]:
        if not positional:
            return params
        spec = self.catalog.get(cmdlet.lower(), {})
        slots = sorted(
            (p for p in spec.get("Parameters", []) if isinstance(p.get("Position"), int)),
            key=lambda p: int(p["Position"]),
        )
        names = [str(p["Name"]) for p in slots] or ["Identity"]
        if len(positional) > len(names):
            raise ShellSyntaxError(f"{cmdlet} takes at most {len(names)} positional argument(s)", 0)
        bound = dict(params)
        for name, value in zip(names, positional, strict=False):
            if name in bound:
                raise ShellSyntaxError(f"-{name} is given twice (named and positional)", 0)
            bound[name] = value
        return bound

    def show(self, items: Iterable[dict[str, Any]]) -> int:
        it = iter(items)
        shown = 0
        columns: list[str] | None = None
        while True:
            chunk = list(islice(it, self.page_rows))
            if not chunk:
                break
            columns = columns or columns_for(chunk[0])
            table = render_table(chunk, columns)
            table.show_header = shown == 0
            self.console.print(table)
            shown += len(chunk)
            if len(chunk) < self.page_rows:
                break
            answer = self.more.prompt("-- More -- (Enter: next page, q: stop) ")
            if answer.strip().lower().startswith("q"):
                break
        close = getattr(it, "close", None)
        if close is not None:
            close()
        return shown

    def execute(self, text: str) -> None:
        try:
            line = parse_command(text)
            name = str(self.catalog.get(line.cmdlet.lower(), {}).get("Name", line.cmdlet))
            params = self.bind_positional(name, line.params, line.positional)
        except ShellSyntaxError as exc:
            self.error(exc)
            return
        for attempt in range(2):
            try:
                self.show(self.conn.invoke(name, **params))
                return
            except (InteractionRequired, IncompleteResultError) as exc:
                needs_sign_in = isinstance(exc, InteractionRequired) or isinstance(
                    exc.cause, InteractionRequired
                )
                if attempt == 0 and needs_sign_in and self.reauth():
                    continue  # the same command, again
                self.error(exc)
                return
            except ClientError as exc:
                self.error(exc)
                return

    def run(self) -> None:
        self.load_catalog()
        self.console.print(f"mailwarden shell {self.title} — Tab completes, 'exit' leaves", markup=False)
        while True:
            try:
                text = self.session.prompt(f"MW {self.title}> ")
            except KeyboardInterrupt:
                continue
            except EOFError:
                return
            text = text.strip()
            if not text:
                continue
            if text.lower() in ("exit", "quit"):
                return
            self.execute(text)
