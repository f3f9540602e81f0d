"""Diversity report of a set of triplets, and near-duplicate removal by MinHash.

Near duplicates. Each proof becomes the set of its word 3-gram shingles S.
The MinHash signature holds, for permutations h_1..h_m of the shingle space,
min_{s in S} h_i(s); for two sets A and B, P[min h_i(A) = min h_i(B)] =
|A n B| / |A u B| (Broder, "On the resemblance and containment of documents",
1997), so the share of equal signature entries is an unbiased estimate of the
Jaccard similarity. Locality-sensitive hashing splits the m entries into b
bands of r rows, and two proofs become candidates when some band matches. A
candidate pair is a near duplicate when its estimated Jaccard similarity
reaches the threshold.

Only triplets with the same label, method, error type and error steps are
compared. An injected error changes one token of a correct proof, and a
rephrasing changes a few clauses of the reference, so both are near duplicates
of their source by design and carry a different training signal; what the
rule drops is the same kind of proof produced twice, within a problem or
across problems (which would leak between splits). Of each group of near
duplicates the first in the input order is kept.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from components.proofs.schema import Triplet

_WORD = re.compile(r"\w+|[^\w\s]")
_PRIME = (1 << 61) - 1


def shingles(text: str, n: int = 3) -> set[str]:
    """Return the set of lowercase word n-grams of `text` (the whole text when it has fewer than n words)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {" ".join(words)}
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


class MinHasher:
    """MinHash signatures with m = bands * rows universal hash functions h(x) = (a x + b) mod p."""

    def __init__(self, bands: int = 16, rows: int = 8, seed: int = 0) -> None:
        self.bands, self.rows = bands, rows
        rng = np.random.default_rng(seed)
        m = bands * rows
        self.a = rng.integers(1, _PRIME, size=m, dtype=np.uint64)
        self.b = rng.integers(0, _PRIME, size=m, dtype=np.uint64)

    def signature(self, items: set[str]) -> np.ndarray:
        """Return the (m,) signature of a set of strings."""
        base = np.array([int.from_bytes(hashlib.blake2b(item.encode("utf-8"), digest_size=8).digest(), "little") % _PRIME
                         for item in items], dtype=object)
        # Python integers avoid the uint64 overflow of a * x; the sets are small (a proof's shingles).
        a, b = self.a.astype(object), self.b.astype(object)
        values = (np.outer(base, a) + b) % _PRIME  # (|S|, m)
        return values.min(axis=0).astype(np.uint64)

    @staticmethod
    def similarity(first: np.ndarray, second: np.ndarray) -> float:
        """Estimated Jaccard similarity: the share of equal signature entries."""
        return float(np.mean(first == second))

    def band_keys(self, signature: np.ndarray) -> list[bytes]:
        return [signature[i * self.rows : (i + 1) * self.rows].tobytes() for i in range(self.bands)]


def near_duplicates(triplets: Sequence[Triplet], threshold: float = 0.9, hasher: MinHasher | None = None) -> dict[int, int]:
    """Return {index of a dropped triplet: index of the kept triplet it duplicates}."""
    hasher = hasher or MinHasher()
    signatures = [hasher.signature(shingles(triplet.question + "\n" + triplet.proof)) for triplet in triplets]
    buckets: dict[tuple[Any, ...], list[int]] = {}
    dropped: dict[int, int] = {}
    for index, triplet in enumerate(triplets):
        group = (triplet.label, triplet.method, triplet.error_type, tuple(triplet.error_steps))
        candidates: set[int] = set()
        keys = [(group, band, key) for band, key in enumerate(hasher.band_keys(signatures[index]))]
        for key in keys:
            candidates.update(buckets.get(key, ()))
        match = next((other for other in sorted(candidates)
                      if hasher.similarity(signatures[index], signatures[other]) >= threshold), None)
        if match is not None:
            dropped[index] = match
            continue
        for key in keys:
            buckets.setdefault(key, []).append(index)
    return dropped


@dataclass
class DiversityReport:
    """Counts, duplicate rate and length distribution of one run's triplets."""

    total: int
    kept: int
    duplicate_rate: float
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    steps: list[int] = field(default_factory=list)
    words: list[int] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)  # generation items that failed, by reason

    def rows(self) -> list[dict[str, Any]]:
        """Return the counts as table rows: dimension, value, count, share."""
        return [{"dimension": dimension, "value": value, "count": count, "share": round(count / max(self.kept, 1), 4)}
                for dimension, values in self.counts.items() for value, count in sorted(values.items())]

    def metrics(self) -> dict[str, float]:
        steps, words = np.array(self.steps or [0]), np.array(self.words or [0])
        return {
            "total": float(self.total), "kept": float(self.kept), "duplicate_rate": self.duplicate_rate,
            "steps_median": float(np.median(steps)), "steps_p95": float(np.percentile(steps, 95)),
            "words_median": float(np.median(words)), "words_p95": float(np.percentile(words, 95)),
            **{f"distinct_{dimension}": float(len(values)) for dimension, values in self.counts.items()},
            "failed_items": float(sum(self.failures.values())),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "kept": self.kept, "duplicate_rate": self.duplicate_rate, "counts": self.counts,
                "steps": self.steps, "words": self.words, "failures": self.failures}


def model_of(triplet: Triplet) -> str:
    return str(triplet.generator_params.get("model", triplet.generator))


def diversity_report(triplets: Sequence[Triplet], threshold: float = 0.9) -> tuple[list[Triplet], DiversityReport]:
    """Drop near duplicates and describe what is left: counts over source, method, model, error type, difficulty."""
    dropped = near_duplicates(triplets, threshold) if triplets else {}
    kept = [triplet for index, triplet in enumerate(triplets) if index not in dropped]
    dimensions = {
        "source": lambda t: t.source, "method": lambda t: t.method.value, "model": model_of,
        "error_type": lambda t: t.error_type.value if t.error_type else "none",
        "difficulty": lambda t: t.difficulty or "unknown", "label": lambda t: t.label,
    }
    counts = {name: dict(Counter(key(t) for t in kept)) for name, key in dimensions.items()}
    report = DiversityReport(
        total=len(triplets), kept=len(kept), duplicate_rate=len(dropped) / len(triplets) if triplets else 0.0,
        counts=counts, steps=[len(t.steps) for t in kept], words=[len(t.proof.split()) for t in kept],
    )
    return kept, report


def plot_report(report: DiversityReport):
    """Return a matplotlib figure: counts by method, by model and by error type, and the length histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for axis, dimension in zip(axes.flat[:3], ("method", "model", "error_type")):
        values = report.counts.get(dimension, {})
        names = sorted(values)
        axis.barh(names, [values[name] for name in names], color="#4477aa")
        axis.set_title(f"triplets by {dimension}")
        axis.tick_params(axis="y", labelsize=8)
    axis = axes.flat[3]
    axis.hist(report.words, bins=min(30, max(5, len(set(report.words)))), color="#228833")
    axis.set_title(f"proof length (words); {report.duplicate_rate:.1%} near duplicates dropped")
    axis.set_xlabel("words")
    fig.tight_layout()
    return fig
