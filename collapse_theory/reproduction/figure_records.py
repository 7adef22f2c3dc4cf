"""The figures' inputs: the steps' cached JSON made into :mod:`collapse_theory.figures`' typed records, in one place.

:func:`drawings` returns one zero-argument function per figure; each looks its drawing
function up on :mod:`collapse_theory.figures` when called (so a test can replace one).
:func:`snapshot_run` makes one training run's snapshots and history into the snapshot
figure's record (the synthetic runs here, the real-text runs in :mod:`.text_steps`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from matplotlib.figure import Figure

from collapse_theory import figures
from collapse_theory.laws.law import Atom
from collapse_theory.reproduction.settings import PROMPT_AWARE, SINGLE_UTILITIES, SNAPSHOT_RUNS
from collapse_theory.training.diagnostics import KindCurve, SplitDiagnostics

__all__ = ["drawings", "snapshot_run"]


def _split(value: dict[str, Any]) -> SplitDiagnostics:
    curves = tuple(
        KindCurve(
            kind=curve["kind"],
            utility=curve["utility"],
            prompts=curve["prompts"],
            pair_accuracy=curve["pair_accuracy"],
            mean=np.asarray(curve["mean"], dtype=float),
            spread=np.asarray(curve["spread"], dtype=float),
            optimum=np.asarray(curve["optimum"], dtype=float),
            distance_to_optimum=curve["distance_to_optimum"],
        )
        for curve in value["curves"]
    )
    return SplitDiagnostics(
        split=value["split"],
        prompts=value["prompts"],
        pair_accuracy=value["pair_accuracy"],
        curves=curves,
        kind_distances=dict(value["kind_distances"]),
        collapse_score=value["collapse_score"],
    )


def _law_drawing(value: dict[str, Any]) -> figures.LawDrawing:
    return figures.LawDrawing(
        grid=np.asarray(value["grid"], dtype=float),
        density=np.asarray(value["density"], dtype=float),
        atoms=tuple(Atom(float(location), float(mass)) for location, mass in value["atoms"]),
    )


def _optional_array(values: list[float | None]) -> np.ndarray | None:
    if not values or any(v is None for v in values):
        return None
    return np.asarray(values, dtype=float)


def snapshot_run(name: str, run: dict[str, Any]) -> figures.SnapshotRun:
    """A training run's cached record (``snapshots``, ``collapse_history``) as the snapshot figure's record."""
    history = run["collapse_history"]
    return figures.SnapshotRun(
        name=name,
        snapshots=tuple(
            figures.Snapshot(step=int(step), split=_split(split))
            for step, split in sorted(run["snapshots"].items(), key=lambda item: int(item[0]))
        ),
        history=figures.CollapseHistory(
            steps=np.asarray(history["steps"], dtype=float),
            train=np.asarray(history["train"], dtype=float),
            held_out=_optional_array(history["held_out"]),
        ),
    )


class _LossRecords(NamedTuple):
    optima: list[Any]
    limits: list[Any]
    divergence: Any


def _loss_records(results: dict[str, Any]) -> _LossRecords:
    """The ranking-loss figures' records: every framework loss's shape, the limit laws, Bradley-Terry's run."""
    items = results["ranking_losses"]
    optima = [
        figures.LossOptimum(
            loss=item["spec"], frameworks=item["frameworks"], status=item["status"], shape=np.asarray(item["shape"], dtype=float)
        )
        for item in items
    ]
    limits = [
        figures.LossLimitPanel(
            loss=item["spec"],
            frameworks=item["frameworks"],
            law_name=item["law"]["name"],
            law=_law_drawing(item["law"]),
            rewards=np.asarray(item["rewards"], dtype=float),
        )
        for item in items
        if item["law"] is not None
    ]
    run = results["loss_training"]["bradley_terry"]
    divergence = figures.DivergenceHistory(
        loss="bradley-terry",
        prompts=run["prompts"],
        learning_rate=run["learning_rate"],
        steps=np.asarray(run["steps"], dtype=float),
        reward_range=np.asarray(run["reward_range"], dtype=float),
        shape_distance=np.asarray(run["shape_distance"], dtype=float),
    )
    return _LossRecords(optima, limits, divergence)


def drawings(results: dict[str, Any]) -> dict[str, Callable[[], Figure]]:
    """Every figure's drawing, from the steps' cached JSON made into the figures' typed records."""
    training = results["training"]
    titles = {
        "prompt-aware": "prompt-aware: " + ", ".join(f"{kind} = {spec}" for kind, spec in PROMPT_AWARE),
        **{name: f"one utility for every prompt: U = {name}" for name in SINGLE_UTILITIES},
    }
    reward_panels = [
        figures.RewardPanel(title=titles[name], split=_split(training[name]["final"]["train"]))
        for name in ("linear", "log", "neg-power:1", "prompt-aware")
    ]
    snapshot_runs = [snapshot_run(name, training[name]) for name in SNAPSHOT_RUNS]
    limit_panels = [
        figures.LimitPanel(
            utility=item["spec"],
            rewards=np.asarray(item["rewards"], dtype=float),
            law_name=item["law_name"],
            law=_law_drawing(item["law"]),
        )
        for item in results["limit_laws"]["items"]
    ]
    series = [
        figures.ConvergenceSeries(
            utility=study["utility"],
            ns=np.asarray(study["ns"]),
            kolmogorov_smirnov=np.asarray(study["kolmogorov_smirnov"], dtype=float),
            wasserstein=np.asarray(study["wasserstein"], dtype=float),
            kolmogorov_smirnov_slope=study["kolmogorov_smirnov_slope"],
            wasserstein_slope=study["wasserstein_slope"],
        )
        for study in results["convergence"]
    ]
    sweep = results["family_map"]
    family = figures.FamilyMap(
        n=sweep["n"],
        exponents=np.asarray(sweep["exponents"], dtype=float),
        closed_form_a=np.asarray(sweep["closed_form_a"], dtype=float),
        fitted_a=np.asarray(sweep["fitted_a"], dtype=float),
        grid=np.asarray(sweep["grid"], dtype=float),
        densities=np.asarray(sweep["densities"], dtype=float),
    )
    numerical = [
        figures.NumericalLawDrawing(utility=item["spec"], law=_law_drawing(item["law"])) for item in results["numerical_limits"]
    ]
    losses = _loss_records(results)
    limit_n = results["limit_laws"]["n"]
    # looked up on the module at drawing time (the interruption test replaces one)
    return {
        "reward_curves": lambda: figures.reward_curves(reward_panels),
        "training_snapshots": lambda: figures.training_snapshots(snapshot_runs),
        "limit_laws": lambda: figures.limit_laws(limit_panels, limit_n),
        "convergence": lambda: figures.convergence(series),
        "family_map": lambda: figures.family_map(family),
        "numerical_limits": lambda: figures.numerical_limits(numerical),
        "ranking_losses": lambda: figures.ranking_losses(losses.optima, losses.limits),
        "bradley_terry_divergence": lambda: figures.bradley_terry_divergence(losses.divergence),
    }
