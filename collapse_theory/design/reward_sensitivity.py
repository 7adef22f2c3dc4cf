"""How the optimal rewards move with a family's parameter: implicit differentiation.

At an optimum the free rewards satisfy the stationarity conditions of S restricted to the
face of tied blocks; differentiating them in the parameter (the implicit function theorem,
through jaxopt's ``custom_root`` behind :mod:`collapse_theory._core.jaxopt_bridge`) gives dr*/dtheta
without unrolling the solver. Hypotheses: U twice differentiable in x and the parameter, the
Hessian of S on the free blocks non-singular (strictly concave there), and the tie pattern
locally constant in the parameter (strict complementarity: no reward about to join or leave a
block); at a change of tie pattern the derivative is one-sided.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from collapse_theory._core.jaxopt_bridge import root_tangent
from collapse_theory._core.precision import float64
from collapse_theory.problems.utilities import UtilityFunction, member
from collapse_theory.solver.utility_solver import check_n, solve

__all__ = ["TIE_TOLERANCE", "RewardSensitivity", "reward_sensitivity"]

# ---------------------------------------------------------------------------------------------
# implicit differentiation of the optimal rewards
# ---------------------------------------------------------------------------------------------

#: Rewards closer than this are treated as tied (one block moving together).
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RewardSensitivity:
    """Optimal rewards and their derivative with respect to the utility's parameter.

    Attributes:
        utility: the member's spec.
        family: the family name.
        parameter: the parameter value.
        rewards: the optimal rewards, descending (the solver's, Newton-polished).
        derivative: d rewards / d parameter.
        blocks: how many free blocks of tied rewards the optimality conditions had.
    """

    utility: str
    family: str
    parameter: float
    rewards: np.ndarray
    derivative: np.ndarray
    blocks: int


def _blocks(rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tie blocks of descending rewards: block index per reward, free-block mask, fixed values.

    Blocks at 1 or at 0 are held by the constraints 1 >= r_1 and r_n >= 0; the others are
    free and satisfy the stationarity of S restricted to block values.
    """
    block = np.concatenate([[0], np.cumsum(np.abs(np.diff(rewards)) > TIE_TOLERANCE)])
    count = int(block[-1]) + 1
    values = np.array([rewards[block == b].mean() for b in range(count)])
    fixed = (np.abs(values - 1.0) <= TIE_TOLERANCE) | (np.abs(values) <= TIE_TOLERANCE)
    values = np.where(np.abs(values - 1.0) <= TIE_TOLERANCE, 1.0, np.where(np.abs(values) <= TIE_TOLERANCE, 0.0, values))
    return block, ~fixed, values


def reward_sensitivity(family: str, parameter: float, n: int, *, tol: float = 1e-13) -> RewardSensitivity:
    """d r* / d theta for the optimal rewards of a family member, by implicit differentiation.

    At the optimum, rewards tied at 1 or 0 stay there under a small change of theta (the
    active constraints do not change, assuming strict complementarity), tied blocks move
    together, and the free block values v solve the stationarity conditions

    .. math::

        F_b(v, \\theta) = \\sum_{i \\in b} \\frac{\\partial S}{\\partial r_i}(r(v); \\theta) = 0 ,

    so :math:`dv/d\\theta = -(\\partial F/\\partial v)^{-1} \\partial F/\\partial \\theta`
    (jaxopt's ``custom_root`` through :mod:`collapse_theory._core.jaxopt_bridge`). For singular
    concave U every reward is its own block with r_1 = 1 and r_n = 0. The certified solution
    of :func:`collapse_theory.solver.utility_solver.solve` is polished by three Newton steps on F first.

    Example:
        >>> sens = reward_sensitivity("power", 0.5, 4)
        >>> [round(float(d), 6) for d in sens.derivative]   # central differences of solve: 0.355405
        [0.0, 0.355405, -0.355405, 0.0]
    """
    utility = member(family, parameter)
    n = check_n(n)
    solution = solve(utility, n, tol=tol)
    rewards = np.asarray(solution.rewards, dtype=np.float64)
    block, free, values = _blocks(rewards)
    free_index = np.flatnonzero(free)
    if free_index.size == 0:
        return RewardSensitivity(
            utility=utility.spec,
            family=family,
            parameter=float(parameter),
            rewards=np.where(free[block], 0.0, values[block]),
            derivative=np.zeros(n),
            blocks=0,
        )
    with float64():
        new_rewards, derivative = _implicit_rewards(
            jnp.asarray(values[free_index]),
            jnp.asarray(float(parameter), dtype=jnp.float64),
            jnp.asarray(np.where(free[block], 0.0, values[block])),
            jnp.asarray((block[:, None] == free_index[None, :]).astype(np.float64)),  # n x free blocks
            jnp.asarray(np.triu(block[:, None] != block[None, :], k=1).astype(np.float64)),  # pairs in different blocks
            function=utility.function,
        )
        new_rewards, derivative = np.asarray(new_rewards), np.asarray(derivative)
    return RewardSensitivity(
        utility=utility.spec,
        family=family,
        parameter=float(parameter),
        rewards=new_rewards,
        derivative=derivative,
        blocks=int(free_index.size),
    )


def _block_objective(
    v: jax.Array, theta: jax.Array, base: jax.Array, membership: jax.Array, pairs: jax.Array, function: UtilityFunction
) -> jax.Array:
    """S at the rewards r = base + membership v, over pairs in different blocks (others are constant)."""
    r = base + membership @ v
    gaps = r[:, None] - r[None, :]
    different = pairs > 0.5
    values = function(jnp.where(different, gaps, 1.0), jnp.reshape(theta, (1,)))
    return jnp.sum(jnp.where(different, values, 0.0))


def _block_hessian(
    v: jax.Array, theta: jax.Array, base: jax.Array, membership: jax.Array, pairs: jax.Array, function: UtilityFunction
) -> jax.Array:
    """The Hessian of :func:`_block_objective` in v, in closed form: M^T (D - W) M.

    The Hessian in r of a sum of U(r_i - r_j) over pairs is a weighted graph Laplacian with
    weights W_ij = U''(r_i - r_j). Built from U'' on the n x n pairs (O(n^2) memory); forward
    autodiff of the gradient would push one n x n tangent per free block (O(n^3) memory:
    hundreds of GB at n = 2000).
    """
    r = base + membership @ v
    gaps = jnp.abs(r[:, None] - r[None, :])  # W is symmetric: the pair (i, j) has gap r_i - r_j >= 0
    different = (pairs + pairs.T) > 0.5
    second = jax.vmap(jax.grad(jax.grad(lambda x: function(x, jnp.reshape(theta, (1,))))))
    weights = jnp.where(different, second(jnp.where(different, gaps, 1.0).ravel()).reshape(gaps.shape), 0.0)
    laplacian = jnp.diag(weights.sum(axis=1)) - weights
    return membership.T @ laplacian @ membership


@partial(jax.jit, static_argnames=("function",))
def _implicit_rewards(
    start: jax.Array, theta: jax.Array, base: jax.Array, membership: jax.Array, pairs: jax.Array, *, function: UtilityFunction
) -> tuple[jax.Array, jax.Array]:
    """Polished rewards and d rewards / d theta (compiled once per utility function and shape)."""

    def optimality(v: jax.Array, theta: jax.Array, base: jax.Array, membership: jax.Array, pairs: jax.Array) -> jax.Array:
        return jax.grad(_block_objective)(v, theta, base, membership, pairs, function)

    def polish(v: jax.Array, theta: jax.Array, base: jax.Array, membership: jax.Array, pairs: jax.Array) -> jax.Array:
        for _ in range(3):
            hessian = _block_hessian(v, theta, base, membership, pairs, function)
            v = v - jnp.linalg.solve(hessian, optimality(v, theta, base, membership, pairs))
        return v

    polished = polish(start, theta, base, membership, pairs)
    # Forward mode: one parameter, many rewards. The linear system is solved with the
    # closed-form Hessian at the solution, never with a Jacobian materialised by autodiff.
    hessian = _block_hessian(polished, theta, base, membership, pairs, function)
    tangents = (jnp.ones_like(theta), jnp.zeros_like(base), jnp.zeros_like(membership), jnp.zeros_like(pairs))
    slope = root_tangent(
        optimality, polished, (theta, base, membership, pairs), tangents, solve=lambda matvec, b: jnp.linalg.solve(hessian, b)
    )
    return base + membership @ polished, membership @ slope
