"""A shared zoo of test problems and independent oracles for the core tests.

Everything here is computed without the code under test: utilities and their
derivatives are written out in NumPy from their formulas, the ranking objective
and the Frank-Wolfe gap are summed pair by pair, and :func:`reference_optimum`
solves the interpolating-regime problem with :mod:`scipy.optimize` on its own
parameterisation (the gaps between consecutive rewards), so agreeing with it is
evidence, not a tautology.

Problem (Song, Cai, Lee, Su, arXiv 2305.17608, eq. (3.2)):

.. math::

    \\max_r S(r) = \\sum_{i<j} U(r_i - r_j), \\qquad 1 \\ge r_1 \\ge \\dots \\ge r_n \\ge 0 .
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
import scipy.optimize
import scipy.special

from collapse_theory.problems.utilities import Utility
from collapse_theory.solver.utility_solver import Solution, solve

NumpyFunction = Callable[[np.ndarray], np.ndarray]

#: Every built-in family, some at several parameters (spec strings).
BUILT_IN_SPECS = (
    "linear",
    "power:0.25",
    "power:0.5",
    "power:0.75",
    "log",
    "neg-power:0.5",
    "neg-power:1",
    "neg-power:2",
    "log-sigmoid:1",
    "log-sigmoid:4",
    "exp:1",
    "exp:4",
    "square",
)
#: The concave built-ins (all but ``square``).
CONCAVE_SPECS = tuple(spec for spec in BUILT_IN_SPECS if spec != "square")


class NumpyUtility(NamedTuple):
    """U and its first two derivatives on x > 0, in NumPy (independent of JAX)."""

    value: NumpyFunction
    first: NumpyFunction
    second: NumpyFunction


def numpy_utility(spec: str) -> NumpyUtility:
    """The NumPy formulas of a built-in spec (the test's own transcription of issue 2)."""
    family, _, argument = spec.partition(":")
    p = float(argument) if argument else float("nan")
    if family == "linear":
        return NumpyUtility(lambda x: x, np.ones_like, np.zeros_like)
    if family == "power":
        return NumpyUtility(lambda x: x**p, lambda x: p * x ** (p - 1), lambda x: p * (p - 1) * x ** (p - 2))
    if family == "log":
        return NumpyUtility(np.log, lambda x: 1 / x, lambda x: -1 / x**2)
    if family == "neg-power":
        return NumpyUtility(lambda x: -(x ** (-p)), lambda x: p * x ** (-p - 1), lambda x: -p * (p + 1) * x ** (-p - 2))
    if family == "log-sigmoid":
        # log sigmoid(Bx) = -log(1 + exp(-Bx)); derivative B sigmoid(-Bx)
        return NumpyUtility(
            lambda x: -np.logaddexp(0.0, -p * x),
            lambda x: p * scipy.special.expit(-p * x),
            lambda x: -(p**2) * scipy.special.expit(p * x) * scipy.special.expit(-p * x),
        )
    if family == "exp":
        return NumpyUtility(lambda x: -np.expm1(-p * x), lambda x: p * np.exp(-p * x), lambda x: -(p**2) * np.exp(-p * x))
    if family == "square":
        return NumpyUtility(lambda x: x * x, lambda x: 2 * x, lambda x: 2 * np.ones_like(x))
    raise ValueError(f"no NumPy formula for {spec!r}")


# --- a random concave family for the certificate properties -------------------------


def mixture_function(x: Any, p: Any) -> Any:
    """U(x) = a log x + b x^G + c (1 - exp(-B x)) for x >= t, NaN below t; p = (a, b, c, G, B, t), in JAX.

    A module-level function (not a fresh lambda per example) so that every
    hypothesis example reuses one compiled solver and only the parameters change.
    The NaN region (t > 0) makes a utility that is undefined on part of (0, 1]
    without another compilation; t = 0 leaves the mixture itself.
    """
    a, b, c, gamma, beta, t = p[0], p[1], p[2], p[3], p[4], p[5]
    return jnp.where(x >= t, a * jnp.log(x) + b * x**gamma + c * (-jnp.expm1(-beta * x)), jnp.nan)


def mixture_utility(a: float, b: float, c: float, gamma: float, beta: float, nan_below: float = 0.0) -> Utility:
    """The concave mixture as a :class:`Utility` (singular at 0 when a + b > 0)."""
    return Utility("mixture", (a, b, c, gamma, beta, nan_below), mixture_function, concave=True, singular=True)


def numpy_mixture(a: float, b: float, c: float, gamma: float, beta: float) -> NumpyUtility:
    """The mixture and its derivatives in NumPy."""
    return NumpyUtility(
        lambda x: a * np.log(x) + b * x**gamma - c * np.expm1(-beta * x),
        lambda x: a / x + b * gamma * x ** (gamma - 1) + c * beta * np.exp(-beta * x),
        lambda x: -a / x**2 + b * gamma * (gamma - 1) * x ** (gamma - 2) - c * beta**2 * np.exp(-beta * x),
    )


# --- the objective, its gradient and the Frank-Wolfe gap, pair by pair ---------------


def pair_differences(rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices i < j and the differences r_i - r_j over all ranked pairs."""
    i, j = np.triu_indices(len(rewards), k=1)
    return i, j, rewards[i] - rewards[j]


def objective(rewards: np.ndarray, utility: NumpyUtility) -> float:
    """S(r) = sum_{i<j} U(r_i - r_j), summed with math.fsum-like accuracy (np.sum pairwise)."""
    _, _, differences = pair_differences(np.asarray(rewards, dtype=np.float64))
    return float(np.sum(utility.value(differences)))


def gradient(rewards: np.ndarray, utility: NumpyUtility) -> np.ndarray:
    """dS/dr_k = sum_{j>k} U'(r_k - r_j) - sum_{i<k} U'(r_i - r_k)."""
    r = np.asarray(rewards, dtype=np.float64)
    i, j, differences = pair_differences(r)
    slopes = utility.first(differences)
    return np.bincount(i, slopes, minlength=len(r)) - np.bincount(j, slopes, minlength=len(r))


def hessian(rewards: np.ndarray, utility: NumpyUtility) -> np.ndarray:
    """d^2S/dr^2: the graph Laplacian with edge weights U''(r_i - r_j)."""
    r = np.asarray(rewards, dtype=np.float64)
    i, j, differences = pair_differences(r)
    curvature = utility.second(differences)
    matrix = np.zeros((len(r), len(r)))
    matrix[i, j] = matrix[j, i] = -curvature
    matrix[np.diag_indices(len(r))] = -matrix.sum(axis=1)
    return matrix


def step_vector(n: int, k: int) -> np.ndarray:
    """e_k = (1, ..., 1, 0, ..., 0) with k ones: the vertices of the feasible set."""
    return np.concatenate([np.ones(k), np.zeros(n - k)])


def frank_wolfe_gap(rewards: np.ndarray, utility: NumpyUtility) -> float:
    """max_k <grad S(r), e_k - r> by direct enumeration of the n + 1 vertices."""
    r = np.asarray(rewards, dtype=np.float64)
    g = gradient(r, utility)
    return max(float(np.dot(g, step_vector(len(r), k) - r)) for k in range(len(r) + 1))


# --- an independent high-accuracy solve ----------------------------------------------


class Reference(NamedTuple):
    """An optimum found by scipy.optimize, with its own certificate."""

    rewards: np.ndarray
    objective: float
    gap: float  # Frank-Wolfe gap (numpy, by enumeration): S* - objective <= gap


def _rewards_from_gaps(gaps: np.ndarray) -> np.ndarray:
    """r_k = sum_{j>=k} d_j with r_1 = sum d = 1 and r_n = 0."""
    return np.concatenate([np.cumsum(gaps[::-1])[::-1], [0.0]])


def reference_optimum(utility: NumpyUtility, n: int) -> Reference:
    """Maximise S with scipy for a concave U with U'(0+) = inf (no ties at the optimum).

    Independent of the solver under test: U strictly increasing puts r_1 = 1 and
    r_n = 0, and U'(0+) = inf keeps every gap d_k = r_k - r_{k+1} positive, so the
    optimum is the unique stationary point of S over the open simplex of gaps.
    Stage 1 runs BFGS on d = softmax(z) (every z is strictly feasible); stage 2
    polishes the stationarity conditions dS/dr_k = 0 (k = 2..n-1) with MINPACK's
    hybrid Newton method (``scipy.optimize.root``) and the exact Hessian, which
    converges quadratically. The result carries its own Frank-Wolfe gap.
    """
    if n == 2:
        rewards = np.array([1.0, 0.0])
        return Reference(rewards, objective(rewards, utility), frank_wolfe_gap(rewards, utility))

    def negative_objective(z: np.ndarray) -> tuple[float, np.ndarray]:
        gaps = scipy.special.softmax(np.concatenate([z, [0.0]]))
        r = _rewards_from_gaps(gaps)
        g = gradient(r, utility)
        gap_gradient = np.cumsum(g)[:-1]  # dS/dd_k = sum_{i<=k} dS/dr_i
        z_gradient = gaps * (gap_gradient - np.dot(gap_gradient, gaps))
        return -objective(r, utility), -z_gradient[:-1]

    start = np.zeros(n - 2)
    stage1 = scipy.optimize.minimize(negative_objective, start, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000})
    rough = _rewards_from_gaps(scipy.special.softmax(np.concatenate([stage1.x, [0.0]])))

    def stationarity(interior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = np.concatenate([[1.0], interior, [0.0]])
        return gradient(r, utility)[1:-1], hessian(r, utility)[1:-1, 1:-1]

    stage2 = scipy.optimize.root(stationarity, rough[1:-1], jac=True, method="hybr", options={"xtol": 1e-15})
    rewards = np.concatenate([[1.0], stage2.x, [0.0]])
    if not (np.all(np.diff(rewards) < 0) and np.all(np.isfinite(rewards))):
        raise AssertionError(f"reference solve left the feasible set: {stage2.message}")
    return Reference(rewards, objective(rewards, utility), frank_wolfe_gap(rewards, utility))


# --- solutions shared between test files ---------------------------------------------


@functools.cache
def solved(spec: str, n: int) -> Solution:
    """``solve(spec, n)``, cached: several claims are checked on one solution."""
    return solve(spec, n)


def relative_tolerance(value: float, tol: float = 1e-10) -> float:
    """The solver's stopping rule, tol * max(1, |S|) (issue 2, item 3)."""
    return tol * max(1.0, abs(value))


def run_cli(capsys: Any, *arguments: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``collapse-theory ARGUMENTS`` run in-process."""
    from collapse_theory.cli import main

    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(err: str) -> str:
    """The one line a command wrote to stderr, checked to be a ``collapse-theory ... error:`` line."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("collapse-theory") and "error:" in lines[0]
    return lines[0]
