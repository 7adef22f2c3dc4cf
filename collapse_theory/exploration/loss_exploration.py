"""A person's summary of a ranking loss: its terms, status and optimum at n, its limit law, a plot.

:func:`explore_loss` is :func:`~collapse_theory.exploration.utility_exploration.explore` for a
:class:`~collapse_theory.problems.losses.Loss`: the canonical spec and its terms, whether the
objective term is concave (the solver's certificates need it), the loss's status at n
(:func:`~collapse_theory.solver.loss_solver.solve_loss`: the certified optimum, the face of a
non-unique one, or the limiting direction of an unbounded one) with its certificate, the
n -> infinity law (:func:`~collapse_theory.laws.loss_laws.loss_limit`: a semicircle, a uniform
law, a numerical law with a field), or why there is none (the rewards diverge, or no law is
known), and the closest Beta law where the limit lives on [0, 1].

A plain utility (``"log"``: bounded rewards, no other term) is the paper's problem: its
summary carries every field of :func:`~collapse_theory.exploration.utility_exploration.explore` with the same
values, and its plot is :func:`~collapse_theory.exploration.utility_exploration.exploration_figure`.

Example:
    >>> summary = explore_loss("ipo:1", n=4)  # target margin TAU = 1/(2 BETA) = 0.5
    >>> summary.status.value, summary.law
    ('shift_invariant', 'uniform on [-0.5, 0.5]')
    >>> [round(float(r), 6) for r in summary.solution.rewards]
    [0.375, 0.125, -0.125, -0.375]
    >>> explore_loss("bradley-terry", n=4).limit_note
    'none: the rewards diverge (free rewards without l2 or center have no maximiser at any n); the limiting direction is reported'
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from collapse_theory._core.results import as_dict
from collapse_theory.exploration.answers import loss_answer
from collapse_theory.exploration.utility_exploration import (
    BetaFit,
    Exploration,
    exploration_figure,
    explore_utility,
    shape_on_grid,
)
from collapse_theory.laws.law import Atom, Law
from collapse_theory.laws.loss_laws import FieldLaw, loss_limit
from collapse_theory.laws.numerical_laws import is_hypersingular, is_singular_at_zero
from collapse_theory.problems.losses import Loss, LossSpecError, parse_loss
from collapse_theory.solver.loss_solver import solve_loss
from collapse_theory.solver.solution import Solution
from collapse_theory.solver.status import Status
from collapse_theory.solver.utility_solver import DEFAULT_MAX_STEPS, check_n

__all__ = ["LossExploration", "explore_loss", "loss_exploration_figure"]

#: How the concavity of an objective term that is not a utility is known.
_CONCAVITY = {
    "ipo": "by construction: U(x) = -(x - TAU)^2, TAU = 1/(2 BETA), is strictly concave",
    "plackett-luce": "by construction: B r_i - log sum_{j >= i} exp(B r_j) is concave (minus a log-sum-exp)",
    "min-linear": "by construction: U(x) = min(x, T) is concave and piecewise linear",
}


@dataclass(frozen=True)
class LossExploration:
    """Everything :func:`explore_loss` found about a ranking loss.

    The fields a utility's :class:`~collapse_theory.exploration.utility_exploration.Exploration` has keep its
    names and meanings (a plain utility gives the same values); None where a field does
    not apply (``singular`` of Plackett-Luce, ``mean`` of a law that does not exist).

    Attributes:
        loss: the canonical spec.
        terms: its canonical terms, the objective term first.
        utility: the objective term (``'log-sigmoid:1'``, ``'ipo:1'``).
        objective: its kind, one of :data:`~collapse_theory.problems.losses.OBJECTIVE_KINDS`.
        free: rewards in R^n (True) or in [0, 1] (False).
        concave: the objective term is concave (a utility: checked on a grid of (0, 1];
            the other kinds by construction).
        concavity: how that is known.
        increasing: U is non-decreasing (utilities: on the grid of (0, 1]; IPO: no, U falls
            beyond TAU; min-linear: yes; Plackett-Luce: None, not pairwise).
        singular: U(0+) = -inf or U'(0+) = +inf (None for Plackett-Luce).
        hypersingular: U ~ -x^(-G) with G >= 1 (None for Plackett-Luce).
        status: the loss's status at n (:class:`~collapse_theory.solver.loss_solver.Status`).
        solution: the :class:`~collapse_theory.solver.loss_solver.Solution` at n: rewards and
            certificate, or the limiting direction when unbounded.
        closed_form: the limit law is a closed form (None when there is no law).
        law: a description of the limit law (None when there is none).
        limit_note: where the law comes from, or why there is none.
        limit: the law (None when there is none).
        atoms: its point masses.
        mean, variance: of the limit law (None when there is none).
        error_estimate: the numerical law's error estimate (0 for a closed form; None for a
            numerical law with a field, which has none, or no law).
        beta_fit: the closest Beta(a, b) law, only for a law on [0, 1] (else None).
        exploration: a plain utility's :class:`~collapse_theory.exploration.utility_exploration.Exploration`
            (its plot), else None.
    """

    loss: str
    terms: tuple[str, ...]
    utility: str
    objective: str
    free: bool
    concave: bool
    concavity: str
    increasing: bool | None
    singular: bool | None
    hypersingular: bool | None
    status: Status
    solution: Solution = field(metadata={"json": False})
    closed_form: bool | None = None
    law: str | None = None
    limit_note: str = ""
    limit: Law | None = field(default=None, metadata={"json": False})
    atoms: tuple[Atom, ...] = ()
    mean: float | None = None
    variance: float | None = None
    error_estimate: float | None = None
    beta_fit: BetaFit | None = None
    exploration: Exploration | None = field(default=None, metadata={"json": False}, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract of ``collapse-theory explore --loss SPEC --format json`` (strict: no NaN).

        ``limit`` is the law in the structure every command shares (or null), ``solution``
        the loss solver's record (``solve --loss``'s fields).
        """
        return {
            **as_dict(self),
            "limit": None if self.limit is None else self.limit.as_dict(),
            "solution": self.solution.as_dict(),
            "answer": self.answer,
        }

    @property
    def answer(self) -> str:
        """One sentence (:func:`~collapse_theory.exploration.answers.loss_answer`), with the limit law when there is one.

        Example:
            >>> print(explore_loss("ipo:1", n=4).answer)
            collapse: every prompt with n = 4 ranked completions ends at this shape, range 0.75, whatever the prompt (up to a common shift); as n grows, the rewards follow uniform on [-0.5, 0.5]
        """
        sentence = loss_answer(self.solution)
        if self.solution.converged and self.law is not None:
            sentence += f"; as n grows, the rewards follow {self.law}"
        return sentence


