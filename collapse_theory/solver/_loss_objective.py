"""A loss's value, gradient and Hessian in rewards and in gap coordinates (JAX, padded).

One prompt's loss (see :mod:`collapse_theory.problems.losses`) is evaluated on padded arrays of a
fixed size N >= n, so one compiled program serves every n up to N:

* rewards r (N,), the first n valid;
* pair weights w_ij and margins m_ij for the valid pairs i < j < n, formed inside each pass from
  the indices (1 or LiPO's abs(G_i - G_j) abs(D_i - D_j); M + M_rank (j - i)): no (N, N) input is read;
* the regulariser R(r) = l2 (n-1)/2 ‖r‖^2 + C [(n-2) ‖r‖^2 + (sum r)^2].

The solver's variables are *gap coordinates* e (N,): e_k = r_k - r_{k+1} for k < n - 1,
e_k = 0 for padded k, and e_{N-1} = r_n the base, so that r_i = sum_{k >= i} e_k, r = L e
with L the upper-triangular matrix of ones. For free rewards the base is fixed and r is
centred, r = P L e with P = I - 1 1^T / n: the pairwise and Plackett-Luce objectives
depend on differences only and both regularisers are smallest at mean 0, so the mean of
a maximiser is 0. Gradients and Hessians are carried from r to e by prefix sums
(L^T x = cumsum x), O(N^2) instead of the O(N^3) of matrix products.

Pairwise Hessians are built by hand from U'' (a weighted graph Laplacian); the
Plackett-Luce Hessian from its softmax form,
:math:`-B^2 \\sum_i (\\mathrm{diag}\\, p^{(i)} - p^{(i)} p^{(i)T})`, with the sum over i of
:math:`p^{(i)}_j p^{(i)}_l` a prefix sum in log space (no overflow for any r).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from collapse_theory.problems.families import UtilityFunction

PAIRWISE = "pairwise"
PLACKETT_LUCE = "plackett-luce"


class Problem(NamedTuple):
    """The traced data of one padded problem."""

    n: jax.Array  # number of valid rewards
    params: jax.Array  # U's parameters (pairwise) or (B,) (Plackett-Luce)
    margin: jax.Array  # M of margin:M
    rank_margin: jax.Array  # M of rank-margin:M
    lipo: jax.Array  # LiPO-lambda weights on (bool)
    gains: jax.Array  # (N,) LiPO gains G_i = 2^(n-i)
    discounts: jax.Array  # (N,) LiPO discounts D_i = 1 / log2(1 + i)
    lower: jax.Array  # (N,) lower bounds of the gap coordinates (base: 0)
    l2: jax.Array
    center: jax.Array


def ipo_utility(x: jax.Array, params: jax.Array) -> jax.Array:
    """IPO's U(x) = -(x - TAU)^2 (Azar et al. 2023), TAU = params[0]."""
    return -((x - params[0]) ** 2)


def min_linear_utility(x: jax.Array, params: jax.Array) -> jax.Array:
    """U(x) = min(x, T), T = params[0]: a concave kink (solved as a linear program, evaluated here)."""
    return jnp.minimum(x, params[0])


def valid_mask(problem: Problem, size: int) -> jax.Array:
    """True for the n valid rewards."""
    return jnp.arange(size) < problem.n


