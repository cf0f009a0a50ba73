"""Identity resolution is memoised on the session (RBAC and the handler resolve the same -Identity in one
call): the memo must never answer differently from the query it stands for — after a pending change, a
flush, a bulk UPDATE through the session, or a commit."""

from __future__ import annotations

from sqlalchemy import event, update

from mailwarden.clock import FakeClock, utcnow
from mailwarden.demo import bulk_mailboxes
from mailwarden.directory import create_tenant, try_resolve_recipient
from mailwarden.rbac import recipient_facts
from mailwarden.store import Database, Recipient


def _tenant(db: Database, clock: FakeClock) -> str:
    with db.unit_of_work() as uow:
        tenant = create_tenant(uow.session, name="memo", domain="memo.onmicrosoft.com", now=utcnow(clock))
        bulk_mailboxes(uow.session, tenant.id, 3, now=utcnow(clock))
        return tenant.id


def _first_name(db: Database, tenant_id: str) -> str:
    with db.unit_of_work(write=False) as uow:
        row = uow.session.query(Recipient).filter_by(tenant_id=tenant_id).order_by(Recipient.id).first()
        assert row is not None
        return row.name


def test_repeat_resolution_is_served_from_the_memo(db: Database, clock: FakeClock) -> None:
    tenant_id = _tenant(db, clock)
    name = _first_name(db, tenant_id)
    with db.unit_of_work(write=False) as uow:
        statements: list[str] = []
        conn = uow.session.connection()
        first = try_resolve_recipient(uow.session, tenant_id, name)
        event.listen(conn, "before_cursor_execute", lambda *a: statements.append(a[2]))
        again = try_resolve_recipient(uow.session, tenant_id, name)
        typed = try_resolve_recipient(uow.session, tenant_id, name, types=frozenset({"UserMailbox"}))
        other = try_resolve_recipient(uow.session, tenant_id, name, types=frozenset({"MailContact"}))
    assert [r.id for r in first] == [r.id for r in again] == [r.id for r in typed]
    assert other == []
    assert statements == []  # no query: the memo answered, with the type filter applied in Python


def test_pending_rename_bypasses_the_memo(db: Database, clock: FakeClock) -> None:
    tenant_id = _tenant(db, clock)
    name = _first_name(db, tenant_id)
    with db.unit_of_work() as uow:
        (row,) = try_resolve_recipient(uow.session, tenant_id, name)
        row.name = "Renamed Mailbox"  # pending: the query (with autoflush) must decide
        assert try_resolve_recipient(uow.session, tenant_id, name) == []
        assert [r.id for r in try_resolve_recipient(uow.session, tenant_id, "Renamed Mailbox")] == [row.id]
        uow.session.rollback()


def test_flush_and_bulk_update_reset_the_memo(db: Database, clock: FakeClock) -> None:
    tenant_id = _tenant(db, clock)
    name = _first_name(db, tenant_id)
    with db.unit_of_work() as uow:
        (row,) = try_resolve_recipient(uow.session, tenant_id, name)
        uow.session.execute(
            update(Recipient)
            .where(Recipient.id == row.id)
            .values(name="Bulk Renamed")
            .execution_options(synchronize_session=False)
        )
        assert try_resolve_recipient(uow.session, tenant_id, name) == []
        uow.session.rollback()
    with db.unit_of_work() as uow:
        (row,) = try_resolve_recipient(uow.session, tenant_id, name)
        row.name = "Flushed Rename"
        uow.session.flush()
        assert try_resolve_recipient(uow.session, tenant_id, name) == []
        uow.session.rollback()


def test_scope_facts_read_narrowly_still_answer_every_key(db: Database, clock: FakeClock) -> None:
    """RBAC reads a target's facts with only the columns its scopes use; any other fact a decision reads
    must still come back, the same as from a full read."""
    tenant_id = _tenant(db, clock)
    name = _first_name(db, tenant_id)
    with db.unit_of_work(write=False) as uow:
        (row,) = try_resolve_recipient(uow.session, tenant_id, name)
        full = recipient_facts(uow.session, row.id)
        narrow = recipient_facts(uow.session, row.id, frozenset({"Name"}))
        assert full is not None
        assert narrow is not None
        assert narrow["Name"] == full["Name"] == name
        assert narrow["Department"] == full["Department"]  # not preloaded: read on first use
        assert narrow["ManagedByGuids"] == full["ManagedByGuids"]
        assert dict(narrow) == dict(full)
        assert len(narrow) == len(full)
        assert recipient_facts(uow.session, -1, frozenset({"Name"})) is None
