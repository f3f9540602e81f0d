"""Dimensions of partial-feedback online learning, computed exactly by game-tree search.

The game (set-realizable regime). Each round the adversary shows an instance
x_t, the learner predicts a label y^_t, and the adversary reveals one witness
y_t from the hidden correct set S_t. The learner makes a mistake when
y^_t is not in S_t, and it never observes whether that happened. Set
realizability means S_t = h*(x_t) for one h* in H over the whole sequence.
Under set realizability h* itself never errs, so regret equals the number of
mistakes.

Why a collection version space. After witnesses (x_1, y_1), ..., the
hypotheses still possible are V = {h : y_s in h(x_s) for all s}, as usual. But
how many mistakes the learner has made depends on which h in V is the truth:
m(h) = #{s : y^_s not in h(x_s)}. A deterministic learner can compute m(h)
for every h (it knows its own predictions), and an adaptive adversary picks h*
only at the end, so the state of the game is the collection
(V_0, V_1, ..., V_k) with V_j = {h in V : m(h) = j}, not V alone.

Definition implemented (derived from the game; the dimensions' tree
definitions are not reproduced here). For a collection C with top level k,

    G(C) = max( k,  max_x  min_{y^}  max_{y : V_y != {}}  G(C after (x, y^, y)) )

where the first term is the adversary stopping and committing to an h* of
the top level. PFLdim(H) = G((H,)), the minimax number of mistakes of a
deterministic learner. The abstract of arXiv 2601.21462 (Shao, Fang, Lin,
Tao, "Partial Feedback Online Learning") states that PFLdim tightly
characterizes this minimax value, so this module takes the value as the
definition. The tests check the recursion against a brute-force search over
explicit histories. Terminating: if some label lies in every h(x), h in V, predicting
it costs nothing and dominates every other prediction (G is monotone in the
counts), so only witnesses that shrink V matter; if no label does, every
witness shrinks V. So V shrinks at each useful step, the recursion depth is
at most |H| - 1, and G(C) <= k + |V| - 1.

Randomized learners. With a distribution pi_t the learner's expected mistakes
against h are F(h) = sum_t pi_t(Y \\ h(x_t)), and the same recursion with
min over distributions gives the randomized minimax value, which PMSdim
characterizes in the paper. The minimum over the simplex is not computed in
closed form: `randomized_value_bounds` solves the game with distributions on
the grid {pi : m * pi integer} (an upper bound achieved by a concrete learner)
and subtracts the rounding error to get a lower bound (see that function).
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import combinations_with_replacement

from components.errors import InputError
from components.online.classes import HypothesisClass, labels_of

logger = logging.getLogger(__name__)

Collection = tuple[int, ...]  # bit masks over hypotheses; entry j contains those with j mistakes above the minimum


class LimitExceeded(RuntimeError):
    """A search stopped at its time or state limit. The message names the limit and how to raise it."""

    def __init__(self, what: str, limit: float, states: int, seconds: float) -> None:
        self.what, self.limit, self.states, self.seconds = what, limit, states, seconds
        super().__init__(
            f"{what} limit of {limit:g} reached after {seconds:.1f} s and {states} memoised states; "
            "raise limits.max_seconds or limits.max_states, or use a smaller class"
        )


@dataclass(frozen=True)
class SearchLimits:
    """Time and memory limits of one search. Memory is bounded by the number of memoised states."""

    max_seconds: float = 60.0
    max_states: int = 2_000_000

    def __post_init__(self) -> None:
        if not self.max_seconds > 0:
            raise InputError(f"max_seconds is {self.max_seconds}; it must be positive", field="max_seconds")
        if not self.max_states >= 1:
            raise InputError(f"max_states is {self.max_states}; it must be at least 1", field="max_states")


class _Budget:
    CHECK_EVERY = 2048

    def __init__(self, limits: SearchLimits) -> None:
        self.limits = limits
        self.started = time.monotonic()
        self.calls = 0

    def tick(self, memo: dict) -> None:
        self.calls += 1
        if len(memo) > self.limits.max_states:
            raise LimitExceeded("state", self.limits.max_states, len(memo), self.elapsed)
        if self.calls % self.CHECK_EVERY == 0 and self.elapsed > self.limits.max_seconds:
            raise LimitExceeded("time", self.limits.max_seconds, len(memo), self.elapsed)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@contextmanager
def _recursion_room(n_hypotheses: int):
    """Raise the interpreter's recursion limit for a search of depth up to |H| (two frames per level)."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 4 * n_hypotheses + 1000))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def _common_labels(hclass: HypothesisClass, version_space: int, x: int) -> int:
    """Bit mask of the labels y with y in h(x) for every h in the version space."""
    masks = hclass.label_masks[x]
    return sum(1 << y for y in range(hclass.n_labels) if masks[y] & version_space == version_space)


