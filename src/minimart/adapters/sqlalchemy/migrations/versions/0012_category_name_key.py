"""Category names unique whatever their case: a name_key column (name.strip().casefold())
with a unique constraint, so two requests racing for one name cannot both win. Rows that
already share a key are renamed "Name (2)", "Name (3)"... before the constraint is made.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import context, op

from minimart.domain.categories import name_key

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

categories = sa.table("categories", sa.column("id", sa.String), sa.column("name", sa.String),
                      sa.column("name_key", sa.String), sa.column("position", sa.Integer))


def upgrade():
    with op.batch_alter_table("categories") as batch:
        batch.add_column(sa.Column("name_key", sa.String(120), nullable=True))
    if context.is_offline_mode():
        # Offline SQL cannot rename duplicates in Python: PostgreSQL's lower() stands in for
        # casefold(), and names that share a key make the unique constraint below fail
        # (nothing is changed: migrate online then, which renames them "Name (2)"...).
        op.execute("UPDATE categories SET name_key = lower(btrim(name))")
    else:
        _fill_name_keys()
    with op.batch_alter_table("categories") as batch:
        batch.alter_column("name_key", existing_type=sa.String(120), nullable=False)
        batch.create_unique_constraint("uq_categories_name_key", ["name_key"])


def _fill_name_keys():
    connection = op.get_bind()
    rows = connection.execute(sa.select(categories.c.id, categories.c.name)
                              .order_by(categories.c.position, categories.c.id)).all()
    taken: set[str] = set()
    for category_id, name in rows:
        new_name, suffix = name, 1
        while name_key(new_name) in taken:
            suffix += 1
            new_name = f"{name[:110]} ({suffix})"
        taken.add(name_key(new_name))
        connection.execute(categories.update().where(categories.c.id == category_id)
                           .values(name=new_name, name_key=name_key(new_name)))


def downgrade():
    with op.batch_alter_table("categories") as batch:
        batch.drop_constraint("uq_categories_name_key", type_="unique")
        batch.drop_column("name_key")
