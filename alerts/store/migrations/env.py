"""Alembic environment: runs on a connection handed in by alerts.store.migrate."""

from __future__ import annotations

from alembic import context

from alerts.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through alerts.store.migrate
    raise RuntimeError("run migrations with `alerts db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
