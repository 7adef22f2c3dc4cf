"""The reproduction's figures: one function per figure, each taking typed results and returning a Figure.

Every function takes the small frozen records defined here (or the library's own
results: :class:`~collapse_theory.training.diagnostics.SplitDiagnostics`,
:class:`~collapse_theory.laws.law.Atom`) and draws; none computes. The records are built
from :func:`collapse_theory.reproduction.runner.reproduce`'s cached JSON in one place of that
module. Figures are plain :class:`matplotlib.figure.Figure` objects, not attached to
pyplot: importing this module never changes a notebook's backend.

Colours are fixed: one per utility family (the family records) and one per kind of
prompt, shared by a kind's trained curve and its optimum. The reward-curve picture
(reward against response index, best first) exists once, in
:func:`collapse_theory.training.plots.draw_reward_curves` (the training's own picture, named
here too); :func:`reward_curves`, :func:`training_snapshots` and
:func:`collapse_theory.training.plots.plot_rewards` all call it.

Example:
    >>> import numpy as np
    >>> drawing = LawDrawing(grid=np.linspace(0.01, 0.99, 5), density=np.ones(5), atoms=())
    >>> figure = numerical_limits([NumericalLawDrawing(utility="exp:1", law=drawing)])
    >>> len(figure.axes)  # the density axis and the atom-mass axis
    2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.colors
import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from collapse_theory.laws.law import Atom
from collapse_theory.problems.families import FAMILIES
from collapse_theory.problems.utilities import parse_utility
from collapse_theory.training.diagnostics import SplitDiagnostics
from collapse_theory.training.divergence import plot_divergence
from collapse_theory.training.plots import (
    KIND_COLOURS,
    KIND_MARKERS,
    RESPONSE_INDEX_LABEL,
    draw_reward_curves,
    kind_colour,
    spec_label,
)

__all__ = [
    "FAMILY_COLOURS",
    "KIND_COLOURS",
    "RESPONSE_INDEX_LABEL",
    "CollapseHistory",
    "ConvergenceSeries",
    "DivergenceHistory",
    "FamilyMap",
    "LawDrawing",
    "LimitPanel",
    "LossLimitPanel",
    "LossOptimum",
    "NumericalLawDrawing",
    "RewardPanel",
    "Snapshot",
    "SnapshotRun",
    "bradley_terry_divergence",
    "convergence",
    "draw_reward_curves",
    "family_colour",
    "family_map",
    "kind_colour",
    "limit_laws",
    "numerical_limits",
    "ranking_losses",
    "reward_curves",
    "spec_label",
    "training_snapshots",
]

#: One colour per utility family, used in every figure (read from the family records).
FAMILY_COLOURS = {family.name: family.colour for family in FAMILIES.values()}


# --- what the figures draw --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RewardPanel:
    """One reward-curve panel: a title and the split diagnostics of a training run."""

    title: str
    split: SplitDiagnostics


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """The training prompts' diagnostics at one step of training."""

    step: int
    split: SplitDiagnostics


@dataclass(frozen=True, kw_only=True)
class CollapseHistory:
    """The collapse score against step (the trainer's metrics log), training and held-out prompts."""

    steps: np.ndarray
    train: np.ndarray
    held_out: np.ndarray | None = None


@dataclass(frozen=True, kw_only=True)
class SnapshotRun:
    """One training run of the snapshot figure: its name, snapshots and collapse-score history."""

    name: str
    snapshots: tuple[Snapshot, ...]
    history: CollapseHistory


@dataclass(frozen=True, kw_only=True)
class LawDrawing:
    """A law as drawn: the continuous part's density on a grid (empty when none) and the atoms."""

    grid: np.ndarray
    density: np.ndarray
    atoms: tuple[Atom, ...]

    @property
    def atom_mass(self) -> float:
        """The atoms' total mass."""
        return float(sum(atom.mass for atom in self.atoms))


@dataclass(frozen=True, kw_only=True)
class LimitPanel:
    """The optimal rewards of one utility at n and the law they converge to."""

    utility: str
    rewards: np.ndarray
    law_name: str
    law: LawDrawing


@dataclass(frozen=True, kw_only=True)
class ConvergenceSeries:
    """Distances of the optimal rewards to the limit law against n, with fitted log-log slopes."""

    utility: str
    ns: np.ndarray
    kolmogorov_smirnov: np.ndarray
    wasserstein: np.ndarray
    kolmogorov_smirnov_slope: float | None
    wasserstein_slope: float | None


