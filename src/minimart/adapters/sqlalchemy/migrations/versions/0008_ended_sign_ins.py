"""Browser sign-ins ended by signing out, so a copied session cookie opens nothing.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from minimart.adapters.sqlalchemy.types import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ended_sign_ins",
        sa.Column("id", sa.String(64)),
        sa.Column("until", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ended_sign_ins"),
    )
    op.create_index("ix_ended_sign_ins_until", "ended_sign_ins", ["until"])


def downgrade():
    op.drop_index("ix_ended_sign_ins_until", "ended_sign_ins")
    op.drop_table("ended_sign_ins")
