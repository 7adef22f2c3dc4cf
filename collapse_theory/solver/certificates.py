"""The Frank-Wolfe certificate at any rewards: S, its gradient, and the gap that bounds S* - S.

For concave S the feasible set's extreme points are the step vectors e_k, so
:math:`S^* - S(r) \\le \\max_k G_k - \\langle g, r \\rangle` with :math:`G_k = \\sum_{i \\le k} g_i`
(g the gradient at r). These functions evaluate it at any feasible rewards, independently of
the solver (which computes the same gap on its symmetric top half).

Example:
    >>> import numpy as np
    >>> certificate_gap("log", np.array([1.0, 0.5, 0.0]))
    0.0
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from collapse_theory._core.precision import float64
from collapse_theory.problems.utilities import Utility, UtilityFunction, parse_utility
from collapse_theory.solver._engine import frank_wolfe_gap_host

__all__ = ["certificate_gap", "objective_value", "reward_gradient"]


def objective_value(utility: Utility | str, rewards: Any) -> float:
    """S(r) = sum_{i<j} U(r_i - r_j) for rewards in ranked order (float64, O(n^2)).

    Example:
        >>> objective_value("linear", np.array([1.0, 0.5, 0.0]))
        2.0
    """
    utility = parse_utility(utility)
    with float64():
        return float(_full_objective(jnp.asarray(rewards, dtype=jnp.float64), utility.parameter_array, utility.function))


def _full_objective(r: jax.Array, params: jax.Array, function: UtilityFunction) -> jax.Array:
    n = r.shape[0]
    upper = jnp.triu(jnp.ones((n, n), dtype=bool), k=1)
    differences = jnp.where(upper, r[:, None] - r[None, :], 0.5)
    return jnp.sum(jnp.where(upper, function(differences, params), 0.0))


def reward_gradient(utility: Utility | str, rewards: Any) -> np.ndarray:
    """dS/dr at rewards in ranked order (float64)."""
    utility = parse_utility(utility)
    with float64():
        gradient = jax.grad(_full_objective)(jnp.asarray(rewards, dtype=jnp.float64), utility.parameter_array, utility.function)
        return np.asarray(gradient)


def certificate_gap(utility: Utility | str, rewards: Any) -> float:
    """The Frank-Wolfe gap max_k sum_{i<=k} g_i - <g, r> at any feasible rewards.

    An upper bound on S* - S(r) when U is concave, evaluated as
    sum_k d_k (max_j G_j - G_k) with the gaps d_k (see the module docstring;
    ``_engine.frank_wolfe_gap_host``).

    Example:
        >>> certificate_gap("linear", np.array([1.0, 0.0]))
        0.0
    """
    r = np.asarray(rewards, dtype=np.float64)
    return frank_wolfe_gap_host(reward_gradient(utility, r), r)
