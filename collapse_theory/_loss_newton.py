"""Newton methods for a loss in gap coordinates: projected Newton (free), barrier (bounded).

Why hand-written: the objective is a dense sum over pairs (or a Plackett-Luce
likelihood) whose Hessian is cheap to form (``_loss_objective``), and the constraints
are simple in the gap coordinates e (e >= lower, and for bounded rewards one more,
r_1 = sum e <= 1). General conic solvers (CVXPY/Clarabel, see
``benchmarks/compare_losses.py``) pay for generality; first-order projected methods
need thousands of O(n^2) steps at 1e-10.

* **Free rewards** (the variables are the n - 1 gaps, e >= lower): Bertsekas' projected
  Newton method (SIAM J. Control Optim. 20(2), 1982). Gaps near their bound with an
  outward gradient are held (ties), Newton's method moves the others (a Jacobi-scaled
  Cholesky of the free block), and an Armijo search along the projection arc keeps
  every step feasible. Start: equal gaps at the best of a logarithmic grid of ranges.
* **Bounded rewards** (the gaps and the base r_n, all >= lower, and sum <= 1): a
  log-barrier path, damped Newton steps with fraction-to-the-boundary, the barrier
  weight cut by :data:`MU_REDUCTION` each time the Newton decrement says the centre is
  reached, until the Frank-Wolfe gap meets the target.

Both are ``lax.while_loop`` programs compiled once per (padded size, objective kind,
utility family, free or bounded); n and every parameter are traced.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from collapse_theory import _loss_objective as objective
from collapse_theory.families import UtilityFunction

#: Sufficient-increase fraction of the Armijo tests.
ARMIJO = 1e-4
#: Largest tie threshold of the projected Newton method (Bertsekas' epsilon).
TIE_THRESHOLD = 1e-3
#: Halvings of a line search before it gives up.
LINE_SEARCH_STEPS = 60
#: The loops stop when the Newton decrement is below this fraction of tol * scale
#: (the certificate, computed afterwards, decides).
DECREMENT_FRACTION = 1e-2
#: Barrier weight factor once centred, and the centring test's fraction of mu (n + 1).
MU_REDUCTION = 0.1
CENTRING = 0.25
#: Fraction of the way to the boundary a barrier step may go.
TO_BOUNDARY = 0.95
#: Ranges tried by the free start (equal gaps).
START_RANGES = tuple(10.0 ** (k / 2.0) for k in range(-6, 9))


class Result(NamedTuple):
    """Where a loop ended, and F's pieces there."""

    rewards: jax.Array
    gaps: jax.Array
    objective: jax.Array
    regulariser: jax.Array
    gradient: jax.Array
    iterations: jax.Array


def _newton_direction(hessian: jax.Array, gradient: jax.Array, moving: jax.Array) -> jax.Array:
    """Solve (-H) p = g on the moving block (Jacobi-scaled Cholesky); a scaled gradient if it fails."""
    size = gradient.shape[0]
    matrix = jnp.where(moving[:, None] & moving[None, :], -hessian, 0.0) + jnp.diag(jnp.where(moving, 0.0, 1.0))
    diagonal = jnp.diag(matrix)
    diagonal = jnp.where(diagonal > 0.0, diagonal, 1.0)
    scaling = 1.0 / jnp.sqrt(diagonal)
    scaled = matrix * scaling[:, None] * scaling[None, :] + 1e-14 * jnp.eye(size)
    factor = jnp.linalg.cholesky(scaled)
    rhs = scaling * jnp.where(moving, gradient, 0.0)
    step = scaling * jax.scipy.linalg.cho_solve((factor, True), rhs)
    fallback = jnp.where(moving, gradient / diagonal, 0.0)
    return jnp.where(jnp.all(jnp.isfinite(step)), step, fallback)


