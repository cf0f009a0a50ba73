"""Mailbox audit records for the mailbox actions the admin plane itself performs (DESIGN §7 "Mailbox audit").

One executor hook (``Executor.before_handler``) and one table, no code path per cmdlet: :data:`MAILBOX_ACTIONS`
maps a cmdlet to the mailbox operation it is and to how its mailbox is found from the parameters. The hook
resolves the mailbox *before* the handler (a removed inbox rule can no longer tell whose it was) and registers
a ``before_commit`` callback on the call's unit of work, so the record is appended in the same transaction as
the change, after the handler succeeded — a failed call rolls back and never reaches it; ``-WhatIf`` never
records. Whether a record is written is the policy's decision (``audit._mailbox.decide``).

Operation names (Microsoft Purview, "Manage mailbox auditing", mailbox actions table, and the audit log
activities list): inbox rule changes are ``UpdateInboxRules`` with ``OperationProperties`` RuleOperation
AddMailboxRule / ModifyMailboxRule / RemoveMailboxRule; permission grants on a mailbox are
``AddFolderPermissions`` / ``RemoveFolderPermissions`` on the mailbox root (``\\``), governed by the
configurable action ``UpdateFolderPermissions``; FullAccess and SendAs grants carry the right in
``Item.ParentFolder.MemberRights``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit._mailbox import MailboxEvent, record_mailbox_action
from ..audit._mailbox_store import (
    actor_recipient,
    admin_plane_logon_type,
    is_bypassed,
    mailbox_ref,
    mailbox_settings,
    org_audit_disabled,
)
from ..audit._service import AuditService
from ..directory import MAILBOX_TYPES, try_resolve_recipient
from ..directory._inbox_rules import find_inbox_rules, split_rule_identity
from ..store import InboxRule, Recipient, UnitOfWork
from ._invocation import Invocation

__all__ = ["MAILBOX_ACTIONS", "MailboxAction", "MailboxAuditHook"]

CLIENT_INFO = "Client=mailwarden;Action=AdminPlane"


@dataclass(frozen=True)
class Target:
    """What the hook found before the handler ran."""

    mailbox: Recipient
    rule: InboxRule | None = None
    rule_name: str | None = None
    rule_id: str | None = None


Finder = Callable[[Invocation], Target | None]
Details = Callable[[Invocation, Target, Session], dict[str, Any]]


@dataclass(frozen=True)
class MailboxAction:
    operation: str
    find: Finder
    details: Details


def _mailbox(inv: Invocation, name: str) -> Recipient | None:
    value = inv.get(name)
    if not isinstance(value, str):
        return None
    matches = try_resolve_recipient(inv.session, inv.tenant.id, value, types=MAILBOX_TYPES)
    return matches[0] if len(matches) == 1 else None


def _mailbox_param(name: str) -> Finder:
    def find(inv: Invocation) -> Target | None:
        mailbox = _mailbox(inv, name)
        return None if mailbox is None else Target(mailbox)

    return find


def _rule_target(inv: Invocation) -> Target | None:
    """The rule of ``-Identity`` (``mailbox\\rule`` or rule id/name, optionally with ``-Mailbox``)."""
    identity = inv.get("Identity")
    if not isinstance(identity, str):
        return None
    mailbox_part, rule_part = split_rule_identity(identity)
    mailbox: Recipient | None = None
    if mailbox_part:
        matches = try_resolve_recipient(inv.session, inv.tenant.id, mailbox_part, types=MAILBOX_TYPES)
        mailbox = matches[0] if len(matches) == 1 else None
        if mailbox is None:
            return None
    elif inv.has("Mailbox"):
        mailbox = _mailbox(inv, "Mailbox")
        if mailbox is None:
            return None
    rules = find_inbox_rules(inv.session, inv.tenant.id, rule_part, mailbox.id if mailbox else None)
    rules = [r for r in rules if r.rule_id == rule_part] or rules
    if len(rules) != 1:
        return None  # the handler reports not-found / ambiguous itself
    rule = rules[0]
    owner = mailbox or inv.session.get(Recipient, rule.mailbox_id)
    if owner is None:
        return None
    return Target(owner, rule=rule, rule_name=rule.name, rule_id=rule.rule_id)


def _rule_properties(operation: str, name: str, rule_id: str, enabled: bool | None) -> dict[str, Any]:
    props = [
        {"Name": "RuleOperation", "Value": operation},
        {"Name": "RuleName", "Value": name},
        {"Name": "RuleId", "Value": rule_id},
    ]
    if enabled is not None:
        props.append({"Name": "RuleState", "Value": "Enabled" if enabled else "Disabled"})
    return {"OperationProperties": props}


def _new_rule_details(inv: Invocation, target: Target, session: Session) -> dict[str, Any]:
    name = str(inv.get("Name", "")).strip()
    rules = session.scalars(
        select(InboxRule).where(
            InboxRule.tenant_id == inv.tenant.id, InboxRule.mailbox_id == target.mailbox.id
        )
    )
    rule = next((r for r in rules if r.name.lower() == name.lower()), None)
    return _rule_properties(
        "AddMailboxRule", name, rule.rule_id if rule else "", rule.enabled if rule else None
    )


def _changed_rule_details(inv: Invocation, target: Target, session: Session) -> dict[str, Any]:
    rule = target.rule
    assert rule is not None
    return _rule_properties("ModifyMailboxRule", rule.name, rule.rule_id, rule.enabled)


def _removed_rule_details(inv: Invocation, target: Target, session: Session) -> dict[str, Any]:
    return _rule_properties("RemoveMailboxRule", target.rule_name or "", target.rule_id or "", None)


def _permission_details(trustee_param: str) -> Details:
    def details(inv: Invocation, target: Target, session: Session) -> dict[str, Any]:
        trustee = inv.get(trustee_param)
        matches = try_resolve_recipient(session, inv.tenant.id, str(trustee)) if trustee else []
        member = (
            (matches[0].user_principal_name or matches[0].name) if len(matches) == 1 else str(trustee or "")
        )
        rights = inv.get("AccessRights") or ()
        return {
            "Item": {
                "ParentFolder": {
                    "Path": "\\",
                    "MemberUpn": member,
                    "MemberRights": ", ".join(str(r) for r in rights),
                }
            }
        }

    return details


# Cmdlet → mailbox action. Enable-/Disable-InboxRule are listed for when those cmdlets exist.
MAILBOX_ACTIONS: dict[str, MailboxAction] = {
    "new-inboxrule": MailboxAction("UpdateInboxRules", _mailbox_param("Mailbox"), _new_rule_details),
    "set-inboxrule": MailboxAction("UpdateInboxRules", _rule_target, _changed_rule_details),
    "enable-inboxrule": MailboxAction("UpdateInboxRules", _rule_target, _changed_rule_details),
    "disable-inboxrule": MailboxAction("UpdateInboxRules", _rule_target, _changed_rule_details),
    "remove-inboxrule": MailboxAction("UpdateInboxRules", _rule_target, _removed_rule_details),
    "add-mailboxpermission": MailboxAction(
        "AddFolderPermissions", _mailbox_param("Identity"), _permission_details("User")
    ),
    "remove-mailboxpermission": MailboxAction(
        "RemoveFolderPermissions", _mailbox_param("Identity"), _permission_details("User")
    ),
    "add-recipientpermission": MailboxAction(
        "AddFolderPermissions", _mailbox_param("Identity"), _permission_details("Trustee")
    ),
    "remove-recipientpermission": MailboxAction(
        "RemoveFolderPermissions", _mailbox_param("Identity"), _permission_details("Trustee")
    ),
}


class MailboxAuditHook:
    """``Executor.before_handler`` hook; see the module docstring."""

    def __init__(self, audit: AuditService, actions: dict[str, MailboxAction] | None = None) -> None:
        self.audit = audit
        self.actions = MAILBOX_ACTIONS if actions is None else actions

    def __call__(self, inv: Invocation) -> None:
        action = self.actions.get(inv.spec.name.lower())
        if action is None or inv.what_if or not inv.spec.writes:
            return
        target = action.find(inv)
        if target is None:
            return

        def record(uow: UnitOfWork) -> None:
            self._record(inv, action, target, uow.session)

        inv.uow.before_commit(record)

    def _record(self, inv: Invocation, action: MailboxAction, target: Target, session: Session) -> None:
        mailbox = target.mailbox
        actor = actor_recipient(session, inv.tenant.id, inv.principal)
        event = MailboxEvent(
            operation=action.operation,
            logon_type=admin_plane_logon_type(actor, mailbox),
            when=inv.now(),
            actor_id=inv.principal.id,
            actor_name=inv.principal.display_name,
            client_info=CLIENT_INFO,
            extra=action.details(inv, target, session),
        )
        record_mailbox_action(
            self.audit,
            session,
            tenant_id=inv.tenant.id,
            organization_name=inv.tenant.initial_domain,
            principal=inv.principal,
            mailbox=mailbox_ref(mailbox),
            settings=mailbox_settings(mailbox),
            org_audit_disabled=org_audit_disabled(session, inv.tenant.id),
            actor_bypassed=is_bypassed(session, inv.tenant.id, actor),
            event=event,
        )
