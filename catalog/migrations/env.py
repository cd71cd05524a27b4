"""Alembic environment of the foleyflow catalog.

Run programmatically through :mod:`catalog.db` (``upgrade`` / ``downgrade``),
which hands over an open connection in ``config.attributes["connection"]``, or
from the command line: ``alembic -c catalog/alembic.ini upgrade head`` (the URL
then comes from foleyflow settings, i.e. ``FOLEYFLOW_CATALOG_URL``).

- SQLite: batch mode (``render_as_batch``) so ALTERs become table rebuilds;
  the migration connection has foreign keys off (a rebuild drops the old
  table, which would fire ON DELETE actions) and the result is checked with
  ``PRAGMA foreign_key_check`` before commit. DDL is transactional here
  because catalog.db emits BEGIN itself.
- PostgreSQL: a transaction-level advisory lock, so processes that start at
  once migrate one after the other.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

import sqlalchemy as sa
from alembic import context

from catalog.db import make_engine, resolve_url
from catalog.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata
# Arbitrary constant key of the PostgreSQL advisory lock ("foleyflo" in ASCII).
PG_MIGRATION_LOCK = 0x666F6C6579666C6F

if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render the catalog's own column types as plain SQLAlchemy types in new revisions."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _options(dialect_name: str) -> dict[str, Any]:
    sqlite = dialect_name == "sqlite"
    return {
        "target_metadata": target_metadata,
        "render_as_batch": sqlite,
        "transactional_ddl": True if sqlite else None,
        "compare_type": True,
        "render_item": render_item,
    }


def _url() -> str:
    return config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or resolve_url()


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``)."""
    url = _url()
    context.configure(url=url, literal_binds=True, **_options(sa.engine.make_url(url).get_backend_name()))
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: sa.Connection) -> None:
    dialect = connection.dialect.name
    context.configure(connection=connection, **_options(dialect))
    with context.begin_transaction():
        if dialect == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
        context.run_migrations()
        if dialect == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:10]}")


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), foreign_keys=False)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
