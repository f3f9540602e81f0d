"""Tests for the review queue in components.review, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from components.errors import InputError
from components.proofs.schema import Check, ErrorType, GenerationMethod, Triplet
from components.review import SCHEMA_VERSION, ReviewStore


def make_triplet(
    triplet_id: str,
    label: str = "correct",
    *,
    precheck: str | None = None,
    error_steps: tuple[int, ...] = (),
    error_type: ErrorType | None = None,
    steps: int = 4,
) -> Triplet:
    if label == "incorrect" and not error_steps:
        error_steps = (2,)
        error_type = error_type or ErrorType.SIGN_ERROR
    return Triplet(
        triplet_id=triplet_id,
        problem_id=f"problem-{triplet_id}",
        question="Prove that the sum of two even integers is even.",
        steps=[f"Step {number} of the proof." for number in range(1, steps + 1)],
        source="bank",
        method=(
            GenerationMethod.ERROR_INJECTION if label == "incorrect" else GenerationMethod.REFERENCE
        ),
        generator="rule-based",
        label=label,
        error_steps=list(error_steps),
        error_type=error_type,
        check=None if precheck is None else Check(verdict=precheck, checker="rule-check"),
    )


def raw_execute(target: Path | str, statement: str) -> None:
    """Run one statement on the store's database with a plain client, outside ReviewStore."""
    if isinstance(target, Path):
        with sqlite3.connect(target) as conn:
            conn.execute(statement)
        return
    import psycopg

    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture
def store(store_target):
    with ReviewStore(store_target) as review_store:
        review_store.add_reviewer("alice", 1)
        review_store.add_reviewer("bob", 1)
        review_store.add_reviewer("carol", 2)
        yield review_store


# -- schema and connection -------------------------------------------------------


def test_schema_version_and_pragmas(tmp_path: Path):
    path = tmp_path / "nested" / "review.db"
    with ReviewStore(path):
        pass
    with sqlite3.connect(path) as conn:
        versions = conn.execute("SELECT version FROM schema_version").fetchall()
        journal_mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert versions == [(SCHEMA_VERSION,)]
    assert SCHEMA_VERSION == 1
    assert journal_mode == "wal"


def test_reopen_keeps_data(store_target):
    path = store_target
    with ReviewStore(path) as first:
        first.add_reviewer("alice")
        first.enqueue([make_triplet("a")], reason="sample")
    with ReviewStore(path) as second:
        assert second.next_item("alice").triplet_id == "a"


def test_newer_schema_version_rejected(store_target):
    with ReviewStore(store_target):
        pass
    raw_execute(store_target, "INSERT INTO schema_version (version, applied_at) VALUES (2, 'later')")
    with pytest.raises(InputError, match=r"schema version is 2"):
        ReviewStore(store_target)


def test_foreign_database_rejected(store_target):
    raw_execute(store_target, "CREATE TABLE runs (id INTEGER)")
    with pytest.raises(InputError, match=r"tables but no review schema \(tables: runs\)"):
        ReviewStore(store_target)


def test_closed_store_raises(store_target):
    review_store = ReviewStore(store_target)
    review_store.close()
    review_store.close()
    with pytest.raises(RuntimeError, match="closed"):
        review_store.stats()


def test_labels_append_only_in_database(store: ReviewStore):
    """The database itself refuses to change labels, whatever client writes to it."""
    store.enqueue([make_triplet("a")], reason="sample")
    store.submit("a", "alice", "correct")
    if store.path is not None:
        conn = sqlite3.connect(store.path)
        try:
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute("UPDATE labels SET verdict = 'incorrect'")
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute("DELETE FROM labels")
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(store.target.url, autocommit=True) as conn:
            for statement in ("UPDATE labels SET verdict = 'incorrect'", "DELETE FROM labels",
                              "TRUNCATE labels CASCADE"):
                with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                    conn.execute(statement)
    assert [event.verdict for event in store.history("a")] == ["correct"]


# -- enqueue and next_item -------------------------------------------------------


def test_enqueue_idempotent(store: ReviewStore):
    triplets = [make_triplet("a"), make_triplet("b"), make_triplet("c", "incorrect")]
    assert store.enqueue(triplets, reason="sample") == 3
    assert store.enqueue(triplets, reason="sample") == 0
    assert store.enqueue([make_triplet("d"), make_triplet("d")], reason="sample") == 1
    assert store.stats()["status"] == {"pending": 4, "escalated": 0, "final": 0}