@dataclass(frozen=True, kw_only=True)
class FamilyMap:
    """The Beta(a, a) parameter and the limit density across the exponent g of U = (x^g - 1)/g."""

    n: int
    exponents: np.ndarray
    closed_form_a: np.ndarray
    fitted_a: np.ndarray
    grid: np.ndarray
    densities: np.ndarray  # [exponent, grid]


@dataclass(frozen=True, kw_only=True)
class NumericalLawDrawing:
    """A numerical limit law of a utility without a closed form."""

    utility: str
    law: LawDrawing


@dataclass(frozen=True, kw_only=True)
class LossOptimum:
    """One ranking loss's answer at n: its range-normalised shape, best first (the direction when unbounded).

    Attributes:
        loss: the loss spec as named (``bradley-terry``, ``ipo:0.5``).
        frameworks: who trains it (``"TRL default, OpenRLHF"``).
        status: :class:`~collapse_theory.solver.loss_solver.Status` value (``optimal``, ``unbounded``, ...).
        shape: (r - min r) / (max r - min r) of the optimum, or the unbounded direction.
    """

    loss: str
    frameworks: str
    status: str
    shape: np.ndarray

    @property
    def unbounded(self) -> bool:
        """No maximiser: the shape is the direction the rewards grow along."""
        return self.status == "unbounded"


@dataclass(frozen=True, kw_only=True)
class LossLimitPanel:
    """A ranking loss's n -> infinity law on the reward scale, with its finite-n optimum as a rug."""

    loss: str
    frameworks: str
    law_name: str
    law: LawDrawing
    rewards: np.ndarray


@dataclass(frozen=True, kw_only=True)
class DivergenceHistory:
    """A free loss without a maximiser in training: mean reward range and shape distance against step."""

    loss: str
    prompts: int
    learning_rate: float
    steps: np.ndarray
    reward_range: np.ndarray
    shape_distance: np.ndarray


# --- colours ----------------------------------------------------------------------------


def family_colour(spec: str) -> str:
    """The colour of a utility spec's family (grey for custom utilities and unknown specs)."""
    try:
        record = parse_utility(spec).family_record
    except ValueError:
        return "#555555"
    return "#555555" if record is None else record.colour


# --- the training figures ----------------------------------------------------------------


def _score_text(split: SplitDiagnostics) -> str:
    return "" if split.collapse_score is None else f"collapse score {split.collapse_score:.3g}"


def reward_curves(panels: Sequence[RewardPanel]) -> Figure:
    """Reward against response index per kind of prompt, one panel per training run.

    Solid: the trained mean with a one-standard-deviation band over prompts; dashed on top:
    the solver's optimum (:func:`draw_reward_curves`).
    """
    columns = min(len(panels), 2)
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(5.4 * columns, 4.0 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis, panel in zip(axes.flat, panels, strict=False):
        draw_reward_curves(axis, panel.split, f"{panel.title}\n{_score_text(panel.split)}")
    for axis in axes.flat[len(panels) :]:
        axis.set_visible(False)
    n = panels[0].split.curves[0].mean.size if panels and panels[0].split.curves else 0
    figure.suptitle(f"Trained rewards (mean ± sd over prompts) and the solver's optimum (dashed), n = {n}")
    return figure


def training_snapshots(runs: Sequence[SnapshotRun]) -> Figure:
    """Collapse as it happens: reward curves at a few steps per run, and the collapse score against step.

    One row per run, one column per snapshot; the last column holds the collapse score
    (largest gap between the kinds' mean curves) against step on a log axis for every run,
    the snapshot steps marked.
    """
    columns = max(len(run.snapshots) for run in runs)
    layout: list[list[Any]] = [[f"{row}:{column}" for column in range(columns)] + ["score"] for row in range(len(runs))]
    figure = Figure(figsize=(4.2 * (columns + 1), 3.8 * len(runs)), layout="constrained")
    axes = figure.subplot_mosaic(layout)
    for row, run in enumerate(runs):
        for column, snapshot in enumerate(run.snapshots):
            title = f"{run.name}, step {snapshot.step}\n{_score_text(snapshot.split)}"
            draw_reward_curves(axes[f"{row}:{column}"], snapshot.split, title, legend=column == 0)
        for column in range(len(run.snapshots), columns):
            axes[f"{row}:{column}"].set_visible(False)
    _draw_collapse_scores(axes["score"], runs)
    figure.suptitle("Collapse during training: one utility for every prompt vs the prompt-aware scheme")
    return figure


def _draw_collapse_scores(axis: Axes, runs: Sequence[SnapshotRun]) -> None:
    styles = ("-", "--", ":", "-.")
    for number, run in enumerate(runs):
        history = run.history
        steps, scores = np.asarray(history.steps, dtype=float), np.asarray(history.train, dtype=float)
        positive = scores > 0
        (line,) = axis.plot(steps[positive], scores[positive], styles[number % len(styles)], linewidth=1.8, label=run.name)
        marked = [s.step for s in run.snapshots]
        at = np.isin(steps, marked) & positive
        axis.plot(steps[at], scores[at], "o", color=line.get_color(), markersize=6)
    axis.set_yscale("log")
    axis.set_xlabel("training step")
    axis.set_ylabel("collapse score (training prompts)")
    axis.set_title("collapse score against step\n(dots: the snapshots)", fontsize=10)
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8)


