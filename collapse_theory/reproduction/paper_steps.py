"""The paper's computations of the reproduction, one function per cached step, each returning JSON-ready values.

Steps: the Gauss-Lobatto optimum of ``log``; optimal rewards at a large n for every built-in
with its limit law; convergence to the closed forms; the family map; numerical limits of
``log-sigmoid:B`` and ``exp:B`` and their cross-check against the closed forms; the paper's
smoothed -1/(x + 0.1), whose limit law has atoms at the ends; and five training runs on
synthetic prompts (four single utilities, one prompt-aware scheme).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, TextIO

import numpy as np
import scipy.stats

from collapse_theory.design.utility_design import beta_parameter_sweep, limit_beta_parameter
from collapse_theory.laws.convergence_studies import convergence_many
from collapse_theory.laws.distances import distance, law_distance
from collapse_theory.laws.law import Law
from collapse_theory.laws.limits import describe_limit, gauss_lobatto_rewards, limit
from collapse_theory.laws.numerical_laws import numerical_limit
from collapse_theory.problems.utilities import custom, parse_utility
from collapse_theory.reproduction.settings import (
    CONVERGENCE_UTILITIES,
    LIMIT_UTILITIES,
    NUMERICAL_UTILITIES,
    PROMPT_AWARE,
    SINGLE_UTILITIES,
    SMOOTHING,
    TIE_TOLERANCE,
    Settings,
)
from collapse_theory.solver.utility_solver import solve, solve_many
from collapse_theory.training import TrainingConfig, acceptance, diagnose, make_synthetic_dataset, train

__all__ = [
    "convergence_step",
    "family_map_step",
    "gauss_lobatto_step",
    "law_on_grid",
    "limit_laws_step",
    "numerical_cross_check_step",
    "numerical_limits_step",
    "smoothed_limit_step",
    "smoothed_neg_power",
    "training_step",
]


def gauss_lobatto_step(settings: Settings) -> dict[str, Any]:
    errors, certified = {}, {}
    for n in settings.gauss_lobatto_ns:
        solution = solve("log", n)
        errors[str(n)] = float(np.max(np.abs(solution.rewards - gauss_lobatto_rewards(n))))
        certified[str(n)] = bool(solution.converged and solution.certified)
    return {"max_abs_error": errors, "certified": certified}


def law_on_grid(law: Law, grid: np.ndarray) -> dict[str, Any]:
    """The continuous part's density on a grid (a numerical law's own mesh) and the atoms."""
    grid = getattr(law, "grid", grid)
    continuous = law.continuous_mass > 0.0
    return {
        "grid": grid if continuous else [],
        "density": law.pdf(grid) if continuous else [],
        "atoms": [[atom.location, atom.mass] for atom in law.atoms],
        "atom_mass": float(sum(atom.mass for atom in law.atoms)),
    }


def limit_laws_step(settings: Settings) -> dict[str, Any]:
    grid = np.linspace(0.0025, 0.9975, 400)
    items = []
    utilities = [parse_utility(spec) for spec in LIMIT_UTILITIES]  # the step's specs enter here
    for utility, solution in zip(utilities, solve_many(utilities, settings.limit_n), strict=True):
        closed = limit(utility)
        law: Law = numerical_limit(utility) if closed is None else closed
        name = "numerical limit" if closed is None else describe_limit(closed)
        items.append(
            {
                "spec": solution.utility,
                "rewards": solution.rewards,
                "converged": solution.converged,
                "certified": solution.certified,
                "gap": solution.gap,
                "law_name": name,
                "law": law_on_grid(law, grid),
                "kolmogorov_smirnov": distance(solution.rewards, law).kolmogorov_smirnov,
            }
        )
    return {"n": settings.limit_n, "items": items}


def convergence_step(settings: Settings) -> list[dict[str, Any]]:
    studies = []
    for study in convergence_many(CONVERGENCE_UTILITIES, settings.convergence_ns):
        points = study.points
        studies.append(
            {
                "utility": study.utility,
                "ns": [p.n for p in points],
                "kolmogorov_smirnov": [p.kolmogorov_smirnov for p in points],
                "wasserstein": [p.wasserstein for p in points],
                "kolmogorov_smirnov_slope": None
                if study.kolmogorov_smirnov_rate is None
                else study.kolmogorov_smirnov_rate.slope,
                "wasserstein_slope": None if study.wasserstein_rate is None else study.wasserstein_rate.slope,
                "all_certified": all(p.converged for p in points),
            }
        )
    return studies


def family_map_step(settings: Settings) -> dict[str, Any]:
    sweep = beta_parameter_sweep(list(settings.family_exponents), settings.family_n)
    grid = np.linspace(0.005, 0.995, 199)
    closed = [limit_beta_parameter(g) for g in settings.family_exponents]
    densities = [scipy.stats.beta(max(a, 0.02), max(a, 0.02)).pdf(grid) for a in closed]
    return {
        "n": settings.family_n,
        "exponents": list(settings.family_exponents),
        "closed_form_a": closed,
        "fitted_a": [p.fitted_beta_parameter for p in sweep.points],
        "converged": [p.converged for p in sweep.points],
        "grid": grid,
        "densities": densities,
    }


def numerical_limits_step(settings: Settings) -> list[dict[str, Any]]:
    items = []
    for spec in NUMERICAL_UTILITIES:
        law = numerical_limit(spec)
        items.append({"spec": spec, "law": law_on_grid(law, law.grid), "error_estimate": law.error_estimate, "mean": law.mean})
    return items


def numerical_cross_check_step(settings: Settings) -> dict[str, float]:
    return {spec: law_distance(numerical_limit(spec), limit(spec)) for spec in ("log", "power:0.5", "neg-power:0.5", "linear")}


def smoothed_neg_power(smoothing: float = SMOOTHING) -> Any:
    """The paper's smoothed -1/x for open-ended prompts: U(x) = -1/(x + smoothing), concave.

    Example:
        >>> smoothed_neg_power().spec
        'smoothed-neg-power'
    """
    return custom(lambda x: -1.0 / (x + smoothing), "smoothed-neg-power", concave=True)


def smoothed_limit_step(settings: Settings) -> dict[str, Any]:
    """The smoothed utility's limit law (atoms at the ends) against neg-power:1's uniform law."""
    utility = smoothed_neg_power()
    law = numerical_limit(utility)
    uniform = limit("neg-power:1")
    assert uniform is not None  # neg-power:1 has the closed-form uniform limit
    solution = solve(utility, settings.family_n)
    rewards = np.asarray(solution.rewards)
    return {
        "smoothing": SMOOTHING,
        "atoms": [[atom.location, atom.mass] for atom in law.atoms],
        "error_estimate": law.error_estimate,
        "kolmogorov_smirnov_to_uniform": law_distance(law, uniform),
        "n": settings.family_n,
        "ties_at_one": int(np.sum(np.abs(rewards - 1.0) <= TIE_TOLERANCE)),
        "ties_at_zero": int(np.sum(np.abs(rewards) <= TIE_TOLERANCE)),
        "converged": bool(solution.converged),
        "certified": bool(solution.certified),
    }


def training_record(dataset: Any, result: Any, final: Any, snapshot_steps: Sequence[int]) -> dict[str, Any]:
    """What the report keeps of one training run: the final diagnostics, snapshots, the collapse history."""
    chosen = sorted({s for s in snapshot_steps if s in result.snapshots} | {max(result.snapshots)})
    snapshots = {str(s): diagnose(dataset, result.snapshots[s], result.losses_by_kind).as_dict()["train"] for s in chosen}
    history = [entry for entry in result.metrics if entry.get("collapse_score") is not None]
    return {
        "final": final.as_dict(),
        "snapshots": snapshots,
        "collapse_history": {
            "steps": [entry["step"] for entry in history],
            "train": [entry["collapse_score"] for entry in history],
            "held_out": [entry.get("held_out_collapse_score") for entry in history],
        },
    }


def training_step(settings: Settings, stream: TextIO | None) -> dict[str, Any]:
    dataset = make_synthetic_dataset(prompts=settings.prompts, seed=settings.seed)
    runs: dict[str, Any] = {}
    configurations: list[tuple[str, TrainingConfig]] = [
        (spec, TrainingConfig(utility=spec, steps=settings.steps, seed=settings.seed)) for spec in SINGLE_UTILITIES
    ]
    configurations.append(("prompt-aware", TrainingConfig(prompt_aware=PROMPT_AWARE, steps=settings.steps, seed=settings.seed)))
    for name, config in configurations:
        if stream is not None:
            print(f"      training {name} ({settings.prompts} prompts, {settings.steps} steps)", file=stream, flush=True)
        result = train(dataset, config, progress=False)
        final = diagnose(dataset, result.rewards, result.losses_by_kind)
        runs[name] = {
            **training_record(dataset, result, final, settings.snapshot_steps),
            "acceptance_train": asdict(acceptance(final, "train")),
            "acceptance_held_out": asdict(acceptance(final, "held_out")),
            "terminal_phase": result.terminal_phase,
            "train_pair_accuracy": result.train_pair_accuracy,
        }
    return runs
