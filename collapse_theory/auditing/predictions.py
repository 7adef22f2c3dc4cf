"""What the theory predicts for each group, what each group behaves like, and which utility would move it.

* :func:`compare_with_loss`: each group against the optimum of the loss the model was
  trained with, **at each of its n**: for every cell (group, n) the mean interior shape
  values against the optimum's (range-normalised; an unbounded loss predicts its
  limiting direction). The effect per group is the largest difference over its cells,
  with a simultaneous interval from the multiplier bootstrap of :mod:`.comparison`.
* :func:`describe_groups`: per group, the member of a family whose optimum at the
  group's most common n is closest to the group's mean shape there
  (:func:`collapse_theory.design.design_for_rewards`), and whether it fits: the
  largest residual's interval against the shape resolution. This *describes* the
  group as it is: on a collapsed model it names the utility that produced the collapse.
* :func:`suggest_utilities`: the suggestion proper: for a target law per group (what
  the user wants that kind of prompt to look like), the utility whose optimum tends to
  it (:func:`collapse_theory.design.design_for_limit`), to train that kind with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from collapse_theory.auditing.comparison import bounds, critical_value_of, target_contrasts
from collapse_theory.auditing.features import prompt_features
from collapse_theory.auditing.resolution import Resolution
from collapse_theory.auditing.shapes import PromptShapes

__all__ = [
    "DEFAULT_DESCRIBE_FAMILY",
    "Descriptions",
    "GroupDescription",
    "GroupPrediction",
    "GroupSuggestion",
    "LossComparison",
    "Suggestions",
    "compare_with_loss",
    "describe_groups",
    "suggest_utilities",
]

DEFAULT_DESCRIBE_FAMILY = "box-cox"


def _interval(effect: float, low: float, high: float | None) -> str:
    return f"{effect:.3g} [{low:.3g}, {'inf' if high is None else f'{high:.3g}'}]"


@dataclass(frozen=True, eq=False)
class GroupPrediction:
    """One group against the loss's prediction.

    Attributes:
        name: the group.
        distance: the largest absolute difference between mean and predicted interior shape values over the group's cells.
        low, high: its simultaneous interval (``high`` None when unbounded).
        consistent: the interval lies below the shape resolution (True), excludes 0 (False),
            or neither (None).
        predicted: ``{n: predicted shape [n]}`` (range-normalised, best first).
    """

    name: str
    distance: float
    low: float
    high: float | None
    consistent: bool | None
    predicted: dict[int, np.ndarray]


@dataclass(frozen=True, eq=False)
class LossComparison:
    """Every group against the optimum (or limiting direction) of the loss the model was trained with.

    Attributes:
        loss: the loss's spec.
        prediction: ``"optimum"`` or ``"limiting direction"`` (no optimum: the rewards grow without bound).
        groups: one :class:`GroupPrediction` per group with cells of two or more prompts.
    """

    loss: str
    prediction: str
    groups: tuple[GroupPrediction, ...]

    def lines(self) -> list[str]:
        """Text lines for the reports."""
        lines = [f"against the {self.prediction} of {self.loss} at each group's n (largest difference, interval):"]
        for group in self.groups:
            word = {True: "consistent with it", False: "differs from it", None: "undecided"}[group.consistent]
            lines.append(f"  {group.name[:20]:<20} {_interval(group.distance, group.low, group.high)}  {word}")
        return lines


def _predicted_shape(spec: str, n: int) -> tuple[np.ndarray, bool]:
    """The loss's range-normalised optimum at n (best first) and whether it is an optimum."""
    from collapse_theory.loss_solver import solve_loss  # the solver loads only when a prediction is asked for

    solution = solve_loss(spec, n)
    optimum = solution.rewards is not None
    shape = solution.rewards if optimum else solution.direction
    if shape is None:
        raise ValueError(f"{spec}: no prediction at n = {n} ({solution.status.value}: {solution.message})")
    values = np.sort(np.asarray(shape, dtype=np.float64))[::-1]
    spread = values[0] - values[-1]
    return ((values - values[-1]) / spread if spread > 0 else np.zeros_like(values)), optimum


