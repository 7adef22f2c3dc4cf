"""Piecewise-linear losses as linear programs (HiGHS through ``scipy.optimize.linprog``).

A kinked concave U such as ``min-linear:T``, U(x) = min(x, T), makes Newton's method
stall at the kink (``explore`` of min(x, 0.3) ends not converged). With one epigraph
variable per pair the problem is a linear program, solved exactly:

.. math::

    \\max \\sum_{i<j} w_{ij} t_{ij} \\quad \\text{s.t.} \\quad
    t_{ij} \\le r_i - r_j - m_{ij}, \\; t_{ij} \\le T, \\; r_1 \\ge \\dots \\ge r_n

(bounded: 0 <= r <= 1; free: sum r = 0, which removes the common shift). An affine U
(``linear``) with margins or weights needs no t: its objective is linear in r.

Uniqueness is checked by two more linear programs over the optimal face (objective
held within 1e-9 of the optimum): they maximise and minimise a fixed generic linear
functional; a positive spread means a face of maximisers (``non-unique``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.optimize
import scipy.sparse

from collapse_theory.losses import Loss, lipo_weights, margin_matrix

#: The largest n solved as a linear program (n(n-1)/2 epigraph variables).
MAX_LP_N = 400


def _system(
    loss: Loss, n: int
) -> tuple[np.ndarray, Any, np.ndarray, Any, np.ndarray, list[tuple[float | None, float | None]], float]:
    rows, cols = np.triu_indices(n, 1)
    weights = (lipo_weights(n) if loss.lipo else np.ones((n, n)))[rows, cols]
    margins = margin_matrix(loss, n)[rows, cols]
    pairs = rows.shape[0]
    order_rows = np.arange(n - 1)
    # r_{k+1} - r_k <= 0
    order = scipy.sparse.coo_matrix(
        (
            np.concatenate([-np.ones(n - 1), np.ones(n - 1)]),
            (np.concatenate([order_rows, order_rows]), np.concatenate([order_rows, order_rows + 1])),
        ),
        shape=(n - 1, n),
    )
    bounds: list[tuple[float | None, float | None]] = [(0.0, 1.0) if not loss.free else (None, None)] * n
    if loss.objective == "min-linear":
        limit = float(loss.parameter or 0.0)
        # t_ij - r_i + r_j <= -m_ij
        index = np.arange(pairs)
        epigraph = scipy.sparse.coo_matrix(
            (
                np.concatenate([-np.ones(pairs), np.ones(pairs), np.ones(pairs)]),
                (np.concatenate([index, index, index]), np.concatenate([rows, cols, n + index])),
            ),
            shape=(pairs, n + pairs),
        )
        matrix = scipy.sparse.vstack([scipy.sparse.hstack([order, scipy.sparse.csr_matrix((n - 1, pairs))]), epigraph]).tocsr()
        upper = np.concatenate([np.zeros(n - 1), -margins])
        cost = np.concatenate([np.zeros(n), -weights])
        bounds = bounds + [(None, limit)] * pairs
        constant = 0.0
    else:
        assert loss.utility is not None
        slope = float(loss.utility(1.0) - loss.utility(0.5)) * 2.0  # U(x) = a x + b
        offset = float(loss.utility(1.0)) - slope
        gradient = np.zeros(n)
        np.add.at(gradient, rows, slope * weights)
        np.add.at(gradient, cols, -slope * weights)
        matrix, upper, cost = order.tocsr(), np.zeros(n - 1), -gradient
        constant = float(np.sum(weights * (offset - slope * margins)))
    equality = None
    if loss.free:
        equality = np.concatenate([np.ones(n), np.zeros(cost.shape[0] - n)])[None, :]
    return cost, matrix, upper, equality, np.zeros(1), bounds, constant


def solve_linear_program(loss: Loss, n: int, *, tol: float, started: float) -> Any:
    """Solve a piecewise-linear loss exactly; a :class:`~collapse_theory.loss_solver.LossSolution`."""
    from collapse_theory.loss_solver import LossSolution, LossSpecError, LossStatus, unbounded_direction

    if n > MAX_LP_N:
        raise LossSpecError(f"loss {loss.spec!r}: linear programs are limited to n <= {MAX_LP_N} (got {n})")
    cost, matrix, upper, equality, zero, bounds, constant = _system(loss, n)
    eq = {} if equality is None else {"A_eq": equality, "b_eq": zero}
    result = scipy.optimize.linprog(cost, A_ub=matrix, b_ub=upper, bounds=bounds, method="highs", **eq)
    elapsed = lambda: time.perf_counter() - started  # noqa: E731
    common: dict[str, Any] = {"loss": loss.spec, "utility": loss.objective_spec, "n": n, "scale": None}
    if result.status == 3:
        return LossSolution(
            **common, status=LossStatus.UNBOUNDED, rewards=None, direction=unbounded_direction(loss, n), objective=None,
            gap=None, certified=True, converged=True, iterations=int(result.nit), seconds=elapsed(),
            message=f"{LossStatus.UNBOUNDED.message} (HiGHS: the linear program is unbounded)",
        )  # fmt: skip
    if result.status != 0:
        return LossSolution(
            **common, status=LossStatus.FAILED, rewards=None, direction=None, objective=None, gap=None, certified=False,
            converged=False, iterations=int(result.nit), seconds=elapsed(), message=f"failed (HiGHS: {result.message})",
        )  # fmt: skip
    optimum = -float(result.fun)
    rewards = np.asarray(result.x[:n], dtype=np.float64)
    # the optimal face: objective within a relative 1e-9; spread of a generic functional over it
    generic = np.sin(np.arange(1, n + 1) * 1.2345)
    face = scipy.sparse.vstack([matrix, scipy.sparse.csr_matrix(cost[None, :])]).tocsr()
    face_upper = np.concatenate([upper, [float(result.fun) + 1e-9 * max(1.0, abs(optimum))]])
    padded = np.concatenate([generic, np.zeros(cost.shape[0] - n)])
    low = scipy.optimize.linprog(padded, A_ub=face, b_ub=face_upper, bounds=bounds, method="highs", **eq)
    high = scipy.optimize.linprog(-padded, A_ub=face, b_ub=face_upper, bounds=bounds, method="highs", **eq)
    if low.status == 3 or high.status == 3:  # the face itself is unbounded (free rewards spreading)
        spread = float("inf")
    else:
        spread = float(-high.fun - low.fun) if low.status == 0 and high.status == 0 else float("nan")
    unique = spread <= 1e-7 * max(1.0, float(np.abs(generic).sum()))
    status = LossStatus.OPTIMAL if unique else LossStatus.NON_UNIQUE
    what = "the maximiser is a vertex" if unique else (
        f"a face of maximisers: a generic linear functional of r spreads by {spread:.6g} over it"
        + ("; the common shift is fixed by sum r = 0" if loss.free else "")
    )  # fmt: skip
    return LossSolution(
        **common, status=status, rewards=rewards, direction=None, objective=optimum + constant, gap=0.0, certified=True,
        converged=True, iterations=int(result.nit), seconds=elapsed(),
        message=f"{status.message} (linear program, HiGHS optimal; {what})",
        details={"face_spread": spread},
    )  # fmt: skip
