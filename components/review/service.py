"""The review store as the web service uses it: sign-in, sessions, assignments, drafts.

`ReviewService` is a `ReviewStore` with the operations of the web app on top.
Every rule that decides who may see or write what lives here, server-side, so
the web pages and the JSON API enforce the same hierarchy:

- a level-1 reviewer sees pending items only, never the labels of others, and
  cannot open escalated or final items;
- a level-2 reviewer sees escalated (and pending) items with their whole label
  history, and their label decides the item.

Tokens and session ids are random 256-bit strings shown once and stored as
SHA-256 hashes: a stolen database does not sign anyone in. (A slow password
hash is for low-entropy secrets; these tokens cannot be guessed.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from components.errors import InputError
from components.proofs.schema import ErrorType, ReviewEvent, Triplet
from components.review.store import MAX_COMMENT_CHARS, VERDICTS, ReviewStore, _event_from_row, _now

TOKEN_PREFIX = "rvw_"
SESSION_TTL = timedelta(hours=12)
LEASE_TTL = timedelta(minutes=30)


class AccessDenied(Exception):
    """The reviewer's level does not allow this (HTTP 403)."""


class NotOpen(Exception):
    """The item exists but is not open to this reviewer: final, escalated, or labelled already (HTTP 409)."""


class NotFound(Exception):
    """No such item (HTTP 404)."""


@dataclass(frozen=True)
class Reviewer:
    reviewer_id: str
    name: str
    level: int


@dataclass
class ItemView:
    """What the item page shows one reviewer. `history` is empty for level-1 reviewers."""

    triplet: Triplet
    status: str
    reviews_required: int
    draft: dict[str, Any]
    draft_seconds: float
    opened_at: str
    history: list[ReviewEvent] = field(default_factory=list)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a session: an HMAC of a fixed purpose under the session's secret id."""
    return hmac.new(session_token.encode("utf-8"), b"reprolab-review-csrf", hashlib.sha256).hexdigest()


