"""One problem type: a ranking loss, of which the paper's utility is the special case.

A problem is what :func:`~collapse_theory.solver.dispatch.solve`, ``limit``, ``explore``,
``convergence`` and the designs take: a :class:`~collapse_theory.problems.utilities.Utility`
(the paper's problem, maximise :math:`S(r) = \\sum_{i<j} U(r_i - r_j)` over the ordered box),
or a :class:`~collapse_theory.problems.losses.Loss` (terms joined by ``+``: a utility or
another objective, margins, weights, free rewards, regularisers). A plain utility is the loss
with one term, and is kept as a :class:`Utility` so that it reaches the paper's solver with its
exact-vertex and batch paths. A spec string is parsed once, here, where it enters.

Example:
    >>> type(parse_problem("log")).__name__, type(parse_problem("log+free")).__name__
    ('Utility', 'Loss')
    >>> parse_problem("open-assistant").spec
    'log-sigmoid:1+free+l2:0.001'
    >>> parse_problem("nonsense")
    Traceback (most recent call last):
    ...
    collapse_theory.problems.utilities.UtilitySpecError: unknown utility or loss 'nonsense'; ...
"""

from __future__ import annotations

from typing import TypeAlias

from collapse_theory.problems.losses import TERM_FORMS, Loss, LossSpecError, parse_loss
from collapse_theory.problems.utilities import VALID_FORMS, Utility, UtilitySpecError, parse_utility

__all__ = ["Problem", "parse_problem"]

#: What the solver and the laws take: the paper's utility, or a ranking loss.
Problem: TypeAlias = Utility | Loss


def parse_problem(problem: Problem | str) -> Problem:
    """A :class:`Utility` or :class:`Loss` from an object or a spec (a utility's spec first).

    A spec that names a utility (``log``, ``power:0.5``) is the paper's problem; terms joined
    by ``+`` and any other spec are read as a loss (``open-assistant``, ``log-sigmoid:1+free+l2:0.001``). A malformed utility
    (``power:2``) keeps its utility error; a spec that is neither says so.

    Raises:
        UtilitySpecError: the spec is neither a utility nor a loss, or a utility with a bad parameter.
        LossSpecError: the spec is a malformed loss.
    """
    if isinstance(problem, (Utility, Loss)):
        return problem
    if not isinstance(problem, str):
        raise UtilitySpecError(f"a problem is a utility, a loss or a spec string, got {type(problem).__name__}")
    if "+" in problem:  # terms joined by '+': a loss
        return parse_loss(problem)
    try:
        return parse_utility(problem)
    except UtilitySpecError as utility_error:
        if not str(utility_error).startswith("unknown utility"):
            raise  # a utility's family with a bad parameter: say what is wrong with it
        try:
            return parse_loss(problem)
        except LossSpecError as loss_error:
            if "unknown term" in str(loss_error):
                raise UtilitySpecError(
                    f"unknown utility or loss {problem!r}; utilities: {', '.join(VALID_FORMS)}; "
                    f"losses: terms joined by '+', the terms being {TERM_FORMS}"
                ) from None
            raise
