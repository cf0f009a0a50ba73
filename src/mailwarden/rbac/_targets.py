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

from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from ..cmdlets._registry import CmdletSpec, ParamType
from ..directory._resolve import try_resolve_recipient
from ..directory._views import RECIPIENT_PROPERTIES
from ..store import GroupMember, ProxyAddress, Recipient

__all__ = ["RECIPIENT_OBJECT_TYPES", "recipient_facts", "resolve_targets", "target_kind", "target_parameter"]

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


_SCALARS = [p for p in RECIPIENT_PROPERTIES if not p.multivalued]


def recipient_facts(session: Session, recipient_id: int) -> dict[str, Any] | None:
    """Every filterable property of one recipient, keyed as ``opath.evaluate`` reads them."""
    columns = [p.column.label(f"c{i}") for i, p in enumerate(_SCALARS) if p.column is not None]
    row = session.execute(select(*columns).where(Recipient.id == recipient_id)).first()
    if row is None:
        return None
    facts: dict[str, Any] = {p.key: value for p, value in zip(_SCALARS, row, strict=True)}
    facts["EmailAddresses"] = list(
        session.scalars(select(ProxyAddress.address).where(ProxyAddress.recipient_id == recipient_id))
    )
    group = aliased(Recipient)
    facts["MemberOfGroup"] = list(
        session.scalars(
            select(group.name)
            .join(GroupMember, GroupMember.group_id == group.id)
            .where(GroupMember.member_id == recipient_id)
        )
    )
    member = aliased(Recipient)
    facts["Members"] = list(
        session.scalars(
            select(member.name)
            .join(GroupMember, GroupMember.member_id == member.id)
            .where(GroupMember.group_id == recipient_id)
        )
    )
    props = session.scalar(select(Recipient.props).where(Recipient.id == recipient_id)) or {}
    facts["ManagedByGuids"] = [str(g).lower() for g in props.get("ManagedBy", [])]
    return facts
