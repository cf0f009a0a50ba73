"""OAuth authorization server: clients, client certificates, device codes, authorization codes, refresh-token
families and tokens, seen client-assertion jtis (RFC 6749, RFC 7636, RFC 8628, RFC 7523).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tenant() -> sa.Column[str]:
    return sa.Column(
        "tenant_id", sa.String(length=36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


def _client() -> sa.Column[str]:
    return sa.Column(
        "client_id",
        sa.String(length=36),
        sa.ForeignKey("oauth_clients.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "oauth_clients",
        sa.Column("id", sa.String(length=36), primary_key=True),
        _tenant(),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("builtin", sa.String(length=32), nullable=True),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("role_groups", sa.JSON(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("tenant_id", "builtin", name="uq_oauth_clients_builtin"),
    )
    op.create_index("ix_oauth_clients_tenant_id", "oauth_clients", ["tenant_id"])
    op.create_table(
        "oauth_client_certs",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        _tenant(),
        _client(),
        sa.Column("sha1", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("not_after", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_oauth_client_certs_tenant_id", "oauth_client_certs", ["tenant_id"])
    op.create_index("ix_oauth_client_certs_client_id", "oauth_client_certs", ["client_id"])
    op.create_table(
        "oauth_device_codes",
        sa.Column("code_hash", sa.String(length=64), primary_key=True),
        _tenant(),
        _client(),
        sa.Column("user_code", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("last_poll_at", sa.DateTime(), nullable=True),
        sa.Column("sign_in", sa.JSON(), nullable=True),
        sa.UniqueConstraint("tenant_id", "user_code", name="uq_oauth_device_codes_user_code"),
    )
    op.create_index("ix_oauth_device_codes_tenant_id", "oauth_device_codes", ["tenant_id"])
    op.create_table(
        "oauth_auth_codes",
        sa.Column("code_hash", sa.String(length=64), primary_key=True),
        _tenant(),
        _client(),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("nonce", sa.String(length=256), nullable=True),
        sa.Column("sign_in", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("family_id", sa.String(length=36), nullable=True),
    )
    op.create_index("ix_oauth_auth_codes_tenant_id", "oauth_auth_codes", ["tenant_id"])
    op.create_table(
        "oauth_refresh_families",
        sa.Column("id", sa.String(length=36), primary_key=True),
        _tenant(),
        _client(),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("sign_in", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_reason", sa.String(length=64), nullable=True),
    )
    op.create_index("ix_oauth_refresh_families_tenant_id", "oauth_refresh_families", ["tenant_id"])
    op.create_table(
        "oauth_refresh_tokens",
        sa.Column("token_hash", sa.String(length=64), primary_key=True),
        sa.Column(
            "family_id",
            sa.String(length=36),
            sa.ForeignKey("oauth_refresh_families.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _tenant(),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("idle_expires_at", sa.DateTime(), nullable=False),
        sa.Column("rotated_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_oauth_refresh_tokens_family_id", "oauth_refresh_tokens", ["family_id"])
    op.create_table(
        "oauth_assertion_jtis",
        sa.Column(
            "client_id",
            sa.String(length=36),
            sa.ForeignKey("oauth_clients.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("jti", sa.String(length=256), primary_key=True),
        _tenant(),
        sa.Column("assertion_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_oauth_assertion_jtis_tenant_id", "oauth_assertion_jtis", ["tenant_id"])
    op.create_index("ix_oauth_assertion_jtis_expires_at", "oauth_assertion_jtis", ["expires_at"])


def downgrade() -> None:
    for table in (
        "oauth_assertion_jtis",
        "oauth_refresh_tokens",
        "oauth_refresh_families",
        "oauth_auth_codes",
        "oauth_device_codes",
        "oauth_client_certs",
        "oauth_clients",
    ):
        op.drop_table(table)
