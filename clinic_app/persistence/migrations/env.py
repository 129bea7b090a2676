"""Alembic environment: always run programmatically with a live connection."""

from __future__ import annotations

from alembic import context

from clinic_app.persistence.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - guarded so nobody runs alembic against a guess
    raise RuntimeError("Run migrations through `clinic-app db upgrade`, not the alembic CLI.")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
