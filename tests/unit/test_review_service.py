"""Review store extensions: migrations, blind double review, kappa, exports, and the web service's rules."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from components.errors import InputError
from components.review import migrations
from components.review.metrics import cohen_kappa
from components.review.service import AccessDenied, NotFound, NotOpen, ReviewService, hash_secret
from components.review.store import ReviewStore, read_export, schema_v1
from tests.unit.test_review_store import make_triplet, raw_execute


@pytest.fixture
def service(store_target):
    with ReviewService(store_target) as svc:
        for reviewer_id, level in (("alice", 1), ("bob", 1), ("carol", 2)):
            svc.add_reviewer(reviewer_id, level)
        yield svc


# -- migrations --------------------------------------------------------------------


def test_new_store_is_at_head(store_target):
    with ReviewStore(store_target) as store:
        assert store.schema_revision() == migrations.HEAD
        with store._transaction(write=False) as db:
            tables = db.table_names()
            assert [tuple(row) for row in db.execute("SELECT version FROM schema_version")] == [(1,)]
    assert {"reviewer_tokens", "sessions", "drafts", "assignments", "submissions"} <= tables


def test_v1_store_from_before_alembic_is_upgraded_in_place(store_target):
    kind = "sqlite" if isinstance(store_target, Path) else "postgresql"
    for statement in schema_v1(kind):
        raw_execute(store_target, statement)
    raw_execute(store_target, "INSERT INTO schema_version VALUES (1, '2026-01-01')")
    raw_execute(store_target, "INSERT INTO reviewers VALUES ('old', 'Old', 1, '2026-01-01')")
    with ReviewService(store_target) as upgraded:
        assert upgraded.reviewer("old").level == 1
        assert upgraded.authenticate_token(upgraded.issue_token("old")).reviewer_id == "old"
    with ReviewStore(store_target) as check:
        assert check.schema_revision() == migrations.HEAD


def test_alembic_builds_an_empty_database_like_the_store(store_target):
    migrations.upgrade(store_target)
    with ReviewStore(store_target) as store:
        store.add_reviewer("x")
        store.enqueue([make_triplet("a")], reason="r")
        assert store.submit("a", "x", "correct") == "final"


def test_unknown_revision_rejected(store_target):
    with ReviewStore(store_target):
        pass
    raw_execute(store_target, "UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(InputError, match="9999"):
        ReviewStore(store_target)


def test_concurrent_first_opens_migrate_once(store_target):
    path = store_target
    errors = []

    def open_store():
        try:
            with ReviewStore(path, timeout=60):
                pass
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


# -- blind double review and kappa ---------------------------------------------------


def test_double_review_is_blind_until_all_labels_are_in(service: ReviewService):
    service.enqueue([make_triplet("a"), make_triplet("b")], reason="double", reviews_required=2)
    # The first label disagrees with the construction, but the item waits for the second reviewer.
    assert service.submit("a", "alice", "incorrect", error_steps=[1]) == "pending"
    assert service.next_item("bob").triplet_id == "a"
    assert service.submit("a", "bob", "correct") == "escalated"
    assert service.submit("b", "alice", "correct") == "pending"
    assert service.submit("b", "bob", "correct") == "final"


def test_cohen_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    first = ["correct", "incorrect", "correct", "unsure", "correct", "incorrect", "incorrect", "correct"]
    second = ["correct", "incorrect", "incorrect", "unsure", "correct", "correct", "incorrect", "correct"]
    result = cohen_kappa(list(zip(first, second)))
    assert result["kappa"] == pytest.approx(cohen_kappa_score(first, second))
    assert result["observed"] == pytest.approx(6 / 8)
    assert cohen_kappa([]) == {"items": 0, "observed": None, "expected": None, "kappa": None}
    assert cohen_kappa([("correct", "correct")] * 3)["kappa"] is None  # undefined: one category only


def test_stats_kappa_gold_throughput(service: ReviewService):
    service.add_reviewer("dan", 1)
    triplets = [make_triplet(f"d{n}", "incorrect" if n % 2 else "correct") for n in range(6)]
    service.enqueue(triplets, reason="double", reviews_required=2)
    service.enqueue([make_triplet("g1"), make_triplet("g2", "incorrect")], reason="gold", gold=True)
    alice = ["correct", "incorrect", "correct", "incorrect", "correct", "correct"]
    bob = ["correct", "incorrect", "incorrect", "incorrect", "correct", "incorrect"]
    for n, (a, b) in enumerate(zip(alice, bob)):
        service.submit(f"d{n}", "alice", a, seconds_spent=10 + n)
        service.submit(f"d{n}", "bob", b, seconds_spent=4)
    service.submit("g1", "dan", "correct")
    service.submit("g2", "dan", "correct")

    stats = service.stats()
    from sklearn.metrics import cohen_kappa_score

    expected = cohen_kappa_score(alice, bob)
    assert stats["kappa"]["items"] == 6
    assert stats["kappa"]["kappa"] == pytest.approx(expected)
    assert stats["reviewers"]["alice"]["kappa"] == pytest.approx(expected)
    assert stats["reviewers"]["alice"]["double_reviewed"] == 6
    assert stats["reviewers"]["alice"]["median_seconds"] == pytest.approx(12.5)
    assert stats["reviewers"]["dan"]["gold_accuracy"] == pytest.approx(0.5)
    assert stats["reviewers"]["dan"]["kappa"] is None
    assert stats["gold_items"] == 2
    assert stats["double_review_items"] == 6
    assert stats["throughput"]["labels_last_hour"] == 14
    assert stats["queue_depth"] == stats["status"]["pending"] + stats["status"]["escalated"]


# -- idempotent submissions and exports ----------------------------------------------------


def test_request_id_replays_instead_of_duplicating(service: ReviewService):
    service.enqueue([make_triplet("a"), make_triplet("b")], reason="r", reviews_required=2)
    first = service.submit_label("a", "alice", "correct", request_id="req-1")
    again = service.submit_label("a", "alice", "correct", request_id="req-1")
    assert again.replayed
    assert (again.status, again.label_id) == (first.status, first.label_id)
    assert len(service.history("a")) == 1
    with pytest.raises(InputError, match="request_id"):
        service.submit_label("b", "alice", "correct", request_id="req-1")


def test_export_parquet_round_trip(service: ReviewService, tmp_path: Path):
    service.enqueue([make_triplet("a", precheck="incorrect"), make_triplet("b")], reason="r")
    service.submit("a", "alice", "correct", comment="fine to me")
    service.submit("a", "carol", "incorrect", error_steps=[2], comment="step 2 is wrong")
    service.submit("b", "bob", "correct")
    assert service.export(tmp_path / "out.parquet") == 2
    assert service.export(tmp_path / "out.jsonl") == 2
    for name in ("out.parquet", "out.jsonl"):
        triplets = {t.triplet_id: t for t in read_export(tmp_path / name)}
        assert triplets["a"].final_label == "incorrect"
        assert [event.reviewer for event in triplets["a"].review] == ["alice", "carol"]
    record = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert record["agreement"] == 0.0
    assert [c["comment"] for c in record["comments"]] == ["fine to me", "step 2 is wrong"]
    with pytest.raises(InputError, match="format"):
        service.export(tmp_path / "out.csv", format="csv")


# -- the web service's rules ---------------------------------------------------------------


def test_tokens_hashed_and_revocable(service: ReviewService):
    token = service.issue_token("alice")
    assert token.startswith("rvw_")
    assert len(token) > 40
    with service._transaction(write=False) as conn:
        stored = [row[0] for row in conn.execute("SELECT token_hash FROM reviewer_tokens")]
    assert stored == [hash_secret(token)]
    assert service.authenticate_token(token).reviewer_id == "alice"
    assert service.authenticate_token(token + "x") is None
    session = service.create_session("alice")
    assert service.session_reviewer(session).level == 1
    newer = service.issue_token("alice", revoke_others=True)
    assert service.authenticate_token(token) is None
    assert service.session_reviewer(session) is None
    assert service.authenticate_token(newer).reviewer_id == "alice"
    expired = service.create_session("alice", ttl=timedelta(seconds=-1))
    assert service.session_reviewer(expired) is None


def test_level_separation_in_service(service: ReviewService):
    alice, carol = service.reviewer("alice"), service.reviewer("carol")
    service.enqueue([make_triplet("a", precheck="incorrect")], reason="r")
    service.submit("a", "bob", "correct")  # escalates: the pre-check disagrees
    with pytest.raises(NotOpen):
        service.open_item(alice, "a")
    with pytest.raises(AccessDenied):
        service.item_history(alice, "a")
    with pytest.raises(AccessDenied):
        service.escalated_items(alice)
    with pytest.raises(NotFound):
        service.open_item(alice, "missing")
    view = service.open_item(carol, "a")
    assert [event.reviewer for event in view.history] == ["bob"]
    assert service.claim_next(alice) is None
    assert service.claim_next(carol) == "a"


def test_claims_spread_reviewers_and_respect_double_review(service: ReviewService):
    service.add_reviewer("dan", 1)
    service.enqueue([make_triplet("single")], reason="r")
    service.enqueue([make_triplet("double")], reason="r", reviews_required=2)
    alice, bob, dan = (service.reviewer(r) for r in ("alice", "bob", "dan"))
    assert service.claim_next(alice) == "single"
    assert service.claim_next(alice) == "single"  # your own assignment comes back
    assert service.claim_next(bob) == "double"
    assert service.claim_next(dan) == "double"  # the double-review item takes two reviewers
    assert service.claim_next(service.reviewer("alice")) == "single"


def test_drafts_validated_and_cleared_by_submit(service: ReviewService):
    alice = service.reviewer("alice")
    service.enqueue([make_triplet("a")], reason="r")
    service.open_item(alice, "a")
    service.save_draft(alice, "a", {"verdict": "unsure", "error_steps": [2, 2], "comment": "hm"}, 7.5)
    view = service.open_item(alice, "a")
    assert view.draft == {"verdict": "unsure", "error_steps": [2], "error_type": "", "comment": "hm"}
    assert view.draft_seconds == 7.5
    for bad in ({"verdict": "yes"}, {"error_steps": ["1"]}, {"error_type": "typo"}, {"comment": "x" * 10_001}):
        with pytest.raises(InputError):
            service.save_draft(alice, "a", bad, 1)
    assert service.seconds_for(alice, "a", 1e6) < 60  # capped by the time since the item was opened
    service.submit("a", "alice", "correct")
    assert service.queue_summary(alice)["drafts"] == []
