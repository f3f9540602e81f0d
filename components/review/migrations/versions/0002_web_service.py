"""Web service tables: reviewer tokens, sessions, drafts, assignments, submissions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

Tokens and session ids are stored as SHA-256 hashes only. Drafts and
assignments are working state that may change; labels stay append-only.
`submissions` maps a client's request id to the label it created, so a retried
submission is answered with the first result instead of a second label.
Seconds are REAL in SQLite (8 bytes) and DOUBLE PRECISION in PostgreSQL, where
REAL has 4 bytes.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = (
    """
    CREATE TABLE reviewer_tokens (
        token_hash   TEXT PRIMARY KEY,
        reviewer_id  TEXT NOT NULL REFERENCES reviewers (reviewer_id),
        created_at   TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at   TEXT
    )
    """,
    "CREATE INDEX reviewer_tokens_reviewer ON reviewer_tokens (reviewer_id)",
    """
    CREATE TABLE sessions (
        session_hash TEXT PRIMARY KEY,
        reviewer_id  TEXT NOT NULL REFERENCES reviewers (reviewer_id),
        created_at   TEXT NOT NULL,
        expires_at   TEXT NOT NULL,
        revoked_at   TEXT
    )
    """,
    """
    CREATE TABLE drafts (
        reviewer_id   TEXT NOT NULL REFERENCES reviewers (reviewer_id),
        triplet_id    TEXT NOT NULL REFERENCES items (triplet_id),
        draft_json    TEXT NOT NULL,
        seconds_spent {float} NOT NULL DEFAULT 0 CHECK (seconds_spent >= 0),
        updated_at    TEXT NOT NULL,
        PRIMARY KEY (reviewer_id, triplet_id)
    )
    """,
    """
    CREATE TABLE assignments (
        triplet_id  TEXT NOT NULL REFERENCES items (triplet_id),
        reviewer_id TEXT NOT NULL REFERENCES reviewers (reviewer_id),
        opened_at   TEXT NOT NULL,
        expires_at  TEXT NOT NULL,
        PRIMARY KEY (triplet_id, reviewer_id)
    )
    """,
    "CREATE INDEX assignments_reviewer ON assignments (reviewer_id)",
    """
    CREATE TABLE submissions (
        request_id  TEXT PRIMARY KEY,
        reviewer_id TEXT NOT NULL REFERENCES reviewers (reviewer_id),
        triplet_id  TEXT NOT NULL REFERENCES items (triplet_id),
        label_id    INTEGER NOT NULL UNIQUE REFERENCES labels (label_id),
        status      TEXT NOT NULL,
        created_at  TEXT NOT NULL
    )
    """,
    "CREATE INDEX labels_created_at ON labels (created_at)",
)


def upgrade() -> None:
    float_type = "DOUBLE PRECISION" if op.get_bind().dialect.name == "postgresql" else "REAL"
    for statement in _TABLES:
        op.execute(statement.replace("{float}", float_type))


def downgrade() -> None:
    op.execute("DROP INDEX labels_created_at")
    for table in ("submissions", "assignments", "drafts", "sessions", "reviewer_tokens"):
        op.execute(f"DROP TABLE {table}")
