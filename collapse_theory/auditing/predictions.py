"""What the theory predicts for each group, what each group behaves like, and which utility would move it.

* :func:`compare_with_loss`: each group against the optimum of the loss the model was
  trained with, **at each of its n**: for every cell (group, n) the mean interior shape
  values against the optimum's (range-normalised; an unbounded loss predicts its
  limiting direction). The effect per group is the largest difference over its cells,
  with a simultaneous interval from the multiplier bootstrap of :mod:`.comparison`.
* :func:`describe_groups`: per group, the member of a family whose optimum at the
  group's most common n is closest to the group's mean shape there
  (:func:`collapse_theory.design.utility_design.design_for_rewards`), and whether it fits: the
  largest residual's interval against the shape resolution. Then one member fitted to
  every group's prompts at the most common n, and every cell (group, n) against that
  member's optimum at its own n: "one utility explains every group" when every
  interval lies below the resolution, "a utility per group" when one lies wholly
  above it. This compares groups that share no n through the paper's model. It
  *describes* the groups as they are: on a collapsed model it names the utility that
  produced the collapse.
* :func:`suggest_utilities`: the suggestion proper: for a target law per group (what
  the user wants that kind of prompt to look like), the utility whose optimum tends to
  it (:func:`collapse_theory.design.utility_design.design_for_limit`), to train that kind with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from collapse_theory.auditing.comparison import bounds, critical_value_of, target_contrasts
from collapse_theory.auditing.features import prompt_features
from collapse_theory.auditing.resolution import Resolution, default_resolution
from collapse_theory.auditing.shapes import PromptShapes
from collapse_theory.design.utility_design import FAMILY_BOUNDS, design_for_limit, design_for_rewards
from collapse_theory.errors import InputError
from collapse_theory.problems.losses import Loss, parse_loss
from collapse_theory.problems.utilities import Utility
from collapse_theory.solver.loss_solver import solve_loss
from collapse_theory.solver.utility_solver import solve

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


def _predicted_shape(loss: Loss, n: int) -> tuple[np.ndarray, bool]:
    """The loss's range-normalised optimum at n (best first) and whether it is an optimum."""
    solution = solve_loss(loss, n)
    optimum = solution.rewards is not None
    shape = solution.rewards if optimum else solution.direction
    if shape is None:
        raise InputError(f"{loss.spec}: no prediction at n = {n} ({solution.status.value}: {solution.message})")
    values = np.sort(np.asarray(shape, dtype=np.float64))[::-1]
    spread = values[0] - values[-1]
    return ((values - values[-1]) / spread if spread > 0 else np.zeros_like(values)), optimum


