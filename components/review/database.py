"""Review store locations (an SQLite file or a PostgreSQL database) and the connection the store uses for each.

A store is named by a path (SQLite, the default) or by a URL:

- `review.db`, `/srv/review.db`, `sqlite:////srv/review.db`: an SQLite file;
- `postgresql://reviewer@127.0.0.1:5432/review`: a PostgreSQL database
  (`postgres://` and SQLAlchemy's `postgresql+psycopg://` are accepted too).
  libpq reads what the URL leaves out from its usual places, so the password
  can stay out of the URL and out of every log: `PGPASSWORD` or `~/.pgpass`.

Both back ends give the store the same guarantees:

- a write transaction holds the store's single write lock from its first
  statement: `BEGIN IMMEDIATE` in SQLite, a transaction-level advisory lock
  taken right after `BEGIN` in PostgreSQL. Writers therefore queue up instead
  of interleaving, and a writer waits at most the store's timeout for the lock;
- a read transaction reads one consistent snapshot (SQLite: a deferred `BEGIN`
  in WAL mode; PostgreSQL: `REPEATABLE READ READ ONLY`).

The store writes its SQL once, with `?` placeholders and functions both
dialects share (`COUNT(*) FILTER (WHERE ...)`, `INSERT ... RETURNING`,
`ON CONFLICT ... DO UPDATE`); `PostgresDatabase` rewrites the placeholders for
psycopg. Rows support both `row[0]` and `row["column"]` on both back ends.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from components.errors import InputError

logger = logging.getLogger(__name__)

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
MASK = "***"

# Keys of the advisory locks that serialise writers and migrations of a PostgreSQL
# store. They are hashes of fixed names, so they stay the same across releases.
_WRITE_LOCK_KEY = int.from_bytes(hashlib.sha256(b"reprolab.review.write").digest()[:8], "big", signed=True)
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"reprolab.review.migrate").digest()[:8], "big", signed=True
)


class StoreUnavailable(RuntimeError):
    """The store's database is unreachable or busy past the timeout; the same request may succeed later."""


def permission_denied(exc: BaseException) -> bool:
    """Return whether `exc`, or the error it wraps, reports that the database user may not create or write tables."""
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ == "InsufficientPrivilege":  # psycopg.errors, also inside SQLAlchemy's wrapper
            return True
        if isinstance(seen, sqlite3.OperationalError) and "readonly" in str(seen):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


@dataclass(frozen=True)
class StoreTarget:
    """A review store's location: an SQLite file (`path`) or a PostgreSQL URL (`url`)."""

    path: Path | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.url is None):
            raise ValueError("a StoreTarget has exactly one of path and url")

    @property
    def kind(self) -> str:
        return "sqlite" if self.path is not None else "postgresql"

    def display(self) -> str:
        """Return the path, or the URL with any password replaced by ***, for logs and messages."""
        return str(self.path) if self.path is not None else mask_password(self.url or "")

    def __str__(self) -> str:
        return self.display()

    def sqlalchemy_url(self) -> str:
        """Return the URL for SQLAlchemy (alembic), with the psycopg 3 driver for PostgreSQL."""
        if self.path is not None:
            return f"sqlite:///{self.path}"
        assert self.url is not None
        return "postgresql+psycopg://" + self.url.split("://", 1)[1]

    def exists(self) -> bool:
        """Return whether the SQLite file exists. A PostgreSQL database counts as existing."""
        return self.path.exists() if self.path is not None else True


def parse_target(
    value: str | Path | StoreTarget, *, base: Path | None = None, field: str | None = "store"
) -> StoreTarget:
    """Read a store location: a PostgreSQL URL, an `sqlite:///` URL or a file path.

    A relative path is taken relative to `base` when it is given. A URL with
    another scheme raises InputError naming `field`.
    """
    if isinstance(value, StoreTarget):
        return value
    if isinstance(value, Path):
        path = value
    else:
        text = str(value).strip()
        if not text:
            raise InputError("the review store is empty", field=field,
                             hint="Pass a file path or a postgresql:// URL")
        scheme, separator, rest = text.partition("://")
        if not separator:
            path = Path(text)
        elif scheme.lower() in POSTGRES_SCHEMES:
            return StoreTarget(url=_check_postgres_url("postgresql://" + rest, field))
        elif scheme.lower() == "sqlite":
            if not rest.startswith("/") or rest == "/":
                raise InputError(f"{text!r} is not an SQLite URL", field=field,
                                 hint="Write sqlite:///relative/path.db or sqlite:////absolute/path.db")
            path = Path(rest[1:])
        else:
            raise InputError(
                f"review store URL scheme {scheme!r} is not supported",
                field=field,
                hint="Use a file path (SQLite) or a postgresql://user@host:port/database URL",
            )
    if base is not None and not path.is_absolute():
        path = base / path
    return StoreTarget(path=path)


