"""The one entry point of the solver: any problem, one back end chosen from its properties.

:func:`solve` takes a utility or a ranking loss (an object or a spec) and returns one
:class:`~collapse_theory.solver.solution.Solution` with one
:class:`~collapse_theory.solver.status.Status`. The back end is decided here, once:

* the paper's problem (a :class:`~collapse_theory.problems.utilities.Utility`): the
  symmetric interior point with its exact step-vector answers for convex and affine U
  (:mod:`collapse_theory.solver.utility_solver`);
* a ranking loss (:class:`~collapse_theory.problems.losses.Loss`): the gap-coordinate
  Newton method, the active set, or the linear program, as its terms require, or a
  proof that no maximiser exists (:mod:`collapse_theory.solver.loss_solver`).

Example:
    >>> solve("log", 4).status.value
    'optimal'
    >>> s = solve("open-assistant", 8)
    >>> s.loss, s.status.value, round(float(s.rewards[0] - s.rewards[-1]), 2)
    ('log-sigmoid:1+free+l2:0.001', 'optimal', 17.14)
    >>> solve("bradley-terry", 4).status.value
    'unbounded'
"""

from __future__ import annotations

from collapse_theory.problems.losses import Loss
from collapse_theory.problems.problem import Problem, parse_problem
from collapse_theory.problems.utilities import Utility
from collapse_theory.solver import utility_solver
from collapse_theory.solver.solution import DEFAULT_TOLERANCE, Solution

__all__ = ["DEFAULT_TOLERANCE", "solve"]


def solve(problem: Problem | str, n: int, *, tol: float = DEFAULT_TOLERANCE, max_steps: int | None = None) -> Solution:
    """Maximise a utility's or a ranking loss's objective for one prompt with n ranked completions.

    Args:
        problem: a :class:`~collapse_theory.problems.utilities.Utility`, a
            :class:`~collapse_theory.problems.losses.Loss`, or a spec such as ``"log"``,
            ``"open-assistant"`` or ``"log-sigmoid:1+free+l2:0.001"`` (a utility's spec is the
            paper's problem; any other spec is read as a loss).
        n: number of ranked completions (>= 2).
        tol: relative certificate tolerance: certified when the gap is at most ``tol`` times
            the certificate's scale (invariant to scaling the objective).
        max_steps: Newton steps before giving up (status ``not_converged``); None takes the
            back end's default (:data:`~collapse_theory.solver.utility_solver.DEFAULT_MAX_STEPS`,
            400 steps of the barrier path, for a utility;
            :data:`~collapse_theory.solver.loss_solver.DEFAULT_MAX_STEPS`, 200, for a loss).

    Returns:
        A :class:`~collapse_theory.solver.solution.Solution`: rewards (descending, float64)
        or, when no maximiser exists, the limiting ``direction``; the certificate; one status.
        A loss's solution also names the loss (``loss``) and the certificate's ``scale``.

    Raises:
        UtilitySpecError, LossSpecError: the spec is not a problem.
        SolverInputError: n, tol or max_steps invalid.
        MemoryLimitError: the solve would not fit in memory (refused before any allocation).
    """
    parsed = parse_problem(problem)
    if isinstance(parsed, Utility):
        steps = utility_solver.DEFAULT_MAX_STEPS if max_steps is None else max_steps
        return utility_solver.solve(parsed, n, tol=tol, max_steps=steps)
    assert isinstance(parsed, Loss)
    # the loss back end (scipy's linear programs and more) loads with the first loss: `import collapse_theory` stays quick
    from collapse_theory.solver import loss_solver

    steps = loss_solver.DEFAULT_MAX_STEPS if max_steps is None else max_steps
    return loss_solver.solve_loss(parsed, n, tol=tol, max_steps=steps)