def _witnesses(hclass: HypothesisClass, version_space: int, x: int) -> list[int]:
    """Distinct non-empty, strict sub-version-spaces V_y = {h in V : y in h(x)}, one per witness class."""
    seen: set[int] = set()
    for mask in hclass.label_masks[x]:
        kept = mask & version_space
        if kept and kept != version_space:
            seen.add(kept)
    return sorted(seen, key=lambda kept: -kept.bit_count())


def witness_label(hclass: HypothesisClass, version_space: int, x: int, kept: int) -> int:
    """Return the smallest label y whose witness leaves exactly `kept` of the version space."""
    for y, mask in enumerate(hclass.label_masks[x]):
        if mask & version_space == kept:
            return y
    raise ValueError(f"no witness at x{x} leaves version space {kept:#x}")


def _undominated(errors: dict[int, int]) -> list[tuple[int, int]]:
    """Drop predictions whose error set contains another prediction's error set; keep (label, errors)."""
    items = sorted(errors.items(), key=lambda item: item[1].bit_count())
    kept: list[tuple[int, int]] = []
    for label, err in items:
        if not any(other & err == other for _, other in kept):
            kept.append((label, err))
    return kept


class PartialFeedbackGame:
    """Memoised value G of the deterministic partial-feedback game over collection version spaces."""

    def __init__(self, hclass: HypothesisClass, limits: SearchLimits | None = None) -> None:
        self.hclass = hclass
        self.limits = limits or SearchLimits()
        self.memo: dict[Collection, int] = {}
        self._budget: _Budget | None = None

    @property
    def initial(self) -> Collection:
        return (self.hclass.all_mask,)

    def dimension(self) -> int:
        """Return PFLdim(H) = G((H,))."""
        return self.value(self.initial)

    def value(self, collection: Collection) -> int:
        """Return G(C): the mistakes an adversary still forces from C, counted from C's lowest level."""
        self._budget = _Budget(self.limits)
        try:
            with _recursion_room(self.hclass.size):
                return self._value(normalize(collection)[0])
        finally:
            self._budget = None

    def step(self, collection: Collection, x: int, prediction: int, witness: int) -> tuple[Collection, int]:
        """Apply one round; return the normalized collection and how far its lowest level rose."""
        keep = self.hclass.label_masks[x][witness]
        correct = self.hclass.label_masks[x][prediction]
        return advance(collection, keep, correct)

    def best_prediction(self, collection: Collection, x: int) -> int:
        """Return the prediction at x that minimises the worst-case value of the next collection."""
        self._budget = _Budget(self.limits)
        try:
            return self._best_prediction(collection, x)[0]
        finally:
            self._budget = None

    def _best_prediction(self, collection: Collection, x: int) -> tuple[int, int]:
        hclass = self.hclass
        version_space = _union(collection)
        common = _common_labels(hclass, version_space, x)
        if common:
            return (common & -common).bit_length() - 1, -1
        best_label, best_value = -1, None
        for label, _ in self._predictions(version_space, x):
            worst = max(self._next_value(collection, x, label, kept) for kept in _witnesses(hclass, version_space, x))
            if best_value is None or worst < best_value:
                best_label, best_value = label, worst
        return best_label, best_value

    def _predictions(self, version_space: int, x: int) -> list[tuple[int, int]]:
        masks = self.hclass.label_masks[x]
        errors = {y: version_space & ~masks[y] for y in range(self.hclass.n_labels) if masks[y] & version_space}
        return _undominated(errors)

    def _next_value(self, collection: Collection, x: int, label: int, kept: int) -> int:
        nxt, shift = advance(collection, kept, self.hclass.label_masks[x][label])
        return shift + self._value(nxt)

    def _value(self, collection: Collection) -> int:
        cached = self.memo.get(collection)
        if cached is not None:
            return cached
        self._budget.tick(self.memo)
        hclass = self.hclass
        version_space = _union(collection)
        top = len(collection) - 1
        best = top
        upper = top + version_space.bit_count() - 1
        for x in range(hclass.n_instances):
            if best >= upper:
                break
            witnesses = _witnesses(hclass, version_space, x)
            if not witnesses:
                continue
            common = _common_labels(hclass, version_space, x)
            predictions = [((common & -common).bit_length() - 1, 0)] if common else self._predictions(version_space, x)
            x_value = None
            for label, _ in predictions:
                worst = -1
                for kept in witnesses:
                    worst = max(worst, self._next_value(collection, x, label, kept))
                    if x_value is not None and worst >= x_value:
                        break
                if x_value is None or worst < x_value:
                    x_value = worst
                if x_value <= best:
                    break
            best = max(best, x_value)
        self.memo[collection] = best
        return best


