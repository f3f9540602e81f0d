"""PFLdim, the full-feedback Littlestone dimension and randomized bounds on hand-worked and random classes."""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations

import numpy as np
import pytest

from components.errors import InputError
from components.online.classes import (
    HypothesisClass,
    class_helly_number,
    helly_number,
    interval_class,
    is_nested_inclusion,
    mask_of,
    nested_inclusion_class,
    random_class,
    two_hypothesis_separation,
)
from components.online.dimensions import (
    LimitExceeded,
    PartialFeedbackGame,
    SearchLimits,
    costly_depth,
    littlestone_dimension,
    one_round_lower_bound,
    pfl_dimension,
    randomized_value_bounds,
)
from components.online.experiment import analyse_class


def make(*hypotheses, n_labels=None):
    return HypothesisClass.from_sets(hypotheses, n_labels)


# Hand-computed classes. Each tuple: hypotheses as h -> [h(x0), h(x1), ...], PFLdim, full-feedback Ldim,
# randomized minimax expected mistakes, and why.
HAND_CLASSES = [
    # Two disjoint singletons: one forced mistake; a fair coin errs with probability 1/2.
    (([[0]], [[1]]), 1, 1, 0.5),
    # A chain {0} < {0,1} < {0,1,2}: label 0 is always correct.
    (([[0]], [[0, 1]], [[0, 1, 2]]), 0, 0, 0.0),
    # Three pairs of {0,1,2}: no common label, so one mistake; any witness leaves two sets that share a label.
    # Randomized: the three losses pi_2, pi_0, pi_1 sum to 1, so the best is 1/3 (uniform).
    (([[0, 1]], [[1, 2]], [[0, 2]]), 1, 1, 1 / 3),
    # Singletons on two instances, h0=(0,0), h1=(0,1), h2=(1,0). Either instance splits the class into a pair
    # and a single hypothesis, so no shattered tree has depth 2 and the Littlestone dimension is 1. A singleton
    # witness is the whole correct set, so PFLdim is the same.
    (([[0], [0]], [[0], [1]], [[1], [0]]), 1, 1, None),
    # Four hypotheses realising every labelling of two instances by singletons: a complete tree of depth 2.
    (([[0], [0]], [[0], [1]], [[1], [0]], [[1], [1]]), 2, 2, None),
]


@pytest.mark.parametrize("hypotheses, pfl, ldim, randomized", HAND_CLASSES)
def test_hand_computed_dimensions(hypotheses, pfl, ldim, randomized):
    hclass = make(*hypotheses)
    assert pfl_dimension(hclass) == pfl
    assert littlestone_dimension(hclass) == ldim
    if randomized is not None:
        bounds = randomized_value_bounds(hclass, 6, pfl)
        assert bounds.lower == pytest.approx(randomized)
        assert bounds.upper == pytest.approx(randomized)


def test_partial_feedback_strictly_harder():
    # X = {a, b}, Y = {0, 1, 2}.
    #   h0: a->{2}, b->{0}    h1: a->{2}, b->{2}    h2: a->{1}, b->{0,1}    h3: a->{0}, b->{2}
    # Full feedback, Ldim = 1: predicting 2 at b, the revealed set {0} names h0, {0,1} names h2, and {2}
    # leaves h1, h3 with no mistake yet; they differ at a, so one mistake in total (symmetric from a).
    # Partial feedback, PFLdim = 2: at b, predicting 2 errs on h0 and h2, and witness 0 keeps both (0 is in
    # {0} and {0,1}); they differ at a ({2} vs {1}), a second mistake. Predicting 0 errs on h1 and h3, and
    # witness 2 keeps both; they differ at a. Predicting 1 errs on h1 and h3 too, with the same witness 2.
    hclass = make([[2], [0]], [[2], [2]], [[1], [0, 1]], [[0], [2]])
    assert littlestone_dimension(hclass) == 1
    assert pfl_dimension(hclass) == 2


