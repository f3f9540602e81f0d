"""Tasks through `.fn()`: artifact store, review policy, splits, publishing and DVC versioning."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from prefect.logging import disable_run_logger

from components.artifacts import ArtifactStore
from components.errors import InputError
from components.proofs.schema import Check, GenerationMethod, Triplet


def make_triplet(problem: str, index: int, label: str, verdict: str, source: str = "builtin") -> Triplet:
    incorrect = label == "incorrect"
    return Triplet(
        triplet_id=f"{problem}-{index}",
        problem_id=problem,
        question=f"Prove fact {problem}.",
        steps=["First step.", "Second step with 2 + 2 = 4.", "Conclusion."],
        source=source,
        method=GenerationMethod.ERROR_INJECTION if incorrect else GenerationMethod.REFERENCE,
        generator="test",
        error_type="sign_error" if incorrect else None,
        error_steps=[2] if incorrect else [],
        label=label,
        check=Check(verdict=verdict, checker="test"),
    )


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("REPROLAB_HOME", str(tmp_path))
    return tmp_path


def test_store_is_content_addressed(home):
    store = ArtifactStore(home)
    first = store.put_jsonl("triplets", [make_triplet("p1", 0, "correct", "correct")])
    second = store.put_jsonl("triplets", [make_triplet("p1", 0, "correct", "correct")])
    assert first == second
    assert store.read_jsonl(first, Triplet)[0].triplet_id == "p1-0"


def test_store_missing_artifact_names_stage_fix(home):
    store = ArtifactStore(home)
    ref = store.put_json("evaluation", {"a": 1})
    store.resolve(ref).unlink()
    with pytest.raises(InputError, match="--refresh"):
        store.resolve(ref)


def test_input_fingerprints_missing_file(tmp_path):
    from tasks.proofs import input_fingerprints

    with pytest.raises(InputError, match="not found"):
        input_fingerprints([tmp_path / "absent.csv"])


def test_review_task_queues_disagreements_and_takes_final_labels(home):
    from components.review.store import ReviewStore
    from flows.config import ReviewConfig, SplitConfig
    from tasks.proofs import review_task

    triplets = [
        make_triplet("p1", 0, "correct", "correct"),
        make_triplet("p1", 1, "incorrect", "correct"),  # disputed
        make_triplet("p2", 0, "incorrect", "unsure"),  # disputed
    ]
    ref = ArtifactStore(home).put_jsonl("prechecked", triplets)
    with disable_run_logger():
        kept, counts = review_task.fn(ref, ReviewConfig(audit_fraction=0.0), SplitConfig())
    assert counts["confirmed_by_precheck"] == 1
    assert counts["disputed"] == 2
    assert counts["audit_sample"] == 0
    assert counts["final_by_review"] == 0
    assert kept.count == 1

    # A level-2 reviewer decides one disputed item; the next review stage includes it.
    with ReviewStore(home / "review.db") as store:
        store.add_reviewer("lead", 2)
        store.submit("p1-1", "lead", "correct")
    with disable_run_logger():
        kept, counts = review_task.fn(ref, ReviewConfig(audit_fraction=0.0), SplitConfig())
    assert counts["final_by_review"] == 1
    assert counts["overruled_by_review"] == 1
    decided = {t.triplet_id: t for t in ArtifactStore(home).read_jsonl(kept, Triplet)}
    assert decided["p1-1"].final_label == "correct"
    assert decided["p1-1"].review[-1].reviewer == "lead"


def test_audit_sample_is_stable_and_sized():
    from tasks.proofs import in_audit_sample

    ids = [f"t{i}" for i in range(4000)]
    sample = [i for i in ids if in_audit_sample(i, 0.1, seed=0)]
    assert 300 < len(sample) < 500
    assert sample == [i for i in ids if in_audit_sample(i, 0.1, seed=0)]
    assert sample != [i for i in ids if in_audit_sample(i, 0.1, seed=1)]
    assert not any(in_audit_sample(i, 0.0, seed=0) for i in ids)


def test_split_task_separates_problems(home):
    from flows.config import SplitConfig
    from tasks.proofs import split_task

    triplets = [make_triplet(f"p{i}", j, "correct", "correct") for i in range(20) for j in range(3)]
    ref = ArtifactStore(home).put_jsonl("reviewed", triplets)
    splits = split_task.fn(ref, SplitConfig(val_fraction=0.2, test_fraction=0.2, seed=1))
    store = ArtifactStore(home)
    problems = {name: {t.problem_id for t in store.read_jsonl(r, Triplet)} for name, r in splits.items()}
    assert len(problems["test"]) == 4
    assert len(problems["val"]) == 4
    assert len(problems["train"]) == 12
    assert not problems["train"] & problems["test"]
    assert not problems["val"] & problems["test"]


def test_publish_dataset_keeps_old_version_on_failure(home, monkeypatch):
    from tasks.versioning import publish_dataset

    source = home / "src.jsonl"
    source.write_text("{}\n")
    publish_dataset(home, "proof-rm", {"train.jsonl": source}, {"v": 1})

    calls = {"n": 0}
    real_copy = shutil.copyfile

    def failing_copy(src, dst, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", failing_copy)
    with pytest.raises(OSError, match="disk full"):
        publish_dataset(home, "proof-rm", {"train.jsonl": source, "test.jsonl": source}, {"v": 2})
    assert (home / "data" / "proof-rm" / "train.jsonl").exists()
    assert not (home / "data" / "proof-rm" / "test.jsonl").exists()
    assert '"v": 1' in (home / "data" / "proof-rm" / "manifest.json").read_text()
    assert [p.name for p in (home / "data").iterdir()] == ["proof-rm"]


def test_version_task_runs_dvc_add(home):
    from tasks.versioning import version_task

    store = ArtifactStore(home)
    refs = {"train": store.put_jsonl("split-train", [make_triplet("p1", 0, "correct", "correct")])}
    with disable_run_logger():
        result = version_task.fn("proof-rm", refs, {"preset": "test"})
    meta = yaml.safe_load((home / "data.dvc").read_text())
    assert result["dvc_md5"] == meta["outs"][0]["md5"]
    config = (home / ".dvc" / "config").read_text()
    assert "analytics = false" in config
    assert "check_update = false" in config

    # New content gives a new hash; the same content gives the same hash.
    refs["test"] = store.put_jsonl("split-test", [make_triplet("p2", 0, "correct", "correct")])
    with disable_run_logger():
        changed = version_task.fn("proof-rm", refs, {"preset": "test"})
        again = version_task.fn("proof-rm", refs, {"preset": "test"})
    assert changed["dvc_md5"] != result["dvc_md5"]
    assert again["dvc_md5"] == changed["dvc_md5"]


def test_load_external_limit_keeps_whole_problems(home, tmp_path):
    from prefect.logging import disable_run_logger

    from components.io import write_jsonl_atomic
    from tasks.proofs import load_external_task

    triplets = [make_triplet(f"p{i}", j, "correct", "correct") for i in range(10) for j in range(3)]
    path = write_jsonl_atomic(tmp_path / "external.jsonl", triplets)
    with disable_run_logger():
        ref = load_external_task.fn(path, {}, 10)
    kept = ArtifactStore(home).read_jsonl(ref, Triplet)
    assert len(kept) == 9  # three whole problems; a fourth would pass the limit
    assert {t.problem_id for t in kept} == {"p0", "p1", "p2"}
