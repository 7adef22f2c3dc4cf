"""An active-set (projected Newton) method for a loss on bounded rewards, in gap coordinates.

Bounded rewards 1 >= r_1 >= ... >= r_n >= 0 are, in the n + 1 coordinates

    x = (top slack 1 - r_1, the gaps e_k = r_k - r_{k+1}, the base r_n),

the points of a shifted simplex: x_k >= lower_k (the gaps' bounds, 0 for the slack and the
base) and sum x = 1. The log barrier of :func:`collapse_theory.solver._loss_newton.barrier` treats
every coordinate alike and needs a long path when many of them end at their bound (bounded
Plackett-Luce: most rewards tied at 1 and at 0). This module identifies the bound
coordinates instead, as Bertsekas' projected Newton method does for simple bounds
(D. P. Bertsekas, "Projected Newton methods for optimization problems with simple
constraints", SIAM J. Control Optim. 20(2), 221-246, 1982):

* **Elimination.** With z = x - lower the slacks (z >= 0, sum z = room = 1 - sum lower),
  one coordinate j, the one with the largest slack (at least room / (n + 1) > 0), is
  eliminated, x_j = 1 - sum_{k != j} x_k. The others satisfy simple bounds x >= lower plus
  sum_{k != j} z_k <= room, and the latter is inactive at the current point. In the
  reduced coordinates the gradient is g_k - g_j and the Hessian
  H_kl - H_kj - H_jl + H_jj (g, H: F's in gap coordinates, 0 for the top slack). j is
  chosen afresh at every step; Newton's direction is affine invariant, so the choice
  among free coordinates does not change the step on the free block.
* **Held set** (Bertsekas' I+): coordinates within eps of their bound whose reduced
  gradient points outward, eps = min(``_engine.TIE_THRESHOLD``, size of a scaled projected
  gradient step). They take a diagonally scaled gradient step; the others (the free
  block) a Newton step, by a Jacobi-scaled Cholesky of the free block of -H.
* **Projection arc** with the Armijo test of Bertsekas' paper,
  F(x(a)) - F(x) >= sigma [a sum_free g d + sum_held g (x(a) - x)], where
  x(a) = P(x + a d) projects onto {x >= lower, sum_{k != j} z_k <= room}: clipping, or, if
  the sum is exceeded, a Euclidean projection onto the simplex face (sort and threshold:
  Held, Wolfe and Crowder, Math. Programming 6, 62-88, 1974). Many ties are made (or
  undone) in one step, which the barrier can only approach one decade of its weight at a time.
* **Shifts.** Without a regulariser F depends on differences only, and the base and the
  top slack are one coordinate: the base is held at 0 while the top slack absorbs both,
  and the answer is centred (the base set to half the unused room) at the end: every
  common shift is then a maximiser, and the caller reports the face.
* **Warm start.** From the centre of the simplex the method identifies the ties slowly:
  a tie block at 1 (or at 0) grows by about one reward per step, because in gap
  coordinates the Newton step's rewards above 1 show only as the first negative gap
  (bounded Plackett-Luce: 47 steps at n = 100, 140 at n = 300). A few steps of the barrier
  path (at most :data:`WARM_STEPS`, or until the Frank-Wolfe gap is below
  :data:`SWITCH` times its scale) bring the iterate near the optimal face; from there
  the held set is found at once and Newton's method ends in 2 to 6 steps.
* **Rounding.** Near the optimum the increase of F falls below its rounding while the
  certificate, first order in the gradient, still asks for progress: a full step whose
  change of F is within ``_engine.ROUNDING`` times abs(F) is taken.

The loop stops when the Frank-Wolfe gap (computed inside, as the certificate is afterwards)
is below half of tol * scale, or when the arc search fails. Like the other loops it is a
``lax.while_loop`` compiled once per (padded size, objective kind, utility family); n and
every parameter are traced. Points on a bound are evaluated, so a U singular yet finite at 0
(infinite slope there, ``power:G``) is left to the barrier (``loss_solver``).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from collapse_theory.problems.families import UtilityFunction
from collapse_theory.solver import _engine as engine
from collapse_theory.solver import _loss_objective as objective
from collapse_theory.solver._loss_newton import Result, _newton_direction, _scale, barrier, frank_wolfe_gap

#: The barrier warm start runs until the Frank-Wolfe gap is below this fraction of its scale.
SWITCH = 1e-5
#: At most this many barrier steps in the warm start.
WARM_STEPS = 16


class _State(NamedTuple):
    x: jax.Array  # (N + 1,): gap coordinates (the gaps, padding, the base), then the top slack
    iterations: jax.Array
    done: jax.Array


def _project(slack: jax.Array, others: jax.Array, room: jax.Array) -> jax.Array:
    """Euclidean projection of the slacks of ``others`` onto {z >= 0, sum z <= room}; other entries 0.

    Clipping if the sum fits, else the simplex projection max(z - level, 0): with u the slacks in
    decreasing order, level = (sum_{i <= k} u_i - room) / k for the largest k with u_k above it.
    """
    z = jnp.where(others, jnp.maximum(slack, 0.0), 0.0)
    ordered = jnp.sort(z)[::-1]
    count = jnp.arange(1, z.shape[0] + 1, dtype=z.dtype)
    levels = (jnp.cumsum(ordered) - room) / count
    support = jnp.sum(ordered - levels > 0.0)
    level = jnp.maximum(levels[jnp.maximum(support - 1, 0)], 0.0)
    return jnp.where(jnp.sum(z) > room, jnp.maximum(z - level, 0.0), z)


# Over 80 lines: one jitted loop whose step (the elimination, the held set, the arc search)
# closes over the problem's coordinates; split, each part would take them all as arguments.
@partial(jax.jit, static_argnames=("kind", "function", "max_steps"))
def active_set(
    problem: objective.Problem,
    tol: jax.Array,
    *,
    kind: str,
    function: UtilityFunction | None,
    max_steps: int,
) -> Result:
    """Maximise F(L e) over e >= lower, sum e <= 1 (bounded rewards): a barrier warm start, then projected Newton.

    ``Result.iterations`` counts the Newton steps of both phases; together at most ``max_steps``.
    """
    size = problem.lower.shape[0]
    top = size  # the top slack's index in x
    index = jnp.arange(size + 1)
    lower = jnp.concatenate([problem.lower, jnp.zeros(1)])
    valid = objective.valid_mask(problem, size)
    shift_invariant = (problem.l2 == 0.0) & (problem.center == 0.0)
    base = index == size - 1
    member = (index < problem.n - 1) | (index == top) | (base & ~shift_invariant)
    room = 1.0 - jnp.sum(jnp.where(member, lower, 0.0))

    warm_steps = max(1, min(WARM_STEPS, max_steps // 2))
    warm = barrier(problem, jnp.maximum(tol, SWITCH), kind=kind, function=function, max_steps=warm_steps)
    gaps = jnp.where(base[:size] & shift_invariant, 0.0, warm.gaps)  # the top slack takes the base's room
    start = jnp.where(member, jnp.concatenate([gaps, (1.0 - jnp.sum(gaps))[None]]), 0.0)

    def value_at(x: jax.Array) -> jax.Array:
        return objective.value(objective.rewards(x[:size], problem, False), problem, kind, function)

    def step(x: jax.Array, pieces: objective.GapPieces) -> tuple[jax.Array, jax.Array]:
        gradient = jnp.concatenate([pieces.gap_gradient, jnp.zeros(1)])
        hessian = jnp.pad(pieces.gap_hessian, ((0, 1), (0, 1)))
        slack = x - lower
        j = jnp.argmax(jnp.where(member, slack, -jnp.inf))
        others = member & (index != j)
        # the reduced coordinates: x_j = 1 - sum of the others
        reduced = jnp.where(others, gradient - gradient[j], 0.0)
        column = hessian[:, j]
        reduced_hessian = hessian - column[:, None] - column[None, :] + hessian[j, j]
        curvature = jnp.where(others, -jnp.diag(reduced_hessian), 1.0)
        curvature = jnp.where(curvature > 0.0, curvature, 1.0)
        trial = jnp.maximum(slack + reduced / curvature, 0.0)
        threshold = jnp.minimum(engine.TIE_THRESHOLD, jnp.max(jnp.where(others, jnp.abs(trial - slack), 0.0)))
        held = others & (slack <= threshold) & (reduced <= 0.0)
        free = others & ~held
        direction = _newton_direction(reduced_hessian, reduced, free)
        direction = jnp.where(held, reduced / curvature, direction)
        direction = jnp.where(others, direction, 0.0)
        slope = jnp.sum(jnp.where(free, reduced * direction, 0.0))
        current = value_at(x)

        def moved(alpha: jax.Array) -> jax.Array:
            z = _project(slack + alpha * direction, others, room)
            z = jnp.where(index == j, room - jnp.sum(z), z)
            return jnp.where(member, lower + z, x)

        def accepts(alpha: jax.Array, k: jax.Array) -> jax.Array:
            candidate = moved(alpha)
            predicted = alpha * slope + jnp.sum(jnp.where(held, reduced * (candidate - x), 0.0))
            # F's rounding hides the increase of the last Newton steps: a full step within it is taken
            noise = jnp.where(k == 0, engine.rounding_slack(current), 0.0)
            return engine.sufficient_increase(value_at(candidate), current, predicted, slack=noise)

        alpha, accepted, _ = engine.backtrack(accepts, jnp.asarray(1.0))
        return jnp.where(accepted, moved(alpha), x), accepted

    def body(state: _State) -> _State:
        x = state.x
        r, pieces = objective.gap_pieces(x[:size], problem, kind, function, False)
        certified = frank_wolfe_gap(pieces.gradient, r, problem.n) <= 0.5 * tol * _scale(pieces, r, valid)
        new_x, accepted = jax.lax.cond(certified, lambda: (x, jnp.asarray(True)), lambda: step(x, pieces))
        return _State(new_x, state.iterations + jnp.where(certified, 0, 1), certified | ~accepted)

    state = jax.lax.while_loop(
        lambda s: ~s.done & (s.iterations < max_steps),
        body,
        _State(start, warm.iterations, jnp.asarray(False)),
    )
    gaps = state.x[:size]
    # without a regulariser the base was held at 0: centre the answer in the unused room
    gaps = jnp.where(base[:size] & shift_invariant, 0.5 * state.x[top], gaps)
    r = jnp.minimum(objective.rewards(gaps, problem, False), 1.0)  # a sum of gaps may round above 1
    value, penalty, gradient = objective.value_and_gradient(r, problem, kind, function)
    return Result(r, gaps, value, penalty, gradient, state.iterations)
