"""Partial-feedback online learning on finite set-valued hypothesis classes.

After "Partial Feedback Online Learning" (Shao, Fang, Lin, Tao; arXiv 2601.21462):
each round the learner predicts a label, the environment reveals one correct
label, and the learner never observes whether its prediction was correct.

- `classes`: hypothesis classes and generators (random, nested inclusion,
  Helly number 2, the two-hypothesis separation).
- `dimensions`: exact PFLdim over collection version spaces, the full-feedback
  Littlestone dimension and bounds on the randomized minimax value.
- `learners`: the optimal deterministic learner, the grid randomized learner
  and baselines.
- `play`: adversaries, sequences and per-round mistake and regret accounting.
- `experiment`: the pipeline's steps as plain functions.
"""

from components.online.classes import (
    HypothesisClass,
    class_helly_number,
    helly_number,
    interval_class,
    is_nested_inclusion,
    nested_inclusion_class,
    random_class,
    two_hypothesis_separation,
)
from components.online.dimensions import (
    LimitExceeded,
    PartialFeedbackGame,
    RandomizedBounds,
    RandomizedGridGame,
    SearchLimits,
    costly_depth,
    littlestone_dimension,
    one_round_lower_bound,
    pfl_dimension,
    randomized_value_bounds,
)
from components.online.learners import (
    GridRandomizedLearner,
    Learner,
    MajorityLearner,
    OptimalDeterministicLearner,
    RepeatLastLabelLearner,
)
from components.online.play import (
    RoundRecord,
    Transcript,
    play_game_tree_adversary,
    play_sequence,
    random_realizable_sequence,
    superset_sequence,
    worst_case_mistakes,
)

__all__ = [
    "GridRandomizedLearner", "HypothesisClass", "Learner", "LimitExceeded", "MajorityLearner",
    "OptimalDeterministicLearner", "PartialFeedbackGame", "RandomizedBounds", "RandomizedGridGame",
    "RepeatLastLabelLearner", "RoundRecord", "SearchLimits", "Transcript", "class_helly_number", "costly_depth",
    "helly_number", "interval_class", "is_nested_inclusion", "littlestone_dimension", "nested_inclusion_class",
    "one_round_lower_bound", "pfl_dimension", "play_game_tree_adversary", "play_sequence", "random_class",
    "random_realizable_sequence", "randomized_value_bounds", "superset_sequence", "two_hypothesis_separation",
    "worst_case_mistakes",
]
