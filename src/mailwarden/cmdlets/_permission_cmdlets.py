"""Mailbox permissions (FullAccess and friends) and recipient permissions (SendAs).

Get-MailboxPermission also shows the built-in ``NT AUTHORITY\\SELF`` entry every mailbox has, as Exchange
does, so reports that filter it out behave the same here. Adding rights that are all present already is a
409; removing an entry that does not exist is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..directory import MAILBOX_TYPES, iso, resolve_recipient
from ..errors import DuplicateObjectError, NotFoundError
from ..store import MailboxPermission, Recipient, RecipientPermission
from ._invocation import Invocation, Listing
from ._registry import CmdletSpec, Param, ParamType

__all__ = ["PERMISSION_CMDLETS"]

MAILBOX_RIGHTS = (
    "FullAccess",
    "ChangeOwner",
    "ChangePermission",
    "DeleteItem",
    "ExternalAccount",
    "ReadPermission",
)
SELF_TRUSTEE = "NT AUTHORITY\\SELF"


def _rights(text: str) -> list[str]:
    return [r for r in (p.strip() for p in text.split(",")) if r]


def _names_and_upns(session: Session, ids: set[int]) -> tuple[dict[int, str], dict[int, str | None]]:
    """Names and UPNs of the recipients a page of permission entries refers to, in one query."""
    rows = session.execute(
        select(Recipient.id, Recipient.name, Recipient.user_principal_name).where(Recipient.id.in_(ids))
    ).all()
    return {rid: name for rid, name, _ in rows}, {rid: upn for rid, _, upn in rows}


def _mailbox_permission_view(session: Session, rows: list[Any]) -> list[dict[str, Any]]:
    names, upns = _names_and_upns(session, {r.mailbox_id for r in rows} | {r.trustee_id for r in rows})
    return [
        {
            "Identity": names.get(r.mailbox_id),
            "User": upns.get(r.trustee_id) or names.get(r.trustee_id),
            "AccessRights": _rights(r.access_rights),
            "IsInherited": False,
            "Deny": r.deny,
            "InheritanceType": r.inheritance_type,
            "WhenCreated": iso(r.when_created),
        }
        for r in rows
    ]


def _get_mailbox_permission(inv: Invocation) -> list[dict[str, Any]]:
    mailbox = resolve_recipient(inv.session, inv.tenant.id, inv.get("Identity"), types=MAILBOX_TYPES)
    stmt = select(MailboxPermission).where(MailboxPermission.mailbox_id == mailbox.id)
    if inv.has("User"):
        trustee = resolve_recipient(inv.session, inv.tenant.id, inv.get("User"), parameter="User")
        stmt = stmt.where(MailboxPermission.trustee_id == trustee.id)
    rows = list(inv.session.scalars(stmt.order_by(MailboxPermission.id)))
    out = _mailbox_permission_view(inv.session, rows)
    if not inv.has("User"):
        out.insert(
            0,
            {
                "Identity": mailbox.name,
                "User": SELF_TRUSTEE,
                "AccessRights": ["FullAccess", "ReadPermission"],
                "IsInherited": False,
                "Deny": False,
                "InheritanceType": "All",
                "WhenCreated": iso(mailbox.when_created),
            },
        )
    return out


def _add_mailbox_permission(inv: Invocation) -> list[dict[str, Any]]:
    mailbox = resolve_recipient(inv.session, inv.tenant.id, inv.get("Identity"), types=MAILBOX_TYPES)
    trustee = resolve_recipient(inv.session, inv.tenant.id, inv.get("User"), parameter="User")
    deny = bool(inv.get("Deny", False))
    wanted = list(inv.get("AccessRights"))
    row = inv.session.scalar(
        select(MailboxPermission).where(
            MailboxPermission.mailbox_id == mailbox.id,
            MailboxPermission.trustee_id == trustee.id,
            MailboxPermission.deny == deny,
        )
    )
    if row is None:
        row = MailboxPermission(
            tenant_id=inv.tenant.id,
            mailbox_id=mailbox.id,
            trustee_id=trustee.id,
            access_rights=", ".join(wanted),
            deny=deny,
            inheritance_type=inv.get("InheritanceType", "All"),
            automapping=bool(inv.get("AutoMapping", True)),
            when_created=inv.now(),
        )
        inv.session.add(row)
    else:
        have = _rights(row.access_rights)
        new = [r for r in wanted if r not in have]
        if not new:
            raise DuplicateObjectError(
                f'The appropriate access control entry is already present on the object "{mailbox.name}" '
                f'for account "{trustee.name}".'
            )
        row.access_rights = ", ".join(have + new)
    inv.session.flush()
    return _mailbox_permission_view(inv.session, [row])


def _remove_mailbox_permission(inv: Invocation) -> None:
    mailbox = resolve_recipient(inv.session, inv.tenant.id, inv.get("Identity"), types=MAILBOX_TYPES)
    trustee = resolve_recipient(inv.session, inv.tenant.id, inv.get("User"), parameter="User")
    deny = bool(inv.get("Deny", False))
    row = inv.session.scalar(
        select(MailboxPermission).where(
            MailboxPermission.mailbox_id == mailbox.id,
            MailboxPermission.trustee_id == trustee.id,
            MailboxPermission.deny == deny,
        )
    )
    remove = set(inv.get("AccessRights"))
    have = _rights(row.access_rights) if row else []
    if row is None or not remove & set(have):
        raise NotFoundError(
            f'Can\'t remove the access control entry on the object "{mailbox.name}" for account '
            f'"{trustee.name}" because the ACE doesn\'t exist on the object.'
        )
    left = [r for r in have if r not in remove]
    if left:
        row.access_rights = ", ".join(left)
    else:
        inv.session.delete(row)


def _recipient_permission_view(session: Session, rows: list[Any]) -> list[dict[str, Any]]:
    names, upns = _names_and_upns(session, {r.recipient_id for r in rows} | {r.trustee_id for r in rows})
    return [
        {
            "Identity": names.get(r.recipient_id),
            "Trustee": upns.get(r.trustee_id) or names.get(r.trustee_id),
            "AccessControlType": r.access_control_type,
            "AccessRights": [r.access_rights],
            "IsInherited": False,
            "InheritanceType": "None",
        }
        for r in rows
    ]


def _get_recipient_permission(inv: Invocation) -> Listing:
    stmt = select(RecipientPermission).where(RecipientPermission.tenant_id == inv.tenant.id)
    if inv.has("Identity"):
        target = resolve_recipient(inv.session, inv.tenant.id, inv.get("Identity"))
        stmt = stmt.where(RecipientPermission.recipient_id == target.id)
    if inv.has("Trustee"):
        trustee = resolve_recipient(inv.session, inv.tenant.id, inv.get("Trustee"), parameter="Trustee")
        stmt = stmt.where(RecipientPermission.trustee_id == trustee.id)
    return Listing(stmt, RecipientPermission.id, _recipient_permission_view)


def _recipient_permission_change(add: bool) -> Callable[[Invocation], Any]:
    def handler(inv: Invocation) -> Any:
        target = resolve_recipient(inv.session, inv.tenant.id, inv.get("Identity"))
        trustee = resolve_recipient(inv.session, inv.tenant.id, inv.get("Trustee"), parameter="Trustee")
        existing = inv.session.scalar(
            select(RecipientPermission).where(
                RecipientPermission.recipient_id == target.id,
                RecipientPermission.trustee_id == trustee.id,
                RecipientPermission.access_control_type == "Allow",
            )
        )
        if add:
            if existing is not None:
                raise DuplicateObjectError(
                    f'The appropriate access control entry is already present on the object "{target.name}" '
                    f'for account "{trustee.name}".'
                )
            row = RecipientPermission(
                tenant_id=inv.tenant.id,
                recipient_id=target.id,
                trustee_id=trustee.id,
                access_rights="SendAs",
                access_control_type="Allow",
                when_created=inv.now(),
            )
            inv.session.add(row)
            inv.session.flush()
            return _recipient_permission_view(inv.session, [row])
        if existing is None:
            raise NotFoundError(
                f'Can\'t remove the access control entry on the object "{target.name}" for account '
                f'"{trustee.name}" because the ACE doesn\'t exist on the object.'
            )
        inv.session.delete(existing)
        return None

    return handler


_ID_REQ = Param("Identity", ParamType.IDENTITY, mandatory=True, position=0)
_RIGHTS = Param("AccessRights", ParamType.STRING_LIST, mandatory=True, enum=MAILBOX_RIGHTS)
_SENDAS = Param("AccessRights", ParamType.STRING_LIST, mandatory=True, enum=("SendAs",))

PERMISSION_CMDLETS: tuple[CmdletSpec, ...] = (
    CmdletSpec(
        "Get-MailboxPermission",
        (_ID_REQ, Param("User", ParamType.IDENTITY)),
        _get_mailbox_permission,
        writes=False,
        object_type="MailboxPermission",
    ),
    CmdletSpec(
        "Add-MailboxPermission",
        (
            _ID_REQ,
            Param("User", ParamType.IDENTITY, mandatory=True),
            _RIGHTS,
            Param("Deny", ParamType.SWITCH),
            Param("AutoMapping", ParamType.BOOL),
            Param(
                "InheritanceType",
                ParamType.ENUM,
                enum=("None", "All", "Descendents", "SelfAndChildren", "Children"),
            ),
        ),
        _add_mailbox_permission,
        writes=True,
        object_type="MailboxPermission",
    ),
    CmdletSpec(
        "Remove-MailboxPermission",
        (
            _ID_REQ,
            Param("User", ParamType.IDENTITY, mandatory=True),
            _RIGHTS,
            Param("Deny", ParamType.SWITCH),
        ),
        _remove_mailbox_permission,
        writes=True,
        object_type="MailboxPermission",
    ),
    CmdletSpec(
        "Get-RecipientPermission",
        (Param("Identity", ParamType.IDENTITY, position=0), Param("Trustee", ParamType.IDENTITY)),
        _get_recipient_permission,
        writes=False,
        object_type="RecipientPermission",
        pageable=True,
    ),
    CmdletSpec(
        "Add-RecipientPermission",
        (_ID_REQ, Param("Trustee", ParamType.IDENTITY, mandatory=True), _SENDAS),
        _recipient_permission_change(True),
        writes=True,
        object_type="RecipientPermission",
    ),
    CmdletSpec(
        "Remove-RecipientPermission",
        (_ID_REQ, Param("Trustee", ParamType.IDENTITY, mandatory=True), _SENDAS),
        _recipient_permission_change(False),
        writes=True,
        object_type="RecipientPermission",
    ),
)
