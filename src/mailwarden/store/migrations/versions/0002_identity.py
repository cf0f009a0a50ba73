"""Identity: accounts, TOTP, WebAuthn, recovery codes, sign-in throttles, sessions, events, conditional access.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tenant() -> sa.Column[str]:
    return sa.Column(
        "tenant_id", sa.String(length=36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


def _user() -> sa.Column[str]:
    return sa.Column(
        "user_id",
        sa.String(length=36),
        sa.ForeignKey("identity_users.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "identity_users",
        sa.Column("id", sa.String(length=36), primary_key=True),
        _tenant(),
        sa.Column("upn", sa.String(length=320), nullable=False),
        sa.Column("upn_key", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("role_groups", sa.JSON(), nullable=False),
        sa.Column("recipient_id", _BIGID, sa.ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("tenant_id", "upn_key", name="uq_identity_users_tenant_upn"),
    )
    op.create_index("ix_identity_users_tenant_id", "identity_users", ["tenant_id"])
    op.create_table(
        "identity_totp",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        _tenant(),
        _user(),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_identity_totp_user_id", "identity_totp", ["user_id"])
    op.create_table(
        "identity_webauthn",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        _tenant(),
        _user(),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("tenant_id", "credential_id", name="uq_identity_webauthn_cred"),
    )
    op.create_index("ix_identity_webauthn_user_id", "identity_webauthn", ["user_id"])
    op.create_table(
        "identity_recovery_codes",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        _tenant(),
        _user(),
        sa.Column("code_hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_identity_recovery_codes_user_id", "identity_recovery_codes", ["user_id"])
    op.create_table(
        "identity_throttles",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(length=400), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(), nullable=True),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "identity_sessions",
        sa.Column("id", sa.String(length=32), primary_key=True),
        _tenant(),
        _user(),
        sa.Column("secret_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("auth_time", sa.DateTime(), nullable=False),
        sa.Column("mfa_at", sa.DateTime(), nullable=True),
        sa.Column("amr", sa.JSON(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=256), nullable=True),
        sa.Column("challenge", sa.LargeBinary(), nullable=True),
        sa.Column("challenge_purpose", sa.String(length=32), nullable=True),
        sa.Column("challenge_expires_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_identity_sessions_tenant_user", "identity_sessions", ["tenant_id", "user_id"])
    op.create_table(
        "identity_events",
        sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
        _tenant(),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_identity_events_tenant_user", "identity_events", ["tenant_id", "user_id", "id"])
    for table in ("identity_ca_locations", "identity_ca_policies"):
        extra = (
            [sa.Column("cidrs", sa.JSON(), nullable=False)]
            if table == "identity_ca_locations"
            else [
                sa.Column("action", sa.String(length=64), nullable=False),
                sa.Column("enabled", sa.Boolean(), nullable=False),
                sa.Column("all_users", sa.Boolean(), nullable=False),
                sa.Column("users", sa.JSON(), nullable=False),
                sa.Column("role_groups", sa.JSON(), nullable=False),
                sa.Column("apps", sa.JSON(), nullable=False),
                sa.Column("locations", sa.JSON(), nullable=False),
            ]
        )
        op.create_table(
            table,
            sa.Column("id", _BIGID, primary_key=True, autoincrement=True),
            _tenant(),
            sa.Column("name", sa.String(length=128), nullable=False),
            sa.Column("name_key", sa.String(length=128), nullable=False),
            *extra,
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.UniqueConstraint("tenant_id", "name_key", name=f"uq_{table}_name"),
        )


def downgrade() -> None:
    for table in (
        "identity_ca_policies",
        "identity_ca_locations",
        "identity_events",
        "identity_sessions",
        "identity_throttles",
        "identity_recovery_codes",
        "identity_webauthn",
        "identity_totp",
        "identity_users",
    ):
        op.drop_table(table)