def test_two_hypothesis_separation_class():
    hclass = two_hypothesis_separation(2)
    assert hclass.n_labels == 4
    assert pfl_dimension(hclass) == 1


# Brute-force references, written independently of the memoised recursion: explicit histories, every
# prediction and witness, a fixed horizon, no pruning, no normalisation.


def brute_force_pfl(hclass: HypothesisClass, horizon: int) -> int:
    @lru_cache(maxsize=None)
    def value(counts: tuple[tuple[int, int], ...], left: int) -> int:
        best = max(c for _, c in counts)
        if left == 0:
            return best
        for x in range(hclass.n_instances):
            x_value = None
            for prediction in range(hclass.n_labels):
                worst = None
                for witness in range(hclass.n_labels):
                    nxt = tuple((h, c + (0 if prediction in hclass.label_set(h, x) else 1))
                                for h, c in counts if witness in hclass.label_set(h, x))
                    if nxt:
                        v = value(nxt, left - 1)
                        worst = v if worst is None else max(worst, v)
                x_value = worst if x_value is None else min(x_value, worst)
            best = max(best, x_value)
        return best

    return value(tuple((h, 0) for h in range(hclass.size)), horizon)


def multiclass_littlestone(hclass: HypothesisClass) -> int:
    """Littlestone dimension of a singleton-valued class by its shattered-tree definition."""

    @lru_cache(maxsize=None)
    def ldim(members: frozenset[int]) -> int:
        if len(members) <= 1:
            return len(members) - 1
        best = 0
        for x in range(hclass.n_instances):
            by_label: dict[int, frozenset[int]] = {}
            for h in members:
                (label,) = hclass.label_set(h, x)
                by_label[label] = by_label.get(label, frozenset()) | {h}
            for a, b in combinations(by_label.values(), 2):
                best = max(best, 1 + min(ldim(a), ldim(b)))
        return best

    return ldim(frozenset(range(hclass.size)))


def random_small_classes(count: int, seed: int, max_hypotheses: int = 4):
    rng = np.random.default_rng(seed)
    return [random_class(int(rng.integers(2, max_hypotheses + 1)), int(rng.integers(1, 3)), 3, 0.5, rng)
            for _ in range(count)]


@pytest.mark.parametrize("hclass", random_small_classes(25, seed=11), ids=lambda c: str(c.table))
def test_pfl_matches_brute_force(hclass):
    assert pfl_dimension(hclass) == brute_force_pfl(hclass, hclass.size)


def test_brute_force_horizon_is_enough():
    # The recursion claims |H| - 1 useful rounds suffice; one more round of brute force changes nothing.
    for hclass in random_small_classes(6, seed=12, max_hypotheses=3):
        assert brute_force_pfl(hclass, hclass.size - 1) == brute_force_pfl(hclass, hclass.size + 1)


def test_singleton_classes_match_multiclass_littlestone():
    rng = np.random.default_rng(13)
    for _ in range(20):
        n, k = int(rng.integers(2, 7)), int(rng.integers(2, 4))
        table = tuple(tuple(1 << int(rng.integers(k)) for _ in range(2)) for _ in range(n))
        hclass = HypothesisClass(2, k, table)
        reference = multiclass_littlestone(hclass)
        assert littlestone_dimension(hclass) == reference
        # With singletons the witness is the whole set, so partial feedback loses nothing.
        assert pfl_dimension(hclass) == reference


