"""The reproduction's figures: one function per figure, each returning a matplotlib Figure.

Every function takes plain results (the JSON-ready dictionaries that
:mod:`collapse_theory.reproduction` computes and caches) and draws; none computes.
Colours are fixed per utility family and per kind of prompt, so a utility looks
the same in every figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from collapse_theory.families import FAMILIES
from collapse_theory.utilities import parse_utility

__all__ = [
    "FAMILY_COLOURS",
    "KIND_COLOURS",
    "convergence",
    "family_colour",
    "family_map",
    "limit_laws",
    "numerical_limits",
    "reward_curves",
    "training_snapshots",
]

#: One colour per utility family, used in every figure (read from the family records).
FAMILY_COLOURS = {family.name: family.colour for family in FAMILIES.values()}
#: One colour per kind of prompt.
KIND_COLOURS = {"open": "#1f77b4", "closed": "#d62728"}


def family_colour(spec: str) -> str:
    """The colour of a utility spec's family (grey for custom utilities and unknown specs)."""
    try:
        record = parse_utility(spec).family_record
    except ValueError:
        return "#555555"
    return "#555555" if record is None else record.colour


def _kind_colour(kind: str, index: int) -> Any:
    return KIND_COLOURS[kind] if kind in KIND_COLOURS else plt.get_cmap("tab10")(index)


def _draw_curves(axis: Any, split: Mapping[str, Any], title: str) -> None:
    """Mean +- spread of the sorted rewards per kind, the solver's optimum dashed."""
    for index, curve in enumerate(split["curves"]):
        mean, spread, optimum = (np.asarray(curve[key]) for key in ("mean", "spread", "optimum"))
        ranks = np.arange(1, mean.size + 1)
        colour = _kind_colour(curve["kind"], index)
        axis.plot(ranks, mean, "o-", color=colour, label=f"{curve['kind']}-ended ({curve['utility']})")
        axis.fill_between(ranks, mean - spread, mean + spread, color=colour, alpha=0.2, linewidth=0)
        axis.plot(ranks, optimum, "--", color=colour, alpha=0.8, linewidth=1.5)
    axis.set_title(title, fontsize=10)
    axis.set_xlabel("response index (best first)")
    axis.set_ylabel("reward")
    axis.set_ylim(-0.05, 1.05)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper right")


def reward_curves(panels: Sequence[tuple[str, Mapping[str, Any]]]) -> Figure:
    """Reward vs response index per kind of prompt, one panel per training run.

    ``panels`` holds (title, split diagnostics) with the split's ``curves`` as in
    :meth:`collapse_theory.training.Diagnostics.as_dict`. Solid: trained mean with a
    one-standard-deviation band over prompts; dashed: the solver's optimum.
    """
    columns = min(len(panels), 2)
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.9 * rows), squeeze=False)
    for axis, (title, split) in zip(axes.flat, panels, strict=False):
        _draw_curves(axis, split, title)
    for axis in axes.flat[len(panels) :]:
        axis.set_visible(False)
    figure.suptitle("Trained rewards (solid, mean ± sd over prompts) and the solver's optimum (dashed), n = 8")
    figure.tight_layout()
    return figure


def training_snapshots(runs: Sequence[tuple[str, Sequence[tuple[int, Mapping[str, Any]]]]]) -> Figure:
    """Early and late snapshots of training: one row per run, one column per snapshot."""
    columns = max(len(snapshots) for _, snapshots in runs)
    figure, axes = plt.subplots(len(runs), columns, figsize=(5.0 * columns, 3.7 * len(runs)), squeeze=False)
    for row, (title, snapshots) in enumerate(runs):
        for column, (step, split) in enumerate(snapshots):
            _draw_curves(axes[row, column], split, f"{title}, step {step}")
    figure.suptitle("Collapse during training: one utility for all prompts vs the prompt-aware scheme")
    figure.tight_layout()
    return figure


def _draw_law(axis: Any, law: Mapping[str, Any], colour: str) -> None:
    grid = np.asarray(law["grid"])
    density = np.asarray(law["density"])
    if density.size:
        axis.plot(grid, density, color="black", linewidth=1.3, label="limit density")
    for index, (location, mass) in enumerate(law["atoms"]):
        label = "atoms (masses " + ", ".join(f"{m:.3g}" for _, m in law["atoms"]) + ")" if index == 0 else None
        axis.vlines(location, 0, mass * law.get("atom_scale", 1.0), color="black", linewidth=3, label=label)


