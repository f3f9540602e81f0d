"""LieNLSD: the linear system of the invariance criterion, its null space, sparsification and comparison.

Method: "Explicit Discovery of Nonlinear Symmetries from Dynamic Data" (LieNLSD,
ICML 2025, arXiv 2510.01855). The generator's coefficient matrix W enters the
prolonged criterion linearly, so each sample point gives q rows of a matrix C
with C vec(W) = 0 for every symmetry in the library. The generators span the
right singular vectors of C whose singular values are below a threshold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import sympy as sp

from components.errors import InputError
from components.symmetry.derivatives import jet_values
from components.symmetry.pdes import PDESpec, generator_to_vector, known_generators
from components.symmetry.prolong import (
    JetSpace,
    criterion_columns,
    jacobian_symbol,
    monomial_library,
    required_jets,
)

logger = logging.getLogger(__name__)


@dataclass
class Criterion:
    """The symbolic criterion of one PDE and library, compiled to numpy."""

    spec: PDESpec
    jets: JetSpace
    library: list[sp.Expr]
    rows: list[list[sp.Expr]]
    needed: list[tuple[int, int, int]]
    function: object

    @property
    def n_columns(self) -> int:
        return len(self.rows[0])

    @property
    def variables(self) -> list[str]:
        return ["t", "x", *self.spec.fields]

    def inputs(self) -> list[tuple[int, int, int]]:
        """Spatial jets that F takes, in the network's input order."""
        return [(g, 0, b) for g in range(len(self.spec.fields)) for b in range(self.spec.spatial_order + 1)]

    def targets(self) -> list[tuple[int, int, int]]:
        return [(f, self.spec.time_order, 0) for f in range(len(self.spec.fields))]

    def evaluate(self, t: np.ndarray, x: np.ndarray, jets: dict[tuple[int, int, int], np.ndarray], jacobian: np.ndarray) -> np.ndarray:
        """Return the criterion rows at N samples, shape (N * q, n_columns); jacobian is (N, q, q * (n + 1))."""
        n = len(t)
        q = len(self.spec.fields)
        args = [t, x, *(jets[key] for key in self.needed)]
        args += [jacobian[:, f, i] for f in range(q) for i in range(jacobian.shape[2])]
        values = self.function(*args)
        flat = np.stack([np.broadcast_to(np.asarray(v, dtype=float), (n,)) for v in values], axis=1)  # (N, q * D)
        return flat.reshape(n, q, self.n_columns).reshape(n * q, self.n_columns)


def build_criterion(spec: PDESpec, degree: int) -> Criterion:
    """Generate the library, the prolongation and the criterion symbolically, and compile it with lambdify."""
    jets = JetSpace(spec.fields)
    library = monomial_library(jets, degree)
    rows = criterion_columns(jets, library, spec.time_order, spec.spatial_order)
    needed = required_jets(jets, rows)
    q = len(spec.fields)
    jac_symbols = [jacobian_symbol(f, g, b) for f in range(q) for g in range(q) for b in range(spec.spatial_order + 1)]
    args = [*jets.independent, *(jets.jet(*key) for key in needed), *jac_symbols]
    function = sp.lambdify(args, [expr for row in rows for expr in row], "numpy")
    return Criterion(spec, jets, library, rows, needed, function)


def check_finite(u: np.ndarray) -> None:
    """Raise InputError naming the first NaN or infinite value of u (n_traj, n_fields, n_t, n_x)."""
    bad = np.argwhere(~np.isfinite(u))
    if bad.size:
        trajectory, field, time, position = (int(v) for v in bad[0])
        raise InputError(
            f"{len(bad)} values are NaN or infinite; the first is at trajectory {trajectory}, "
            f"time index {time}, x index {position}, value {u[tuple(bad[0])]}",
            field=f"u[{field}]",
            hint="Remove or interpolate the missing values before discovery",
        )


@dataclass
class Samples:
    """Jet values at randomly drawn sample points."""

    t: np.ndarray
    x: np.ndarray
    jets: dict[tuple[int, int, int], np.ndarray]


def draw_samples(criterion: Criterion, t: np.ndarray, x: np.ndarray, u: np.ndarray, dt: float, dx: float,
                 n_samples: int, seed: int, accuracy: int = 4) -> Samples:
    """Compute every needed jet by central differences and draw `n_samples` points without replacement."""
    check_finite(u)
    keys = sorted(set(criterion.needed) | set(criterion.inputs()) | set(criterion.targets()))
    values = jet_values(u, dt, dx, keys, accuracy)
    n_traj, n_t, n_x = next(iter(values.values())).shape
    margin = (len(t) - n_t) // 2
    total = n_traj * n_t * n_x
    if n_samples > total:
        raise InputError(f"{n_samples} samples requested but the data has only {total} interior points", field="discovery.n_samples")
    index = np.random.default_rng(seed).choice(total, size=n_samples, replace=False)
    traj, time, position = np.unravel_index(index, (n_traj, n_t, n_x))
    return Samples(t=t[margin + time], x=x[position], jets={key: v[traj, time, position] for key, v in values.items()})