def test_enqueue_again_keeps_labels_and_status(store: ReviewStore, caplog):
    store.enqueue([make_triplet("a", precheck="incorrect")], reason="precheck disagrees")
    assert store.submit("a", "alice", "correct") == "escalated"

    with caplog.at_level(logging.WARNING, logger="components.review.store"):
        assert store.enqueue([make_triplet("a")], reason="resampled") == 0
    assert "differ from the stored version" in caplog.text

    assert store.stats()["status"]["escalated"] == 1
    assert len(store.history("a")) == 1
    assert store.next_item("carol").check.verdict == "incorrect"


def test_enqueue_rejects_bad_arguments(store: ReviewStore):
    with pytest.raises(InputError, match=r"field 'reason'"):
        store.enqueue([make_triplet("a")], reason=" ")
    with pytest.raises(InputError, match=r"field 'reviews_required'.*0"):
        store.enqueue([make_triplet("a")], reason="sample", reviews_required=0)
    with pytest.raises(TypeError, match="iterable of triplets"):
        store.enqueue(make_triplet("a"), reason="sample")
    with pytest.raises(TypeError, match=r"triplets\[0\] is a dict"):
        store.enqueue([{"triplet_id": "a"}], reason="sample")


def test_next_item_oldest_first(store: ReviewStore):
    store.enqueue([make_triplet("b"), make_triplet("a")], reason="sample")
    store.enqueue([make_triplet("c")], reason="sample")
    assert store.next_item("alice").triplet_id == "b"
    assert store.submit("b", "alice", "correct") == "final"
    assert store.next_item("alice").triplet_id == "a"


def test_next_item_skips_own_labels(store: ReviewStore):
    store.enqueue([make_triplet("a"), make_triplet("b")], reason="sample", reviews_required=2)
    assert store.submit("a", "alice", "correct") == "pending"

    assert store.next_item("alice").triplet_id == "b"
    assert store.next_item("bob").triplet_id == "a"

    store.submit("b", "alice", "correct")
    assert store.next_item("alice") is None


def test_next_item_by_level(store: ReviewStore):
    store.enqueue([make_triplet("a"), make_triplet("b")], reason="sample")
    assert store.next_item("carol") is None
    store.submit("b", "alice", "unsure")
    assert store.next_item("carol").triplet_id == "b"
    assert store.next_item("bob").triplet_id == "a"


def test_next_item_unknown_reviewer(store: ReviewStore):
    with pytest.raises(InputError, match=r"field 'reviewer_id'.*'zoe' not found"):
        store.next_item("zoe")


# -- routing rules ---------------------------------------------------------------


def test_agreement_makes_final(store: ReviewStore):
    store.enqueue(
        [make_triplet("a"), make_triplet("b", "incorrect", precheck="incorrect")], reason="sample"
    )
    assert store.submit("a", "alice", "correct") == "final"
    assert store.submit("b", "alice", "incorrect", error_steps=[2]) == "final"

    decisions = store.final_labels()
    assert set(decisions) == {"a", "b"}
    assert decisions["a"].reviewer == "alice"
    assert decisions["a"].level == 1
    assert decisions["b"].error_steps == [2]


def test_unsure_precheck_counts_as_agreeing(store: ReviewStore):
    store.enqueue([make_triplet("a", precheck="unsure")], reason="precheck unsure")
    assert store.submit("a", "alice", "correct") == "final"


@pytest.mark.parametrize(
    ("triplet", "verdict", "error_steps"),
    [
        (make_triplet("a"), "incorrect", [1]),
        (make_triplet("a", precheck="incorrect"), "correct", []),
        (make_triplet("a"), "unsure", []),
        (make_triplet("a", "incorrect"), "incorrect", [3]),
    ],
    ids=["construction", "precheck", "unsure", "error-steps"],
)
def test_disagreement_escalates(store: ReviewStore, triplet: Triplet, verdict: str, error_steps):
    store.enqueue([triplet], reason="sample")
    assert store.submit("a", "alice", verdict, error_steps=error_steps) == "escalated"
    assert store.final_labels() == {}


