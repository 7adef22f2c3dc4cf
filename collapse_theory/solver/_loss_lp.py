"""Piecewise-linear losses: an affine U exactly, ``min-linear:T`` as a linear program, both certified from the answer.

**Affine U** (``linear``, with margins or LiPO weights, bounded, no regulariser): F(r) =
<g, r> + c is linear on the ordered box, whose vertices are the step vectors e_k (k ones,
then zeros), so max F = c + max_k P_k with P_k = g_1 + ... + g_k (P_0 = 0). The answer is
read off the prefix sums, exactly, with no solver and no tolerance; the face of maximisers
is the hull of the e_k whose P_k ties the maximum (within the rounding of the sums).

**min-linear:T**, U(x) = min(x, T), a concave kink on which Newton's method stalls. Bounded
rewards are a linear program with one epigraph variable per pair (HiGHS through
``scipy.optimize.linprog``):

.. math::

    \\max \\sum_{i<j} w_{ij} t_{ij} \\quad \\text{s.t.} \\quad
    t_{ij} \\le r_i - r_j - m_{ij}, \\; t_{ij} \\le T, \\; 1 \\ge r_1 \\ge \\dots \\ge r_n \\ge 0,

solved in the units of the kink (r = u r', u = min(T, 1)) with weights divided by their
largest: HiGHS's absolute tolerances (1e-7) then act on T's scale, not on [0, 1], and no
cost reaches its infinity (1e20; LiPO's weights grow like 2^n). Free rewards need no solver:
F <= T sum w_ij, attained by adjacent gaps T + M + M_rank (every pair then has
r_i - r_j - m_ij >= T), and every wider spread too (``non_unique``).

**The certificate** is computed from the returned rewards, in F's own units, never taken
from the solver: the rewards are made feasible (clipped to [0, 1] and made descending),
F(r) is evaluated exactly, and since min(x, T) <= s x + (1 - s) T for every s in [0, 1],

.. math::

    F^* \\le \\max_{y} \\sum_{i<j} w_{ij} [s_{ij} (y_i - y_j - m_{ij}) + (1 - s_{ij}) T]
        = \\text{const} + \\max_k P^{(s)}_k

for any s (a linear majorant of F, maximised at a step vector); s is taken from HiGHS's
dual values (the optimal s makes the bound tight). The gap is that bound minus F(r); it
is certified when gap <= tol * scale with scale = sum_{i<j} w_ij abs(U(r_i - r_j - m_ij)),
positively homogeneous in F like every other certificate.

Uniqueness of a bounded LP answer: two more linear programs over the optimal face
maximise and minimise a fixed generic functional; a positive spread is a face of
maximisers (``non_unique``); a check that does not finish leaves the status ``optimal``
(a certified maximiser) and says that uniqueness was not decided.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.optimize
import scipy.sparse

from collapse_theory.problems.losses import Loss, LossSpecError, lipo_weights, margin_matrix
from collapse_theory.solver.solution import Solution, status_message
from collapse_theory.solver.status import Status

#: Pairs within this many units of the kink take HiGHS's dual slope (its feasibility tolerance, 1e-7, and some).
_KINK = 1e-6

#: The largest n solved as a linear program (n(n-1)/2 epigraph variables).
MAX_LP_N = 400


def _pairs(loss: Loss, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows i, columns j (i < j), the pair weights w_ij and margins m_ij."""
    rows, cols = np.triu_indices(n, 1)
    weights = (lipo_weights(n) if loss.lipo else np.ones((n, n)))[rows, cols]
    margins = margin_matrix(loss, n)[rows, cols]
    return rows, cols, weights, margins


