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
  With no gap held the Newton system is solved in reward coordinates
  (:func:`_reward_direction`).
* **Bounded rewards** (the gaps and the base r_n, all >= lower, and sum <= 1): a
  log-barrier path, damped Newton steps with fraction-to-the-boundary, the barrier
  weight cut by :data:`MU_REDUCTION` each time the Newton decrement says the centre is
  reached, until the Frank-Wolfe gap meets the target. On its own it serves a U singular
  yet finite at 0 (``power:G``); every other bounded loss runs a few of its steps as the
  warm start of the active-set method in :mod:`collapse_theory.solver._loss_bounded`.

Both are ``lax.while_loop`` programs compiled once per (padded size, objective kind,
utility family, free or bounded); n and every parameter are traced. Their Armijo tests,
backtracking searches and Frank-Wolfe gap are the engine's (``_engine``), shared with the
symmetric utility stack.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from collapse_theory.problems.families import UtilityFunction
from collapse_theory.solver import _engine as engine
from collapse_theory.solver import _loss_objective as objective

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
#: Ranges of the semicircle-shaped start, relative to the best equal gaps' range.
SHAPED_RANGES = (0.9, 1.1, 1.3, 1.6)
#: Newton steps for the semicircle's quantiles (converged to rounding well before).
SEMICIRCLE_NEWTON_STEPS = 40


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


def _scale(pieces: objective.GapPieces | objective.RewardPieces, r: jax.Array, valid: jax.Array) -> jax.Array:
    """abs(objective) + abs(regulariser) + sum abs(g_i) * range(r): degree 1 in F, no absolute floor."""
    spread = jnp.max(jnp.where(valid, r, -jnp.inf)) - jnp.min(jnp.where(valid, r, jnp.inf))
    spread = jnp.where(jnp.isfinite(spread), spread, 0.0)
    return jnp.abs(pieces.objective) + jnp.abs(pieces.regulariser) + jnp.sum(jnp.abs(pieces.gradient)) * jnp.maximum(spread, 1.0)


class _State(NamedTuple):
    gaps: jax.Array
    iterations: jax.Array
    done: jax.Array
    mu: jax.Array


def _reward_direction(pieces: objective.RewardPieces, problem: objective.Problem, symmetric: bool) -> jax.Array:
    """The Newton direction in gap coordinates when no gap is held, solved in reward coordinates.

    Newton's method is invariant under the linear change of variables r = P L e, so with every gap
    moving the gap-coordinate step is the difference vector of p solving (-H) p = P g on mean-zero
    p, with H = T - 2 s I the Hessian of F on mean-zero directions (T = diag(C 1) - C the objective
    term's, T 1 = 0). The system needs no prefix sums: M = -T + 2 s I = C + diag(2 s - C 1), and
    (M + kappa 1 1^T / n) p = g has the same solution (g sums to 0 and 1 is an eigenvector of
    every part), kappa > 0 making it definite without a regulariser (IPO). ``symmetric``: at a
    point symmetric under r -> -reverse(r) the step is antisymmetric, p_{n-1-a} = -p_a, and the
    first floor(n/2) entries solve (C_ab - C_{a, n-1-b} + delta_ab (2 s - (C 1)_a)) q = g_a: half
    the unknowns (an eighth of the factorisation), from the first half of C's rows.
    """
    curvature, gradient = pieces.curvature, pieces.gradient
    size = gradient.shape[0]
    index = jnp.arange(size)
    valid = objective.valid_mask(problem, size)
    shift = 2.0 * objective.square_weight(problem)
    if symmetric:
        half = size // 2
        rows = index[:half]
        used = rows < problem.n // 2
        top = curvature[:half]
        offset = size - problem.n
        # C[a, n-1-b] is column size-n+b of the column-reversed C: a slice, not a gather
        flipped = jnp.pad(top[:, ::-1], ((0, 0), (0, half)))
        crossed = jax.lax.dynamic_slice(flipped, (jnp.zeros_like(offset), offset), (half, half))
        diagonal = shift - jnp.sum(top, axis=1)
        reduced = top[:, :half] - crossed + jnp.diag(diagonal)
        step = _newton_direction(-reduced, gradient[:half], used)
        step = jnp.where(used, step, 0.0)
        mirror = jnp.clip(problem.n - 1 - rows, 0, size - 1)
        p = jnp.zeros(size, dtype=gradient.dtype).at[rows].add(step)
        p = p.at[mirror].add(jnp.where(used, -step, 0.0))
    else:
        diagonal = shift - jnp.sum(curvature, axis=1)
        kappa = jnp.maximum(jnp.sum(jnp.where(valid, diagonal, 0.0)) / problem.n, 1e-300)
        ones = jnp.where(valid, 1.0, 0.0)
        system = curvature + jnp.diag(diagonal) + kappa / problem.n * jnp.outer(ones, ones)
        p = _newton_direction(-system, jnp.where(valid, gradient, 0.0), valid)
    p = jnp.where(valid, p, 0.0)
    following = jnp.concatenate([p[1:], jnp.zeros(1, dtype=p.dtype)])
    return jnp.where(index < problem.n - 1, p - following, 0.0)


