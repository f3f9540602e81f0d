"""The PDEs of the symmetry pipeline: their right-hand sides, simulators and known symmetry algebras.

Every PDE has the form d^m u^f / dt^m = F_f(u, u_x, ..., u_{x^n}) on a periodic
interval x in [-L/2, L/2). The known generators are those of classical Lie
symmetry analysis restricted to the components representable in a monomial
library of degree 2 in (t, x, u). The tests write them out independently and
check symbolically that each one annihilates the prolonged PDE on solutions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from components.errors import InputError
from components.symmetry.prolong import JetSpace


@dataclass(frozen=True)
class PDESpec:
    """One PDE: fields, time order m, spatial order n and default coefficients."""

    name: str
    fields: tuple[str, ...]
    time_order: int
    spatial_order: int
    params: dict[str, float]
    description: str


PDES: dict[str, PDESpec] = {
    "heat": PDESpec("heat", ("u",), 1, 2, {"nu": 0.2}, "u_t = nu u_xx"),
    "burgers": PDESpec("burgers", ("u",), 1, 2, {"nu": 0.1}, "u_t = -u u_x + nu u_xx"),
    "kdv": PDESpec("kdv", ("u",), 1, 3, {"a": 1.0, "b": 0.1}, "u_t = -a u u_x - b u_xxx"),
    "wave": PDESpec("wave", ("u",), 2, 2, {"c": 1.0}, "u_tt = c^2 u_xx"),
    "lambda_omega": PDESpec(
        "lambda_omega", ("u", "v"), 1, 2, {"d": 0.1, "beta": 1.0},
        "u_t = d u_xx + (1 - r^2) u + beta r^2 v, v_t = d v_xx - beta r^2 u + (1 - r^2) v, r^2 = u^2 + v^2",
    ),
}


def pde_spec(name: str) -> PDESpec:
    if name not in PDES:
        raise InputError(f"unknown PDE '{name}'; available: {', '.join(PDES)}", field="pdes")
    return PDES[name]


def coefficients(spec: PDESpec, overrides: dict[str, float] | None = None) -> dict[str, float]:
    params = dict(spec.params)
    for key, value in (overrides or {}).items():
        if key not in params:
            raise InputError(f"unknown coefficient '{key}' for {spec.name}; valid: {', '.join(params)}", field=f"{spec.name}.{key}")
        params[key] = float(value)
    return params


def symbolic_rhs(spec: PDESpec, jets: JetSpace, params: dict[str, float]) -> list[sp.Expr]:
    """F_f as sympy expressions in the spatial jets; used for exact Jacobians and the tests."""
    p = {k: sp.nsimplify(v) for k, v in params.items()}
    u, u_x, u_xx = jets.jet(0, 0, 0), jets.jet(0, 0, 1), jets.jet(0, 0, 2)
    if spec.name == "heat":
        return [p["nu"] * u_xx]
    if spec.name == "burgers":
        return [-u * u_x + p["nu"] * u_xx]
    if spec.name == "kdv":
        return [-p["a"] * u * u_x - p["b"] * jets.jet(0, 0, 3)]
    if spec.name == "wave":
        return [p["c"] ** 2 * u_xx]
    if spec.name == "lambda_omega":
        v, v_xx = jets.jet(1, 0, 0), jets.jet(1, 0, 2)
        r2 = u**2 + v**2
        return [p["d"] * u_xx + (1 - r2) * u + p["beta"] * r2 * v, p["d"] * v_xx - p["beta"] * r2 * u + (1 - r2) * v]
    raise InputError(f"no right-hand side for PDE '{spec.name}'", field="pdes")


def known_generators(spec: PDESpec, jets: JetSpace, params: dict[str, float]) -> list[list[sp.Expr]]:
    """Return the classical generators as component lists [xi^t, xi^x, phi^1, ..., phi^q]."""
    t, x = jets.independent
    u = jets.jet(0, 0, 0)
    p = {k: sp.nsimplify(v) for k, v in params.items()}
    one, zero = sp.Integer(1), sp.Integer(0)
    if spec.name == "heat":
        nu = p["nu"]
        return [[one, zero, zero], [zero, one, zero], [zero, zero, u], [2 * t, x, zero],
                [zero, 2 * nu * t, -x * u], [zero, zero, one], [zero, zero, x], [zero, zero, x**2 + 2 * nu * t]]
    if spec.name == "burgers":
        return [[one, zero, zero], [zero, one, zero], [zero, t, one], [2 * t, x, -u], [t**2, t * x, x - t * u]]
    if spec.name == "kdv":
        return [[one, zero, zero], [zero, one, zero], [zero, p["a"] * t, one], [3 * t, x, -2 * u]]
    if spec.name == "wave":
        # 1+1 wave equation: f(x + ct)(c d/dx + d/dt), g(x - ct)(c d/dx - d/dt), u d/du, beta(t, x) d/du with beta a solution.
        c = p["c"]
        plus, minus = x + c * t, x - c * t
        conformal = [[f, c * f, zero] for f in (one, plus, plus**2)] + [[-g, c * g, zero] for g in (one, minus, minus**2)]
        solutions = [[zero, zero, beta] for beta in (one, x, t, x * t, x**2 + c**2 * t**2)]
        return [*(list(map(sp.expand, g)) for g in conformal), [zero, zero, u], *solutions]
    if spec.name == "lambda_omega":
        v = jets.jet(1, 0, 0)
        return [[one, zero, zero, zero], [zero, one, zero, zero], [zero, zero, v, -u]]
    raise InputError(f"no known generators for PDE '{spec.name}'", field="pdes")


def generator_to_vector(components: list[sp.Expr], library: list[sp.Expr], jets: JetSpace) -> np.ndarray:
    """Write a generator's components in the library; returns vec(W) in component-major order.

    Raises ValueError when a component has a term outside the library.
    """
    variables = [*jets.independent, *jets.dependent]
    index = {sp.Poly(theta, *variables).monoms()[0]: k for k, theta in enumerate(library)}
    vector = np.zeros(len(components) * len(library))
    for c, expr in enumerate(components):
        expr = sp.expand(expr)
        if expr == 0:
            continue
        for monom, coeff in sp.Poly(expr, *variables).terms():
            if monom not in index:
                raise ValueError(f"term {sp.Mul(*[v**e for v, e in zip(variables, monom)])} of component {c} is not in the library")
            vector[c * len(library) + index[monom]] = float(coeff)
    return vector


# ---------------------------------------------------------------- simulators

@dataclass(frozen=True)
class Grid:
    """Uniform periodic space grid and saved time points."""

    x: np.ndarray
    t: np.ndarray


def _nonlinear_term(spec: PDESpec, params: dict[str, float], k: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Return N(u_hat) for the integrating-factor scheme, with 2/3-rule dealiasing."""
    cutoff = np.abs(k) < (2.0 / 3.0) * np.abs(k).max()

    def real(u_hat):
        return np.fft.irfft(u_hat, axis=-1)

    if spec.name == "heat":
        return lambda u_hat: np.zeros_like(u_hat)
    if spec.name in ("burgers", "kdv"):
        scale = 1.0 if spec.name == "burgers" else params["a"]
        # -a u u_x = -(a / 2) d/dx (u^2)
        return lambda u_hat: -0.5 * scale * 1j * k * np.fft.rfft(real(u_hat * cutoff) ** 2, axis=-1)
    if spec.name == "lambda_omega":
        beta = params["beta"]

        def reaction(u_hat):
            fields = real(u_hat * cutoff)
            u, v = fields[..., 0, :], fields[..., 1, :]
            r2 = u**2 + v**2
            return np.fft.rfft(np.stack([(1 - r2) * u + beta * r2 * v, -beta * r2 * u + (1 - r2) * v], axis=-2), axis=-1)

        return reaction
    raise InputError(f"no integrating-factor scheme for '{spec.name}'", field="pdes")