# --- laws ---------------------------------------------------------------------------------


def _atoms_text(atoms: Sequence[Atom]) -> str:
    return ", ".join(f"{atom.mass:.3g} at {atom.location:g}" for atom in atoms)


def limit_laws(items: Sequence[LimitPanel], n: int) -> Figure:
    """Histograms of the optimal rewards at n with the limit density (or atoms) overlaid.

    Atoms are drawn as bars whose height is the mass divided by the histogram's bin
    width, so that they compare with the histogram; the legend gives each atom's mass.
    """
    columns = 4
    rows = -(-len(items) // columns)
    figure = Figure(figsize=(4.1 * columns, 3.4 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    bins = np.linspace(0.0, 1.0, 26)
    width = bins[1] - bins[0]
    for axis, item in zip(axes.flat, items, strict=False):
        colour = family_colour(item.utility)
        heights = np.histogram(item.rewards, bins=bins, density=True)[0]
        axis.hist(item.rewards, bins=bins, density=True, color=colour, alpha=0.55, label=f"optimum, n = {n}")
        law = item.law
        if law.density.size:
            axis.plot(law.grid, law.density, color="black", linewidth=1.3, label="limit density")
        if law.atoms:
            locations = [atom.location for atom in law.atoms]
            axis.vlines(
                locations,
                0,
                [atom.mass / width for atom in law.atoms],
                color="black",
                linewidth=3,
                label=f"atoms: {_atoms_text(law.atoms)}",
            )
        axis.set_title(f"{item.utility}: {item.law_name}", fontsize=9)
        axis.set_xlabel("reward x")
        axis.set_ylabel("density")
        axis.set_ylim(0, 1.3 * max(float(heights.max()), 1.0))
        axis.legend(fontsize=7, loc="upper center")
    for axis in axes.flat[len(items) :]:
        axis.set_visible(False)
    figure.suptitle(f"Optimal rewards at n = {n} and their n -> infinity laws")
    return figure


def numerical_limits(items: Sequence[NumericalLawDrawing]) -> Figure:
    """Numerical limit laws of utilities without a closed form (e.g. log-sigmoid:B, exp:B).

    One panel per family; each law's continuous density as a line (left axis, one line
    style per member) and its atoms at 0 and 1 as squares whose height is the mass (right
    axis), each labelled with its mass, as is the legend.
    """
    families = list(dict.fromkeys(item.utility.split(":")[0] for item in items))
    figure = Figure(figsize=(6.2 * len(families), 4.6), layout="constrained")
    axes = figure.subplots(1, len(families), squeeze=False)
    for axis, family in zip(axes.flat, families, strict=True):
        members = [item for item in items if item.utility.split(":")[0] == family]
        masses = axis.twinx()
        shades = np.linspace(0.35, 1.0, len(members))
        base = np.array(matplotlib.colors.to_rgb(family_colour(family)))
        styles = ("-", "--", ":", "-.")
        for number, (shade, item) in enumerate(zip(shades, members, strict=True)):
            colour = tuple(base * shade)
            law = item.law
            atoms = f"atoms {_atoms_text(law.atoms)}" if law.atoms else "no atoms"
            axis.plot(
                law.grid, law.density, styles[number % len(styles)], color=colour, linewidth=1.8, label=f"{item.utility}: {atoms}"
            )
            masses.plot([a.location for a in law.atoms], [a.mass for a in law.atoms], "s", color=colour, markersize=7)
            for atom in law.atoms:
                inward = 1 if atom.location < 0.5 else -1
                masses.annotate(
                    f"{atom.mass:.3g}",
                    (atom.location, atom.mass),
                    xytext=(7 * inward, 0),
                    textcoords="offset points",
                    ha="left" if inward > 0 else "right",
                    va="center",
                    fontsize=8,
                    color=colour,
                )
        axis.set_xlabel("reward x")
        axis.set_ylabel("density of the continuous part")
        masses.set_ylabel("atom mass (squares)")
        masses.set_ylim(0, 0.6)
        axis.set_ylim(bottom=0)
        axis.set_title(f"{family}:B, numerical n -> infinity laws")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1)
    return figure


# --- convergence and the family map ------------------------------------------------------


def convergence(studies: Sequence[ConvergenceSeries]) -> Figure:
    """Kolmogorov-Smirnov and Wasserstein-1 distance to the limit against n, log-log, with fitted slopes.

    A utility whose distance is exactly 0 at every n (``linear`` at even n: its optimum is
    the two-point law) cannot be drawn on a log axis: the legend says so, and draws nothing.
    The x ticks are the n values themselves.
    """
    figure = Figure(figsize=(11, 4.4), layout="constrained")
    axes = figure.subplots(1, 2)
    markers = "osD^v<>p"
    ns_all = sorted({int(n) for study in studies for n in study.ns})
    for axis, key, name in zip(axes, ("kolmogorov_smirnov", "wasserstein"), ("Kolmogorov-Smirnov", "Wasserstein-1"), strict=True):
        for index, study in enumerate(studies):
            ns = np.asarray(study.ns, dtype=float)
            values = np.asarray(getattr(study, key), dtype=float)
            slope = getattr(study, f"{key}_slope")
            positive = values > 0
            if not positive.any():
                axis.plot([], [], linestyle="none", label=f"{study.utility}: distance exactly 0 at every n (not drawn)")
                continue
            label = study.utility + ("" if slope is None else f" (slope {slope:.2f})")
            axis.loglog(
                ns[positive],
                values[positive],
                marker=markers[index % len(markers)],
                color=family_colour(study.utility),
                label=label,
            )
        axis.xaxis.set_major_locator(FixedLocator(ns_all))
        axis.xaxis.set_minor_locator(NullLocator())
        axis.set_xticklabels([str(n) for n in ns_all])
        axis.set_xlabel("n (completions per prompt)")
        axis.set_ylabel(f"{name} distance to the limit")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=7)
    figure.suptitle("Convergence of the optimal rewards to their closed-form limit laws")
    return figure


def family_map(sweep: FamilyMap) -> Figure:
    """The limit law's shape across power:G, log and neg-power:G as one continuous picture.

    Top: the Beta(a, a) parameter against the exponent g of U = (x^g - 1)/g (power for
    g > 0, log at 0, neg-power for g < 0), closed form and moment fits of the finite-n
    optima. Bottom: the limit densities as a strip (one column per g), its colour bar
    beside it.
    """
    exponents = np.asarray(sweep.exponents, dtype=float)
    figure = Figure(figsize=(8.5, 8), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.4]})
    top.plot(exponents, sweep.closed_form_a, color="black", label="closed form: a = (1 - g)/2, 1 for g <= -1")
    top.plot(
        exponents,
        sweep.fitted_a,
        "o",
        markersize=4,
        color=FAMILY_COLOURS["power"],
        label=f"moment fit of the optimum, n = {sweep.n}",
    )
    top.axvline(0.0, color=FAMILY_COLOURS["log"], linestyle=":", label="log (arcsine, a = 1/2)")
    top.set_ylabel("Beta(a, a) parameter a")
    top.grid(alpha=0.3)
    top.legend(fontsize=8)
    grid = np.asarray(sweep.grid)
    densities = np.asarray(sweep.densities)
    image = bottom.imshow(
        densities.T,
        origin="lower",
        aspect="auto",
        extent=(exponents[0], exponents[-1], grid[0], grid[-1]),
        cmap="viridis",
        vmin=0.0,
        vmax=float(np.quantile(densities, 0.97)),
    )
    bottom.set_xlabel("exponent g (neg-power:-g  <  0 = log  <  power:g)")
    bottom.set_ylabel("reward x")
    figure.colorbar(image, ax=[top, bottom], location="right", shrink=0.55, anchor=(0.0, 0.0), label="limit density")
    figure.suptitle("The family map: limit laws from two-point (g -> 1) through arcsine (g = 0) to uniform (g <= -1)")
    return figure


