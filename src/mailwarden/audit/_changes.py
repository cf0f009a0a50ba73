"""ModifiedProperties for ExchangeAdmin records: the old and new value of every property a cmdlet changed,
collected from the ORM's own attribute history as the unit of work flushes (so no handler has to report
its changes, and none can forget to)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

__all__ = ["ChangeLog"]

_SKIP = {"when_changed", "id", "tenant_id", "leaf_hash", "data"}
_AUDIT_TABLES = {"audit_records", "audit_subtrees", "audit_log_state", "audit_tree_heads", "rate_limits"}


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


_ACTIVE = "mailwarden.changelog"


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    log = session.info.get(_ACTIVE)
    if isinstance(log, ChangeLog):
        log.collect(session)


# One listener for every session, active where a ChangeLog is attached: adding and removing a listener per
# call costs more than the flush it observes.
event.listen(Session, "before_flush", _before_flush)


class ChangeLog:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.changes: list[dict[str, str]] = []
        session.info[_ACTIVE] = self

    def close(self) -> None:
        if self.session.info.get(_ACTIVE) is self:
            del self.session.info[_ACTIVE]

    def collect(self, session: Session) -> None:
        for obj in session.dirty:
            table = getattr(obj, "__tablename__", "")
            if table in _AUDIT_TABLES or not session.is_modified(obj):
                continue
            state = inspect(obj)
            for attr in state.mapper.column_attrs:
                if attr.key in _SKIP:
                    continue
                hist = state.attrs[attr.key].history
                if not hist.has_changes():
                    continue
                old = hist.deleted[0] if hist.deleted else None
                new = hist.added[0] if hist.added else None
                if isinstance(old, dict) or isinstance(new, dict):
                    self._dict_changes(old or {}, new or {})
                elif old != new:
                    self.changes.append(
                        {"Name": _pascal(attr.key), "OldValue": _text(old), "NewValue": _text(new)}
                    )

    def _dict_changes(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                self.changes.append(
                    {"Name": key, "OldValue": _text(old.get(key)), "NewValue": _text(new.get(key))}
                )