def _split_userinfo(url: str) -> tuple[str, str | None, str]:
    """Split a URL into `scheme://`, the user part before the last `@` (None without one), and the rest.

    Taking the last `@` keeps a password whole even when it contains `/`, `?`,
    `#` or `@` without percent-encoding, which a URL parser would cut apart.
    """
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return scheme + separator, None, rest
    userinfo, _, remainder = rest.rpartition("@")
    return scheme + separator, userinfo, remainder


_PASSWORD_PARAMETER = re.compile(r"(?i)([?&]password=)[^&#]*")


def _check_postgres_url(url: str, field: str | None) -> str:
    _, userinfo, _ = _split_userinfo(url)
    if userinfo is not None and re.search(r"[/?#@\s]", userinfo):
        raise InputError(
            f"the user name or password in {mask_password(url)!r} contains a character that must be "
            "percent-encoded (/, ?, #, @ or a space)",
            field=field,
            hint="Percent-encode it (%2F for /, %40 for @), or leave the password out of the URL and set "
            "PGPASSWORD or a ~/.pgpass entry",
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        # Neither the URL nor the parser's message is shown: without an `@`, a
        # password reads as a port or host, and both would print it.
        raise InputError(
            "the store URL is not a valid postgresql:// URL: its host or port cannot be read",
            field=field,
            hint="Write postgresql://user@host:port/database, with the port as a number",
        ) from None
    return url


def mask_password(url: str) -> str:
    """Return the URL with the password of its user part and any `password=` parameter replaced by ***."""
    prefix, userinfo, remainder = _split_userinfo(url)
    if userinfo is not None and ":" in userinfo:
        userinfo = f"{userinfo.split(':', 1)[0]}:{MASK}"
    text = prefix + (f"{userinfo}@" if userinfo is not None else "") + remainder
    return _PASSWORD_PARAMETER.sub(lambda match: match.group(1) + MASK, text)


def has_password(url: str) -> bool:
    """Return whether the URL carries a password, in its user part or as a `password=` parameter."""
    _, userinfo, _ = _split_userinfo(url)
    if userinfo is not None and userinfo.partition(":")[2]:
        return True
    return _PASSWORD_PARAMETER.search(url) is not None


def _url_password(url: str) -> str | None:
    _, userinfo, _ = _split_userinfo(url)
    if userinfo is None or not userinfo.partition(":")[2]:
        return None
    return unquote(userinfo.partition(":")[2])


class Database(Protocol):
    """The connection a `ReviewStore` holds; one transaction at a time."""

    target: StoreTarget

    def execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Any: ...

    def begin(self, *, write: bool) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def table_names(self) -> set[str]: ...

    def close(self) -> None: ...


def open_database(target: StoreTarget, *, timeout: float) -> Database:
    """Connect to the store's database; a connection failure raises InputError naming the store."""
    if target.path is not None:
        return SQLiteDatabase(target, timeout=timeout)
    return PostgresDatabase(target, timeout=timeout)


# -- SQLite --------------------------------------------------------------------------


class SQLiteDatabase:
    """One SQLite connection in WAL mode, foreign keys on, transactions issued by hand."""

    def __init__(self, target: StoreTarget, *, timeout: float) -> None:
        assert target.path is not None
        self.target = target
        target.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None turns off the sqlite3 module's implicit transactions.
        conn = sqlite3.connect(target.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            mode = _set_wal(conn, timeout)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise InputError(
                f"cannot open the review store ({exc})",
                path=target.path,
                hint="Pass the path of a review store or of a file that does not exist yet",
            ) from exc
        if str(mode).lower() != "wal":
            conn.close()
            raise InputError(
                f"SQLite could not switch to WAL mode (journal mode is {mode!r})",
                path=target.path,
                hint="Put the review store on a local file system",
            )
        self._conn = conn

    def execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreUnavailable(f"review store {self.target.display()} is busy ({exc})") from exc
            raise

    def begin(self, *, write: bool) -> None:
        # IMMEDIATE takes the write lock up front, avoiding the read-to-write
        # upgrade that fails at once with SQLITE_BUSY in WAL mode.
        self.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def table_names(self) -> set[str]:
        return {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def close(self) -> None:
        self._conn.close()


def _set_wal(conn: sqlite3.Connection, timeout: float) -> str:
    """Switch to WAL mode and return the journal mode, retrying while another connection holds a lock.

    SQLite can reject the journal-mode change with "database is locked" at once,
    without waiting on the busy timeout, when several connections open a new
    file together. The retries wait for at most `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- PostgreSQL ----------------------------------------------------------------------


class Row(tuple):
    """A result row readable by position and by column name, like `sqlite3.Row`."""

    _index: dict[str, int]

    def __new__(cls, values: Any, index: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    index: dict[str, int] = {}
    for position, column in enumerate(cursor.description or ()):
        index.setdefault(column.name, position)  # the first of two equal names wins, as in sqlite3.Row

    def make(values: Any) -> Row:
        return Row(values, index)

    return make


@functools.lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """Rewrite `?` placeholders as psycopg's `%s`, escaping literal percent signs.

    The store's SQL has no `?` inside string literals, which this relies on.
    """
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresDatabase:
    """One psycopg connection in autocommit mode, with transactions issued by hand.

    A connection lost between transactions (a server restart, an idle timeout)
    is reopened when the next transaction begins. A connection lost inside a
    transaction fails that transaction, and the caller may retry it.
    """

    def __init__(self, target: StoreTarget, *, timeout: float) -> None:
        assert target.url is not None
        self.target = target
        self._timeout = timeout
        self._conn = self._connect(first=True)

    def _connect(self, *, first: bool = False) -> Any:
        """Open a connection. Failing on the first one is an input error (the URL, the server, the
        password); failing to reconnect later makes the store unavailable for now."""
        import psycopg

        try:
            conn = psycopg.connect(
                self.target.url,
                autocommit=True,
                row_factory=_row_factory,
                connect_timeout=max(1, int(self._timeout)),
                application_name="reprolab-review",
            )
            # Writers wait for each other's advisory lock at most `timeout` seconds.
            conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(self._timeout * 1000)}ms",))
        except psycopg.Error as exc:
            reason = self._redact(first_line(exc))
            if not first:
                raise StoreUnavailable(f"cannot reconnect to the review store {self.target.display()} ({reason})"
                                       ) from None
            raise InputError(
                f"cannot connect to the PostgreSQL review store ({reason})",
                path=self.target.display(),
                hint="Check that the server runs and the URL is right; a password can come from "
                "PGPASSWORD or ~/.pgpass instead of the URL",
            ) from None
        return conn

    def _redact(self, text: str) -> str:
        """Replace the URL's password in a driver message, which may quote parts of the URL."""
        password = _url_password(self.target.url or "")
        return text.replace(password, MASK) if password else text

    def _run(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Any:
        import psycopg

        try:
            return self._conn.execute(sql, params)
        except psycopg.OperationalError as exc:
            # A lost connection, a server shutting down, or the write lock not granted in time.
            raise StoreUnavailable(
                f"review store {self.target.display()} is unavailable ({self._redact(first_line(exc))})"
            ) from exc

    def execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Any:
        return self._run(to_pyformat(sql), params)

    def begin(self, *, write: bool) -> None:
        statement = (
            "BEGIN ISOLATION LEVEL READ COMMITTED" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        )
        if self._conn.closed or self._conn.broken:
            self._reconnect()
        try:
            self._run(statement)
        except StoreUnavailable:
            # Nothing ran yet, so opening a new connection and beginning again is safe.
            self._reconnect()
            self._run(statement)
        if write:
            # Serialise writers for the whole transaction: with one writer at a
            # time, READ COMMITTED reads see every earlier commit, as in SQLite.
            self._run("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK_KEY,))

    def _reconnect(self) -> None:
        # A failure raises StoreUnavailable, which the caller reports; success is logged here.
        try:
            self._conn.close()
        finally:
            self._conn = self._connect()
        logger.info("reconnected to the review store %s", self.target.display())

    def commit(self) -> None:
        self._run("COMMIT")

    def rollback(self) -> None:
        from psycopg.pq import TransactionStatus

        if self._conn.closed or self._conn.broken:
            return
        if self._conn.info.transaction_status != TransactionStatus.IDLE:
            self._conn.execute("ROLLBACK")

    def table_names(self) -> set[str]:
        # pg_tables lists every table; information_schema hides those the user has no privilege on.
        rows = self._run("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()").fetchall()
        return {row[0] for row in rows}

    def close(self) -> None:
        self._conn.close()


def first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message, or its type name when the message is empty."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
