"""Barrier path-following Newton and a projected-Newton polish, on the symmetric problem.

Why hand-written: the problem is a concave program over the order-constrained
box whose Hessian is dense but cheap to form from U'' (see ``_symmetric``);
general conic or SQP solvers (CVXPY/Clarabel, SCS, SLSQP) either cannot express
the singular utilities to 1e-10 or scale as O(n^3) per iteration on the full
problem, and jaxopt's projected solvers are first order (thousands of O(n^2)
iterations at this accuracy). The method:

1. **Barrier phase** (skipped when the start is already a good guess).
   Maximise :math:`F_\\mu(y) = S(y) + \\mu \\sum_k \\log c_k(y)` by damped Newton
   steps (Jacobi-scaled Cholesky, fraction-to-the-boundary, Armijo backtracking),
   reducing :math:`\\mu` whenever the Newton decrement is small against
   :math:`\\mu (m + 1)`, until the Frank-Wolfe gap meets the target.
2. **Polish.** Bertsekas' projected Newton method (SIAM J. Control Optim. 20(2),
   1982) on the gaps :math:`d_k \\ge 0` between consecutive rewards: gaps that are
   nearly 0 with an outward gradient are held at 0 (ties; for singular U only
   :math:`r_1 = 1`), Newton's method moves the others, and an Armijo search along
   the projection arc keeps every step feasible. It finds the optimal face in a
   few steps and then converges quadratically, from the barrier's point or from
   a guess (limit-law quantiles, a coarser solution). The polished point
   replaces the barrier point only when its certificate is no worse, so a wrong
   guess costs time, never correctness.

Each Newton step costs one evaluation of U, U' and U'' per pair (packed into one
M x M matrix) and one Cholesky factorisation of the M x M Newton matrix.
Everything is ``lax.while_loop`` so a batch of problems runs under ``vmap``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from collapse_theory import _symmetric as problem
from collapse_theory.utilities import UtilityFunction

#: Barrier phase stops here (relative gap) before the first polish.
LOOSE_TOLERANCE = 1e-8
#: Newton iterations of one polish.
POLISH_ITERATIONS = 30
#: A gap below this / n with an outward gradient counts as a tie in the polish.
ACTIVE_THRESHOLD = 1e-2
#: Sufficient-increase fraction of the polish's Armijo test.
ARMIJO = 1e-4
#: Block length of the reverse cumulative sums (matrix products on blocks).
CUMSUM_BLOCK = 64
#: Factor by which the barrier weight shrinks once the current centre is reached.
MU_REDUCTION = 0.02
#: Centred when the Newton decrement is below this times mu (m + 1).
CENTRING = 0.5


class Iterate(NamedTuple):
    """State of the barrier phase (``matrix`` is -Hessian of S at y)."""

    y: jax.Array
    mu: jax.Array
    iteration: jax.Array
    gap: jax.Array
    objective: jax.Array
    gradient: jax.Array
    matrix: jax.Array
    stalled: jax.Array


def fresh_iterate(y: np.ndarray) -> Iterate:
    """An :class:`Iterate` holding only a start vector (``fresh=True`` in :func:`solve_phase`).

    The other fields are zeros that stay on the device between calls: small solves
    are dominated by per-call overheads, a host-to-device copy per argument among them.
    """
    y = np.asarray(y, dtype=np.float64)
    leaves: tuple[Any, ...] = (y, *_zero_fields(y.shape))
    return Iterate(*leaves)


@lru_cache(maxsize=64)
def _zero_fields(shape: tuple[int, ...]) -> tuple[jax.Array, ...]:
    zero = jnp.zeros(shape[:-1], jnp.float64)
    fields = (zero, jnp.zeros(shape[:-1], jnp.int64), zero, zero, jnp.zeros(shape, jnp.float64))
    return (*fields, jnp.zeros((*shape, shape[-1]), jnp.float64), jnp.zeros(shape[:-1], bool))


class Direction(NamedTuple):
    """A projected-Newton direction in the gaps d, and how far to try along it."""

    delta: jax.Array  # the step per unit length
    d_gradient: jax.Array  # dS/dd at the point it was computed from
    active: jax.Array  # gaps held at 0 (moved only by the projection)
    ascent: jax.Array  # predicted increase of S per unit step on the free gaps
    first_step: jax.Array  # the full step, or the largest inside the feasible set (singular U)
    second_step: jax.Array  # the first breakpoint of the projection arc, or half the first step


class PolishState(NamedTuple):
    """State of the projected-Newton polish.

    The accepted point (gaps d; S, gradient and -Hessian in y; its certificate), the
    direction from it and the line search along it (the step tried last, how many so far).
    """

    d: jax.Array
    value: jax.Array
    gradient: jax.Array
    matrix: jax.Array
    gap: jax.Array
    previous_gap: jax.Array
    steps: jax.Array
    direction: Direction
    alpha: jax.Array
    trials: jax.Array
    stuck: jax.Array
    evaluated: jax.Array


class Result(NamedTuple):
    """Final symmetric iterate and its certificate."""

    y: jax.Array
    gap: jax.Array
    objective: jax.Array
    iterations: jax.Array
    polished: jax.Array


def _scaled_solve(matrix: jax.Array, rhs: jax.Array) -> jax.Array:
    """Solve a symmetric positive definite system after Jacobi scaling.

    The scaling makes the factorisation insensitive to the huge spread of
    curvatures near clustered rewards (U'' ~ gap^-2 for log).
    """
    scale = 1.0 / jnp.sqrt(jnp.maximum(jnp.diag(matrix), jnp.finfo(matrix.dtype).tiny))
    scaled = matrix * scale[:, None] * scale[None, :] + 1e-13 * jnp.eye(matrix.shape[0], dtype=matrix.dtype)
    factor = jax.scipy.linalg.cho_factor(scaled, lower=True)
    return scale * jax.scipy.linalg.cho_solve(factor, scale * rhs)


def _reverse_cumsum(x: jax.Array, axis: int) -> jax.Array:
    """sum_{j >= i} x_j along ``axis`` (length a multiple of the block, or shorter).

    Written by hand: XLA's CPU cumsum is a reduce-window, slow on an M x M matrix.
    Here each block of CUMSUM_BLOCK entries is summed by a product with a triangular
    matrix of ones (BLAS speed), and the block totals carry over by a short cumsum.
    """
    x = jnp.moveaxis(x, axis, 0)
    length = x.shape[0]
    block = min(length, CUMSUM_BLOCK)
    if length % block:
        return jnp.moveaxis(jnp.flip(jnp.cumsum(jnp.flip(x, 0), axis=0), 0), 0, axis)
    blocks = x.reshape(length // block, block, *x.shape[1:])
    upper = jnp.triu(jnp.ones((block, block), x.dtype))
    within = jnp.einsum("ij,pj...->pi...", upper, blocks, precision=jax.lax.Precision.HIGHEST)
    totals = jnp.sum(blocks, axis=1)
    later = jnp.flip(jnp.cumsum(jnp.flip(totals, 0), axis=0), 0) - totals
    return jnp.moveaxis((within + later[:, None]).reshape(x.shape), 0, axis)


def _line_search(value: jax.Array, trial_value: object, alpha0: jax.Array, slope: jax.Array) -> jax.Array:
    """Armijo backtracking from ``alpha0``; returns 0 when no step is acceptable."""
    slack = 1e-14 * jnp.abs(value)

    def insufficient(alpha: jax.Array) -> jax.Array:
        trial = trial_value(alpha)  # type: ignore[operator]
        accepted = jnp.isfinite(trial) & (trial >= value + 0.25 * alpha * slope - slack)
        return ~accepted & (alpha > 1e-12)

    alpha = jax.lax.while_loop(insufficient, lambda a: 0.5 * a, alpha0)
    return jnp.where(alpha > 1e-12, alpha, 0.0)


def _boundary_step(c: jax.Array, dc: jax.Array, live: jax.Array, fraction: float) -> jax.Array:
    """Largest step in (0, 1] keeping every live constraint positive (times ``fraction``)."""
    shrinking = live & (dc < 0)
    ratios = jnp.where(shrinking, -c / jnp.where(shrinking, dc, -1.0), jnp.inf)
    return jnp.minimum(1.0, fraction * jnp.min(ratios))


def solve_phase(
    start: Iterate,
    fresh: jax.Array,
    n: jax.Array,
    params: jax.Array,
    tol: jax.Array,
    skip_barrier: jax.Array,
    *,
    function: UtilityFunction,
    max_iterations: int,
    surrogate: bool,
    singular: jax.Array,
) -> tuple[Result, Iterate]:
    """One phase: barrier iterations to a target, then a polish (see the module docstring).

    With ``fresh`` only ``start.y`` is read (a start vector, see :func:`fresh_iterate`)
    and the barrier phase stops at the loose tolerance ``max(tol, LOOSE_TOLERANCE)``;
    otherwise ``start`` is the barrier iterate of an earlier phase whose polish did
    not certify ``tol`` (rare), and the barrier continues to ``tol``. One signature
    for both, so one compiled program serves every phase. With ``skip_barrier`` the start is taken as a good guess of the
    optimum (a limit law's quantiles, or a coarser solution interpolated) and
    only polished; it may then have zero gaps (guessed ties). Returns the
    phase's result and its barrier iterate.
    """
    size = start.y.shape[0]
    layout = problem.Layout(n, size)
    m = layout.m

    def objective(y: jax.Array) -> jax.Array:
        return problem.objective(y, params, function, layout)

    def certificate(y: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        value, gradient, matrix = evaluate(y)
        return problem.frank_wolfe_gap(gradient, y, layout), value, gradient, matrix

    def evaluate(y: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """S, its gradient and -Hessian, from one pass over the pairs."""
        value, gradient, hessian = problem.derivatives(y, params, function, layout, surrogate)
        return value, gradient, -hessian

    def identity_outside(matrix: jax.Array, keep: jax.Array) -> jax.Array:
        return jnp.where(keep[:, None] & keep[None, :], matrix, jnp.eye(size, dtype=matrix.dtype))

    # --- barrier phase -------------------------------------------------------------

    def barrier(y: jax.Array, mu: jax.Array) -> jax.Array:
        c = problem.constraints(y, layout)
        return mu * jnp.sum(jnp.where(layout.constraint_live, jnp.log(c), 0.0))

    def barrier_hessian(c: jax.Array, mu: jax.Array) -> jax.Array:
        # -mu sum log c has Hessian C^T diag(mu / c^2) C with C bidiagonal:
        # y_a enters c_a with +1 and c_{a+1} with -1 (or the middle coefficient).
        w = jnp.where(layout.constraint_live, mu / c**2, 0.0)
        a = layout.index
        next_coefficient = jnp.where(a + 1 < m, -1.0, jnp.where(a + 1 == m, problem.middle_coefficient(layout), 0.0))
        diagonal = w[:-1] + w[1:] * next_coefficient**2
        superdiagonal = jnp.where(a[:-1] + 1 < m, -w[1:-1], 0.0)
        return jnp.diag(diagonal) + jnp.diag(superdiagonal, 1) + jnp.diag(superdiagonal, -1)

    def barrier_step(state: Iterate, target_tol: jax.Array) -> Iterate:
        y, mu = state.y, state.mu
        c = problem.constraints(y, layout)
        rhs = jnp.where(layout.live, state.gradient + jax.grad(barrier)(y, mu), 0.0)
        matrix = identity_outside(state.matrix + barrier_hessian(c, mu), layout.live)
        step = jnp.where(layout.live, _scaled_solve(matrix, rhs), 0.0)
        decrement = jnp.dot(rhs, step)
        dc = problem.constraints(y + step, layout) - c
        alpha0 = _boundary_step(c, dc, layout.constraint_live, 0.99)
        value = state.objective + barrier(y, mu)
        alpha = _line_search(value, lambda t: objective(y + t * step) + barrier(y + t * step, mu), alpha0, decrement)
        moved = alpha > 0
        y_new = y + alpha * step
        gap, new_value, new_gradient, new_matrix = certificate(y_new)
        mu_floor = 1e-3 * target_tol * jnp.maximum(1.0, jnp.abs(new_value)) / (m + 1)
        centred = (decrement <= CENTRING * mu * (m + 1)) | ~moved
        mu_new = jnp.where(centred, jnp.maximum(MU_REDUCTION * mu, mu_floor), mu)
        stalled = ~moved & (mu <= mu_floor)
        return Iterate(y_new, mu_new, state.iteration + 1, gap, new_value, new_gradient, new_matrix, stalled)

    def run_barrier(start: Iterate, target_tol: jax.Array) -> Iterate:
        def keep_going(state: Iterate) -> jax.Array:
            target = target_tol * jnp.maximum(1.0, jnp.abs(state.objective))
            finite = jnp.isfinite(state.gap) & jnp.all(jnp.isfinite(state.y))
            return ~skip_barrier & (state.gap > target) & finite & (state.iteration < max_iterations) & ~state.stalled

        fresh = start._replace(stalled=jnp.asarray(False))
        return jax.lax.while_loop(keep_going, lambda s: barrier_step(s, target_tol), fresh)

    # --- polish: projected Newton on the gaps d (bounds d >= 0) --------------------

    def to_y(d: jax.Array, fallback: jax.Array) -> jax.Array:
        return jnp.where(layout.live, jnp.cumsum(d), fallback)

    def polish(start: Iterate) -> Result:
        # Bertsekas' projected Newton method (SIAM J. Control Optim. 20(2), 1982) on the
        # gaps d_k = y_{k+1} - y_k >= 0, d_0 = y_1 = 1 - r_1: constraints that are nearly
        # active with an outward gradient are fixed by projection, Newton's method acts on
        # the rest. It identifies the optimal face (the ties) in finitely many steps and
        # then converges quadratically, from the barrier's point or from a guess.
        #
        # One loop iteration = one trial point and one evaluation of S, its gradient and
        # Hessian there, the only evaluation site (a small program). An accepted trial is the
        # next point, its derivatives already at hand for the next direction. A rejected trial
        # wastes the derivatives (a value would have done), but near the optimum full steps
        # pass. The first iteration evaluates the start itself.
        index = layout.index
        d0 = jnp.where(layout.live & (index > 0), problem.constraints(start.y, layout)[:-1], 0.0)  # r_1 = 1
        half = jnp.asarray(0.5, d0.dtype)  # the middle gap: y_m = sum(d) <= 1/2

        def newton_direction(state: PolishState) -> Direction:
            d = state.d
            gradient_y = jnp.where(layout.live, state.gradient, 0.0)
            g = jnp.where(layout.live, _reverse_cumsum(gradient_y, 0), 0.0)  # gradient in d
            # diagonal of the d-space matrix R A R^T: sum over the block [k:, k:] of A
            strict_rows = jnp.sum(jnp.where(index[None, :] > index[:, None], state.matrix, 0.0), axis=1)
            curvature = _reverse_cumsum(jnp.diag(state.matrix) + 2.0 * strict_rows, 0)
            curvature = jnp.maximum(curvature, jnp.finfo(d.dtype).tiny)
            scaled_step = jnp.max(jnp.where(layout.live, jnp.abs(d - jnp.maximum(d + g / curvature, 0.0)), 0.0))
            active = layout.live & (d <= jnp.minimum(ACTIVE_THRESHOLD / n, scaled_step)) & (g <= 0)
            free = layout.live & ~active

            def system_in_y() -> tuple[jax.Array, jax.Array]:
                # the ties form one top cluster d_0..d_{a-1}: the free gaps span the y_k with k >= a,
                # so the Newton step is solved in y (no transform of the matrix) and differenced
                return identity_outside(state.matrix, free), jnp.where(free, gradient_y, 0.0)

            def system_in_d() -> tuple[jax.Array, jax.Array]:
                matrix = _reverse_cumsum(_reverse_cumsum(state.matrix, 0), 1)
                return identity_outside(matrix, free), jnp.where(free, g, 0.0)

            top_cluster = jnp.all(jnp.where(layout.live, active == (index < jnp.sum(active)), True))
            # one factorisation either way: two batched LAPACK calls running side by side (the two
            # branches of a vmapped cond) can take every thread of a 2-core pool and deadlock
            solution = _scaled_solve(*jax.lax.cond(top_cluster, system_in_y, system_in_d))
            step_y = jnp.where(free, solution, 0.0)
            newton = jnp.where(top_cluster, step_y - jnp.concatenate([jnp.zeros(1, d.dtype), step_y[:-1]]), solution)
            delta = jnp.where(free, newton, jnp.where(active, g / curvature, 0.0))
            # singular U never ties: stay inside (fraction to the boundary); otherwise project
            shrinking = free & (delta < 0)
            to_zero = jnp.min(jnp.where(shrinking, -d / jnp.where(shrinking, delta, -1.0), jnp.inf))
            middle_growth = jnp.sum(jnp.where(layout.live, delta, 0.0))
            to_middle = jnp.where(
                middle_growth > 0, (half - jnp.sum(d)) / jnp.where(middle_growth > 0, middle_growth, 1.0), jnp.inf
            )
            first = jnp.minimum(1.0, jnp.where(singular, 0.95 * jnp.minimum(to_zero, to_middle), jnp.inf))
            ascent = jnp.sum(jnp.where(free, g * delta, 0.0))
            # after a rejected full step, the first breakpoint of the projection arc (a free gap
            # reaches 0 and turns active) unless it is too short to make progress
            breakpoint = jnp.where(singular, 0.0, to_zero)
            second = jnp.where((breakpoint >= 1e-2) & (breakpoint < 0.5 * first), breakpoint, 0.5 * first)
            return Direction(delta, g, active, ascent, first, second)

        def iteration(state: PolishState) -> PolishState:
            new_point = state.evaluated & (state.trials == 0)
            direction = jax.lax.cond(new_point, newton_direction, lambda s: s.direction, state)
            alpha = jnp.where(
                state.trials == 0, direction.first_step, jnp.where(state.trials == 1, direction.second_step, 0.5 * state.alpha)
            )
            projected = jnp.where(layout.live, jnp.maximum(state.d + alpha * direction.delta, 0.0), 0.0)
            trial = jnp.where(state.evaluated, projected, state.d)
            y_trial = to_y(trial, start.y)
            value, gradient, matrix = evaluate(y_trial)
            # Armijo along the projection arc
            predicted = alpha * direction.ascent + jnp.sum(
                jnp.where(direction.active, direction.d_gradient * (trial - state.d), 0.0)
            )
            enough = value >= state.value + ARMIJO * predicted - 1e-14 * jnp.abs(state.value)
            accepted = ~state.evaluated | ((jnp.sum(trial) <= half) & jnp.isfinite(value) & enough)
            gap = problem.frank_wolfe_gap(gradient, y_trial, layout)

            def pick(new: Any, old: Any) -> Any:
                return jax.tree_util.tree_map(lambda a, b: jnp.where(accepted, a, b), new, old)

            d, value, gradient, matrix, gap = pick(
                (trial, value, gradient, matrix, gap), (state.d, state.value, state.gradient, state.matrix, state.gap)
            )
            return PolishState(
                d,
                value,
                gradient,
                matrix,
                gap,
                jnp.where(accepted & state.evaluated, state.gap, state.previous_gap),
                state.steps + new_point,
                direction,
                alpha,
                jnp.where(accepted, 0, state.trials + 1),
                ~accepted & (alpha <= 1e-12),
                jnp.asarray(True),
            )

        def keep_going(state: PolishState) -> jax.Array:
            # at an accepted point: go on unless tol is certified and a step no longer shrinks the
            # gap tenfold (the rounding floor); within a line search: until a trial passes
            certified = state.gap <= tol * jnp.maximum(1.0, jnp.abs(state.value))
            floor = certified & (state.gap > 0.1 * state.previous_gap)
            target = 1e-3 * tol * jnp.maximum(1.0, jnp.abs(state.value))
            more = (state.steps < POLISH_ITERATIONS) & (state.gap > target) & jnp.isfinite(state.gap) & ~floor
            return ~state.evaluated | (~state.stuck & ((state.trials > 0) | more))

        inf, zero = jnp.asarray(jnp.inf, d0.dtype), jnp.zeros((), d0.dtype)
        placeholder = Direction(jnp.zeros_like(d0), jnp.zeros_like(d0), jnp.zeros(d0.shape, bool), zero, zero, zero)
        initial = PolishState(
            d0,
            start.objective,
            start.gradient,
            start.matrix,
            inf,
            inf,
            jnp.asarray(0),
            placeholder,
            zero,
            jnp.asarray(0),
            jnp.asarray(False),
            jnp.asarray(False),
        )
        final = jax.lax.while_loop(keep_going, iteration, initial)
        y = to_y(final.d, start.y)
        usable = jnp.isfinite(final.gap) & jnp.isfinite(final.value) & jnp.all(jnp.isfinite(y))
        usable = usable & jnp.all(problem.constraints(y, layout) >= 0)
        better = usable & (final.gap <= start.gap)
        return Result(
            jnp.where(better, y, start.y),
            jnp.where(better, final.gap, start.gap),
            jnp.where(better, final.value, start.objective),
            start.iteration + final.steps,
            better,
        )

    def evaluated_start() -> Iterate:
        gap0, value0, gradient0, matrix0 = certificate(start.y)
        mu0 = jnp.maximum(gap0, 1e-3 * tol) / (m + 1)
        return Iterate(start.y, mu0, jnp.asarray(0), gap0, value0, gradient0, matrix0, jnp.asarray(False))

    def guess_only() -> Iterate:
        # a guess to polish: its certificate is not needed (the polish evaluates its own start,
        # and anything usable it returns is better than an unknown gap)
        inf = jnp.asarray(jnp.inf, start.y.dtype)
        return start._replace(mu=jnp.zeros_like(start.mu), iteration=jnp.asarray(0), gap=inf, objective=-inf)

    initial = jax.lax.cond(fresh & skip_barrier, guess_only, evaluated_start)
    state = jax.tree_util.tree_map(lambda a, b: jnp.where(fresh, a, b), initial, start)
    state = run_barrier(state, jnp.where(fresh, jnp.maximum(tol, LOOSE_TOLERANCE), tol))
    return polish(state), state
