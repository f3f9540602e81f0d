"""Finite set-valued hypothesis classes and their generators.

A class H lives on a finite instance space X = {0, ..., n_instances - 1} and a
finite label space Y = {0, ..., n_labels - 1}. Each hypothesis h maps every
instance x to a non-empty set h(x) of correct labels. Sets are stored as bit
masks over labels (bit y set when y is in h(x)), so the game-tree searches in
`components.online.dimensions` work on integers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from components.errors import InputError

MAX_LABELS = 62  # label sets are Python ints, but the generators and JSON use small spaces only


def mask_of(labels: Iterable[int]) -> int:
    mask = 0
    for label in labels:
        mask |= 1 << int(label)
    return mask


def labels_of(mask: int) -> tuple[int, ...]:
    return tuple(i for i in range(mask.bit_length()) if mask >> i & 1)


@dataclass(frozen=True)
class HypothesisClass:
    """A finite class of set-valued hypotheses.

    `table[h][x]` is the bit mask of h(x). The constructor checks the table and
    raises InputError naming the hypothesis, the instance and the fix.
    """

    n_instances: int
    n_labels: int
    table: tuple[tuple[int, ...], ...]
    name: str = "class"
    # label_masks[x][y]: bit mask over hypotheses h with y in h(x).
    label_masks: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.n_instances:
            raise InputError(f"n_instances is {self.n_instances}; it must be at least 1", field="n_instances")
        if not 1 <= self.n_labels <= MAX_LABELS:
            raise InputError(f"n_labels is {self.n_labels}; allowed range is 1..{MAX_LABELS}", field="n_labels")
        if not self.table:
            raise InputError("the class has no hypotheses; give at least one", field="hypotheses")
        full = (1 << self.n_labels) - 1
        for h, row in enumerate(self.table):
            if len(row) != self.n_instances:
                raise InputError(
                    f"hypothesis {h} has {len(row)} label sets but there are {self.n_instances} instances",
                    field=f"hypotheses[{h}]", hint="Give one label set per instance",
                )
            for x, mask in enumerate(row):
                if mask <= 0:
                    raise InputError(f"h{h}(x{x}) is empty", field=f"hypotheses[{h}][{x}]",
                                     hint="Every instance needs at least one correct label")
                if mask & ~full:
                    raise InputError(
                        f"h{h}(x{x}) contains label {mask.bit_length() - 1}, outside 0..{self.n_labels - 1}",
                        field=f"hypotheses[{h}][{x}]", hint="Raise n_labels or remove the label",
                    )
        masks = tuple(
            tuple(sum(1 << h for h, row in enumerate(self.table) if row[x] >> y & 1) for y in range(self.n_labels))
            for x in range(self.n_instances)
        )
        object.__setattr__(self, "label_masks", masks)

    @property
    def size(self) -> int:
        return len(self.table)

    @property
    def all_mask(self) -> int:
        return (1 << self.size) - 1

    def label_set(self, h: int, x: int) -> frozenset[int]:
        return frozenset(labels_of(self.table[h][x]))

    def members(self, version_space: int) -> list[int]:
        return [h for h in range(self.size) if version_space >> h & 1]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "n_instances": self.n_instances,
            "n_labels": self.n_labels,
            "hypotheses": [[list(labels_of(mask)) for mask in row] for row in self.table],
        }

    @classmethod
    def from_sets(cls, hypotheses: Sequence[Sequence[Iterable[int]]], n_labels: int | None = None,
                  name: str = "class") -> "HypothesisClass":
        """Build a class from label lists: hypotheses[h][x] lists the correct labels of x under h."""
        if not hypotheses:
            raise InputError("the class has no hypotheses; give at least one", field="hypotheses")
        rows = []
        for h, row in enumerate(hypotheses):
            masks = []
            for x, labels in enumerate(row):
                labels = list(labels)
                for label in labels:
                    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0:
                        raise InputError(f"label {label!r} is not a non-negative integer",
                                         field=f"hypotheses[{h}][{x}]")
                masks.append(mask_of(labels))
            rows.append(tuple(masks))
        if n_labels is None:
            n_labels = max(max(mask.bit_length() for mask in row) for row in rows)
        return cls(n_instances=len(rows[0]), n_labels=n_labels, table=tuple(rows), name=name)

    @classmethod
    def from_dict(cls, data: dict) -> "HypothesisClass":
        return cls.from_sets(data["hypotheses"], data["n_labels"], data.get("name", "class"))


# Structure of the label sets at each instance


def helly_number(sets: Iterable[int]) -> int:
    """Return the Helly number of a finite family of label sets (bit masks).

    The Helly number is the smallest d such that every subfamily whose members
    intersect d at a time has a non-empty intersection. For a finite family it
    equals the size of the largest subfamily with empty intersection whose
    proper subfamilies all intersect, or 1 when the whole family intersects.
    Brute force over subfamilies of the distinct sets (2^k of them).
    """
    family = sorted(set(sets))
    if len(family) > 16:
        raise InputError(f"helly_number got {len(family)} distinct sets; brute force handles at most 16",
                         field="sets")
    best = 1
    for size in range(2, len(family) + 1):
        for subfamily in combinations(family, size):
            if _intersection(subfamily) == 0 and all(
                _intersection(subfamily[:i] + subfamily[i + 1 :]) != 0 for i in range(size)
            ):
                best = size
    return best


def _intersection(masks: Sequence[int]) -> int:
    result = -1
    for mask in masks:
        result &= mask
    return result


def class_helly_number(hclass: HypothesisClass, max_sets: int = 16) -> int | None:
    """Return the largest Helly number over instances of the families {h(x) : h in H}.

    Returns None when some instance has more than `max_sets` distinct label sets,
    because the brute force in `helly_number` grows as 2^(distinct sets).
    """
    families = [{row[x] for row in hclass.table} for x in range(hclass.n_instances)]
    if any(len(family) > max_sets for family in families):
        return None
    return max(helly_number(family) for family in families)


def is_nested_inclusion(hclass: HypothesisClass) -> bool:
    """Check the nested-inclusion structure: at every instance any two label sets are nested or disjoint."""
    for x in range(hclass.n_instances):
        family = {row[x] for row in hclass.table}
        for a, b in combinations(family, 2):
            if a & b and (a & b) != a and (a & b) != b:
                return False
    return True


# Generators


def _check_sizes(n_hypotheses: int, n_instances: int, n_labels: int) -> None:
    for name, value, low, high in (("n_hypotheses", n_hypotheses, 1, 4096), ("n_instances", n_instances, 1, 64),
                                   ("n_labels", n_labels, 1, MAX_LABELS)):
        if not low <= value <= high:
            raise InputError(f"{name} is {value}; allowed range is {low}..{high}", field=name)


def random_class(n_hypotheses: int, n_instances: int, n_labels: int, density: float,
                 rng: np.random.Generator, name: str = "random") -> HypothesisClass:
    """Draw each label into each h(x) independently with probability `density`; an empty draw keeps one label."""
    _check_sizes(n_hypotheses, n_instances, n_labels)
    if not 0.0 < density <= 1.0 or density != density:
        raise InputError(f"density is {density}; allowed range is (0, 1]", field="density")
    rows = []
    for _ in range(n_hypotheses):
        row = []
        for _ in range(n_instances):
            draws = rng.random(n_labels) < density
            mask = mask_of(np.flatnonzero(draws)) or 1 << int(rng.integers(n_labels))
            row.append(mask)
        rows.append(tuple(row))
    return HypothesisClass(n_instances, n_labels, tuple(rows), name)


def _random_laminar_family(labels: list[int], rng: np.random.Generator) -> list[int]:
    """Split `labels` recursively at random; the family is every part met on the way (a laminar family)."""
    family = [mask_of(labels)]
    if len(labels) > 1:
        shuffled = list(rng.permutation(labels))
        cut = int(rng.integers(1, len(labels)))
        family += _random_laminar_family(shuffled[:cut], rng) + _random_laminar_family(shuffled[cut:], rng)
    return family


def nested_inclusion_class(n_hypotheses: int, n_instances: int, n_labels: int,
                           rng: np.random.Generator, name: str = "nested") -> HypothesisClass:
    """Draw a class whose label sets at each instance are nested or disjoint.

    Each instance gets a random laminar family over Y (a random hierarchy of
    splits), and each h(x) is drawn uniformly from it. A pure chain makes every
    label of the smallest set safe, so the split hierarchy is what keeps the
    class from being trivially learnable.
    """
    _check_sizes(n_hypotheses, n_instances, n_labels)
    families = [_random_laminar_family(list(range(n_labels)), rng) for _ in range(n_instances)]
    rows = tuple(
        tuple(families[x][int(rng.integers(len(families[x])))] for x in range(n_instances))
        for _ in range(n_hypotheses)
    )
    return HypothesisClass(n_instances, n_labels, rows, name)


def interval_class(n_hypotheses: int, n_instances: int, n_labels: int, max_width: int,
                   rng: np.random.Generator, name: str = "helly2-intervals") -> HypothesisClass:
    """Draw a class whose label sets are intervals {a, ..., b} of the ordered labels.

    Intervals of a line have Helly number 2: pairwise intersecting intervals share
    a point. `max_width` bounds b - a + 1.
    """
    _check_sizes(n_hypotheses, n_instances, n_labels)
    if not 1 <= max_width <= n_labels:
        raise InputError(f"max_width is {max_width}; allowed range is 1..{n_labels}", field="max_width")
    rows = []
    for _ in range(n_hypotheses):
        row = []
        for _ in range(n_instances):
            width = int(rng.integers(1, max_width + 1))
            start = int(rng.integers(0, n_labels - width + 1))
            row.append(mask_of(range(start, start + width)))
        rows.append(tuple(row))
    return HypothesisClass(n_instances, n_labels, tuple(rows), name)


def two_hypothesis_separation(n_extra_labels: int = 2) -> HypothesisClass:
    """Return the two-hypothesis class used to show linear regret outside set realizability.

    One instance, h0(x) = {0}, h1(x) = {1}, and `n_extra_labels` further labels
    that no hypothesis contains. Under set realizability the first witness names
    the hypothesis, so one mistake is the worst case. When the correct set may be
    larger than h*(x) (see `components.online.play.superset_sequence`), the
    environment reveals only extra labels and no learner can tell h0 from h1.
    """
    if not 1 <= n_extra_labels <= 16:
        raise InputError(f"n_extra_labels is {n_extra_labels}; allowed range is 1..16", field="n_extra_labels")
    return HypothesisClass(1, 2 + n_extra_labels, ((0b01,), (0b10,)), "two-hypothesis")