class ReviewService(ReviewStore):
    """Review store plus reviewer tokens, sessions, item assignments and drafts."""

    # -- reviewers and tokens ------------------------------------------------------

    def reviewer(self, reviewer_id: str) -> Reviewer:
        with self._transaction(write=False) as conn:
            row = conn.execute(
                "SELECT reviewer_id, name, level FROM reviewers WHERE reviewer_id = ?", (reviewer_id,)
            ).fetchone()
        if row is None:
            raise InputError(f"reviewer {reviewer_id!r} not found", field="reviewer_id")
        return Reviewer(row[0], row[1], int(row[2]))

    def issue_token(self, reviewer_id: str, *, revoke_others: bool = False) -> str:
        """Create a sign-in token for the reviewer, store only its hash, and return it (shown once)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = _now()
        with self._transaction(write=True) as conn:
            if conn.execute("SELECT 1 FROM reviewers WHERE reviewer_id = ?", (reviewer_id,)).fetchone() is None:
                raise InputError(f"reviewer {reviewer_id!r} not found", field="reviewer_id",
                                 hint="Add the reviewer first")
            if revoke_others:
                conn.execute(
                    "UPDATE reviewer_tokens SET revoked_at = ? WHERE reviewer_id = ? AND revoked_at IS NULL",
                    (now, reviewer_id),
                )
                conn.execute(
                    "UPDATE sessions SET revoked_at = ? WHERE reviewer_id = ? AND revoked_at IS NULL",
                    (now, reviewer_id),
                )
            conn.execute(
                "INSERT INTO reviewer_tokens (token_hash, reviewer_id, created_at) VALUES (?, ?, ?)",
                (hash_secret(token), reviewer_id, now),
            )
        return token

    def authenticate_token(self, token: str | None) -> Reviewer | None:
        """Return the reviewer a valid, unrevoked token belongs to, else None."""
        if not token or not isinstance(token, str) or len(token) > 200:
            return None
        with self._transaction(write=False) as conn:
            row = conn.execute(
                """
                SELECT reviewers.reviewer_id, reviewers.name, reviewers.level FROM reviewer_tokens
                JOIN reviewers ON reviewers.reviewer_id = reviewer_tokens.reviewer_id
                WHERE reviewer_tokens.token_hash = ? AND reviewer_tokens.revoked_at IS NULL
                """,
                (hash_secret(token),),
            ).fetchone()
        return None if row is None else Reviewer(row[0], row[1], int(row[2]))

    # -- sessions -------------------------------------------------------------------

    def create_session(self, reviewer_id: str, ttl: timedelta = SESSION_TTL) -> str:
        session = secrets.token_urlsafe(32)
        now = datetime.now(timezone.utc)
        with self._transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO sessions (session_hash, reviewer_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (hash_secret(session), reviewer_id, now.isoformat(), (now + ttl).isoformat()),
            )
            conn.execute(
                "UPDATE reviewer_tokens SET last_used_at = ? WHERE reviewer_id = ? AND revoked_at IS NULL",
                (now.isoformat(), reviewer_id),
            )
        return session

    def session_reviewer(self, session: str | None) -> Reviewer | None:
        if not session or len(session) > 200:
            return None
        now = datetime.now(timezone.utc).isoformat()
        with self._transaction(write=False) as conn:
            row = conn.execute(
                """
                SELECT reviewers.reviewer_id, reviewers.name, reviewers.level FROM sessions
                JOIN reviewers ON reviewers.reviewer_id = sessions.reviewer_id
                WHERE sessions.session_hash = ? AND sessions.revoked_at IS NULL
                  AND sessions.expires_at > ?
                """,
                (hash_secret(session), now),
            ).fetchone()
        return None if row is None else Reviewer(row[0], row[1], int(row[2]))

    def end_session(self, session: str) -> None:
        with self._transaction(write=True) as conn:
            conn.execute(
                "UPDATE sessions SET revoked_at = ? WHERE session_hash = ? AND revoked_at IS NULL",
                (_now(), hash_secret(session)),
            )

    # -- queue ------------------------------------------------------------------------

    def claim_next(self, reviewer: Reviewer, lease: timedelta = LEASE_TTL) -> str | None:
        """Return the id of the item this reviewer should work on next, and assign it to them.

        A reviewer first resumes their most recent draft. Otherwise they get the
        oldest item open to their level that they have not labelled and that is
        not already assigned to as many other reviewers as it still needs labels,
        so concurrent reviewers are spread over the queue. Assignments expire.
        """
        now = datetime.now(timezone.utc)
        now_text, expires = now.isoformat(), (now + lease).isoformat()
        status = "pending" if reviewer.level == 1 else "escalated"
        with self._transaction(write=True) as conn:
            row = conn.execute(
                f"""
                SELECT drafts.triplet_id FROM drafts JOIN items ON items.triplet_id = drafts.triplet_id
                WHERE drafts.reviewer_id = ? AND items.status IN ({_open_statuses(reviewer.level)})
                  AND NOT EXISTS (SELECT 1 FROM labels WHERE labels.triplet_id = items.triplet_id
                                    AND labels.reviewer_id = drafts.reviewer_id
                                    AND labels.level = ?)
                ORDER BY drafts.updated_at DESC LIMIT 1
                """,
                (reviewer.reviewer_id, reviewer.level),
            ).fetchone()
            if row is None:
                row = conn.execute(
                    """
                    SELECT items.triplet_id FROM items
                    WHERE items.status = ?
                      AND NOT EXISTS (SELECT 1 FROM labels WHERE labels.triplet_id = items.triplet_id
                                        AND labels.reviewer_id = ?)
                      AND (SELECT COUNT(*) FROM assignments
                           WHERE assignments.triplet_id = items.triplet_id
                             AND assignments.reviewer_id <> ? AND assignments.expires_at > ?)
                          < CASE WHEN items.status = 'pending'
                                 THEN items.reviews_required
                                      - (SELECT COUNT(*) FROM labels
                                         WHERE labels.triplet_id = items.triplet_id AND labels.level = 1)
                                 ELSE 1 END
                    ORDER BY
                      EXISTS (SELECT 1 FROM assignments WHERE assignments.triplet_id = items.triplet_id
                                AND assignments.reviewer_id = ? AND assignments.expires_at > ?) DESC,
                      items.position
                    LIMIT 1
                    """,
                    (status, reviewer.reviewer_id, reviewer.reviewer_id, now_text,
                     reviewer.reviewer_id, now_text),
                ).fetchone()
            if row is None:
                return None
            _assign(conn, row[0], reviewer.reviewer_id, now_text, expires)
            return str(row[0])

    def open_item(self, reviewer: Reviewer, triplet_id: str, lease: timedelta = LEASE_TTL) -> ItemView:
        """Return the item as this reviewer may see it and record that they opened it.

        Raises NotFound for an unknown item and NotOpen for one this reviewer
        may not label now (final; escalated for level 1; labelled by them).
        """
        now = datetime.now(timezone.utc)
        with self._transaction(write=True) as conn:
            item = _item_open_to(conn, reviewer, triplet_id)
            _assign(conn, triplet_id, reviewer.reviewer_id, now.isoformat(), (now + lease).isoformat())
            opened_at = conn.execute(
                "SELECT opened_at FROM assignments WHERE triplet_id = ? AND reviewer_id = ?",
                (triplet_id, reviewer.reviewer_id),
            ).fetchone()[0]
            draft_row = conn.execute(
                "SELECT draft_json, seconds_spent FROM drafts WHERE reviewer_id = ? AND triplet_id = ?",
                (reviewer.reviewer_id, triplet_id),
            ).fetchone()
            history: list[ReviewEvent] = []
            if reviewer.level == 2:
                history = [
                    _event_from_row(row)
                    for row in conn.execute(
                        "SELECT * FROM labels WHERE triplet_id = ? ORDER BY label_id", (triplet_id,)
                    )
                ]
        return ItemView(
            triplet=Triplet.model_validate_json(item["triplet_json"]),
            status=item["status"],
            reviews_required=int(item["reviews_required"]),
            draft=json.loads(draft_row[0]) if draft_row else {},
            draft_seconds=float(draft_row[1]) if draft_row else 0.0,
            opened_at=opened_at,
            history=history,
        )

    def item_history(self, reviewer: Reviewer, triplet_id: str) -> list[ReviewEvent]:
        """Every label on an item; level 2 only."""
        if reviewer.level != 2:
            raise AccessDenied("only level-2 reviewers can read the labels of an item")
        with self._transaction(write=False) as conn:
            if conn.execute("SELECT 1 FROM items WHERE triplet_id = ?", (triplet_id,)).fetchone() is None:
                raise NotFound(triplet_id)
            rows = conn.execute(
                "SELECT * FROM labels WHERE triplet_id = ? ORDER BY label_id", (triplet_id,)
            ).fetchall()
        return [_event_from_row(row) for row in rows]

    def escalated_items(self, reviewer: Reviewer, limit: int = 200) -> list[dict[str, Any]]:
        """Escalated items with how many labels each has; level 2 only."""
        if reviewer.level != 2:
            raise AccessDenied("only level-2 reviewers can list escalated items")
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                """
                SELECT items.triplet_id, items.problem_id, items.escalated_at,
                       (SELECT COUNT(*) FROM labels WHERE labels.triplet_id = items.triplet_id) AS labels,
                       EXISTS (SELECT 1 FROM labels WHERE labels.triplet_id = items.triplet_id
                                 AND labels.reviewer_id = ?) AS mine
                FROM items WHERE status = 'escalated' ORDER BY position LIMIT ?
                """,
                (reviewer.reviewer_id, limit),
            ).fetchall()
        return [dict(row) for row in rows]

    def queue_summary(self, reviewer: Reviewer) -> dict[str, Any]:
        """Counts for the queue page: items open to this reviewer, their drafts and their labels."""
        status = "pending" if reviewer.level == 1 else "escalated"
        with self._transaction(write=False) as conn:
            open_items = conn.execute(
                """
                SELECT COUNT(*) FROM items WHERE status = ?
                  AND NOT EXISTS (SELECT 1 FROM labels WHERE labels.triplet_id = items.triplet_id
                                    AND labels.reviewer_id = ?)
                """,
                (status, reviewer.reviewer_id),
            ).fetchone()[0]
            drafts = [
                dict(row)
                for row in conn.execute(
                    f"""
                    SELECT drafts.triplet_id, drafts.updated_at, drafts.seconds_spent FROM drafts
                    JOIN items ON items.triplet_id = drafts.triplet_id
                    WHERE drafts.reviewer_id = ? AND items.status IN ({_open_statuses(reviewer.level)})
                    ORDER BY drafts.updated_at DESC
                    """,
                    (reviewer.reviewer_id,),
                )
            ]
            labelled = conn.execute(
                "SELECT COUNT(*) FROM labels WHERE reviewer_id = ?", (reviewer.reviewer_id,)
            ).fetchone()[0]
        return {"open": open_items, "drafts": drafts, "labelled": labelled}

    # -- drafts -------------------------------------------------------------------------

    def save_draft(self, reviewer: Reviewer, triplet_id: str, draft: dict[str, Any], seconds: float) -> None:
        """Store the reviewer's unfinished form for an item they may label (replacing the last one)."""
        clean = validate_draft(draft)
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds < 1e7:
            raise InputError(f"seconds must be a number of seconds, got {seconds!r:.40}", field="seconds")
        with self._transaction(write=True) as conn:
            _item_open_to(conn, reviewer, triplet_id)
            conn.execute(
                """
                INSERT INTO drafts (reviewer_id, triplet_id, draft_json, seconds_spent, updated_at)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (reviewer_id, triplet_id) DO UPDATE SET
                    draft_json = excluded.draft_json, seconds_spent = excluded.seconds_spent,
                    updated_at = excluded.updated_at
                """,
                (reviewer.reviewer_id, triplet_id, json.dumps(clean), float(seconds), _now()),
            )

    def seconds_for(self, reviewer: Reviewer, triplet_id: str, client_seconds: float | None) -> float | None:
        """Time spent on an item: the client's active-time count, capped by the time since first opening it.

        Without a client count it is the wall-clock time since the reviewer
        first opened the item; None when they never opened it.
        """
        with self._transaction(write=False) as conn:
            row = conn.execute(
                "SELECT opened_at FROM assignments WHERE triplet_id = ? AND reviewer_id = ?",
                (triplet_id, reviewer.reviewer_id),
            ).fetchone()
        wall = None
        if row is not None:
            wall = max(0.0, (datetime.now(timezone.utc) - datetime.fromisoformat(row[0])).total_seconds())
        if client_seconds is None:
            return wall
        return client_seconds if wall is None else min(client_seconds, wall)


