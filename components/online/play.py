"""Adversaries, the play loop and per-round mistake and regret accounting.

Accounting. Round t has instance x_t, correct set S_t and witness y_t in S_t.
The learner's loss is 1[y^_t not in S_t]; for a randomized learner the
expected loss is 1 - pi_t(S_t). A hypothesis h, as a comparator, is charged
1[h(x_t) not a subset of S_t]: it errs when it would accept a label that is not
correct. Regret after t rounds is the learner's cumulative loss minus the
smallest cumulative comparator loss. Under set realizability h* has loss 0,
so regret equals mistakes.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import asdict, dataclass

import numpy as np

from components.errors import InputError
from components.online.classes import HypothesisClass, labels_of
from components.online.dimensions import (
    PartialFeedbackGame,
    SearchLimits,
    _Budget,
    _common_labels,
    _witnesses,
    advance,
    witness_label,
)
from components.online.learners import Learner

Round = tuple[int, int, int]  # (instance x_t, correct set S_t as a label mask, witness y_t)


@dataclass(frozen=True)
class RoundRecord:
    """One round of play with the running totals after it."""

    t: int
    x: int
    prediction: int
    witness: int
    correct_set: tuple[int, ...]
    mistake: int
    expected_loss: float
    cumulative_mistakes: int
    cumulative_expected_loss: float
    best_comparator_loss: int
    regret: float


@dataclass(frozen=True)
class Transcript:
    learner: str
    hstar: int | None
    rounds: list[RoundRecord]

    @property
    def mistakes(self) -> int:
        return self.rounds[-1].cumulative_mistakes if self.rounds else 0

    @property
    def expected_mistakes(self) -> float:
        return self.rounds[-1].cumulative_expected_loss if self.rounds else 0.0

    @property
    def regret(self) -> float:
        return self.rounds[-1].regret if self.rounds else 0.0

    def to_records(self) -> list[dict]:
        return [{"learner": self.learner, "hstar": self.hstar, **asdict(r)} for r in self.rounds]


def _check_horizon(horizon: int) -> None:
    if not 1 <= horizon <= 1_000_000:
        raise InputError(f"horizon is {horizon}; allowed range is 1..1000000", field="horizon")


# Sequences


def random_realizable_sequence(hclass: HypothesisClass, horizon: int, rng: np.random.Generator,
                               hstar: int | None = None) -> tuple[int, list[Round]]:
    """Draw h* (unless given), then x_t uniformly and the witness y_t uniformly from S_t = h*(x_t)."""
    _check_horizon(horizon)
    if hstar is None:
        hstar = int(rng.integers(hclass.size))
    rounds = []
    for _ in range(horizon):
        x = int(rng.integers(hclass.n_instances))
        correct = hclass.table[hstar][x]
        witness = int(rng.choice(labels_of(correct)))
        rounds.append((x, correct, witness))
    return hstar, rounds


def superset_sequence(hclass: HypothesisClass, horizon: int, rng: np.random.Generator,
                      hstar: int) -> list[Round]:
    """Draw a sequence outside set realizability: S_t = h*(x_t) plus one extra label, which is the witness.

    The extra label is drawn uniformly from the labels no hypothesis accepts at
    x_t, so h* never errs (h*(x_t) is a subset of S_t) while the witnesses carry
    no information about h*. On `two_hypothesis_separation` any learner's
    expected mistakes summed over h* in {h0, h1} are at least 1 per round: a
    prediction in {0, 1} is wrong for one of them, and an extra label predicted
    before the witness is drawn misses it with probability 1 - 1/extra.
    """
    _check_horizon(horizon)
    rounds = []
    for _ in range(horizon):
        x = int(rng.integers(hclass.n_instances))
        accepted = 0
        for row in hclass.table:
            accepted |= row[x]
        extra = [y for y in range(hclass.n_labels) if not accepted >> y & 1]
        if not extra:
            raise InputError(f"every label is accepted by some hypothesis at x{x}; no extra witness exists",
                             field="n_labels", hint="Add labels that no hypothesis contains")
        witness = int(rng.choice(extra))
        rounds.append((x, hclass.table[hstar][x] | 1 << witness, witness))
    return rounds


# Play and accounting


def play_sequence(hclass: HypothesisClass, learner: Learner, rounds: list[Round], rng: np.random.Generator,
                  hstar: int | None = None) -> Transcript:
    """Play `learner` on a fixed sequence and account mistakes, expected loss and regret per round."""
    state = learner.initial_state()
    moves = []
    for x, correct, witness in rounds:
        probabilities = learner.act(state, x)
        prediction = _draw(probabilities, rng) if learner.randomized else int(np.argmax(probabilities))
        moves.append((x, correct, witness, prediction, probabilities))
        state = learner.update(state, x, probabilities, witness)
    return _account(hclass, learner.name, hstar, moves)


def _draw(probabilities: tuple[float, ...], rng: np.random.Generator) -> int:
    weights = np.asarray(probabilities, dtype=float)
    return int(rng.choice(len(weights), p=weights / weights.sum()))


def _account(hclass: HypothesisClass, name: str, hstar: int | None, moves: list) -> Transcript:
    comparator = np.zeros(hclass.size, dtype=np.int64)
    records, mistakes, expected = [], 0, 0.0
    for t, (x, correct, witness, prediction, probabilities) in enumerate(moves, start=1):
        mistake = 0 if correct >> prediction & 1 else 1
        loss = 1.0 - sum(p for y, p in enumerate(probabilities) if correct >> y & 1)
        mistakes += mistake
        expected += max(loss, 0.0)
        for h, row in enumerate(hclass.table):
            comparator[h] += 0 if row[x] & ~correct == 0 else 1
        best = int(comparator.min())
        records.append(RoundRecord(
            t=t, x=x, prediction=prediction, witness=witness, correct_set=labels_of(correct), mistake=mistake,
            expected_loss=loss, cumulative_mistakes=mistakes, cumulative_expected_loss=expected,
            best_comparator_loss=best, regret=expected - best,
        ))
    return Transcript(learner=name, hstar=hstar, rounds=records)


def play_game_tree_adversary(hclass: HypothesisClass, learner: Learner, game: PartialFeedbackGame,
                             horizon: int) -> Transcript:
    """Play a deterministic learner against the adversary that follows the game value G.

    The adversary shows an instance whose value equals G of the current
    collection and responds to the learner's prediction with the witness of
    largest next value. A witness that every h in V accepts is used only when
    it is strictly better, which happens when the prediction missed a common
    label. The adversary stops when G equals the top level. It then commits to an h*
    of the top level and sets S_t = h*(x_t) for every past round, which is
    consistent because h* accepted every witness. Against any deterministic
    learner this forces at least PFLdim mistakes within |H| - 1 rounds.
    """
    if learner.randomized:
        raise InputError(f"learner {learner.name} is randomized; the game-tree adversary plays deterministic learners",
                         field="learner")
    _check_horizon(horizon)
    counts = {h: 0 for h in range(hclass.size)}
    state = learner.initial_state()
    history = []
    for _ in range(horizon):
        collection = _collection(counts)
        value = game.value(collection)
        if value <= len(collection) - 1:
            break
        x = _instance_with_value(hclass, game, collection, value)
        probabilities = learner.act(state, x)
        prediction = int(np.argmax(probabilities))
        version_space = _union_of(counts)
        candidates = _witnesses(hclass, version_space, x)
        if _common_labels(hclass, version_space, x):
            candidates.append(version_space)
        kept = max(candidates, key=lambda k: _shifted(game, collection, hclass, x, prediction, k))
        witness = witness_label(hclass, version_space, x, kept) if kept != version_space else _common(hclass, version_space, x)
        for h in list(counts):
            if not kept >> h & 1:
                del counts[h]
            elif not hclass.table[h][x] >> prediction & 1:
                counts[h] += 1
        history.append((x, witness, prediction, probabilities))
        state = learner.update(state, x, probabilities, witness)
    hstar = max(counts, key=lambda h: (counts[h], -h))
    moves = [(x, hclass.table[hstar][x], w, p, probs) for x, w, p, probs in history]
    return _account(hclass, learner.name, hstar, moves)


def _collection(counts: dict[int, int]) -> tuple[int, ...]:
    low = min(counts.values())
    levels = [0] * (max(counts.values()) - low + 1)
    for h, c in counts.items():
        levels[c - low] |= 1 << h
    return tuple(levels)


def _union_of(counts: dict[int, int]) -> int:
    return sum(1 << h for h in counts)


def _common(hclass: HypothesisClass, version_space: int, x: int) -> int:
    for y, mask in enumerate(hclass.label_masks[x]):
        if mask & version_space == version_space:
            return y
    raise ValueError(f"no common label at x{x}")


def _shifted(game, collection, hclass, x, prediction, kept) -> int:
    nxt, shift = advance(collection, kept, hclass.label_masks[x][prediction])
    return shift + game.value(nxt)


def _instance_with_value(hclass: HypothesisClass, game: PartialFeedbackGame, collection, value: int) -> int:
    """Return an instance where min over predictions of the worst next value reaches `value`."""
    version_space = 0
    for level in collection:
        version_space |= level
    for x in range(hclass.n_instances):
        witnesses = _witnesses(hclass, version_space, x)
        if not witnesses:
            continue
        prediction = game.best_prediction(collection, x)
        if max(_shifted(game, collection, hclass, x, prediction, kept) for kept in witnesses) >= value:
            return x
    raise RuntimeError("no instance reaches the game value; the memo is inconsistent")


# Exhaustive adversary search against a fixed learner


def worst_case_mistakes(hclass: HypothesisClass, learner: Learner, horizon: int,
                        limits: SearchLimits | None = None) -> float:
    """Return the largest (expected) mistakes any set-realizable adaptive adversary forces within `horizon` rounds.

    Exhaustive search over instances and witnesses against the learner's actual
    predictions (no minimisation over predictions, so it checks a learner
    rather than recomputing the dimension). The payoff is the largest count of
    (expected) mistakes against a hypothesis still consistent with every
    witness, which the adversary then commits to. Memoised on the learner's
    state, the version space with its counts and the rounds left; a round that
    changes none of them is skipped, because it cannot help the adversary.
    """
    _check_horizon(horizon)
    budget = _Budget(limits or SearchLimits())
    memo: dict[Hashable, float] = {}
    members_all = tuple(range(hclass.size))

    def search(state: Hashable, version_space: int, losses: tuple[float, ...], left: int) -> float:
        # losses are per member of version_space, in index order, shifted to a minimum of 0.
        best = max(losses)
        if left == 0:
            return best
        key = (state, version_space, losses, left)
        cached = memo.get(key)
        if cached is not None:
            return cached
        budget.tick(memo)
        members = [h for h in members_all if version_space >> h & 1]
        for x in range(hclass.n_instances):
            probabilities = learner.act(state, x)
            step_loss = [1.0 - sum(p for y, p in enumerate(probabilities) if hclass.table[h][x] >> y & 1)
                         for h in members]
            seen: set[int] = set()
            for y in range(hclass.n_labels):
                kept = version_space & hclass.label_masks[x][y]
                if not kept or kept in seen:
                    continue
                seen.add(kept)
                new_state = learner.update(state, x, probabilities, y)
                new_losses = [losses[i] + step_loss[i] for i, h in enumerate(members) if kept >> h & 1]
                low = min(new_losses)
                new_losses = tuple(round(v - low, 9) for v in new_losses)
                if new_state == state and kept == version_space and new_losses == losses:
                    continue
                best = max(best, low + search(new_state, kept, new_losses, left - 1))
        memo[key] = best
        return best

    return search(learner.initial_state(), hclass.all_mask, (0.0,) * hclass.size, horizon)


def regret_slope(transcripts: list[Transcript]) -> float:
    """Return the least-squares slope of cumulative regret against t, averaged over transcripts."""
    slopes = []
    for transcript in transcripts:
        if len(transcript.rounds) < 2:
            continue
        t = np.array([r.t for r in transcript.rounds], dtype=float)
        regret = np.array([r.regret for r in transcript.rounds], dtype=float)
        slopes.append(float(np.polyfit(t, regret, 1)[0]))
    return float(np.mean(slopes)) if slopes else math.nan


__all__ = [
    "RoundRecord", "Transcript", "play_game_tree_adversary", "play_sequence",
    "random_realizable_sequence", "regret_slope", "superset_sequence", "worst_case_mistakes",
]
