"""Solving a ranking loss for one prompt: a status that says what kind of answer exists, and a certificate.

For a :class:`~collapse_theory.problems.losses.Loss` and n ranked completions, :func:`solve_loss`
maximises F(r) (pairwise or Plackett-Luce, minus a regulariser) over r_1 >= ... >= r_n,
bounded in [0, 1] or free, and answers with one :class:`~collapse_theory.solver.status.Status`:

* ``optimal``: a certified maximiser.
  *Bounded:* the Frank-Wolfe gap. The ordered box is the convex hull of the n + 1 step
  vectors e_k, so for any concave F (margins and weights included)
  F* - F(r) <= max_k <g, e_k - r> with g the gradient.
  *Free with a strongly concave part* (``l2``; ``center`` with n >= 3; ``ipo``): if F is
  mu-strongly concave on the cone K = {r_1 >= ... >= r_n} (on its mean-zero slice when F
  ignores shifts), F(y) <= F(r) + <g, y - r> - mu/2 ‖y - r‖^2 for every y in K, so
  F* - F(r) <= max_{y in K} [<g, y - r> - mu/2 ‖y - r‖^2] = <g, p - r> - mu/2 ‖p - r‖^2
  with p = Pi_K(r + g/mu), the projection onto the cone (isotonic regression). It is at
  most ‖g‖^2/(2 mu), and 0 exactly at a KKT point. mu = 2 rho + mu_U with
  R = rho ‖r - mean r‖^2 + f(mean) (rho = BETA (n-1)/2 for ``l2``, C (n-2) for ``center``)
  and mu_U = 2 n min w_ij for ``ipo`` (the weighted complete graph's Laplacian is at least
  min w times the complete graph's, whose second eigenvalue is n). Along the mean F is
  f(m) = -(kappa/2) n m^2 exactly (kappa = BETA (n-1) + 2 C (2n - 2), the term ignores shifts),
  so the bound also splits into the cone bound of the centred problem with mu plus
  (kappa/2) n mean(r)^2, with no division by a tiny kappa; the smaller bound is reported.
  Both stop on gap <= tol * scale, scale = abs(objective term) + abs(R) + sum_i abs(g_i) max(1, range r),
  positively homogeneous of degree 1 in F: scaling F scales the test, never an absolute floor.
* ``shift_invariant``: free rewards with a maximiser unique up to a common shift (IPO
  without a regulariser); the mean-zero one is reported.
* ``unbounded``: no maximiser (free Bradley-Terry, free Plackett-Luce, ``center`` at n = 2):
  ``rewards`` is None and ``direction`` the limiting shape, best first, range [0, 1]:
  lim_{t -> inf} argmax_{range r = t} F(r) / t. For exponentially saturating terms
  (log-sigmoid, exp, Plackett-Luce) F at range t is -sum_{adjacent} w exp(-t d_k) + ...,
  dominated by the smallest gap, so the limit maximises the smallest gap: equal gaps
  (the hard-margin direction gradient ascent approaches; docs/losses.md). For power-like
  terms (linear, power, log, neg-power, box-cox) F(t v) ~ t^G F_0(v) (or log t + F_0(v)),
  so the shape is the bounded maximiser of the margin-free loss.
* ``non_unique``: a face of maximisers (affine U, ``min-linear:T``, bounded IPO whose
  optimum does not fill [0, 1]): one maximiser and what is free.
* ``not_converged`` / ``failed``: the certificate did not reach the tolerance / no answer.

A plain utility (the paper's problem) is delegated to :func:`collapse_theory.solver.utility_solver.solve`.

Example:
    >>> s = solve_loss("ipo:1", 4)  # TAU = 1/(2 BETA) = 0.5
    >>> s.status.value, [round(float(x), 6) for x in s.rewards]
    ('shift_invariant', [0.375, 0.125, -0.125, -0.375])
    >>> t = solve_loss("bradley-terry", 4)
    >>> t.status.value, t.rewards, [round(float(x), 4) for x in t.direction]
    ('unbounded', None, [1.0, 0.6667, 0.3333, 0.0])
"""

