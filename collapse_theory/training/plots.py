"""The reward-curve picture, and the run directory's figure drawn with it.

The synthetic analogue of Song, Cai, Lee, Su ("Reward Collapse in Aligning Large
Language Models", arXiv 2305.17608, Figures 3-4): for each prompt kind, the mean over
prompts of the sorted rewards with a band of one standard deviation, and dashed the
optimum that the theory predicts for that kind's utility and n. The picture exists once,
in :func:`draw_reward_curves`; :func:`plot_rewards` (the run directory's ``rewards.png``:
one panel for the training prompts and one for the held-out prompts) and the
reproduction's figures (:mod:`collapse_theory.figures`) call it.

Example:
    >>> import numpy as np
    >>> from collapse_theory.training.data import make_synthetic_dataset
    >>> from collapse_theory.training.diagnostics import diagnose
    >>> data = make_synthetic_dataset(prompts=8, n=2)
    >>> rewards = np.where(data.rankings == 0, 0.9, 0.1)
    >>> report = diagnose(data, rewards, {"open": "linear", "closed": "linear"}, optima={"linear": [1.0, 0.0]})
    >>> figure = plot_rewards(report)
    >>> len(figure.axes)
    2
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from collapse_theory.problems.losses import parse_loss
from collapse_theory.training.diagnostics import Diagnostics, SplitDiagnostics

__all__ = [
    "KIND_COLOURS",
    "KIND_MARKERS",
    "KIND_OFFSET",
    "RESPONSE_INDEX_LABEL",
    "draw_reward_curves",
    "kind_colour",
    "plot_rewards",
    "spec_label",
]

#: One colour per kind of prompt, shared by the kind's trained curve and its optimum.
KIND_COLOURS = {"open": "#1f77b4", "closed": "#d62728"}
#: The x label of every reward-curve panel.
RESPONSE_INDEX_LABEL = "response index, best first"
#: Marker and horizontal offset per kind (by order), so collapsed curves stay visible side by side.
KIND_MARKERS = ("o", "s", "^", "D", "v")
KIND_OFFSET = 0.09


def kind_colour(kind: str, index: int = 0) -> Any:
    """The colour of a kind of prompt (``open``, ``closed``; others by their index in tab10)."""
    return KIND_COLOURS[kind] if kind in KIND_COLOURS else colormaps["tab10"](index % 10)


def spec_label(spec: str, names: Mapping[str, str] | None) -> str:
    """``U = log`` for a plain utility, ``loss = NAME`` for a ranking loss, NAME as the user gave it."""
    name = (names or {}).get(spec, spec)
    try:
        plain = parse_loss(spec).is_plain_utility
    except ValueError:  # a custom utility's name
        plain = True
    return f"U = {name}" if plain else f"loss = {name}"


def draw_reward_curves(
    axis: Axes, split: SplitDiagnostics, title: str, *, legend: bool = True, names: Mapping[str, str] | None = None
) -> None:
    """Reward against response index (best first) per kind, with the solver's optimum dashed on top.

    Each kind: mean over its prompts of the sorted rewards (markers and line, in the kind's
    colour, shifted by a small horizontal offset per kind so that collapsed kinds stay
    visible side by side) and a one-standard-deviation band. The optimum of each utility is
    drawn dashed above the curves, with its own legend entry: black when several kinds share
    the utility (one utility for every prompt), else in its kind's colour (prompt-aware).
    The one picture of Song, Cai, Lee, Su (arXiv 2305.17608), Figures 3-5.

    Free losses are compared as range-normalised shapes (the y axis says so), and a loss
    without a maximiser has no optimum: its dashed line is the *limiting direction*.
    ``names`` maps a canonical spec to the name the user gave (``oasst``) for the legend.
    """
    curves = split.curves
    n = curves[0].mean.size if curves else 0
    index = np.arange(1, n + 1, dtype=float)
    middle = (len(curves) - 1) / 2.0
    for number, curve in enumerate(curves):
        colour = kind_colour(curve.kind, number)
        shifted = index + (number - middle) * KIND_OFFSET
        mean, spread = np.asarray(curve.mean), np.asarray(curve.spread)
        axis.fill_between(shifted, mean - spread, mean + spread, color=colour, alpha=0.15, linewidth=0)
        axis.plot(
            shifted,
            mean,
            marker=KIND_MARKERS[number % len(KIND_MARKERS)],
            linestyle="-",
            color=colour,
            linewidth=1.6,
            markersize=5,
            alpha=0.9,
            label=f"{curve.kind}-ended, {spec_label(curve.utility, names)}",
        )
    sharers: dict[str, list[int]] = {}
    for number, curve in enumerate(curves):
        sharers.setdefault(curve.utility, []).append(number)
    for utility, numbers in sharers.items():
        first = curves[numbers[0]]
        shared = len(numbers) > 1
        colour = "black" if shared else kind_colour(first.kind, numbers[0])
        whose = "every kind" if shared else f"{first.kind}-ended"
        what = "limiting direction (no optimum)" if first.unbounded else "optimum"
        axis.plot(
            index,
            np.asarray(first.optimum),
            linestyle=(0, (5, 3)),
            color=colour,
            linewidth=1.5,
            zorder=5,
            label=f"{what} of {spec_label(utility, names)} ({whose})",
        )
    axis.set_title(title, fontsize=10)
    axis.set_xlabel(RESPONSE_INDEX_LABEL)
    axis.set_ylabel("range-normalised reward" if any(curve.normalised for curve in curves) else "reward")
    axis.set_xticks(index)
    axis.set_xlim(0.5, n + 0.5)
    axis.set_ylim(-0.05, 1.05)
    axis.grid(alpha=0.3)
    if legend:
        axis.legend(fontsize=7, loc="lower left")


_TITLES = {"train": "training prompts", "held_out": "held-out prompts"}


def plot_rewards(
    diagnostics: Diagnostics, title: str | None = None, names: Mapping[str, str] | None = None, *, unfinished: str | None = None
) -> Figure:
    """Reward vs response index per kind (mean and one-standard-deviation band), optimum dashed.

    One panel per split, each drawn by :func:`draw_reward_curves` (the same picture as the
    reproduction's figures). Returns a matplotlib
    :class:`~matplotlib.figure.Figure` (not attached to pyplot, so it is safe without a
    display); save it with :func:`collapse_theory._core.io.atomic_savefig`. ``names`` maps a
    canonical spec to the name the user gave it (``{"log-sigmoid:1+free+l2:0.001": "oasst"}``),
    for the legends and the title. ``unfinished`` (e.g. "NOT IN THE TERMINAL PHASE after 3 steps")
    is added to the title of a run whose rewards are not yet its end point.
    """
    splits = [split for split in (diagnostics.train, diagnostics.held_out) if split is not None]
    figure = Figure(figsize=(5.2 * len(splits), 4.4), layout="constrained")
    axes = figure.subplots(1, len(splits), squeeze=False)[0]
    # a run that did not reach the terminal phase: the curves are not its end point, and the title says so
    for axis, split in zip(axes, splits, strict=True):
        score = "" if split.collapse_score is None else f", collapse score {split.collapse_score:.3f}"
        draw_reward_curves(axis, split, f"{_TITLES.get(split.split, split.split)} ({split.prompts}){score}", names=names)
    if title is None:
        if diagnostics.mode == "single":
            spec = next(iter(diagnostics.utilities.values()))
            named = (names or {}).get(spec, spec)
            what = "loss" if spec_label(spec, None).startswith("loss") else "utility"
            title = f"one {what} for every prompt: {named if named == spec else f'{named} = {spec}'}, n = {diagnostics.n}"
        else:
            utilities = ", ".join(f"{kind}: {spec}" for kind, spec in diagnostics.utilities.items())
            title = f"prompt-aware utilities ({utilities}), n = {diagnostics.n}"
    figure.suptitle(title if unfinished is None else f"{title}\n{unfinished}", color="black" if unfinished is None else "C3")
    return figure
