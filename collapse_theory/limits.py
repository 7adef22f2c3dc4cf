"""Closed-form n -> infinity laws of the optimal rewards, and the Gauss-Lobatto oracle.

As n grows, the empirical distribution of the optimal rewards of
:math:`\\max \\sum_{i<j} U(r_i - r_j)` converges to the law of X maximising
:math:`E\\, U(|X - X'|)` over laws on [0, 1] (X, X' independent); Song, Cai, Lee, Su,
"Reward Collapse in Aligning Large Language Models", arXiv 2305.17608, Theorem 3
and Section 3.2. Known closed forms:

===================  =====================================  ==========================================
utility              limit law                              reference
===================  =====================================  ==========================================
``log``              arcsine = Beta(1/2, 1/2)               Fekete points of an interval (Stieltjes
                                                            1885; Fejer 1932): the finite-n optimum is
                                                            the Gauss-Lobatto-Legendre nodes
``power:G``          Beta((1-G)/2, (1-G)/2), 0 < G < 1      Bjorck (1956), maximising E|X-Y|^G
``neg-power:G``      Beta((1+G)/2, (1+G)/2), 0 < G < 1      Riesz equilibrium measure of [0, 1]
                     uniform on [0, 1], G >= 1              Hardin and Saff (2004, 2005):
                                                            hypersingular Riesz energy
``linear``           two-point, mass 1/2 at 0 and at 1      S is linear: a step vector is optimal
``square``           two-point, mass 1/2 at 0 and at 1      convex U: maximum at a step vector
===================  =====================================  ==========================================
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.special
import scipy.stats

from collapse_theory.solver import check_n
from collapse_theory.utilities import Utility, parse_utility

Distribution = Any  # a scipy.stats frozen distribution (rv_continuous_frozen or rv_discrete_frozen)


def limit(utility: Utility | str) -> Distribution | None:
    """The closed-form n -> infinity law of the optimal rewards, or None if unknown.

    Returns a frozen :mod:`scipy.stats` distribution on [0, 1]:

    * ``log`` -> ``beta(1/2, 1/2)`` (the arcsine law; Fekete points / Gauss-Lobatto),
    * ``power:G`` -> ``beta((1-G)/2, (1-G)/2)`` (Bjorck 1956),
    * ``neg-power:G`` -> ``beta((1+G)/2, (1+G)/2)`` for G < 1 (Riesz equilibrium
      measure), ``uniform(0, 1)`` for G >= 1 (Hardin and Saff 2004),
    * ``linear``, ``square`` -> ``bernoulli(1/2)`` (two points, mass 1/2 at 0 and 1),
    * anything else (``log-sigmoid:B``, ``exp:B``, custom) -> None; see
      :func:`collapse_theory.asymptotics.numerical_limit`.

    Reference: Song, Cai, Lee, Su, arXiv 2305.17608, Theorem 3 and Section 3.2.

    Example:
        >>> limit("log").args
        (0.5, 0.5)
        >>> limit("neg-power:2").dist.name
        'uniform'
        >>> limit("exp:1") is None
        True
    """
    utility = parse_utility(utility)
    family = utility.family
    if family == "log":
        return scipy.stats.beta(0.5, 0.5)
    if family == "power":
        a = (1.0 - utility.parameters[0]) / 2.0
        return scipy.stats.beta(a, a)
    if family == "neg-power":
        gamma = utility.parameters[0]
        if gamma >= 1.0:
            return scipy.stats.uniform(0.0, 1.0)
        a = (1.0 + gamma) / 2.0
        return scipy.stats.beta(a, a)
    if family in ("linear", "square"):
        return scipy.stats.bernoulli(0.5)
    return None


def describe_limit(distribution: Distribution | None) -> str:
    """A one-line human description of a limit law, e.g. ``"Beta(0.25, 0.25)"``."""
    if distribution is None:
        return "no closed form known"
    name = distribution.dist.name
    if name == "beta":
        a, b = distribution.args
        label = f"Beta({a:g}, {b:g})"
        return label + " (arcsine)" if a == b == 0.5 else label
    if name == "uniform":
        return "Uniform(0, 1)"
    if name == "bernoulli":
        return "two-point: mass 1/2 at 0 and 1/2 at 1"
    return f"{name}{distribution.args}"


def limit_parameters(distribution: Distribution | None) -> dict[str, Any]:
    """The law's name and parameters as a JSON-ready dict."""
    if distribution is None:
        return {"law": None}
    name = distribution.dist.name
    if name == "beta":
        a, b = distribution.args
        return {"law": "beta", "a": float(a), "b": float(b)}
    if name == "uniform":
        return {"law": "uniform", "low": 0.0, "high": 1.0}
    return {"law": "two-point", "atoms": [0.0, 1.0], "masses": [0.5, 0.5]}


def gauss_lobatto_rewards(n: int) -> np.ndarray:
    """The n Gauss-Lobatto-Legendre nodes mapped to [0, 1], descending.

    They are the optimal rewards for U = log at every n: the stationarity
    conditions of :math:`\\sum_{i<j} \\log(r_i - r_j)` with r_1 = 1, r_n = 0 are those
    of the Fekete points of [-1, 1], which are the zeros of
    :math:`(1 - x^2) P'_{n-1}(x)` (Stieltjes 1885; Fejer 1932). The interior nodes
    are the zeros of the Jacobi polynomial :math:`P^{(1,1)}_{n-2}`, computed by
    :func:`scipy.special.roots_jacobi` (Golub-Welsch with Newton polishing),
    independently of the solver.

    Example:
        >>> np.round(gauss_lobatto_rewards(4), 6).tolist()
        [1.0, 0.723607, 0.276393, 0.0]
    """
    n = check_n(n)
    interior = scipy.special.roots_jacobi(n - 2, 1.0, 1.0)[0] if n > 2 else np.empty(0)
    nodes = np.concatenate([[-1.0], np.sort(interior), [1.0]])
    return ((nodes[::-1] + 1.0) / 2.0).astype(np.float64)