def _semicircle_gaps(problem: objective.Problem) -> jax.Array:
    """Gaps of the semicircle law's quantiles at (n - i - 1/2) / n, scaled to range 1 (0 beyond n - 1).

    The quantile x of q solves (x sqrt(1 - x^2) + arcsin x) / pi + 1/2 = q: Newton's method from 0,
    a fixed number of steps (the cdf is convex on [-1, 0] and concave on [0, 1], so the iterates
    stay monotone towards the root; the clip keeps them inside the support).
    """
    size = problem.lower.shape[0]
    index = jnp.arange(size)
    level = jnp.clip((problem.n - index - 0.5) / problem.n, 0.0, 1.0)
    x = jnp.zeros(size, dtype=problem.lower.dtype)
    for _ in range(SEMICIRCLE_NEWTON_STEPS):
        residual = (x * jnp.sqrt(1.0 - x**2) + jnp.arcsin(x)) / jnp.pi + 0.5 - level
        slope = 2.0 / jnp.pi * jnp.sqrt(jnp.maximum(1.0 - x**2, 1e-300))
        x = jnp.clip(x - residual / slope, -1.0 + 1e-12, 1.0 - 1e-12)
    following = jnp.concatenate([x[1:], jnp.zeros(1, dtype=x.dtype)])
    gaps = jnp.where(index < problem.n - 1, x - following, 0.0)
    return gaps / jnp.maximum(jnp.sum(gaps), 1e-300)


def _free_start(problem: objective.Problem, kind: str, function: UtilityFunction | None) -> jax.Array:
    """The free start: equal gaps at the best of :data:`START_RANGES`, or the semicircle's shape where better.

    Gap k is lower_k + spacing (spacing = range / (n - 1)) for the range whose F is largest;
    then the semicircle's quantile gaps (:func:`_semicircle_gaps`) at :data:`SHAPED_RANGES`
    times that range replace it where one of them has a larger F.
    """
    size = problem.lower.shape[0]
    moving_set = jnp.arange(size) < problem.n - 1

    def value_at(gaps: jax.Array) -> jax.Array:
        return objective.value(objective.rewards(gaps, problem, True), problem, kind, function)

    spacings = jnp.asarray(START_RANGES) / (problem.n - 1.0)
    values = jax.vmap(lambda d: objective.equal_gap_value(d, problem, kind, function))(spacings)
    spacing = spacings[jnp.argmax(jnp.where(jnp.isfinite(values), values, -jnp.inf))]
    equal = jnp.where(moving_set, problem.lower + spacing, 0.0)
    # the semicircle's shape (the law of log+l2, close to the other regularised optima) at a few
    # ranges around the best equal gaps': one or two Newton steps fewer where it fits, for four pair sums
    # with rank margins, r_i - r_j - M (j - i) is a difference of r_i + M i: the shape is offset by M per gap
    spread = jnp.maximum(spacing - problem.rank_margin, spacing / 2.0) * (problem.n - 1.0)
    shaped = problem.lower + problem.rank_margin + (spread * jnp.asarray(SHAPED_RANGES))[:, None] * _semicircle_gaps(problem)
    shaped = jnp.where(moving_set[None, :], shaped, 0.0)
    shaped_values = jax.vmap(value_at)(shaped)
    best = jnp.argmax(jnp.where(jnp.isfinite(shaped_values), shaped_values, -jnp.inf))
    equal_value = jnp.max(jnp.where(jnp.isfinite(values), values, -jnp.inf))
    return jnp.where(shaped_values[best] > equal_value, shaped[best], equal)


