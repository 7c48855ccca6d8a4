"""Categories, item images and the store's settings.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from minimart.adapters.sqlalchemy.types import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "categories",
        sa.Column("id", sa.String(32)),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_categories"),
    )
    op.create_index("ix_categories_position_id", "categories", ["position", "id"])
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("category_id", sa.String(32)))
        batch.add_column(sa.Column("image_key", sa.String(128)))
        batch.create_foreign_key("fk_items_category_id_categories", "categories",
                                 ["category_id"], ["id"])
        batch.create_index("ix_items_category_id", ["category_id"])
    op.create_table(
        "store_settings",
        sa.Column("id", sa.Integer),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("tax_rate_bps", sa.Integer, nullable=False),
        sa.Column("delivery_fee", sa.BigInteger, nullable=False),
        sa.Column("minimum_order", sa.BigInteger, nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.Column("opening_hours", sa.JSON().with_variant(JSONB(), "postgresql"),
                  nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_store_settings_single_row"),
        sa.PrimaryKeyConstraint("id", name="pk_store_settings"),
    )


def downgrade():
    op.drop_table("store_settings")
    with op.batch_alter_table("items") as batch:
        batch.drop_index("ix_items_category_id")
        batch.drop_constraint("fk_items_category_id_categories", type_="foreignkey")
        batch.drop_column("image_key")
        batch.drop_column("category_id")
    op.drop_table("categories")
