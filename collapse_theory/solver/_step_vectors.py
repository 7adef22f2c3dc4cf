"""Step-vector answers: exact for affine and convex U, the fallback for any non-concave U.

The feasible set's extreme points are the n + 1 step vectors (1, ..., 1, 0, ..., 0). S and
its gradient at a step vector depend only on U and U' at 0 and 1, so the best step vector and
its Frank-Wolfe gap are O(1) scalar formulas (private to the solver).
"""

from __future__ import annotations

import math
import time
from functools import lru_cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from collapse_theory._core.precision import float64
from collapse_theory.problems.utilities import Utility, UtilityFunction
from collapse_theory.solver.solution import Solution, concave_status
from collapse_theory.solver.status import Status


@partial(jax.jit, static_argnames="function")
def _endpoint_values(params: jax.Array, function: UtilityFunction) -> tuple[jax.Array, jax.Array]:
    """(U(0), U(1)) and (U'(0), U'(1)) by one forward-mode pass (see :class:`_Endpoints`)."""
    x = jnp.asarray([0.0, 1.0], dtype=params.dtype)
    return jax.jvp(lambda t: function(t, params), (x,), (jnp.ones_like(x),))


class _Endpoints(NamedTuple):
    """U and U' at 0 and 1: all that S and its gradient need at a step vector."""

    u0: float
    u1: float
    du0: float
    du1: float


@lru_cache(maxsize=256)
def _endpoints(utility: Utility) -> _Endpoints:
    """(U(0), U(1), U'(0), U'(1)) in float64 (one compiled call per utility function)."""
    with float64():
        value, slope = _endpoint_values(utility.parameter_array, utility.function)
        (u0, u1), (du0, du1) = np.asarray(value).tolist(), np.asarray(slope).tolist()
    return _Endpoints(u0, u1, du0, du1)


# The step-vector formulas below are O(1) scalar arithmetic on Python floats: they serve
# every solve of a convex or affine U, where per-call overhead is the whole cost.


def _pair_sum(count: float, value: float) -> float:
    """count * value with 0 * inf = 0: no pairs contribute nothing, even where U or U' is infinite at 0."""
    return count * value if count else 0.0