def _union(collection: Collection) -> int:
    result = 0
    for level in collection:
        result |= level
    return result


def advance(collection: Collection, keep: int, correct: int) -> tuple[Collection, int]:
    """Keep the hypotheses in `keep`, add one mistake to those outside `correct`, and normalize.

    Returns the collection with its lowest non-empty level renamed 0, and the
    number of levels removed below it (the rise of the minimum mistake count).
    """
    levels = [0] * (len(collection) + 1)
    for j, level in enumerate(collection):
        kept = level & keep
        levels[j] |= kept & correct
        levels[j + 1] |= kept & ~correct
    return normalize(tuple(levels))


def normalize(collection: Collection) -> tuple[Collection, int]:
    start = 0
    while start < len(collection) and collection[start] == 0:
        start += 1
    if start == len(collection):
        raise ValueError("empty collection: no hypothesis is consistent with the witnesses")
    end = len(collection)
    while collection[end - 1] == 0:
        end -= 1
    return tuple(collection[start:end]), start


def pfl_dimension(hclass: HypothesisClass, limits: SearchLimits | None = None) -> int:
    """Return PFLdim(H), the minimax mistakes of deterministic learners under partial feedback."""
    return PartialFeedbackGame(hclass, limits).dimension()


def littlestone_dimension(hclass: HypothesisClass, limits: SearchLimits | None = None) -> int:
    """Return the Littlestone dimension of H under full set feedback.

    Full feedback reveals S_t = h*(x_t) itself (set-valued online learning), so
    the ordinary version space V is the whole state and the minimax mistakes are

        L(V) = max(0, max_x min_{y^} max_{S in {h(x) : h in V}} [y^ not in S] + L({h in V : h(x) = S})),

    ignoring instances on which all of V agree. When every h(x) is a singleton
    this is the multiclass Littlestone dimension. Partial feedback reveals less,
    so littlestone_dimension(H) <= pfl_dimension(H).
    """
    budget = _Budget(limits or SearchLimits())
    memo: dict[int, int] = {}

    def value(version_space: int) -> int:
        if version_space.bit_count() <= 1:
            return 0
        cached = memo.get(version_space)
        if cached is not None:
            return cached
        budget.tick(memo)
        best = 0
        for x in range(hclass.n_instances):
            groups: dict[int, int] = {}
            for h in hclass.members(version_space):
                groups[hclass.table[h][x]] = groups.get(hclass.table[h][x], 0) | 1 << h
            if len(groups) == 1:
                continue
            union = 0
            for label_set in groups:
                union |= label_set
            x_value = None
            for label in labels_of(union):
                worst = max((0 if label_set >> label & 1 else 1) + value(group) for label_set, group in groups.items())
                x_value = worst if x_value is None else min(x_value, worst)
            best = max(best, x_value)
        memo[version_space] = best
        return best

    with _recursion_room(hclass.size):
        return value(hclass.all_mask)


# Randomized learners


def grid_distributions(n_support: int, resolution: int) -> list[tuple[int, ...]]:
    """List all vectors of `n_support` non-negative integers summing to `resolution` (distributions times m)."""
    result = []
    for combo in combinations_with_replacement(range(n_support), resolution):
        counts = [0] * n_support
        for i in combo:
            counts[i] += 1
        result.append(tuple(counts))
    return result


