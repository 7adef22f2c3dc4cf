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

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from collapse_theory.training.diagnostics import Diagnostics, SplitDiagnostics

_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
_TITLES = {"train": "training prompts", "held_out": "held-out prompts"}


def plot_rewards(diagnostics: Diagnostics, title: str | None = None) -> Figure:
    """Reward vs response index per kind (mean and one-standard-deviation band), optimum dashed.

    Returns a matplotlib :class:`~matplotlib.figure.Figure` (not attached to pyplot, so
    it is safe without a display); save it with :func:`collapse_theory._io.atomic_savefig`.
    """
    splits = [split for split in (diagnostics.train, diagnostics.held_out) if split is not None]
    figure = Figure(figsize=(5.0 * len(splits), 4.2), layout="constrained")
    axes = figure.subplots(1, len(splits), squeeze=False)[0]
    for axis, split in zip(axes, splits, strict=True):
        _draw_split(axis, split, diagnostics)
    if title is None:
        if diagnostics.mode == "single":
            title = f"one utility for every prompt: {next(iter(diagnostics.utilities.values()))}, n = {diagnostics.n}"
        else:
            utilities = ", ".join(f"{kind}: {spec}" for kind, spec in diagnostics.utilities.items())
            title = f"prompt-aware utilities ({utilities}), n = {diagnostics.n}"
    figure.suptitle(title)
    return figure


def _draw_split(axis: Axes, split: SplitDiagnostics, diagnostics: Diagnostics) -> None:
    index = np.arange(1, diagnostics.n + 1)
    dashes = ((5, 3), (2, 2), (8, 2, 2, 2))
    optima: list[str] = []
    for number, curve in enumerate(split.curves):
        color = _COLORS[number % len(_COLORS)]
        axis.fill_between(index, curve.mean - curve.spread, curve.mean + curve.spread, color=color, alpha=0.2, linewidth=0)
        axis.plot(
            index, curve.mean, "o-", color=color, linewidth=2.5, alpha=0.75, label=f"{curve.kind} ({curve.prompts} prompts)"
        )
        if curve.utility not in optima:
            optima.append(curve.utility)
    for number, utility in enumerate(optima):
        optimum = next(curve.optimum for curve in split.curves if curve.utility == utility)
        # Drawn last, thin and black, so the prediction stays visible where the model matches it.
        axis.plot(
            index,
            optimum,
            color="black",
            linewidth=1.2,
            dashes=dashes[number % len(dashes)],
            zorder=3,
            label=f"optimum of {utility}",
        )
    score = "" if split.collapse_score is None else f", collapse score {split.collapse_score:.3f}"
    axis.set_title(f"{_TITLES.get(split.split, split.split)}{score}", fontsize=10)
    axis.set_xlabel("response index (sorted by reward)")
    axis.set_ylabel("reward")
    axis.set_xticks(index)
    axis.set_ylim(-0.03, 1.03)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="upper right")