def _pair_gradient(n: int, rows: np.ndarray, cols: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """g = d/dr sum_{i<j} a_ij (r_i - r_j): g_i = sum_j a_ij - sum_j a_ji."""
    gradient = np.zeros(n)
    np.add.at(gradient, rows, coefficients)
    np.add.at(gradient, cols, -coefficients)
    return gradient


def _step_maximum(gradient: np.ndarray) -> tuple[float, np.ndarray]:
    """max_k P_k over the step vectors (P_0 = 0) and the prefix sums P."""
    prefix = np.concatenate([[0.0], np.cumsum(gradient)])
    return float(prefix.max()), prefix


def feasible(rewards: np.ndarray, free: bool) -> np.ndarray:
    """The nearest ordered point a solver's answer rounds to: descending, and in [0, 1] when bounded."""
    r = np.asarray(rewards, dtype=np.float64)
    if not free:
        r = np.clip(r, 0.0, 1.0)
    return np.minimum.accumulate(r)


def min_linear_value(loss: Loss, rewards: np.ndarray) -> tuple[float, float]:
    """F(r) = sum w_ij min(r_i - r_j - m_ij, T) and the scale sum w_ij abs(min(...)), in numpy."""
    n = rewards.shape[0]
    rows, cols, weights, margins = _pairs(loss, n)
    limit = float(loss.parameter or 0.0)
    terms = weights * np.minimum(rewards[rows] - rewards[cols] - margins, limit)
    return math.fsum(terms.tolist()), math.fsum(np.abs(terms).tolist())


def min_linear_bound(loss: Loss, n: int, slopes: np.ndarray) -> float:
    """The linear majorant's maximum over the ordered box, for slopes s_ij clipped to [0, 1] (module docstring)."""
    rows, cols, weights, margins = _pairs(loss, n)
    s = np.clip(np.nan_to_num(slopes, nan=1.0), 0.0, 1.0)
    limit = float(loss.parameter or 0.0)
    constant = math.fsum((weights * ((1.0 - s) * limit - s * margins)).tolist())
    best, _ = _step_maximum(_pair_gradient(n, rows, cols, weights * s))
    return constant + best


def _solution(loss: Loss, n: int, started: float, **fields: Any) -> Any:
    common: dict[str, Any] = {"loss": loss.spec, "utility": loss.objective_spec, "n": n, "direction": None}
    return Solution(**common, **fields, seconds=time.perf_counter() - started)


def _failed(loss: Loss, n: int, started: float, iterations: int, why: str) -> Any:
    return _solution(
        loss, n, started, status=Status.FAILED, rewards=None, objective=None, gap=None, scale=None,
         iterations=iterations, message=status_message(Status.FAILED, why),
    )  # fmt: skip


def solve_linear_program(loss: Loss, n: int, *, tol: float, started: float) -> Any:
    """Solve a piecewise-linear loss; a certified :class:`~collapse_theory.solver.loss_solver.Solution`."""
    if loss.objective != "min-linear":
        return _solve_affine(loss, n, started)
    if loss.free:
        return _solve_free_min_linear(loss, n, tol, started)
    return _solve_bounded_min_linear(loss, n, tol, started)


def _solve_affine(loss: Loss, n: int, started: float) -> Any:
    assert loss.utility is not None and not loss.free
    slope = float(loss.utility(1.0) - loss.utility(0.5)) * 2.0  # U(x) = a x + b
    offset = float(loss.utility(1.0)) - slope
    rows, cols, weights, margins = _pairs(loss, n)
    # in units of the largest weight (LiPO's grow like 2^n): the argmax is scale-free
    unit = float(weights.max())
    gradient = _pair_gradient(n, rows, cols, slope * weights / unit)
    best, prefix = _step_maximum(gradient)
    constant = math.fsum((weights / unit * (offset - slope * margins)).tolist())
    # rounding of the prefix sums: k eps sum abs(g) at most
    rounding = 4.0 * (n + 1) * np.finfo(np.float64).eps * float(np.abs(gradient).sum())
    ties = np.flatnonzero(prefix >= best - rounding)
    k = int(np.argmax(prefix))
    rewards = np.where(np.arange(n) < k, 1.0, 0.0)
    objective = unit * (constant + best)
    scale = unit * (float(np.abs(gradient).sum()) + abs(constant))
    if not (math.isfinite(objective) and math.isfinite(scale)):
        return _failed(loss, n, started, 0, "F at the best step vector overflows float64")
    if ties.size > 1:
        status = Status.NON_UNIQUE
        what = "the step vectors with " + ", ".join(str(int(t)) for t in ties) + " ones tie; their hull is the face"
    else:
        status = Status.OPTIMAL
        second = float(np.max(np.delete(prefix, k))) if n >= 1 else -math.inf
        what = f"the best step vector ({k} ones) beats the next by {unit * (best - second):.6g}"
    return _solution(
        loss, n, started, status=status, rewards=rewards, objective=objective, gap=0.0, scale=scale,
         iterations=0,
        message=status_message(status, f"F is linear in r: the maximum over the step vectors, exact; {what}"),
        details={"face_spread": 0.0 if ties.size == 1 else math.inf},
    )  # fmt: skip


def _solve_free_min_linear(loss: Loss, n: int, tol: float, started: float) -> Any:
    limit = float(loss.parameter or 0.0)
    step = limit + loss.margin + loss.rank_margin
    rewards = step * ((n - 1) / 2.0 - np.arange(n))
    objective, scale = min_linear_value(loss, rewards)
    _, _, weights, _ = _pairs(loss, n)
    bound = limit * math.fsum(weights.tolist())  # min(x, T) <= T
    gap = max(0.0, bound - objective)
    certified = math.isfinite(gap) and gap <= tol * scale
    status = Status.NON_UNIQUE if certified else Status.NOT_CONVERGED
    why = (
        f"F <= T sum w_ij, attained when every r_i - r_j - m_ij >= T: adjacent gaps {step:.6g} are reported (mean 0), "
        "and every wider spread is optimal too"
    )
    return _solution(
        loss, n, started, status=status, rewards=rewards, objective=objective, gap=gap, scale=scale,
         iterations=0, message=status_message(status, why), details={"face_spread": math.inf},
    )  # fmt: skip


def _system(loss: Loss, n: int, unit: float) -> tuple[np.ndarray, Any, np.ndarray, list[tuple[float, float]], float]:
    """The bounded LP in units r = unit r', weights over their largest: cost, A_ub, b_ub, bounds, weight unit."""
    rows, cols, weights, margins = _pairs(loss, n)
    pairs = rows.shape[0]
    order_rows = np.arange(n - 1)
    # r'_{k+1} - r'_k <= 0
    order = scipy.sparse.coo_matrix(
        (
            np.concatenate([-np.ones(n - 1), np.ones(n - 1)]),
            (np.concatenate([order_rows, order_rows]), np.concatenate([order_rows, order_rows + 1])),
        ),
        shape=(n - 1, n),
    )
    # t'_ij - r'_i + r'_j <= -m_ij / unit
    index = np.arange(pairs)
    epigraph = scipy.sparse.coo_matrix(
        (
            np.concatenate([-np.ones(pairs), np.ones(pairs), np.ones(pairs)]),
            (np.concatenate([index, index, index]), np.concatenate([rows, cols, n + index])),
        ),
        shape=(pairs, n + pairs),
    )
    matrix = scipy.sparse.vstack([scipy.sparse.hstack([order, scipy.sparse.csr_matrix((n - 1, pairs))]), epigraph]).tocsr()
    scaled_margins = margins / unit
    upper = np.concatenate([np.zeros(n - 1), -scaled_margins])
    weight_unit = float(weights.max())
    cost = np.concatenate([np.zeros(n), -weights / weight_unit])
    limit = float(loss.parameter or 0.0) / unit
    # t' >= -m'_ij: at an optimum t' = min(r'_i - r'_j - m'_ij, T') and r'_i >= r'_j, so the bound cuts nothing
    bounds = [(0.0, 1.0 / unit)] * n + [(float(-m), limit) for m in scaled_margins]
    return cost, matrix, upper, bounds, weight_unit


def _solve_bounded_min_linear(loss: Loss, n: int, tol: float, started: float) -> Any:
    if n > MAX_LP_N:
        raise LossSpecError(f"loss {loss.spec!r}: linear programs are limited to n <= {MAX_LP_N} (got {n})")
    limit = float(loss.parameter or 0.0)
    unit = min(limit, 1.0)
    cost, matrix, upper, bounds, _ = _system(loss, n, unit)
    result = scipy.optimize.linprog(cost, A_ub=matrix, b_ub=upper, bounds=bounds, method="highs")
    iterations = int(getattr(result, "nit", 0) or 0)
    if result.status != 0 or result.x is None:
        return _failed(loss, n, started, iterations, f"HiGHS: {result.message}")
    rewards = feasible(unit * np.asarray(result.x[:n], dtype=np.float64), free=False)
    objective, scale = min_linear_value(loss, rewards)
    # s_ij = HiGHS's dual value of t_ij <= r_i - r_j - m_ij over the pair's (normalised) weight
    pairs = n * (n - 1) // 2
    marginals = np.asarray(result.ineqlin.marginals, dtype=np.float64)[n - 1 :]
    rows, cols, weights, margins = _pairs(loss, n)
    slopes = -marginals / (weights / float(weights.max())) if pairs else np.zeros(0)
    # off the kink the tight slope is known (1 below T, 0 above); HiGHS's duals decide only at it
    x = rewards[rows] - rewards[cols] - margins
    slopes = np.where(x < limit - _KINK * unit, 1.0, np.where(x > limit + _KINK * unit, 0.0, slopes))
    bound = min_linear_bound(loss, n, slopes)
    gap = max(0.0, bound - objective) if math.isfinite(bound) else math.inf
    certified = math.isfinite(objective) and gap <= tol * scale
    if not certified:
        status = Status.NOT_CONVERGED
        what = f"the linear majorant from HiGHS's duals leaves a gap {gap:.3g} above tol * scale = {tol * scale:.3g}"
        spread = math.nan
    else:
        spread = _face_spread(cost, matrix, upper, bounds, float(result.fun), n)
        if math.isnan(spread):
            status = Status.OPTIMAL
            what = "certified; whether the maximiser is unique was not decided (the face's linear programs did not finish)"
        elif spread <= 1e-7 * max(1.0, float(np.abs(_generic(n)).sum())):
            status = Status.OPTIMAL
            what = "the maximiser is a vertex"
        else:
            status = Status.NON_UNIQUE
            what = f"a face of maximisers: a generic linear functional of r / {unit:.6g} spreads by {spread:.6g} over it"
    return _solution(
        loss, n, started, status=status, rewards=rewards, objective=objective, gap=gap, scale=scale,
         iterations=iterations,
        message=status_message(status, f"linear program, HiGHS; certificate: a linear majorant of F; {what}"),
        details={"face_spread": spread},
    )  # fmt: skip


def _generic(n: int) -> np.ndarray:
    return np.sin(np.arange(1, n + 1) * 1.2345)


def _face_spread(cost: np.ndarray, matrix: Any, upper: np.ndarray, bounds: list[Any], optimum: float, n: int) -> float:
    """max - min of a generic functional of r' over the optimal face (objective within a relative 1e-9); NaN: undecided."""
    generic = _generic(n)
    face = scipy.sparse.vstack([matrix, scipy.sparse.csr_matrix(cost[None, :])]).tocsr()
    face_upper = np.concatenate([upper, [optimum + 1e-9 * max(1.0, abs(optimum))]])
    padded = np.concatenate([generic, np.zeros(cost.shape[0] - n)])
    low = scipy.optimize.linprog(padded, A_ub=face, b_ub=face_upper, bounds=bounds, method="highs")
    high = scipy.optimize.linprog(-padded, A_ub=face, b_ub=face_upper, bounds=bounds, method="highs")
    if low.status != 0 or high.status != 0:
        return math.nan
    spread = float(-high.fun - low.fun)
    return spread if math.isfinite(spread) else math.nan