def _symmetric_direction(hessian: jax.Array, gradient: jax.Array, moving: jax.Array, n: jax.Array) -> jax.Array:
    """The Newton direction of a problem symmetric under r -> -reverse(r), from a system of half the size.

    The reflection maps gap k to gap n - 2 - k; at a symmetric point the gradient, the Hessian
    and the held set are invariant, so the Newton direction is symmetric: p = S q with S
    summing each gap with its mirror, and (S^T (-H) S) q = S^T g. Half the unknowns: the
    Cholesky factorisation costs an eighth.
    """
    size = gradient.shape[0]
    half = size // 2
    index = jnp.arange(half)
    mirror = jnp.clip(n - 2 - index, 0, size - 1)
    active = index < (n - 1 + 1) // 2  # orbits {k, n - 2 - k}, the middle gap alone when n - 1 is odd
    paired = active & (mirror != index)
    other = jnp.where(paired, 1.0, 0.0)
    # H[., n - 2 - b] is a slice of the column-reversed H at offset size + 1 - n (slices, not gathers)
    offset = size + 1 - n
    flipped = jnp.pad(hessian[:, ::-1], ((0, 0), (0, half)))
    crossed = jax.lax.dynamic_slice(flipped, (jnp.zeros_like(offset), offset), (half, half))  # H[a, n-2-b]
    both = jax.lax.dynamic_slice(jnp.pad(hessian[::-1, ::-1], ((0, half), (0, half))), (offset, offset), (half, half))
    reduced = (
        hessian[:half, :half] + other[None, :] * crossed + other[:, None] * crossed.T + (other[:, None] * other[None, :]) * both
    )
    reduced_gradient = gradient[:half] + other * gradient[mirror]
    reduced_moving = active & moving[index]
    step = _newton_direction(reduced, reduced_gradient, reduced_moving)
    step = jnp.where(reduced_moving, step, 0.0)
    full = jnp.zeros(size, dtype=gradient.dtype).at[index].add(step)
    return full.at[mirror].add(jnp.where(paired, step, 0.0))


def _scale(pieces: objective.GapPieces, r: jax.Array, valid: jax.Array) -> jax.Array:
    """abs(objective) + abs(regulariser) + sum abs(g_i) * range(r): degree 1 in F, no absolute floor."""
    spread = jnp.max(jnp.where(valid, r, -jnp.inf)) - jnp.min(jnp.where(valid, r, jnp.inf))
    spread = jnp.where(jnp.isfinite(spread), spread, 0.0)
    return jnp.abs(pieces.objective) + jnp.abs(pieces.regulariser) + jnp.sum(jnp.abs(pieces.gradient)) * jnp.maximum(spread, 1.0)


class _State(NamedTuple):
    gaps: jax.Array
    iterations: jax.Array
    done: jax.Array
    mu: jax.Array


