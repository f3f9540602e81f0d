"""mSGDW, the DNT and vanilla models, gradient tail statistics and one diverging run."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

from components.models import GPT, MLP, TransformerConfig, ViT, count_parameters
from components.optim.experiment import (
    ModelSettings,
    OptimizerSettings,
    build_model,
    build_optimizer,
    image_task,
    train_run,
)
from components.optim.data import load_digits_split
from components.optim.schedules import Schedule
from components.optim.sgdw import MSGDW
from components.optim.stats import excess_kurtosis, hill_tail_index


def test_msgdw_matches_hand_computed_updates():
    w = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    optimizer = MSGDW([w], lr=0.1, momentum=0.9, weight_decay=0.5)
    grads = [torch.tensor([0.5, 1.0], dtype=torch.float64), torch.tensor([-1.0, 2.0], dtype=torch.float64)]
    expected, buffer = w.detach().clone(), torch.zeros(2, dtype=torch.float64)
    for g in grads:
        buffer = 0.9 * buffer + g
        expected = expected * (1 - 0.1 * 0.5) - 0.1 * buffer
        w.grad = g
        optimizer.step()
    torch.testing.assert_close(w.detach(), expected)


def test_msgdw_without_decay_equals_torch_sgd_momentum():
    torch.manual_seed(0)
    a = nn.Parameter(torch.randn(5))
    b = nn.Parameter(a.detach().clone())
    ours = MSGDW([a], lr=0.05, momentum=0.8, nesterov=True)
    reference = torch.optim.SGD([b], lr=0.05, momentum=0.8, nesterov=True)
    for _ in range(4):
        grad = torch.randn(5)
        a.grad, b.grad = grad.clone(), grad.clone()
        ours.step()
        reference.step()
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("momentum, pattern", [(1.0, r"momentum = 1\.0.*\[0, 1\)"), (-0.5, r"momentum = -0\.5")])
def test_msgdw_invalid_momentum(momentum, pattern):
    with pytest.raises(ValueError, match=pattern):
        MSGDW([nn.Parameter(torch.zeros(1))], momentum=momentum)


def count_norms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.LayerNorm) for m in model.modules())


def test_dnt_adds_input_mid_and_qk_norms():
    layers = 3
    vanilla = GPT(TransformerConfig(layout="vanilla", n_layers=layers, d_model=16, n_heads=2, vocab_size=11, max_len=8))
    dnt = GPT(TransformerConfig(layout="dnt", n_layers=layers, d_model=16, n_heads=2, vocab_size=11, max_len=8))
    assert count_norms(vanilla) == 2 * layers + 1
    # input norm + per block: 2 mid norms and 2 QK norms
    assert count_norms(dnt) == count_norms(vanilla) + 1 + 4 * layers
    assert count_parameters(dnt) - count_parameters(vanilla) < 0.05 * count_parameters(vanilla)


@pytest.mark.parametrize("layout", ["vanilla", "dnt"])
def test_gpt_is_causal(layout):
    torch.manual_seed(0)
    model = GPT(TransformerConfig(layout=layout, d_model=16, n_heads=2, n_layers=2, vocab_size=11, max_len=8)).eval()
    tokens = torch.randint(0, 11, (2, 8))
    changed = tokens.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % 11
    logits, logits_changed = model(tokens), model(changed)
    assert logits.shape == (2, 8, 11)
    torch.testing.assert_close(logits[:, :5], logits_changed[:, :5])
    assert not torch.allclose(logits[:, 5:], logits_changed[:, 5:])


@pytest.mark.parametrize("layout", ["vanilla", "dnt"])
def test_vit_and_mlp_shapes(layout):
    vit = ViT(TransformerConfig(layout=layout, d_model=16, n_heads=2, n_layers=1), image_size=8, patch_size=2, n_classes=10)
    assert vit(torch.rand(3, 8, 8)).shape == (3, 10)
    assert MLP(64, 8, 2, 10, layout=layout)(torch.rand(3, 8, 8)).shape == (3, 10)


def test_kurtosis_matches_scipy():
    x = torch.from_numpy(np.random.default_rng(0).standard_t(5, size=20000))
    assert excess_kurtosis(x) == pytest.approx(scipy.stats.kurtosis(x.numpy(), fisher=True, bias=True), rel=1e-9)


@pytest.mark.parametrize("alpha", [1.5, 3.0])
def test_hill_recovers_pareto_index(alpha):
    # numpy's pareto draws Lomax; adding 1 gives a Pareto law with P(X > x) = x^(-alpha) for x >= 1.
    x = torch.from_numpy(np.random.default_rng(1).pareto(alpha, size=200000) + 1.0)
    assert hill_tail_index(x, tail_fraction=0.01) == pytest.approx(alpha, rel=0.1)


def test_hill_gaussian_tail_lighter_than_cauchy():
    rng = np.random.default_rng(2)
    gaussian = hill_tail_index(torch.from_numpy(rng.normal(size=50000)))
    cauchy = hill_tail_index(torch.from_numpy(rng.standard_cauchy(size=50000)))
    assert cauchy == pytest.approx(1.0, rel=0.2)
    assert gaussian > 2 * cauchy


def test_diverging_run_records_step_and_stops():
    torch.manual_seed(0)
    split = load_digits_split(0.2, 0)
    model = build_model("mlp", ModelSettings(mlp_hidden=16, mlp_layers=1))
    optimizer = build_optimizer("msgdw", model, OptimizerSettings(lr=1e12))
    sample, evaluate = image_task(split, 32, 0)
    result = train_run(model, optimizer, Schedule("constant", 50), sample, evaluate, eval_every=10)
    assert result.diverged_step is not None
    assert 0 < result.diverged_step < 50
    assert all(np.isfinite(result.train_loss))
    assert len(result.train_loss) == result.diverged_step
    assert result.summary()["diverged"] == 1.0


def test_healthy_run_records_curves_and_tails():
    torch.manual_seed(0)
    split = load_digits_split(0.2, 0)
    model = build_model("mlp", ModelSettings(mlp_hidden=16, mlp_layers=1))
    optimizer = build_optimizer("shampoo1", model, OptimizerSettings(lr=3e-3, precondition_frequency=5))
    sample, evaluate = image_task(split, 32, 0)
    result = train_run(model, optimizer, Schedule("cosine", 30, warmup_steps=3), sample, evaluate, eval_every=10)
    summary = result.summary()
    assert result.diverged_step is None
    assert [v["step"] for v in result.val] == [10, 20, 30]
    assert result.val[-1]["val_loss"] < result.val[0]["val_loss"]
    assert 0.0 <= summary["final_val_accuracy"] <= 1.0
    assert summary["grad_tail_index"] > 0
    assert summary["seconds_per_step"] > 0
    assert summary["root_seconds"] > 0
