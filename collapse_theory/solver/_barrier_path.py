"""The log-barrier path: damped Newton on S plus a barrier, followed down to a target gap.

Maximise

.. math::

    F_\\mu(y) = S(y) + \\mu \\sum_k \\log c_k(y)

over the interior of the order constraints :math:`c_k \\ge 0` (``_symmetric``) by
Newton steps (Jacobi-scaled Cholesky, fraction-to-the-boundary, Armijo
backtracking), reducing :math:`\\mu` whenever the Newton decrement is small against
:math:`\\mu (m + 1)`, until the Frank-Wolfe gap of S meets the target (Boyd and
Vandenberghe, *Convex Optimization*, section 11.3). It is robust from any strictly
feasible start but slow to high accuracy; the projected-Newton polish
(``_projected_newton``) finishes from its point.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from collapse_theory.solver import _engine as engine
from collapse_theory.solver import _symmetric as problem
from collapse_theory.solver._newton import Iterate, Phase, scaled_solve

#: Factor by which the barrier weight shrinks once the current centre is reached.
MU_REDUCTION = 0.02
#: Centred when the Newton decrement is below this times mu (m + 1).
CENTRING = 0.5


def line_search(value: jax.Array, trial_value: Any, alpha0: jax.Array, slope: jax.Array) -> jax.Array:
    """Armijo backtracking from ``alpha0`` down to ``_engine.MIN_STEP``; returns 0 when no step is acceptable.

    The path's own fraction (``_engine.BARRIER_PATH_ARMIJO``), levels compared, and no count
    of trials: the path's iterates are those it has always taken.
    """
    slack = engine.rounding_slack(value)

    def accepts(alpha: jax.Array, _: jax.Array) -> jax.Array:
        fraction = engine.BARRIER_PATH_ARMIJO
        return engine.sufficient_increase(trial_value(alpha), value, slope, alpha, fraction=fraction, slack=slack, on_levels=True)

    alpha, accepted, _ = engine.backtrack(accepts, alpha0, max_halvings=None, min_step=engine.MIN_STEP)
    return jnp.where(accepted, alpha, 0.0)


def boundary_step(c: jax.Array, dc: jax.Array, live: jax.Array, fraction: float) -> jax.Array:
    """Largest step in (0, 1] keeping every live constraint positive (times ``fraction``)."""
    shrinking = live & (dc < 0)
    ratios = jnp.where(shrinking, -c / jnp.where(shrinking, dc, -1.0), jnp.inf)
    return jnp.minimum(1.0, fraction * jnp.min(ratios))


def barrier(phase: Phase, y: jax.Array, mu: jax.Array) -> jax.Array:
    """mu sum_k log c_k(y) over the live constraints."""
    c = problem.constraints(y, phase.layout)
    return mu * jnp.sum(jnp.where(phase.layout.constraint_live, jnp.log(c), 0.0))


def barrier_hessian(phase: Phase, c: jax.Array, mu: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The Hessian of -mu sum log c, C^T diag(mu / c^2) C with C bidiagonal: its diagonal and superdiagonal.

    y_a enters c_a with +1 and c_{a+1} with -1 (or the middle coefficient). It is added
    to the Newton matrix in the factorisation's scaling pass (``_newton.factorise``).
    """
    layout = phase.layout
    w = jnp.where(layout.constraint_live, mu / c**2, 0.0)
    a = layout.index
    next_coefficient = jnp.where(a + 1 < phase.m, -1.0, jnp.where(a + 1 == phase.m, problem.middle_coefficient(layout), 0.0))
    diagonal = w[:-1] + w[1:] * next_coefficient**2
    superdiagonal = jnp.where(a[:-1] + 1 < phase.m, -w[1:-1], 0.0)
    return diagonal, superdiagonal


def barrier_step(phase: Phase, state: Iterate, target_tol: jax.Array) -> Iterate:
    """One damped Newton step on F_mu, then mu reduced if the centre is reached."""
    layout = phase.layout
    y, mu = state.y, state.mu
    c = problem.constraints(y, layout)
    rhs = jnp.where(layout.live, state.gradient + jax.grad(lambda v: barrier(phase, v, mu))(y), 0.0)
    band = barrier_hessian(phase, c, mu)
    step = jnp.where(layout.live, scaled_solve(phase.newton_matrix(y), rhs, layout.live, band), 0.0)
    decrement = jnp.dot(rhs, step)
    dc = problem.constraints(y + step, layout) - c
    alpha0 = boundary_step(c, dc, layout.constraint_live, 0.99)
    value = state.objective + barrier(phase, y, mu)

    def trial_value(t: jax.Array) -> jax.Array:
        return phase.objective(y + t * step) + barrier(phase, y + t * step, mu)

    alpha = line_search(value, trial_value, alpha0, decrement)
    moved = alpha > 0
    y_new = y + alpha * step
    gap, new_value, new_gradient = phase.certificate(y_new)
    mu_floor = 1e-3 * target_tol * phase.scale(new_gradient) / (phase.m + 1)
    centred = (decrement <= CENTRING * mu * (phase.m + 1)) | ~moved
    mu_new = jnp.where(centred, jnp.maximum(MU_REDUCTION * mu, mu_floor), mu)
    stalled = ~moved & (mu <= mu_floor)
    return Iterate(y_new, mu_new, state.iteration + 1, gap, new_value, new_gradient, stalled)


def follow(phase: Phase, start: Iterate, target_tol: jax.Array, skip: jax.Array) -> Iterate:
    """Barrier steps from ``start`` until the gap meets ``target_tol`` (or the step limit, a stall, ``skip``)."""

    def keep_going(state: Iterate) -> jax.Array:
        met = problem.within_tolerance(state.gap, phase.scale(state.gradient), target_tol)
        finite = jnp.isfinite(state.gap) & jnp.all(jnp.isfinite(state.y))
        return ~skip & ~met & finite & (state.iteration < phase.max_steps) & ~state.stalled

    fresh = start._replace(stalled=jnp.asarray(False))
    return jax.lax.while_loop(keep_going, lambda s: barrier_step(phase, s, target_tol), fresh)
