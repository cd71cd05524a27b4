"""Engines, sessions and schema migrations of the foleyflow catalog.

The URL comes from ``foleyflow.settings.get_settings().resolved_catalog_url``
(``FOLEYFLOW_CATALOG_URL``; default a SQLite file under ``FOLEYFLOW_HOME``)
unless one is passed. SQLite and PostgreSQL (``postgresql+psycopg://...``) are
supported.

SQLite is tuned for several threads and processes writing at once: WAL
journal, foreign keys on, a 30 s busy timeout, and every transaction starts
with ``BEGIN IMMEDIATE`` so two writers queue up instead of failing with
"database is locked" when a reader tries to become a writer.

Typical use::

    from catalog.db import session_scope
    with session_scope() as session:   # migrates the catalog to head on first use
        film = repo.upsert_film(session, sha256=..., path=...)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from foleyflow.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30.0
# Revision files are named like Prefect's: 2026_11_22_0001_initial.py
FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s"

_lock = threading.Lock()
_engines: dict[tuple[str, int], Engine] = {}
_factories: dict[tuple[str, int], sessionmaker[Session]] = {}


def resolve_url(url: str | None = None) -> str:
    """The catalog URL: ``url`` if given, else the one from foleyflow settings."""
    return url or get_settings().resolved_catalog_url


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str | None = None, *, foreign_keys: bool = True) -> Engine:
    """Create an engine for the catalog (no migration; see :func:`init_catalog`).

    Arguments:
        url: SQLAlchemy URL; default from settings. For a SQLite file the parent
            folder is created.
        foreign_keys: SQLite only: enforce foreign keys (leave on; migrations
            turn it off because batch table rebuilds would fire ON DELETE actions).

    Returns:
        A new :class:`~sqlalchemy.engine.Engine`; the caller disposes it.
    """
    url_obj = make_url(resolve_url(url))
    if url_obj.get_backend_name() != "sqlite":
        return sa.create_engine(url_obj, pool_pre_ping=True)

    database = url_obj.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url_obj, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Driver autocommit: SQLAlchemy emits BEGIN itself (_on_begin), which
        # also makes DDL and SAVEPOINTs transactional.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # Take the write lock up front: a deferred transaction that reads and
        # then writes fails at once (SQLITE_BUSY_SNAPSHOT) if another process
        # committed in between; an immediate one waits for busy_timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def alembic_config(url: str | None = None, connection: sa.Connection | None = None) -> Config:
    """Alembic configuration built in code (works from an installed package and any cwd).

    Arguments:
        url: catalog URL for env.py when no ``connection`` is given.
        connection: an open connection for env.py to migrate (preferred).

    Returns:
        A :class:`alembic.config.Config` pointing at ``catalog/migrations``.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", FILE_TEMPLATE)
    config.set_main_option("path_separator", "os")
    config.attributes["url"] = resolve_url(url)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration revision this code knows."""
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"catalog migrations have {len(heads)} heads {heads}; merge them")
    return heads[0]


def current_revision(url: str | None = None) -> str | None:
    """The revision the catalog database is at (None for an empty database)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _migrate(url: str | None, action: str, revision: str) -> None:
    url = resolve_url(url)
    engine = make_engine(url, foreign_keys=False)
    try:
        with engine.connect() as connection:
            config = alembic_config(url, connection)
            try:
                getattr(command, action)(config, revision)
            except CommandError as exc:
                raise RuntimeError(
                    f"cannot {action} the catalog at {_safe(url)} to {revision!r}: {exc}. If the "
                    "database was made by a newer foleyflow, upgrade foleyflow or point "
                    "FOLEYFLOW_CATALOG_URL at another catalog."
                ) from exc
    finally:
        engine.dispose()


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate the catalog up to ``revision`` (in one transaction; concurrent callers queue).

    Raises:
        RuntimeError: the database is at a revision this code does not know.
    """
    _migrate(url, "upgrade", revision)


def downgrade(url: str | None, revision: str) -> None:
    """Migrate the catalog down to ``revision`` ("base" drops every table and its data)."""
    _migrate(url, "downgrade", revision)


def init_catalog(url: str | None = None) -> Engine:
    """The process-wide engine for ``url``, after migrating the catalog to head once.

    Cached per URL and per process id (engines must not cross a fork).

    Returns:
        The shared :class:`~sqlalchemy.engine.Engine`; do not dispose it
        yourself (see :func:`dispose_engines`).
    """
    key = (resolve_url(url), os.getpid())
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            upgrade(key[0])
            engine = make_engine(key[0])
            _engines[key] = engine
            _factories[key] = sessionmaker(engine, expire_on_commit=False)
        return engine


def dispose_engines() -> None:
    """Close every cached engine (tests, or before dropping a database)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _factories.clear()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any exception.

    Objects stay usable after the block (``expire_on_commit=False``), but
    relationships must have been loaded inside it (they are ``lazy="raise"``).
    Keep blocks short and do not nest them in one thread: on SQLite a session
    holds the write lock from its first statement to its end, so an inner
    session would wait for the outer one and fail after the busy timeout.

    Arguments:
        url: catalog URL; default from settings. The catalog is migrated to
            head on first use in this process.

    Yields:
        A :class:`~sqlalchemy.orm.Session`.
    """
    init_catalog(url)
    factory = _factories[(resolve_url(url), os.getpid())]
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
