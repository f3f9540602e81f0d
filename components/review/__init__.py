"""Human review queue for proof triplets: two reviewer levels, append-only labels in SQLite."""

from components.review.store import (
    REVIEWER_LEVELS,
    SCHEMA_VERSION,
    STATUSES,
    VERDICTS,
    ReviewStore,
)

__all__ = ["REVIEWER_LEVELS", "SCHEMA_VERSION", "STATUSES", "VERDICTS", "ReviewStore"]
