"""Token revocation, two-factor sign-in, login throttling, and an append-only audit trail.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from minimart.adapters.sqlalchemy.types import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

APPEND_ONLY = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
"""


def upgrade():
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("token_generation", sa.Integer, nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("totp_secret", sa.String(64)))
        batch.add_column(sa.Column("totp_enabled", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("recovery_codes",
                                   sa.JSON().with_variant(JSONB(), "postgresql"),
                                   nullable=False, server_default="[]"))
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("token_generation", server_default=None)
        batch.alter_column("totp_enabled", server_default=None)
        batch.alter_column("recovery_codes", server_default=None)
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(300)),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("window_started_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_login_failures"),
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)


def downgrade():
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    op.drop_table("login_failures")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("recovery_codes")
        batch.drop_column("totp_enabled")
        batch.drop_column("totp_secret")
        batch.drop_column("token_generation")
