"""What a cmdlet acts on, found generically from its registry declaration (not per cmdlet), and the target
recipient as a Mapping of its filterable properties for scope evaluation (``cmdlets.opath.evaluate``).

* the kind: a cmdlet whose object type is a recipient (or hangs off one: permissions, inbox rules, mailbox
  statistics, CAS settings) has a *recipient* target; other writes act on *configuration*;
* the target parameter: ``Mailbox`` when declared and given, else ``Identity`` (for ``Mailbox\\Rule``
  identities, the mailbox part);
* the Mapping holds every property of ``directory.RECIPIENT_PROPERTIES``, read with the very SQL expressions
  filters compile to, so a scope evaluated in Python agrees with the same scope compiled to SQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, Literal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from ..cmdlets._registry import CmdletSpec, ParamType
from ..cmdlets.opath import FilterProperty
from ..directory._resolve import try_resolve_recipient
from ..directory._views import RECIPIENT_PROPERTIES
from ..store import GroupMember, ProxyAddress, Recipient

__all__ = [
    "RECIPIENT_OBJECT_TYPES",
    "RecipientFacts",
    "recipient_facts",
    "resolve_targets",
    "target_kind",
    "target_parameter",
]

RECIPIENT_OBJECT_TYPES = frozenset(
    {
        "CASMailbox",
        "DistributionGroup",
        "InboxRule",
        "MailContact",
        "MailUser",
        "Mailbox",
        "MailboxPermission",
        "MailboxStatistics",
        "Recipient",
        "RecipientPermission",
        "User",
    }
)
_TARGET_PARAMETERS = ("Mailbox", "Identity")


def target_kind(spec: CmdletSpec) -> Literal["recipient", "config", "none"]:
    if spec.object_type in RECIPIENT_OBJECT_TYPES:
        return "recipient"
    return "config" if spec.writes else "none"


def target_parameter(spec: CmdletSpec, supplied: Mapping[str, Any]) -> str | None:
    declared = {p.name: p for p in spec.params}
    for name in _TARGET_PARAMETERS:
        param = declared.get(name)
        if param is not None and param.type is ParamType.IDENTITY and isinstance(supplied.get(name), str):
            return name
    return None


def resolve_targets(
    session: Session, tenant_id: str, spec: CmdletSpec, supplied: Mapping[str, Any]
) -> tuple[str, list[int]]:
    """The text naming the target and the recipients it may denote (all of them are checked)."""
    name = target_parameter(spec, supplied)
    if name is None:
        return "", []
    text = str(supplied[name])
    if name == "Identity" and "\\" in text and spec.object_type == "InboxRule":
        text = text.split("\\", 1)[0]
    return text, [r.id for r in try_resolve_recipient(session, tenant_id, text)]


_SCALARS = tuple(p for p in RECIPIENT_PROPERTIES if p.column is not None and not p.multivalued)
_LAZY = ("EmailAddresses", "MemberOfGroup", "Members")
_DERIVED = "ManagedByGuids"  # from the props JSON
_SCALAR_KEYS = frozenset(p.key for p in _SCALARS) | {_DERIVED}
_ALL_KEYS = _SCALAR_KEYS | frozenset(_LAZY)


@cache
def _scalar_statement(keys: frozenset[str] | None) -> tuple[Any, tuple[FilterProperty, ...], bool]:
    """The select of the scalar facts named by ``keys`` (all when None), built once per key set:
    constructing the select of every filterable property costs far more than running it, a select of the
    few a scope reads costs a fraction of one of all of them, and a statement built once also hits
    SQLAlchemy's compiled-statement cache."""
    props = _SCALARS if keys is None else tuple(p for p in _SCALARS if p.key in keys)
    with_props = keys is None or _DERIVED in keys
    columns: list[Any] = [p.column.label(f"c{i}") for i, p in enumerate(props)]  # type: ignore[union-attr]
    if with_props:
        columns.append(Recipient.props.label("_props"))
    columns.append(Recipient.id.label("_id"))  # so a row exists even when no column is asked for
    return select(*columns).where(Recipient.id == bindparam("rid")), props, with_props


@cache
def _multi_statements() -> dict[str, Any]:
    rid: Any = bindparam("rid")
    addresses = select(ProxyAddress.address).where(ProxyAddress.recipient_id == rid)
    group = aliased(Recipient)
    member_of = (
        select(group.name)
        .join(GroupMember, GroupMember.group_id == group.id)
        .where(GroupMember.member_id == rid)
    )
    member = aliased(Recipient)
    members = (
        select(member.name)
        .join(GroupMember, GroupMember.member_id == member.id)
        .where(GroupMember.group_id == rid)
    )
    return {"EmailAddresses": addresses, "MemberOfGroup": member_of, "Members": members}


def _read_scalars(session: Session, recipient_id: int, keys: frozenset[str] | None) -> dict[str, Any] | None:
    statement, props, with_props = _scalar_statement(keys)
    # Core execution on the session's connection: the statement selects columns, not entities, so the ORM
    # result machinery has nothing to add. No autoflush here: the executor flushes a write before its
    # after-hooks read the object again.
    row = session.connection().execute(statement, {"rid": recipient_id}).first()
    if row is None:
        return None
    facts: dict[str, Any] = {p.key: value for p, value in zip(props, row[: len(props)], strict=True)}
    if with_props:
        facts[_DERIVED] = [str(g).lower() for g in (row[len(props)] or {}).get("ManagedBy", [])]
    return facts


class RecipientFacts(Mapping[str, Any]):
    """The facts of one recipient, read as they are needed: the scalar properties the caller expects to
    need in one query up front (every one of them when it names none), any other scalar then loads them
    all, the multi-valued ones (``EmailAddresses``, ``MemberOfGroup``, ``Members``) on first use. A key
    that is not preloaded is therefore never missing, only read later. Used within the call's session only."""

    def __init__(self, session: Session, recipient_id: int, scalars: dict[str, Any], complete: bool) -> None:
        self._session = session
        self._id = recipient_id
        self._data = scalars
        self._complete = complete

    def _load(self, key: str) -> None:
        if key in _LAZY:
            self._data[key] = list(self._session.scalars(_multi_statements()[key], {"rid": self._id}))
        elif key in _SCALAR_KEYS and not self._complete:
            scalars = _read_scalars(self._session, self._id, None)
            if scalars is None:
                raise KeyError(key)  # removed since: the caller sees the object as gone
            self._data.update(scalars)
            self._complete = True

    def __getitem__(self, key: str) -> Any:
        if key not in self._data:
            self._load(key)
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        for key in _ALL_KEYS:
            if key not in self._data:
                self._load(key)
        return iter(self._data)

    def __len__(self) -> int:
        return len(_ALL_KEYS)


def recipient_facts(
    session: Session, recipient_id: int, keys: frozenset[str] | None = None
) -> RecipientFacts | None:
    """Every filterable property of one recipient, keyed as ``opath.evaluate`` reads them; ``keys`` are
    the ones to read up front (the rest are read on first use)."""
    scalars = _read_scalars(session, recipient_id, keys)
    if scalars is None:
        return None
    return RecipientFacts(session, recipient_id, scalars, keys is None)