def _diverges(loss: Loss) -> bool:
    """Free rewards and no strongly concave part for any n >= 3: no maximiser, no law."""
    return loss.free and not loss.has_regulariser and loss.objective != "ipo"


def _limit(loss: Loss, cells: int | None) -> tuple[Law | None, str]:
    options = {} if cells is None else {"cells": cells}
    try:
        law = loss_limit(loss, **options)
    except LossSpecError as error:
        if _diverges(loss):
            return None, (
                "none: the rewards diverge (free rewards without l2 or center have no maximiser at any n); "
                "the limiting direction is reported"
            )
        return None, f"none: {error}"
    if isinstance(law, FieldLaw):
        return law, f"numerical: the field problem J(mu) = E U(abs(X - X')) - {law.beta:g} E X^2 maximised on a mesh"
    return law, "closed form; the unscaled rewards converge, no rescaling by n"


def _shape(loss: Loss) -> tuple[bool, str, bool | None, bool | None, bool | None]:
    """(concave, how it is known, increasing, singular, hypersingular) of the objective term."""
    if loss.utility is not None:
        concave, increasing = shape_on_grid(loss.utility)
        singular, hypersingular = is_singular_at_zero(loss.utility), is_hypersingular(loss.utility)
        return concave, "checked on a grid of (0, 1]", increasing, singular, hypersingular
    pairwise = loss.objective != "plackett-luce"
    ordered = {"ipo": False, "min-linear": True}.get(loss.objective)
    return True, _CONCAVITY[loss.objective], ordered, False if pairwise else None, False if pairwise else None