def test_escalated_then_level2_final(store: ReviewStore):
    store.enqueue([make_triplet("a", precheck="incorrect")], reason="precheck disagrees")
    assert store.submit("a", "alice", "correct") == "escalated"

    assert store.next_item("carol").triplet_id == "a"
    assert store.submit(
        "a", "carol", "incorrect", error_steps=[3], error_type="unjustified_claim"
    ) == "final"

    decision = store.final_labels()["a"]
    assert decision.reviewer == "carol"
    assert decision.level == 2
    assert decision.verdict == "incorrect"
    assert decision.error_type is ErrorType.UNJUSTIFIED_CLAIM
    assert store.next_item("carol") is None


def test_level2_unsure_stays_escalated(store: ReviewStore):
    store.add_reviewer("dave", 2)
    store.enqueue([make_triplet("a")], reason="sample")
    store.submit("a", "alice", "incorrect", error_steps=[1])

    assert store.submit("a", "carol", "unsure") == "escalated"
    assert store.next_item("carol") is None
    assert store.next_item("dave").triplet_id == "a"
    assert store.submit("a", "dave", "correct") == "final"


def test_level1_cannot_label_escalated(store: ReviewStore):
    store.enqueue([make_triplet("a")], reason="sample")
    store.submit("a", "alice", "unsure")
    with pytest.raises(InputError, match=r"field 'triplet_id'.*escalated.*'bob'"):
        store.submit("a", "bob", "correct")
    assert len(store.history("a")) == 1


def test_final_item_cannot_be_labelled(store: ReviewStore):
    store.enqueue([make_triplet("a")], reason="sample")
    store.submit("a", "alice", "correct")
    with pytest.raises(InputError, match=r"'a' is already final"):
        store.submit("a", "bob", "correct")
    with pytest.raises(InputError, match=r"'a' is already final"):
        store.submit("a", "carol", "incorrect")


def test_same_reviewer_twice_raises(store: ReviewStore):
    store.enqueue([make_triplet("a")], reason="sample", reviews_required=2)
    store.submit("a", "alice", "correct")
    with pytest.raises(InputError, match=r"field 'reviewer_id'.*already labelled"):
        store.submit("a", "alice", "correct")
    assert len(store.history("a")) == 1


def test_promoted_reviewer_labels_again_at_level2(store: ReviewStore):
    store.enqueue([make_triplet("a")], reason="sample")
    store.submit("a", "alice", "unsure")
    assert store.add_reviewer("alice", 2) is False

    assert store.submit("a", "alice", "correct") == "final"
    assert [event.level for event in store.history("a")] == [1, 2]


def test_level2_decides_pending_item(store: ReviewStore):
    store.enqueue([make_triplet("a")], reason="sample")
    assert store.submit("a", "carol", "incorrect", error_steps=[4]) == "final"
    assert store.final_labels()["a"].level == 2


def test_double_review(store: ReviewStore):
    store.enqueue([make_triplet("a"), make_triplet("b")], reason="double", reviews_required=2)
    assert store.submit("a", "alice", "correct") == "pending"
    assert store.submit("a", "bob", "correct") == "final"
    assert store.final_labels()["a"].reviewer == "bob"

    store.submit("b", "alice", "correct")
    assert store.submit("b", "bob", "unsure") == "escalated"


def test_history_kept_after_final(store: ReviewStore):
    store.enqueue([make_triplet("a", "incorrect")], reason="sample")
    store.submit("a", "alice", "correct", comment="looks fine", seconds_spent=42.5)
    store.submit("a", "carol", "incorrect", error_steps=[2], error_type=ErrorType.SIGN_ERROR)

    events = store.history("a")
    assert [(event.reviewer, event.level, event.verdict) for event in events] == [
        ("alice", 1, "correct"),
        ("carol", 2, "incorrect"),
    ]
    assert events[0].comment == "looks fine"
    assert events[0].seconds_spent == 42.5
    assert events[1].error_type is ErrorType.SIGN_ERROR
    assert events[0].created_at <= events[1].created_at


