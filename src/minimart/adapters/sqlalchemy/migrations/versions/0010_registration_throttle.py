"""Registration attempts counted per client address, like sign-in failures: each sign-up
costs a slow password hash, so an address gets a few per window.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from minimart.adapters.sqlalchemy.types import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "registration_attempts",
        sa.Column("key", sa.String(300)),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("window_started_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_registration_attempts"),
    )


def downgrade():
    op.drop_table("registration_attempts")
