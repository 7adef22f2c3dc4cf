"""max w^T K w over the probability simplex, certified (private to numerical_laws)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg


@dataclass(frozen=True)
class DiscreteOptimum:
    weights: np.ndarray
    energy: float
    gap: float


def crossover(matrix: np.ndarray, weights: np.ndarray, tol: float) -> DiscreteOptimum | None:
    """The exact discrete optimum on the support the barrier path points to, if it checks out.

    On the central path w_i (lambda - P_i) ~ mu / 2 for every i (P = K w): the support is
    where the mass exceeds that slack. There the optimality conditions are linear,
    K_SS w_S = lambda 1, sum w_S = 1; the answer is accepted only if it is non-negative and
    no potential off the support exceeds lambda (the discrete Euler-Lagrange condition).
    """
    potential = matrix @ weights
    slack = np.maximum(potential.max() - potential, 0.0)
    support = np.flatnonzero(weights > slack)
    size = support.size
    system = np.zeros((size + 1, size + 1))
    system[:size, :size] = matrix[np.ix_(support, support)]
    system[:size, size] = -1.0
    system[size, :size] = 1.0
    right = np.zeros(size + 1)
    right[size] = 1.0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            solution = scipy.linalg.solve(system, right, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        return None
    if not np.all(np.isfinite(solution)) or np.any(solution[:size] < 0.0):
        return None
    candidate = np.zeros_like(weights)
    candidate[support] = solution[:size]
    potential = matrix @ candidate
    energy = float(candidate @ potential)
    gap = float(2.0 * (potential.max() - energy))
    if gap > tol * max(1.0, abs(energy)):
        return None
    return DiscreteOptimum(candidate, energy, gap)


def maximise_energy(matrix: np.ndarray, start: np.ndarray, tol: float, max_steps: int = 200) -> DiscreteOptimum:
    """max w^T K w over the simplex, by a primal log-barrier Newton method with a crossover.

    Not the solver's interior-point code (:mod:`collapse_theory.solver._interior_point`): that one
    works on ordered rewards, whose Hessian is a weighted graph Laplacian built from U''
    pair by pair; this is a dense quadratic over a simplex with one equality constraint,
    whose barrier system is bordered, and whose optimum is found exactly by the crossover.
    Sharing the code would mean a generic QP layer neither problem needs.

    Newton steps are taken in affine-scaled variables w = diag(w_k) v, where the barrier
    Hessian is mu * I, which keeps the system well conditioned when masses span many
    orders of magnitude; the step solves the bordered system of the constraint sum w = 1.
    Once the path is close, :func:`crossover` solves the optimality conditions on the
    support exactly (an interior-point method with an active-set finish, as in
    commercial QP solvers), which saves the long tail of barrier steps.
    """
    weights = start / start.sum()
    size = weights.size
    potential = matrix @ weights
    energy = float(weights @ potential)
    scale = max(1.0, abs(energy))
    mu = max(float(2.0 * (potential.max() - energy)), 1e-3 * scale) / size
    system = np.zeros((size + 1, size + 1))

    def barrier(w: np.ndarray) -> float:
        return float(w @ (matrix @ w) + mu * np.sum(np.log(w)))

    for _ in range(max_steps):
        potential = matrix @ weights
        energy = float(weights @ potential)
        gap = float(2.0 * (potential.max() - energy))
        if gap <= tol * max(1.0, abs(energy)) and mu <= 1e-3 * tol * scale / size:
            break
        gradient = weights * (2.0 * potential) + mu  # D (2 K w + mu / w)
        system[:size, :size] = 2.0 * matrix * weights[:, None] * weights[None, :]
        system[np.diag_indices(size)] -= mu
        system[:size, size] = weights
        system[size, :size] = weights
        system[size, size] = 0.0
        with warnings.catch_warnings():
            # inactive masses shrink towards 0, and with them their scaled rows: the system is
            # nearly singular in those rows by design; the -mu I term keeps it solvable
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            solution = scipy.linalg.solve(system, np.concatenate([-gradient, [0.0]]), assume_a="sym", check_finite=False)
        step = weights * solution[:size]
        decrement = float(-(solution[:size] @ (system[:size, :size] @ solution[:size])))
        shrinking = step < 0
        alpha = min(1.0, 0.99 * float(np.min(-weights[shrinking] / step[shrinking]))) if np.any(shrinking) else 1.0
        current = barrier(weights)
        while alpha > 1e-14 and not barrier(weights + alpha * step) >= current - 1e-15 * abs(current):
            alpha *= 0.5
        if alpha > 1e-14:
            weights = weights + alpha * step
            weights = weights / weights.sum()
        if decrement <= 0.1 * mu * size or alpha <= 1e-14:
            if mu <= 1e-6 * scale / size:
                exact = crossover(matrix, weights, tol)
                if exact is not None:
                    return exact
            mu = max(0.1 * mu, 1e-4 * tol * scale / size)
    potential = matrix @ weights
    energy = float(weights @ potential)
    return DiscreteOptimum(weights, energy, float(2.0 * (potential.max() - energy)))
