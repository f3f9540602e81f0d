"""Reward model: windowing of long steps, scoring, checkpoints and learning a separable task."""

from __future__ import annotations

import pytest
import torch

from components.errors import InputError
from components.rm.model import ProofRewardModel, RewardModelConfig
from components.rm.train import Example, TrainSettings, train_reward_model

SMALL = RewardModelConfig(d_model=32, n_layers=1, n_heads=2, dropout=0.0, max_length=32, stride=8)


@pytest.fixture(scope="module")
def model() -> ProofRewardModel:
    torch.manual_seed(0)
    return ProofRewardModel(SMALL)


def test_windows_cover_every_token(model):
    text = " ".join(f"word{i}" for i in range(200))
    ids = model.encoder.tokenizer(text, add_special_tokens=False)["input_ids"]
    windows = model.encoder.windows([text])
    assert len(windows) > 1
    assert all(len(w.input_ids) <= SMALL.max_length for w in windows)
    covered = []
    for window in windows:
        covered.extend(window.input_ids[1:-1])
    assert set(ids) <= set(covered)
    # The last window ends with the last token of the text.
    assert windows[-1].input_ids[-2] == ids[-1]


def test_long_step_changes_embedding_beyond_window(model):
    # Text that differs only after the first window must embed differently (no silent truncation).
    head = " ".join(["the proof continues"] * 40)
    a = model.encoder.embed([head + " so x equals one"])
    b = model.encoder.embed([head + " hence the triangle is obtuse and large"])
    assert not torch.allclose(a, b)


def test_score_shapes_and_ranges(model):
    proofs = [("Q1", ["step one", "step two"]), ("Q2", ["only step"] * 30)]
    scores = model.score(proofs)
    assert len(scores) == 2
    assert len(scores[0].steps) == 2
    assert len(scores[1].steps) == 30
    for score in scores:
        assert 0.0 <= score.outcome <= 1.0
        assert all(0.0 <= s <= 1.0 for s in score.steps)


def test_batching_does_not_change_scores(model):
    proofs = [("Q", ["a short step"]), ("Q", ["x"] * 7), ("Another question", ["one", "two", "three"])]
    together = model.score(proofs, batch_size=3)
    alone = [model.score([p], batch_size=1)[0] for p in proofs]
    for joint, single in zip(together, alone):
        assert joint.outcome == pytest.approx(single.outcome, abs=1e-5)


def test_empty_proof_rejected(model):
    with pytest.raises(InputError, match="no steps"):
        model.score([("Q", [])])


def test_checkpoint_round_trip(model, tmp_path):
    model.threshold = 0.37
    model.save(tmp_path / "ckpt")
    loaded = ProofRewardModel.load(tmp_path / "ckpt")
    proofs = [("Show that 1 + 1 = 2.", ["We compute 1 + 1 = 2.", "Done."])]
    assert loaded.score(proofs)[0].outcome == pytest.approx(model.score(proofs)[0].outcome, abs=1e-6)
    assert loaded.threshold == pytest.approx(0.37)


def test_load_rejects_non_checkpoint(tmp_path):
    with pytest.raises(InputError, match="config.json missing"):
        ProofRewardModel.load(tmp_path)


def test_invalid_architecture_rejected():
    with pytest.raises(InputError, match="divisible"):
        RewardModelConfig(d_model=30, n_heads=4)


def separable_examples(count: int, offset: int = 0) -> list[Example]:
    """Incorrect proofs contain a false arithmetic claim in words; correct ones do not."""
    examples = []
    for i in range(offset, offset + count):
        steps = [f"Let n be the integer {i}.", f"Then n plus zero equals {i}.", "This completes the proof."]
        if i % 2:
            examples.append(Example(f"Show a fact about {i}.", tuple(steps), 1, (1, 1, 1)))
        else:
            wrong = list(steps)
            wrong[1] = "Therefore the moon is made of cheese and bananas are purple."
            examples.append(Example(f"Show a fact about {i}.", tuple(wrong), 0, (1, 0, 1)))
    return examples


def test_training_learns_separable_task():
    torch.manual_seed(0)
    model = ProofRewardModel(SMALL)
    history = []
    result = train_reward_model(
        model,
        separable_examples(40),
        separable_examples(12, offset=100),
        TrainSettings(epochs=8, batch_size=8, lr=3e-3, seed=0),
        on_epoch=lambda epoch, metrics: history.append(metrics),
    )
    assert len(history) == 8
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.best_score > 0.95  # validation AUROC
    # The process head points at the wrong step.
    wrong = separable_examples(1, offset=200)[0]
    score = model.score([(wrong.question, wrong.steps)])[0]
    assert score.steps[1] < score.steps[0]


def test_training_rejects_one_class():
    model = ProofRewardModel(SMALL)
    only_correct = [e for e in separable_examples(10) if e.label == 1]
    with pytest.raises(InputError, match="one class"):
        train_reward_model(model, only_correct, [], TrainSettings(epochs=1))


def test_token_states_cover_each_token_once(model):
    text = " ".join(f"token{i}" for i in range(150))
    ids = model.encoder.tokenizer(text, add_special_tokens=False)["input_ids"]
    states = model.encoder.token_states([text, "short"])
    assert states[0].shape == (len(ids), model.encoder.hidden_size)
    assert states[1].shape[0] == len(model.encoder.tokenizer("short", add_special_tokens=False)["input_ids"])


def test_attention_pooler_ignores_padding():
    from components.rm.model import TokenPooler

    torch.manual_seed(0)
    pooler = TokenPooler(8, "attention")
    states = torch.randn(1, 5, 8)
    mask = torch.tensor([[True, True, True, False, False]])
    padded_garbage = states.clone()
    padded_garbage[0, 3:] = 1e3
    assert pooler.output_size == 16
    assert torch.allclose(pooler(states, mask), pooler(padded_garbage, mask))
    assert torch.allclose(pooler(states, mask)[0, :8], states[0, :3].mean(0))