def _linear_symbol(spec: PDESpec, params: dict[str, float], k: np.ndarray) -> np.ndarray:
    if spec.name in ("heat", "burgers"):
        return -params["nu"] * k**2
    if spec.name == "kdv":
        # -b u_xxx -> -b (ik)^3 = i b k^3
        return 1j * params["b"] * k**3
    if spec.name == "lambda_omega":
        return -params["d"] * k**2
    raise InputError(f"no linear part for '{spec.name}'", field="pdes")


def random_initial_condition(rng: np.random.Generator, x: np.ndarray, length: float, n_fields: int, modes: int, amplitude: float) -> np.ndarray:
    """Return a random smooth periodic field: sum of the first `modes` Fourier modes, shape (n_fields, n_x)."""
    u = np.zeros((n_fields, x.size))
    for f in range(n_fields):
        for m in range(1, modes + 1):
            a, phase = rng.normal(0.0, amplitude / m), rng.uniform(0.0, 2 * np.pi)
            u[f] += a * np.sin(2 * np.pi * m * x / length + phase)
        u[f] += rng.normal(0.0, 0.3 * amplitude)
    return u


def simulate(spec: PDESpec, params: dict[str, float], *, n_trajectories: int, n_x: int, length: float, t_end: float,
             dt_save: float, dt: float, modes: int, amplitude: float, seed: int) -> tuple[Grid, np.ndarray]:
    """Simulate `n_trajectories` random solutions; returns the grid and u of shape (n_traj, n_fields, n_t, n_x).

    First-order equations use the integrating-factor RK4 scheme in Fourier space
    (as in Trefethen, "Spectral Methods in MATLAB", 2000): with
    v_hat = exp(-L t) u_hat the stiff linear part L is integrated exactly and
    RK4 steps the rest. The wave equation is integrated exactly per Fourier mode:
    u_hat(t) = u_hat(0) cos(c k t) + u_t_hat(0) sin(c k t) / (c k).
    """
    rng = np.random.default_rng(seed)
    x = -length / 2 + length * np.arange(n_x) / n_x
    k = 2 * np.pi * np.fft.rfftfreq(n_x, d=length / n_x)
    n_save = int(round(t_end / dt_save)) + 1
    t = dt_save * np.arange(n_save)
    steps_per_save = max(1, int(round(dt_save / dt)))
    h = dt_save / steps_per_save
    q = len(spec.fields)
    out = np.empty((n_trajectories, q, n_save, n_x))

    for trajectory in range(n_trajectories):
        u0 = random_initial_condition(rng, x, length, q, modes, amplitude)
        if spec.name == "wave":
            c = params["c"]
            velocity = random_initial_condition(rng, x, length, 1, modes, amplitude)[0]
            u_hat, w_hat = np.fft.rfft(u0[0]), np.fft.rfft(velocity)
            ck = c * k
            safe = np.where(ck == 0, 1.0, ck)
            for i, time in enumerate(t):
                sine = np.where(ck == 0, time, np.sin(ck * time) / safe)
                out[trajectory, 0, i] = np.fft.irfft(u_hat * np.cos(ck * time) + w_hat * sine, n=n_x)
            continue

        linear = _linear_symbol(spec, params, k)
        nonlinear = _nonlinear_term(spec, params, k)
        e_half, e_full = np.exp(linear * h / 2), np.exp(linear * h)
        u_hat = np.fft.rfft(u0, axis=-1)
        out[trajectory, :, 0] = u0
        for i in range(1, n_save):
            for _ in range(steps_per_save):
                # IF-RK4: a = h N(u), b = h N(E/2 (u + a/2)), c = h N(E/2 u + b/2), d = h N(E u + E/2 c).
                a = h * nonlinear(u_hat)
                b = h * nonlinear(e_half * (u_hat + a / 2))
                c = h * nonlinear(e_half * u_hat + b / 2)
                d = h * nonlinear(e_full * u_hat + e_half * c)
                u_hat = e_full * u_hat + (e_full * a + 2 * e_half * (b + c) + d) / 6
            out[trajectory, :, i] = np.fft.irfft(u_hat, n=n_x, axis=-1)
        if not np.all(np.isfinite(out[trajectory])):
            raise InputError(
                f"simulation of {spec.name} diverged in trajectory {trajectory}",
                field="simulate.dt", hint="Lower simulate.dt or simulate.amplitude",
            )
    return Grid(x=x, t=t), out
