"""The online-learning experiment as plain functions: sample classes, compute dimensions, play, separate.

Each function returns JSON-ready rows, so Prefect tasks and the benchmark
script share one implementation.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from components.online.classes import (
    HypothesisClass,
    class_helly_number,
    interval_class,
    is_nested_inclusion,
    nested_inclusion_class,
    random_class,
    two_hypothesis_separation,
)
from components.online.dimensions import (
    LimitExceeded,
    PartialFeedbackGame,
    RandomizedGridGame,
    SearchLimits,
    littlestone_dimension,
    randomized_value_bounds,
)
from components.online.learners import build_learners
from components.online.play import (
    play_game_tree_adversary,
    play_sequence,
    random_realizable_sequence,
    regret_slope,
    superset_sequence,
    worst_case_mistakes,
)

logger = logging.getLogger(__name__)

FAMILIES = ("random", "nested", "helly2-intervals")


def sample_classes(n_per_family: int, n_hypotheses: int, n_instances: int, n_labels: int, density: float,
                   max_width: int, seed: int) -> list[HypothesisClass]:
    """Draw `n_per_family` classes of each family (random, nested inclusion, Helly number 2)."""
    rng = np.random.default_rng(seed)
    classes = []
    for i in range(n_per_family):
        classes.append(random_class(n_hypotheses, n_instances, n_labels, density, rng, name=f"random-{i}"))
        classes.append(nested_inclusion_class(n_hypotheses, n_instances, n_labels, rng, name=f"nested-{i}"))
        classes.append(interval_class(n_hypotheses, n_instances, n_labels, max_width, rng,
                                      name=f"helly2-intervals-{i}"))
    return classes


def family_of(hclass: HypothesisClass) -> str:
    return hclass.name.rsplit("-", 1)[0]


def analyse_class(hclass: HypothesisClass, resolution: int, limits: SearchLimits) -> dict:
    """Compute PFLdim, the full-feedback Littlestone dimension, randomized bounds and label structure.

    A search that hits its limit leaves its fields None and records the message in `status`.
    """
    row = {
        "name": hclass.name, "family": family_of(hclass), "n_hypotheses": hclass.size,
        "n_instances": hclass.n_instances, "n_labels": hclass.n_labels,
        "helly_number": class_helly_number(hclass), "nested_inclusion": is_nested_inclusion(hclass),
        "pfl_dim": None, "littlestone_dim": None, "randomized_lower": None, "randomized_upper": None,
        "pfl_states": None, "pfl_seconds": None, "status": "ok",
    }
    try:
        started = time.perf_counter()
        game = PartialFeedbackGame(hclass, limits)
        row["pfl_dim"] = game.dimension()
        row["pfl_seconds"] = time.perf_counter() - started
        row["pfl_states"] = len(game.memo)
        row["littlestone_dim"] = littlestone_dimension(hclass, limits)
        bounds = randomized_value_bounds(hclass, resolution, row["pfl_dim"], limits)
        row["randomized_lower"], row["randomized_upper"] = bounds.lower, bounds.upper
    except LimitExceeded as exc:
        logger.warning("%s: %s", hclass.name, exc)
        row["status"] = f"limit: {exc}"
    return row


def play_class(hclass: HypothesisClass, resolution: int, horizon: int, n_sequences: int, exhaustive: bool,
               limits: SearchLimits, seed: int) -> list[dict]:
    """Play every learner on one class; return one row per learner.

    Columns: `worst_case` (exhaustive adversary search within |H| + 1 rounds;
    expected mistakes for the randomized learner; None when the search hits
    its limit), `game_tree_mistakes`
    (deterministic learners against the game-value adversary), and the mean and
    maximum regret over random set-realizable sequences of `horizon` rounds.
    """
    rng = np.random.default_rng(seed)
    game = PartialFeedbackGame(hclass, limits)
    pfl = game.dimension()
    randomized_game = RandomizedGridGame(hclass, resolution, limits)
    randomized_value = randomized_game.value() / resolution
    sequences = [random_realizable_sequence(hclass, horizon, rng) for _ in range(n_sequences)]
    rows = []
    for learner in build_learners(hclass, game, randomized_game):
        bound = randomized_value if learner.randomized else pfl
        row = {"name": hclass.name, "family": family_of(hclass), "learner": learner.name, "pfl_dim": pfl,
               "randomized_grid_value": randomized_value, "bound": bound if learner.name in (
                   "optimal-deterministic", "randomized-grid") else None}
        row["worst_case"] = None
        if exhaustive:
            try:
                row["worst_case"] = worst_case_mistakes(hclass, learner, hclass.size + 1, limits)
            except LimitExceeded as exc:
                logger.warning("%s, %s: exhaustive adversary search stopped: %s", hclass.name, learner.name, exc)
        row["game_tree_mistakes"] = (None if learner.randomized else
                                     play_game_tree_adversary(hclass, learner, game, hclass.size + 1).mistakes)
        transcripts = [play_sequence(hclass, learner, rounds, rng, hstar) for hstar, rounds in sequences]
        regrets = [t.regret for t in transcripts]
        row["mean_regret"] = float(np.mean(regrets))
        row["max_regret"] = float(np.max(regrets))
        row["mean_mistakes"] = float(np.mean([t.mistakes for t in transcripts]))
        rows.append(row)
    return rows


def separation_experiment(horizon: int, n_sequences: int, n_extra_labels: int, resolution: int,
                          seed: int) -> dict:
    """Regret on the two-hypothesis class inside and outside set realizability.

    Returns, per learner and regime, the mean regret curve over sequences and
    its slope, the worst case over h* in {h0, h1} of the final mean regret, and
    PFLdim of the class (the bound inside set realizability).
    """
    rng = np.random.default_rng(seed)
    hclass = two_hypothesis_separation(n_extra_labels)
    game = PartialFeedbackGame(hclass)
    randomized_game = RandomizedGridGame(hclass, resolution)
    result = {"pfl_dim": game.dimension(), "horizon": horizon, "learners": {}}
    for learner in build_learners(hclass, game, randomized_game):
        entry = {}
        for regime in ("set-realizable", "superset"):
            per_hstar = []
            curves = []
            for hstar in range(hclass.size):
                transcripts = []
                for _ in range(n_sequences):
                    if regime == "set-realizable":
                        _, rounds = random_realizable_sequence(hclass, horizon, rng, hstar)
                    else:
                        rounds = superset_sequence(hclass, horizon, rng, hstar)
                    transcripts.append(play_sequence(hclass, learner, rounds, rng, hstar))
                per_hstar.append(float(np.mean([t.regret for t in transcripts])))
                curves.append(np.mean([[r.regret for r in t.rounds] for t in transcripts], axis=0))
                slope = regret_slope(transcripts)
                per_hstar_slope = entry.setdefault(f"{regime}.slopes", [])
                per_hstar_slope.append(slope)
            worst = int(np.argmax(per_hstar))
            entry[f"{regime}.final_regret"] = per_hstar[worst]
            entry[f"{regime}.slope"] = entry[f"{regime}.slopes"][worst]
            entry[f"{regime}.curve"] = [float(v) for v in curves[worst]]
        result["learners"][learner.name] = entry
    return result
