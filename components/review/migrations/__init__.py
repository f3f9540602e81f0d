"""Alembic migrations of the review store.

Revision 0001 is the version-1 schema that `ReviewStore` has always created
(items, labels, reviewers, schema_version). Later revisions add the tables of
the web service (sign-in tokens, sessions, drafts, item assignments,
idempotent submissions). `ReviewStore` upgrades a store to `HEAD` when it opens
it, so a store written by an older reprolab is migrated in place.

The `schema_version` table keeps the version of the label data model (what
`export()` and `final_labels()` read). A revision that changes those tables also
bumps it; revisions that only add tables beside them, like 0002, leave it at 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.errors import InputError
from components.review.database import MIGRATION_LOCK_KEY, StoreTarget, parse_target

HERE = Path(__file__).resolve().parent
HEAD = "0002"
REVISIONS = ("0001", "0002")


def current_revision(db: Any) -> str | None:
    """Return the store's alembic revision, or None when it was never migrated by alembic.

    `db` is the store's open `Database` (components.review.database).
    """
    if "alembic_version" not in db.table_names():
        return None
    row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def alembic_config(connection=None, url: str | None = None):
    """Return an alembic Config for these migrations, bound to a SQLAlchemy connection or a URL."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(target: str | Path | StoreTarget, revision: str = "head", *, timeout: float = 30.0) -> bool:
    """Upgrade the store at `target` (a path or URL) to `revision`, in one transaction that holds a lock.

    SQLite: `BEGIN IMMEDIATE` takes the write lock. PostgreSQL: a
    transaction-level advisory lock, and DDL is transactional there too.
    Either way concurrent upgraders wait for each other, and the second one
    finds the store at head and does nothing. Returns whether a revision was applied.
    """
    import logging

    # Set before importing alembic, which logs a line per plugin on import; one
    # line per revision is noise in the CLI too.
    alembic_logger = logging.getLogger("alembic")
    if alembic_logger.level == logging.NOTSET:
        alembic_logger.setLevel(logging.WARNING)

    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, event, text
    from sqlalchemy.pool import NullPool

    target = parse_target(target)
    if target.kind == "sqlite":
        engine = create_engine(target.sqlalchemy_url(), poolclass=NullPool, connect_args={"timeout": timeout})

        @event.listens_for(engine, "connect")
        def _no_implicit_transactions(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA foreign_keys = ON")

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    else:
        engine = create_engine(
            target.sqlalchemy_url(), poolclass=NullPool,
            connect_args={"connect_timeout": max(1, int(timeout)), "application_name": "reprolab-review"},
        )

    try:
        with engine.begin() as connection:
            if target.kind == "postgresql":
                connection.execute(text("SELECT set_config('lock_timeout', :ms, true)"),
                                   {"ms": f"{int(timeout * 1000)}ms"})
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            before = MigrationContext.configure(connection).get_current_revision()
            if revision == "head" and before == HEAD:
                return False  # another process upgraded it while this one waited for the lock
            command.upgrade(alembic_config(connection), revision)
            return True
    finally:
        engine.dispose()


def check_revision(revision: str | None, path: str | Path) -> None:
    """Raise InputError when the store was migrated by a newer reprolab than this one."""
    if revision is not None and revision not in REVISIONS:
        raise InputError(
            f"review store is at migration revision {revision!r}, which this version of "
            f"reprolab does not know (it knows up to {HEAD!r})",
            path=path,
            hint="Use the reprolab release that wrote this store",
        )