def compare_with_loss(
    shapes: PromptShapes, spec: str, alpha: float, resamples: int, seed: int, resolution: Resolution
) -> LossComparison:
    """Each group against the loss's prediction at each of its n (see the module)."""
    from collapse_theory.losses import parse_loss

    loss = parse_loss(spec)
    cells = [cell for cell, moments in shapes.cells.items() if moments.count >= 2 and cell[1] >= 3]
    predicted: dict[int, np.ndarray] = {}
    optimum = True
    for n in sorted({cell[1] for cell in cells} | {int(n) for n in np.unique(shapes.completions)}):
        predicted[n], is_optimum = _predicted_shape(loss.spec, n)
        optimum = optimum and is_optimum
    targets = {cell: prompt_features(predicted[cell[1]][None, :])[0, :-1] for cell in cells}
    contrasts = target_contrasts(shapes.cells, targets)
    critical = critical_value_of(contrasts, shapes.cells, alpha, resamples, seed)
    groups = []
    owner = np.array([cell[0] for cell in contrasts.cells], dtype=np.int64)[contrasts.first] if contrasts.cells else np.empty(0)
    order = np.argsort(owner, kind="stable")
    present, starts = np.unique(owner[order], return_index=True)
    members_of = dict(zip(present.tolist(), np.split(order, starts[1:]), strict=True)) if owner.size else {}
    cells_of = shapes.cells_of()
    for index, name in enumerate(shapes.group_names):
        members = members_of.get(index)
        if members is None or members.size == 0:
            continue
        distance, low, high = bounds(contrasts, members, critical)
        consistent: bool | None = None
        if low > 0:
            consistent = False
        elif resolution.shape is not None and high is not None and high < resolution.shape:
            consistent = True
        own = {n for _, n in cells_of.get(index, [])}
        groups.append(GroupPrediction(name, distance, low, high, consistent, {n: predicted[n] for n in sorted(own)}))
    return LossComparison(loss.spec, "optimum" if optimum else "limiting direction", tuple(groups))


@dataclass(frozen=True)
class GroupDescription:
    """The family member one group behaves like.

    Attributes:
        name: the group.
        n: the group's most common number of scores (the fit's n).
        utility: the best-fitting member's spec (None when none qualifies).
        residual: the largest absolute difference between the mean and the fitted optimum (interior shape values).
        fits: the residual's interval lies below the shape resolution (True), excludes 0 beyond
            it (False: no member fits), or neither (None).
        message: the design's verdict.
    """

    name: str
    n: int
    utility: str | None
    residual: float
    fits: bool | None
    message: str


@dataclass(frozen=True)
class Descriptions:
    """Per group, the closest member of one family, and whether one utility explains every group.

    Attributes:
        family: the family searched.
        groups: one :class:`GroupDescription` per group with a shape (n >= 3).
        one_utility: every group fits, with members whose optima at the groups' n are within
            the shape resolution of each other (True); groups fit different members farther
            apart (False); otherwise None.
    """

    family: str
    groups: tuple[GroupDescription, ...]
    one_utility: bool | None

    def lines(self) -> list[str]:
        """Text lines for the reports."""
        lines = [f"what each group behaves like ({self.family} member fitted at the group's most common n):"]
        for group in self.groups:
            word = {True: "fits", False: "no member fits", None: "fit undecided"}[group.fits]
            lines.append(
                f"  {group.name[:20]:<20} {group.utility or '-'} (n = {group.n}, largest residual {group.residual:.3g}; {word})"
            )
        word = {True: "yes", False: "no (a utility per group)", None: "undecided"}[self.one_utility]
        lines.append(f"  one utility explains every group: {word}")
        return lines