# -- validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "pattern"),
    [
        ({"triplet_id": "missing"}, r"field 'triplet_id'.*'missing' not found"),
        ({"reviewer_id": "zoe"}, r"field 'reviewer_id'.*'zoe' not found"),
        ({"verdict": "maybe"}, r"field 'verdict'.*'maybe'"),
        ({"verdict": "incorrect", "error_steps": [5]}, r"field 'error_steps'.*5 is outside 1\.\.4"),
        ({"verdict": "incorrect", "error_steps": [0]}, r"field 'error_steps'.*0 is outside"),
        ({"verdict": "incorrect", "error_steps": ["2"]}, r"field 'error_steps'.*'2'"),
        ({"verdict": "correct", "error_steps": [2]}, r"field 'error_steps'.*verdict 'correct'"),
        ({"verdict": "incorrect", "error_type": "typo"}, r"field 'error_type'.*'typo'"),
        ({"verdict": "correct", "error_type": "sign_error"}, r"field 'error_type'.*'correct'"),
        ({"seconds_spent": -1.0}, r"field 'seconds_spent'.*-1\.0"),
        ({"seconds_spent": float("nan")}, r"field 'seconds_spent'.*nan"),
        ({"comment": None}, r"field 'comment'"),
    ],
    ids=[
        "unknown-item",
        "unknown-reviewer",
        "verdict",
        "step-too-high",
        "step-zero",
        "step-not-int",
        "steps-with-correct",
        "error-type",
        "error-type-with-correct",
        "negative-seconds",
        "nan-seconds",
        "comment",
    ],
)
def test_submit_invalid_input(store: ReviewStore, arguments: dict, pattern: str):
    store.enqueue([make_triplet("a", steps=4)], reason="sample")
    call = {"triplet_id": "a", "reviewer_id": "alice", "verdict": "correct", **arguments}
    with pytest.raises(InputError, match=pattern):
        store.submit(**call)
    assert store.history("a") == []
    assert store.stats()["status"]["pending"] == 1


def test_comment_nul_and_length_rejected(store: ReviewStore):
    store.enqueue([make_triplet("a")], reason="sample")
    with pytest.raises(InputError, match=r"comment contains a NUL character"):
        store.submit("a", "alice", "correct", comment="bad\x00byte")
    with pytest.raises(InputError, match=r"comment has 10001 characters, more than the limit of 10000"):
        store.submit("a", "alice", "correct", comment="x" * 10_001)
    with pytest.raises(InputError, match=r"reason contains a NUL character"):
        store.enqueue([make_triplet("b")], reason="nul\x00")
    assert store.history("a") == []


@pytest.mark.parametrize(
    ("reviewer_id", "level", "pattern"),
    [
        ("", 1, r"field 'reviewer_id'"),
        ("erin", 3, r"field 'level'.*3 is invalid"),
        ("erin", True, r"field 'level'"),
    ],
    ids=["blank-id", "level-3", "level-bool"],
)
def test_add_reviewer_invalid(store: ReviewStore, reviewer_id: str, level, pattern: str):
    with pytest.raises(InputError, match=pattern):
        store.add_reviewer(reviewer_id, level)


def test_history_unknown_item(store: ReviewStore):
    with pytest.raises(InputError, match=r"field 'triplet_id'.*'nope'"):
        store.history("nope")


# -- results ---------------------------------------------------------------------


def test_final_error_steps_fall_back_to_construction(store: ReviewStore, tmp_path: Path):
    triplet = make_triplet("a", "incorrect", error_steps=(3,), error_type=ErrorType.SIGN_ERROR)
    store.enqueue([triplet], reason="sample")
    store.submit("a", "alice", "incorrect")

    assert store.final_labels()["a"].error_steps == []
    store.export(tmp_path / "final.jsonl")
    record = json.loads((tmp_path / "final.jsonl").read_text(encoding="utf-8"))
    assert record["final_error_steps"] == [3]
    assert record["final_error_type"] == "sign_error"


def test_export_content(store: ReviewStore, tmp_path: Path):
    store.enqueue(
        [make_triplet("a", precheck="incorrect"), make_triplet("b"), make_triplet("c")],
        reason="precheck disagrees",
    )
    store.submit("a", "alice", "correct")
    store.submit("a", "carol", "incorrect", error_steps=[1, 3])
    store.submit("b", "bob", "correct")
    store.submit("c", "bob", "unsure")

    output = tmp_path / "out" / "final.jsonl"
    assert store.export(output) == 2

    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [record["triplet_id"] for record in records] == ["a", "b"]
    first = records[0]
    assert first["final_verdict"] == "incorrect"
    assert first["final_error_steps"] == [1, 3]
    assert first["decided_by"] == "carol"
    assert first["decided_level"] == 2
    assert first["reviewers"] == ["alice", "carol"]
    assert first["reason"] == "precheck disagrees"
    assert [event["reviewer"] for event in first["triplet"]["review"]] == ["alice", "carol"]
    reloaded = Triplet.model_validate(first["triplet"])
    assert reloaded.final_label == "incorrect"
    assert records[1]["final_verdict"] == "correct"
    assert records[1]["final_error_steps"] == []
    assert records[1]["reviewers"] == ["bob"]
    assert list(tmp_path.joinpath("out").iterdir()) == [output]


