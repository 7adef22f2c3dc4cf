"""Diagnostics of a trained reward model: per-kind reward curves, distances, the collapse score.

For each prompt kind and each rank k = 1..n, the *reward curve* is the mean (and the
spread: standard deviation) over that kind's prompts of the k-th largest reward of a
prompt, the plot of Song, Cai, Lee, Su ("Reward Collapse in Aligning Large Language
Models", arXiv 2305.17608, Figures 3-5: reward against response index). Then

* distance to the optimum: :math:`\\max_k |\\bar r_k - r^*_k|`, with :math:`r^*` the
  solver's optimum (:func:`collapse_theory.solver.solve`) of the kind's utility for n;
* distance between kinds a and b: :math:`\\max_k |\\bar r^{(a)}_k - \\bar r^{(b)}_k|`;
* **collapse score**: the largest distance between any two kinds (0 when every kind
  has the same mean curve, i.e. complete reward collapse; at most 1 since rewards lie
  in (0, 1)). One utility for all prompts drives it to 0 in the terminal phase; the
  prompt-aware remedy keeps it large.

Example:
    >>> import numpy as np
    >>> rankings = np.array([[0, 1], [1, 0]])
    >>> pair_accuracy(np.array([[0.9, 0.1], [0.2, 0.8]]), rankings)
    1.0
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from collapse_theory._io import atomic_write_json
from collapse_theory.solver import solve_many
from collapse_theory.training.data import Dataset
from collapse_theory.utilities import parse_utility


def pair_accuracy(scores: np.ndarray, rankings: np.ndarray) -> float:
    """Fraction of ranked pairs (i better than j) with score_i > score_j strictly.

    ``scores`` and ``rankings`` are [P, n] in the same (storage) order; scores may be
    rewards or logits (logits never tie where sigmoid rounds to 1). NaN for P = 0.
    """
    scores, rankings = np.asarray(scores), np.asarray(rankings)
    if scores.shape[0] == 0:
        return float("nan")
    by_rank = np.take_along_axis(scores, np.argsort(rankings, axis=1), axis=1)
    better, worse = np.triu_indices(scores.shape[1], 1)
    return float(np.mean(by_rank[:, better] > by_rank[:, worse]))


def sorted_rewards(rewards: np.ndarray) -> np.ndarray:
    """Each prompt's rewards sorted descending (column k = the (k+1)-th largest), float64."""
    return -np.sort(-np.asarray(rewards, dtype=np.float64), axis=1)


@dataclass(frozen=True, eq=False)
class KindCurve:
    """The reward curve of one kind of prompt on one split.

    Attributes:
        kind: the kind's name.
        utility: the kind's utility spec.
        prompts: number of prompts of this kind in the split.
        mean: float64 [n], mean over prompts of the sorted rewards, per rank.
        spread: float64 [n], their standard deviation over prompts.
        optimum: float64 [n], the solver's optimal rewards for the utility and n.
        distance_to_optimum: ``max_k |mean_k - optimum_k|``.
    """

    kind: str
    utility: str
    prompts: int
    mean: np.ndarray
    spread: np.ndarray
    optimum: np.ndarray
    distance_to_optimum: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "kind": self.kind,
            "utility": self.utility,
            "prompts": self.prompts,
            "mean": self.mean.tolist(),
            "spread": self.spread.tolist(),
            "optimum": self.optimum.tolist(),
            "distance_to_optimum": self.distance_to_optimum,
        }


@dataclass(frozen=True, eq=False)
class SplitDiagnostics:
    """Reward curves and distances of the training or the held-out prompts.

    Attributes:
        split: ``"train"`` or ``"held_out"``.
        prompts: number of prompts in the split.
        pair_accuracy: fraction of ranked pairs ordered right by the rewards.
        curves: one :class:`KindCurve` per kind present in the split.
        kind_distances: ``{"a vs b": max_k |mean_a - mean_b|}`` for every pair of kinds.
        collapse_score: the largest of ``kind_distances`` (0 = complete collapse); None
            with fewer than two kinds.
    """

    split: str
    prompts: int
    pair_accuracy: float
    curves: tuple[KindCurve, ...]
    kind_distances: dict[str, float]
    collapse_score: float | None

    def curve(self, kind: str) -> KindCurve:
        """The curve of one kind."""
        for curve in self.curves:
            if curve.kind == kind:
                return curve
        raise KeyError(f"no prompts of kind {kind!r} in the {self.split} split")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "split": self.split,
            "prompts": self.prompts,
            "pair_accuracy": self.pair_accuracy,
            "curves": [curve.as_dict() for curve in self.curves],
            "kind_distances": dict(self.kind_distances),
            "collapse_score": self.collapse_score,
        }


