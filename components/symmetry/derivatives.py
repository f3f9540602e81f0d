"""Central finite differences on uniform grids, and the jet values a symmetry criterion needs.

Weights come from the Taylor (Vandermonde) system: for offsets s = -p..p and
derivative order d, the weights w solve sum_s w_s s^k / k! = [k == d] for
k = 0..2p, which makes the stencil exact for polynomials of degree 2p and its
error O(h^(2p+1-d)) on smooth data. The tests compare them with the textbook
three- and five-point stencils.
"""

from __future__ import annotations

import math

import numpy as np

from components.errors import InputError


def central_weights(order: int, accuracy: int = 4) -> np.ndarray:
    """Return the 2p+1 central-difference weights of derivative `order` for unit spacing.

    `accuracy` is the even order of the truncation error for first and second
    derivatives; the half-width is p = floor((order + 1) / 2) - 1 + accuracy / 2.
    """
    if order < 0:
        raise ValueError(f"derivative order must be >= 0, got {order}")
    if accuracy < 2 or accuracy % 2:
        raise ValueError(f"accuracy must be an even integer >= 2, got {accuracy}")
    if order == 0:
        return np.array([1.0])
    half = (order + 1) // 2 - 1 + accuracy // 2
    offsets = np.arange(-half, half + 1, dtype=float)
    size = offsets.size
    vandermonde = np.array([offsets**k / math.factorial(k) for k in range(size)])
    rhs = np.zeros(size)
    rhs[order] = 1.0
    return np.linalg.solve(vandermonde, rhs)


def check_uniform(grid: np.ndarray, name: str, rtol: float = 1e-6) -> float:
    """Return the spacing of a 1-D grid, raising InputError if it is not uniform and increasing."""
    grid = np.asarray(grid, dtype=float)
    if grid.ndim != 1 or grid.size < 3:
        raise InputError(f"grid must be 1-D with at least 3 points, got shape {grid.shape}", field=name)
    if not np.all(np.isfinite(grid)):
        raise InputError("grid contains NaN or infinite values", field=name)
    steps = np.diff(grid)
    h = float(steps.mean())
    if h <= 0:
        raise InputError(f"grid must increase, got mean step {h:g}", field=name)
    worst = int(np.argmax(np.abs(steps - h)))
    if abs(steps[worst] - h) > rtol * abs(h):
        raise InputError(
            f"grid is not uniform: step {worst} is {steps[worst]:.6g} but the mean step is {h:.6g}",
            field=name,
            hint="Central differences need a uniform grid; resample the data onto equally spaced points",
        )
    return h


def differentiate(values: np.ndarray, axis: int, order: int, h: float, periodic: bool, accuracy: int = 4) -> np.ndarray:
    """Apply the central stencil of `order` along `axis`.

    Periodic axes wrap around and keep their length; non-periodic axes lose
    `half` points at each end, where the stencil would leave the data.
    """
    weights = central_weights(order, accuracy)
    half = weights.size // 2
    if order == 0:
        return values
    values = np.moveaxis(values, axis, -1)
    if periodic:
        out = sum(w * np.roll(values, -s, axis=-1) for s, w in zip(range(-half, half + 1), weights))
    else:
        n = values.shape[-1]
        if n <= 2 * half:
            raise InputError(f"{n} points are too few for a derivative of order {order} (stencil width {2 * half + 1})")
        out = sum(w * values[..., half + s : n - half + s] for s, w in zip(range(-half, half + 1), weights))
    return np.moveaxis(out / h**order, -1, axis)


def stencil_margin(max_time_order: int, accuracy: int = 4) -> int:
    """Return how many time steps a time derivative of up to `max_time_order` drops at each end."""
    return max((central_weights(order, accuracy).size // 2 for order in range(max_time_order + 1)), default=0)


def jet_values(u: np.ndarray, dt: float, dx: float, jets: list[tuple[int, int, int]], accuracy: int = 4) -> dict[tuple[int, int, int], np.ndarray]:
    """Compute d^a/dt^a d^b/dx^b of field f for every (f, a, b) in `jets`.

    u: (n_traj, n_fields, n_t, n_x), periodic in x. Every returned array has the
    shape (n_traj, n_t - 2 * margin, n_x), where margin is the widest time
    stencil, so all jets refer to the same sample points.
    """
    margin = stencil_margin(max((a for _, a, _ in jets), default=0), accuracy)
    out = {}
    for field, a, b in jets:
        values = differentiate(u[:, field], axis=2, order=b, h=dx, periodic=True, accuracy=accuracy)
        values = differentiate(values, axis=1, order=a, h=dt, periodic=False, accuracy=accuracy)
        trim = margin - central_weights(a, accuracy).size // 2
        out[(field, a, b)] = values[:, trim : values.shape[1] - trim] if trim else values
    return out
