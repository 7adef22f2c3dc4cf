"""``shapes.png``: each group's mean shape against the response index, the prediction dashed.

Up to three groups share one panel; above three, each group gets its own panel. Each
group is drawn at its most common n: its mean rescaled scores at that n against the
response index 1..n, the 10%-90% band of its grid shapes mapped onto the same axis. A
loss's prediction is labelled "optimum", or "limiting direction" for a loss without one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:
    from collapse_theory.auditing.report import AuditReport

__all__ = ["audit_figure"]

_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray")
_SHARED_PANEL = 3


def _title(report: AuditReport) -> str:
    if report.collapsed is None and report.reason.startswith("no signal"):
        return "no signal"
    return {True: "collapsed", False: "not collapsed: the groups differ", None: "inconclusive"}[report.collapsed]


def audit_figure(report: AuditReport) -> Figure:
    """The figure (see the module)."""
    groups = report.groups
    panels = len(groups) if len(groups) > _SHARED_PANEL else 1
    columns = min(panels, 3)
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(4.2 * columns if panels > 1 else 6.0, 3.4 * rows if panels > 1 else 4.4), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
    shapes = report._shapes
    names = shapes.group_names if shapes is not None else ()
    for number, group in enumerate(groups):
        axis = axes[number if panels > 1 else 0]
        color = _COLORS[number % len(_COLORS)]
        n = max(group.completions, key=lambda size: (group.completions[size], size))
        index = np.arange(1, n + 1)
        if shapes is not None and (names.index(group.name), n) in shapes.sums_by_n:
            count, total = shapes.sums_by_n[(names.index(group.name), n)]
            mean = total / count
        else:
            mean = np.interp((index - 0.5) / n, report.grid, group.mean_shape)
        band_x = report.grid * n + 0.5
        axis.fill_between(band_x, group.band_low, group.band_high, color=color, alpha=0.15, linewidth=0)
        axis.plot(index, mean, "o-", color=color, linewidth=2, label=f"{group.name} (n = {n}, {group.completions[n]} prompts)")
        if report.loss is not None:
            prediction = next((p for p in report.loss.groups if p.name == group.name), None)
            if prediction is not None and n in prediction.predicted:
                axis.plot(
                    index,
                    prediction.predicted[n],
                    color=color,
                    linestyle="--",
                    linewidth=1.2,
                    label=f"{report.loss.prediction} of {report.loss.loss}" if number == 0 or panels > 1 else None,
                )
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("response index, best first")
        axis.set_ylabel("score, rescaled to [0, 1]")
        axis.set_ylim(-0.03, 1.03)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="upper right")
    for axis in axes[len(groups) if panels > 1 else 1 :]:
        axis.set_visible(False)
    figure.suptitle(_title(report), fontsize=10)
    return figure
