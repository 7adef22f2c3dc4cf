"""The polish: Bertsekas' projected Newton method on the gaps between consecutive rewards.

Bertsekas, *Projected Newton methods for optimization problems with simple
constraints*, SIAM J. Control Optim. 20(2), 1982, applied to the gaps
:math:`d_k = y_{k+1} - y_k \\ge 0` (:math:`d_0 = y_1 = 1 - r_1`): gaps that are nearly
0 with an outward gradient are held at 0 (ties; for singular U only
:math:`r_1 = 1`), Newton's method moves the others, and an Armijo search along the
projection arc keeps every step feasible. It identifies the optimal face (the
ties) in finitely many steps and then converges quadratically, from the barrier
path's point or from a guess (limit-law quantiles, a coarser solution). The
polished point replaces the start only when its certificate is no worse, so a
wrong guess costs time, never correctness.

One loop iteration = one trial point and one evaluation of S and its gradient
there (U and U' per pair), which also gives the trial's certificate. At an accepted
point the next direction forms the Newton matrix (U'' per pair) and factorises it;
a rejected trial costs only the value and gradient. The first iteration evaluates
the start itself.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from collapse_theory import _symmetric as problem
from collapse_theory._newton import Iterate, Phase, Result, reverse_cumsum, scaled_solve, to_gaps_in_place

#: Newton iterations of one polish.
POLISH_ITERATIONS = 30
#: A gap below this / n with an outward gradient counts as a tie.
ACTIVE_THRESHOLD = 1e-2
#: Sufficient-increase fraction of the Armijo test.
ARMIJO = 1e-4


class Direction(NamedTuple):
    """A projected-Newton direction in the gaps d, and how far to try along it."""

    delta: jax.Array  # the step per unit length
    d_gradient: jax.Array  # dS/dd at the point it was computed from
    active: jax.Array  # gaps held at 0 (moved only by the projection)
    ascent: jax.Array  # predicted increase of S per unit step on the free gaps
    first_step: jax.Array  # the full step, or the largest inside the feasible set (singular U)
    second_step: jax.Array  # the first breakpoint of the projection arc, or half the first step


class PolishState(NamedTuple):
    """State of the polish.

    The accepted point (gaps d; S and gradient in y; its certificate), the direction
    from it and the line search along it (the step tried last, how many so far).
    """

    d: jax.Array
    value: jax.Array
    gradient: jax.Array
    gap: jax.Array
    previous_gap: jax.Array
    steps: jax.Array
    direction: Direction
    alpha: jax.Array
    trials: jax.Array
    stuck: jax.Array
    evaluated: jax.Array


def to_y(phase: Phase, d: jax.Array, fallback: jax.Array) -> jax.Array:
    """Top half y from the gaps d (``fallback`` on padded entries)."""
    return jnp.where(phase.layout.live, jnp.cumsum(d), fallback)


def newton_system(phase: Phase, state: PolishState, matrix: jax.Array, free: jax.Array, g: jax.Array) -> jax.Array:
    """The Newton step on the free gaps: one factorisation, in y or in d.

    When the ties form one top cluster d_0..d_{a-1}, the free gaps span the y_k with
    k >= a, so the step is solved in y (no transform of the matrix) and differenced;
    otherwise the matrix is transformed to the gaps (R A R^T by reverse cumsums, in
    place: ``_newton.to_gaps_in_place``).
    """
    layout = phase.layout
    index = layout.index
    d = state.d
    gradient_y = jnp.where(layout.live, state.gradient, 0.0)
    active = layout.live & ~free
    top_cluster = jnp.all(jnp.where(layout.live, active == (index < jnp.sum(active)), True))
    # one factorisation either way (two batched LAPACK calls running side by side can take
    # every thread of a 2-core pool and deadlock), and no branch that would copy the matrix
    system = to_gaps_in_place(matrix, ~top_cluster)
    rhs = jnp.where(free, jnp.where(top_cluster, gradient_y, g), 0.0)
    solution = scaled_solve(system, rhs, free)
    step_y = jnp.where(free, solution, 0.0)
    return jnp.where(top_cluster, step_y - jnp.concatenate([jnp.zeros(1, d.dtype), step_y[:-1]]), solution)


def newton_direction(phase: Phase, state: PolishState, fallback: jax.Array) -> Direction:
    """The projected-Newton direction at the accepted point, and the steps to try along it."""
    layout = phase.layout
    index = layout.index
    d = state.d
    matrix, upper_sums = phase.newton_matrix_and_upper_sums(to_y(phase, d, fallback))
    half = jnp.asarray(0.5, d.dtype)  # the middle gap: y_m = sum(d) <= 1/2
    gradient_y = jnp.where(layout.live, state.gradient, 0.0)
    g = jnp.where(layout.live, reverse_cumsum(gradient_y, 0), 0.0)  # gradient in d
    # diagonal of the d-space matrix R A R^T: sum over the block [k:, k:] of A
    curvature = reverse_cumsum(jnp.diag(matrix) + 2.0 * upper_sums, 0)
    curvature = jnp.maximum(curvature, jnp.finfo(d.dtype).tiny)
    scaled_step = jnp.max(jnp.where(layout.live, jnp.abs(d - jnp.maximum(d + g / curvature, 0.0)), 0.0))
    active = layout.live & (d <= jnp.minimum(ACTIVE_THRESHOLD / phase.n, scaled_step)) & (g <= 0)
    # singular U never ties (U'(0+) infinite): only r_1 = 1 is held; a tiny gap of a
    # start held at 0 too would move by the scaled gradient alone and spoil the step
    active = active & (~phase.singular | (index == 0))
    free = layout.live & ~active
    newton = newton_system(phase, state, matrix, free, g)
    delta = jnp.where(free, newton, jnp.where(active, g / curvature, 0.0))
    # singular U never ties: stay inside (fraction to the boundary); otherwise project
    shrinking = free & (delta < 0)
    to_zero = jnp.min(jnp.where(shrinking, -d / jnp.where(shrinking, delta, -1.0), jnp.inf))
    middle_growth = jnp.sum(jnp.where(layout.live, delta, 0.0))
    to_middle = jnp.where(middle_growth > 0, (half - jnp.sum(d)) / jnp.where(middle_growth > 0, middle_growth, 1.0), jnp.inf)
    first = jnp.minimum(1.0, jnp.where(phase.singular, 0.95 * jnp.minimum(to_zero, to_middle), jnp.inf))
    ascent = jnp.sum(jnp.where(free, g * delta, 0.0))
    # after a rejected full step, the first breakpoint of the projection arc (a free gap
    # reaches 0 and turns active) unless it is too short to make progress
    breakpoint = jnp.where(phase.singular, 0.0, to_zero)
    second = jnp.where((breakpoint >= 1e-2) & (breakpoint < 0.5 * first), breakpoint, 0.5 * first)
    return Direction(delta, g, active, ascent, first, second)


def iteration(phase: Phase, fallback: jax.Array, state: PolishState) -> PolishState:
    """One trial point along the projection arc: evaluated, and accepted by Armijo or not."""
    layout = phase.layout
    half = jnp.asarray(0.5, state.d.dtype)
    new_point = state.evaluated & (state.trials == 0)
    direction = jax.lax.cond(new_point, lambda s: newton_direction(phase, s, fallback), lambda s: s.direction, state)
    alpha = jnp.where(
        state.trials == 0, direction.first_step, jnp.where(state.trials == 1, direction.second_step, 0.5 * state.alpha)
    )
    projected = jnp.where(layout.live, jnp.maximum(state.d + alpha * direction.delta, 0.0), 0.0)
    trial = jnp.where(state.evaluated, projected, state.d)
    y_trial = to_y(phase, trial, fallback)
    value, gradient = phase.evaluate(y_trial)
    # Armijo along the projection arc
    predicted = alpha * direction.ascent + jnp.sum(jnp.where(direction.active, direction.d_gradient * (trial - state.d), 0.0))
    enough = value >= state.value + ARMIJO * predicted - 1e-14 * jnp.abs(state.value)
    accepted = ~state.evaluated | ((jnp.sum(trial) <= half) & jnp.isfinite(value) & enough)
    gap = problem.frank_wolfe_gap(gradient, y_trial, layout)

    def pick(new: Any, old: Any) -> Any:
        return jax.tree_util.tree_map(lambda a, b: jnp.where(accepted, a, b), new, old)

    d, value, gradient, gap = pick((trial, value, gradient, gap), (state.d, state.value, state.gradient, state.gap))
    return PolishState(
        d,
        value,
        gradient,
        gap,
        jnp.where(accepted & state.evaluated, state.gap, state.previous_gap),
        state.steps + new_point,
        direction,
        alpha,
        jnp.where(accepted, 0, state.trials + 1),
        ~accepted & (alpha <= 1e-12),
        jnp.asarray(True),
    )


def keep_going(phase: Phase, state: PolishState) -> jax.Array:
    """At an accepted point: go on unless tol is certified and a step no longer shrinks the
    gap tenfold (the rounding floor); within a line search: until a trial passes."""
    scale = phase.scale(state.gradient)
    certified = problem.within_tolerance(state.gap, scale, phase.tol)
    floor = certified & (state.gap > 0.1 * state.previous_gap)
    target = 1e-3 * phase.tol * scale
    more = (state.steps < POLISH_ITERATIONS) & (state.gap > target) & jnp.isfinite(state.gap) & ~floor
    return ~state.evaluated | (~state.stuck & ((state.trials > 0) | more))


def polish(phase: Phase, start: Iterate) -> Result:
    """Projected Newton from ``start``; its point if its certificate is no worse than the start's."""
    layout = phase.layout
    d0 = jnp.where(layout.live & (layout.index > 0), problem.constraints(start.y, layout)[:-1], 0.0)  # r_1 = 1
    inf, zero = jnp.asarray(jnp.inf, d0.dtype), jnp.zeros((), d0.dtype)
    placeholder = Direction(jnp.zeros_like(d0), jnp.zeros_like(d0), jnp.zeros(d0.shape, bool), zero, zero, zero)
    initial = PolishState(
        d0,
        start.objective,
        start.gradient,
        inf,
        inf,
        jnp.asarray(0),
        placeholder,
        zero,
        jnp.asarray(0),
        jnp.asarray(False),
        jnp.asarray(False),
    )
    final = jax.lax.while_loop(lambda state: keep_going(phase, state), lambda state: iteration(phase, start.y, state), initial)
    y = to_y(phase, final.d, start.y)
    usable = jnp.isfinite(final.gap) & jnp.isfinite(final.value) & jnp.all(jnp.isfinite(y))
    usable = usable & jnp.all(problem.constraints(y, layout) >= 0)
    better = usable & (final.gap <= start.gap)
    return Result(
        jnp.where(better, y, start.y),
        jnp.where(better, final.gap, start.gap),
        jnp.where(better, final.value, start.objective),
        start.iteration + final.steps,
        better,
        phase.scale(jnp.where(better, final.gradient, start.gradient)),
    )