@dataclass(frozen=True, eq=False)
class Diagnostics:
    """Diagnostics on the training prompts and, beside them, the held-out prompts.

    Attributes:
        n: completions per prompt.
        utilities: each kind's utility spec.
        train: the training split.
        held_out: the held-out split (None when the dataset holds none out).
    """

    n: int
    utilities: dict[str, str]
    train: SplitDiagnostics
    held_out: SplitDiagnostics | None

    @property
    def mode(self) -> str:
        """``"single"`` when every kind has the same utility, else ``"prompt-aware"``."""
        return "single" if len(set(self.utilities.values())) == 1 else "prompt-aware"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values (the run directory's ``diagnostics.json``)."""
        return {
            "n": self.n,
            "mode": self.mode,
            "utilities": dict(self.utilities),
            "train": self.train.as_dict(),
            "held_out": None if self.held_out is None else self.held_out.as_dict(),
        }


def _split_diagnostics(
    split: str,
    rewards: np.ndarray,
    rankings: np.ndarray,
    kinds: np.ndarray,
    kind_names: tuple[str, ...],
    utilities: Mapping[str, str],
    optima: Mapping[str, np.ndarray],
) -> SplitDiagnostics:
    ordered = sorted_rewards(rewards)
    curves = []
    for index, kind in enumerate(kind_names):
        members = ordered[kinds == index]
        if members.shape[0] == 0:
            continue
        mean = members.mean(axis=0)
        optimum = optima[utilities[kind]]
        curves.append(
            KindCurve(
                kind=kind,
                utility=utilities[kind],
                prompts=int(members.shape[0]),
                mean=mean,
                spread=members.std(axis=0),
                optimum=optimum,
                distance_to_optimum=float(np.max(np.abs(mean - optimum))),
            )
        )
    distances = {f"{a.kind} vs {b.kind}": float(np.max(np.abs(a.mean - b.mean))) for a, b in itertools.combinations(curves, 2)}
    return SplitDiagnostics(
        split=split,
        prompts=int(rewards.shape[0]),
        pair_accuracy=pair_accuracy(rewards, rankings),
        curves=tuple(curves),
        kind_distances=distances,
        collapse_score=max(distances.values()) if distances else None,
    )


def diagnose(
    dataset: Dataset,
    rewards: np.ndarray,
    utilities: Mapping[str, str],
    optima: Mapping[str, np.ndarray] | None = None,
) -> Diagnostics:
    """Reward curves per kind, distances to the solver's optima and between kinds, the collapse score.

    Args:
        dataset: the dataset the rewards belong to (rankings, kinds, held-out split).
        rewards: [P, n] rewards of every prompt in the dataset's order, e.g.
            ``TrainingResult.rewards`` or one of its ``snapshots``.
        utilities: each kind's utility spec, e.g. ``TrainingResult.utilities``.
        optima: optional ``{spec: optimal rewards [n], best first}`` to compare with instead
            of calling the solver (e.g. a closed form); specs not given are solved.

    Example:
        >>> import numpy as np
        >>> from collapse_theory.training.data import make_synthetic_dataset
        >>> data = make_synthetic_dataset(prompts=4, n=2, held_out=0.0)
        >>> ideal = np.where(data.rankings == 0, 1.0, 0.0)  # the linear optimum for n = 2
        >>> report = diagnose(data, ideal, {"open": "linear", "closed": "linear"}, optima={"linear": [1.0, 0.0]})
        >>> report.train.collapse_score, report.train.curve("open").distance_to_optimum
        (0.0, 0.0)
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.shape != dataset.rankings.shape:
        raise ValueError(f"rewards must have shape {dataset.rankings.shape} (the dataset's [P, n]), got {rewards.shape}")
    missing = [kind for kind in dataset.kind_names if kind not in utilities]
    if missing:
        raise ValueError(f"no utility given for kind {missing[0]!r}")
    chosen = {kind: parse_utility(utilities[kind]).spec for kind in dataset.kind_names}
    given = {parse_utility(spec).spec: np.asarray(value, dtype=np.float64) for spec, value in (optima or {}).items()}
    for spec, value in given.items():
        if value.shape != (dataset.n,) or not np.all(np.isfinite(value)):
            raise ValueError(f"optimum given for {spec!r} must be {dataset.n} finite rewards, got shape {value.shape}")
    missing_specs = [spec for spec in dict.fromkeys(chosen.values()) if spec not in given]
    solved = solve_many(missing_specs, dataset.n) if missing_specs else []
    optima = {**given, **{s.utility: np.asarray(s.rewards, dtype=np.float64) for s in solved}}

    def split(name: str, held_out: bool) -> SplitDiagnostics:
        rows = dataset.split(held_out)
        return _split_diagnostics(
            name, rewards[rows], dataset.rankings[rows], dataset.kinds[rows], dataset.kind_names, chosen, optima
        )

    held = split("held_out", True) if dataset.held_out.any() else None
    return Diagnostics(n=dataset.n, utilities=chosen, train=split("train", False), held_out=held)


#: The acceptance thresholds of the trainer's demo (issue 4): distance to the optimum and between kinds.
ACCEPTANCE_TOLERANCE = 0.05
ACCEPTANCE_SEPARATION = 0.3


@dataclass(frozen=True)
class Acceptance:
    """Whether one split shows what the theory predicts.

    Attributes:
        passed: every check below holds.
        mode: ``"single"`` (expects collapse) or ``"prompt-aware"`` (expects separation).
        max_distance_to_optimum: the largest kind's distance to its utility's optimum
            (must be below ``tolerance``).
        collapse_score: the largest distance between kinds' mean curves (``single``: below
            ``tolerance``; ``prompt-aware``: above ``separation``).
        message: one line saying what held and what did not.
    """

    passed: bool
    mode: str
    max_distance_to_optimum: float
    collapse_score: float | None
    message: str


def acceptance(
    diagnostics: Diagnostics,
    split: str = "train",
    tolerance: float = ACCEPTANCE_TOLERANCE,
    separation: float = ACCEPTANCE_SEPARATION,
) -> Acceptance:
    """Check a split against the demo's acceptance figures.

    One utility for every prompt: the kinds' mean curves differ by less than
    ``tolerance`` at every rank and each is within ``tolerance`` of the optimum (reward
    collapse). Prompt-aware: each kind within ``tolerance`` of its own optimum and the
    kinds differ by more than ``separation`` at some rank.
    """
    chosen = diagnostics.train if split == "train" else diagnostics.held_out
    if chosen is None:
        raise ValueError(f"no {split} split in these diagnostics")
    distance = max(curve.distance_to_optimum for curve in chosen.curves)
    score = chosen.collapse_score
    near = distance < tolerance
    if diagnostics.mode == "single":
        apart = score is not None and score < tolerance
        relation = f"kinds differ by {score:.4f} (< {tolerance:g} wanted)" if score is not None else "only one kind"
    else:
        apart = score is not None and score > separation
        relation = f"kinds differ by {score:.4f} (> {separation:g} wanted)" if score is not None else "only one kind"
    message = f"{split}: max distance to optimum {distance:.4f} (< {tolerance:g} wanted), {relation}"
    return Acceptance(bool(near and apart), diagnostics.mode, distance, score, message)


def save_diagnostics(diagnostics: Diagnostics, path: str | os.PathLike[str]) -> None:
    """Write ``diagnostics.as_dict()`` as JSON, atomically."""
    atomic_write_json(path, diagnostics.as_dict())
