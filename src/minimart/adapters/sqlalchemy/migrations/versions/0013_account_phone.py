"""An optional phone number on each account, in E.164 form ("+" and at most 15 digits).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("phone", sa.String(16)))


def downgrade():
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("phone")