@partial(jax.jit, static_argnames=("kind", "function", "max_steps", "symmetric"))
def projected_newton(
    problem: objective.Problem,
    tol: jax.Array,
    *,
    kind: str,
    function: UtilityFunction | None,
    max_steps: int,
    symmetric: bool = False,
) -> Result:
    """Maximise F(P L e) over the gaps e >= lower (free rewards, mean 0).

    ``symmetric``: F is invariant under r -> -reverse(r) (pairwise, weights and margins
    depending on j - i only); the start is symmetric, so are the iterates, and each Newton
    system is solved in half the unknowns (:func:`_symmetric_direction`).
    """
    size = problem.lower.shape[0]
    index = jnp.arange(size)
    moving_set = index < problem.n - 1
    valid = objective.valid_mask(problem, size)

    def value_at(gaps: jax.Array) -> jax.Array:
        return objective.value(objective.rewards(gaps, problem, True), problem, kind, function)

    ranges = jnp.asarray(START_RANGES)
    candidates = problem.lower[None, :] + ranges[:, None] / (problem.n - 1.0) * moving_set[None, :]
    candidates = jnp.where(moving_set[None, :], candidates, 0.0)
    values = jax.vmap(value_at)(candidates)
    start = candidates[jnp.argmax(jnp.where(jnp.isfinite(values), values, -jnp.inf))]

    def body(state: _State) -> _State:
        gaps = state.gaps
        r, pieces = objective.gap_pieces(gaps, problem, kind, function, True)
        gradient, hessian = pieces.gap_gradient, pieces.gap_hessian
        current = pieces.objective - pieces.regulariser
        curvature = jnp.where(moving_set, -jnp.diag(hessian), 1.0)
        curvature = jnp.where(curvature > 0.0, curvature, 1.0)
        trial = jnp.maximum(gaps + gradient / curvature, problem.lower)
        threshold = jnp.minimum(TIE_THRESHOLD, jnp.max(jnp.where(moving_set, jnp.abs(trial - gaps), 0.0)))
        held = moving_set & (gaps - problem.lower <= threshold) & (gradient <= 0.0)
        moving = moving_set & ~held
        if symmetric:
            step = _symmetric_direction(hessian, gradient, moving, problem.n)
        else:
            step = _newton_direction(hessian, gradient, moving)
        step = jnp.where(held, gradient / curvature, step)
        step = jnp.where(moving_set, step, 0.0)
        decrement = jnp.sum(jnp.where(moving, gradient * step, 0.0))

        def search(carry: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array, jax.Array]:
            alpha, _, k = carry
            candidate = jnp.where(moving_set, jnp.maximum(gaps + alpha * step, problem.lower), gaps)
            increase = value_at(candidate) - current
            predicted = jnp.sum(gradient * (candidate - gaps))
            accepted = jnp.isfinite(increase) & (increase >= ARMIJO * predicted)
            return jnp.where(accepted, alpha, 0.5 * alpha), accepted, k + 1

        alpha, accepted, _ = jax.lax.while_loop(
            lambda carry: ~carry[1] & (carry[2] < LINE_SEARCH_STEPS),
            search,
            (jnp.asarray(1.0), jnp.asarray(False), jnp.asarray(0)),
        )
        new_gaps = jnp.where(accepted & moving_set, jnp.maximum(gaps + alpha * step, problem.lower), gaps)
        small = decrement <= DECREMENT_FRACTION * tol * _scale(pieces, r, valid)
        return _State(new_gaps, state.iterations + 1, small | ~accepted, state.mu)

    state = jax.lax.while_loop(
        lambda s: ~s.done & (s.iterations < max_steps),
        body,
        _State(start, jnp.asarray(0), jnp.asarray(False), jnp.asarray(0.0)),
    )
    return _finish(state, problem, kind, function, True)


def _finish(state: _State, problem: objective.Problem, kind: str, function: UtilityFunction | None, free: bool) -> Result:
    r = objective.rewards(state.gaps, problem, free)
    value, penalty, gradient = objective.value_and_gradient(r, problem, kind, function)
    return Result(r, state.gaps, value, penalty, gradient, state.iterations)


def frank_wolfe_gap(gradient: jax.Array, r: jax.Array, n: jax.Array) -> jax.Array:
    """max over step vectors of <g, e_k - r>, as the non-negative sum sum_k d_k (max G - G_k)."""
    size = gradient.shape[0]
    index = jnp.arange(size)
    valid = index < n
    prefix = jnp.cumsum(jnp.where(valid, gradient, 0.0))
    best = jnp.maximum(0.0, jnp.max(jnp.where(valid, prefix, -jnp.inf)))
    following = jnp.concatenate([r[1:], jnp.zeros(1)])
    gaps = jnp.where(index < n - 1, r - following, jnp.where(index == n - 1, r, 0.0))
    return (1.0 - r[0]) * best + jnp.sum(jnp.where(valid, gaps * (best - prefix), 0.0))