def check_library_size(n_columns: int, n_samples: int, n_fields: int, min_ratio: float) -> None:
    """Raise InputError when the samples give fewer than min_ratio equations per unknown."""
    equations = n_samples * n_fields
    if equations < min_ratio * n_columns:
        raise InputError(
            f"the library has {n_columns} unknown coefficients but {n_samples} samples give only {equations} equations "
            f"(at least {min_ratio:g} per unknown needed, so {int(np.ceil(min_ratio * n_columns / n_fields))} samples)",
            field="discovery.n_samples",
            hint="Raise discovery.n_samples or lower library.degree",
        )


def accumulate_r(criterion: Criterion, samples: Samples, jacobian: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Accumulate the R factor of C over chunks of samples: R_new = qr([R_old; C_chunk]).R.

    C = Q R with Q orthonormal, so R has the singular values and right singular
    vectors of C without C ever being held whole.
    """
    n_columns = criterion.n_columns
    r = np.zeros((0, n_columns))
    for start in range(0, len(samples.t), chunk):
        part = slice(start, start + chunk)
        rows = criterion.evaluate(samples.t[part], samples.x[part], {k: v[part] for k, v in samples.jets.items()}, jacobian[part])
        if not np.all(np.isfinite(rows)):
            raise InputError("the criterion has NaN or infinite entries", field="data", hint="Check the data and the network fit for overflow")
        r = np.linalg.qr(np.vstack([r, rows]), mode="r")
    return r


@dataclass
class NullSpace:
    """Normalised singular values (descending), the threshold, and an orthonormal basis (D, r) of the null space."""

    singular_values: np.ndarray
    threshold: float
    basis: np.ndarray


def column_scale(criterion: Criterion, samples: Samples) -> np.ndarray:
    """Return the scale s of each column (c, k) that makes W dimensionless: s = rms(z_c) / rms(theta_k).

    z_c is the variable whose derivative component c multiplies (t, x or a field).
    In units where t, x and every u^f have unit RMS, a component xi^c = w theta_k
    becomes (w rms(theta_k) / rms(z_c)) theta_k / rms(theta_k), so the
    dimensionless coefficient is w / s, and the threshold does not depend on the
    units of the data. Columns are not normalised by their own norm, because a
    column that vanishes on solutions (u d/du for a linear PDE is the PDE's
    residual itself) would turn finite-difference noise into a unit vector.
    """
    variables = [*criterion.jets.independent, *criterion.jets.dependent]
    values = [samples.t, samples.x, *(samples.jets[(f, 0, 0)] for f in range(len(criterion.spec.fields)))]
    rms_variable = np.array([float(np.sqrt(np.mean(v**2))) or 1.0 for v in values])
    rms_theta = []
    for theta in criterion.library:
        column = np.broadcast_to(np.asarray(sp.lambdify(variables, theta, "numpy")(*values), dtype=float), samples.t.shape)
        rms_theta.append(float(np.sqrt(np.mean(column**2))) or 1.0)
    return (rms_variable[:, None] / np.array(rms_theta)[None, :]).reshape(-1)


def null_space(r: np.ndarray, threshold: float, column_scale: np.ndarray | None = None) -> NullSpace:
    """Return the right singular vectors of C whose singular value is below threshold * largest.

    With column_scale s the SVD is taken of C diag(s), and a null vector z of it
    maps back to w = diag(s) z; the basis is then orthonormalised in W's own
    coordinates.
    """
    scale = np.ones(r.shape[1]) if column_scale is None else np.asarray(column_scale, dtype=float)
    _, s, vt = np.linalg.svd(r * scale, full_matrices=True)
    s_full = np.zeros(r.shape[1])
    s_full[: s.size] = s
    normalised = s_full / s_full[0] if s_full[0] > 0 else s_full
    rank = int(np.sum(normalised >= threshold))
    vectors = vt[rank:].T * scale[:, None]
    basis = np.linalg.qr(vectors)[0] if vectors.shape[1] else vectors
    return NullSpace(singular_values=normalised, threshold=threshold, basis=basis)


def sparsify(basis: np.ndarray, tol: float = 1e-2, column_scale: np.ndarray | None = None) -> np.ndarray:
    """Return a sparse basis (r, D) of the same span: reduced row echelon form, small entries dropped.

    Gauss-Jordan elimination on basis.T with complete pivoting takes the largest
    remaining entry as each pivot, so an entry at the noise level never becomes a
    pivot. Every vector ends with one pivot and zeros at every other vector's pivot. The elimination runs in the dimensionless coordinates w / s
    when column_scale s is given. Entries below tol * the row's largest are then
    set to zero, each row is scaled so that its smallest remaining entry has
    magnitude 1 and its first entry is positive, and rows are ordered by their
    first nonzero column.
    """
    scale = np.ones(basis.shape[0]) if column_scale is None else np.asarray(column_scale, dtype=float)
    rows = (basis / scale[:, None]).T.copy()
    r = rows.shape[0]
    free_rows, free_columns = list(range(r)), list(range(rows.shape[1]))
    for _ in range(r):
        block = np.abs(rows[np.ix_(free_rows, free_columns)])
        i, j = np.unravel_index(int(np.argmax(block)), block.shape)
        row, column = free_rows[i], free_columns[j]
        if block[i, j] == 0:
            break
        rows[row] /= rows[row, column]
        for other in range(r):
            if other != row:
                rows[other] -= rows[other, column] * rows[row]
        free_rows.remove(row)
        free_columns.remove(column)
    rows = rows * scale[None, :]
    for i in range(r):
        peak = np.abs(rows[i]).max()
        rows[i][np.abs(rows[i]) < tol * peak] = 0.0
        nonzero = np.flatnonzero(rows[i])
        if nonzero.size:
            rows[i] /= np.abs(rows[i][nonzero]).min() * np.sign(rows[i][nonzero[0]])
    order = sorted(range(r), key=lambda i: (np.flatnonzero(rows[i])[:1].tolist() or [rows.shape[1]])[0])
    return rows[order]


def _format_coefficient(value: float) -> str:
    rounded = round(value)
    if abs(value - rounded) < 0.02 * max(1.0, abs(value)):
        return str(int(rounded))
    return f"{value:.3g}"


def _format_monomial(theta: sp.Expr, variables: list[str]) -> str:
    """Write a monomial with its variables in the order t, x, u, v: `tx`, `xu`, `t^2`."""
    powers = {str(base): int(exponent) for base, exponent in theta.as_powers_dict().items() if base != 1}
    return "".join(name + (f"^{powers[name]}" if powers[name] > 1 else "") for name in variables if name in powers)


def format_generator(vector: np.ndarray, library: list[sp.Expr], variables: list[str]) -> str:
    """Write vec(W) as a vector field, e.g. `2t d/dt + x d/dx` or `(t + 2.5x^2) d/du`."""
    k = len(library)
    parts = []
    for c, name in enumerate(variables):
        terms = []
        for j in np.flatnonzero(vector[c * k : (c + 1) * k]):
            coefficient, monomial = _format_coefficient(float(vector[c * k + j])), _format_monomial(library[j], variables)
            if monomial and coefficient in ("1", "-1"):
                coefficient = coefficient[:-1]
            terms.append(f"{coefficient}{monomial}")
        if not terms:
            continue
        body = " + ".join(terms).replace("+ -", "- ")
        if len(terms) > 1:
            body = f"({body})"
        elif body in ("1", "-1"):
            body = body[:-1]
        parts.append(f"{body} d/d{name}".replace("  ", " ").strip())
    return " + ".join(parts).replace("+ -", "- ") if parts else "0"


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the min(r_a, r_b) principal angles (radians, ascending) between span(a) and span(b).

    a, b: (D, r). Cosines alone lose accuracy near 0 (arccos(1 - e) ~ sqrt(2e)),
    so each angle is atan2(sine, cosine) with the sines taken from the part of
    the smaller space orthogonal to the larger.
    """
    if a.shape[1] == 0 or b.shape[1] == 0:
        return np.zeros(0)
    qa, qb = np.linalg.qr(a)[0], np.linalg.qr(b)[0]
    if qb.shape[1] > qa.shape[1]:
        qa, qb = qb, qa
    cosines = np.sort(np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), 0.0, 1.0))[::-1]
    sines = np.sort(np.clip(np.linalg.svd(qb - qa @ (qa.T @ qb), compute_uv=False), 0.0, 1.0))
    return np.sort(np.arctan2(sines, cosines))


def grassmann_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Geodesic Grassmann distance sqrt(sum theta_i^2) over the min(r_a, r_b) principal angles.

    When the dimensions differ this measures how far the smaller space is from
    lying inside the larger one; report the two dimensions next to it.
    """
    return float(np.sqrt(np.sum(principal_angles(a, b) ** 2)))


def recovered_count(truth: np.ndarray, found: np.ndarray, max_sine: float = 0.1) -> int:
    """Count true generators (columns of truth) whose angle to span(found) has sine below max_sine."""
    if found.shape[1] == 0:
        return 0
    q = np.linalg.qr(found)[0]
    count = 0
    for column in truth.T:
        unit = column / np.linalg.norm(column)
        residual = unit - q @ (q.T @ unit)
        count += int(np.linalg.norm(residual) < max_sine)
    return count


def truth_basis(criterion: Criterion, params: dict[str, float]) -> np.ndarray:
    """Return the known generators as columns of a (D, r) matrix in the criterion's library."""
    generators = known_generators(criterion.spec, criterion.jets, params)
    return np.stack([generator_to_vector(g, criterion.library, criterion.jets) for g in generators], axis=1)
