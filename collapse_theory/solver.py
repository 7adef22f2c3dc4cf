"""The interpolating-regime solver: optimal rewards for one prompt, certified.

Problem (Song, Cai, Lee, Su, arXiv 2305.17608, eq. (3.2)):

.. math::

    \\max_r \\; S(r) = \\sum_{1 \\le i < j \\le n} U(r_i - r_j)
    \\quad \\text{s.t.} \\quad 1 \\ge r_1 \\ge r_2 \\ge \\dots \\ge r_n \\ge 0 .

**Certificate.** The feasible set is the convex hull of the n + 1 step vectors
:math:`e_k = (1,\\dots,1,0,\\dots,0)` (k ones). For concave S and any feasible r
with gradient g, concavity gives :math:`S^* - S(r) \\le \\max_k \\langle g, e_k - r\\rangle
= \\max_k G_k - \\langle g, r \\rangle` with prefix sums :math:`G_k = \\sum_{i \\le k} g_i`
(the Frank-Wolfe gap). Writing :math:`r = \\sum_k d_k e_k` with the gaps
:math:`d_k = r_k - r_{k+1} \\ge 0`, :math:`\\sum_k d_k = 1`, the gap is
:math:`\\sum_k d_k (\\max_j G_j - G_k)`, a sum of non-negative terms that we
evaluate without cancellation.

**Symmetry.** S is invariant under :math:`r \\mapsto 1 - \\mathrm{reverse}(r)`; for
concave S the average of an optimum and its reflection is optimal, so a
symmetric optimum :math:`r_i + r_{n+1-i} = 1` always exists. The solver works on
the top half in the coordinates :math:`y_i = 1 - r_i` (distance from the top),
which halves the work (the Newton system shrinks 2x, its factorisation 8x) and
keeps rewards that cluster at 0 or 1 accurate to their own size. For odd n the
middle reward is 1/2; for ``linear`` with odd n, where the middle reward is not
unique, this is the symmetric choice.

**Method.** A primal log-barrier path-following Newton method on the order
constraints :math:`y_1 \\ge 0`, :math:`y_{i+1} \\ge y_i`, :math:`r_m \\ge r_{m+1}`:
ties (active order constraints), which occur for utilities with finite slope at 0
(``linear``, ``log-sigmoid:B``, ``exp:B``), are approached along the central path and
their cost shows up in the certificate. The dense Newton system is built by hand
from U'' (the Hessian of a sum over pairs is a weighted graph Laplacian, O(n^2)
to form; autodiff would need n Hessian-vector products, O(n^3)) and solved by a
Jacobi-scaled Cholesky factorisation. The loop is a ``lax.while_loop``, so many
problems of one family solve in one compiled ``vmap`` call.

Non-concave utilities (``square``, custom ones not declared concave) have no
certificate: the solver compares every step vector (exact for convex U, whose
maximum over a polytope is at a vertex) with a local ascent and marks the
result ``certified=False``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from collapse_theory._precision import float64
from collapse_theory.utilities import Utility, UtilityFunction, family_function, parse_utility

DEFAULT_TOLERANCE = 1e-10
DEFAULT_MAX_ITERATIONS = 400


class SolverInputError(ValueError):
    """Invalid solver input (n < 2, non-integer n, bad tolerance)."""


@dataclass(frozen=True)
class Solution:
    """The optimal rewards of one (utility, n) problem and how far they are trusted.

    Attributes:
        utility: the utility's spec string.
        n: number of ranked completions.
        rewards: float64 array of shape (n,), descending (r_1 is the best-ranked).
        objective: S(rewards).
        gap: Frank-Wolfe gap, an upper bound on S* - S(rewards) when ``certified``.
        iterations: Newton iterations taken.
        converged: ``gap <= tol * max(1, |objective|)`` and everything finite.
        certified: the utility is concave, so ``gap`` bounds the suboptimality.
        message: a human-readable status.
        seconds: wall-clock time of the solve (including compilation on first use).
    """

    utility: str
    n: int
    rewards: np.ndarray
    objective: float
    gap: float
    iterations: int
    converged: bool
    certified: bool
    message: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract of ``collapse-theory solve --format json``."""
        return {
            "utility": self.utility,
            "n": self.n,
            "rewards": [float(r) for r in self.rewards],
            "objective": float(self.objective),
            "gap": float(self.gap),
            "converged": bool(self.converged),
            "certified": bool(self.certified),
            "iterations": int(self.iterations),
            "seconds": float(self.seconds),
            "message": self.message,
        }


