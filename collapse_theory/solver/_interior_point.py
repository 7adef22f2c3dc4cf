"""One phase of the symmetric solve: the barrier path to a target, then the polish.

Why hand-written: the problem is a concave program over the order-constrained
box whose Hessian is dense but cheap to form from U'' (see ``_symmetric``);
general conic or SQP solvers (CVXPY/Clarabel, SCS, SLSQP) either cannot express
the singular utilities to 1e-10 or scale as O(n^3) per iteration on the full
problem, and jaxopt's projected solvers are first order (thousands of O(n^2)
iterations at this accuracy). The method, one module per algorithm:

1. **Barrier path** (``_barrier_path``; skipped when the start is already a good
   guess): damped Newton on S plus a log-barrier, the barrier weight reduced until
   the Frank-Wolfe gap meets the target.
2. **Polish** (``_projected_newton``): Bertsekas' projected Newton method on the
   gaps between consecutive rewards, which finds the ties and converges
   quadratically from the barrier's point or from a guess.

What both share (the problem's evaluations, the iterate, the linear algebra) is
in ``_newton``; the Armijo test, the backtracking search and the Frank-Wolfe gap, which
the loss stack uses too, are in ``_engine``. Each Newton step costs one evaluation of U'' per pair (the Newton
matrix, the only M x M array, written tile by tile), one Cholesky factorisation of
it in place, and one evaluation of U and U' per pair at each trial point (tiles of
PAIR_BLOCK rows, so pair quantities never take M x M memory); the polish's chord
steps reuse the last factorisation instead. Everything is ``lax.while_loop`` so a batch of problems runs under ``vmap``,
and one signature serves every phase, so one compiled program per padded size.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from collapse_theory.problems.utilities import UtilityFunction
from collapse_theory.solver import _barrier_path, _projected_newton
from collapse_theory.solver._newton import Iterate, Phase, Result, fresh_iterate

__all__ = ["LOOSE_TOLERANCE", "Iterate", "Result", "fresh_iterate", "solve_phase"]

#: Barrier path stops here (relative gap) before the first polish.
LOOSE_TOLERANCE = 1e-8


def solve_phase(
    start: Iterate,
    fresh: jax.Array,
    n: jax.Array,
    params: jax.Array,
    tol: jax.Array,
    skip_barrier: jax.Array,
    *,
    function: UtilityFunction,
    max_steps: int,
    surrogate: bool,
    singular: jax.Array,
) -> tuple[Result, Iterate]:
    """One phase: barrier iterations to a target, then a polish (see the module docstring).

    With ``fresh`` only ``start.y`` is read (a start vector, see :func:`fresh_iterate`)
    and the barrier path stops at the loose tolerance ``max(tol, LOOSE_TOLERANCE)``;
    otherwise ``start`` is the barrier iterate of an earlier phase whose polish did
    not certify ``tol`` (rare), and the barrier continues to ``tol``. One signature
    for both, so one compiled program serves every phase. With ``skip_barrier`` the
    start is taken as a good guess of the optimum (a limit law's quantiles, or a
    coarser solution interpolated) and only polished; it may then have zero gaps
    (guessed ties). Returns the phase's result and its barrier iterate.
    """
    phase = Phase(
        n, start.y.shape[0], params, tol, function=function, max_steps=max_steps, surrogate=surrogate, singular=singular
    )

    def evaluated_start() -> Iterate:
        gap0, value0, gradient0 = phase.certificate(start.y)
        mu0 = jnp.maximum(gap0, 1e-3 * tol * phase.scale(gradient0)) / (phase.m + 1)
        return Iterate(start.y, mu0, jnp.asarray(0), gap0, value0, gradient0, jnp.asarray(False))

    def guess_only() -> Iterate:
        # a guess to polish: its certificate is not needed (the polish evaluates its own start,
        # and anything usable it returns is better than an unknown gap)
        inf = jnp.asarray(jnp.inf, start.y.dtype)
        return start._replace(mu=jnp.zeros_like(start.mu), iteration=jnp.asarray(0), gap=inf, objective=-inf)

    initial = jax.lax.cond(fresh & skip_barrier, guess_only, evaluated_start)
    state = jax.tree_util.tree_map(lambda a, b: jnp.where(fresh, a, b), initial, start)
    state = _barrier_path.follow(phase, state, jnp.where(fresh, jnp.maximum(tol, LOOSE_TOLERANCE), tol), skip_barrier)
    return _projected_newton.polish(phase, state), state