def explore_loss(loss: Loss | str, n: int = 8, *, cells: int | None = None) -> LossExploration:
    """Summarise a ranking loss: terms, concavity, status and certified optimum at n, limit law, Beta fit.

    Args:
        loss: a :class:`~collapse_theory.problems.losses.Loss` or a spec (``"open-assistant"``).
        n: completions of the finite-n answer (small: it is shown in full).
        cells: mesh cells of a numerical limit law (default: its function's default).

    Raises:
        LossSpecError: a loss the solver refuses (a non-concave U with other terms, an
            infeasible margin), one line naming the problem.

    Example:
        >>> summary = explore_loss("log+free+l2:0.5", n=4)
        >>> summary.law, summary.beta_fit is None
        ('semicircle on [-2, 2]', True)
    """
    loss = parse_loss(loss)
    n = check_n(n)
    if loss.is_plain_utility:
        assert loss.utility is not None
        summary = explore_utility(loss.utility, n, cells=cells)
        # solve's own step limit: the same answer as explore's, from the program it just compiled
        solution = solve_loss(loss, n, max_steps=DEFAULT_MAX_STEPS)
        return LossExploration(
            loss=loss.spec,
            terms=loss.terms,
            utility=summary.utility,
            objective=loss.objective,
            free=False,
            concave=summary.concave,
            concavity="checked on a grid of (0, 1]",
            increasing=summary.increasing,
            singular=summary.singular,
            hypersingular=summary.hypersingular,
            status=solution.status,
            solution=solution,
            closed_form=summary.closed_form,
            law=summary.law,
            limit_note="closed form" if summary.closed_form else "numerical (numerical_limit)",
            limit=summary.limit,
            atoms=summary.atoms,
            mean=summary.mean,
            variance=summary.variance,
            error_estimate=summary.error_estimate,
            beta_fit=summary.beta_fit,
            exploration=summary,
        )
    solution = solve_loss(loss, n)  # refuses non-concave U and infeasible margins before the limit's work
    concave, concavity, increasing, singular, hypersingular = _shape(loss)
    law, note = _limit(loss, cells)
    return LossExploration(
        loss=loss.spec,
        terms=loss.terms,
        utility=loss.objective_spec,
        objective=loss.objective,
        free=loss.free,
        concave=concave,
        concavity=concavity,
        increasing=increasing,
        singular=singular,
        hypersingular=hypersingular,
        status=solution.status,
        solution=solution,
        closed_form=None if law is None else not isinstance(law, FieldLaw),
        law=None if law is None else law.describe(),
        limit_note=note,
        limit=law,
        atoms=() if law is None else law.atoms,
        mean=None if law is None else float(law.mean),
        variance=None if law is None else float(law.variance),
        error_estimate=None if law is None or isinstance(law, FieldLaw) else 0.0,
        beta_fit=None,  # the laws of losses beyond plain utilities live on the real line (or are unknown)
    )


