"""The newest TOTP time step each account signed in with, so a code works only once.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger))


def downgrade():
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("totp_last_step")
