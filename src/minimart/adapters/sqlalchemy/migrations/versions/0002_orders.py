"""Orders, their lines, and Idempotency-Keys.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from minimart.adapters.sqlalchemy.types import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "orders",
        sa.Column("id", sa.String(32)),
        sa.Column("customer_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("subtotal", sa.BigInteger, nullable=False),
        sa.Column("tax", sa.BigInteger, nullable=False),
        sa.Column("delivery_fee", sa.BigInteger, nullable=False),
        sa.Column("tip", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("fulfilment_type", sa.String(16), nullable=False),
        sa.Column("delivery_address", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("payment_provider", sa.String(32), nullable=False),
        sa.Column("payment_status", sa.String(32), nullable=False),
        sa.Column("payment_intent_id", sa.String(255)),
        sa.Column("payment_client_secret", sa.String(255)),
        sa.Column("amount_captured", sa.BigInteger, nullable=False),
        sa.Column("amount_refunded", sa.BigInteger, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.CheckConstraint("total = subtotal + tax + delivery_fee + tip",
                           name="ck_orders_total_adds_up"),
        sa.CheckConstraint("amount_refunded <= amount_captured",
                           name="ck_orders_refund_within_capture"),
        sa.ForeignKeyConstraint(["customer_id"], ["accounts.id"],
                                name="fk_orders_customer_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
    )
    op.create_index("ix_orders_created_at_id", "orders", ["created_at", "id"])
    op.create_index("ix_orders_customer_id_created_at_id", "orders",
                    ["customer_id", "created_at", "id"])
    op.create_index("ix_orders_status_created_at", "orders", ["status", "created_at"])

    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.String(32)),
        sa.Column("position", sa.Integer),
        sa.Column("item_id", sa.String(32), nullable=False),
        sa.Column("sku", sa.String(64)),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("unit_price", sa.BigInteger, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_order_lines_quantity_positive"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"],
                                name="fk_order_lines_order_id_orders"),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"],
                                name="fk_order_lines_item_id_items"),
        sa.PrimaryKeyConstraint("order_id", "position", name="pk_order_lines"),
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("account_id", sa.String(32)),
        sa.Column("key", sa.String(255)),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade():
    op.drop_table("idempotency_keys")
    op.drop_table("order_lines")
    op.drop_table("orders")
