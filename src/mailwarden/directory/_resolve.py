"""Identity resolution as Exchange does it for ``-Identity``: GUID (object, Exchange or directory id), any
SMTP proxy address or UPN, name or alias. More than one match is an error that lists the matches."""

from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

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


def try_resolve_recipient(
    session: Session, tenant_id: str, identity: str, *, types: frozenset[str] | None = None
) -> list[Recipient]:
    ident = identity.strip()
    stmt = select(Recipient).where(Recipient.tenant_id == tenant_id)
    if types is not None:
        stmt = stmt.where(Recipient.recipient_type_details.in_(sorted(types)))
    cn = _dn_common_name(ident)
    guid = _as_guid(ident)
    if cn is not None:
        # A distinguished name names the object by its CN, which is its Name (never its alias).
        stmt = stmt.where(func.lower(Recipient.name) == cn.lower())
    elif guid is not None:
        stmt = stmt.where(
            or_(
                Recipient.guid == guid,
                Recipient.exchange_guid == guid,
                Recipient.external_directory_object_id == guid,
            )
        )
    elif "@" in ident:
        low = ident.lower().removeprefix("smtp:")
        owners = select(ProxyAddress.recipient_id).where(
            ProxyAddress.tenant_id == tenant_id, ProxyAddress.address_key == low
        )
        stmt = stmt.where(
            or_(
                Recipient.id.in_(owners),
                func.lower(Recipient.user_principal_name) == low,
                func.lower(Recipient.name) == low,
            )
        )
    else:
        low = ident.lower()
        stmt = stmt.where(or_(func.lower(Recipient.name) == low, func.lower(Recipient.alias) == low))
    return list(session.scalars(stmt.order_by(Recipient.id).limit(20)))


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