def describe_groups(shapes: PromptShapes, family: str, resolution: Resolution) -> Descriptions:
    """Per group, the member of ``family`` its mean shape fits best (see the module)."""
    from collapse_theory.design import FAMILY_BOUNDS, design_for_rewards

    if family not in FAMILY_BOUNDS:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILY_BOUNDS)}")
    descriptions = []
    fitted: dict[str, Any] = {}
    cells_of = shapes.cells_of()
    for index, name in enumerate(shapes.group_names):
        counts = {cell[1]: shapes.cells[cell].count for cell in cells_of.get(index, []) if cell[1] >= 3}
        if not counts:
            continue
        n = max(counts, key=lambda size: (counts[size], size))
        count, total = shapes.sums_by_n[(index, n)]
        mean = total / count
        design = design_for_rewards(np.clip(mean, 0.0, 1.0), family)
        rewards = np.asarray(design.rewards, dtype=np.float64)
        target = prompt_features(np.sort(rewards)[::-1][None, :])[0, :-1] if rewards[0] > rewards[-1] else None
        if target is None:
            descriptions.append(GroupDescription(name, n, design.utility, float("nan"), None, design.message))
            continue
        moments = shapes.cells[(index, n)]
        residual = float(np.max(np.abs(moments.mean[:-1] - target)))
        error = np.sqrt(np.maximum(np.diag(moments.covariance_of_mean())[:-1], 0.0)) if moments.count > 1 else None
        fits: bool | None = None
        if error is not None and resolution.shape is not None:
            spread = 3.0 * error  # a per-group screen at about 3 standard errors, not a test
            if float(np.max(np.abs(moments.mean[:-1] - target) + spread)) < resolution.shape:
                fits = True
            elif float(np.max(np.abs(moments.mean[:-1] - target) - spread)) > resolution.shape:
                fits = False
        descriptions.append(GroupDescription(name, n, design.utility, residual, fits, design.message))
        fitted[name] = design.parameter
    one: bool | None = None
    fitting = [d for d in descriptions if d.fits]
    if len(fitting) >= 2 and len(fitting) == len(descriptions) and resolution.shape is not None:
        utilities = {d.utility for d in fitting}
        one = True if len(utilities) == 1 else _members_close(fitting, resolution.shape)
    return Descriptions(family, tuple(descriptions), one)


def _members_close(descriptions: Sequence[GroupDescription], limit: float) -> bool:
    """Whether the fitted members' optima agree within ``limit`` at every group's n."""
    from collapse_theory.solver import solve

    for n in sorted({d.n for d in descriptions}):
        shapes = []
        for description in descriptions:
            rewards = np.asarray(solve(str(description.utility), n).rewards, dtype=np.float64)
            shapes.append(prompt_features(np.sort(rewards)[::-1][None, :])[0, :-1])
        if max(float(np.max(np.abs(a - b))) for a in shapes for b in shapes) >= limit:
            return False
    return True


@dataclass(frozen=True)
class GroupSuggestion:
    """The utility that would train one group towards a target law.

    Attributes:
        name: the group.
        target: the target law, described.
        utility: the designed utility (None when no member qualifies).
        reachable: the law is matched within the design tolerance.
        message: the design's verdict.
    """

    name: str
    target: str
    utility: str | None
    reachable: bool
    message: str


@dataclass(frozen=True)
class Suggestions:
    """Per group with a target, the utility to train it with.

    Attributes:
        groups: one :class:`GroupSuggestion` per target.
    """

    groups: tuple[GroupSuggestion, ...]

    def lines(self) -> list[str]:
        """Text lines for the reports."""
        lines = ["utilities that would train each group towards its target law (prompt-aware training):"]
        for group in self.groups:
            lines.append(f"  {group.name[:20]:<20} {group.utility or '-'} for {group.target} ({group.message})")
        return lines


def suggest_utilities(targets: Mapping[str, Any], names: Sequence[str]) -> Suggestions:
    """For each ``{group: target law}`` (a frozen scipy law on [0, 1]), the utility whose limit law it is."""
    from collapse_theory.design import design_for_limit

    unknown = [name for name in targets if name not in names]
    if unknown:
        raise ValueError(f"suggest: no group named {unknown[0]!r}; groups: {', '.join(names)}")
    suggestions = []
    for name, law in targets.items():
        design = design_for_limit(law)
        suggestions.append(GroupSuggestion(name, design.target, design.utility, design.reachable, design.message))
    return Suggestions(tuple(suggestions))
