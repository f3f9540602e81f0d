"""Online learners for the partial-feedback game.

Every learner is written in a functional style so that the exhaustive
adversary can branch on it: `initial_state()` returns a hashable state,
`act(state, x)` returns a probability vector over labels (a one-hot vector for
deterministic learners), and `update(state, x, probabilities, witness)`
returns the next state. A learner sees only instances and witnesses, never
whether its prediction was correct.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable

from components.online.classes import HypothesisClass
from components.online.dimensions import PartialFeedbackGame, RandomizedGridGame

logger = logging.getLogger(__name__)


def one_hot(label: int, n_labels: int) -> tuple[float, ...]:
    return tuple(1.0 if y == label else 0.0 for y in range(n_labels))


class Learner:
    """Base class: a deterministic learner implements `predict`; a randomized one overrides `act`."""

    name = "learner"
    randomized = False

    def __init__(self, hclass: HypothesisClass) -> None:
        self.hclass = hclass

    def initial_state(self) -> Hashable:
        raise NotImplementedError

    def predict(self, state: Hashable, x: int) -> int:
        raise NotImplementedError

    def act(self, state: Hashable, x: int) -> tuple[float, ...]:
        return one_hot(self.predict(state, x), self.hclass.n_labels)

    def update(self, state: Hashable, x: int, probabilities: tuple[float, ...], witness: int) -> Hashable:
        raise NotImplementedError


class OptimalDeterministicLearner(Learner):
    """The minimax learner of the partial-feedback game: worst-case mistakes equal PFLdim.

    It tracks the collection version space (hypotheses grouped by how many
    mistakes it has made against each) and predicts the label that minimises the
    game value G of the worst next collection. Along any set-realizable play G
    never increases, and G is at least the mistakes made against every h still
    consistent, so the mistakes against h* never exceed G at the start, PFLdim.
    If a witness contradicts every hypothesis (not set realizable) it restarts
    from the whole class.
    """

    name = "optimal-deterministic"

    def __init__(self, hclass: HypothesisClass, game: PartialFeedbackGame | None = None) -> None:
        super().__init__(hclass)
        self.game = game or PartialFeedbackGame(hclass)

    def initial_state(self) -> tuple[int, ...]:
        return self.game.initial

    def predict(self, state: tuple[int, ...], x: int) -> int:
        return self.game.best_prediction(state, x)

    def update(self, state, x, probabilities, witness):
        prediction = max(range(len(probabilities)), key=probabilities.__getitem__)
        try:
            return self.game.step(state, x, prediction, witness)[0]
        except ValueError:
            logger.debug("witness %d at x%d contradicts every hypothesis; restarting", witness, x)
            return self.game.initial


class GridRandomizedLearner(Learner):
    """The minimax randomized learner with distributions on the grid of multiples of 1/m.

    Its expected mistakes against any set-realizable adversary that does not see
    its random draws are at most R_m (see `randomized_value_bounds`).
    """

    name = "randomized-grid"
    randomized = True

    def __init__(self, hclass: HypothesisClass, game: RandomizedGridGame) -> None:
        super().__init__(hclass)
        self.game = game

    def initial_state(self):
        return self.game.initial

    def act(self, state, x):
        counts = self.game.best_distribution(state, x)
        return tuple(c / self.game.resolution for c in counts)

    def update(self, state, x, probabilities, witness):
        counts = tuple(round(p * self.game.resolution) for p in probabilities)
        version_space, losses = self.game.step(state, x, counts, witness)
        if not version_space:
            return self.game.initial
        low = min(losses)
        return version_space, tuple(v - low for v in losses)


class MajorityLearner(Learner):
    """Baseline: predict the label that the most hypotheses of the ordinary version space accept."""

    name = "majority"

    def initial_state(self) -> int:
        return self.hclass.all_mask

    def predict(self, state: int, x: int) -> int:
        masks = self.hclass.label_masks[x]
        return max(range(self.hclass.n_labels), key=lambda y: ((masks[y] & state).bit_count(), -y))

    def update(self, state, x, probabilities, witness):
        kept = state & self.hclass.label_masks[x][witness]
        return kept or self.hclass.all_mask


class RepeatLastLabelLearner(Learner):
    """Baseline: predict the last witness revealed on this instance, else the last witness on any, else 0."""

    name = "repeat-last-label"

    def initial_state(self) -> tuple[tuple[int, ...], int]:
        return (-1,) * self.hclass.n_instances, -1

    def predict(self, state, x):
        per_instance, last = state
        if per_instance[x] >= 0:
            return per_instance[x]
        return max(last, 0)

    def update(self, state, x, probabilities, witness):
        per_instance, _ = state
        return per_instance[:x] + (witness,) + per_instance[x + 1 :], witness


def build_learners(hclass: HypothesisClass, game: PartialFeedbackGame,
                   randomized_game: RandomizedGridGame | None) -> list[Learner]:
    """Return the optimal deterministic learner, the grid randomized learner (if given) and the baselines."""
    learners: list[Learner] = [OptimalDeterministicLearner(hclass, game)]
    if randomized_game is not None:
        learners.append(GridRandomizedLearner(hclass, randomized_game))
    learners += [MajorityLearner(hclass), RepeatLastLabelLearner(hclass)]
    return learners


__all__ = [
    "GridRandomizedLearner", "Learner", "MajorityLearner", "OptimalDeterministicLearner",
    "RepeatLastLabelLearner", "build_learners", "one_hot",
]
