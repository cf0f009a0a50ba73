"""Inbox rules of mailboxes: lookup, ordering and the Get-InboxRule output form.

A rule's ``Identity`` is ``"<mailbox name>\\<rule id>"`` as in Exchange, where the rule id (``RuleIdentity``)
is a 64-bit number; a rule can also be named by ``"<mailbox>\\<rule name>"``. Priorities start at 1 per
mailbox (unlike transport rules, which start at 0) and stay consecutive.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from mailwarden.store import InboxRule, Recipient

from ._views import iso

__all__ = [
    "INBOX_RULE_ACTIONS",
    "INBOX_RULE_BASE_PRIORITY",
    "find_inbox_rules",
    "inbox_rule_query",
    "mailbox_inbox_rules",
    "new_rule_id",
    "serialize_inbox_rule",
    "serialize_inbox_rules",
    "split_rule_identity",
]

INBOX_RULE_BASE_PRIORITY = 1

# Conditions and actions kept in ``props`` with their Exchange names and the value an unset one shows.
INBOX_RULE_ACTIONS: dict[str, Any] = {
    "From": None,
    "SubjectContainsWords": None,
    "ForwardTo": None,
    "ForwardAsAttachmentTo": None,
    "RedirectTo": None,
    "DeleteMessage": False,
    "MoveToFolder": None,
    "MarkAsRead": False,
    "StopProcessingRules": False,
}


def new_rule_id() -> str:
    """A 19-digit positive 64-bit number, the shape of Exchange's RuleIdentity."""
    return str((1 << 62) | secrets.randbits(62))


def split_rule_identity(identity: str) -> tuple[str | None, str]:
    """``"Alex Wilber\\123"`` → ``("Alex Wilber", "123")``; without a backslash the mailbox part is None."""
    mailbox, sep, rule = identity.strip().rpartition("\\")
    if not sep:
        return None, identity.strip()
    return mailbox.strip(), rule.strip()


def inbox_rule_query(tenant_id: str, mailbox_id: int | None = None) -> Select[InboxRule]:
    stmt = select(InboxRule).where(InboxRule.tenant_id == tenant_id)
    if mailbox_id is not None:
        stmt = stmt.where(InboxRule.mailbox_id == mailbox_id)
    return stmt


def mailbox_inbox_rules(session: Session, tenant_id: str, mailbox_id: int) -> list[InboxRule]:
    stmt = inbox_rule_query(tenant_id, mailbox_id).order_by(InboxRule.priority, InboxRule.id)
    return list(session.scalars(stmt))


def find_inbox_rules(session: Session, tenant_id: str, rule: str, mailbox_id: int | None) -> list[InboxRule]:
    """Rules whose RuleIdentity or name (any case) is ``rule``, in one mailbox or the whole tenant."""
    stmt = inbox_rule_query(tenant_id, mailbox_id).where(
        or_(InboxRule.rule_id == rule, func.lower(InboxRule.name) == rule.lower())
    )
    return list(session.scalars(stmt.order_by(InboxRule.id).limit(20)))


def _description(rule: InboxRule) -> str:
    """The readable summary Exchange puts in ``Description``."""
    props = rule.props
    conditions: list[str] = []
    if props.get("From"):
        conditions.append("from " + " or ".join(f"'{v}'" for v in props["From"]))
    if props.get("SubjectContainsWords"):
        conditions.append(
            "includes " + " or ".join(f"'{v}'" for v in props["SubjectContainsWords"]) + " in the subject"
        )
    actions: list[str] = []
    labels = (
        ("ForwardTo", "forward the message to"),
        ("ForwardAsAttachmentTo", "forward the message as an attachment to"),
        ("RedirectTo", "redirect the message to"),
    )
    for key, label in labels:
        if props.get(key):
            actions.append(f"{label} " + " or ".join(f"'{v}'" for v in props[key]))
    if props.get("MoveToFolder"):
        actions.append(f"move the message to folder '{props['MoveToFolder']}'")
    if props.get("MarkAsRead"):
        actions.append("mark the message as read")
    if props.get("DeleteMessage"):
        actions.append("delete the message")
    if props.get("StopProcessingRules"):
        actions.append("stop processing more rules")
    text = "If the message:\r\n\t" + (
        "\r\n\tand ".join(conditions) if conditions else "applies to all messages"
    )
    return text + "\r\nTake the following actions:\r\n\t" + "\r\n\tand ".join(actions) + "\r\n"


def serialize_inbox_rule(rule: InboxRule, owner: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Identity": f"{owner}\\{rule.rule_id}",
        "Name": rule.name,
        "Enabled": rule.enabled,
        "Priority": rule.priority,
        "RuleIdentity": rule.rule_id,
        "MailboxOwnerId": owner,
        "Description": _description(rule),
        "InError": False,
        "SupportedByTask": True,
        "Legacy": False,
    }
    for key, default in INBOX_RULE_ACTIONS.items():
        value = rule.props.get(key, default)
        out[key] = list(value) if isinstance(value, list) else value
    out["WhenChanged"] = iso(rule.when_changed)
    return out


def serialize_inbox_rules(session: Session, rows: list[InboxRule]) -> list[dict[str, Any]]:
    ids = {row.mailbox_id for row in rows}
    owners: dict[int, str] = {}
    if ids:
        stmt = select(Recipient.id, Recipient.name).where(Recipient.id.in_(ids))
        owners = {row.id: row.name for row in session.execute(stmt)}
    return [serialize_inbox_rule(row, owners.get(row.mailbox_id, str(row.mailbox_id))) for row in rows]
