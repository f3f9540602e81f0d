"""LieNLSD: discovery of (nonlinear) Lie point symmetries from PDE data.

Method: "Explicit Discovery of Nonlinear Symmetries from Dynamic Data"
(ICML 2025, arXiv 2510.01855). Modules: `pdes` (simulators, known
symmetries), `derivatives` (central differences), `prolong` (library and
prolongation in sympy), `fit` (the network F), `discovery` (linear system,
SVD, sparsification, comparison), `plots`.
"""

from components.symmetry.discovery import (
    Criterion,
    NullSpace,
    build_criterion,
    grassmann_distance,
    null_space,
    sparsify,
)
from components.symmetry.pdes import PDES, pde_spec, simulate

__all__ = ["PDES", "Criterion", "NullSpace", "build_criterion", "grassmann_distance", "null_space", "pde_spec", "simulate", "sparsify"]