def compare_with_loss(
    shapes: PromptShapes, spec: Loss | Utility | str, alpha: float, resamples: int, seed: int, resolution: Resolution
) -> LossComparison:
    """Each group against the loss's prediction at each of its n (see the module)."""
    loss = parse_loss(spec)
    cells = [cell for cell, moments in shapes.cells.items() if moments.count >= 2 and cell[1] >= 3]
    predicted: dict[int, np.ndarray] = {}
    optimum = True
    for n in sorted({cell[1] for cell in cells} | {int(n) for n in np.unique(shapes.completions)}):
        predicted[n], is_optimum = _predicted_shape(loss, n)
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
        low, high: its simultaneous interval.
        fits: the interval lies below the shape resolution (True), wholly above it (False: no member
            fits), or neither (None).
        message: the design's verdict.
    """

    name: str
    n: int
    utility: str | None
    residual: float
    low: float
    high: float | None
    fits: bool | None
    message: str


@dataclass(frozen=True)
class Descriptions:
    """Per group, the closest member of one family, and whether one member explains every group.

    Attributes:
        family: the family searched.
        groups: one :class:`GroupDescription` per group with a shape (n >= 3).
        shared_utility: the member fitted to every group's prompts at the most common n.
        shared_residual: the largest difference of any group's cell (any n) from that member's
            optimum at the cell's n, with ``shared_low`` and ``shared_high`` its interval.
        one_utility: the shared member explains every group (every interval below the resolution:
            True), it does not (some interval wholly above: False, a utility per group), or undecided.
        resolution: the shape resolution the fits are judged against.
    """

    family: str
    groups: tuple[GroupDescription, ...]
    shared_utility: str | None
    shared_residual: float | None
    shared_low: float | None
    shared_high: float | None
    one_utility: bool | None
    resolution: float | None

    def lines(self) -> list[str]:
        """Text lines for the reports."""
        lines = [f"what each group behaves like ({self.family} member fitted at the group's most common n):"]
        for group in self.groups:
            word = {True: "fits", False: "no member fits", None: "fit undecided"}[group.fits]
            lines.append(
                f"  {group.name[:20]:<20} {group.utility or '-'} (n = {group.n}, largest residual "
                f"{_interval(group.residual, group.low, group.high)}; {word})"
            )
        word = {True: "yes", False: "no: a utility per group", None: "undecided"}[self.one_utility]
        shared = ""
        if self.shared_utility is not None and self.shared_residual is not None and self.shared_low is not None:
            shared = (
                f" ({self.shared_utility}, largest residual {_interval(self.shared_residual, self.shared_low, self.shared_high)})"
            )
        limit = "" if self.resolution is None else f"; resolution {self.resolution:.3g}"
        lines.append(f"  one utility explains every group: {word}{shared}{limit}")
        return lines


def _judge(low: float, high: float | None, limit: float | None) -> bool | None:
    """Below the resolution (True), wholly above it (False), or neither (None)."""
    if limit is None:
        return None
    if high is not None and high < limit:
        return True
    return False if low > limit else None


def _optimum_features(spec: str, n: int) -> np.ndarray:
    rewards = np.sort(np.asarray(solve(spec, n).rewards, dtype=np.float64))[::-1]
    return prompt_features(rewards[None, :])[0, :-1]


def describe_groups(
    shapes: PromptShapes, family: str, resolution: Resolution, alpha: float, resamples: int, seed: int, min_prompts: int = 2
) -> Descriptions:
    """Per group, the member of ``family`` its mean shape fits best, and one member for all (see the module).

    Residuals come with simultaneous intervals from the multiplier bootstrap of
    :mod:`.comparison` (the fitted parameters are taken as known: their noise is that of
    a mean over the group's or all groups' prompts). They are judged against the shape
    resolution: at the strata compared, or derived at the groups' n when none is. The
    shared member is asked about only when every group with ``min_prompts`` prompts at its
    n fits a member of its own: otherwise the family cannot say (``one_utility`` None).
    """
    if family not in FAMILY_BOUNDS:
        raise InputError(f"unknown family {family!r}; choose from {', '.join(FAMILY_BOUNDS)}")
    cells_of = shapes.cells_of()
    fits: dict[int, tuple[int, Any]] = {}
    for index in range(len(shapes.group_names)):
        counts = {cell[1]: shapes.cells[cell].count for cell in cells_of.get(index, []) if cell[1] >= 3}
        if counts:
            n = max(counts, key=lambda size: (counts[size], size))
            count, total = shapes.sums_by_n[(index, n)]
            fits[index] = (n, design_for_rewards(np.clip(total / count, 0.0, 1.0), family))
    limit = resolution.shape
    if limit is None and fits:
        limit = default_resolution({n for n, _ in fits.values()}).shape
    targets = {
        (index, n): _optimum_features(str(design.utility), n)
        for index, (n, design) in fits.items()
        if design.utility is not None and shapes.cells[(index, n)].count >= 2
    }
    contrasts = target_contrasts(shapes.cells, targets)
    critical = critical_value_of(contrasts, shapes.cells, alpha, resamples, seed)
    owner = np.array([contrasts.cells[c][0] for c in contrasts.first], dtype=np.int64)
    descriptions = []
    for index, (n, design) in fits.items():
        name = shapes.group_names[index]
        members = np.flatnonzero(owner == index)
        if members.size == 0:
            descriptions.append(GroupDescription(name, n, design.utility, float("nan"), 0.0, None, None, design.message))
            continue
        residual, low, high = bounds(contrasts, members, critical)
        descriptions.append(
            GroupDescription(name, n, design.utility, residual, low, high, _judge(low, high, limit), design.message)
        )
    deciding = [d for d in descriptions if shapes.cells[(shapes.group_names.index(d.name), d.n)].count >= min_prompts]
    shared, shared_bounds, one = _shared_member(shapes, family, alpha, resamples, seed, limit, min_prompts)
    if one is False and not (len(deciding) >= 2 and all(d.fits for d in deciding)):
        one = None  # a group fits no member of its own: the family cannot tell one utility from several
    return Descriptions(
        family=family,
        groups=tuple(descriptions),
        shared_utility=shared,
        shared_residual=None if shared_bounds is None else shared_bounds[0],
        shared_low=None if shared_bounds is None else shared_bounds[1],
        shared_high=None if shared_bounds is None else shared_bounds[2],
        one_utility=one,
        resolution=limit,
    )


def _shared_member(
    shapes: PromptShapes, family: str, alpha: float, resamples: int, seed: int, limit: float | None, min_prompts: int
) -> tuple[str | None, tuple[float, float, float | None] | None, bool | None]:
    """One member fitted to every group at the most common n, and every cell's distance to its optimum."""
    cells = [cell for cell, moments in shapes.cells.items() if cell[1] >= 3 and moments.count >= max(2, min_prompts)]
    if len({cell[0] for cell in cells}) < 2:
        return None, None, None
    prompts_at: dict[int, int] = {}
    for cell in cells:
        prompts_at[cell[1]] = prompts_at.get(cell[1], 0) + shapes.cells[cell].count
    n = max(prompts_at, key=lambda size: (prompts_at[size], size))
    pooled = sum(shapes.sums_by_n[cell][1] for cell in cells if cell[1] == n) / prompts_at[n]
    design = design_for_rewards(np.clip(pooled, 0.0, 1.0), family)
    if design.utility is None:
        return None, None, None
    targets = {cell: _optimum_features(str(design.utility), cell[1]) for cell in cells}
    contrasts = target_contrasts(shapes.cells, targets)
    critical = critical_value_of(contrasts, shapes.cells, alpha, resamples, seed)
    effect, low, high = bounds(contrasts, np.arange(contrasts.difference.size), critical)
    return design.utility, (effect, low, high), _judge(low, high, limit)


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
    unknown = [name for name in targets if name not in names]
    if unknown:
        raise InputError(f"suggest: no group named {unknown[0]!r}; groups: {', '.join(names)}")
    suggestions = []
    for name, law in targets.items():
        design = design_for_limit(law)
        suggestions.append(GroupSuggestion(name, design.target, design.utility, design.reachable, design.message))
    return Suggestions(tuple(suggestions))