def check_n(n: object) -> int:
    """Validate the number of completions: an integer >= 2."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        if isinstance(n, (float, np.floating)) and float(n).is_integer():
            n = int(n)
        else:
            raise SolverInputError(f"n must be an integer >= 2, got {n!r}")
    if int(n) < 2:
        raise SolverInputError(f"n must be an integer >= 2, got {int(n)}")
    return int(n)


# --- the symmetric reduced objective -------------------------------------------------


def _sizes(n: int) -> tuple[int, bool]:
    return n // 2, n % 2 == 1


def _safe(function: UtilityFunction, x: jax.Array, params: jax.Array, mask: jax.Array) -> jax.Array:
    """U on the masked entries, 0 elsewhere, with no NaN leaking into gradients."""
    return jnp.where(mask, function(jnp.where(mask, x, 1.0), params), 0.0)


def _objective(y: jax.Array, params: jax.Array, function: UtilityFunction, odd: bool) -> jax.Array:
    """S at the symmetric rewards with top half r_i = 1 - y_i (i = 1..m)."""
    m = y.shape[0]
    upper = jnp.triu(jnp.ones((m, m), dtype=bool), k=1)
    within = y[None, :] - y[:, None]  # r_i - r_j for top i < j
    across = 1.0 - y[:, None] - y[None, :]  # r_i - r_j for top i, bottom j
    total = 2.0 * jnp.sum(_safe(function, within, params, upper)) + jnp.sum(function(across, params))
    if odd:
        total = total + 2.0 * jnp.sum(function(0.5 - y, params))
    return total


def _derivatives(function: UtilityFunction, params: jax.Array) -> tuple[Any, Any]:
    def first(x: jax.Array) -> jax.Array:
        return jax.grad(lambda t: jnp.sum(function(t, params)))(x)

    def second(x: jax.Array) -> jax.Array:
        return jax.grad(lambda t: jnp.sum(first(t)))(x)

    return first, second


def _hessian(y: jax.Array, params: jax.Array, function: UtilityFunction, odd: bool, surrogate: bool) -> jax.Array:
    """Hessian of the symmetric reduced S, from U'' (see the module docstring).

    With ``surrogate`` the curvature -|U''| replaces U'', a negative definite
    stand-in that gives ascent directions for non-concave utilities.
    """
    m = y.shape[0]
    _, second = _derivatives(function, params)
    off_diagonal = ~jnp.eye(m, dtype=bool)
    distance = jnp.abs(y[None, :] - y[:, None])
    within = jnp.where(off_diagonal, second(jnp.where(off_diagonal, distance, 1.0)), 0.0)
    across = second(1.0 - y[:, None] - y[None, :])
    middle = second(0.5 - y) if odd else jnp.zeros_like(y)
    if surrogate:
        within, across, middle = -jnp.abs(within), -jnp.abs(across), -jnp.abs(middle)
    hessian = 2.0 * (jnp.diag(jnp.sum(within, axis=1)) - within)
    hessian = hessian + 2.0 * across + 2.0 * jnp.diag(jnp.sum(across, axis=1))
    return hessian + 2.0 * jnp.diag(middle)


def _constraints(y: jax.Array, odd: bool) -> jax.Array:
    """The order constraints c(y) >= 0: 1 - r_1, r_i - r_{i+1} (i < m), r_m - r_{m+1}."""
    last = 0.5 - y[-1] if odd else 1.0 - 2.0 * y[-1]
    return jnp.concatenate([y[:1], jnp.diff(y), last[None]])


def _constraint_direction(step: jax.Array, odd: bool) -> jax.Array:
    last = -step[-1] if odd else -2.0 * step[-1]
    return jnp.concatenate([step[:1], jnp.diff(step), last[None]])


def _barrier_hessian(c: jax.Array, mu: jax.Array, odd: bool) -> tuple[jax.Array, jax.Array]:
    """Diagonal and superdiagonal of the (tridiagonal) Hessian of -mu sum log c."""
    w = mu / c**2
    m = c.shape[0] - 1
    last_coefficient = 1.0 if odd else 2.0
    next_coefficient = jnp.where(jnp.arange(m) == m - 1, last_coefficient, 1.0)
    diagonal = w[:-1] + w[1:] * next_coefficient**2
    superdiagonal = -w[1:-1]
    return diagonal, superdiagonal


def frank_wolfe_gap(top_gradient: jax.Array, y: jax.Array, odd: bool) -> jax.Array:
    """Frank-Wolfe gap of the full problem at symmetric rewards.

    ``top_gradient`` is dS/dr_i for the top half; the bottom half is its mirror
    with opposite sign and the middle (odd n) derivative is 0.
    """
    prefix = jnp.concatenate([jnp.zeros(1, y.dtype), jnp.cumsum(top_gradient)])  # G_0..G_m
    best = jnp.max(prefix)
    gaps = _constraints(y, odd)  # d_0..d_m
    weights = jnp.full(gaps.shape, 2.0, y.dtype)
    if not odd:
        weights = weights.at[-1].set(1.0)
    return jnp.sum(weights * gaps * (best - prefix))


class _State(NamedTuple):
    y: jax.Array
    mu: jax.Array
    iteration: jax.Array
    gap: jax.Array
    objective: jax.Array
    stalled: jax.Array


@partial(jax.jit, static_argnames=("function", "n", "max_iterations", "surrogate"))
def _solve_symmetric(
    y0: jax.Array,
    params: jax.Array,
    tol: jax.Array,
    *,
    function: UtilityFunction,
    n: int,
    max_iterations: int,
    surrogate: bool,
) -> _State:
    """Barrier path-following Newton on the symmetric top half (jit, vmap-able)."""
    m, odd = _sizes(n)
    objective = partial(_objective, params=params, function=function, odd=odd)
    gradient = jax.grad(objective)

    def barrier_objective(y: jax.Array, mu: jax.Array) -> jax.Array:
        return objective(y) + mu * jnp.sum(jnp.log(_constraints(y, odd)))

    def certificate(y: jax.Array) -> tuple[jax.Array, jax.Array]:
        value = objective(y)
        return frank_wolfe_gap(-0.5 * gradient(y), y, odd), value

    def newton_step(state: _State) -> _State:
        y, mu = state.y, state.mu
        c = _constraints(y, odd)
        barrier_gradient = jax.grad(lambda v: mu * jnp.sum(jnp.log(_constraints(v, odd))))(y)
        rhs = gradient(y) + barrier_gradient
        diagonal, superdiagonal = _barrier_hessian(c, mu, odd)
        matrix = -_hessian(y, params, function, odd, surrogate)
        matrix = matrix + jnp.diag(diagonal) + jnp.diag(superdiagonal, 1) + jnp.diag(superdiagonal, -1)
        scale = 1.0 / jnp.sqrt(jnp.maximum(jnp.diag(matrix), jnp.finfo(y.dtype).tiny))
        scaled = matrix * scale[:, None] * scale[None, :] + 1e-13 * jnp.eye(m, dtype=y.dtype)
        factor = jax.scipy.linalg.cho_factor(scaled, lower=True)
        step = scale * jax.scipy.linalg.cho_solve(factor, scale * rhs)
        decrement = jnp.dot(rhs, step)
        # fraction to the boundary: keep every order constraint strictly positive
        dc = _constraint_direction(step, odd)
        ratios = jnp.where(dc < 0, -c / jnp.where(dc < 0, dc, -1.0), jnp.inf)
        alpha0 = jnp.minimum(1.0, 0.99 * jnp.min(ratios))
        f0 = barrier_objective(y, mu)
        slack = 1e-14 * jnp.abs(f0)

        def insufficient(alpha: jax.Array) -> jax.Array:
            trial = barrier_objective(y + alpha * step, mu)
            ok = jnp.isfinite(trial) & (trial >= f0 + 0.25 * alpha * decrement - slack)
            return ~ok & (alpha > 1e-12)

        alpha = jax.lax.while_loop(insufficient, lambda a: 0.5 * a, alpha0)
        moved = alpha > 1e-12
        y_new = jnp.where(moved, y + alpha * step, y)
        gap, value = certificate(y_new)
        # leave the current centre once it is well approximated
        centred = (decrement <= 0.1 * mu * (m + 1)) | ~moved
        mu_floor = 1e-3 * tol * jnp.maximum(1.0, jnp.abs(value)) / (m + 1)
        mu_new = jnp.where(centred, jnp.maximum(0.1 * mu, mu_floor), mu)
        stalled = ~moved & (mu <= mu_floor)
        return _State(y_new, mu_new, state.iteration + 1, gap, value, stalled)

    def keep_going(state: _State) -> jax.Array:
        target = tol * jnp.maximum(1.0, jnp.abs(state.objective))
        finite = jnp.isfinite(state.gap) & jnp.all(jnp.isfinite(state.y))
        return (state.gap > target) & finite & (state.iteration < max_iterations) & ~state.stalled

    gap0, value0 = certificate(y0)
    mu0 = jnp.maximum(gap0, 1e-3) / (m + 1)
    start = _State(y0, mu0, jnp.asarray(0), gap0, value0, jnp.asarray(False))
    return jax.lax.while_loop(keep_going, newton_step, start)


def _uniform_start(n: int, dtype: Any) -> np.ndarray:
    m, _ = _sizes(n)
    return ((np.arange(m) + 0.5) / n).astype(dtype)


def _rewards_from_top(y: np.ndarray, n: int) -> np.ndarray:
    _, odd = _sizes(n)
    middle = [0.5] if odd else []
    return np.concatenate([1.0 - y, middle, y[::-1]]).astype(np.float64)


def objective_value(utility: Utility | str, rewards: np.ndarray) -> float:
    """S(r) = sum_{i<j} U(r_i - r_j) for rewards in ranked order (float64, O(n^2)).

    Example:
        >>> objective_value("linear", np.array([1.0, 0.5, 0.0]))
        2.0
    """
    utility = parse_utility(utility)
    with float64():
        r = jnp.asarray(rewards, dtype=jnp.float64)
        n = r.shape[0]
        upper = jnp.triu(jnp.ones((n, n), dtype=bool), k=1)
        value = jnp.sum(_safe(utility.function, r[:, None] - r[None, :], utility.parameter_array, upper))
        return float(value)


def reward_gradient(utility: Utility | str, rewards: np.ndarray) -> np.ndarray:
    """dS/dr at ranked rewards (float64)."""
    utility = parse_utility(utility)
    with float64():
        params = utility.parameter_array

        def total(r: jax.Array) -> jax.Array:
            n = r.shape[0]
            upper = jnp.triu(jnp.ones((n, n), dtype=bool), k=1)
            return jnp.sum(_safe(utility.function, r[:, None] - r[None, :], params, upper))

        return np.asarray(jax.grad(total)(jnp.asarray(rewards, dtype=jnp.float64)))


def certificate_gap(utility: Utility | str, rewards: np.ndarray) -> float:
    """The Frank-Wolfe gap max_k sum_{i<=k} g_i - <g, r> at any feasible rewards.

    An upper bound on S* - S(r) when U is concave. Evaluated as
    sum_k d_k (max_j G_j - G_k) (see the module docstring).
    """
    r = np.asarray(rewards, dtype=np.float64)
    g = reward_gradient(utility, r)
    prefix = np.concatenate([[0.0], np.cumsum(g)])
    gaps = np.concatenate([[1.0 - r[0]], -np.diff(r), [r[-1]]])
    return float(np.sum(gaps * (prefix.max() - prefix)))


def _step_vector_objectives(utility: Utility, n: int) -> np.ndarray:
    """S(e_k) for k = 0..n: k(n-k) U(1) + (C(k,2) + C(n-k,2)) U(0)."""
    with float64():
        params = utility.parameter_array
        u1 = float(utility.function(jnp.asarray(1.0), params))
        u0 = float(utility.function(jnp.asarray(0.0), params))
    k = np.arange(n + 1, dtype=np.float64)
    ties = k * (k - 1) / 2 + (n - k) * (n - k - 1) / 2
    with np.errstate(invalid="ignore"):
        tie_value = np.where(ties > 0, ties * u0, 0.0)
    return k * (n - k) * u1 + tie_value


def solve(
    utility: Utility | str,
    n: int,
    *,
    tol: float = DEFAULT_TOLERANCE,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
) -> Solution:
    """Optimal rewards of the interpolating-regime problem, with a certificate.

    Args:
        utility: a :class:`Utility` or a spec string such as ``"log"``.
        n: number of ranked completions (>= 2).
        tol: stop when the Frank-Wolfe gap <= ``tol * max(1, |S|)``.
        max_iterations: Newton iterations before giving up (``converged=False``).

    Returns:
        A :class:`Solution`; ``rewards`` are float64 and descending.

    Example:
        >>> s = solve("log", 4)
        >>> np.round(s.rewards, 6).tolist()   # Gauss-Lobatto nodes on [0, 1]
        [1.0, 0.723607, 0.276393, 0.0]
        >>> s.converged and s.certified
        True
    """
    return solve_many([utility], n, tol=tol, max_iterations=max_iterations)[0]


def _validate_tolerance(tol: float) -> float:
    tol = float(tol)
    if not np.isfinite(tol) or not 0.0 < tol < 1.0:
        raise SolverInputError(f"tol must be in (0, 1), got {tol!r}")
    return tol


def solve_many(
    utilities: Sequence[Utility | str],
    n: int,
    *,
    tol: float = DEFAULT_TOLERANCE,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
) -> list[Solution]:
    """Solve several utilities at one n; utilities of one family share one ``vmap`` call.

    Example:
        >>> [s.utility for s in solve_many(["power:0.3", "power:0.6"], 6)]
        ['power:0.3', 'power:0.6']
    """
    n = check_n(n)
    tol = _validate_tolerance(tol)
    parsed = [parse_utility(u) for u in utilities]
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, utility in enumerate(parsed):
        key = (utility.family, id(utility.function), utility.concave, utility.convex)
        groups.setdefault(key, []).append(index)
    results: list[Solution | None] = [None] * len(parsed)
    for indices in groups.values():
        members = [parsed[i] for i in indices]
        for index, solution in zip(indices, _solve_family(members, n, tol, max_iterations), strict=True):
            results[index] = solution
    return [r for r in results if r is not None]


def _solve_family(members: list[Utility], n: int, tol: float, max_iterations: int) -> list[Solution]:
    """One compiled, vmapped solve for utilities that share a family function."""
    start = time.perf_counter()
    first = members[0]
    m, _ = _sizes(n)
    surrogate = not first.concave
    with float64():
        params = jnp.asarray(np.array([u.parameters for u in members], dtype=np.float64).reshape(len(members), -1))
        if m == 0:
            raise SolverInputError("n must be an integer >= 2")
        y0 = jnp.broadcast_to(jnp.asarray(_uniform_start(n, np.float64)), (len(members), m))
        run = partial(_solve_symmetric, function=first.function, n=n, max_iterations=max_iterations, surrogate=surrogate)
        state = jax.vmap(run, in_axes=(0, 0, None))(y0, params, jnp.asarray(tol))
        state = jax.tree_util.tree_map(np.asarray, state)
    seconds = (time.perf_counter() - start) / len(members)
    solutions = []
    for k, utility in enumerate(members):
        rewards = _rewards_from_top(state.y[k], n)
        objective = float(state.objective[k])
        gap = float(state.gap[k])
        iterations = int(state.iteration[k])
        finite = bool(np.all(np.isfinite(rewards)) and np.isfinite(objective) and np.isfinite(gap))
        if utility.concave:
            converged = finite and gap <= tol * max(1.0, abs(objective))
            if converged:
                message = "converged: certified by the Frank-Wolfe gap"
            elif not finite:
                message = "failed: non-finite values (utility undefined on the iterates?)"
            else:
                message = f"not converged: gap {gap:.3g} above tolerance after {iterations} iterations"
            solutions.append(Solution(utility.spec, n, rewards, objective, gap, iterations, converged, True, message, seconds))
        else:
            solutions.append(_best_of_vertices(utility, n, rewards, objective, gap, iterations, finite, seconds))
    return solutions


def _best_of_vertices(
    utility: Utility, n: int, rewards: np.ndarray, objective: float, gap: float, iterations: int, finite: bool, seconds: float
) -> Solution:
    """Non-concave U: the better of a local ascent and the best step vector; not certified."""
    vertex_values = _step_vector_objectives(utility, n)
    k = int(np.nanargmax(np.where(np.isfinite(vertex_values), vertex_values, -np.inf)))
    reason = "not certified: U is not concave, so the Frank-Wolfe gap is no bound"
    if not finite or vertex_values[k] >= objective:
        rewards = np.concatenate([np.ones(k), np.zeros(n - k)])
        objective = float(vertex_values[k])
        gap = certificate_gap(utility, rewards)
        how = "best of the n+1 step vectors"
        if utility.convex:
            how += " (exact for convex U: the maximum is at a vertex)"
    else:
        how = "local ascent from the symmetric start (better than every step vector)"
    return Solution(utility.spec, n, rewards, objective, gap, iterations, bool(np.isfinite(objective)), False, f"{reason}; {how}", seconds)


def solve_family(family: str, parameters: Sequence[float], n: int, *, tol: float = DEFAULT_TOLERANCE) -> list[Solution]:
    """Solve a whole parameter grid of one built-in family in one compiled call.

    Example:
        >>> [round(s.rewards[1], 4) for s in solve_family("power", [0.25, 0.75], 4)]
        [0.7624, 0.9139]
    """
    from collapse_theory.utilities import parse_utility as _parse

    family_function(family)  # validates the family name
    return solve_many([_parse(f"{family}:{p}") for p in parameters], n, tol=tol)
