"""Baseline: the version-1 review schema (reviewers, items, labels, append-only triggers).

Revision ID: 0001
Revises:
Create Date: 2026-12-04

A store that `ReviewStore` created before alembic already has these tables and
is only stamped; an empty database gets them created.
"""

from datetime import datetime, timezone

from alembic import op
from sqlalchemy import inspect, text

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from components.review.store import SCHEMA_VERSION, schema_v1

    bind = op.get_bind()
    if "schema_version" in inspect(bind).get_table_names():
        return
    for statement in schema_v1(bind.dialect.name):
        op.execute(statement)
    bind.execute(
        text("INSERT INTO schema_version (version, applied_at) VALUES (:version, :applied_at)"),
        {"version": SCHEMA_VERSION, "applied_at": datetime.now(timezone.utc).isoformat()},
    )


def downgrade() -> None:
    raise NotImplementedError("the baseline schema holds the labels and is never dropped")
