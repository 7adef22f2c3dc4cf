"""The figure of a free loss without a maximiser: rewards that grow without bound, a shape that converges.

Free Bradley-Terry (``bradley-terry`` = ``log-sigmoid:1+free``, TRL's and OpenRLHF's default) has
no maximiser: every gap r_i - r_{i+1} improves the loss, so training spreads the rewards without
limit, while their range-normalised shape approaches the direction
:func:`collapse_theory.solver.loss_solver.solve_loss` predicts (equal gaps for saturating losses;
docs/losses.md). The trainer logs both at every logged step (``metrics.jsonl``):

* ``reward_range``: the mean over the free training prompts of max r - min r (grows);
* ``shape_distance``: max over ranks of ``|mean range-normalised shape - direction|`` (shrinks).

:func:`plot_divergence` draws them against the step on a log scale, with the trends the theory
gives for gradient descent (the range like log(step), the distance like 1/log(step)).

Example:
    >>> entries = [{"step": 40, "reward_range": 2.7, "shape_distance": 0.105},
    ...            {"step": 400, "reward_range": 19.1, "shape_distance": 0.045}]
    >>> figure = plot_divergence(entries, title="bradley-terry, n = 4")
    >>> [axis.get_ylabel() for axis in figure.axes]
    ['mean reward range (max r - min r)', 'distance to the direction']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

from collapse_theory.errors import InputError

__all__ = ["divergence_curves", "plot_divergence"]


def divergence_curves(metrics: Iterable[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, mean reward ranges and shape distances of the metrics entries that carry them (float64).

    ``metrics`` is ``TrainingResult.metrics`` or the lines of ``metrics.jsonl``; entries without
    ``reward_range`` (bounded losses) are skipped.

    Example:
        >>> divergence_curves([{"step": 20, "loss": 1.0}, {"step": 40, "reward_range": 3.0, "shape_distance": 0.1}])
        (array([40.]), array([3.]), array([0.1]))
    """
    rows = [
        (float(entry["step"]), float(entry["reward_range"]), float(entry.get("shape_distance", np.nan)))
        for entry in metrics
        if entry.get("reward_range") is not None
    ]
    if not rows:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    steps, ranges, distances = (np.asarray(column, dtype=np.float64) for column in zip(*rows, strict=True))
    return steps, ranges, distances


def plot_divergence(metrics: Iterable[Mapping[str, Any]], title: str | None = None) -> Figure:
    """Mean reward range (left) and distance of the normalised shape to the direction (right) vs step.

    Steps are on a log scale, where the theory's rates are simple: gradient descent on a
    separable loss grows the rewards' norm like log(step) and reaches the direction at rate
    1/log(step) (Soudry et al. 2018). Each panel carries its least-squares trend in those terms,
    a + b log(step) for the range and c / log(step) for the distance, drawn dashed with its
    fitted numbers, so the picture shows how far the run follows them. Titles say what is drawn,
    nothing more.

    Returns a matplotlib :class:`~matplotlib.figure.Figure` not attached to pyplot; save it with
    :func:`collapse_theory._core.io.atomic_savefig`. Raises ValueError when no entry carries the
    free-reward metrics (a bounded loss).
    """
    steps, ranges, distances = divergence_curves(metrics)
    if steps.size == 0:
        raise InputError("no metrics entry has reward_range: the run did not train free rewards")
    figure = Figure(figsize=(10.0, 4.0), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.plot(steps, ranges, "o-", color="tab:blue", linewidth=2.0, label="measured")
    right.plot(steps, distances, "o-", color="tab:red", linewidth=2.0, label="measured")
    fitted = (steps > 1.0) & np.isfinite(ranges) & np.isfinite(distances)
    if np.count_nonzero(fitted) >= 2:
        log_steps = np.log(steps[fitted])
        slope, intercept = np.polyfit(log_steps, ranges[fitted], 1)
        left.plot(
            steps[fitted], intercept + slope * log_steps, "--", color="black", label=f"{intercept:.3g} + {slope:.3g} log(step)"
        )
        rate = float(np.sum(distances[fitted] / log_steps) / np.sum(1.0 / log_steps**2))  # least squares of d = c / log t
        right.plot(steps[fitted], rate / log_steps, "--", color="black", label=f"c / log(step), c = {rate:.3g}")
    ticks = [m * 10.0**k for k in range(0, 9) for m in (1, 2, 5) if steps.min() <= m * 10.0**k <= steps.max()]
    for axis in (left, right):
        axis.set_xscale("log")
        axis.xaxis.set_major_locator(FixedLocator(ticks or [float(steps.min())]))
        axis.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("step (log scale)")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=8)
    left.set_ylabel("mean reward range (max r - min r)")
    left.set_title("reward range against step, with a + b log(step)", fontsize=10)
    right.set_ylabel("distance to the direction")
    right.set_title(
        "distance of the range-normalised shape to the direction,\nwith gradient descent's rate c / log(step)", fontsize=10
    )
    right.set_ylim(bottom=0.0)
    figure.suptitle(title or "free rewards without a maximiser: range and shape")
    return figure