def test_export_empty(store: ReviewStore, tmp_path: Path):
    assert store.export(tmp_path / "final.jsonl") == 0
    assert (tmp_path / "final.jsonl").read_text(encoding="utf-8") == ""


def test_digest_changes_with_decisions(store: ReviewStore, tmp_path: Path):
    store.enqueue([make_triplet("a"), make_triplet("b")], reason="sample")
    empty = store.decisions_digest()
    assert len(empty) == 64

    store.submit("a", "alice", "correct")
    after_first = store.decisions_digest()
    assert after_first != empty

    store.submit("b", "alice", "unsure")
    assert store.decisions_digest() == after_first

    store.submit("b", "carol", "correct")
    after_second = store.decisions_digest()
    assert after_second not in (empty, after_first)

    with ReviewStore(store.target) as reopened:
        assert reopened.decisions_digest() == after_second


def test_stats(store: ReviewStore):
    store.enqueue([make_triplet("a"), make_triplet("b"), make_triplet("c")], reason="sample")
    store.enqueue([make_triplet("g")], reason="gold", gold=True)
    store.submit("a", "alice", "correct", seconds_spent=10)
    store.submit("b", "alice", "incorrect", error_steps=[1], seconds_spent=5.5)
    store.submit("b", "carol", "correct")
    store.submit("g", "bob", "incorrect", error_steps=[2])

    stats = store.stats()
    assert stats["items"] == 4
    assert stats["status"] == {"pending": 1, "escalated": 1, "final": 2}
    assert stats["labels"] == 4
    assert stats["labels_per_reviewer"] == {"alice": 2, "bob": 1, "carol": 1}
    assert stats["escalation_rate"] == pytest.approx(2 / 3)
    alice = stats["reviewers"]["alice"]
    assert alice["level"] == 1
    assert alice["verdicts"] == {"correct": 1, "incorrect": 1, "unsure": 0}
    assert alice["seconds_spent"] == pytest.approx(15.5)
    assert alice["agreement_rate"] == pytest.approx(0.5)
    assert alice["gold_accuracy"] is None
    bob = stats["reviewers"]["bob"]
    assert bob["gold_labels"] == 1
    assert bob["gold_accuracy"] == 0.0
    assert stats["reviewers"]["carol"]["level_2_labels"] == 1


# -- concurrency -----------------------------------------------------------------


def test_concurrent_stores_lose_nothing(store_target):
    path = store_target
    count = 100
    with ReviewStore(path) as setup:
        setup.add_reviewer("alice")
        setup.add_reviewer("bob")
        setup.enqueue(
            [make_triplet(f"t{index:03d}") for index in range(count)],
            reason="double",
            reviews_required=2,
        )

    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def label_all(reviewer_id: str, order: list[int]) -> None:
        try:
            with ReviewStore(path, timeout=60) as worker:
                start.wait()
                for index in order:
                    worker.submit(f"t{index:03d}", reviewer_id, "correct", seconds_spent=1)
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)

    threads = [
        threading.Thread(target=label_all, args=("alice", list(range(count)))),
        threading.Thread(target=label_all, args=("bob", list(reversed(range(count))))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    with ReviewStore(path) as check:
        stats = check.stats()
        assert stats["labels"] == 2 * count
        assert stats["labels_per_reviewer"] == {"alice": count, "bob": count}
        assert stats["status"]["final"] == count
        assert len(check.final_labels()) == count


def test_shared_store_across_threads(store_target):
    with ReviewStore(store_target) as shared:
        reviewers = [f"r{index}" for index in range(4)]
        for reviewer_id in reviewers:
            shared.add_reviewer(reviewer_id)
        shared.enqueue(
            [make_triplet(f"t{index}") for index in range(10)], reason="sample", reviews_required=4
        )

        def label_all(reviewer_id: str) -> None:
            for index in range(10):
                shared.submit(f"t{index}", reviewer_id, "correct")

        threads = [threading.Thread(target=label_all, args=(rid,)) for rid in reviewers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert shared.stats()["labels"] == 40
        assert shared.stats()["status"]["final"] == 10
