"""Read-only lookups that every token request and every API call makes (the account, its sign-in session,
the tenant's conditional-access policies and named locations), as :class:`~mailwarden.store._prepared.Prepared`
statements. Through the ORM each cost more in identity-map and compile-state work than the query itself;
these rows are only read, never changed through the session, so nothing is lost by skipping it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from ..store._identity_models import CaNamedLocation, CaPolicy, IdentitySession, IdentityUser
from ..store._prepared import Prepared

__all__ = ["location_rows", "policy_rows", "session_with_user", "user_row"]

_USERS: Table = IdentityUser.__table__  # type: ignore[assignment]
_SESSIONS: Table = IdentitySession.__table__  # type: ignore[assignment]
_POLICIES: Table = CaPolicy.__table__  # type: ignore[assignment]
_LOCATIONS: Table = CaNamedLocation.__table__  # type: ignore[assignment]

_USER = Prepared(
    select(
        _USERS.c.id,
        _USERS.c.tenant_id,
        _USERS.c.upn,
        _USERS.c.display_name,
        _USERS.c.disabled,
        _USERS.c.role_groups,
        _USERS.c.recipient_id,
        _USERS.c.created_at,
    ).where(_USERS.c.id == bindparam("id"))
)
_SESSION = Prepared(
    select(
        _SESSIONS.c.state,
        _SESSIONS.c.revoked_at,
        _SESSIONS.c.created_at,
        _SESSIONS.c.last_seen_at,
        _USERS.c.disabled.label("user_disabled"),
    )
    .outerjoin(_USERS, _USERS.c.id == _SESSIONS.c.user_id)
    .where(_SESSIONS.c.id == bindparam("id"))
)
_POLICY_ROWS = Prepared(select(_POLICIES).where(_POLICIES.c.tenant_id == bindparam("t")))
_LOCATION_ROWS = Prepared(
    select(_LOCATIONS.c.name_key, _LOCATIONS.c.cidrs).where(_LOCATIONS.c.tenant_id == bindparam("t"))
)


def user_row(session: Session, tenant_id: str, user_id: str) -> Any:
    """The account's public columns (no password hash), or None if it is not in this tenant."""
    row = _USER.first(session, {"id": user_id})
    return row if row is not None and row.tenant_id == tenant_id else None


def session_with_user(session: Session, session_id: str) -> Any:
    """A sign-in session's lifetime columns with its account's ``user_disabled`` (None if the account is
    gone), or None."""
    return _SESSION.first(session, {"id": session_id})


def policy_rows(session: Session, tenant_id: str) -> list[Any]:
    return _POLICY_ROWS.all(session, {"t": tenant_id})


def location_rows(session: Session, tenant_id: str) -> list[Any]:
    return _LOCATION_ROWS.all(session, {"t": tenant_id})
