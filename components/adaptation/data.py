"""Domain-shift data sets: rotating sklearn digits, rotated two-moons, and arrays read from a file.

Every data set is a `DomainData`: features (n, d), labels (n,), and a domain index per sample,
0 for the labelled source, D - 1 for the target and 1 .. D - 2 for real intermediate domains
(used by the GST baseline and for analysis only). Target samples are split into an adaptation
part, whose labels are never used, and a held-out test part.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from components.errors import InputError


@dataclass
class DomainData:
    """Samples of a source, optional real intermediate domains and a target."""

    name: str
    features: np.ndarray  # (n, d) float32
    labels: np.ndarray  # (n,) int64
    domain: np.ndarray  # (n,) int64, 0 = source, n_domains - 1 = target
    is_test: np.ndarray  # (n,) bool, True only for held-out target samples
    domain_values: list[float]  # what each domain index means, e.g. its rotation angle in degrees

    @property
    def n_domains(self) -> int:
        return len(self.domain_values)

    @property
    def target_index(self) -> int:
        return self.n_domains - 1

    def part(self, domain: int, test: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Return (features, labels) of one domain; for the target, its adaptation or test part."""
        mask = (self.domain == domain) & (self.is_test == test)
        return self.features[mask], self.labels[mask]

    def source(self) -> tuple[np.ndarray, np.ndarray]:
        return self.part(0)

    def target(self, test: bool = False) -> tuple[np.ndarray, np.ndarray]:
        return self.part(self.target_index, test)

    def intermediates(self) -> list[np.ndarray]:
        """Return the features of the real intermediate domains, in order (labels stay unused)."""
        return [self.part(k)[0] for k in range(1, self.target_index)]