class RandomizedGridGame:
    """Memoised randomized game with distributions restricted to multiples of 1/m.

    State: the version space V and the expected mistakes F(h), h in V, in units
    of 1/m, shifted so that the smallest is 0. The value is

        R(V, F) = max( max F,  max_x  min_{pi in grid}  max_y  R(V_y, F + m * pi(Y \\ h(x))) ),

    with a point mass on a common label when one exists (it costs nothing and
    dominates), and distributions supported on labels that some h in V allows.
    """

    def __init__(self, hclass: HypothesisClass, resolution: int, limits: SearchLimits | None = None) -> None:
        if not 1 <= resolution <= 64:
            raise InputError(f"resolution is {resolution}; allowed range is 1..64", field="resolution")
        self.hclass = hclass
        self.resolution = resolution
        self.limits = limits or SearchLimits()
        self.memo: dict[tuple[int, tuple[int, ...]], int] = {}
        self._grids: dict[int, list[tuple[int, ...]]] = {}
        self._budget: _Budget | None = None

    @property
    def initial(self) -> tuple[int, tuple[int, ...]]:
        return self.hclass.all_mask, (0,) * self.hclass.size

    def value(self, state: tuple[int, tuple[int, ...]] | None = None) -> int:
        """Return R in units of 1/m from `state` (default: the start of the game)."""
        self._budget = _Budget(self.limits)
        try:
            version_space, losses = state or self.initial
            low = min(losses)
            with _recursion_room(self.hclass.size):
                return low + self._value(version_space, tuple(v - low for v in losses))
        finally:
            self._budget = None

    def step(self, state: tuple[int, tuple[int, ...]], x: int, distribution: tuple[int, ...],
             witness: int) -> tuple[int, tuple[int, ...]]:
        """Apply one round with `distribution` (counts per label summing to m); losses are not shifted."""
        version_space, losses = state
        keep = version_space & self.hclass.label_masks[x][witness]
        members = self.hclass.members(version_space)
        new_losses = tuple(
            losses[i] + self._loss(h, x, distribution) for i, h in enumerate(members) if keep >> h & 1
        )
        return keep, new_losses

    def best_distribution(self, state: tuple[int, tuple[int, ...]], x: int) -> tuple[int, ...]:
        """Return the grid distribution at x (counts per label) with the smallest worst-case value."""
        self._budget = _Budget(self.limits)
        try:
            version_space, losses = state
            low = min(losses)
            losses = tuple(v - low for v in losses)
            best, best_value = None, None
            for counts, _ in self._candidates(version_space, x):
                worst = max(self._child(version_space, losses, x, counts, kept)
                            for kept in _witnesses(self.hclass, version_space, x)) if _witnesses(
                    self.hclass, version_space, x) else 0
                if best_value is None or worst < best_value:
                    best, best_value = counts, worst
            return best
        finally:
            self._budget = None

    def _loss(self, h: int, x: int, counts: tuple[int, ...]) -> int:
        label_set = self.hclass.table[h][x]
        return self.resolution - sum(c for y, c in enumerate(counts) if label_set >> y & 1)

    def _candidates(self, version_space: int, x: int) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """Grid distributions over Y as (counts, losses of the members of V), one per distinct loss vector."""
        hclass, m = self.hclass, self.resolution
        common = _common_labels(hclass, version_space, x)
        members = hclass.members(version_space)
        if common:
            counts = [0] * hclass.n_labels
            counts[(common & -common).bit_length() - 1] = m
            return [(tuple(counts), (0,) * len(members))]
        support = [y for y in range(hclass.n_labels) if hclass.label_masks[x][y] & version_space]
        if len(support) not in self._grids:
            self._grids[len(support)] = grid_distributions(len(support), m)
        seen: dict[tuple[int, ...], tuple[int, ...]] = {}
        for grid_point in self._grids[len(support)]:
            counts = [0] * hclass.n_labels
            for y, c in zip(support, grid_point):
                counts[y] = c
            losses = tuple(self._loss(h, x, tuple(counts)) for h in members)
            seen.setdefault(losses, tuple(counts))
        # Drop loss vectors that another one beats for every hypothesis.
        vectors = sorted(seen, key=sum)
        kept = [v for i, v in enumerate(vectors)
                if not any(all(a <= b for a, b in zip(w, v)) and w != v for w in vectors[:i] + vectors[i + 1 :])]
        return [(seen[v], v) for v in kept]

    def _child(self, version_space: int, losses: tuple[int, ...], x: int, counts: tuple[int, ...], kept: int) -> int:
        members = self.hclass.members(version_space)
        new = tuple(losses[i] + self._loss(h, x, counts) for i, h in enumerate(members) if kept >> h & 1)
        low = min(new)
        return low + self._value(kept, tuple(v - low for v in new))

    def _value(self, version_space: int, losses: tuple[int, ...]) -> int:
        key = (version_space, losses)
        cached = self.memo.get(key)
        if cached is not None:
            return cached
        self._budget.tick(self.memo)
        best = max(losses)
        upper = best + (version_space.bit_count() - 1) * self.resolution
        for x in range(self.hclass.n_instances):
            if best >= upper:
                break
            witnesses = _witnesses(self.hclass, version_space, x)
            if not witnesses:
                continue
            x_value = None
            for counts, _ in self._candidates(version_space, x):
                worst = -1
                for kept in witnesses:
                    worst = max(worst, self._child(version_space, losses, x, counts, kept))
                    if x_value is not None and worst >= x_value:
                        break
                if x_value is None or worst < x_value:
                    x_value = worst
                if x_value <= best:
                    break
            best = max(best, x_value)
        self.memo[key] = best
        return best


