"""proof-rm with review policy `human` under the Prefect test harness: the run pauses until reviews are final.

A reviewer thread labels the queue through the store while the flow run is
paused; the run resumes by itself once enough items are final and trains on
the exported labels, with the queue in an SQLite file or in a PostgreSQL
database. Without reviewers, the wait times out and the run fails.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from uuid import UUID

import pytest

pytestmark = pytest.mark.slow

BASE = [
    "eval.shared_external=false", "eval.baselines=false", "sources.max_problems=10", "train.epochs=1",
    "review.policy=human", "review.double_review_fraction=0.2", "review.gold_fraction=0.1", "review.poll_s=0.5",
]


def flow_state_names(flow_run_id: str) -> list[str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        states = client.read_flow_run_states(UUID(flow_run_id))
    return [state.name for state in states]


def label_queue(store_path: Path | str, stop: threading.Event) -> None:
    """Level-1 reviewers agree with the construction label; a level-2 lead decides what escalates."""
    from components.review.store import ReviewStore

    while isinstance(store_path, Path) and not store_path.exists() and not stop.is_set():
        time.sleep(0.2)
    with ReviewStore(store_path) as store:
        for reviewer_id, level in (("r1", 1), ("r2", 1), ("lead", 2)):
            store.add_reviewer(reviewer_id, level)
        while not stop.is_set():
            labelled = 0
            for reviewer_id in ("r1", "r2", "lead"):
                while (item := store.next_item(reviewer_id)) is not None:
                    store.submit(item.triplet_id, reviewer_id, item.label, error_steps=item.error_steps,
                                 comment=f"{reviewer_id} agrees", seconds_spent=1.0)
                    labelled += 1
            if not labelled:
                time.sleep(0.2)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_human_policy_pauses_until_final_then_trains_on_export(
    backend: str, prefect_harness, session_home, request: pytest.FixtureRequest, monkeypatch
):
    from flows.config import load_config
    from flows.proof_rm import proof_rm

    if backend == "sqlite":
        store, setting = session_home / "human-review.db", "human-review.db"
    else:
        # The run configuration takes a URL without a password; libpq reads it from PGPASSWORD.
        cluster = request.getfixturevalue("postgres_cluster")
        name = f"human_{uuid.uuid4().hex[:8]}"
        cluster.create_database(name)
        store = setting = cluster.url(name, password=False)
        monkeypatch.setenv("PGPASSWORD", cluster.password)
    config = load_config("proof-rm", "smoke", [*BASE, f"review.store={setting}", "review.required_final=30",
                                                "review.wait_timeout_s=600"])
    stop = threading.Event()
    reviewer = threading.Thread(target=label_queue, args=(store, stop), daemon=True)
    reviewer.start()
    try:
        summary = proof_rm(config)
    finally:
        stop.set()
        reviewer.join(30)

    counts = summary["review"]
    assert counts["waited_for"] == 30
    assert counts["kept"] >= 30
    assert counts["final_by_review"] == counts["kept"]  # only human-reviewed items train
    assert counts["gold"] > 0
    states = flow_state_names(summary["prefect_flow_run_id"])
    assert "Paused" in states
    assert states[-1] == "Completed"
    assert summary["artifacts"]["model_uri"].startswith("models:/")
    from components.review.store import ReviewStore

    with ReviewStore(store) as queue:
        assert len(queue.final_ids()) >= 30


def test_human_policy_times_out_without_reviewers(prefect_harness, session_home):
    from flows.config import load_config
    from flows.proof_rm import proof_rm

    config = load_config("proof-rm", "smoke", [*BASE, "review.store=nobody-reviews.db", "review.required_final=5",
                                                "review.wait_timeout_s=3"])
    started = time.monotonic()
    with pytest.raises(Exception, match=r"only 0 of the 5 required review items were final after waiting 3 s"):
        proof_rm(config)
    assert time.monotonic() - started < 300
