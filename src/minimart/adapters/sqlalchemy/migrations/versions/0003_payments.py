"""Payment provider customers, intent lookups and the webhook event log.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from minimart.adapters.sqlalchemy.types import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("payment_customer_id", sa.String(255)))
        batch.create_unique_constraint("uq_accounts_payment_customer_id",
                                       ["payment_customer_id"])
    op.create_index("ix_orders_payment_intent_id", "orders", ["payment_intent_id"])
    op.create_table(
        "payment_events",
        sa.Column("id", sa.String(255)),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payment_intent_id", sa.String(255)),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_events"),
    )


def downgrade():
    op.drop_table("payment_events")
    op.drop_index("ix_orders_payment_intent_id", "orders")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint("uq_accounts_payment_customer_id", type_="unique")
        batch.drop_column("payment_customer_id")
