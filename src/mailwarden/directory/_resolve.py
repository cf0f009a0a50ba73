"""Identity resolution as Exchange does it for ``-Identity``: GUID (object, Exchange or directory id), any
SMTP proxy address or UPN, name or alias. More than one match is an error that lists the matches."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any, Literal

from sqlalchemy import bindparam, event, func, or_, select
from sqlalchemy.orm import ORMExecuteState, Session

from ..errors import AmbiguousIdentityError, NotFoundError
from ..store import ProxyAddress, Recipient, Tenant

__all__ = ["not_found", "resolve_recipient", "try_resolve_recipient"]


def not_found(
    session: Session, tenant_id: str, identity: str, *, parameter: str = "Identity"
) -> NotFoundError:
    tenant = session.get(Tenant, tenant_id)
    where = tenant.initial_domain if tenant else tenant_id
    return NotFoundError(
        f"The operation couldn't be performed because object '{identity}' couldn't be found on '{where}'.",
        details=[{"code": "NotFound", "target": parameter, "message": identity}],
    )


def _as_guid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _dn_common_name(text: str) -> str | None:
    """``CN=Alex Wilber,OU=contoso…`` → ``Alex Wilber`` (commas inside the name are escaped ``\\,``)."""
    if text[:3].upper() != "CN=":
        return None
    out, i = [], 3
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == ",":
            break
        out.append(ch)
        i += 1
    return "".join(out)


# Resolutions memoised on the session until its next flush (or end of transaction). One call commonly resolves
# the same -Identity twice — RBAC resolves the target to check scopes, then the handler resolves it to act —
# and the lookup (OR of GUIDs, addresses, names) is one of the costlier statements of a write. Nothing can
# change what an identity denotes without a flush, and the memo is used only while the session holds no
# pending change (otherwise the query, with its autoflush, decides).
_MEMO = "mailwarden.resolve_memo"
_LIMIT = 20


def _forget(session: Session, *_: object) -> None:
    session.info.pop(_MEMO, None)


def _forget_on_dml(state: ORMExecuteState) -> None:
    if not state.is_select:  # a bulk UPDATE/DELETE through the session changes rows without a flush
        _forget(state.session)


for _event in ("after_flush", "after_commit", "after_soft_rollback"):
    event.listen(Session, _event, _forget)
event.listen(Session, "do_orm_execute", _forget_on_dml)


def _clean(session: Session) -> bool:
    return not (session.new or session.dirty or session.deleted)


def try_resolve_recipient(
    session: Session, tenant_id: str, identity: str, *, types: frozenset[str] | None = None
) -> list[Recipient]:
    ident = identity.strip()
    memo: dict[tuple[str, str], list[Recipient]] = session.info.get(_MEMO, {})
    known = memo.get((tenant_id, ident)) if _clean(session) else None
    if known is not None and (types is None or len(known) < _LIMIT):
        return [r for r in known if types is None or r.recipient_type_details in types]
    matches = _query(session, tenant_id, ident, types)
    if types is None and _clean(session):  # read the memo again: the query's autoflush may have reset it
        session.info.setdefault(_MEMO, {})[(tenant_id, ident)] = matches
    return list(matches)


_Shape = Literal["dn", "guid", "address", "name"]


@cache
def _statement(shape: _Shape, typed: bool) -> Any:
    """One statement per identity form, built once with bind parameters: constructing the OR of GUID,
    address and name conditions costs more than running it (and a reused statement hits the compiled cache)."""
    tenant: Any = bindparam("tenant")
    value: Any = bindparam("value")
    stmt = select(Recipient).where(Recipient.tenant_id == tenant)
    if typed:
        stmt = stmt.where(Recipient.recipient_type_details.in_(bindparam("types", expanding=True)))
    if shape == "dn":
        # A distinguished name names the object by its CN, which is its Name (never its alias).
        stmt = stmt.where(func.lower(Recipient.name) == value)
    elif shape == "guid":
        stmt = stmt.where(
            or_(
                Recipient.guid == value,
                Recipient.exchange_guid == value,
                Recipient.external_directory_object_id == value,
            )
        )
    elif shape == "address":
        owners = select(ProxyAddress.recipient_id).where(
            ProxyAddress.tenant_id == tenant, ProxyAddress.address_key == value
        )
        stmt = stmt.where(
            or_(
                Recipient.id.in_(owners),
                func.lower(Recipient.user_principal_name) == value,
                func.lower(Recipient.name) == value,
            )
        )
    else:
        stmt = stmt.where(or_(func.lower(Recipient.name) == value, func.lower(Recipient.alias) == value))
    return stmt.order_by(Recipient.id).limit(_LIMIT)


def _query(session: Session, tenant_id: str, ident: str, types: frozenset[str] | None) -> list[Recipient]:
    cn = _dn_common_name(ident)
    guid = _as_guid(ident)
    shape: _Shape
    if cn is not None:
        shape, value = "dn", cn.lower()
    elif guid is not None:
        shape, value = "guid", guid
    elif "@" in ident:
        shape, value = "address", ident.lower().removeprefix("smtp:")
    else:
        shape, value = "name", ident.lower()
    params: dict[str, Any] = {"tenant": tenant_id, "value": value}
    if types is not None:
        params["types"] = sorted(types)
    return list(session.scalars(_statement(shape, types is not None), params))


def resolve_recipient(
    session: Session,
    tenant_id: str,
    identity: str,
    *,
    types: frozenset[str] | None = None,
    parameter: str = "Identity",
) -> Recipient:
    matches = try_resolve_recipient(session, tenant_id, identity, types=types)
    if not matches:
        raise not_found(session, tenant_id, identity, parameter=parameter)
    if len(matches) > 1:
        # As in Exchange, one object's name and another's alias matching the same text is ambiguous too:
        # the caller must use an unambiguous form (SMTP address or GUID) rather than have us guess.
        raise AmbiguousIdentityError(
            identity, [f"{m.name} ({m.primary_smtp_address or m.guid})" for m in matches], parameter=parameter
        )
    return matches[0]
