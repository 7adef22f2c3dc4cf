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
point the next direction forms the Newton matrix (U'' per pair) and factorises it,
or, once the quadratic phase is reached, solves with the last factorisation (a chord
step, see :func:`iteration`); a rejected trial costs only the value and gradient.
The first iteration evaluates the start itself. The polish carries one M x M array,
the last factor, and forms, transforms, scales and factorises the next Newton matrix
in it (:func:`refactorised`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from collapse_theory.solver import _engine as engine
from collapse_theory.solver import _symmetric as problem
from collapse_theory.solver._newton import (
    Factor,
    Iterate,
    Phase,
    Result,
    factored_solve,
    factorise,
    reverse_cumsum,
    to_gaps_in_place,
)

#: Newton iterations of one polish.
POLISH_ITERATIONS = 30
#: A gap below this / n with an outward gradient counts as a tie.
ACTIVE_THRESHOLD = 1e-2
#: The next direction reuses the last factorisation (a chord step) when that was made at a
#: point whose gap (relative to its scale) was at most this: a chord step then shrinks the gap
#: about that much.
CHORD_GAP = 1e-4
#: From this padded size on, chord steps start from a factorisation made at a relative gap up
#: to CHORD_GAP_LARGE: there a factorisation (M^3 / 3 flops) costs as much as 5 to 8 evaluations
#: of the pairs (M^2 transcendental functions), and a chord step from such a factor still
#: shrinks the gap 20 to 400 times (n = 10^4: log-sigmoid:4, power:0.5 and neg-power:1 certify
#: with 1 factorisation at n instead of 2 or 3). Below it a factorisation costs about one
#: evaluation, and a Newton step's quadratic convergence is the cheaper way.
CHORD_LARGE_SIZE = 1024
CHORD_GAP_LARGE = 1e-2


def _factorisation_costly(state: PolishState) -> bool:
    """Whether the padded size is CHORD_LARGE_SIZE or more, where a factorisation costs many evaluations."""
    return state.d.shape[0] >= CHORD_LARGE_SIZE


class Direction(NamedTuple):
    """A projected-Newton direction in the gaps d, and how far to try along it."""

    delta: jax.Array  # the step per unit length
    d_gradient: jax.Array  # dS/dd at the point it was computed from
    active: jax.Array  # gaps held at 0 (moved only by the projection)
    ascent: jax.Array  # predicted increase of S per unit step on the free gaps
    first_step: jax.Array  # the full step, or the largest inside the feasible set (singular U)
    second_step: jax.Array  # the first breakpoint of the projection arc, or half the first step


class Factorised(NamedTuple):
    """The last Newton system factorised: its factor, free gaps, coordinates (y: one top
    cluster of ties, else d), the diagonal of the matrix in d, and the relative gap of the
    point where it was made, for chord steps."""

    factor: Factor
    free: jax.Array
    top_cluster: jax.Array
    curvature: jax.Array
    gap: jax.Array


class PolishState(NamedTuple):
    """State of the polish.

    The accepted point (gaps d; S and gradient in y; its certificate), the direction
    from it and the line search along it (the step tried last, how many so far), the
    last factorisation and whether the direction came from it without a new one (a
    chord step).
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
    factorised: Factorised
    chord: jax.Array


def to_y(phase: Phase, d: jax.Array, fallback: jax.Array) -> jax.Array:
    """Top half y from the gaps d (``fallback`` on padded entries)."""
    return jnp.where(phase.layout.live, jnp.cumsum(d), fallback)


class _Face(NamedTuple):
    """The gradient in d, the gaps held at 0 (active) and moved by Newton (free) at a point."""

    g: jax.Array
    active: jax.Array
    free: jax.Array
    top_cluster: jax.Array


def _face(phase: Phase, state: PolishState, curvature: jax.Array) -> _Face:
    """Which gaps are held at 0: nearly 0 with an outward gradient (Bertsekas' rule)."""
    layout = phase.layout
    index = layout.index
    d = state.d
    gradient_y = jnp.where(layout.live, state.gradient, 0.0)
    g = jnp.where(layout.live, reverse_cumsum(gradient_y, 0), 0.0)  # gradient in d
    scaled_step = jnp.max(jnp.where(layout.live, jnp.abs(d - jnp.maximum(d + g / curvature, 0.0)), 0.0))
    active = layout.live & (d <= jnp.minimum(ACTIVE_THRESHOLD / phase.n, scaled_step)) & (g <= 0)
    # singular U never ties (U'(0+) infinite): only r_1 = 1 is held; a tiny gap of a
    # start held at 0 too would move by the scaled gradient alone and spoil the step
    active = active & (~phase.singular | (index == 0))
    free = layout.live & ~active
    # one top cluster of ties d_0..d_{a-1}: the free gaps span the y_k with k >= a
    top_cluster = jnp.all(jnp.where(layout.live, active == (index < jnp.sum(active)), True))
    return _Face(g, active, free, top_cluster)


def refactorised(phase: Phase, state: PolishState, fallback: jax.Array, refactorise: jax.Array) -> Factorised:
    """The last factorisation, or where ``refactorise`` the Newton system at the accepted point factorised.

    The Newton matrix, its face, and the Newton system on the free gaps factorised: in y
    when the ties form one top cluster (no transform of the matrix; the step is
    differenced), otherwise in d (R A R^T by reverse cumsums, in place:
    ``_newton.to_gaps_in_place``). One factorisation either way (two batched LAPACK calls
    side by side can take every thread of a 2-core pool and deadlock).

    Memory: all of it happens in the M x M array that holds the last factor, which the
    polish carries: the matrix is formed over it, transformed, scaled and factorised in
    place. It is a loop run once or not at all rather than a ``lax.cond``: XLA copies an
    M x M array that a conditional passes through or returns, but updates a loop's carry in
    place.
    """

    def factorise_here(_: jax.Array, kept: Factorised) -> Factorised:
        matrix, upper_sums = phase.newton_matrix_and_upper_sums(to_y(phase, state.d, fallback), kept.factor.lower)
        # diagonal of the d-space matrix R A R^T: sum over the block [k:, k:] of A
        curvature = reverse_cumsum(jnp.diag(matrix) + 2.0 * upper_sums, 0)
        curvature = jnp.maximum(curvature, jnp.finfo(state.d.dtype).tiny)
        face = _face(phase, state, curvature)
        factor = factorise(to_gaps_in_place(matrix, ~face.top_cluster), face.free)
        return Factorised(factor, face.free, face.top_cluster, curvature, state.gap / phase.scale(state.gradient))

    return jax.lax.fori_loop(0, jnp.where(refactorise, 1, 0), factorise_here, state.factorised)


def direction_from(phase: Phase, state: PolishState, factorised: Factorised, face: _Face) -> Direction:
    """The projected-Newton direction on ``face`` with the factorised system, and the steps to try along it."""
    layout = phase.layout
    d = state.d
    half = jnp.asarray(0.5, d.dtype)  # the middle gap: y_m = sum(d) <= 1/2
    gradient_y = jnp.where(layout.live, state.gradient, 0.0)
    free, active, g = face.free, face.active, face.g
    rhs = jnp.where(free, jnp.where(face.top_cluster, gradient_y, g), 0.0)
    solution = factored_solve(factorised.factor, rhs)
    step_y = jnp.where(free, solution, 0.0)
    newton = jnp.where(face.top_cluster, step_y - jnp.concatenate([jnp.zeros(1, d.dtype), step_y[:-1]]), solution)
    delta = jnp.where(free, newton, jnp.where(active, g / factorised.curvature, 0.0))
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
    backtracked = engine.BACKTRACK * first
    second = jnp.where((breakpoint >= 1e-2) & (breakpoint < backtracked), breakpoint, backtracked)
    return Direction(delta, g, active, ascent, first, second)


def iteration(phase: Phase, fallback: jax.Array, state: PolishState) -> PolishState:
    """One trial point along the projection arc: evaluated, and accepted by Armijo or not.

    At a newly accepted point the direction is a chord step or a Newton step. A chord
    step (simplified Newton) solves with the last factorisation instead of a new one,
    where that was made at a point already certified to CHORD_GAP (relative; from padded
    size CHORD_LARGE_SIZE on, CHORD_GAP_LARGE), the last step shrank the gap tenfold, and
    the free gaps are those it was factorised for. Near the optimum the error e of a chord
    step from a factor made at error e_F shrinks by about e_F: with CHORD_GAP = 1e-4 one
    chord step replaces the last Newton step of a quadratic run, and at large sizes, from
    a factor made at a relative gap of 1e-2 or less, chord steps shrink the gap 20 to 400
    times each (n = 10^4 from the interpolated start: log-sigmoid:4 certifies with 1
    factorisation and 1 chord step, power:0.5 and neg-power:1 with 1 and 3 to 4). It costs two
    triangular solves instead of the Newton matrix and a factorisation; its direction is
    an ascent direction all the same (the factor is positive definite), checked by the
    same Armijo search and certified by the same Frank-Wolfe gap, so it changes the cost
    of the polish, never its answer's guarantee.
    """
    layout = phase.layout
    half = jnp.asarray(0.5, state.d.dtype)
    new_point = state.evaluated & (state.trials == 0)
    kept = state.factorised
    kept_face = _face(phase, state, kept.curvature)
    same_face = jnp.all(kept_face.free == kept.free) & (kept_face.top_cluster == kept.top_cluster)
    progress = state.gap <= 0.1 * state.previous_gap
    chord_gap = CHORD_GAP_LARGE if _factorisation_costly(state) else CHORD_GAP
    chord = new_point & kept.factor.ok & same_face & (kept.gap <= chord_gap) & progress
    factorised = refactorised(phase, state, fallback, new_point & ~chord)
    face = _face(phase, state, factorised.curvature)
    direction = jax.lax.cond(new_point, lambda: direction_from(phase, state, factorised, face), lambda: state.direction)
    chord = jnp.where(new_point, chord, state.chord)
    alpha = jnp.where(
        state.trials == 0,
        direction.first_step,
        jnp.where(state.trials == 1, direction.second_step, engine.BACKTRACK * state.alpha),
    )
    projected = jnp.where(layout.live, jnp.maximum(state.d + alpha * direction.delta, 0.0), 0.0)
    trial = jnp.where(state.evaluated, projected, state.d)
    y_trial = to_y(phase, trial, fallback)
    value, gradient = phase.evaluate(y_trial)
    # Armijo along the projection arc (levels compared, as this polish always has: ``_engine.sufficient_increase``)
    predicted = alpha * direction.ascent + jnp.sum(jnp.where(direction.active, direction.d_gradient * (trial - state.d), 0.0))
    enough = engine.sufficient_increase(value, state.value, predicted, slack=engine.rounding_slack(state.value), on_levels=True)
    accepted = ~state.evaluated | ((jnp.sum(trial) <= half) & enough)
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
        ~accepted & (alpha <= engine.MIN_STEP),
        jnp.asarray(True),
        factorised,
        chord,
    )


def keep_going(phase: Phase, state: PolishState) -> jax.Array:
    """At an accepted point: go on unless tol is certified and a step no longer shrinks the
    gap tenfold (the rounding floor: after a Newton step, or after a chord step within ten
    times the target; a chord step that stalls further up is followed by a Newton step, below
    CHORD_LARGE_SIZE); within a line search: until a trial passes."""
    scale = phase.scale(state.gradient)
    certified = problem.within_tolerance(state.gap, scale, phase.tol)
    target = 1e-3 * phase.tol * scale
    stalled = certified & (state.gap > 0.1 * state.previous_gap)
    # a stalled chord step is followed by a Newton step, except at the sizes where a factorisation
    # costs many evaluations (CHORD_LARGE_SIZE): there a certified point is kept as it is
    floor = stalled & (~state.chord | (state.gap <= 10.0 * target) | _factorisation_costly(state))
    more = (state.steps < POLISH_ITERATIONS) & (state.gap > target) & jnp.isfinite(state.gap) & ~floor
    return ~state.evaluated | (~state.stuck & ((state.trials > 0) | more))


def polish(phase: Phase, start: Iterate) -> Result:
    """Projected Newton from ``start``; its point if its certificate is no worse than the start's."""
    layout = phase.layout
    d0 = jnp.where(layout.live & (layout.index > 0), problem.constraints(start.y, layout)[:-1], 0.0)  # r_1 = 1
    inf, zero = jnp.asarray(jnp.inf, d0.dtype), jnp.zeros((), d0.dtype)
    placeholder = Direction(jnp.zeros_like(d0), jnp.zeros_like(d0), jnp.zeros(d0.shape, bool), zero, zero, zero)
    size = d0.shape[0]
    # the M x M array the polish carries (never read before a Newton step writes it), made from
    # the barrier path's result so that XLA places it after the barrier path, in the same memory
    workspace = jnp.full((size, size), 0.0 * start.mu, d0.dtype)
    no_factor = Factor(workspace, jnp.ones_like(d0), jnp.asarray(False))
    nothing_factorised = Factorised(no_factor, jnp.zeros(size, bool), jnp.asarray(False), jnp.ones_like(d0), inf)
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
        nothing_factorised,
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
