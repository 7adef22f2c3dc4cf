"""The run directory's figure: reward against response index per kind, the solver's optimum dashed.

The synthetic analogue of Song, Cai, Lee, Su ("Reward Collapse in Aligning Large
Language Models", arXiv 2305.17608, Figures 3-4): for each prompt kind, the mean over
prompts of the sorted rewards with a band of one standard deviation, and dashed the
optimum that the theory predicts for that kind's utility and n. One panel for the
training prompts and one for the held-out prompts.

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

from matplotlib.figure import Figure

from collapse_theory.figures import draw_reward_curves, spec_label
from collapse_theory.training.diagnostics import Diagnostics

__all__ = ["plot_rewards"]

_TITLES = {"train": "training prompts", "held_out": "held-out prompts"}


def plot_rewards(
    diagnostics: Diagnostics, title: str | None = None, names: Mapping[str, str] | None = None, *, unfinished: str | None = None
) -> Figure:
    """Reward vs response index per kind (mean and one-standard-deviation band), optimum dashed.

    One panel per split, each drawn by :func:`collapse_theory.figures.draw_reward_curves`
    (the same picture as the reproduction's figures). Returns a matplotlib
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
