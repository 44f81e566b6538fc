"""Alembic environment: desk always hands in the connection to migrate."""

from alembic import context
from sqlmodel import SQLModel

import desk.models  # noqa: F401  (registers the tables)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("desk migrations run through desk.db.migrate(engine) or `desk init`")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