# --- ranking losses ---------------------------------------------------------------------------


def _draw_loss_shapes(axis: Axes, optima: Sequence[LossOptimum]) -> None:
    n = max((item.shape.size for item in optima), default=0)
    middle = (len(optima) - 1) / 2.0
    offset = 0.25 / max(len(optima), 1)  # equal shapes (every unbounded loss: equal gaps) stay visible side by side
    for number, item in enumerate(optima):
        index = np.arange(1, item.shape.size + 1, dtype=float) + (number - middle) * offset
        answer = "direction, unbounded" if item.unbounded else item.status
        axis.plot(
            index,
            item.shape,
            linestyle="--" if item.unbounded else "-",
            marker=KIND_MARKERS[number % len(KIND_MARKERS)],
            markersize=4,
            linewidth=1.5,
            color=colormaps["tab10"](number % 10),
            label=f"{item.loss} ({item.frameworks}): {answer}",
        )
    axis.set_xticks(np.arange(1, n + 1))
    axis.set_xlim(0.5, n + 0.5)
    axis.set_ylim(-0.05, 1.05)
    axis.set_xlabel(RESPONSE_INDEX_LABEL)
    axis.set_ylabel("range-normalised reward (r - min r) / (max r - min r)")
    axis.set_title(f"optima at n = {n}, range-normalised (dashed: no maximiser, the direction)", fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)


