"""What every Newton back end of the solver shares: the line search, the Frank-Wolfe gap and their constants.

Both problem stacks maximise a concave F over ordered rewards with Newton directions: the
paper's utility problem on its symmetric top half (``_barrier_path``, ``_projected_newton``)
and a ranking loss in gap coordinates (``_loss_newton``, ``_loss_bounded``). Each step is
accepted by the same test and each point certified by the same bound:

* **Armijo's test** (:func:`sufficient_increase`): a trial step :math:`\\alpha` along a
  direction with predicted increase :math:`\\alpha s` is accepted when

  .. math::

      F(x_\\alpha) - F(x) \\ge \\sigma \\alpha s - \\varepsilon,

  with :math:`\\sigma` = :data:`ARMIJO` and a slack :math:`\\varepsilon` for F's rounding
  (:func:`rounding_slack`). Along a projection arc the predicted increase is not linear in
  :math:`\\alpha` (held coordinates move by the projection): it is passed whole, with
  :math:`\\alpha = 1`.
* **Backtracking** (:func:`backtrack`): the trial steps :math:`\\alpha_0, \\beta \\alpha_0,
  \\beta^2 \\alpha_0, \\dots` with :math:`\\beta` = :data:`BACKTRACK`, until one passes, at most
  :data:`MAX_HALVINGS` of them or down to :data:`MIN_STEP`.
* **The Frank-Wolfe gap** (:func:`frank_wolfe_gap`): the feasible rewards
  :math:`1 \\ge r_1 \\ge \\dots \\ge r_n \\ge 0` are the convex hull of the step vectors
  :math:`e_k = (1, \\dots, 1, 0, \\dots, 0)` (k ones, k = 0..n), and
  :math:`r = \\sum_k d_k e_k` with the gaps :math:`d_0 = 1 - r_1`, :math:`d_k = r_k - r_{k+1}`,
  :math:`d_n = r_n` (non-negative, summing to 1). With the gradient g and its prefix sums
  :math:`G_k = \\langle g, e_k \\rangle = \\sum_{i \\le k} g_i` (:math:`G_0 = 0`),

  .. math::

      \\max_k \\langle g, e_k - r \\rangle = \\max_k G_k - \\sum_k d_k G_k
      = \\sum_k d_k \\, (\\max_j G_j - G_k),

  a sum of non-negative terms (no cancellation), and for concave F an upper bound on
  :math:`F^* - F(r)`. The device version serves the solvers' loops (padded, masked); the host
  version, :func:`frank_wolfe_gap_host`, the certificates of finished answers. Both are the
  one formula of :func:`frank_wolfe_gap`, evaluated by JAX or by NumPy.

Constants that differ between the stacks stay with their stack (the barrier weights, the
tie thresholds of the symmetric polish); where the stacks evaluate the same test with
different roundings, the shared functions take the difference as an argument, so that
every iterate stays what it was bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "ARMIJO",
    "BACKTRACK",
    "BARRIER_PATH_ARMIJO",
    "MAX_HALVINGS",
    "MIN_STEP",
    "ROUNDING",
    "TIE_THRESHOLD",
    "backtrack",
    "frank_wolfe_gap",
    "frank_wolfe_gap_host",
    "rounding_slack",
    "sufficient_increase",
]

#: Sufficient-increase fraction :math:`\\sigma` of Armijo's test.
ARMIJO = 1e-4
#: The symmetric barrier path's Armijo fraction (``_barrier_path``): a constant of its own,
#: kept because its iterates depend on it.
BARRIER_PATH_ARMIJO = 0.25
#: Factor :math:`\\beta` by which a rejected trial step shrinks.
BACKTRACK = 0.5
#: Trial steps of a counted search (:func:`backtrack`) before it gives up.
MAX_HALVINGS = 60
#: A search bounded by the step length (:func:`backtrack`'s ``min_step``) gives up at this step.
MIN_STEP = 1e-12
#: Relative rounding of F: a trial within ``ROUNDING * abs(F)`` of the test passes (:func:`rounding_slack`).
ROUNDING = 1e-14
#: Largest tie threshold (Bertsekas' epsilon) of the loss stack's projected Newton methods: a
#: coordinate this close to its bound, with an outward gradient, is held there.
TIE_THRESHOLD = 1e-3


def rounding_slack(value: jax.Array) -> jax.Array:
    """:math:`\\varepsilon = ` ``ROUNDING * abs(F)``: the part of F(x) that rounding hides."""
    return ROUNDING * jnp.abs(value)


def sufficient_increase(
    new: jax.Array,
    old: jax.Array,
    slope: jax.Array,
    alpha: jax.Array | float = 1.0,
    *,
    fraction: float = ARMIJO,
    slack: jax.Array | None = None,
    on_levels: bool = False,
) -> jax.Array:
    """Armijo's test :math:`F(x_\\alpha) - F(x) \\ge \\sigma \\alpha s - \\varepsilon`, and a finite trial.

    ``new`` and ``old`` are :math:`F(x_\\alpha)` and :math:`F(x)`, ``slope`` the predicted
    increase s per unit step (along a projection arc: the whole predicted increase, with
    ``alpha`` 1), ``fraction`` :math:`\\sigma` and ``slack`` :math:`\\varepsilon` (none by
    default). The threshold is evaluated as ``fraction * alpha * slope`` in that order.

    ``on_levels`` compares :math:`F(x_\\alpha) \\ge F(x) + (\\sigma \\alpha s - \\varepsilon)`
    instead: the same test with its rounding in another place. The symmetric stack has
    always compared levels and the loss stack increases; each keeps its own so that no
    acceptance changes.
    """
    threshold = fraction * alpha * slope
    if on_levels:
        level = old + threshold
        if slack is not None:
            level = level - slack
        return jnp.isfinite(new) & (new >= level)
    increase = new - old
    if slack is not None:
        threshold = threshold - slack
    return jnp.isfinite(increase) & (increase >= threshold)


def backtrack(
    accepts: Callable[[jax.Array, jax.Array], jax.Array],
    first: jax.Array,
    *,
    start: int = 0,
    max_halvings: int | None = MAX_HALVINGS,
    min_step: float | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Backtracking line search: the first of :math:`\\alpha_0, \\beta \\alpha_0, \\beta^2 \\alpha_0, \\dots`
    that ``accepts(alpha, k)`` (trial k, counted from ``start``), in a ``lax.while_loop``.

    It stops at an accepted step, after trial ``max_halvings - 1`` (None: no count), or
    once the step is ``min_step`` or less (None: no floor; that step is not tried).
    Returns ``(alpha, accepted, k)``: the accepted step (else the last one tried, shrunk
    once more), whether one was accepted, and the next trial's count.
    """

    def searching(carry: tuple[jax.Array, jax.Array, jax.Array]) -> jax.Array:
        alpha, accepted, k = carry
        going = ~accepted
        if max_halvings is not None:
            going = going & (k < max_halvings)
        if min_step is not None:
            going = going & (alpha > min_step)
        return going

    def trial(carry: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array, jax.Array]:
        alpha, _, k = carry
        accepted = accepts(alpha, k)
        return jnp.where(accepted, alpha, BACKTRACK * alpha), accepted, k + 1

    return jax.lax.while_loop(searching, trial, (first, jnp.asarray(False), jnp.asarray(start)))