def validate_draft(draft: object) -> dict[str, Any]:
    """Return a draft with only known fields of the right types, or raise InputError."""
    if not isinstance(draft, dict):
        raise InputError("a draft must be an object", field="draft")
    verdict = draft.get("verdict") or ""
    if verdict not in ("", *VERDICTS):
        raise InputError(f"{verdict!r:.40} is not a verdict", field="verdict")
    steps = draft.get("error_steps") or []
    if not isinstance(steps, list) or len(steps) > 1000 or not all(
        isinstance(step, int) and not isinstance(step, bool) and 1 <= step <= 100_000 for step in steps
    ):
        raise InputError("error_steps must be a list of step numbers", field="error_steps")
    error_type = draft.get("error_type") or ""
    if error_type and error_type not in {member.value for member in ErrorType}:
        raise InputError(f"{error_type!r:.40} is not an error type", field="error_type")
    comment = draft.get("comment") or ""
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS or "\x00" in comment:
        raise InputError(f"comment must be text of at most {MAX_COMMENT_CHARS} characters, without NUL",
                         field="comment")
    return {"verdict": verdict, "error_steps": sorted(set(steps)), "error_type": error_type, "comment": comment}


def _open_statuses(level: int) -> str:
    return "'pending'" if level == 1 else "'pending', 'escalated'"


