"""The answer in one sentence: what a loss does to every prompt's rewards, in the words of collapse.

A :class:`~collapse_theory.solver.loss_solver.Solution` carries a status and numbers;
:func:`loss_answer` says what they mean for a reward model trained to the end on a
prompt with n ranked completions:

* a maximiser (``optimal``; ``shift_invariant`` up to a common shift): **collapse**, every
  prompt ends at the same rewards (free rewards: the same shape and range), whatever the prompt;
* ``unbounded``: **no optimum**, the rewards grow without bound while their range-normalised
  shape tends to the limiting direction, so where training stops decides how far they got;
* ``non_unique``: a face of maximisers, so the optimiser's path picks the end point;
* ``not_converged`` / ``failed``: **no answer**, nothing is claimed.

At n = 2 (one pair per prompt, TRL's usual data) the range-normalised shape is (1, 0) for
every loss, so the sentence speaks of the margin r_1 - r_2: it collapses to one value, or it
grows without bound. :func:`limit_answer` says the same of an n -> infinity law.

Example:
    >>> from collapse_theory.solver.loss_solver import solve_loss
    >>> loss_answer(solve_loss("open-assistant", 8))
    'collapse: every prompt with n = 8 ranked completions ends at this shape, range 17.14, whatever the prompt'
    >>> loss_answer(solve_loss("bradley-terry", 2))
    'no optimum: the margin r_1 - r_2 grows without bound, so where training stops decides the margin'
"""

from __future__ import annotations

from typing import Any

import numpy as np

from collapse_theory.laws.loss_laws import no_limit_reason
from collapse_theory.problems.losses import Loss, parse_loss
from collapse_theory.solver.solution import Solution
from collapse_theory.solver.status import Status

__all__ = ["limit_answer", "loss_answer"]


def _equal_gaps(direction: np.ndarray) -> bool:
    return bool(np.allclose(direction, np.linspace(1.0, 0.0, direction.size), atol=1e-9))


def loss_answer(solution: Solution) -> str:
    """One sentence: collapse (and to what), no optimum (and where the rewards go), or no answer.

    Example:
        >>> from collapse_theory.solver.loss_solver import solve_loss
        >>> loss_answer(solve_loss("ipo:1", 2))
        'collapse: every prompt with n = 2 ends at the margin r_1 - r_2 = 0.5, whatever the prompt (up to a common shift)'
        >>> loss_answer(solve_loss("log", 4))
        'collapse: every prompt with n = 4 ranked completions ends at the same rewards (1, 0.7236, 0.2764, 0), whatever the prompt'
    """
    n = solution.n
    status = solution.status
    if status is Status.NOT_CONVERGED:
        gap = "" if solution.gap is None else f" (certificate gap {solution.gap:.2e})"
        return f"no answer: the solver did not reach a certified maximiser at n = {n}{gap}; nothing is claimed"
    if status is Status.FAILED:
        return f"no answer: the solver failed at n = {n}; nothing is claimed"
    if status is Status.UNBOUNDED:
        if n == 2:
            return "no optimum: the margin r_1 - r_2 grows without bound, so where training stops decides the margin"
        direction = solution.direction
        shape = "equal gaps" if direction is not None and _equal_gaps(direction) else "the limiting direction shown"
        return (
            f"no optimum: rewards grow without bound while their shape tends to {shape}, "
            "so where training stops decides the shape"
        )
    rewards = solution.rewards
    assert rewards is not None
    shift = " (up to a common shift)" if status is Status.SHIFT_INVARIANT else ""
    if status is Status.NON_UNIQUE:
        return (
            f"no single optimum: a face of maximisers at n = {n}, so the optimiser's path decides where each prompt "
            "ends on it (one maximiser is shown)"
        )
    free = parse_loss(solution.problem).free
    if n == 2:
        return f"collapse: every prompt with n = 2 ends at the margin r_1 - r_2 = {rewards[0] - rewards[1]:.4g}, whatever the prompt{shift}"
    if free:
        spread = float(rewards[0] - rewards[-1])
        return f"collapse: every prompt with n = {n} ranked completions ends at this shape, range {spread:.4g}, whatever the prompt{shift}"
    shown = f" ({', '.join(f'{float(r):.4g}' for r in rewards)})" if n <= 8 else ""
    return f"collapse: every prompt with n = {n} ranked completions ends at the same rewards{shown}, whatever the prompt{shift}"


def limit_answer(law: Any, loss: Loss | str | None = None) -> str:
    """One sentence for an n -> infinity law (``law`` None: why ``loss`` has none).

    Example:
        >>> from collapse_theory.laws.loss_laws import loss_limit
        >>> print(limit_answer(loss_limit("ipo:1")))
        collapse: as n grows, every prompt's rewards follow the same law, uniform on [-0.5, 0.5]
        >>> print(limit_answer(None, "trl"))
        no limit law: the rewards diverge at every n (free rewards without l2 or center have no maximiser)
    """
    if law is not None:
        return f"collapse: as n grows, every prompt's rewards follow the same law, {law.describe()}"
    parsed = None if loss is None else parse_loss(loss)
    if parsed is not None and parsed.free and not parsed.has_regulariser and parsed.objective not in ("ipo", "min-linear"):
        return "no limit law: the rewards diverge at every n (free rewards without l2 or center have no maximiser)"
    if parsed is None:
        return "no limit law is known for this loss (none is implemented); its optimum at each n is solved by solve --loss"
    return f"no limit law: {no_limit_reason(parsed)}; its optimum at each n is solved by solve --loss"
