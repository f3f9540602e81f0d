"""Learners, adversaries and regret accounting of the partial-feedback game."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.errors import InputError
from components.online.classes import HypothesisClass, random_class, two_hypothesis_separation
from components.online.dimensions import PartialFeedbackGame, RandomizedGridGame
from components.online.experiment import separation_experiment
from components.online.learners import (
    GridRandomizedLearner,
    MajorityLearner,
    OptimalDeterministicLearner,
    RepeatLastLabelLearner,
)
from components.online.play import (
    play_game_tree_adversary,
    play_sequence,
    random_realizable_sequence,
    superset_sequence,
    worst_case_mistakes,
)


def random_classes(count: int, seed: int):
    rng = np.random.default_rng(seed)
    return [random_class(int(rng.integers(2, 7)), int(rng.integers(1, 4)), int(rng.integers(2, 4)), 0.5, rng)
            for _ in range(count)]


@pytest.mark.parametrize("hclass", random_classes(20, seed=21), ids=lambda c: str(c.table))
def test_optimal_learner_worst_case_equals_pfl(hclass):
    game = PartialFeedbackGame(hclass)
    pfl = game.dimension()
    learner = OptimalDeterministicLearner(hclass, game)
    assert worst_case_mistakes(hclass, learner, hclass.size + 1) == pfl
    assert play_game_tree_adversary(hclass, learner, game, hclass.size + 1).mistakes == pfl


@pytest.mark.parametrize("hclass", random_classes(10, seed=22), ids=lambda c: str(c.table))
def test_game_tree_adversary_forces_pfl_on_baselines(hclass):
    game = PartialFeedbackGame(hclass)
    pfl = game.dimension()
    for learner in (MajorityLearner(hclass), RepeatLastLabelLearner(hclass)):
        assert play_game_tree_adversary(hclass, learner, game, 50).mistakes >= pfl
        assert worst_case_mistakes(hclass, learner, hclass.size + 1) >= pfl


@pytest.mark.parametrize("hclass", random_classes(10, seed=23), ids=lambda c: str(c.table))
def test_randomized_learner_achieves_grid_value(hclass):
    game = RandomizedGridGame(hclass, 4)
    value = game.value() / 4
    learner = GridRandomizedLearner(hclass, game)
    assert worst_case_mistakes(hclass, learner, hclass.size + 1) == pytest.approx(value)
    assert value <= PartialFeedbackGame(hclass).dimension()


def test_accounting_by_hand():
    # h0 = {0, 1}, h1 = {2}; the correct sets are {0, 1}, {0, 1}, then {0, 1, 2}.
    hclass = HypothesisClass.from_sets([[[0, 1]], [[2]]])
    rounds = [(0, 0b011, 1), (0, 0b011, 0), (0, 0b111, 2)]
    transcript = play_sequence(hclass, RepeatLastLabelLearner(hclass), rounds, np.random.default_rng(0), hstar=0)
    # Repeat-last predicts 0 (nothing seen), then 1 (last witness), then 0.
    assert [r.prediction for r in transcript.rounds] == [0, 1, 0]
    assert [r.mistake for r in transcript.rounds] == [0, 0, 0]
    # Comparator losses: h0 = {0,1} is inside every S, so the best comparator never errs.
    assert [r.best_comparator_loss for r in transcript.rounds] == [0, 0, 0]
    assert transcript.regret == 0


def test_accounting_charges_hidden_mistakes():
    hclass = HypothesisClass.from_sets([[[0]], [[1]]])
    rounds = [(0, 0b10, 1)] * 3  # h* = h1, the witness is always 1
    transcript = play_sequence(hclass, OptimalDeterministicLearner(hclass), rounds, np.random.default_rng(0), hstar=1)
    # It predicts 0 first (wrong, which it never observes), then learns h1 from the witness.
    assert [r.mistake for r in transcript.rounds] == [1, 0, 0]
    assert [r.cumulative_mistakes for r in transcript.rounds] == [1, 1, 1]
    assert [r.regret for r in transcript.rounds] == [1.0, 1.0, 1.0]


def test_randomized_expected_loss():
    hclass = HypothesisClass.from_sets([[[0]], [[1]]])
    learner = GridRandomizedLearner(hclass, RandomizedGridGame(hclass, 4))
    transcript = play_sequence(hclass, learner, [(0, 0b01, 0)], np.random.default_rng(0), hstar=0)
    assert transcript.rounds[0].expected_loss == pytest.approx(0.5)


def test_superset_sequence_keeps_hstar_sound():
    hclass = two_hypothesis_separation(2)
    rounds = superset_sequence(hclass, 50, np.random.default_rng(0), hstar=1)
    for x, correct, witness in rounds:
        assert correct & hclass.table[1][x] == hclass.table[1][x]
        assert witness in (2, 3)
        assert correct >> witness & 1


def test_superset_sequence_needs_extra_labels():
    hclass = HypothesisClass.from_sets([[[0]], [[1]]])
    with pytest.raises(InputError, match="no extra witness"):
        superset_sequence(hclass, 5, np.random.default_rng(0), hstar=0)


def test_separation_regret_is_linear():
    result = separation_experiment(horizon=200, n_sequences=4, n_extra_labels=2, resolution=4, seed=0)
    assert result["pfl_dim"] == 1
    for name, entry in result["learners"].items():
        # Inside set realizability: bounded by PFLdim.
        assert entry["set-realizable.final_regret"] <= 1.0
        # Outside: any learner's expected mistakes over the two h* sum to at least 1 per round. So the worse
        # h* gets a slope of at least 1/2 in expectation, and the random witnesses add sampling noise.
        assert entry["superset.slope"] >= 0.4, name


def test_invalid_horizon():
    hclass = HypothesisClass.from_sets([[[0]], [[1]]])
    with pytest.raises(InputError, match="horizon"):
        random_realizable_sequence(hclass, 0, np.random.default_rng(0))


# Property-based: on any small class and any set-realizable sequence, regret stays within the bound.


@st.composite
def class_and_sequence(draw):
    n_instances = draw(st.integers(1, 3))
    n_labels = draw(st.integers(2, 4))
    label_set = st.integers(1, (1 << n_labels) - 1)
    n_hypotheses = draw(st.integers(1, 5))
    table = tuple(tuple(draw(label_set) for _ in range(n_instances)) for _ in range(n_hypotheses))
    hclass = HypothesisClass(n_instances, n_labels, table)
    hstar = draw(st.integers(0, n_hypotheses - 1))
    length = draw(st.integers(1, 12))
    rounds = []
    for _ in range(length):
        x = draw(st.integers(0, n_instances - 1))
        labels = [y for y in range(n_labels) if table[hstar][x] >> y & 1]
        rounds.append((x, table[hstar][x], draw(st.sampled_from(labels))))
    return hclass, hstar, rounds


@settings(max_examples=80, deadline=None)
@given(class_and_sequence())
def test_regret_never_exceeds_bound(case):
    hclass, hstar, rounds = case
    game = PartialFeedbackGame(hclass)
    pfl = game.dimension()
    deterministic = play_sequence(hclass, OptimalDeterministicLearner(hclass, game), rounds,
                                  np.random.default_rng(0), hstar)
    assert all(r.regret <= pfl for r in deterministic.rounds)

    randomized_game = RandomizedGridGame(hclass, 3)
    grid_value = randomized_game.value() / 3
    randomized = play_sequence(hclass, GridRandomizedLearner(hclass, randomized_game), rounds,
                               np.random.default_rng(0), hstar)
    assert all(r.regret <= grid_value + 1e-9 for r in randomized.rounds)