def _assign_domains(n: int, n_intermediate: int, source_fraction: float, target_fraction: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Give each of n shuffled samples one domain: source and target get fixed fractions, intermediates share the rest."""
    order = rng.permutation(n)
    n_source, n_target = int(round(source_fraction * n)), int(round(target_fraction * n))
    domain = np.empty(n, dtype=np.int64)
    domain[order[:n_source]] = 0
    domain[order[n_source : n_source + n_target]] = n_intermediate + 1
    if n_intermediate == 0:
        domain[order[n_source + n_target :]] = 0  # no real intermediate domain: the rest joins the source
        return domain
    for k, chunk in enumerate(np.array_split(order[n_source + n_target :], n_intermediate), start=1):
        domain[chunk] = k
    return domain


def _split_target(domain: np.ndarray, target_index: int, test_fraction: float, rng: np.random.Generator) -> np.ndarray:
    is_test = np.zeros(len(domain), dtype=bool)
    target = np.flatnonzero(domain == target_index)
    n_test = int(round(test_fraction * len(target)))
    is_test[rng.choice(target, size=n_test, replace=False)] = True
    return is_test


def _angles(target_angle: float, n_intermediate: int) -> list[float]:
    return [float(a) for a in np.linspace(0.0, target_angle, n_intermediate + 2)]


def rotating_digits(
    target_angle: float = 45.0,
    n_intermediate: int = 4,
    source_fraction: float = 0.3,
    target_fraction: float = 0.3,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> DomainData:
    """Build rotating digits from sklearn's 1,797 8x8 handwritten digits.

    Each image belongs to exactly one domain: the source (0 degrees), the target (`target_angle`)
    or one of `n_intermediate` real intermediate domains at evenly spaced angles. Images are
    rotated about their centre with bilinear interpolation; features are pixels scaled to [0, 1].
    """
    from scipy.ndimage import rotate
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    digits = load_digits()
    angles = _angles(target_angle, n_intermediate)
    domain = _assign_domains(len(digits.target), n_intermediate, source_fraction, target_fraction, rng)

    images = digits.images / 16.0  # (n, 8, 8)
    rotated = np.empty_like(images)
    for k, angle in enumerate(angles):
        members = domain == k
        rotated[members] = rotate(images[members], angle, axes=(2, 1), reshape=False, order=1, mode="constant")
    features = np.clip(rotated, 0.0, 1.0).reshape(len(images), -1).astype(np.float32)
    is_test = _split_target(domain, len(angles) - 1, test_fraction, rng)
    return DomainData(f"rotating-digits-{target_angle:g}", features, digits.target.astype(np.int64), domain, is_test, angles)


def rotated_moons(
    target_angle: float = 50.0,
    n_intermediate: int = 4,
    n_per_domain: int = 300,
    noise: float = 0.1,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> DomainData:
    """Build two-moons domains rotated about the moons' centre, from 0 degrees to `target_angle`."""
    from sklearn.datasets import make_moons

    rng = np.random.default_rng(seed)
    angles = _angles(target_angle, n_intermediate)
    features, labels, domain = [], [], []
    for k, angle in enumerate(angles):
        x, y = make_moons(n_per_domain, noise=noise, random_state=int(rng.integers(2**31 - 1)))
        theta = np.deg2rad(angle)
        rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        centre = np.array([0.5, 0.25])
        features.append((x - centre) @ rotation.T)
        labels.append(y)
        domain.append(np.full(n_per_domain, k))
    domain_array = np.concatenate(domain).astype(np.int64)
    is_test = _split_target(domain_array, len(angles) - 1, test_fraction, rng)
    return DomainData(f"rotated-moons-{target_angle:g}", np.concatenate(features).astype(np.float32),
                      np.concatenate(labels).astype(np.int64), domain_array, is_test, angles)


def load_arrays(path: str | Path, test_fraction: float = 0.3, seed: int = 0) -> DomainData:
    """Read a data set from a NumPy .npz file with arrays `features` (n, d), `labels` (n,) and `domain` (n,).

    `domain` contains integers 0 .. D - 1 with every index present: 0 is the source, D - 1 the
    target, and the indices in between are real intermediate domains in order. An optional
    array `domain_values` (D,) names each domain (for example its angle).
    """
    path = Path(path)
    if not path.exists():
        raise InputError("data file not found", path=path, hint="Give an existing .npz file in data.path")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable NumPy .npz file ({exc})", path=path,
                         hint="Save the arrays with numpy.savez(path, features=..., labels=..., domain=...)") from exc

    with archive:
        for key in ("features", "labels", "domain"):
            if key not in archive.files:
                raise InputError(f"missing array; the file has {', '.join(archive.files) or 'no arrays'}", path=path,
                                 field=key, hint="The file needs arrays 'features', 'labels' and 'domain'")
        features, labels, domain = archive["features"], archive["labels"], archive["domain"]
        values = archive["domain_values"] if "domain_values" in archive.files else None

    if features.ndim != 2:
        raise InputError(f"expected a 2-D array (samples, features), got shape {features.shape}", path=path, field="features")
    if labels.shape != (len(features),) or domain.shape != (len(features),):
        raise InputError(f"labels {labels.shape} and domain {domain.shape} must both have shape ({len(features)},)",
                         path=path, field="labels")
    if not np.issubdtype(features.dtype, np.number) or not np.isfinite(features).all():
        bad = np.argwhere(~np.isfinite(features.astype(np.float64)))[0] if np.issubdtype(features.dtype, np.number) else None
        where = f" (first at row {bad[0]}, column {bad[1]})" if bad is not None else ""
        raise InputError(f"features must be finite numbers{where}", path=path, field="features",
                         hint="Remove or impute NaN and infinite values")
    for key, array in (("labels", labels), ("domain", domain)):
        if not np.issubdtype(array.dtype, np.integer):
            raise InputError(f"must hold integers, got dtype {array.dtype}", path=path, field=key)

    indices = np.unique(domain)
    if indices[0] != 0 or len(indices) < 2 or not np.array_equal(indices, np.arange(len(indices))):
        raise InputError(f"domain indices must be 0 .. D-1 with D >= 2 and none missing, got {indices.tolist()}",
                         path=path, field="domain")
    n_domains = len(indices)
    if values is None:
        values = np.arange(n_domains, dtype=np.float64)
    elif values.shape != (n_domains,):
        raise InputError(f"expected {n_domains} values, got shape {values.shape}", path=path, field="domain_values")

    rng = np.random.default_rng(seed)
    is_test = _split_target(domain.astype(np.int64), n_domains - 1, test_fraction, rng)
    data = DomainData(path.stem, features.astype(np.float32), labels.astype(np.int64), domain.astype(np.int64),
                      is_test, [float(v) for v in values])
    check_label_sets(data, str(path))
    return data


def check_label_sets(data: DomainData, where: str | None = None) -> None:
    """Raise InputError when a target or intermediate domain has classes that the source lacks.

    Self-training can only predict source classes, so such a target cannot be adapted to.
    """
    source_classes = set(np.unique(data.labels[data.domain == 0]).tolist())
    for k in range(1, data.n_domains):
        extra = sorted(set(np.unique(data.labels[data.domain == k]).tolist()) - source_classes)
        if extra:
            kind = "target" if k == data.target_index else f"intermediate domain {k}"
            raise InputError(
                f"{kind} has classes {extra} that the source does not have (source classes: {sorted(source_classes)})",
                path=where, field="labels",
                hint="Drop those target samples or add labelled source samples of those classes",
            )
