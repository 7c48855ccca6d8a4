"""Catalog items, accounts and the audit trail.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from minimart.adapters.sqlalchemy.types import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_C_STRING = sa.String(120).with_variant(sa.String(120, collation="C"), "postgresql")


def upgrade():
    op.create_table(
        "items",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("sku", sa.String(64)),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("name_key", _C_STRING, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("stock", sa.Integer, nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
        sa.Column("featured", sa.Boolean, nullable=False),
        sa.Column("archived", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.CheckConstraint("stock >= 0", name="ck_items_stock_not_negative"),
        sa.CheckConstraint("price >= 0", name="ck_items_price_not_negative"),
        sa.PrimaryKeyConstraint("id", name="pk_items"),
        sa.UniqueConstraint("sku", name="uq_items_sku"),
    )
    op.create_index("ix_items_name_key_id", "items", ["name_key", "id"])
    op.create_index("ix_items_price_id", "items", ["price", "id"])
    op.create_index("ix_items_created_at_id", "items", ["created_at", "id"])

    op.create_table(
        "accounts",
        sa.Column("id", sa.String(32)),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("email", name="uq_accounts_email"),
    )

    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(32)),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("actor_id", sa.String(32)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity_type", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("changes", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("request_id", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_entity_type_entity_id_at", "audit_events",
                    ["entity_type", "entity_id", "at"])
    op.create_index("ix_audit_events_at_id", "audit_events", ["at", "id"])


def downgrade():
    op.drop_table("audit_events")
    op.drop_table("accounts")
    op.drop_table("items")
