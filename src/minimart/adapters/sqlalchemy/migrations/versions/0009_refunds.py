"""Refunds claimed in the database before the provider is called: one row per refund (its
own idempotency key at the provider) and the order's claimed total that guards every claim.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from minimart.adapters.sqlalchemy.types import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("amount_refund_claimed", sa.BigInteger, nullable=False,
                                   server_default="0"))
    # what was refunded before refunds were claimed counts as claimed
    op.execute("UPDATE orders SET amount_refund_claimed = amount_refunded")
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("amount_refund_claimed", server_default=None)
        batch.create_check_constraint(
            "ck_orders_claims_within_capture",
            "amount_refunded <= amount_refund_claimed "
            "AND amount_refund_claimed <= amount_captured")
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(32)),
        sa.Column("order_id", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("attempted_at", UtcDateTime),
        sa.Column("sent_at", UtcDateTime),
        sa.CheckConstraint("amount > 0", name="ck_refunds_amount_positive"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"],
                                name="fk_refunds_order_id_orders"),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
    )
    op.create_index("ix_refunds_order_id_created_at", "refunds", ["order_id", "created_at"])
    op.create_index("ix_refunds_state_attempted_at", "refunds", ["state", "attempted_at"])


def downgrade():
    op.drop_index("ix_refunds_state_attempted_at", "refunds")
    op.drop_index("ix_refunds_order_id_created_at", "refunds")
    op.drop_table("refunds")
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint("ck_orders_claims_within_capture", type_="check")
        batch.drop_column("amount_refund_claimed")