def _draw_loss_law(axis: Axes, panel: LossLimitPanel, colour: Any) -> None:
    law = panel.law
    if law.density.size:
        axis.plot(law.grid, law.density, color=colour, linewidth=1.8, label=panel.law_name)
        axis.set_ylim(0, 1.25 * float(np.max(law.density)))
    axis.plot(
        panel.rewards,
        np.zeros_like(panel.rewards),
        "|",
        color="black",
        markersize=14,
        markeredgewidth=1.5,
        clip_on=False,
        label=f"optimum, n = {panel.rewards.size}",
    )
    if law.atoms:
        masses = axis.twinx()
        masses.vlines([a.location for a in law.atoms], 0, [a.mass for a in law.atoms], color=colour, linewidth=3)
        masses.set_ylim(0, 1)
        masses.set_ylabel("atom mass", fontsize=8)
        axis.plot([], [], color=colour, linewidth=3, label=f"atoms: {_atoms_text(law.atoms)}")
    axis.set_title(f"{panel.loss} ({panel.frameworks})", fontsize=9)
    axis.set_xlabel("reward")
    axis.set_ylabel("limit density")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25))


def ranking_losses(optima: Sequence[LossOptimum], limits: Sequence[LossLimitPanel]) -> Figure:
    """The framework losses' optima at n (range-normalised shapes, best first) and their limit laws.

    Left: one line per loss, solid where a maximiser exists, dashed where the loss is unbounded
    (the line is then the direction the rewards grow along; docs/losses.md). Right: one panel per
    loss with a limit law (semicircle, uniform, numerical field limits), on its own reward scale,
    the finite-n optimum as a rug of ticks on the reward axis.
    """
    columns = 3
    rows = max(1, -(-len(limits) // columns))
    layout: list[list[Any]] = [
        ["shapes", "shapes"] + [f"law{row * columns + column}" for column in range(columns)] for row in range(rows)
    ]
    figure = Figure(figsize=(19.0, 4.6 * rows), layout="constrained")
    axes = figure.subplot_mosaic(layout)
    _draw_loss_shapes(axes["shapes"], optima)
    colours = {item.loss: colormaps["tab10"](number % 10) for number, item in enumerate(optima)}
    for number in range(rows * columns):
        axis = axes[f"law{number}"]
        if number < len(limits):
            _draw_loss_law(axis, limits[number], colours.get(limits[number].loss, "#555555"))
        else:
            axis.set_visible(False)
    figure.suptitle("Ranking losses as frameworks train them: the optimum (or direction) at n = 8 and the n -> infinity law")
    return figure


def bradley_terry_divergence(history: DivergenceHistory) -> Figure:
    """Free Bradley-Terry in training: the reward range grows without bound while the shape approaches the direction.

    Drawn by :func:`collapse_theory.training.divergence.plot_divergence` from the run's metrics.
    """
    entries = [
        {"step": step, "reward_range": reward_range, "shape_distance": distance}
        for step, reward_range, distance in zip(history.steps, history.reward_range, history.shape_distance, strict=True)
    ]
    title = f"{history.loss}, free rewards: {history.prompts} prompts, learning rate {history.learning_rate:g}"
    return plot_divergence(entries, title=title)