def frank_wolfe_gap(prefix: Any, steps: Any, live: Any, *, origin: Any = None, xp: Any = jnp) -> Any:
    """The Frank-Wolfe gap :math:`\\sum_k d_k (\\max_j G_j - G_k)` over the ``live`` entries.

    ``prefix`` holds the prefix sums :math:`G_k` and ``steps`` the weights :math:`d_k` of the
    step vectors (a problem reduced by a symmetry passes its orbits: weights times gaps).
    Where :math:`G_0 = 0` is not among them, ``origin`` is its weight :math:`d_0`: the
    maximum then includes 0 and the gap gains :math:`d_0 \\max_j G_j`. ``xp`` is the array
    module: ``jax.numpy`` (traced, padded problems) or ``numpy`` (:func:`frank_wolfe_gap_host`).
    """
    best = xp.max(xp.where(live, prefix, -xp.inf))
    if origin is not None:
        best = xp.maximum(0.0, best)
    total = xp.sum(xp.where(live, steps * (best - prefix), 0.0))
    return total if origin is None else origin * best + total


def frank_wolfe_gap_host(gradient: Any, rewards: Any) -> float:
    """:func:`frank_wolfe_gap` at rewards in ranked order on [0, 1], in NumPy float64.

    :math:`\\max_k \\langle g, e_k - r \\rangle` from :math:`G = (0, g_1, g_1 + g_2, \\dots)` and
    :math:`d = (1 - r_1, r_1 - r_2, \\dots, r_{n-1} - r_n, r_n)`.

    Example:
        >>> frank_wolfe_gap_host(np.array([1.0, -1.0]), np.array([0.5, 0.5]))   # <g, e_1 - r>
        1.0
    """
    g = np.asarray(gradient, dtype=np.float64)
    r = np.asarray(rewards, dtype=np.float64)
    prefix = np.concatenate([[0.0], np.cumsum(g)])
    steps = np.concatenate([[1.0 - r[0]], r[:-1] - r[1:], [r[-1]]])
    return float(frank_wolfe_gap(prefix, steps, True, xp=np))
