"""Stages of the optimizers pipeline through .fn(): data preparation, one grid cell and the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from prefect.logging import disable_run_logger

from components.artifacts import ArtifactStore
from components.errors import InputError
from components.optim.data import load_char_corpus, load_image_split
from flows.optimizers_config import DataSection, ModelSection, OptimizersConfig, TrainSection
from tasks.optimizers import prepare_digits_task, prepare_text_task, report_task, train_cell_task

SMALL_MODEL = ModelSection(d_model=16, n_layers=1, n_heads=2, mlp_hidden=16, mlp_layers=1)
SMALL_TRAIN = TrainSection(seq_len=8, batch_size=4, image_batch_size=16, eval_every=5, eval_windows=8, threads=1)


def cell(model: str, optimizer: str, schedule: str = "cosine", phi: float = 1.0, budget: int = 10) -> dict:
    label = f"uba-phi{phi:g}" if schedule == "uba" else schedule
    return {"model": model, "optimizer": optimizer, "schedule": label, "schedule_name": schedule, "phi": phi,
            "budget": budget, "seed": 0, "label": f"{model}/{optimizer}/{label}"}


@pytest.fixture(scope="module")
def prepared(session_home):
    with disable_run_logger():
        text = prepare_text_task.fn(DataSection(), None, {}, SMALL_TRAIN.seq_len)
        digits = prepare_digits_task.fn(DataSection())
    return text, digits


def test_builtin_corpus_when_no_text(prepared, session_home):
    text, _ = prepared
    assert text["source"] == "builtin:sonnets"
    corpus = load_char_corpus(ArtifactStore(session_home).resolve(text["ref"]))
    assert corpus.vocab_size == text["vocab_size"]
    assert len(corpus.val) == text["val_chars"]
    assert corpus.train.max() < corpus.vocab_size


def test_digits_split_is_stratified(prepared, session_home):
    _, digits = prepared
    split = load_image_split(ArtifactStore(session_home).resolve(digits["ref"]))
    assert split.train_x.shape[1:] == (8, 8)
    assert len(split.val_y) == digits["val_images"] == 360
    assert set(np.unique(split.val_y)) == set(range(10))


def test_missing_text_file_is_input_error(tmp_path):
    with disable_run_logger(), pytest.raises(InputError, match=r"missing\.txt.*text corpus not found"):
        prepare_text_task.fn(DataSection(), tmp_path / "missing.txt", {}, 8)


def test_too_short_text_names_field(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("abc" * 10, encoding="utf-8")
    with disable_run_logger(), pytest.raises(InputError, match=r"data\.max_chars.*below the 10"):
        prepare_text_task.fn(DataSection(), short, {}, 8)


def test_shared_tinyshakespeare_reads(shared_data):
    path = shared_data / "text" / "tinyshakespeare.txt"
    if not path.exists():
        pytest.skip(f"{path} not found")
    with disable_run_logger():
        text = prepare_text_task.fn(DataSection(max_chars=20000), path, {}, 8)
    assert text["source"] == str(path)
    assert text["train_chars"] + text["val_chars"] == 20000


@pytest.mark.parametrize("model, optimizer", [("gpt-dnt", "shampoo2"), ("mlp", "msgdw"), ("vit-dnt", "adamw")])
def test_cell_trains_and_records(prepared, model, optimizer):
    text, digits = prepared
    ref = text["ref"] if model.startswith("gpt") else digits["ref"]
    with disable_run_logger():
        row = train_cell_task.fn(cell(model, optimizer, "uba", 0.5), ref, SMALL_MODEL, SMALL_TRAIN)
    assert row["status"] == "ok"
    assert len(row["train_loss"]) == 10
    assert [p["step"] for p in row["val"]] == [5, 10]
    # int(5% of 10) = 0 warmup steps, so the first step runs at the peak lr and UBA decays from there.
    assert row["lr"][0] == pytest.approx(SMALL_TRAIN.lr[optimizer])
    assert row["lr"][-1] < row["lr"][0]
    json.dumps(row)  # rows are persisted and logged


def test_cell_with_exploding_lr_is_recorded(prepared):
    _, digits = prepared
    train = SMALL_TRAIN.model_copy(update={"lr": {"msgdw": 1e6}, "grad_clip": None})
    with disable_run_logger():
        row = train_cell_task.fn(cell("mlp", "msgdw", "constant", budget=30), digits["ref"], SMALL_MODEL, train)
    # lr 1e6 on the MLP makes the loss explode; it is recorded either as diverged (NaN) or as a huge final loss.
    assert row["status"] in ("ok", "diverged")
    if row["status"] == "diverged":
        assert row["diverged_step"] == len(row["train_loss"])
    else:
        assert row["final_val_loss"] > 10


def test_report_writes_table_claims_and_plots(prepared, session_home):
    text, digits = prepared
    rows = []
    with disable_run_logger():
        for optimizer in ("adamw", "shampoo2", "msgdw"):
            for schedule, phi in (("cosine", 1.0), ("uba", 0.5)):
                rows.append(train_cell_task.fn(cell("mlp", optimizer, schedule, phi), digits["ref"], SMALL_MODEL, SMALL_TRAIN))
        rows.append({**cell("mlp", "shampoo1"), "status": "failed", "error": "boom", "val": [], "lr": []})
        report = report_task.fn(rows)
    folder = ArtifactStore(session_home).resolve(report["ref"])
    assert {"table.csv", "table.md", "claims.json", "curves_mlp.png", "schedules_mlp.png", "lr_schedules.png"} <= {
        p.name for p in folder.iterdir()}
    assert len(report["table"]) == 7
    assert "msgdw_gap.mlp" in report["claims"]
    assert "uba_vs_cosine.uba-phi0.5.win_rate" in report["claims"]
    adamw = [r for r in report["table"] if r["optimizer"] == "adamw"]
    assert all(r["steps_to_target"] is not None for r in adamw)
    assert "| mlp | shampoo1 | cosine |" in (folder / "table.md").read_text()


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match=r"phi -1\.0 is out of range"):
        OptimizersConfig.model_validate({"grid": {"uba_phis": [-1.0]}})
    with pytest.raises(ValueError, match=r"betas\[0\] is 1\.0"):
        OptimizersConfig.model_validate({"train": {"betas": [1.0, 0.9]}})
    with pytest.raises(ValueError, match=r"budget 1 is out of range"):
        OptimizersConfig.model_validate({"grid": {"budgets": [1]}})
    with pytest.raises(ValueError, match=r"no learning rate for msgdw"):
        OptimizersConfig.model_validate({"train": {"lr": {"adamw": 0.001}}})


def test_registry_stages_match_config():
    from flows.optimizers_config import STAGES
    from flows.registry import flow_spec

    assert flow_spec("optimizers").stages == STAGES
