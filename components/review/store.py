"""Store for the two-level human review queue of proof triplets, in SQLite or PostgreSQL.

Level-1 reviewers label pending items. An item becomes final when its level-1
labels agree with the construction label and with the pre-check. Any
disagreement, or an `unsure` verdict, escalates it to level 2, and the first
level-2 label that is not `unsure` is final. Labels are an append-only history:
triggers in the database reject UPDATE and DELETE on them.

On an item that needs several level-1 labels (double review), the labels are
blind: the item stays pending until all of them are in, and only then is it
final (all agree) or escalated (any disagreement), so that agreement between
reviewers (Cohen's kappa in stats()) is measured on independent labels.

The schema carries a `schema_version` table (version 1 of the label data model)
and alembic migrations (components/review/migrations) that add the web
service's tables beside it; opening a store upgrades it to the newest revision.
Its columns use portable types (TEXT, INTEGER, floating point, with
timestamps as ISO-8601 UTC text), and the same tables live in an SQLite file
(the default) or in a PostgreSQL database named by URL; see
components/review/database.py for how the two back ends keep the same
transaction guarantees.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from components.errors import InputError
from components.io import write_jsonl_atomic
from components.proofs.schema import ErrorType, ReviewEvent, Triplet
from components.review.database import (
    Database,
    StoreTarget,
    first_line,
    open_database,
    parse_target,
    permission_denied,
)

logger = logging.getLogger(__name__)


SCHEMA_VERSION = 1
STATUSES = ("pending", "escalated", "final")
VERDICTS = ("correct", "incorrect", "unsure")
REVIEWER_LEVELS = (1, 2)
DEFAULT_BUSY_TIMEOUT_S = 30.0
MAX_COMMENT_CHARS = 10_000
EXPORT_FORMATS = ("jsonl", "parquet")


@dataclass(frozen=True)
class SubmitResult:
    """What submit_label() recorded: the item's new status and the label's id.

    `replayed` is True when the request id had been submitted before, in which
    case nothing new was written and the first submission's result is returned.
    """

    status: str
    label_id: int
    replayed: bool = False

# One statement per entry, so that the version check and the table creation run
# in a single transaction (executescript would commit before it starts).
_SCHEMA_V1: tuple[str, ...] = (
    """
    CREATE TABLE schema_version (
        version    INTEGER PRIMARY KEY,
        applied_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE reviewers (
        reviewer_id TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        level       INTEGER NOT NULL CHECK (level IN (1, 2)),
        created_at  TEXT NOT NULL
    )
    """,
    # `position` keeps the enqueue order, which the queue serves oldest first.
    # `gold` marks an item whose construction label is known to be right, for
    # measuring reviewers. `reviews_required` is how many agreeing level-1
    # labels make the item final (2 for double review).
    # The final_* columns store the decision, and final_label_id the label that made it.
    """
    CREATE TABLE items (
        triplet_id         TEXT PRIMARY KEY,
        position           INTEGER NOT NULL UNIQUE,
        triplet_json       TEXT NOT NULL,
        problem_id         TEXT NOT NULL,
        construction_label TEXT NOT NULL CHECK (construction_label IN ('correct', 'incorrect')),
        precheck_verdict   TEXT CHECK (precheck_verdict IN ('correct', 'incorrect', 'unsure')),
        reason             TEXT NOT NULL,
        gold               INTEGER NOT NULL DEFAULT 0 CHECK (gold IN (0, 1)),
        reviews_required   INTEGER NOT NULL DEFAULT 1 CHECK (reviews_required >= 1),
        status             TEXT NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'escalated', 'final')),
        final_verdict      TEXT CHECK (final_verdict IN ('correct', 'incorrect')),
        final_error_steps  TEXT,
        final_error_type   TEXT,
        final_label_id     INTEGER REFERENCES labels (label_id),
        enqueued_at        TEXT NOT NULL,
        escalated_at       TEXT,
        finalized_at       TEXT,
        CHECK ((status = 'final') = (final_verdict IS NOT NULL
                                     AND final_error_steps IS NOT NULL
                                     AND final_label_id IS NOT NULL
                                     AND finalized_at IS NOT NULL))
    )
    """,
    "CREATE INDEX items_status_position ON items (status, position)",
    "CREATE INDEX items_problem_id ON items (problem_id)",
    """
    CREATE TABLE labels (
        label_id      INTEGER PRIMARY KEY,
        triplet_id    TEXT NOT NULL REFERENCES items (triplet_id),
        reviewer_id   TEXT NOT NULL REFERENCES reviewers (reviewer_id),
        level         INTEGER NOT NULL CHECK (level IN (1, 2)),
        verdict       TEXT NOT NULL CHECK (verdict IN ('correct', 'incorrect', 'unsure')),
        error_steps   TEXT NOT NULL DEFAULT '[]',
        error_type    TEXT,
        comment       TEXT NOT NULL DEFAULT '',
        seconds_spent REAL CHECK (seconds_spent IS NULL OR seconds_spent >= 0),
        created_at    TEXT NOT NULL,
        UNIQUE (triplet_id, reviewer_id, level)
    )
    """,
    "CREATE INDEX labels_reviewer_id ON labels (reviewer_id)",
    """
    CREATE TRIGGER labels_no_update BEFORE UPDATE ON labels
    BEGIN
        SELECT RAISE(ABORT, 'labels are append-only; submit a new label instead');
    END
    """,
    """
    CREATE TRIGGER labels_no_delete BEFORE DELETE ON labels
    BEGIN
        SELECT RAISE(ABORT, 'labels are append-only and cannot be deleted');
    END
    """,
)


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise AssertionError(f"expected {old!r} once in a schema statement")
    return text.replace(old, new)


# The same tables in PostgreSQL. It differs where the dialects do: an identity
# column for label ids, double precision for seconds, the foreign key from
# items to labels added once labels exists, and the append-only rule as a
# trigger function, which also rejects TRUNCATE.
_SCHEMA_V1_POSTGRES: tuple[str, ...] = (
    _SCHEMA_V1[0],
    _SCHEMA_V1[1],
    _replace_once(_SCHEMA_V1[2], "final_label_id     INTEGER REFERENCES labels (label_id)",
                  "final_label_id     INTEGER"),
    _SCHEMA_V1[3],
    _SCHEMA_V1[4],
    _replace_once(
        _replace_once(_SCHEMA_V1[5], "label_id      INTEGER PRIMARY KEY",
                      "label_id      INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
        "seconds_spent REAL", "seconds_spent DOUBLE PRECISION",
    ),
    _SCHEMA_V1[6],
    "ALTER TABLE items ADD CONSTRAINT items_final_label_id_fkey "
    "FOREIGN KEY (final_label_id) REFERENCES labels (label_id)",
    """
    CREATE FUNCTION reprolab_labels_append_only() RETURNS trigger LANGUAGE plpgsql AS $body$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            RAISE EXCEPTION 'labels are append-only; submit a new label instead';
        END IF;
        RAISE EXCEPTION 'labels are append-only and cannot be deleted';
    END
    $body$
    """,
    "CREATE TRIGGER labels_no_update BEFORE UPDATE ON labels "
    "FOR EACH ROW EXECUTE FUNCTION reprolab_labels_append_only()",
    "CREATE TRIGGER labels_no_delete BEFORE DELETE ON labels "
    "FOR EACH ROW EXECUTE FUNCTION reprolab_labels_append_only()",
    "CREATE TRIGGER labels_no_truncate BEFORE TRUNCATE ON labels "
    "FOR EACH STATEMENT EXECUTE FUNCTION reprolab_labels_append_only()",
)


def schema_v1(kind: str) -> tuple[str, ...]:
    """The statements that create the version-1 schema in `kind` ("sqlite" or "postgresql")."""
    if kind == "postgresql":
        return _SCHEMA_V1_POSTGRES
    if kind == "sqlite":
        return _SCHEMA_V1
    raise ValueError(f"unknown database kind {kind!r}")


class ReviewStore:
    """Review queue in one SQLite file or PostgreSQL database, safe to open from several threads and processes.

    `target` is a file path (SQLite) or a `postgresql://` URL; see
    components.review.database. SQLite runs in WAL mode with foreign keys on.
    Every write is one transaction that holds the store's write lock from its
    start, so concurrent writers wait up to `timeout` seconds for each other
    instead of failing. One store holds one connection behind a lock, so a
    store may also be shared between threads.
    """

    def __init__(self, target: str | Path | StoreTarget, *, timeout: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self.target = parse_target(target)
        # The SQLite file, or None for a PostgreSQL store; `location` names either.
        self.path: Path | None = self.target.path
        self.location = self.target.display()
        self._lock = threading.RLock()
        self._timeout = timeout
        self._db: Database | None = open_database(self.target, timeout=timeout)
        try:
            self._ensure_schema()
            self._migrate()
        except Exception as exc:
            self.close()
            if permission_denied(exc):
                raise InputError(
                    "the database user may not create or change the review tables "
                    f"({first_line(exc)})",
                    path=self.location,
                    hint="Connect as the user who created the store (usually the database owner), or grant this "
                    "user CREATE on the schema (GRANT CREATE ON SCHEMA public TO <user>) and SELECT, INSERT, "
                    "UPDATE and DELETE on the review tables",
                ) from None
            raise
        except BaseException:
            self.close()
            raise

    # -- connection and schema -------------------------------------------------

    def _ensure_schema(self) -> None:
        with self._transaction(write=True) as conn:
            tables = conn.table_names()
            if "schema_version" not in tables:
                if tables:
                    raise InputError(
                        f"the database has tables but no review schema "
                        f"(tables: {', '.join(sorted(tables)[:10])})",
                        path=self.location,
                        hint="Pass a review store, a new file, or an empty PostgreSQL database",
                    )
                for statement in schema_v1(self.target.kind):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (SCHEMA_VERSION, _now()),
                )
                logger.info(
                    "created review store %s (schema version %d)", self.location, SCHEMA_VERSION
                )
                return
            version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise InputError(
                    f"review store schema version is {version}, but this version of reprolab "
                    f"reads version {SCHEMA_VERSION}",
                    path=self.location,
                    hint="Use the reprolab release that wrote this store, or migrate it",
                )

    def _migrate(self) -> None:
        """Upgrade the store to the newest alembic revision when it is behind."""
        from components.review import migrations

        revision = self.schema_revision()
        migrations.check_revision(revision, self.location)
        if revision != migrations.HEAD and migrations.upgrade(self.target, timeout=self._timeout):
            logger.info("migrated review store %s to revision %s", self.location, migrations.HEAD)

    def schema_revision(self) -> str | None:
        """Return the store's alembic revision (components.review.migrations.HEAD once opened)."""
        from components.review import migrations

        with self._transaction(write=False) as conn:
            return migrations.current_revision(conn)

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Database]:
        """Run the block in one transaction; a write holds the store's write lock from BEGIN.

        Taking the lock up front avoids a read-to-write upgrade (in SQLite, that
        fails at once with SQLITE_BUSY in WAL mode, which the busy timeout does
        not cover). A read sees one consistent snapshot.
        """
        with self._lock:
            if self._db is None:
                raise RuntimeError(f"review store {self.location} is closed")
            db = self._db
            try:
                db.begin(write=write)  # may fail waiting for the write lock
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()

    def close(self) -> None:
        """Close the connection. Calling close() again does nothing."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- queue ------------------------------------------------------------------

    def enqueue(
        self,
        triplets: Iterable[Triplet],
        reason: str,
        *,
        reviews_required: int = 1,
        gold: bool = False,
    ) -> int:
        """Add triplets to the queue as pending items and return how many were new.

        An item that is already queued keeps its stored triplet, labels and
        status, so enqueueing the same triplets again changes nothing.
        `reviews_required` is the number of agreeing level-1 labels that make an
        item final (2 for double review). `gold` marks items whose construction
        label is known to be right, so stats() can score reviewers on them.
        """
        reason = _require_text(reason, "reason")
        if isinstance(reviews_required, bool) or not isinstance(reviews_required, int):
            raise InputError(
                f"reviews_required must be an integer, got {reviews_required!r}",
                field="reviews_required",
            )
        if reviews_required < 1:
            raise InputError(
                f"reviews_required is {reviews_required}, but it must be at least 1",
                field="reviews_required",
            )
        if isinstance(triplets, Triplet):
            raise TypeError(
                "enqueue() takes an iterable of triplets, not a single Triplet. Wrap it in a list"
            )
        batch = list(triplets)
        for index, triplet in enumerate(batch):
            if not isinstance(triplet, Triplet):
                raise TypeError(
                    f"triplets[{index}] is a {type(triplet).__name__}, expected a Triplet"
                )

        now = _now()
        added = 0
        changed: list[str] = []
        with self._transaction(write=True) as conn:
            position = conn.execute("SELECT COALESCE(MAX(position), 0) FROM items").fetchone()[0]
            for triplet in batch:
                triplet_json = triplet.model_dump_json()
                row = conn.execute(
                    "SELECT triplet_json FROM items WHERE triplet_id = ?", (triplet.triplet_id,)
                ).fetchone()
                if row is not None:
                    if json.loads(row[0]) != json.loads(triplet_json):
                        changed.append(triplet.triplet_id)
                    continue
                position += 1
                conn.execute(
                    """
                    INSERT INTO items (triplet_id, position, triplet_json, problem_id,
                                       construction_label, precheck_verdict, reason, gold,
                                       reviews_required, status, enqueued_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)
                    """,
                    (
                        triplet.triplet_id,
                        position,
                        triplet_json,
                        triplet.problem_id,
                        triplet.label,
                        triplet.check.verdict if triplet.check is not None else None,
                        reason,
                        int(bool(gold)),
                        reviews_required,
                        now,
                    ),
                )
                added += 1

        if changed:
            logger.warning(
                "%d queued triplet(s) differ from the stored version and were left unchanged, "
                "for example %s",
                len(changed),
                changed[0],
            )
        logger.info("enqueued %d new of %d triplet(s) (reason: %s)", added, len(batch), reason)
        return added

    def add_reviewer(self, reviewer_id: str, level: int = 1, *, name: str | None = None) -> bool:
        """Register a reviewer, or change the level or name of an existing one.

        Returns True when the reviewer is new. Labels already given keep the
        level the reviewer had at the time.
        """
        reviewer_id = _require_text(reviewer_id, "reviewer_id")
        if isinstance(level, bool) or level not in REVIEWER_LEVELS:
            raise InputError(
                f"reviewer level {level!r} is invalid", field="level", hint="Use 1 or 2"
            )
        name = reviewer_id if name is None else _require_text(name, "name")
        with self._transaction(write=True) as conn:
            row = conn.execute(
                "SELECT name, level FROM reviewers WHERE reviewer_id = ?", (reviewer_id,)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO reviewers (reviewer_id, name, level, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (reviewer_id, name, level, _now()),
                )
                logger.info("added reviewer %s at level %d", reviewer_id, level)
                return True
            if (row[0], row[1]) != (name, level):
                conn.execute(
                    "UPDATE reviewers SET name = ?, level = ? WHERE reviewer_id = ?",
                    (name, level, reviewer_id),
                )
                logger.info(
                    "changed reviewer %s from level %d to level %d", reviewer_id, row[1], level
                )
            return False

    def next_item(self, reviewer_id: str) -> Triplet | None:
        """Return the oldest item this reviewer may label next, or None when there is none.

        A level-1 reviewer gets pending items, a level-2 reviewer escalated
        ones. Items the reviewer has labelled before, at any level, are skipped,
        so a level-2 decision comes from someone other than the level-1 labellers.
        NOTE: nothing reserves the returned item, so two reviewers can be served
        the same item. If one of them finalises it, the other's submit() raises.
        """
        reviewer_id = _require_text(reviewer_id, "reviewer_id")
        with self._transaction(write=False) as conn:
            level = _fetch_reviewer_level(conn, reviewer_id)
            status = "pending" if level == 1 else "escalated"
            row = conn.execute(
                """
                SELECT triplet_json FROM items
                WHERE status = ?
                  AND NOT EXISTS (SELECT 1 FROM labels
                                  WHERE labels.triplet_id = items.triplet_id
                                    AND labels.reviewer_id = ?)
                ORDER BY position
                LIMIT 1
                """,
                (status, reviewer_id),
            ).fetchone()
        return None if row is None else Triplet.model_validate_json(row[0])

    def submit(
        self,
        triplet_id: str,
        reviewer_id: str,
        verdict: str,
        error_steps: Sequence[int] | None = (),
        error_type: ErrorType | str | None = None,
        comment: str = "",
        seconds_spent: float | None = None,
        *,
        request_id: str | None = None,
    ) -> str:
        """Record one label at the reviewer's level and return the item's new status.

        See submit_label(), which also returns the label id.
        """
        return self.submit_label(
            triplet_id,
            reviewer_id,
            verdict,
            error_steps,
            error_type,
            comment,
            seconds_spent,
            request_id=request_id,
        ).status

    def submit_label(
        self,
        triplet_id: str,
        reviewer_id: str,
        verdict: str,
        error_steps: Sequence[int] | None = (),
        error_type: ErrorType | str | None = None,
        comment: str = "",
        seconds_spent: float | None = None,
        *,
        request_id: str | None = None,
    ) -> SubmitResult:
        """Record one label at the reviewer's level; return the item's new status and the label id.

        Level 1: the item must be pending. The item stays pending until it has
        `reviews_required` level-1 labels. Then it is final when every one of
        them agrees with the construction label, with the pre-check verdict (an
        absent or `unsure` pre-check counts as agreeing) and with each other;
        an `unsure` verdict, a different verdict, or error steps that differ
        from other non-empty error steps escalate it.
        Level 2: the item must not be final yet. A `correct` or `incorrect`
        label makes it final, and `unsure` leaves it escalated.
        Raises InputError naming the field for an invalid value, an unknown
        item or reviewer, an item not open to this level, or a second label by
        the same reviewer at the same level.

        `request_id` makes the call idempotent: a request id that was submitted
        before returns that submission's result and writes nothing, so a client
        may retry a submission whose answer it never received. The reviewer's
        draft and assignment of the item are removed in the same transaction.
        """
        triplet_id = _require_text(triplet_id, "triplet_id")
        reviewer_id = _require_text(reviewer_id, "reviewer_id")
        verdict = _validate_verdict(verdict)
        steps = _validate_error_steps(error_steps, verdict)
        error_type_value = _validate_error_type(error_type, verdict)
        comment = _validate_comment(comment)
        seconds = _validate_seconds(seconds_spent)
        if request_id is not None:
            request_id = _require_text(request_id, "request_id")

        with self._transaction(write=True) as conn:
            if request_id is not None:
                previous = conn.execute(
                    "SELECT reviewer_id, triplet_id, label_id, status FROM submissions "
                    "WHERE request_id = ?",
                    (request_id,),
                ).fetchone()
                if previous is not None:
                    if (previous[0], previous[1]) != (reviewer_id, triplet_id):
                        raise InputError(
                            f"request id {request_id!r} was already used for another submission",
                            field="request_id",
                            hint="Use a new request id for each label",
                        )
                    return SubmitResult(status=previous[3], label_id=previous[2], replayed=True)
            level = _fetch_reviewer_level(conn, reviewer_id)
            item = _fetch_item(conn, triplet_id)
            triplet = Triplet.model_validate_json(item["triplet_json"])
            for step in steps:
                if not 1 <= step <= len(triplet.steps):
                    raise InputError(
                        f"error step {step} is outside 1..{len(triplet.steps)}, the steps of "
                        f"proof {triplet_id!r}",
                        field="error_steps",
                        hint="Steps are numbered from 1",
                    )
            _check_open_for(item, level, reviewer_id)
            duplicate = conn.execute(
                "SELECT 1 FROM labels WHERE triplet_id = ? AND reviewer_id = ? AND level = ?",
                (triplet_id, reviewer_id, level),
            ).fetchone()
            if duplicate is not None:
                raise InputError(
                    f"reviewer {reviewer_id!r} has already labelled item {triplet_id!r} at "
                    f"level {level}, and labels cannot be changed",
                    field="reviewer_id",
                    hint=(
                        "A level-2 reviewer can overrule a level-1 label"
                        if level == 1
                        else "Another level-2 reviewer has to decide this item"
                    ),
                )

            now = _now()
            label_id = conn.execute(
                """
                INSERT INTO labels (triplet_id, reviewer_id, level, verdict, error_steps,
                                    error_type, comment, seconds_spent, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                RETURNING label_id
                """,
                (
                    triplet_id,
                    reviewer_id,
                    level,
                    verdict,
                    json.dumps(steps),
                    error_type_value,
                    comment,
                    seconds,
                    now,
                ),
            ).fetchone()[0]
            status = self._apply_label(
                conn, item, triplet, level, verdict, steps, error_type_value, label_id, now
            )
            if request_id is not None:
                conn.execute(
                    "INSERT INTO submissions (request_id, reviewer_id, triplet_id, label_id, "
                    "status, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (request_id, reviewer_id, triplet_id, label_id, status, now),
                )
            conn.execute(
                "DELETE FROM drafts WHERE reviewer_id = ? AND triplet_id = ?",
                (reviewer_id, triplet_id),
            )
            conn.execute(
                "DELETE FROM assignments WHERE reviewer_id = ? AND triplet_id = ?",
                (reviewer_id, triplet_id),
            )

        logger.info(
            "reviewer %s (level %d) labelled %s as %s; status %s",
            reviewer_id,
            level,
            triplet_id,
            verdict,
            status,
        )
        return SubmitResult(status=status, label_id=int(label_id))

    def _apply_label(
        self,
        conn: Database,
        item: Any,
        triplet: Triplet,
        level: int,
        verdict: str,
        steps: list[int],
        error_type: str | None,
        label_id: int,
        now: str,
    ) -> str:
        """Move the item to the status that the new label leads to and return that status."""
        triplet_id = item["triplet_id"]
        earlier = conn.execute(
            "SELECT verdict, error_steps FROM labels "
            "WHERE triplet_id = ? AND level = 1 AND label_id <> ? ORDER BY label_id",
            (triplet_id, label_id),
        ).fetchall()
        earlier_labels = [(row[0], json.loads(row[1])) for row in earlier]

        if level == 1:
            # Double review is blind: decide only once every required label is in.
            if len(earlier_labels) + 1 < item["reviews_required"]:
                return "pending"
            decisive = _level1_agrees(item, triplet, verdict, steps, earlier_labels)
        else:
            decisive = verdict != "unsure"
            # A level-2 decision overrules the level-1 labels, so their steps are not reused.
            earlier_labels = []

        if not decisive:
            conn.execute(
                "UPDATE items SET status = 'escalated', escalated_at = COALESCE(escalated_at, ?) "
                "WHERE triplet_id = ?",
                (now, triplet_id),
            )
            return "escalated"

        final_steps, final_type = _final_error_fields(
            triplet, verdict, steps, error_type, earlier_labels
        )
        conn.execute(
            """
            UPDATE items SET status = 'final', final_verdict = ?, final_error_steps = ?,
                             final_error_type = ?, final_label_id = ?, finalized_at = ?
            WHERE triplet_id = ?
            """,
            (verdict, json.dumps(final_steps), final_type, label_id, now, triplet_id),
        )
        return "final"

    # -- results ----------------------------------------------------------------

    def history(self, triplet_id: str) -> list[ReviewEvent]:
        """Return every label on the item, oldest first."""
        triplet_id = _require_text(triplet_id, "triplet_id")
        with self._transaction(write=False) as conn:
            _fetch_item(conn, triplet_id)
            rows = conn.execute(
                "SELECT * FROM labels WHERE triplet_id = ? ORDER BY label_id", (triplet_id,)
            ).fetchall()
        return [_event_from_row(row) for row in rows]

    def final_verdicts(self) -> dict[str, str]:
        """Return the final verdict ("correct" or "incorrect") of each final item, keyed by triplet id."""
        with self._transaction(write=False) as conn:
            rows = conn.execute("SELECT triplet_id, final_verdict FROM items WHERE status = 'final'").fetchall()
        return {row[0]: row[1] for row in rows}

    def final_ids(self) -> set[str]:
        """Return the ids of the final items."""
        with self._transaction(write=False) as conn:
            return {row[0] for row in conn.execute("SELECT triplet_id FROM items WHERE status = 'final'")}

    def final_labels(self) -> dict[str, ReviewEvent]:
        """Return the decisive label of each final item, keyed by triplet id, in queue order.

        The event is the label as the reviewer entered it. When a reviewer
        confirmed an incorrect construction label without naming steps, the
        item's final error steps (in export() and decisions_digest()) are the
        construction's, while the event's error_steps stay empty.
        """
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                """
                SELECT labels.* FROM items
                JOIN labels ON labels.label_id = items.final_label_id
                WHERE items.status = 'final'
                ORDER BY items.position
                """
            ).fetchall()
        return {row["triplet_id"]: _event_from_row(row) for row in rows}

    def stats(self, *, now: datetime | None = None) -> dict[str, Any]:
        """Summarise the queue: depth, throughput, escalation, agreement and per-reviewer quality.

        `escalation_rate` is the share of labelled items that were ever
        escalated (None before the first label). `queue_depth` counts items
        still open (pending or escalated). `throughput` counts labels and final
        decisions in the last hour and day, and labels per hour between the
        first and the last label. `kappa` is Cohen's kappa between the first two
        level-1 verdicts of double-reviewed items (see components.review.metrics).
        Per reviewer, `agreement_rate` is the share of their labels on final
        items that match the final verdict, `gold_accuracy` the share of their
        labels on gold items that match the construction label, `kappa` their
        agreement with the other reviewer of their double-reviewed items, and
        `median_seconds` the median time per label. Rates are None without data.
        """
        from components.review.metrics import cohen_kappa, double_review_pairs, per_reviewer_kappa

        now = now or datetime.now(timezone.utc)
        hour_ago = (now - timedelta(hours=1)).isoformat(timespec="microseconds")
        day_ago = (now - timedelta(days=1)).isoformat(timespec="microseconds")
        with self._transaction(write=False) as conn:
            status_counts = dict.fromkeys(STATUSES, 0)
            for status, count in conn.execute(
                "SELECT status, COUNT(*) FROM items GROUP BY status"
            ):
                status_counts[status] = count
            labelled, escalated = conn.execute(
                """
                SELECT COUNT(*), COUNT(escalated_at) FROM items
                WHERE EXISTS (SELECT 1 FROM labels WHERE labels.triplet_id = items.triplet_id)
                """
            ).fetchone()
            total_labels = conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0]
            reviewer_rows = conn.execute(_REVIEWER_STATS_SQL).fetchall()
            gold_items = conn.execute("SELECT COUNT(*) FROM items WHERE gold = 1").fetchone()[0]
            double_items = conn.execute(
                "SELECT COUNT(*) FROM items WHERE reviews_required >= 2"
            ).fetchone()[0]
            window = conn.execute(
                """
                SELECT COUNT(*) FILTER (WHERE created_at >= ?),
                       COUNT(*) FILTER (WHERE created_at >= ?),
                       MIN(created_at), MAX(created_at)
                FROM labels
                """,
                (hour_ago, day_ago),
            ).fetchone()
            finals_day = conn.execute(
                "SELECT COUNT(*) FROM items WHERE status = 'final' AND finalized_at >= ?",
                (day_ago,),
            ).fetchone()[0]
            double_rows = conn.execute(
                """
                SELECT labels.triplet_id, labels.reviewer_id, labels.verdict FROM labels
                JOIN items ON items.triplet_id = labels.triplet_id
                WHERE items.reviews_required >= 2 AND labels.level = 1
                ORDER BY labels.label_id
                """
            ).fetchall()
            seconds_rows = conn.execute(
                "SELECT reviewer_id, seconds_spent FROM labels WHERE seconds_spent IS NOT NULL "
                "ORDER BY reviewer_id, seconds_spent"
            ).fetchall()

        pairs = double_review_pairs((row[0], row[1], row[2]) for row in double_rows)
        kappa = cohen_kappa([(a[1], b[1]) for a, b in pairs])
        kappa_by_reviewer = per_reviewer_kappa(pairs)
        seconds_by_reviewer: dict[str, list[float]] = {}
        for reviewer_id, seconds in seconds_rows:
            seconds_by_reviewer.setdefault(reviewer_id, []).append(float(seconds))

        reviewers = {}
        for row in reviewer_rows:
            entry = _reviewer_stats(row)
            mine = kappa_by_reviewer.get(row["reviewer_id"])
            entry["double_reviewed"] = 0 if mine is None else mine["items"]
            entry["kappa"] = None if mine is None else mine["kappa"]
            entry["median_seconds"] = _median(seconds_by_reviewer.get(row["reviewer_id"], []))
            reviewers[row["reviewer_id"]] = entry

        labels_hour, labels_day, first_label, last_label = window
        span_hours = None
        if first_label is not None and last_label is not None:
            span = datetime.fromisoformat(last_label) - datetime.fromisoformat(first_label)
            span_hours = span.total_seconds() / 3600
        return {
            "items": sum(status_counts.values()),
            "status": status_counts,
            "queue_depth": status_counts["pending"] + status_counts["escalated"],
            "gold_items": gold_items,
            "double_review_items": double_items,
            "labels": total_labels,
            "labels_per_reviewer": {rid: entry["labels"] for rid, entry in reviewers.items()},
            "escalation_rate": escalated / labelled if labelled else None,
            "throughput": {
                "labels_last_hour": labels_hour,
                "labels_last_day": labels_day,
                "final_last_day": finals_day,
                "labels_per_hour": (
                    total_labels / span_hours if span_hours and span_hours > 0 else None
                ),
            },
            "kappa": kappa,
            "reviewers": reviewers,
        }

    def export(self, path: str | Path, format: str | None = None) -> int:
        """Write the final items as JSONL or parquet, atomically, and return how many were written.

        The format follows `format`, else the file suffix (`.parquet`, anything
        else JSONL). Each record contains the triplet, whose `review` list is
        extended with the store's history of the item, the final verdict,
        error steps and error type, the deciding reviewer and level, the ids of
        all its reviewers, their comments, and `agreement`: the share of its
        level-1 labels whose verdict matches the final verdict. Parquet stores
        the nested fields (`triplet`, `labels`) as JSON text.
        """
        path = Path(path)
        if format is None:
            format = "parquet" if path.suffix == ".parquet" else "jsonl"
        if format not in EXPORT_FORMATS:
            raise InputError(
                f"export format {format!r} is not supported",
                field="format",
                hint=f"Use one of: {', '.join(EXPORT_FORMATS)}",
            )
        records = self.export_records()
        if format == "jsonl":
            write_jsonl_atomic(path, records)
        else:
            _write_parquet_atomic(path, records)
        logger.info("exported %d final item(s) to %s", len(records), path)
        return len(records)

    def export_records(self) -> list[dict[str, Any]]:
        """Return the records that export() writes, in queue order."""
        with self._transaction(write=False) as conn:
            items = conn.execute(
                """
                SELECT items.*, labels.reviewer_id AS decided_by, labels.level AS decided_level
                FROM items JOIN labels ON labels.label_id = items.final_label_id
                WHERE items.status = 'final'
                ORDER BY items.position
                """
            ).fetchall()
            history: dict[str, list[ReviewEvent]] = {}
            for row in conn.execute(
                """
                SELECT labels.* FROM labels JOIN items ON items.triplet_id = labels.triplet_id
                WHERE items.status = 'final'
                ORDER BY labels.label_id
                """
            ):
                history.setdefault(row["triplet_id"], []).append(_event_from_row(row))
        return [_export_record(item, history[item["triplet_id"]]) for item in items]

    def decisions_digest(self) -> str:
        """Return a sha256 hex digest of the final decisions (id, verdict, error steps, error type).

        It changes exactly when a final decision is added, which makes it a
        cache key for a stage that consumes the review results.
        """
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                """
                SELECT triplet_id, final_verdict, final_error_steps, final_error_type
                FROM items WHERE status = 'final' ORDER BY triplet_id
                """
            ).fetchall()
        decisions = [[row[0], row[1], json.loads(row[2]), row[3]] for row in rows]
        payload = json.dumps(decisions, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# -- rules ------------------------------------------------------------------------


def _check_open_for(item: Any, level: int, reviewer_id: str) -> None:
    """Raise InputError unless a reviewer of `level` may label the item in its current status."""
    status = item["status"]
    if status == "final":
        raise InputError(
            f"item {item['triplet_id']!r} is already final and cannot be labelled again",
            field="triplet_id",
        )
    if level == 1 and status == "escalated":
        raise InputError(
            f"item {item['triplet_id']!r} is escalated, so level-1 reviewer {reviewer_id!r} "
            f"cannot label it",
            field="triplet_id",
            hint="A level-2 reviewer decides escalated items",
        )


def _steps_conflict(first: list[int], second: list[int]) -> bool:
    """Return True when both lists name error steps and they are different steps.

    An empty list means "no steps named", which conflicts with nothing.
    """
    return bool(first) and bool(second) and set(first) != set(second)


def _level1_agrees(
    item: Any,
    triplet: Triplet,
    verdict: str,
    steps: list[int],
    earlier_labels: list[tuple[str, list[int]]],
) -> bool:
    """Return True when a level-1 label agrees with the construction, pre-check and other labels."""
    if verdict == "unsure" or verdict != item["construction_label"]:
        return False
    precheck = item["precheck_verdict"]
    if precheck in ("correct", "incorrect") and precheck != verdict:
        return False
    if _steps_conflict(steps, triplet.error_steps):
        return False
    for other_verdict, other_steps in earlier_labels:
        if other_verdict != verdict or _steps_conflict(steps, other_steps):
            return False
    return True


def _final_error_fields(
    triplet: Triplet,
    verdict: str,
    steps: list[int],
    error_type: str | None,
    earlier_labels: list[tuple[str, list[int]]],
) -> tuple[list[int], str | None]:
    """Return the final error steps and error type for a decisive label.

    Steps the decisive label leaves out come from the latest agreeing label
    that names some, then from the construction when its label is also incorrect.
    """
    if verdict != "incorrect":
        return [], None
    construction_agrees = triplet.label == "incorrect"
    if not steps:
        named = [other_steps for _, other_steps in earlier_labels if other_steps]
        if named:
            steps = named[-1]
        elif construction_agrees:
            steps = list(triplet.error_steps)
    if error_type is None and construction_agrees and triplet.error_type is not None:
        error_type = triplet.error_type.value
    return sorted(steps), error_type


# -- validation -------------------------------------------------------------------


def _require_text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{field} must be a non-blank string, got {value!r:.80}", field=field)
    _reject_nul(value, field)
    return value


def _reject_nul(value: str, field: str) -> None:
    # PostgreSQL text cannot hold NUL, so neither back end stores it.
    if "\x00" in value:
        raise InputError(f"{field} contains a NUL character (\\x00)", field=field, hint="Remove it and submit again")


def _validate_comment(comment: object) -> str:
    if not isinstance(comment, str):
        raise InputError(f"comment must be a string, got {comment!r:.80}", field="comment")
    if len(comment) > MAX_COMMENT_CHARS:
        raise InputError(
            f"comment has {len(comment)} characters, more than the limit of {MAX_COMMENT_CHARS}",
            field="comment",
            hint="Shorten it",
        )
    _reject_nul(comment, "comment")
    return comment


def _validate_verdict(verdict: object) -> str:
    if verdict not in VERDICTS:
        raise InputError(
            f"{verdict!r:.80} is not a valid verdict",
            field="verdict",
            hint=f"Use one of: {', '.join(VERDICTS)}",
        )
    return str(verdict)


def _validate_error_steps(error_steps: Sequence[int] | None, verdict: str) -> list[int]:
    """Return the steps sorted and without duplicates. submit() checks their range."""
    if error_steps is None:
        return []
    if isinstance(error_steps, (str, bytes)):
        raise InputError(
            f"error_steps must be a list of step numbers, got {error_steps!r:.80}",
            field="error_steps",
        )
    steps = list(error_steps)
    for step in steps:
        if isinstance(step, bool) or not isinstance(step, int):
            raise InputError(
                f"error step {step!r:.80} is not an integer step number", field="error_steps"
            )
    if steps and verdict == "correct":
        raise InputError(
            f"error_steps {steps} were given with verdict 'correct'",
            field="error_steps",
            hint="Name error steps only for an incorrect or unsure verdict",
        )
    return sorted(set(steps))


def _validate_error_type(error_type: ErrorType | str | None, verdict: str) -> str | None:
    if error_type is None:
        return None
    try:
        value = ErrorType(error_type).value
    except ValueError:
        raise InputError(
            f"{error_type!r:.80} is not a known error type",
            field="error_type",
            hint=f"Use one of: {', '.join(member.value for member in ErrorType)}",
        ) from None
    if verdict == "correct":
        raise InputError(
            f"error_type {value!r} was given with verdict 'correct'",
            field="error_type",
            hint="Name an error type only for an incorrect or unsure verdict",
        )
    return value


def _validate_seconds(seconds_spent: float | None) -> float | None:
    if seconds_spent is None:
        return None
    if isinstance(seconds_spent, bool) or not isinstance(seconds_spent, (int, float)):
        raise InputError(
            f"seconds_spent must be a number, got {seconds_spent!r:.80}", field="seconds_spent"
        )
    if not math.isfinite(seconds_spent) or seconds_spent < 0:
        raise InputError(
            f"seconds_spent is {seconds_spent}, but it must be a finite number of seconds, "
            "0 or more",
            field="seconds_spent",
        )
    return float(seconds_spent)


# -- row helpers ------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _fetch_reviewer_level(conn: Database, reviewer_id: str) -> int:
    row = conn.execute(
        "SELECT level FROM reviewers WHERE reviewer_id = ?", (reviewer_id,)
    ).fetchone()
    if row is None:
        raise InputError(
            f"reviewer {reviewer_id!r} not found",
            field="reviewer_id",
            hint="Register the reviewer with add_reviewer() first",
        )
    return int(row[0])


def _fetch_item(conn: Database, triplet_id: str) -> Any:
    row = conn.execute("SELECT * FROM items WHERE triplet_id = ?", (triplet_id,)).fetchone()
    if row is None:
        raise InputError(
            f"item {triplet_id!r} not found in the review queue",
            field="triplet_id",
            hint="Check the id, or enqueue the triplet first",
        )
    return row


def _event_from_row(row: Any) -> ReviewEvent:
    return ReviewEvent(
        reviewer=row["reviewer_id"],
        level=row["level"],
        verdict=row["verdict"],
        error_steps=json.loads(row["error_steps"]),
        error_type=row["error_type"],
        comment=row["comment"],
        seconds_spent=row["seconds_spent"],
        created_at=datetime.fromisoformat(row["created_at"]),
    )


def _export_record(item: Any, history: list[ReviewEvent]) -> dict[str, Any]:
    triplet = Triplet.model_validate_json(item["triplet_json"])
    reviewed = triplet.model_copy(update={"review": [*triplet.review, *history]})
    reviewer_ids = list(dict.fromkeys(event.reviewer for event in history))
    level_1 = [event for event in history if event.level == 1]
    agreeing = sum(1 for event in level_1 if event.verdict == item["final_verdict"])
    return {
        "triplet_id": item["triplet_id"],
        "triplet": reviewed.model_dump(mode="json"),
        "final_verdict": item["final_verdict"],
        "final_error_steps": json.loads(item["final_error_steps"]),
        "final_error_type": item["final_error_type"],
        "decided_by": item["decided_by"],
        "decided_level": item["decided_level"],
        "reviewers": reviewer_ids,
        "comments": [
            {"reviewer": event.reviewer, "level": event.level, "comment": event.comment}
            for event in history
            if event.comment
        ],
        "agreement": agreeing / len(level_1) if level_1 else None,
        "reason": item["reason"],
        "gold": bool(item["gold"]),
        "enqueued_at": item["enqueued_at"],
        "finalized_at": item["finalized_at"],
    }


_REVIEWER_STATS_SQL = """
SELECT reviewers.reviewer_id, reviewers.name, reviewers.level,
       COUNT(labels.label_id) AS labels,
       COUNT(*) FILTER (WHERE labels.level = 1) AS level_1_labels,
       COUNT(*) FILTER (WHERE labels.level = 2) AS level_2_labels,
       COUNT(*) FILTER (WHERE labels.verdict = 'correct') AS correct,
       COUNT(*) FILTER (WHERE labels.verdict = 'incorrect') AS incorrect,
       COUNT(*) FILTER (WHERE labels.verdict = 'unsure') AS unsure,
       COALESCE(SUM(labels.seconds_spent), 0.0) AS seconds_spent,
       COUNT(*) FILTER (WHERE items.status = 'final') AS final_labels,
       COUNT(*) FILTER (WHERE items.status = 'final' AND labels.verdict = items.final_verdict)
           AS final_agreements,
       COUNT(*) FILTER (WHERE items.gold = 1) AS gold_labels,
       COUNT(*) FILTER (WHERE items.gold = 1 AND labels.verdict = items.construction_label)
           AS gold_agreements
FROM reviewers
LEFT JOIN labels ON labels.reviewer_id = reviewers.reviewer_id
LEFT JOIN items ON items.triplet_id = labels.triplet_id
GROUP BY reviewers.reviewer_id, reviewers.name, reviewers.level
ORDER BY reviewers.reviewer_id
"""


def _reviewer_stats(row: Any) -> dict[str, Any]:
    return {
        "name": row["name"],
        "level": row["level"],
        "labels": row["labels"],
        "level_1_labels": row["level_1_labels"],
        "level_2_labels": row["level_2_labels"],
        "verdicts": {verdict: row[verdict] for verdict in VERDICTS},
        "seconds_spent": float(row["seconds_spent"]),
        "agreement_rate": _ratio(row["final_agreements"], row["final_labels"]),
        "gold_labels": row["gold_labels"],
        "gold_accuracy": _ratio(row["gold_agreements"], row["gold_labels"]),
    }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _write_parquet_atomic(path: Path, records: list[dict[str, Any]]) -> None:
    """Write export records as one parquet table; nested fields go in as JSON text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from components.io import atomic_path

    schema = pa.schema(
        [
            ("triplet_id", pa.string()),
            ("problem_id", pa.string()),
            ("final_verdict", pa.string()),
            ("final_error_steps", pa.list_(pa.int64())),
            ("final_error_type", pa.string()),
            ("decided_by", pa.string()),
            ("decided_level", pa.int64()),
            ("reviewers", pa.list_(pa.string())),
            ("comments", pa.list_(pa.string())),
            ("agreement", pa.float64()),
            ("reason", pa.string()),
            ("gold", pa.bool_()),
            ("enqueued_at", pa.string()),
            ("finalized_at", pa.string()),
            ("labels_json", pa.string()),
            ("triplet_json", pa.string()),
        ]
    )
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for record in records:
        triplet = record["triplet"]
        row = {
            "triplet_id": record["triplet_id"],
            "problem_id": triplet["problem_id"],
            "final_verdict": record["final_verdict"],
            "final_error_steps": record["final_error_steps"],
            "final_error_type": record["final_error_type"],
            "decided_by": record["decided_by"],
            "decided_level": record["decided_level"],
            "reviewers": record["reviewers"],
            "comments": [
                f"{entry['reviewer']} (level {entry['level']}): {entry['comment']}"
                for entry in record["comments"]
            ],
            "agreement": record["agreement"],
            "reason": record["reason"],
            "gold": record["gold"],
            "enqueued_at": record["enqueued_at"],
            "finalized_at": record["finalized_at"],
            "labels_json": json.dumps(triplet["review"], ensure_ascii=False),
            "triplet_json": json.dumps(triplet, ensure_ascii=False, sort_keys=True),
        }
        for name in schema.names:
            columns[name].append(row[name])
    table = pa.table(columns, schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_export(path: str | Path) -> list[Triplet]:
    """Read an export (JSONL or parquet) back as reviewed triplets, with their review history."""
    from components.io import iter_jsonl, require_file

    file = require_file(path, "review export")
    if file.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(file, columns=["triplet_json"]).column("triplet_json").to_pylist()
        return [Triplet.model_validate_json(text) for text in rows]
    return [Triplet.model_validate(record["triplet"]) for _, record in iter_jsonl(file)]
