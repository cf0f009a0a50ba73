"""EmailAddresses (proxy addresses): one primary ``SMTP:`` address, secondary ``smtp:`` ones, other types
(``X500:``, ``SIP:``…) kept verbatim. Every address is unique across the tenant; SMTP addresses of
mail-enabled objects we host must be in an accepted domain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..cmdlets._binding import MultiValueChange, is_valid_smtp
from ..errors import ArgumentError, ProxyAddressExistsError
from ..store import ConfigObject, ProxyAddress, Recipient

__all__ = [
    "accepted_domains",
    "address_key",
    "apply_email_addresses",
    "default_domain",
    "load_addresses",
    "make_alias",
    "replace_addresses",
    "set_primary_smtp",
]

_ALIAS_BAD = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]")


def make_alias(name: str) -> str:
    """Alias from a display name the way Exchange derives it: drop characters an alias cannot hold."""
    alias = _ALIAS_BAD.sub("", name).strip(".")
    alias = re.sub(r"\.{2,}", ".", alias)
    return alias[:64] or "user"


def _split(entry: str) -> tuple[str, str]:
    """``'SMTP:a@b'`` → ``('SMTP', 'a@b')``; an entry without a prefix is SMTP (secondary)."""
    if ":" in entry:
        prefix, _, rest = entry.partition(":")
        if prefix and "@" not in prefix and " " not in prefix:
            return prefix, rest
    return "smtp", entry


def address_key(entry: str) -> str:
    prefix, addr = _split(entry)
    if prefix.lower() == "smtp":
        return addr.lower()
    return f"{prefix.lower()}:{addr.lower()}"


def accepted_domains(session: Session, tenant_id: str) -> list[tuple[str, bool]]:
    rows = session.scalars(
        select(ConfigObject).where(ConfigObject.tenant_id == tenant_id, ConfigObject.kind == "AcceptedDomain")
    )
    return [(str(r.props.get("DomainName", r.name)).lower(), bool(r.props.get("Default"))) for r in rows]


def default_domain(session: Session, tenant_id: str) -> str:
    domains = accepted_domains(session, tenant_id)
    for name, is_default in domains:
        if is_default:
            return name
    if domains:
        return domains[0][0]
    raise ArgumentError("The organization has no accepted domain.")


def load_addresses(session: Session, recipient_ids: Sequence[int]) -> dict[int, list[str]]:
    """EmailAddresses for many recipients in one query (primary first, then in insertion order)."""
    out: dict[int, list[str]] = {rid: [] for rid in recipient_ids}
    if not recipient_ids:
        return out
    rows = session.execute(
        select(ProxyAddress.recipient_id, ProxyAddress.address, ProxyAddress.is_primary)
        .where(ProxyAddress.recipient_id.in_(list(recipient_ids)))
        .order_by(ProxyAddress.recipient_id, ProxyAddress.is_primary.desc(), ProxyAddress.id)
    )
    for rid, address, _primary in rows:
        out[rid].append(address)
    return out


def _check_entry(entry: str, domains: set[str] | None) -> str:
    prefix, addr = _split(entry.strip())
    if prefix.lower() == "smtp":
        if not is_valid_smtp(addr):
            raise ArgumentError(f'The email address "{addr}" isn\'t correct. Use a valid SMTP address.')
        if domains is not None and addr.rsplit("@", 1)[1].lower() not in domains:
            raise ArgumentError(
                f"The domain of '{addr}' isn't an accepted domain for your organization. "
                "Use Get-AcceptedDomain to list the domains you can use."
            )
        return f"{prefix}:{addr}"
    if not addr:
        raise ArgumentError(f'The proxy address "{entry}" is empty.')
    return f"{prefix}:{addr}"


def _claim(session: Session, recipient: Recipient, entries: Iterable[tuple[str, bool]]) -> None:
    """Insert addresses, refusing any another recipient of the tenant already holds."""
    entries = list(entries)
    keys = [address_key(e) for e, _ in entries]
    if len(set(keys)) != len(keys):
        raise ArgumentError("The EmailAddresses list contains the same address twice.")
    if keys:
        taken = session.execute(
            select(ProxyAddress.address, Recipient.name)
            .join(Recipient, Recipient.id == ProxyAddress.recipient_id)
            .where(
                ProxyAddress.tenant_id == recipient.tenant_id,
                ProxyAddress.address_key.in_(keys),
                ProxyAddress.recipient_id != recipient.id,
            )
        ).first()
        if taken is not None:
            raise ProxyAddressExistsError(
                f'The proxy address "{taken[0]}" is already being used by the proxy addresses or '
                f'LegacyExchangeDN of "{taken[1]}". Please choose another proxy address.'
            )
    for (entry, primary), key in zip(entries, keys, strict=True):
        session.add(
            ProxyAddress(
                tenant_id=recipient.tenant_id,
                recipient_id=recipient.id,
                address=entry,
                address_key=key,
                is_primary=primary,
            )
        )


def replace_addresses(
    session: Session,
    recipient: Recipient,
    entries: Sequence[str],
    *,
    domains: set[str] | None,
    keep_primary: str | None = None,
) -> None:
    """Set the whole EmailAddresses list. The primary is the one written ``SMTP:`` (upper case); else the
    current primary if still listed; else the first SMTP address."""
    checked = [_check_entry(e, domains) for e in entries]
    primaries = [e for e in checked if e.startswith("SMTP:")]
    if len(primaries) > 1:
        raise ArgumentError("Only one primary SMTP address (SMTP:) can be specified.")
    smtp = [e for e in checked if e.lower().startswith("smtp:")]
    if not smtp:
        raise ArgumentError("EmailAddresses must contain at least one SMTP address.")
    if primaries:
        primary = primaries[0]
    else:
        keep = [e for e in smtp if keep_primary and e[5:].lower() == keep_primary.lower()]
        primary = keep[0] if keep else smtp[0]
    final: list[tuple[str, bool]] = []
    for entry in checked:
        if entry.lower().startswith("smtp:"):
            is_primary = entry == primary
            final.append((("SMTP:" if is_primary else "smtp:") + entry[5:], is_primary))
        else:
            final.append((entry, False))
    session.execute(delete(ProxyAddress).where(ProxyAddress.recipient_id == recipient.id))
    session.flush()
    _claim(session, recipient, final)
    recipient.primary_smtp_address = primary[5:]


def apply_email_addresses(
    session: Session,
    recipient: Recipient,
    value: tuple[str, ...] | MultiValueChange,
    *,
    domains: set[str] | None,
) -> None:
    current = load_addresses(session, [recipient.id])[recipient.id]
    if isinstance(value, MultiValueChange):
        remove = {address_key(e) for e in value.remove}
        if recipient.primary_smtp_address and recipient.primary_smtp_address.lower() in remove:
            raise ArgumentError(
                "The primary SMTP address can't be removed. Set another primary address first."
            )
        kept = [e for e in current if address_key(e) not in remove]
        have = {address_key(e) for e in kept}
        added = [e for e in value.add if address_key(e) not in have]
        # Added plain addresses are secondary unless written "SMTP:".
        entries = kept + [e if ":" in e.split("@")[0] else f"smtp:{e}" for e in added]
        replace_addresses(
            session, recipient, entries, domains=domains, keep_primary=recipient.primary_smtp_address
        )
    else:
        replace_addresses(session, recipient, list(value), domains=domains, keep_primary=None)


def set_primary_smtp(
    session: Session, recipient: Recipient, address: str, *, domains: set[str] | None
) -> None:
    """New primary address; the old primary stays as a secondary (Exchange keeps it so mail still arrives)."""
    current = load_addresses(session, [recipient.id])[recipient.id]
    entries = [("smtp:" + e[5:]) if e.startswith("SMTP:") else e for e in current]
    entries = [e for e in entries if address_key(e) != address.lower()]
    replace_addresses(session, recipient, [f"SMTP:{address}", *entries], domains=domains)