@dataclass(frozen=True)
class RandomizedBounds:
    """Bounds on the randomized minimax expected mistakes (the quantity PMSdim characterizes)."""

    lower: float
    upper: float
    grid_value: float
    resolution: int

    @property
    def exact(self) -> bool:
        return abs(self.upper - self.lower) < 1e-12


def randomized_value_bounds(hclass: HypothesisClass, resolution: int, pfl: int | None = None,
                            limits: SearchLimits | None = None) -> RandomizedBounds:
    """Bound the randomized minimax value R* of H from the game on the grid of resolution m.

    Upper: R_m, the value when distributions are multiples of 1/m; the grid
    learner achieves it, and a deterministic learner achieves PFLdim, so
    R* <= min(R_m, PFLdim).

    Lower: the larger of `one_round_lower_bound` and
    R_m - D * floor(|Y| / 2) / m, with D = `costly_depth(H)` <= |H| - 1.
    Derivation of the second: rounding an optimal
    distribution pi to the grid (largest remainders) moves each coordinate by
    less than 1/m, so pi(A) moves by at most floor(|Y|/2)/m for every set A. R is
    monotone and 1-Lipschitz in the sup norm of F, and only rounds without a
    common label cost anything (elsewhere both games play a common label), so by
    induction on |V|, R_m(V, F) <= R(V, F) + D(V) * floor(|Y|/2) / m.
    """
    game = RandomizedGridGame(hclass, resolution, limits)
    grid_value = game.value() / resolution
    slack = costly_depth(hclass, limits) * (hclass.n_labels // 2) / resolution
    upper = grid_value if pfl is None else min(grid_value, float(pfl))
    lower = max(0.0, grid_value - slack, one_round_lower_bound(hclass))
    return RandomizedBounds(lower=min(lower, upper), upper=upper, grid_value=grid_value, resolution=resolution)


def costly_depth(hclass: HypothesisClass, limits: SearchLimits | None = None) -> int:
    """Return D(H): the most rounds without a common label along any set-realizable play.

    D(V) = max over x and witnesses y with V_y a strict subset of V of
    [no label common to V at x] + D(V_y), and D(V) = 0 when no witness shrinks
    V. Only such rounds can cost a learner anything, so D(H) <= |H| - 1 bounds
    how often grid rounding can hurt.
    """
    budget = _Budget(limits or SearchLimits())
    memo: dict[int, int] = {}

    def depth(version_space: int) -> int:
        cached = memo.get(version_space)
        if cached is not None:
            return cached
        budget.tick(memo)
        best = 0
        for x in range(hclass.n_instances):
            cost = 0 if _common_labels(hclass, version_space, x) else 1
            for kept in _witnesses(hclass, version_space, x):
                best = max(best, cost + depth(kept))
        memo[version_space] = best
        return best

    with _recursion_room(hclass.size):
        return depth(hclass.all_mask)


def one_round_lower_bound(hclass: HypothesisClass) -> float:
    """Return max_x min_pi max_h pi(Y \\ h(x)): the adversary plays one instance, then commits to the worst h.

    Every h is consistent with some witness, so after one round the adversary
    can stop with any h; the inner min over the simplex is a linear program
    (minimise t subject to 1 - pi(h(x)) <= t for every h).
    """
    from scipy.optimize import linprog

    best = 0.0
    k = hclass.n_labels
    for x in range(hclass.n_instances):
        sets = sorted({row[x] for row in hclass.table})
        # Variables: pi_0..pi_{k-1}, t. Constraint per set: -sum_{y in h(x)} pi_y - t <= -1.
        a_ub = [[-1.0 if s >> y & 1 else 0.0 for y in range(k)] + [-1.0] for s in sets]
        result = linprog(c=[0.0] * k + [1.0], A_ub=a_ub, b_ub=[-1.0] * len(sets),
                         A_eq=[[1.0] * k + [0.0]], b_eq=[1.0], bounds=[(0, None)] * (k + 1), method="highs")
        if result.status != 0:
            raise RuntimeError(f"linear program at x{x} failed: {result.message}")
        best = max(best, float(result.fun))
    return best