def pair_data(problem: Problem, size: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The valid pairs i < j < n, their weights w_ij and margins m_ij, (N, N) each."""
    index = jnp.arange(size)
    distance = index[None, :] - index[:, None]
    mask = (distance > 0) & (index[None, :] < problem.n)
    lipo = jnp.abs(problem.gains[:, None] - problem.gains[None, :]) * jnp.abs(
        problem.discounts[:, None] - problem.discounts[None, :]
    )
    weights = jnp.where(problem.lipo, lipo, 1.0)
    mask = mask & (weights > 0)
    margins = problem.margin + problem.rank_margin * distance
    return mask, weights, margins


def _differences(r: jax.Array, problem: Problem) -> tuple[jax.Array, jax.Array, jax.Array]:
    mask, weights, margins = pair_data(problem, r.shape[0])
    return mask, weights, jnp.where(mask, r[:, None] - r[None, :] - margins, 1.0)


def _pairwise_value(r: jax.Array, problem: Problem, function: UtilityFunction) -> jax.Array:
    mask, weights, x = _differences(r, problem)
    return jnp.sum(jnp.where(mask, weights * function(x, problem.params), 0.0))


def _pair_derivatives(r: jax.Array, problem: Problem, function: UtilityFunction) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The pairwise term's value, its gradient in r, and the symmetric pair curvature, in one pass over U.

    Every ordered pair (a, b), a != b, is evaluated at the difference of the pair it belongs to,
    x = r_min(a,b) - r_max(a,b) - m, so the curvature comes out symmetric,
    C_ab = C_ba = w U''(x), and the gradient is a row sum, g_a = sum_b sign(b - a) w U'(x):
    no transposed (N, N) pass, which costs XLA on a CPU more than the evaluation itself.
    """
    size = r.shape[0]
    index = jnp.arange(size)
    distance = index[None, :] - index[:, None]
    mask, weights, _ = pair_data(problem, size)  # the upper triangle i < j, and w_ij = w_ji
    valid = valid_mask(problem, size)
    both = (distance != 0) & valid[:, None] & valid[None, :] & (weights > 0)
    sign = jnp.where(distance > 0, 1.0, -1.0)
    x = jnp.where(both, sign * (r[:, None] - r[None, :]) - problem.margin - problem.rank_margin * jnp.abs(distance), 1.0)

    def total(t: jax.Array) -> jax.Array:
        return jnp.sum(function(t, problem.params))

    def slope_total(t: jax.Array) -> jax.Array:
        return jnp.sum(jax.grad(total)(t))

    value = jnp.sum(jnp.where(mask, weights * function(x, problem.params), 0.0))
    gradient = jnp.sum(jnp.where(both, sign * weights * jax.grad(total)(x), 0.0), axis=1)
    curvature = jnp.where(both, weights * jax.grad(slope_total)(x), 0.0)
    return value, gradient, curvature


def _suffix_terms(r: jax.Array, problem: Problem) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    size = r.shape[0]
    index = jnp.arange(size)
    valid = index < problem.n
    term = index < problem.n - 1
    beta = problem.params[0]
    scores = jnp.where(valid, beta * r, -jnp.inf)
    suffix = jax.lax.cumlogsumexp(scores, axis=0, reverse=True)  # Z_i = log sum_{j >= i} e^{B r_j}
    return scores, suffix, valid, term


def _plackett_luce_value(r: jax.Array, problem: Problem) -> jax.Array:
    scores, suffix, _, term = _suffix_terms(r, problem)
    return jnp.sum(jnp.where(term, scores - jnp.where(term, suffix, 0.0), 0.0))


def _plackett_luce(r: jax.Array, problem: Problem) -> tuple[jax.Array, jax.Array, jax.Array]:
    scores, suffix, valid, term = _suffix_terms(r, problem)
    beta = problem.params[0]
    value = jnp.sum(jnp.where(term, scores - jnp.where(term, suffix, 0.0), 0.0))
    # sum over terms i <= j of p_j^(i) = exp(B r_j) sum_{i <= j} exp(-Z_i), in log space
    inverse = jax.lax.cumlogsumexp(jnp.where(term, -suffix, -jnp.inf), axis=0)
    probability = jnp.where(valid, jnp.exp(scores + inverse), 0.0)
    gradient = beta * jnp.where(term, 1.0, 0.0) - beta * probability
    squares = jax.lax.cumlogsumexp(jnp.where(term, -2.0 * suffix, -jnp.inf), axis=0)
    index = jnp.arange(r.shape[0])
    smaller = jnp.minimum(index[:, None], index[None, :])
    both = valid[:, None] & valid[None, :]
    exponent = jnp.where(both, scores[:, None] + scores[None, :] + squares[smaller], -jnp.inf)
    outer = jnp.exp(exponent)
    hessian = -(beta**2) * (jnp.diag(probability) - outer)
    return value, gradient, hessian


def _regulariser(r: jax.Array, problem: Problem) -> tuple[jax.Array, jax.Array, jax.Array]:
    valid = jnp.where(valid_mask(problem, r.shape[0]), 1.0, 0.0)
    n = problem.n.astype(r.dtype)
    square = problem.l2 * (n - 1.0) / 2.0 + problem.center * (n - 2.0)
    total = jnp.sum(valid * r)
    value = square * jnp.sum(valid * r**2) + problem.center * total**2
    gradient = 2.0 * square * valid * r + 2.0 * problem.center * total * valid
    hessian = 2.0 * square * jnp.diag(valid) + 2.0 * problem.center * jnp.outer(valid, valid)
    return value, gradient, hessian


class Pieces(NamedTuple):
    """F = objective - regulariser at r, with F's gradient and Hessian in r."""

    objective: jax.Array
    regulariser: jax.Array
    gradient: jax.Array
    hessian: jax.Array


def pieces(r: jax.Array, problem: Problem, kind: str, function: UtilityFunction | None) -> Pieces:
    """Objective term, regulariser, and the gradient and Hessian of F in rewards (from :func:`reward_pieces`)."""
    term = reward_pieces(r, problem, kind, function)
    _, _, penalty_hessian = _regulariser(r, problem)
    return Pieces(term.objective, term.regulariser, term.gradient, term_hessian(term.curvature) - penalty_hessian)


def value(r: jax.Array, problem: Problem, kind: str, function: UtilityFunction | None) -> jax.Array:
    """F(r) alone (for line searches)."""
    if kind == PLACKETT_LUCE:
        objective = _plackett_luce_value(r, problem)
    else:
        assert function is not None
        objective = _pairwise_value(r, problem, function)
    return objective - _regulariser(r, problem)[0]


def rewards(e: jax.Array, problem: Problem, free: bool) -> jax.Array:
    """r = L e (bounded) or P L e (free, mean 0); padded rewards are 0."""
    r = jnp.cumsum(e[::-1])[::-1]
    valid = valid_mask(problem, e.shape[0])
    if free:
        r = r - jnp.sum(jnp.where(valid, r, 0.0)) / problem.n
    return jnp.where(valid, r, 0.0)


def _centre_vector(x: jax.Array, valid: jax.Array, n: jax.Array) -> jax.Array:
    return jnp.where(valid, x - jnp.sum(jnp.where(valid, x, 0.0)) / n, 0.0)


def to_gaps(gradient: jax.Array, hessian: jax.Array, problem: Problem, free: bool) -> tuple[jax.Array, jax.Array]:
    """The gradient and Hessian in gap coordinates: L^T (P) g and L^T (P H P) L (the reference for :func:`gap_pieces`)."""
    valid = valid_mask(problem, gradient.shape[0])
    if free:
        n = problem.n.astype(gradient.dtype)
        gradient = _centre_vector(gradient, valid, n)
        weight = jnp.where(valid, 1.0, 0.0)
        column = hessian @ weight / n
        row = weight @ hessian / n
        total = weight @ hessian @ weight / n**2
        hessian = hessian - jnp.outer(weight, row) - jnp.outer(column, weight) + total * jnp.outer(weight, weight)
    return jnp.cumsum(gradient), jnp.cumsum(jnp.cumsum(hessian, axis=0), axis=1)


class GapPieces(NamedTuple):
    """F's pieces at r = L e (or P L e): objective term, regulariser, gradient in r, gradient and Hessian in e."""

    objective: jax.Array
    regulariser: jax.Array
    gradient: jax.Array
    gap_gradient: jax.Array
    gap_hessian: jax.Array


def _pairwise_gap_hessian(r: jax.Array, problem: Problem, function: UtilityFunction) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Value, gradient in r and Hessian in gaps of the pairwise term, from U'' on pairs in one pass.

    r_i - r_j = sum_{i <= k < j} e_k, so d^2/de_k de_l = sum_{i <= min(k, l), j > max(k, l)} c_ij with
    c_ij = w_ij U''(x_ij): a prefix sum over i and a strict suffix sum over j of c. It replaces forming
    the Laplacian in r and carrying it to e with L^T (P H P) L (no centring is needed: the term depends
    on differences only, so F(P L e) = F(L e)).
    """
    value, gradient, curvature = _pair_derivatives(r, problem, function)
    index = jnp.arange(r.shape[0])
    curvature = jnp.where(index[:, None] < index[None, :], curvature, 0.0)
    prefix = jnp.cumsum(curvature, axis=0)
    strict_suffix = jnp.cumsum(prefix[:, ::-1], axis=1)[:, ::-1] - prefix
    hessian = jnp.where(index[:, None] <= index[None, :], strict_suffix, strict_suffix.T)
    return value, gradient, hessian


def _regulariser_gap_hessian(problem: Problem, size: int, free: bool) -> jax.Array:
    """Hessian of R(L e) (bounded) or R(P L e) (free) in gaps, in closed form.

    With c_k = min(k + 1, n) the number of valid rewards gap k (or the base) lifts,
    (L^T D L)_kl = min(c_k, c_l), L^T 1 = c, and P removes c c^T / n; R = s ‖r‖^2 + C (sum r)^2,
    s = l2 (n-1)/2 + C (n-2), whose sum term vanishes on centred rewards.
    """
    n = problem.n.astype(problem.l2.dtype)
    index = jnp.arange(size)
    count = jnp.minimum(index + 1, problem.n).astype(n.dtype)
    square = problem.l2 * (n - 1.0) / 2.0 + problem.center * (n - 2.0)
    smaller = jnp.minimum(count[:, None], count[None, :])
    outer = count[:, None] * count[None, :]
    if free:
        return 2.0 * square * (smaller - outer / n)
    return 2.0 * square * smaller + 2.0 * problem.center * outer


def gap_pieces(
    e: jax.Array, problem: Problem, kind: str, function: UtilityFunction | None, free: bool
) -> tuple[jax.Array, GapPieces]:
    """Rewards at the gaps e, and F's pieces there with its gradient and Hessian in gap coordinates."""
    r = rewards(e, problem, free)
    size = e.shape[0]
    if kind == PLACKETT_LUCE:
        value, gradient, hessian = _plackett_luce(r, problem)
        # shift-invariant, so F(P L e) = F(L e): L^T H L by two prefix sums
        hessian = jnp.cumsum(jnp.cumsum(hessian, axis=0), axis=1)
    else:
        assert function is not None
        value, gradient, hessian = _pairwise_gap_hessian(r, problem, function)
    penalty, penalty_gradient, _ = _regulariser(r, problem)
    gradient = gradient - penalty_gradient
    valid = valid_mask(problem, size)
    centred = _centre_vector(gradient, valid, problem.n.astype(gradient.dtype)) if free else gradient
    hessian = hessian - _regulariser_gap_hessian(problem, size, free)
    return r, GapPieces(value, penalty, gradient, jnp.cumsum(centred), hessian)


class RewardPieces(NamedTuple):
    """F's pieces at r, with the objective term's Hessian in r as a pair curvature.

    The term ignores shifts, so its Hessian T has zero row sums and is the Laplacian of a
    symmetric, zero-diagonal curvature C: T = diag(C 1) - C (pairwise: C_ab = w U''(x_ab);
    Plackett-Luce: C = -T off the diagonal). The regulariser's Hessian is closed form and not
    carried: on free (mean-zero) rewards it acts as -2 s I, s = l2 (n-1)/2 + C (n-2).
    """

    objective: jax.Array
    regulariser: jax.Array
    gradient: jax.Array
    curvature: jax.Array


def reward_pieces(r: jax.Array, problem: Problem, kind: str, function: UtilityFunction | None) -> RewardPieces:
    """Objective term, regulariser, F's gradient in r and the term's pair curvature C: one pass over the pairs."""
    if kind == PLACKETT_LUCE:
        value, gradient, hessian = _plackett_luce(r, problem)
        index = jnp.arange(r.shape[0])
        curvature = jnp.where(index[:, None] == index[None, :], 0.0, -hessian)
    else:
        assert function is not None
        value, gradient, curvature = _pair_derivatives(r, problem, function)
    penalty, penalty_gradient, _ = _regulariser(r, problem)
    return RewardPieces(value, penalty, gradient - penalty_gradient, curvature)


def term_hessian(curvature: jax.Array) -> jax.Array:
    """T = diag(C 1) - C: the objective term's Hessian in r from its pair curvature."""
    index = jnp.arange(curvature.shape[0])
    return jnp.where(index[:, None] == index[None, :], jnp.sum(curvature, axis=1)[:, None], -curvature)


def square_weight(problem: Problem) -> jax.Array:
    """s in R = s ‖r‖^2 + C (sum r)^2: l2 (n-1)/2 + C (n-2)."""
    n = problem.n.astype(problem.l2.dtype)
    return problem.l2 * (n - 1.0) / 2.0 + problem.center * (n - 2.0)


def free_gap_gradient(gradient: jax.Array, problem: Problem) -> jax.Array:
    """F's gradient in the gaps of free rewards: L^T P g (the centred gradient's prefix sums)."""
    valid = valid_mask(problem, gradient.shape[0])
    return jnp.cumsum(_centre_vector(gradient, valid, problem.n.astype(gradient.dtype)))


def free_gap_hessian_diagonal(curvature: jax.Array, problem: Problem) -> jax.Array:
    """diag(L^T P H P L) of F in the gaps of free rewards, without forming the matrix.

    The term's T has zero row sums, so P T P = T and d_k = sum_{a, b <= k} T_ab =
    sum_{a <= k} (T_aa + 2 sum_{b < a} T_ab) = sum_{a <= k} sum_b sign(b - a) C_ab: one
    masked row sum and a prefix sum. The regulariser adds -2 s c_k (1 - c_k / n), c_k = min(k + 1, n).
    """
    size = curvature.shape[0]
    index = jnp.arange(size)
    signed = jnp.sum(jnp.where(index[None, :] > index[:, None], curvature, -curvature), axis=1)
    n = problem.n.astype(curvature.dtype)
    count = jnp.minimum(index + 1, problem.n).astype(n.dtype)
    return jnp.cumsum(signed) - 2.0 * square_weight(problem) * count * (1.0 - count / n)


def free_gap_hessian(curvature: jax.Array, problem: Problem) -> jax.Array:
    """L^T P H P L of F in the gaps of free rewards: two prefix sums of the term's T, minus the regulariser's closed form."""
    size = curvature.shape[0]
    hessian = term_hessian(curvature)
    return jnp.cumsum(jnp.cumsum(hessian, axis=0), axis=1) - _regulariser_gap_hessian(problem, size, True)


def equal_gap_value(spacing: jax.Array, problem: Problem, kind: str, function: UtilityFunction | None) -> jax.Array:
    """F at free, mean-zero rewards with every gap lower_k + spacing, in O(n) when the pairs' weights depend on j - i only.

    Equal gaps d (no lower bounds) give r_i - r_j = (j - i) d, so the pairwise term is
    sum_{k=1}^{n-1} (n - k) U(k d - M - M_rank k); LiPO's weights and the lower bounds
    (singular U with margins) take the general O(n^2) evaluation.
    """
    size = problem.lower.shape[0]
    index = jnp.arange(size)
    gaps = jnp.where(index < problem.n - 1, problem.lower + spacing, 0.0)
    r = rewards(gaps, problem, True)
    if kind == PLACKETT_LUCE:
        return value(r, problem, kind, function)
    assert function is not None

    def by_distance() -> jax.Array:
        distance = index + 1.0
        used = index < problem.n - 1
        x = jnp.where(used, distance * spacing - problem.margin - problem.rank_margin * distance, 1.0)
        count = (problem.n - 1 - index).astype(x.dtype)
        term = jnp.sum(jnp.where(used, count * function(x, problem.params), 0.0))
        return term - _regulariser(r, problem)[0]

    general = problem.lipo | jnp.any(problem.lower > 0.0)
    return jax.lax.cond(general, lambda: value(r, problem, kind, function), by_distance)


def value_and_gradient(
    r: jax.Array, problem: Problem, kind: str, function: UtilityFunction | None
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Objective term, regulariser and F's gradient in r (for the final answer).

    The pieces of :func:`reward_pieces` without the curvature: every caller is traced inside a
    jitted program, where XLA drops the unused curvature pass.
    """
    term = reward_pieces(r, problem, kind, function)
    return term.objective, term.regulariser, term.gradient
