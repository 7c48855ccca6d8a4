"""Alembic environment: migrations run on the engine minimart hands over."""

from alembic import context

from minimart.adapters.sqlalchemy.database import without_statement_bounds
from minimart.adapters.sqlalchemy.tables import metadata

engine = context.config.attributes["engine"]

with engine.begin() as connection, without_statement_bounds(connection):
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
