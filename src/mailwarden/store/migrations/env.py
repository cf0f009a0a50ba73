"""Alembic environment: always run with a connection handed in by mailwarden.store.migrate."""

from __future__ import annotations

from alembic import context

from mailwarden.store._models import Base

target_metadata = Base.metadata
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