from __future__ import annotations

import dataclasses
import math
import time
from functools import partial
from typing import Any

import jax.numpy as jnp
import numpy as np
import scipy.optimize

from collapse_theory._core.checks import check_memory
from collapse_theory._core.precision import float64
from collapse_theory.problems.losses import LIPO_MAX_N, Loss, LossSpecError, lipo_weights, parse_loss
from collapse_theory.solver import _engine, _loss_bounded, _loss_lp, _loss_newton, _loss_objective, utility_solver
from collapse_theory.solver.solution import DEFAULT_TOLERANCE, Solution, status_message
from collapse_theory.solver.status import Status

__all__ = [
    "DEFAULT_MAX_STEPS",
    "DEFAULT_TOLERANCE",
    "LossInfeasibleError",
    "cone_gap",
    "estimated_memory",
    "frank_wolfe_gap",
    "loss_value",
    "solve_loss",
]

DEFAULT_MAX_STEPS = 200

#: Families whose U saturates exponentially (U(x) -> sup U like -exp(-x)): their unbounded
#: direction is equal gaps.
SATURATING_FAMILIES = ("log-sigmoid", "exp")


class LossInfeasibleError(LossSpecError):
    """No reward vector satisfies the loss's hard requirements (a singular U with margins on [0, 1])."""


# --- problem data -----------------------------------------------------------------