class _FreeState(NamedTuple):
    gaps: jax.Array
    pieces: objective.RewardPieces
    iterations: jax.Array
    done: jax.Array


# Over 80 lines: one jitted loop whose step closes over the problem; its three outcomes (the
# full step, a backtracking search, no move) share the trial point's pieces, read in one place.
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

    Each step evaluates the pairs once: F's pieces at a trial point are computed in full (value,
    gradient, the term's Hessian in r), and when the Armijo test accepts the trial (the usual
    case) they are the next step's pieces. With no gap held the Newton system is solved in reward
    coordinates (:func:`_reward_direction`, no prefix sums); with held gaps, in gap coordinates.
    ``symmetric``: F is invariant under r -> -reverse(r) (pairwise, weights and margins
    depending on j - i only); the start is symmetric, so are the iterates, and each Newton
    system is solved in half the unknowns.
    """
    size = problem.lower.shape[0]
    index = jnp.arange(size)
    moving_set = index < problem.n - 1
    valid = objective.valid_mask(problem, size)

    def value_at(gaps: jax.Array) -> jax.Array:
        return objective.value(objective.rewards(gaps, problem, True), problem, kind, function)

    def pieces_at(gaps: jax.Array) -> objective.RewardPieces:
        return objective.reward_pieces(objective.rewards(gaps, problem, True), problem, kind, function)

    start = _free_start(problem, kind, function)

    def body(state: _FreeState) -> _FreeState:
        gaps, pieces = state.gaps, state.pieces
        r = objective.rewards(gaps, problem, True)
        gradient = objective.free_gap_gradient(pieces.gradient, problem)
        current = pieces.objective - pieces.regulariser
        curvature = jnp.where(moving_set, -objective.free_gap_hessian_diagonal(pieces.curvature, problem), 1.0)
        curvature = jnp.where(curvature > 0.0, curvature, 1.0)
        trial = jnp.maximum(gaps + gradient / curvature, problem.lower)
        threshold = jnp.minimum(engine.TIE_THRESHOLD, jnp.max(jnp.where(moving_set, jnp.abs(trial - gaps), 0.0)))
        held = moving_set & (gaps - problem.lower <= threshold) & (gradient <= 0.0)
        moving = moving_set & ~held

        def in_gaps() -> jax.Array:
            hessian = objective.free_gap_hessian(pieces.curvature, problem)
            if symmetric:
                return _symmetric_direction(hessian, gradient, moving, problem.n)
            return _newton_direction(hessian, gradient, moving)

        step = jax.lax.cond(jnp.any(held), in_gaps, lambda: _reward_direction(pieces, problem, symmetric))
        step = jnp.where(held, gradient / curvature, step)
        step = jnp.where(moving_set, step, 0.0)
        # a held gap off its bound still moves (along the projected gradient): its first-order increase
        # counts, or a point with every gap held away from its bound would read as converged
        projected = jnp.maximum(gaps + step, problem.lower) - gaps
        decrement = jnp.sum(jnp.where(moving, gradient * step, jnp.where(held, gradient * projected, 0.0)))

        def candidate_at(alpha: jax.Array) -> jax.Array:
            return jnp.where(moving_set, jnp.maximum(gaps + alpha * step, problem.lower), gaps)

        def sufficient(candidate: jax.Array, value: jax.Array) -> jax.Array:
            # along the projection arc: the predicted increase whole (``_engine.sufficient_increase``)
            return engine.sufficient_increase(value, current, jnp.sum(gradient * (candidate - gaps)))

        small = decrement <= DECREMENT_FRACTION * tol * _scale(pieces, r, valid)
        full = candidate_at(jnp.asarray(1.0))
        full_pieces = pieces_at(full)
        full_value = full_pieces.objective - full_pieces.regulariser
        # the last step's increase is below rounding: take it when it shrinks the gradient
        # (the certificate, computed at the end, decides), never search down to 2^-60
        closer = jnp.isfinite(full_value) & (_centred_norm(full_pieces.gradient, valid) <= _centred_norm(pieces.gradient, valid))
        full_accepted = sufficient(full, full_value) | (small & closer)

        def accepts(alpha: jax.Array, _: jax.Array) -> jax.Array:
            candidate = candidate_at(alpha)
            return sufficient(candidate, value_at(candidate))

        def backtrack() -> tuple[jax.Array, objective.RewardPieces, jax.Array]:
            # the full step was trial 0 (above)
            alpha, accepted, _ = engine.backtrack(accepts, jnp.asarray(engine.BACKTRACK), start=1)
            new_gaps = jnp.where(accepted, candidate_at(alpha), gaps)
            new_pieces = jax.lax.cond(accepted, lambda: pieces_at(new_gaps), lambda: pieces)
            return new_gaps, new_pieces, accepted

        def keep() -> tuple[jax.Array, objective.RewardPieces, jax.Array]:
            return gaps, pieces, jnp.asarray(False)

        new_gaps, new_pieces, accepted = jax.lax.cond(
            full_accepted,
            lambda: (full, full_pieces, jnp.asarray(True)),
            lambda: jax.lax.cond(small, keep, backtrack),
        )
        return _FreeState(new_gaps, new_pieces, state.iterations + 1, small | ~accepted)

    state = jax.lax.while_loop(
        lambda s: ~s.done & (s.iterations < max_steps),
        body,
        _FreeState(start, pieces_at(start), jnp.asarray(0), jnp.asarray(False)),
    )
    r = objective.rewards(state.gaps, problem, True)
    final = state.pieces
    return Result(r, state.gaps, final.objective, final.regulariser, final.gradient, state.iterations)


def _centred_norm(gradient: jax.Array, valid: jax.Array) -> jax.Array:
    """‖P g‖ over the valid rewards: the part of F's gradient that moves free (mean-zero) rewards."""
    centred = jnp.where(valid, gradient - jnp.sum(jnp.where(valid, gradient, 0.0)) / jnp.sum(valid), 0.0)
    return jnp.sqrt(jnp.sum(centred**2))