# Long: one matplotlib figure drawn top to bottom (two panels, their legends and captions); split into
# pieces it would only pass the axes around.
def loss_exploration_figure(summary: LossExploration, name: str | None = None) -> Figure:
    """Two panels: the answer at n against the limit's quantiles, and the limit's density and cdf.

    ``name`` is the loss as the user named it (``oasst``; default: the canonical spec); the
    figure's title is the one-sentence :attr:`LossExploration.answer`. Without a maximiser the
    left panel is the limiting direction, on a range-normalised axis; a solve that did not
    converge is drawn as crosses marked NOT CONVERGED.

    A plain utility gets :func:`~collapse_theory.exploration.utility_exploration.exploration_figure`. Otherwise,
    left: the certified optimum r_1 >= ... >= r_n (or, unbounded, the limiting direction,
    range 1), with the limit law's quantiles at the plotting positions 1 - (i - 1/2)/n;
    right: the limit law's density, its cdf (right axis) and the empirical cdf of the
    optimum, on the real line. Without a limit law, the right panel says why.

    Example:
        >>> figure = loss_exploration_figure(explore_loss("ipo:1", n=4))
        >>> len(figure.axes)
        3
    """
    if summary.exploration is not None:
        return exploration_figure(summary.exploration)
    figure = Figure(figsize=(11, 4.6), layout="constrained")
    left, right = figure.subplots(1, 2)
    solution = summary.solution
    unbounded = solution.rewards is None
    values = np.asarray(solution.direction if unbounded else solution.rewards, dtype=float)
    n = values.size
    index = np.arange(1, n + 1)
    law = summary.limit
    if unbounded:
        left.plot(index, values, "o", label=f"limiting direction (no optimum), n = {n}")
    elif solution.converged:
        left.plot(index, values, "o", label=f"optimal rewards, n = {n}")
    else:
        left.plot(index, values, "x", color="C3", label=f"{summary.status.value.upper()} at n = {n}: not an optimum")
    if law is not None and not unbounded:
        positions = 1.0 - (index - 0.5) / n
        left.plot(index, np.asarray(law.ppf(positions), dtype=float), "-", alpha=0.7, label="limit quantiles")
    left.set_xlabel("response index, best first")
    left.set_ylabel("range-normalised reward" if unbounded else "reward")
    left.legend(loc="upper right", fontsize=8)
    named = summary.loss if name is None or name == summary.loss else f"{name} (= {summary.loss})"
    status = summary.status.value if solution.converged else summary.status.value.upper()
    left.set_title(f"{named}: {status} at n = {n}", fontsize=10)
    figure.suptitle("\n".join(textwrap.wrap(summary.answer, 120)), fontsize=9)

    if law is None:
        right.text(0.5, 0.5, "\n".join(textwrap.wrap(f"limit law: {summary.limit_note}", 50)), ha="center", va="center")
        right.set_axis_off()
        return figure
    low, high = law.support
    pad = 0.08 * (high - low)
    x = np.linspace(low - pad, high + pad, 801)
    if not unbounded:  # a direction has no place on the reward axis
        right.hist(
            values, bins=max(4, min(20, n)), range=(low - pad, high + pad), density=True, alpha=0.3, label=f"rewards, n = {n}"
        )
    right.plot(x, np.asarray(law.pdf(x), dtype=float), "-", color="C1", label="limit density")
    right.set_xlabel("reward")
    right.set_ylabel("density")
    cumulative = right.twinx()
    cumulative.plot(x, np.asarray(law.cdf(x), dtype=float), "-", color="C2", alpha=0.8, label="limit cdf (right axis)")
    if not unbounded:
        ordered = np.sort(values)
        cumulative.step(
            np.concatenate([[x[0]], ordered, [x[-1]]]),
            np.concatenate([[0.0], np.arange(1, n + 1) / n, [1.0]]),
            where="post",
            color="C3",
            alpha=0.8,
            label="empirical cdf of the optimum (right axis)",
        )
    cumulative.set_ylim(0.0, 1.05)
    cumulative.set_ylabel("cdf")
    handles, labels = right.get_legend_handles_labels()
    extra_handles, extra_labels = cumulative.get_legend_handles_labels()
    right.legend(handles + extra_handles, labels + extra_labels, loc="upper left", fontsize=8)
    right.set_title("\n".join(textwrap.wrap(f"limit law: {summary.law}", 60)), fontsize=9)
    return figure