def _step_vector_objective(ends: _Endpoints, n: int, k: int) -> float:
    """S(e_k) = k(n-k) U(1) + (C(k,2) + C(n-k,2)) U(0)."""
    return _pair_sum(k * (n - k), ends.u1) + _pair_sum(k * (k - 1) // 2 + (n - k) * (n - k - 1) // 2, ends.u0)


def _best_step_vector(ends: _Endpoints, n: int) -> tuple[int, float]:
    """The best step vector e_k (the smallest such k) and S(e_k).

    With p = k(n-k) pairs across, S(e_k) = p U(1) + (C(n,2) - p) U(0) is linear in p, so
    its maximum is at the largest p (k = n // 2) or at p = 0 (k = 0). Where U(0) is not
    finite every e_k with tied pairs shares that value, and only e_1 for n = 2 has none.
    """
    middle = n // 2
    at_zero, at_middle = _step_vector_objective(ends, n, 0), _step_vector_objective(ends, n, middle)
    if math.isfinite(at_middle) and not (math.isfinite(at_zero) and at_zero >= at_middle):
        return middle, at_middle
    return 0, at_zero


def _largest_quadratic(length: int, curvature: float, slope: float) -> float:
    """max over integers x in [0, length] of x (length - x) curvature + x slope (NaN if any value is).

    For finite coefficients the maximum is at an end or, when the parabola opens
    downwards, at the integers either side of its vertex; an infinite U'(0) makes
    every interior x infinite, which the middle of the range represents.
    """
    points = [0, length]
    if not (math.isfinite(curvature) and math.isfinite(slope)):
        points += [length // 2, (length + 1) // 2]
    elif curvature > 0:
        vertex = min(max(math.floor((length * curvature + slope) / (2.0 * curvature)), 0), length)
        points += [vertex, min(vertex + 1, length)]
    values = [_pair_sum(x * (length - x), curvature) + _pair_sum(x, slope) for x in points]
    return math.nan if any(map(math.isnan, values)) else max(values)


def _step_vector_prefix_extremes(ends: _Endpoints, n: int, k: int) -> tuple[float, float]:
    """(max_j G_j, min_j G_j) over j = 0..n of the gradient's prefix sums at the step vector e_k.

    The gradient: reward i (1-based) of the top block (i <= k) is ahead of k - i tied
    rewards, behind i - 1 and ahead of the n - k rewards at 0, so
    g_i = (k + 1 - 2i) U'(0) + (n - k) U'(1); in the bottom block, with t = i - k,
    g_i = (n - k + 1 - 2t) U'(0) - k U'(1). Summed, the prefix sums are
    G_j = j (k - j) U'(0) + j (n - k) U'(1) for j <= k and
    G_{k+t} = G_k + t (n - k - t) U'(0) - t k U'(1): two quadratics over integers
    (:func:`_largest_quadratic`, negated for the minimum).
    """
    g_k = _pair_sum(k * (n - k), ends.du1)
    top_max = _largest_quadratic(k, ends.du0, (n - k) * ends.du1)
    top_min = -_largest_quadratic(k, -ends.du0, -(n - k) * ends.du1)
    bottom_max = g_k + _largest_quadratic(n - k, ends.du0, -k * ends.du1)
    bottom_min = g_k - _largest_quadratic(n - k, -ends.du0, k * ends.du1)
    return max(top_max, bottom_max), min(top_min, bottom_min)


def _step_vector_gap(ends: _Endpoints, n: int, k: int) -> float:
    """The Frank-Wolfe gap at the step vector e_k, from U'(0) and U'(1).

    e_k has a single non-zero gap (d_k = 1), so the gap is max_j G_j - G_k
    (prefix sums in :func:`_step_vector_prefix_extremes`).
    """
    above = _largest_quadratic(k, ends.du0, (n - k) * ends.du1) - _pair_sum(k * (n - k), ends.du1)
    below = _largest_quadratic(n - k, ends.du0, -k * ends.du1)
    return math.nan if math.isnan(above) or math.isnan(below) else max(above, below)


def _step_vector_scale(ends: _Endpoints, n: int, k: int) -> float:
    """The certificate's scale max_j G_j - min_j G_j at e_k (see ``_symmetric.certificate_scale``)."""
    largest, smallest = _step_vector_prefix_extremes(ends, n, k)
    return largest - smallest


def _step_vector_rewards(n: int, k: int) -> np.ndarray:
    """e_k: k ones, then n - k zeros."""
    rewards = np.zeros(n)
    rewards[:k] = 1.0
    return rewards


def _affine_solution(utility: Utility, n: int, tol: float, start: float) -> Solution:
    """Affine U: S is linear, so the maximum is at a step vector e_k (Frank-Wolfe exact).

    S is also invariant under the reflection r -> 1 - reverse(r), which maps e_k to
    e_{n-k}; the midpoint (e_k + e_{n-k}) / 2 of the two optimal vertices is optimal
    and symmetric. For ``linear`` with odd n this puts the middle reward at 1/2 (the
    middle reward is not unique there; this is the symmetric choice). The gradient of
    a linear S is constant, so S and the gap at the midpoint are the averages of their
    values at the two vertices, which the reflection makes equal.
    """
    ends = _endpoints(utility)
    k, objective = _best_step_vector(ends, n)
    rewards = 0.5 * (_step_vector_rewards(n, k) + _step_vector_rewards(n, n - k))
    gap = _step_vector_gap(ends, n, k)
    status, message = concave_status(utility, rewards, objective, gap, _step_vector_scale(ends, n, k), tol, 0)
    if status is Status.OPTIMAL:
        message = "converged: U is affine, so S is linear and its maximum is a step vector (symmetrised); certified by the Frank-Wolfe gap"
    elif status is Status.NOT_CONVERGED:
        message = f"not converged: gap {gap:.3g} at the best step vector"
    return Solution(
        utility=utility.spec,
        n=n,
        rewards=rewards,
        objective=objective,
        gap=gap,
        status=status,
        iterations=0,
        seconds=time.perf_counter() - start,
        message=message,
    )


_NOT_CERTIFIED = "not certified: U is not concave, so the Frank-Wolfe gap bounds nothing"


def _convex_solution(utility: Utility, n: int, start: float) -> Solution:
    """Convex U: S is convex, so its maximum over the polytope is at a vertex, the best step vector (exact).

    Not certified (the gap bounds nothing for a convex S): status ``EXACT_VERTEX``
    where the vertex's S is finite, ``FAILED`` otherwise.
    """
    ends = _endpoints(utility)
    k, objective = _best_step_vector(ends, n)
    if math.isfinite(objective):
        status = Status.EXACT_VERTEX
        message = f"{_NOT_CERTIFIED}; best of the n+1 step vectors, exact for convex U (the maximum is at a vertex)"
    else:
        status, message = Status.FAILED, f"failed: S = {objective} at every step vector (U is not finite at 0 or 1)"
    return Solution(
        utility=utility.spec,
        n=n,
        rewards=_step_vector_rewards(n, k),
        objective=objective,
        gap=_step_vector_gap(ends, n, k),
        status=status,
        iterations=0,
        seconds=time.perf_counter() - start,
        message=message,
    )


def _best_of_vertices(
    utility: Utility, n: int, rewards: np.ndarray, objective: float, gap: float, iterations: int, finite: bool, seconds: float
) -> Solution:
    """U neither concave nor convex: the better of a local ascent and the best step vector; never certified."""
    ends = _endpoints(utility)
    k, value = _best_step_vector(ends, n)
    status = Status.NOT_CERTIFIED
    if math.isfinite(value) and (not finite or value >= objective):
        rewards, objective, gap = _step_vector_rewards(n, k), value, _step_vector_gap(ends, n, k)
        message = f"{_NOT_CERTIFIED}; best of the n+1 step vectors (a local optimum at best)"
    elif finite:
        message = (
            f"{_NOT_CERTIFIED}; local ascent from the symmetric start (better than every step vector; a local optimum at best)"
        )
    else:
        status, message = Status.FAILED, "failed: non-finite S at the local ascent's point and at every step vector"
    return Solution(
        utility=utility.spec,
        n=n,
        rewards=rewards,
        objective=objective,
        gap=gap,
        status=status,
        iterations=iterations,
        seconds=seconds,
        message=message,
    )
