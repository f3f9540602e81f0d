"""Finite differences, library, prolongation and the known symmetry algebras of the symmetry pipeline.

The ground-truth generators below are written out here from classical Lie
symmetry analysis, independently of components/symmetry/pdes.py, and checked
two ways: symbolically (the prolonged generator annihilates the PDE once every
time derivative is replaced by the PDE's differential consequences) and against
the table in the component.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from components.symmetry.derivatives import central_weights, check_uniform, differentiate
from components.symmetry.discovery import build_criterion, grassmann_distance, truth_basis
from components.symmetry.pdes import PDES, coefficients, generator_to_vector, symbolic_rhs
from components.symmetry.prolong import JetSpace, monomial_library, prolongation

t, x, u, v = sp.symbols("t x u v")

# Classical generators [xi^t, xi^x, phi^u(, phi^v)] restricted to monomials of degree <= 2 in (t, x, u).
GROUND_TRUTH = {
    # u_t = nu u_xx: translations, scaling, Galilean boost, u d/du, and beta d/du
    # for the polynomial solutions 1, x, x^2 + 2 nu t of the heat equation.
    "heat": lambda p: [[1, 0, 0], [0, 1, 0], [0, 0, u], [2 * t, x, 0], [0, 2 * p["nu"] * t, -x * u],
                       [0, 0, 1], [0, 0, x], [0, 0, x**2 + 2 * p["nu"] * t]],
    # u_t + u u_x = nu u_xx: translations, Galilean boost, scaling, projective.
    "burgers": lambda p: [[1, 0, 0], [0, 1, 0], [0, t, 1], [2 * t, x, -u], [t**2, t * x, x - t * u]],
    # u_t + a u u_x + b u_xxx = 0: translations, Galilean boost, scaling x -> lx, t -> l^3 t, u -> u / l^2.
    "kdv": lambda p: [[1, 0, 0], [0, 1, 0], [0, p["a"] * t, 1], [3 * t, x, -2 * u]],
    # u_tt = c^2 u_xx: f(x + ct)(d/dt + c d/dx), g(x - ct)(-d/dt + c d/dx) for f, g in {1, s, s^2}, u d/du, and
    # beta d/du for the polynomial solutions 1, x, t, xt, x^2 + c^2 t^2.
    "wave": lambda p: [
        *[[f, p["c"] * f, 0] for f in (1, x + p["c"] * t, (x + p["c"] * t) ** 2)],
        *[[-g, p["c"] * g, 0] for g in (1, x - p["c"] * t, (x - p["c"] * t) ** 2)],
        [0, 0, u], [0, 0, 1], [0, 0, x], [0, 0, t], [0, 0, x * t], [0, 0, x**2 + p["c"] ** 2 * t**2],
    ],
    # lambda-omega reaction-diffusion: translations and the rotation of (u, v).
    "lambda_omega": lambda p: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, v, -u]],
}


def exact_params(name: str) -> dict[str, sp.Expr]:
    return {k: sp.nsimplify(val) for k, val in coefficients(PDES[name]).items()}


def residual_on_solutions(name: str, generator: list) -> list[sp.Expr]:
    """pr v (Delta) with every t-derivative u_{t^a x^b} (a >= m) replaced by D_x^b D_t^(a-m) F."""
    spec = PDES[name]
    jets = JetSpace(spec.fields)
    rhs = symbolic_rhs(spec, jets, coefficients(spec))
    components = [sp.sympify(c) for c in generator]
    m = spec.time_order
    residuals = []
    for f in range(len(spec.fields)):
        expr = prolongation(jets, components, (m, 0), f)
        for g in range(len(spec.fields)):
            for b in range(spec.spatial_order + 1):
                expr -= sp.diff(rhs[f], jets.jet(g, 0, b)) * prolongation(jets, components, (0, b), g)
        for _ in range(3):
            substitutions = {}
            for symbol in expr.free_symbols:
                key = jets.lookup(symbol)
                if key is not None and key[1] >= m:
                    field, a, b = key
                    consequence = rhs[field]
                    for _ in range(a - m):
                        consequence = jets.total_derivative(consequence, 0)
                    for _ in range(b):
                        consequence = jets.total_derivative(consequence, 1)
                    substitutions[symbol] = consequence
            expr = sp.expand(expr.subs(substitutions))
        residuals.append(sp.simplify(expr))
    return residuals


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_central_weights_exact_on_polynomials(order):
    weights = central_weights(order, accuracy=4)
    half = weights.size // 2
    offsets = np.arange(-half, half + 1)
    # sum_s w_s s^k = d^order/ds^order s^k at s = 0, which is order! for k == order and 0 otherwise.
    for degree in range(weights.size):
        exact = math.factorial(order) if degree == order else 0.0
        assert abs(weights @ offsets.astype(float) ** degree - exact) < 1e-9


def test_central_weights_match_textbook_second_order():
    np.testing.assert_allclose(central_weights(1, 2), [-0.5, 0.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(central_weights(2, 2), [1.0, -2.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(central_weights(2, 4), [-1 / 12, 4 / 3, -5 / 2, 4 / 3, -1 / 12], atol=1e-12)


def test_periodic_derivative_of_sine_converges():
    errors = []
    for n in (32, 64):
        grid = 2 * np.pi * np.arange(n) / n
        third = differentiate(np.sin(3 * grid), axis=0, order=3, h=grid[1], periodic=True)
        errors.append(np.abs(third + 27 * np.cos(3 * grid)).max())
    assert errors[1] < errors[0] / 8  # fourth-order accurate: halving h cuts the error by about 16


def test_non_uniform_grid_rejected():
    grid = np.array([0.0, 0.1, 0.2, 0.35, 0.4])
    with pytest.raises(ValueError, match=r"field 'x'.*not uniform.*step 2"):
        check_uniform(grid, "x")


def test_library_degree_two_has_ten_monomials():
    jets = JetSpace(("u",))
    library = monomial_library(jets, 2)
    assert len(library) == 10
    assert set(library) == {1, t, x, u, t**2, t * x, t * u, x**2, x * u, u**2}


def test_prolongation_matches_textbook_heat_galilean():
    # v = 2t d/dx - x u d/du, prolonged by hand:
    jets = JetSpace(("u",))
    u_t, u_x, u_xx = jets.jet(0, 1, 0), jets.jet(0, 0, 1), jets.jet(0, 0, 2)
    components = [sp.Integer(0), 2 * t, -x * u]
    # Q = -x u - 2t u_x, phi^x = D_x Q + 2t u_xx = -u - x u_x, phi^xx = D_x phi^x = -2 u_x - x u_xx,
    # phi^t = D_t Q + 2t u_tx = -x u_t - 2 u_x.
    assert sp.expand(prolongation(jets, components, (0, 1), 0) - (-u - x * u_x)) == 0
    assert sp.expand(prolongation(jets, components, (0, 2), 0) - (-2 * u_x - x * u_xx)) == 0
    assert sp.expand(prolongation(jets, components, (1, 0), 0) - (-x * u_t - 2 * u_x)) == 0


def test_prolongation_of_scaling_third_order():
    # v = x d/dx + 3t d/dt - 2u d/du: u_{x^k} has weight -(2 + k), so phi^{x^k} = -(2 + k) u_{x^k}.
    jets = JetSpace(("u",))
    components = [3 * t, x, -2 * u]
    for k in range(4):
        assert sp.expand(prolongation(jets, components, (0, k), 0) + (2 + k) * jets.jet(0, 0, k)) == 0
    assert sp.expand(prolongation(jets, components, (1, 0), 0) + 5 * jets.jet(0, 1, 0)) == 0


@pytest.mark.parametrize("name", list(GROUND_TRUTH))
def test_ground_truth_generators_are_symmetries(name):
    for generator in GROUND_TRUTH[name](exact_params(name)):
        for residual in residual_on_solutions(name, generator):
            assert residual == 0, f"{name}: {generator} leaves {residual}"


@pytest.mark.parametrize("name", list(GROUND_TRUTH))
def test_component_truth_spans_test_truth(name):
    spec = PDES[name]
    criterion = build_criterion(spec, 2)
    written = np.stack([generator_to_vector([sp.sympify(c) for c in g], criterion.library, criterion.jets)
                        for g in GROUND_TRUTH[name](exact_params(name))], axis=1)
    component = truth_basis(criterion, coefficients(spec))
    assert component.shape == written.shape
    assert grassmann_distance(component, written) < 1e-8


def test_non_symmetry_leaves_residual():
    # x d/dx alone (no matching t scaling) is not a symmetry of the heat equation.
    residual = residual_on_solutions("heat", [0, x, 0])
    assert residual[0] != 0
