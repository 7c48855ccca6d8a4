"""Emails stored as sign-in now spells them (NFKC, case-folded): a row stored under a
full-width or other compatibility spelling could otherwise never be found again. A row
whose new spelling another account already holds is left as it was (the owner decides).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import context, op

from minimart.domain.accounts import normalize_email

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

accounts = sa.table("accounts", sa.column("id", sa.String), sa.column("email", sa.String))


# Offline SQL (`minimart db sql`) cannot run Python row by row; PostgreSQL's normalize() and
# lower() come close (lower() keeps a few letters that case-fold to two, such as ß). Two rows
# that would both take one new spelling make the UPDATE fail: then migrate online.
OFFLINE = """
UPDATE accounts SET email = btrim(normalize(lower(normalize(email, NFKC)), NFKC))
WHERE email <> btrim(normalize(lower(normalize(email, NFKC)), NFKC))
  AND NOT EXISTS (SELECT 1 FROM accounts AS other
                  WHERE other.email = btrim(normalize(lower(normalize(accounts.email, NFKC)),
                                                      NFKC)))
"""


def upgrade():
    if context.is_offline_mode():
        op.execute(OFFLINE)
        return
    connection = op.get_bind()
    rows = connection.execute(sa.select(accounts.c.id, accounts.c.email)).all()
    taken = {email for _, email in rows}
    for account_id, email in rows:
        normal = normalize_email(email)
        if normal != email and normal not in taken:
            connection.execute(accounts.update().where(accounts.c.id == account_id)
                               .values(email=normal))
            taken.discard(email)
            taken.add(normal)


def downgrade():
    pass  # the old spellings are not kept; the normalised ones sign in under either code