def padded_size(n: int) -> int:
    """Powers of two up to 256, then multiples of 128: one compilation serves many n."""
    if n <= 256:
        return max(8, 1 << (n - 1).bit_length())
    return -(-n // 128) * 128


def _minimum_weight(loss: Loss, n: int) -> float:
    """min_{i<j} w_ij: 1, or the smallest LiPO weight."""
    if not loss.lipo:
        return 1.0
    return float(lipo_weights(n)[np.triu_indices(n, 1)].min())


def _lower_bounds(loss: Loss, n: int) -> np.ndarray:
    """Gap lower bounds: r_k - r_{k+1} > m_{k,k+1} for a singular U (they imply every pair's)."""
    lower = np.zeros(n)
    if loss.singular and loss.has_margins:
        lower[: n - 1] = loss.margin + loss.rank_margin
    return lower


def _problem(loss: Loss, n: int, size: int) -> _loss_objective.Problem:
    """The traced data of (loss, n) padded to size: scalars and (size,) vectors, no (size, size) matrix."""
    lower = np.zeros(size)
    lower[: n - 1] = _lower_bounds(loss, n)[: n - 1]
    gains, discounts = np.zeros(size), np.zeros(size)
    if loss.lipo:
        if n > LIPO_MAX_N:
            lipo_weights(n)  # raises: the gains overflow float64
        rank = np.arange(1, n + 1, dtype=np.float64)
        gains[:n] = np.exp2(n - rank)
        discounts[:n] = 1.0 / np.log2(1.0 + rank)
    if loss.objective in ("plackett-luce", "ipo", "min-linear"):
        params: tuple[float, ...] = (float(loss.parameter or 0.0),)
    else:
        assert loss.utility is not None
        params = loss.utility.parameters or (0.0,)
    with float64():
        return _loss_objective.Problem(
            n=jnp.asarray(n),
            params=jnp.asarray(params, dtype=jnp.float64),
            margin=jnp.asarray(float(loss.margin)),
            rank_margin=jnp.asarray(float(loss.rank_margin)),
            lipo=jnp.asarray(bool(loss.lipo)),
            gains=jnp.asarray(gains),
            discounts=jnp.asarray(discounts),
            lower=jnp.asarray(lower),
            l2=jnp.asarray(float(loss.l2)),
            center=jnp.asarray(float(loss.center)),
        )


def _kind_and_function(loss: Loss) -> tuple[str, Any]:
    if loss.objective == "plackett-luce":
        return _loss_objective.PLACKETT_LUCE, None
    if loss.objective == "ipo":
        return _loss_objective.PAIRWISE, _loss_objective.ipo_utility
    if loss.objective == "min-linear":
        return _loss_objective.PAIRWISE, _loss_objective.min_linear_utility
    assert loss.utility is not None
    return _loss_objective.PAIRWISE, loss.utility.function


def loss_value(loss: Loss | str, rewards: Any) -> float:
    """F(rewards) of a loss (objective term minus regulariser), in float64.

    Example:
        >>> round(loss_value("ipo:0.5", [0.5, 0.0]), 6)   # -(0.5 - 1)^2
        -0.25
    """
    loss = parse_loss(loss)
    r = np.asarray(rewards, dtype=np.float64)
    n = r.shape[0]
    kind, function = _kind_and_function(loss)
    problem = _problem(loss, n, n)
    with float64():
        return float(_loss_objective.value(jnp.asarray(r), problem, kind, function))


# --- certificates -------------------------------------------------------------------


def frank_wolfe_gap(gradient: np.ndarray, rewards: np.ndarray) -> float:
    """max_k <g, e_k - r> over the step vectors of the ordered box [0, 1], without cancellation.

    Example:
        >>> frank_wolfe_gap(np.array([1.0, -1.0]), np.array([1.0, 0.0]))
        0.0
    """
    with np.errstate(all="ignore"):  # the engine's one formula; a non-finite bound certifies nothing
        bound = _engine.frank_wolfe_gap_host(gradient, rewards)
    return bound if math.isfinite(bound) else math.inf


def cone_gap(gradient: np.ndarray, rewards: np.ndarray, modulus: float, lower: np.ndarray | None = None) -> float:
    """max over y in K of <g, y - r> - mu/2 ‖y - r‖^2: bounds F* - F(r) for mu-strongly concave F on K.

    K = {y : y_k - y_{k+1} >= lower_k} (lower: n - 1 gap bounds, default 0); the maximiser is p = Pi_K(r + g/mu), computed by
    isotonic regression (``scipy.optimize.isotonic_regression``, decreasing).

    Example:
        >>> cone_gap(np.array([0.0, 0.0]), np.array([0.5, -0.5]), 2.0)
        0.0
        >>> round(cone_gap(np.array([1.0, -1.0]), np.array([0.0, 0.0]), 2.0), 6)    # |g|^2 / (2 mu)
        0.5
    """
    g = np.asarray(gradient, dtype=np.float64)
    r = np.asarray(rewards, dtype=np.float64)
    gaps = np.zeros(r.shape[0] - 1) if lower is None else np.asarray(lower, dtype=np.float64)
    offset = np.concatenate([np.cumsum(gaps[::-1])[::-1], [0.0]])
    with np.errstate(all="ignore"):
        target = r + g / modulus - offset
        if not np.all(np.isfinite(target)):
            return math.inf
        projected = offset + scipy.optimize.isotonic_regression(target, increasing=False).x
        step = projected - r
        bound = float(np.dot(g, step) - 0.5 * modulus * np.dot(step, step))
    # an overflow is no certificate: max(0, nan) would read as 0
    return max(0.0, bound) if math.isfinite(bound) else math.inf


# --- classification -----------------------------------------------------------------


def _mean_curvature(loss: Loss, n: int) -> float:
    """Curvature of R along the unit vector 1/sqrt(n): BETA (n-1) + 2 C (2n - 2)."""
    return loss.l2 * (n - 1) + 2.0 * loss.center * (2 * n - 2)


def _difference_modulus(loss: Loss, n: int) -> float:
    """A strong-concavity modulus of F on mean-zero vectors: 2 rho + (IPO) 2 n min w."""
    modulus = 2.0 * loss.regulariser_strength(n)
    if loss.objective == "ipo":
        modulus += 2.0 * n * _minimum_weight(loss, n)
    return modulus


def _saturating(loss: Loss) -> bool:
    if loss.objective == "plackett-luce":
        return True
    record = loss.utility.family_record if loss.utility is not None else None
    return record is not None and record.name in SATURATING_FAMILIES


def _symmetric(loss: Loss) -> bool:
    """F(r) = F(-reverse(r)) on free rewards: a pairwise term whose weights and margins depend on j - i only.

    The reflection maps the pair (i, j) to (n+1-j, n+1-i), with the same difference r_i - r_j and the
    same distance j - i; l2 and center are invariant. The maximiser (unique, mean 0) is then symmetric,
    r_i = -r_{n+1-i}, whatever the margins. LiPO's weights and Plackett-Luce are not symmetric.
    """
    return loss.free and loss.objective in ("utility", "ipo") and not loss.lipo


def _affine(loss: Loss) -> bool:
    return loss.utility is not None and loss.utility.affine


def _check(loss: Loss, n: int, tol: float, max_steps: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise LossSpecError(f"n must be an integer >= 2, got {n!r}")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise LossSpecError(f"tol must be a finite number > 0, got {tol!r}")
    if not (isinstance(max_steps, (int, np.integer)) and max_steps >= 1):
        raise LossSpecError(f"max_steps must be an integer >= 1, got {max_steps!r}")
    if loss.utility is not None and not loss.utility.concave and not loss.is_plain_utility:
        raise LossSpecError(f"loss {loss.spec!r}: terms beyond a plain utility need a concave U ({loss.utility.spec} is not)")
    if loss.objective == "min-linear" and loss.has_regulariser:
        raise LossSpecError(f"loss {loss.spec!r}: min-linear is solved as a linear program; l2 and center are quadratic")
    if not loss.free and loss.singular and loss.has_margins:
        need = float(_lower_bounds(loss, n).sum())
        if need >= 1.0:
            raise LossInfeasibleError(
                f"loss {loss.spec!r} at n = {n} is infeasible on [0, 1]: {loss.utility.spec if loss.utility else ''} "
                f"needs r_i - r_j > m_ij, so adjacent gaps above {need / (n - 1):g} summing to {need:g} >= 1"
            )


# --- memory ---------------------------------------------------------------------------

#: Newton's and the active set's peak, in float64 (size, size) arrays (pair values, curvature,
#: Hessians in rewards and in gaps, their factorisation, XLA's temporaries): measured 16 to 18 at
#: n = 1024 and 2048 for log+l2, open-assistant, ipo, Plackett-Luce and power+lipo; 24 allowed.
_MATRICES = 24
#: The affine path's pair arrays: rows, columns, weights, margins and a product, n^2/2 each.
_BYTES_PER_AFFINE_PAIR = 5 * 8
#: A direction or step-vector answer: a few float64 arrays of n rewards.
_BYTES_PER_REWARD = 8 * 8
_FIXED_BYTES = 256 * 2**20


def estimated_memory(loss: Loss | str, n: int) -> int:
    """Peak bytes of :func:`solve_loss` for (loss, n), from the sizes alone: one estimate for every path.

    Newton (free or bounded): about :data:`_MATRICES` float64 arrays of N x N, N = ``padded_size(n)``;
    the affine path: n^2/2 pairs; the linear program (n <= 400): its n^2/2 epigraph variables;
    an unbounded loss: its direction (n rewards), or the bounded solve giving its shape;
    a plain utility: :func:`collapse_theory.solver.utility_solver.estimated_memory`.

    Example:
        >>> estimated_memory("open-assistant", 1000) / 2**20   # N = 1024
        448.0
    """
    loss = parse_loss(loss)
    if loss.is_plain_utility:
        assert loss.utility is not None
        return utility_solver.estimated_memory(n, vertex=loss.utility.affine or loss.utility.convex)
    pairs = n * (n - 1) // 2
    if loss.objective == "min-linear" or (_affine(loss) and not loss.has_regulariser and not loss.free):
        return _FIXED_BYTES + _BYTES_PER_AFFINE_PAIR * pairs * (4 if loss.objective == "min-linear" else 1)
    newton = _FIXED_BYTES + _MATRICES * 8 * padded_size(n) ** 2
    if loss.free and _difference_modulus(loss, n) <= 0.0:
        return _FIXED_BYTES + _BYTES_PER_REWARD * n if _saturating(loss) else newton
    return newton


# --- the public solve -----------------------------------------------------------------


def solve_loss(
    loss: Loss | str,
    n: int,
    *,
    tol: float = DEFAULT_TOLERANCE,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> Solution:
    """Maximise a ranking loss for one prompt with n ranked completions; say what kind of answer exists.

    Args:
        loss: a :class:`~collapse_theory.problems.losses.Loss` or a spec such as ``"open-assistant"``.
        n: number of ranked completions (>= 2).
        tol: certified when the gap <= ``tol * scale`` (see the module docstring).
        max_steps: Newton steps before giving up (``not_converged``).

    Example:
        >>> s = solve_loss("open-assistant", 8)
        >>> s.status.value, s.certified, round(float(s.rewards[0] - s.rewards[-1]), 2)
        ('optimal', True, 17.14)
    """
    loss = parse_loss(loss)
    if isinstance(n, (float, np.floating)) and float(n).is_integer():
        n = int(n)
    _check(loss, n, tol, max_steps)
    n = int(n)
    check_memory(f"solving the loss {loss.spec}", n, partial(estimated_memory, loss), lower=2)
    started = time.perf_counter()
    if loss.is_plain_utility:
        return _plain(loss, n, tol, max_steps, started)
    if loss.objective == "min-linear" or (_affine(loss) and not loss.has_regulariser and not loss.free):
        return _loss_lp.solve_linear_program(loss, n, tol=tol, started=started)
    if loss.free:
        modulus = _difference_modulus(loss, n)
        if modulus <= 0.0:
            return _unbounded(loss, n, started)
        return _solve_free(loss, n, tol, max_steps, modulus, started)
    if loss.objective == "ipo" and not loss.has_regulariser:
        # F depends on differences only and has a free maximiser: if it fits in [0, 1], it
        # (shifted) is the bounded maximiser, certified by the same cone bound (the box lies in K)
        free = _solve_free(
            Loss(
                objective="ipo",
                parameter=loss.parameter,
                free=True,
                margin=loss.margin,
                rank_margin=loss.rank_margin,
                lipo=loss.lipo,
            ),
            n,
            tol,
            max_steps,
            _difference_modulus(loss, n),
            started,
        )
        if free.rewards is not None and free.certified and free.rewards[0] - free.rewards[-1] <= 1.0:
            return _shifted_into_box(loss, free, started)
    return _solve_bounded(loss, n, tol, max_steps, started)


def _shifted_into_box(loss: Loss, free: Solution, started: float) -> Solution:
    assert free.rewards is not None
    low, high = float(free.rewards[-1]), float(free.rewards[0])
    rewards = free.rewards + (1.0 - high - low) / 2.0
    slack = 1.0 - (high - low)
    status = Status.NON_UNIQUE if slack > 0.0 else Status.OPTIMAL
    why = (
        f"F depends on differences only and its free maximiser has range {high - low:.6g} <= 1: every common shift "
        f"within {slack:.6g} is optimal; the one centred in [0, 1] is reported (certificate: the cone bound, the box lies in K)"
    )
    return dataclasses.replace(
        free,
        loss=loss.spec,
        status=status,
        rewards=rewards,
        seconds=time.perf_counter() - started,
        message=status_message(status, why),
    )


def _plain(loss: Loss, n: int, tol: float, max_steps: int, started: float) -> Solution:
    """A plain utility: the paper's solver, its status kept (an affine U's face at odd n is ``NON_UNIQUE``)."""
    assert loss.utility is not None
    solution = utility_solver.solve(loss.utility, n, tol=tol, max_steps=max_steps)
    status, message = solution.status, solution.message
    if loss.utility.affine and status.certified and n % 2 == 1:
        status = Status.NON_UNIQUE
        message = "a face of maximisers: the middle reward (odd n) may be anywhere in [0, 1]; the symmetric one is reported"
    return dataclasses.replace(solution, loss=loss.spec, status=status, seconds=time.perf_counter() - started, message=message)


def _scale(objective: float, regulariser: float, gradient: np.ndarray, rewards: np.ndarray) -> float:
    spread = float(rewards.max() - rewards.min())
    return abs(objective) + abs(regulariser) + float(np.abs(gradient).sum()) * max(1.0, spread)


def _active_set_applies(loss: Loss) -> bool:
    """Bounded rewards go to the active-set method unless U is singular yet finite at 0 (``power:G``).

    The active set puts gaps exactly on their bounds, where such a U has an infinite slope; its
    optimum is interior (no ties), which the barrier path reaches without touching them. Where
    U(0) is not finite (log, neg-power, box-cox) a point on a bound fails the line search's
    finiteness test, so the active set stays inside as the barrier does.
    """
    if not loss.singular:
        return True
    assert loss.utility is not None
    with float64():
        at_zero = float(loss.utility.function(jnp.zeros(()), jnp.asarray(loss.utility.parameters or (0.0,))))
    return not math.isfinite(at_zero)


def _run(loss: Loss, n: int, tol: float, max_steps: int, free: bool) -> tuple[np.ndarray, float, float, np.ndarray, int]:
    size = padded_size(n)
    kind, function = _kind_and_function(loss)
    problem = _problem(loss, n, size)
    with float64():
        if free:
            result = _loss_newton.projected_newton(
                problem, jnp.asarray(tol), kind=kind, function=function, max_steps=max_steps, symmetric=_symmetric(loss)
            )
        elif _active_set_applies(loss):
            result = _loss_bounded.active_set(problem, jnp.asarray(tol), kind=kind, function=function, max_steps=max_steps)
        else:
            result = _loss_newton.barrier(problem, jnp.asarray(tol), kind=kind, function=function, max_steps=max_steps)
        rewards = np.asarray(result.rewards)[:n]
        gradient = np.asarray(result.gradient)[:n]
        return rewards, float(result.objective), float(result.regulariser), gradient, int(result.iterations)


def _solve_free(loss: Loss, n: int, tol: float, max_steps: int, modulus: float, started: float) -> Solution:
    rewards, objective, regulariser, gradient, iterations = _run(loss, n, tol, max_steps, True)
    mean_curvature = _mean_curvature(loss, n)
    shift_invariant = mean_curvature == 0.0
    strength = modulus if shift_invariant else min(modulus, mean_curvature)
    lower = _lower_bounds(loss, n)[: n - 1]
    gap = cone_gap(gradient, rewards, strength, lower)
    if not shift_invariant:
        # F = F_d(P r) + f(mean r) with f(m) = (mean curvature / 2) n m^2 (F's term ignores shifts and both
        # regularisers split so): the differences' cone bound plus f(mean r) exactly, with no division by a
        # tiny mean curvature (center:1e-300)
        centred_gradient, mean = gradient - gradient.mean(), float(rewards.mean())
        split = cone_gap(centred_gradient, rewards - mean, modulus, lower) + 0.5 * mean_curvature * n * mean * mean
        gap = min(gap, split) if math.isfinite(split) else gap
    scale = _scale(objective, regulariser, gradient, rewards)
    finite = bool(np.all(np.isfinite(rewards)) and math.isfinite(objective))
    certified = finite and gap <= tol * scale
    if not finite:
        status = Status.FAILED
    elif not certified:
        status = Status.NOT_CONVERGED
    else:
        status = Status.SHIFT_INVARIANT if shift_invariant else Status.OPTIMAL
    why = f"strong-concavity bound on the order cone, mu = {strength:.6g}"
    return _answer(loss, n, status, rewards, objective - regulariser, gap, scale, iterations, started, why)


def _solve_bounded(loss: Loss, n: int, tol: float, max_steps: int, started: float) -> Solution:
    rewards, objective, regulariser, gradient, iterations = _run(loss, n, tol, max_steps, False)
    gap = frank_wolfe_gap(gradient, rewards)
    scale = _scale(objective, regulariser, gradient, rewards)
    finite = bool(np.all(np.isfinite(rewards)) and math.isfinite(objective))
    certified = finite and gap <= tol * scale
    status = Status.OPTIMAL if certified else (Status.NOT_CONVERGED if finite else Status.FAILED)
    why = "Frank-Wolfe gap over the step vectors of the ordered box"
    slack = min(1.0 - float(rewards[0]), float(rewards[-1]))
    if certified and not loss.has_regulariser and slack > math.sqrt(tol):
        status = Status.NON_UNIQUE
        why = (
            f"F depends on differences only and the maximiser does not fill [0, 1]: every common shift s with "
            f"{-float(rewards[-1]):.6g} <= s <= {1.0 - float(rewards[0]):.6g} is also optimal"
        )
    return _answer(loss, n, status, rewards, objective - regulariser, gap, scale, iterations, started, why)


def _answer(
    loss: Loss,
    n: int,
    status: Status,
    rewards: np.ndarray,
    objective: float,
    gap: float,
    scale: float,
    iterations: int,
    started: float,
    why: str,
) -> Solution:
    return Solution(
        loss=loss.spec,
        utility=loss.objective_spec,
        n=n,
        status=status,
        rewards=rewards,
        direction=None,
        objective=objective,
        gap=gap,
        scale=scale,
        iterations=iterations,
        seconds=time.perf_counter() - started,
        message=status_message(status, why),
    )


def unbounded_direction(loss: Loss | str, n: int) -> np.ndarray:
    """lim_{t -> inf} argmax_{range r = t} F(r) / t, best first, range [0, 1] (see the module docstring).

    Example:
        >>> [round(float(x), 3) for x in unbounded_direction("log+free", 4)]    # Gauss-Lobatto
        [1.0, 0.724, 0.276, 0.0]
    """
    loss = parse_loss(loss)
    if _saturating(loss):
        return np.linspace(1.0, 0.0, n)
    assert loss.utility is not None
    shape = Loss(objective="utility", utility=loss.utility, lipo=loss.lipo)
    rewards = solve_loss(shape, n).rewards
    assert rewards is not None
    return (rewards - rewards[-1]) / (rewards[0] - rewards[-1])


def _unbounded(loss: Loss, n: int, started: float) -> Solution:
    direction = unbounded_direction(loss, n)
    if _saturating(loss):
        why = (
            "free rewards and no strongly concave term: F increases with every gap and saturates, so the supremum is "
            "not attained; the limiting direction maximises the smallest gap (equal gaps)"
        )
    else:
        why = (
            "free rewards and no strongly concave term: F grows without bound along every direction with positive gaps; "
            "the limiting direction is the bounded maximiser of the margin-free loss"
        )
    if loss.center and n == 2:
        why += "; center bounds only the sum r_1 + r_2 at n = 2"
    return Solution(
        loss=loss.spec,
        utility=loss.objective_spec,
        n=n,
        status=Status.UNBOUNDED,
        rewards=None,
        direction=direction,
        objective=None,
        gap=None,
        scale=None,
        iterations=0,
        seconds=time.perf_counter() - started,
        message=status_message(Status.UNBOUNDED, why),
    )
