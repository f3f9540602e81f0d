"""Function library, total derivatives and prolongation, generated symbolically with sympy.

Notation follows Olver, "Applications of Lie Groups to Differential Equations"
(2nd ed., 1993), chapter 2. Independent variables X = (t, x), dependent fields
u^1..u^q, jet coordinates u^b_J = d^{|J|} u^b / dt^{J_t} dx^{J_x}. A generator

    v = sum_i xi^i(X, u) d/dX^i + sum_b phi^b(X, u) d/du^b,

has components written in the library: xi^i = sum_k W[i, k] theta_k(X, u) and
phi^b = sum_k W[p + b, k] theta_k(X, u). Its prolongation has the coefficients (the general prolongation formula)

    phi^b_J = D_J Q^b + sum_i xi^i u^b_{J + e_i},  Q^b = phi^b - sum_i xi^i u^b_i,

where D_i is the total derivative D_i f = df/dX^i + sum_{b, J} u^b_{J + e_i} df/du^b_J.
Everything is linear in W, so the criterion is built column by column: one
column per library term in one component.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import sympy as sp

INDEPENDENT = ("t", "x")


def jet_name(field_name: str, a: int, b: int) -> str:
    """Return the jet symbol's name: `u`, `u_t`, `u_xx`, `v_txx`."""
    return field_name if a == b == 0 else f"{field_name}_{'t' * a}{'x' * b}"


@dataclass
class JetSpace:
    """Symbols of the independent variables, the fields and their derivatives (created on demand)."""

    fields: tuple[str, ...]
    t: sp.Symbol = field(default_factory=lambda: sp.Symbol("t"))
    x: sp.Symbol = field(default_factory=lambda: sp.Symbol("x"))
    _jets: dict[tuple[int, int, int], sp.Symbol] = field(default_factory=dict)
    _keys: dict[sp.Symbol, tuple[int, int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The fields themselves exist from the start, so a caller's Symbol("u") is known to lookup().
        for f in range(len(self.fields)):
            self.jet(f, 0, 0)

    def jet(self, f: int, a: int, b: int) -> sp.Symbol:
        key = (f, a, b)
        if key not in self._jets:
            symbol = sp.Symbol(jet_name(self.fields[f], a, b))
            self._jets[key] = symbol
            self._keys[symbol] = key
        return self._jets[key]

    @property
    def independent(self) -> tuple[sp.Symbol, sp.Symbol]:
        return (self.t, self.x)

    @property
    def dependent(self) -> tuple[sp.Symbol, ...]:
        return tuple(self.jet(f, 0, 0) for f in range(len(self.fields)))

    def lookup(self, symbol: sp.Symbol) -> tuple[int, int, int] | None:
        """Return (field, a, b) of a jet symbol, or None for any other symbol."""
        return self._keys.get(symbol)

    def total_derivative(self, expr: sp.Expr, i: int) -> sp.Expr:
        """D_i expr for i = 0 (t) or 1 (x)."""
        result = sp.diff(expr, self.independent[i])
        for symbol in expr.free_symbols:
            key = self.lookup(symbol)
            if key is None:
                continue
            f, a, b = key
            shifted = self.jet(f, a + 1, b) if i == 0 else self.jet(f, a, b + 1)
            result += shifted * sp.diff(expr, symbol)
        return result


def monomial_library(jets: JetSpace, degree: int) -> list[sp.Expr]:
    """Return all monomials of total degree <= `degree` in (t, x, u^1..u^q), ordered by degree then variable order."""
    variables = [*jets.independent, *jets.dependent]
    library: list[sp.Expr] = []
    for total in range(degree + 1):
        for combo in itertools.combinations_with_replacement(variables, total):
            library.append(sp.Mul(*combo))
    return library


def prolongation(jets: JetSpace, components: list[sp.Expr], order: tuple[int, int], f: int) -> sp.Expr:
    """phi^f_J for J = (a, b): the coefficient of d/du^f_J in the prolonged generator.

    components: [xi^t, xi^x, phi^1, ..., phi^q] as expressions in (t, x, u).
    """
    xi = components[:2]
    u_t, u_x = jets.jet(f, 1, 0), jets.jet(f, 0, 1)
    characteristic = components[2 + f] - xi[0] * u_t - xi[1] * u_x
    a, b = order
    result = characteristic
    for _ in range(a):
        result = jets.total_derivative(result, 0)
    for _ in range(b):
        result = jets.total_derivative(result, 1)
    result += xi[0] * jets.jet(f, a + 1, b) + xi[1] * jets.jet(f, a, b + 1)
    return sp.expand(result)


def jacobian_symbol(equation: int, f: int, b: int) -> sp.Symbol:
    """Placeholder for dF_equation / du^f_{x^b}, filled from the network's Jacobian at each sample."""
    return sp.Symbol(f"dF{equation}_d{f}_{b}")


def criterion_columns(jets: JetSpace, library: list[sp.Expr], time_order: int, spatial_order: int) -> list[list[sp.Expr]]:
    """Build the infinitesimal invariance criterion, one expression per (equation, column).

    For the system d^m u^f / dt^m = F_f(u, u_x, ..., u_{x^n}) of q fields, the criterion
    pr v (Delta_f) = 0 on solutions (the infinitesimal invariance criterion) reads

        phi^f_{(m, 0)} - sum_{g, b <= n} dF_f/du^g_{x^b} * phi^g_{(0, b)} = 0.

    Column c = component * K + k contains the criterion for xi or phi = theta_k in
    that component alone. Returns rows[f][c].
    """
    n_fields = len(jets.fields)
    n_components = 2 + n_fields
    rows: list[list[sp.Expr]] = [[] for _ in range(n_fields)]
    for component in range(n_components):
        for theta in library:
            components = [sp.Integer(0)] * n_components
            components[component] = theta
            spatial = {(g, b): prolongation(jets, components, (0, b), g) for g in range(n_fields) for b in range(spatial_order + 1)}
            for f in range(n_fields):
                expr = prolongation(jets, components, (time_order, 0), f)
                for (g, b), phi in spatial.items():
                    expr -= jacobian_symbol(f, g, b) * phi
                rows[f].append(sp.expand(expr))
    return rows


def required_jets(jets: JetSpace, rows: list[list[sp.Expr]]) -> list[tuple[int, int, int]]:
    """Return the jet coordinates (field, a, b), derivative or not, that occur in the criterion."""
    needed = set()
    for row in rows:
        for expr in row:
            for symbol in expr.free_symbols:
                key = jets.lookup(symbol)
                if key is not None:
                    needed.add(key)
    return sorted(needed)
