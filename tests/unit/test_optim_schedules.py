"""Budgeted schedules: UBA's limits, the other schedules' values, warmup, the torch scheduler and bad settings."""

from __future__ import annotations

import math

import pytest
import torch

from components.optim.schedules import UBA, Schedule, build_scheduler, uba_factor

T = 100


def cosine(s: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * s))


@pytest.mark.parametrize("phi", [0.1, 0.5, 1.0, 2.0, 4.0, 50.0])
def test_uba_endpoints_for_every_phi(phi):
    assert uba_factor(0.0, phi) == pytest.approx(1.0)
    assert uba_factor(1.0, phi) == pytest.approx(0.0, abs=1e-15)


def test_uba_equals_cosine_at_phi_two():
    for s in [i / 20 for i in range(21)]:
        assert uba_factor(s, 2.0) == pytest.approx(cosine(s), abs=1e-12)


def test_uba_tends_to_constant_as_phi_vanishes():
    for s in (0.1, 0.5, 0.9, 0.99):
        assert uba_factor(s, 1e-9) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("phi", [0.5, 2.0, 8.0])
def test_uba_decreases_monotonically(phi):
    values = [uba_factor(i / 50, phi) for i in range(51)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_uba_larger_phi_decays_earlier():
    assert uba_factor(0.5, 4.0) < uba_factor(0.5, 2.0) < uba_factor(0.5, 0.5)


def test_schedule_endpoints_with_min_lr():
    schedule = Schedule("uba", T, phi=0.7, min_lr_ratio=0.1)
    assert schedule.factor(0) == pytest.approx(1.0)
    assert schedule.factor(T) == pytest.approx(0.1)
    assert schedule.factor(T // 2) == pytest.approx(0.1 + 0.9 * uba_factor(0.5, 0.7))


def test_other_schedules_match_their_formulas():
    assert Schedule("constant", T).factor(73) == 1.0
    step = Schedule("step", T, gamma=0.5, milestones=(0.5, 0.75))
    assert [step.factor(t) for t in (0, 49, 50, 74, 75, 99)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    cos = Schedule("cosine", T, min_lr_ratio=0.2)
    assert cos.factor(30) == pytest.approx(0.2 + 0.8 * cosine(0.3))
    wsd = Schedule("wsd", T, decay_fraction=0.2)
    assert wsd.factor(79) == 1.0
    assert wsd.factor(90) == pytest.approx(0.5)
    assert wsd.factor(T) == pytest.approx(0.0)


def test_warmup_is_linear_then_decay_starts_at_one():
    schedule = Schedule("cosine", T, warmup_steps=10)
    assert [schedule.factor(t) for t in range(10)] == pytest.approx([(t + 1) / 10 for t in range(10)])
    assert schedule.factor(10) == pytest.approx(1.0)
    assert schedule.factor(55) == pytest.approx(cosine(0.5))


def test_uba_scheduler_sets_optimizer_lr():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.2)
    scheduler = UBA(optimizer, budget=10, phi=3.0, warmup_steps=2)
    seen = []
    for _ in range(10):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [0.2 * Schedule("uba", 10, warmup_steps=2, phi=3.0).factor(t) for t in range(10)]
    assert seen == pytest.approx(expected)
    assert seen[2] == pytest.approx(0.2)


def test_scheduler_state_dict_resumes():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = build_scheduler(optimizer, Schedule("wsd", 20))
    for _ in range(7):
        optimizer.step()
        scheduler.step()
    state = scheduler.state_dict()
    fresh_optimizer = torch.optim.SGD([param], lr=1.0)
    fresh = build_scheduler(fresh_optimizer, Schedule("wsd", 20))
    fresh.load_state_dict(state)
    assert fresh.last_epoch == 7


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"name": "uba", "budget": 10, "phi": 0.0}, r"phi = 0\.0.*> 0"),
        ({"name": "uba", "budget": 10, "phi": -1.0}, r"phi = -1\.0"),
        ({"name": "uba", "budget": 10, "phi": float("inf")}, r"phi = inf"),
        ({"name": "cosine", "budget": 0}, r"budget = 0.*>= 1"),
        ({"name": "cosine", "budget": 10, "warmup_steps": 10}, r"warmup_steps = 10.*\[0, budget - 1 = 9\]"),
        ({"name": "cosine", "budget": 10, "min_lr_ratio": 1.5}, r"min_lr_ratio = 1\.5"),
        ({"name": "linear", "budget": 10}, r"schedule name = 'linear'"),
    ],
)
def test_invalid_settings_raise(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        Schedule(**kwargs)