def _assign(conn, triplet_id: str, reviewer_id: str, now: str, expires: str) -> None:
    """Assign the item to the reviewer until `expires`, keeping the time they first opened it."""
    conn.execute(
        """
        INSERT INTO assignments (triplet_id, reviewer_id, opened_at, expires_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (triplet_id, reviewer_id) DO UPDATE SET expires_at = excluded.expires_at
        """,
        (triplet_id, reviewer_id, now, expires),
    )


def _item_open_to(conn, reviewer: Reviewer, triplet_id: str):
    """Return the item row if this reviewer may label it now, else raise NotFound or NotOpen."""
    item = conn.execute("SELECT * FROM items WHERE triplet_id = ?", (triplet_id,)).fetchone()
    if item is None:
        raise NotFound(triplet_id)
    if item["status"] == "final":
        raise NotOpen("this item is final")
    if reviewer.level == 1 and item["status"] != "pending":
        raise NotOpen("this item is escalated to level-2 reviewers")
    mine = conn.execute(
        "SELECT 1 FROM labels WHERE triplet_id = ? AND reviewer_id = ? AND level = ?",
        (triplet_id, reviewer.reviewer_id, reviewer.level),
    ).fetchone()
    if mine is not None:
        raise NotOpen("you have already labelled this item")
    return item