def _finish(state: _State, problem: objective.Problem, kind: str, function: UtilityFunction | None, free: bool) -> Result:
    r = objective.rewards(state.gaps, problem, free)
    value, penalty, gradient = objective.value_and_gradient(r, problem, kind, function)
    return Result(r, state.gaps, value, penalty, gradient, state.iterations)


def frank_wolfe_gap(gradient: jax.Array, r: jax.Array, n: jax.Array) -> jax.Array:
    """max over step vectors of <g, e_k - r> at padded rewards (``_engine.frank_wolfe_gap``).

    The prefix sums G_1..G_n and gaps d_1..d_n (d_n = r_n) of the valid entries; G_0 = 0
    enters as the origin with weight d_0 = 1 - r_1.
    """
    size = gradient.shape[0]
    index = jnp.arange(size)
    valid = index < n
    prefix = jnp.cumsum(jnp.where(valid, gradient, 0.0))
    following = jnp.concatenate([r[1:], jnp.zeros(1)])
    gaps = jnp.where(index < n - 1, r - following, jnp.where(index == n - 1, r, 0.0))
    return engine.frank_wolfe_gap(prefix, gaps, valid, origin=1.0 - r[0])


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

        def accepts(alpha: jax.Array, _: jax.Array) -> jax.Array:
            return engine.sufficient_increase(barrier_value(gaps + alpha * step, mu), current, decrement, alpha)

        alpha, accepted, _ = engine.backtrack(accepts, first)
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