def limit_laws(items: Sequence[Mapping[str, Any]], n: int) -> Figure:
    """Histograms of the optimal rewards at n with the limit density (or atoms) overlaid.

    Each item: ``spec``, ``rewards``, ``law_name`` and ``law`` (``grid``, ``density``,
    ``atoms`` as [(location, mass)]). Atoms are drawn as bars whose height is the
    mass divided by the histogram's bin width, so they compare with the histogram.
    """
    columns = 4
    rows = -(-len(items) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.0 * columns, 3.2 * rows), squeeze=False)
    bins = np.linspace(0.0, 1.0, 26)
    width = bins[1] - bins[0]
    for axis, item in zip(axes.flat, items, strict=False):
        colour = family_colour(item["spec"])
        axis.hist(item["rewards"], bins=bins, density=True, color=colour, alpha=0.55, label=f"optimum, n = {n}")
        law = dict(item["law"], atom_scale=1.0 / width)
        _draw_law(axis, law, colour)
        axis.set_title(f"{item['spec']}: {item['law_name']}", fontsize=9)
        axis.set_xlabel("reward")
        axis.set_ylabel("density")
        top = max(np.histogram(item["rewards"], bins=bins, density=True)[0].max(), 1.0)
        axis.set_ylim(0, 1.25 * top)
        axis.legend(fontsize=7, loc="upper center")
    for axis in axes.flat[len(items) :]:
        axis.set_visible(False)
    figure.suptitle(f"Optimal rewards at n = {n} and their n -> infinity laws")
    figure.tight_layout()
    return figure


def convergence(studies: Sequence[Mapping[str, Any]]) -> Figure:
    """Kolmogorov-Smirnov and Wasserstein-1 distance to the limit against n, log-log, with fitted slopes."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    markers = "osD^v<>p"
    for index, study in enumerate(studies):
        ns = np.asarray(study["ns"], dtype=float)
        colour = family_colour(study["utility"])
        for axis, key in zip(axes, ("kolmogorov_smirnov", "wasserstein"), strict=True):
            values = np.asarray(study[key], dtype=float)
            slope = study[f"{key}_slope"]
            label = study["utility"] + ("" if slope is None else f" (slope {slope:.2f})")
            positive = values > 0
            axis.loglog(ns[positive], values[positive], marker=markers[index % len(markers)], color=colour, label=label)
    for axis, name in zip(axes, ("Kolmogorov-Smirnov", "Wasserstein-1"), strict=True):
        axis.set_xlabel("n (completions per prompt)")
        axis.set_ylabel(f"{name} distance to the limit")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=7)
    figure.suptitle("Convergence of the optimal rewards to their closed-form limit laws")
    figure.tight_layout()
    return figure


def family_map(sweep: Mapping[str, Any]) -> Figure:
    """The limit law's shape across power:G, log and neg-power:G as one continuous picture.

    Top: the Beta(a, a) parameter against the exponent g of U = (x^g - 1)/g (power
    for g > 0, log at 0, neg-power for g < 0), closed form and moment fits of the
    finite-n optima. Bottom: the limit densities as a strip (one column per g).
    """
    exponents = np.asarray(sweep["exponents"], dtype=float)
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(8, 8), sharex=True, gridspec_kw={"height_ratios": [1, 1.4]}, constrained_layout=True
    )
    top.plot(exponents, sweep["closed_form_a"], color="black", label="closed form: a = (1 - g)/2, 1 for g <= -1")
    top.plot(
        exponents,
        sweep["fitted_a"],
        "o",
        markersize=4,
        color=FAMILY_COLOURS["power"],
        label=f"moment fit of the optimum, n = {sweep['n']}",
    )
    top.axvline(0.0, color=FAMILY_COLOURS["log"], linestyle=":", label="log (arcsine, a = 1/2)")
    top.set_ylabel("Beta(a, a) parameter a")
    top.grid(alpha=0.3)
    top.legend(fontsize=8)
    grid = np.asarray(sweep["grid"])
    densities = np.asarray(sweep["densities"])
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
    figure.colorbar(image, ax=bottom, label="limit density", orientation="horizontal", pad=0.18, fraction=0.06)
    figure.suptitle("The family map: limit laws from two-point (g -> 1) through arcsine (g = 0) to uniform (g <= -1)")
    return figure


def numerical_limits(items: Sequence[Mapping[str, Any]]) -> Figure:
    """Numerical limit laws of utilities without a closed form (log-sigmoid:B, exp:B).

    One panel per family; each law's continuous density as a line and its atoms at
    0 and 1 as markers whose height is the mass (right axis).
    """
    families = list(dict.fromkeys(item["spec"].split(":")[0] for item in items))
    figure, axes = plt.subplots(1, len(families), figsize=(6.0 * len(families), 4.2), squeeze=False)
    for axis, family in zip(axes.flat, families, strict=True):
        members = [item for item in items if item["spec"].startswith(family + ":")]
        masses = axis.twinx()
        shades = np.linspace(0.35, 1.0, len(members))
        base = np.array(matplotlib.colors.to_rgb(family_colour(family)))
        for shade, item in zip(shades, members, strict=True):
            colour = tuple(base * shade)
            law = item["law"]
            axis.plot(law["grid"], law["density"], color=colour, label=f"{item['spec']} (atoms {law['atom_mass']:.2f})")
            for location, mass in law["atoms"]:
                masses.plot([location], [mass], "s", color=colour, markersize=7)
        axis.set_xlabel("reward x")
        axis.set_ylabel("density of the continuous part")
        masses.set_ylabel("atom mass (squares)")
        masses.set_ylim(0, 0.6)
        axis.set_ylim(bottom=0)
        axis.set_title(f"{family}:B, numerical n -> infinity laws")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(members))
    figure.tight_layout()
    return figure
