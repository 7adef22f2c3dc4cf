"""What the theory predicts for a group's shape, and which utility would give it.

* :func:`compare_with_loss`: the distance of each group's mean shape to the optimum of
  the utility the model was trained with. A group's prompts may have several n; the
  prediction is the mean shape the group would have if every prompt sat at the
  solver's optimum for its own n,

  .. math::

      \\hat v = \\sum_n \\frac{m_n}{m} \\, W_n \\tilde r^*(U, n),

  with :math:`m_n` the group's prompts with n scores, :math:`\\tilde r^*` the optimum
  (:func:`collapse_theory.solver.solve`) mapped affinely to [0, 1] like every shape and
  :math:`W_n` the grid interpolation of :mod:`.shapes`. The distance is
  :math:`\\max_g |\\bar v_g - \\hat v_g|`, the trainer's distance to the optimum.
* :func:`suggest_utilities`: per group, the member of a family whose optimum at the
  group's most common n is closest to the group's mean rescaled scores at that n
  (:func:`collapse_theory.design.design_for_rewards`): a utility per kind of prompt that
  would reproduce what the group shows, so groups can be trained apart (prompt-aware).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from collapse_theory.auditing.shapes import PromptShapes, interpolation_matrix
from collapse_theory.auditing.statistics import GroupSummary
from collapse_theory.design import design_for_rewards
from collapse_theory.solver import solve_batch
from collapse_theory.utilities import parse_utility

__all__ = [
    "DEFAULT_SUGGEST_FAMILY",
    "GroupPrediction",
    "GroupSuggestion",
    "LossComparison",
    "Suggestions",
    "compare_with_loss",
    "suggest_utilities",
]

DEFAULT_SUGGEST_FAMILY = "box-cox"


def _rescaled(rewards: np.ndarray) -> np.ndarray:
    spread = rewards.max() - rewards.min()
    return (rewards - rewards.min()) / spread if spread > 0 else np.zeros_like(rewards)


@dataclass(frozen=True, eq=False)
class GroupPrediction:
    """One group against the utility's optimum.

    Attributes:
        name: the group.
        predicted_shape: float64 [G], the optimum's shape, weighted over the group's n.
        distance: ``max_g |mean_shape_g - predicted_shape_g|``.
    """

    name: str
    predicted_shape: np.ndarray
    distance: float


@dataclass(frozen=True, eq=False)
class LossComparison:
    """Every group against the optimum of the utility the model was trained with.

    Attributes:
        utility: the utility's spec.
        groups: one :class:`GroupPrediction` per group.
        largest_distance: the largest of the groups' distances.
    """

    utility: str
    groups: tuple[GroupPrediction, ...]
    largest_distance: float


def compare_with_loss(groups: Sequence[GroupSummary], utility: str, grid: int) -> LossComparison:
    """Distance of each group's mean shape to the loss's optimum (see the module).

    ``utility`` is a utility spec (the paper's bounded problem) or any ranking-loss spec
    (:func:`collapse_theory.losses.parse_loss`): a free loss's optimum is compared after range
    normalisation, and an unbounded loss (Bradley-Terry) predicts its limiting direction.
    """
    from collapse_theory.losses import parse_loss

    loss = parse_loss(utility)
    every_n = sorted({n for group in groups for n in group.completions})
    if loss.is_plain_utility:
        spec = parse_utility(utility).spec
        optima = [np.asarray(s.rewards, dtype=np.float64) for s in solve_batch([(spec, n) for n in every_n])]
    else:
        from collapse_theory.loss_solver import solve_loss

        spec = loss.spec
        optima = [_loss_shape(solve_loss(loss, n)) for n in every_n]
    optimum_shapes = {n: interpolation_matrix(n, grid) @ _rescaled(optimum) for n, optimum in zip(every_n, optima, strict=True)}
    predictions = []
    for group in groups:
        predicted = sum(count * optimum_shapes[n] for n, count in group.completions.items()) / group.prompts
        predicted = np.asarray(predicted, dtype=np.float64)
        predictions.append(GroupPrediction(group.name, predicted, float(np.max(np.abs(group.mean_shape - predicted)))))
    return LossComparison(spec, tuple(predictions), max(p.distance for p in predictions))


def _loss_shape(solution: Any) -> np.ndarray:
    """A loss's predicted reward shape at n: its maximiser, or its limiting direction when unbounded."""
    shape = solution.rewards if solution.rewards is not None else solution.direction
    if shape is None:
        raise ValueError(f"{solution.loss}: no prediction at n = {solution.n} ({solution.status.value}: {solution.message})")
    return np.asarray(shape, dtype=np.float64)


@dataclass(frozen=True)
class GroupSuggestion:
    """The utility of a family that would give one group's mean shape.

    Attributes:
        name: the group.
        n: the group's most common number of scores (the fit's n).
        utility: the designed utility's spec (None when no member qualifies).
        parameter: the family parameter.
        residual: root-mean-square error between its optimum and the group's mean rescaled scores.
        reachable: the fit is within the design tolerance inside the family's range.
        message: the design's verdict.
    """

    name: str
    n: int
    utility: str | None
    parameter: float | None
    residual: float
    reachable: bool
    message: str


@dataclass(frozen=True)
class Suggestions:
    """Per group, the closest member of one family.

    Attributes:
        family: the family searched.
        groups: one :class:`GroupSuggestion` per group.
    """

    family: str
    groups: tuple[GroupSuggestion, ...]


def suggest_utilities(groups: Sequence[GroupSummary], shapes: PromptShapes, family: str = DEFAULT_SUGGEST_FAMILY) -> Suggestions:
    """Per group, the utility of ``family`` whose optimum fits its mean shape at its most common n."""
    index = {name: number for number, name in enumerate(shapes.group_names)}
    suggestions = []
    for group in groups:
        # the most common n; ties go to the larger n, which pins the shape down more
        n = max(group.completions, key=lambda size: (group.completions[size], size))
        count, total = shapes.sums_by_n[(index[group.name], n)]
        design = design_for_rewards(total / count, family)
        suggestions.append(
            GroupSuggestion(
                name=group.name,
                n=n,
                utility=design.utility,
                parameter=design.parameter,
                residual=design.residual,
                reachable=design.reachable,
                message=design.message,
            )
        )
    return Suggestions(family, tuple(suggestions))