@partial(jax.jit, static_argnames=("kind", "function", "max_steps"))
def barrier(
    problem: objective.Problem,
    tol: jax.Array,
    *,
    kind: str,
    function: UtilityFunction | None,
    max_steps: int,
) -> Result:
    """Maximise F(L e) over e >= lower, sum e <= 1 (bounded rewards) by a log-barrier path."""
    size = problem.lower.shape[0]
    index = jnp.arange(size)
    moving = (index < problem.n - 1) | (index == size - 1)
    valid = objective.valid_mask(problem, size)
    room = 1.0 - jnp.sum(jnp.where(moving, problem.lower, 0.0))
    start = jnp.where(moving, problem.lower + room / (problem.n + 1.0), 0.0)

    def barrier_value(gaps: jax.Array, mu: jax.Array) -> jax.Array:
        slack = jnp.where(moving, gaps - problem.lower, 1.0)
        top = 1.0 - jnp.sum(jnp.where(moving, gaps, 0.0))
        inside = jnp.all(slack > 0.0) & (top > 0.0)
        f = objective.value(objective.rewards(gaps, problem, False), problem, kind, function)
        logs = jnp.sum(jnp.log(jnp.where(slack > 0.0, slack, 1.0))) + jnp.log(jnp.where(top > 0.0, top, 1.0))
        return jnp.where(inside, f + mu * logs, -jnp.inf)

    r0 = objective.rewards(start, problem, False)
    mu0 = frank_wolfe_gap(objective.value_and_gradient(r0, problem, kind, function)[2], r0, problem.n) / (problem.n + 1.0)

    def body(state: _State) -> _State:
        gaps, mu = state.gaps, state.mu
        r, pieces = objective.gap_pieces(gaps, problem, kind, function, False)
        gradient, hessian = pieces.gap_gradient, pieces.gap_hessian
        slack = jnp.where(moving, gaps - problem.lower, 1.0)
        top = 1.0 - jnp.sum(jnp.where(moving, gaps, 0.0))
        ones = jnp.where(moving, 1.0, 0.0)
        gradient = gradient + jnp.where(moving, mu / slack, 0.0) - mu / top * ones
        hessian = hessian - jnp.diag(jnp.where(moving, mu / slack**2, 0.0)) - mu / top**2 * jnp.outer(ones, ones)
        step = _newton_direction(hessian, gradient, moving)
        decrement = jnp.sum(gradient * step)
        shrinking = jnp.where(moving & (step < 0.0), slack / jnp.where(step < 0.0, -step, 1.0), jnp.inf)
        rising = jnp.sum(step * ones)
        limit = jnp.minimum(jnp.min(shrinking), jnp.where(rising > 0.0, top / jnp.where(rising > 0.0, rising, 1.0), jnp.inf))
        first = jnp.minimum(1.0, TO_BOUNDARY * limit)
        current = barrier_value(gaps, mu)

        def search(carry: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array, jax.Array]:
            alpha, _, k = carry
            increase = barrier_value(gaps + alpha * step, mu) - current
            accepted = jnp.isfinite(increase) & (increase >= ARMIJO * alpha * decrement)
            return jnp.where(accepted, alpha, 0.5 * alpha), accepted, k + 1

        alpha, accepted, _ = jax.lax.while_loop(
            lambda carry: ~carry[1] & (carry[2] < LINE_SEARCH_STEPS), search, (first, jnp.asarray(False), jnp.asarray(0))
        )
        new_gaps = jnp.where(accepted, gaps + alpha * step, gaps)
        centred = (decrement <= CENTRING * mu * (problem.n + 1.0)) | ~accepted
        new_mu = jnp.where(centred, MU_REDUCTION * mu, mu)
        certified = frank_wolfe_gap(pieces.gradient, r, problem.n) <= 0.5 * tol * _scale(pieces, r, valid)
        stuck = ~accepted & (mu <= 1e-300)
        return _State(new_gaps, state.iterations + 1, certified | stuck, new_mu)

    state = jax.lax.while_loop(
        lambda s: ~s.done & (s.iterations < max_steps),
        body,
        _State(start, jnp.asarray(0), jnp.asarray(False), mu0),
    )
    return _finish(state, problem, kind, function, False)
