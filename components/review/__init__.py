"""Human review queue for proof triplets: two reviewer levels, append-only labels in SQLite or PostgreSQL.

`ReviewStore` is the queue; `components.review.service.ReviewService` adds what
the web app (`components.review.web`) needs: tokens, sessions, assignments and drafts.
"""

from components.review.store import (
    EXPORT_FORMATS,
    REVIEWER_LEVELS,
    SCHEMA_VERSION,
    STATUSES,
    VERDICTS,
    ReviewStore,
    SubmitResult,
    read_export,
)

__all__ = [
    "EXPORT_FORMATS",
    "REVIEWER_LEVELS",
    "SCHEMA_VERSION",
    "STATUSES",
    "VERDICTS",
    "ReviewStore",
    "SubmitResult",
    "read_export",
]
