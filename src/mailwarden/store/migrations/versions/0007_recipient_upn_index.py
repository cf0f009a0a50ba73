"""Index recipients by lower-cased UPN.

``-Identity`` given as an address (``ada@contoso.com``) matches a proxy address, the UPN or the name
(``directory._resolve``). The UPN term had no index, so every such lookup scanned all recipients of the tenant
— and RBAC resolves a write's target once more before the handler does (bench/rbac.py: ~2,000 Python
``lower()`` calls per Set-Mailbox at 1,000 mailboxes on SQLite). With this index the OR is answered from
three index probes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_recipients_tenant_upn", "recipients", ["tenant_id", sa.text("lower(user_principal_name)")]
    )


def downgrade() -> None:
    op.drop_index("ix_recipients_tenant_upn", table_name="recipients")