def test_identities_on_random_classes():
    rng = np.random.default_rng(14)
    for _ in range(30):
        hclass = random_class(int(rng.integers(2, 8)), int(rng.integers(1, 4)), int(rng.integers(2, 5)), 0.5, rng)
        pfl = pfl_dimension(hclass)
        ldim = littlestone_dimension(hclass)
        bounds = randomized_value_bounds(hclass, 4, pfl)
        assert ldim <= pfl
        # Mistakes happen only in rounds without a common label, at most one per hypothesis each.
        assert pfl <= costly_depth(hclass) <= hclass.size - 1
        assert bounds.lower <= bounds.upper + 1e-12
        assert bounds.upper <= pfl
        # No mistake is forced exactly when every instance has a label common to all hypotheses.
        trivial = all(hclass.label_masks[x][y] == hclass.all_mask for x in range(hclass.n_instances)
                      for y in [max(range(hclass.n_labels), key=lambda y: hclass.label_masks[x][y].bit_count())])
        assert (pfl == 0) == trivial
        assert (bounds.upper == 0) == trivial
        # Fewer hypotheses never raise the dimension.
        sub = HypothesisClass(hclass.n_instances, hclass.n_labels, hclass.table[:-1]) if hclass.size > 1 else hclass
        assert pfl_dimension(sub) <= pfl


def test_randomized_bounds_tighten_with_resolution():
    hclass = make([[0, 1], [0]], [[1, 2], [1]], [[0, 2], [2]], [[0], [0, 1]])
    coarse = randomized_value_bounds(hclass, 2)
    fine = randomized_value_bounds(hclass, 6)
    assert fine.upper - fine.lower <= coarse.upper - coarse.lower + 1e-12
    assert fine.lower <= coarse.upper + 1e-12
    assert coarse.lower <= fine.upper + 1e-12


def test_one_round_lower_bound_by_hand():
    # Sets {0}, {1}, {2}: whatever pi, some label has mass at most 1/3, so some h errs with 2/3.
    assert one_round_lower_bound(make([[0]], [[1]], [[2]])) == pytest.approx(2 / 3)


def test_helly_numbers_by_hand():
    assert helly_number([mask_of([0, 1]), mask_of([1, 2]), mask_of([0, 2])]) == 3
    assert helly_number([mask_of([0]), mask_of([1])]) == 2
    assert helly_number([mask_of([0]), mask_of([0, 1])]) == 1


def test_structured_generators():
    rng = np.random.default_rng(15)
    for _ in range(10):
        nested = nested_inclusion_class(6, 3, 5, rng)
        assert is_nested_inclusion(nested)
        intervals = interval_class(6, 3, 5, 3, rng)
        assert class_helly_number(intervals) <= 2
    assert not is_nested_inclusion(make([[0, 1]], [[1, 2]]))


def test_limits_stop_cleanly():
    hclass = random_class(10, 4, 4, 0.5, np.random.default_rng(16))
    with pytest.raises(LimitExceeded, match=r"state limit of 3 reached .*raise limits\.max_seconds or limits\.max_states"):
        PartialFeedbackGame(hclass, SearchLimits(max_states=3)).dimension()
    row = analyse_class(hclass, 4, SearchLimits(max_states=3))
    assert row["status"].startswith("limit: state limit")
    assert row["pfl_dim"] is None


def test_time_limit_stops_cleanly():
    # About 10^4 states, so the clock is read several times before the search could finish.
    hclass = random_class(32, 4, 4, 0.5, np.random.default_rng(32))
    with pytest.raises(LimitExceeded, match=r"time limit of 1e-06 reached"):
        PartialFeedbackGame(hclass, SearchLimits(max_seconds=1e-6)).dimension()


@pytest.mark.parametrize(
    "build, pattern",
    [
        (lambda: make([[0]], [[]]), r"hypotheses\[1\]\[0\].*empty"),
        (lambda: HypothesisClass(1, 2, ((0b100,),)), r"label 2, outside 0\.\.1"),
        (lambda: make([[0], [1]], [[0]]), r"hypothesis 1 has 1 label sets"),
        (lambda: make([[-1]]), r"label -1 is not a non-negative integer"),
        (lambda: random_class(3, 2, 3, float("nan"), np.random.default_rng(0)), r"density"),
        (lambda: SearchLimits(max_seconds=0), r"max_seconds"),
    ],
)
def test_invalid_input_raises(build, pattern):
    with pytest.raises(InputError, match=pattern):
        build()
