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


_SCALARS = [p for p in RECIPIENT_PROPERTIES if p.column is not None and not p.multivalued]


@cache
def _statements() -> tuple[Any, Any, Any, Any]:
    """The four statements of :func:`recipient_facts`, built once: constructing the select of every
    filterable property (aliased joins included) costs far more than running it, and a statement built once
    also hits SQLAlchemy's compiled-statement cache (bench/rbac.py: ~45 ms of a ~75 ms Set-Mailbox)."""
    rid: Any = bindparam("rid")
    columns = [p.column.label(f"c{i}") for i, p in enumerate(_SCALARS)]  # type: ignore[union-attr]
    scalars = select(*columns, Recipient.props.label("_props")).where(Recipient.id == rid)
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
    return scalars, addresses, member_of, members


class RecipientFacts(Mapping[str, Any]):
    """The facts of one recipient: scalar properties read eagerly (one query), the multi-valued ones
    (``EmailAddresses``, ``MemberOfGroup``, ``Members``) on first use — most scopes never look at them, and
    every write is checked twice (before and after). Used within the call's session only."""

    def __init__(self, session: Session, recipient_id: int, scalars: dict[str, Any]) -> None:
        self._session = session
        self._id = recipient_id
        self._data = scalars

    def _load(self, key: str) -> None:
        _, addresses, member_of, members = _statements()
        statement = {"EmailAddresses": addresses, "MemberOfGroup": member_of, "Members": members}[key]
        self._data[key] = list(self._session.scalars(statement, {"rid": self._id}))

    def __getitem__(self, key: str) -> Any:
        if key not in self._data and key in _LAZY:
            self._load(key)
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        for key in _LAZY:
            if key not in self._data:
                self._load(key)
        return iter(self._data)

    def __len__(self) -> int:
        return len(set(self._data) | set(_LAZY))


_LAZY = ("EmailAddresses", "MemberOfGroup", "Members")


def recipient_facts(session: Session, recipient_id: int) -> RecipientFacts | None:
    """Every filterable property of one recipient, keyed as ``opath.evaluate`` reads them."""
    scalars = _statements()[0]
    # Core execution on the session's connection: the statement selects columns, not entities, so the ORM
    # result machinery has nothing to add (it was a third of this function's time). No autoflush here: the
    # executor flushes a write before its after-hooks read the object again.
    row = session.connection().execute(scalars, {"rid": recipient_id}).first()
    if row is None:
        return None
    facts: dict[str, Any] = {p.key: value for p, value in zip(_SCALARS, row[:-1], strict=True)}
    props = row[-1] or {}
    facts["ManagedByGuids"] = [str(g).lower() for g in props.get("ManagedBy", [])]
    return RecipientFacts(session, recipient_id, facts)
