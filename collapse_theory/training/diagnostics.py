"""Diagnostics of a trained reward model: per-kind reward curves, distances, the collapse score.

For each prompt kind and each rank k = 1..n, the *reward curve* is the mean (and the
spread: standard deviation) over that kind's prompts of the k-th largest reward of a
prompt, the plot of Song, Cai, Lee, Su ("Reward Collapse in Aligning Large Language
Models", arXiv 2305.17608, Figures 3-5: reward against response index). Then

* distance to the optimum: :math:`\\max_k |\\bar r_k - r^*_k|`, with :math:`r^*` the
  solver's optimum (:func:`collapse_theory.solver.utility_solver.solve`) of the kind's utility for n,
  or of its ranking loss (:func:`collapse_theory.solver.loss_solver.solve_loss`);
* **free rewards** (a loss with ``free``: raw logits, no sigmoid): each prompt's rewards
  are *range-normalised*, :math:`(r - \\min r) / (\\max r - \\min r)`, before the mean,
  and compared with the solver's optimum normalised the same way, or, when the loss has
  no maximiser (``bradley-terry``, ``listmle``: status ``unbounded``), with its limiting
  *direction* (equal gaps for saturating losses);
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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from collapse_theory import collapse_score as shared
from collapse_theory._core.results import as_dict
from collapse_theory.errors import InputError
from collapse_theory.problems.losses import Loss, parse_loss
from collapse_theory.problems.utilities import Utility
from collapse_theory.solver.loss_solver import solve_loss
from collapse_theory.solver.status import Status
from collapse_theory.solver.utility_solver import solve_many
from collapse_theory.training.data import Dataset

__all__ = [
    "Diagnostics",
    "KindCurve",
    "Prediction",
    "SplitDiagnostics",
    "collapse_score",
    "diagnose",
    "diagnostic_rewards",
    "pair_accuracy",
    "predict",
    "range_normalised",
    "sorted_rewards",
]


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


def range_normalised(rewards: np.ndarray) -> np.ndarray:
    """Each row mapped affinely onto [0, 1]: (r - min r) / (max r - min r); a row of ties becomes 1/2.

    The shape of free rewards, which a shift or a scale does not change.

    Example:
        >>> range_normalised(np.array([[4.0, 0.0, 2.0], [1.0, 1.0, 1.0]])).tolist()
        [[1.0, 0.0, 0.5], [0.5, 0.5, 0.5]]
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    low = rewards.min(axis=-1, keepdims=True)
    spread = rewards.max(axis=-1, keepdims=True) - low
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = (rewards - low) / spread
    return np.where(spread > 0, scaled, 0.5)


def diagnostic_rewards(rewards: np.ndarray, free: np.ndarray) -> np.ndarray:
    """The rewards the diagnostics compare: as they are, or range-normalised on prompts whose loss is free.

    ``free`` is a bool [P] (or a scalar) marking the prompts trained with free rewards.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    mask = np.broadcast_to(np.asarray(free, dtype=bool), rewards.shape[:1])
    return np.where(mask[:, None], range_normalised(rewards), rewards)


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """What the theory predicts for one loss at n: the rewards every prompt ends at, or their shape.

    Attributes:
        loss: the loss's spec.
        status: the solver's status (``optimal`` for a plain utility's certified optimum).
        rewards: float64 [n], best first: the optimum (range-normalised for a free loss) or,
            when the loss is unbounded, the limiting direction (range [0, 1]).
        normalised: the rewards are a range-normalised shape (free losses).
        unbounded: the loss has no maximiser; ``rewards`` is its direction.
    """

    loss: str
    status: str
    rewards: np.ndarray
    normalised: bool
    unbounded: bool


def predict(loss: Loss | Utility | str, n: int) -> Prediction:
    """The solver's prediction for a loss at n (a plain utility: :func:`~collapse_theory.solver.utility_solver.solve`).

    Example:
        >>> p = predict("bradley-terry", 4)
        >>> p.status, p.unbounded, [round(float(x), 4) for x in p.rewards]
        ('unbounded', True, [1.0, 0.6667, 0.3333, 0.0])
        >>> [round(float(x), 4) for x in predict("ipo:0.5", 4).rewards]  # equal gaps, range-normalised
        [1.0, 0.6667, 0.3333, 0.0]
    """
    return _predictions([parse_loss(loss)], n)[0]


def _predictions(losses: list[Loss], n: int) -> list[Prediction]:
    plain = [loss for loss in losses if loss.is_plain_utility]
    solved = solve_many([loss.utility for loss in plain if loss.utility is not None], n) if plain else []
    by_plain = {id(loss): solution for loss, solution in zip(plain, solved, strict=True)}
    answers = []
    for loss in losses:
        if id(loss) in by_plain:
            solution = by_plain[id(loss)]
            answers.append(
                Prediction(
                    loss=loss.spec,
                    status=solution.status.value if hasattr(solution.status, "value") else str(solution.status),
                    rewards=np.asarray(solution.rewards, dtype=np.float64),
                    normalised=False,
                    unbounded=False,
                )
            )
            continue
        answer = solve_loss(loss, n)
        unbounded = answer.rewards is None and answer.direction is not None
        if answer.rewards is not None:
            values = np.asarray(answer.rewards, dtype=np.float64)
            values = range_normalised(values[None, :])[0] if loss.free else values
        elif answer.direction is not None:
            values = np.asarray(answer.direction, dtype=np.float64)
        else:
            values = np.full(n, np.nan)
        answers.append(
            Prediction(
                loss=loss.spec,
                status=answer.status.value,
                rewards=values,
                normalised=loss.free or unbounded,
                unbounded=unbounded or answer.status is Status.UNBOUNDED,
            )
        )
    return answers


def collapse_score(rewards: np.ndarray, kinds: np.ndarray, kind_count: int) -> float | None:
    """The collapse score of rewards [P, n]: max over pairs of kinds and ranks of the mean curves' gap.

    .. math::

        \\max_{a \\ne b} \\max_k |\\bar r^{(a)}_k - \\bar r^{(b)}_k|

    with :math:`\\bar r^{(a)}_k` the mean over kind a's prompts of the k-th largest reward
    (the same figure as :attr:`SplitDiagnostics.collapse_score`, without the solver). None
    with fewer than two kinds present.

    Example:
        >>> import numpy as np
        >>> collapse_score(np.array([[0.75, 0.25], [0.5, 0.5]]), np.array([0, 1]), 2)
        0.25
    """
    ordered = sorted_rewards(rewards)
    kinds = np.asarray(kinds)
    means = {str(index): ordered[kinds == index].mean(axis=0) for index in range(kind_count) if np.any(kinds == index)}
    return shared.collapse_score(means)


@dataclass(frozen=True, eq=False, kw_only=True)
class KindCurve:
    """The reward curve of one kind of prompt on one split.

    Attributes:
        kind: the kind's name.
        utility: the kind's utility or loss spec.
        prompts: number of prompts of this kind in the split.
        pair_accuracy: fraction of this kind's ranked pairs ordered right by the rewards.
        mean: float64 [n], mean over prompts of the sorted rewards, per rank (each prompt
            range-normalised first when ``normalised``).
        spread: float64 [n], their standard deviation over prompts.
        optimum: float64 [n], the solver's optimal rewards for the utility or loss and n
            (range-normalised when ``normalised``; the direction when ``unbounded``).
        distance_to_optimum: ``max_k |mean_k - optimum_k|``.
        normalised: the loss trains free rewards, compared as range-normalised shapes.
        unbounded: the loss has no maximiser; ``optimum`` is its limiting direction.
    """

    kind: str
    utility: str
    prompts: int
    pair_accuracy: float
    mean: np.ndarray
    spread: np.ndarray
    optimum: np.ndarray
    distance_to_optimum: float
    normalised: bool = False
    unbounded: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values (non-finite numbers as null)."""
        return as_dict(self)


@dataclass(frozen=True, eq=False, kw_only=True)
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
        """JSON-ready values (non-finite numbers as null)."""
        return as_dict(self)


@dataclass(frozen=True, eq=False, kw_only=True)
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
        """JSON-ready values (the run directory's ``diagnostics.json``), with the ``mode``."""
        return {**as_dict(self), "mode": self.mode}


def _split_diagnostics(
    split: str,
    rewards: np.ndarray,
    rankings: np.ndarray,
    kinds: np.ndarray,
    kind_names: tuple[str, ...],
    utilities: Mapping[str, str],
    predictions: Mapping[str, Prediction],
) -> SplitDiagnostics:
    free = np.asarray([predictions[utilities[kind]].normalised for kind in kind_names], dtype=bool)
    ordered = sorted_rewards(diagnostic_rewards(rewards, free[kinds] if kinds.size else np.zeros(0, dtype=bool)))
    curves = []
    for index, kind in enumerate(kind_names):
        members = ordered[kinds == index]
        if members.shape[0] == 0:
            continue
        mean = members.mean(axis=0)
        prediction = predictions[utilities[kind]]
        optimum = prediction.rewards
        curves.append(
            KindCurve(
                kind=kind,
                utility=utilities[kind],
                prompts=int(members.shape[0]),
                pair_accuracy=pair_accuracy(rewards[kinds == index], rankings[kinds == index]),
                mean=mean,
                spread=members.std(axis=0),
                optimum=optimum,
                distance_to_optimum=float(np.max(np.abs(mean - optimum))),
                normalised=prediction.normalised,
                unbounded=prediction.unbounded,
            )
        )
    distances = shared.group_distances({curve.kind: curve.mean for curve in curves})
    return SplitDiagnostics(
        split=split,
        prompts=int(rewards.shape[0]),
        pair_accuracy=pair_accuracy(rewards, rankings),
        curves=tuple(curves),
        kind_distances=distances,
        collapse_score=max(distances.values()) if distances else None,  # as shared.collapse_score
    )


def diagnose(
    dataset: Dataset,
    rewards: np.ndarray,
    utilities: Mapping[str, str | Loss | Utility],
    optima: Mapping[str, np.ndarray] | None = None,
) -> Diagnostics:
    """Reward curves per kind, distances to the solver's optima and between kinds, the collapse score.

    Args:
        dataset: the dataset the rewards belong to (rankings, kinds, held-out split).
        rewards: [P, n] rewards of every prompt in the dataset's order, e.g.
            ``TrainingResult.rewards`` or one of its ``snapshots``.
        utilities: each kind's utility or loss (spec or object), e.g. ``TrainingResult.utilities``
            (``TrainingResult.losses_by_kind`` for a custom utility). Prompts of a free loss
            are range-normalised (their rewards are raw logits).
        optima: optional ``{spec: optimal rewards [n], best first}`` to compare with instead
            of calling the solver (e.g. a closed form); specs not given are solved
            (a free loss's given optimum is range-normalised too).

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
        raise InputError(f"rewards must have shape {dataset.rankings.shape} (the dataset's [P, n]), got {rewards.shape}")
    missing = [kind for kind in dataset.kind_names if kind not in utilities]
    if missing:
        raise InputError(f"no utility given for kind {missing[0]!r}")
    losses = {kind: parse_loss(utilities[kind]) for kind in dataset.kind_names}
    chosen = {kind: loss.spec for kind, loss in losses.items()}
    distinct = {loss.spec: loss for loss in losses.values()}
    given: dict[str, np.ndarray] = {}
    for spec, value in (optima or {}).items():
        key = parse_loss(spec).spec if spec not in distinct else spec
        given[key] = np.asarray(value, dtype=np.float64)
        if given[key].shape != (dataset.n,) or not np.all(np.isfinite(given[key])):
            raise InputError(f"optimum given for {spec!r} must be {dataset.n} finite rewards, got shape {given[key].shape}")
    unsolved = [loss for spec, loss in distinct.items() if spec not in given]
    predictions = {prediction.loss: prediction for prediction in (_predictions(unsolved, dataset.n) if unsolved else [])}
    for spec, value in given.items():
        if spec not in distinct:
            continue
        free = distinct[spec].free
        predictions[spec] = Prediction(
            loss=spec,
            status="given",
            rewards=range_normalised(value[None, :])[0] if free else value,
            normalised=free,
            unbounded=False,
        )

    def split(name: str, held_out: bool) -> SplitDiagnostics:
        rows = dataset.split(held_out)
        return _split_diagnostics(
            name, rewards[rows], dataset.rankings[rows], dataset.kinds[rows], dataset.kind_names, chosen, predictions
        )

    held = split("held_out", True) if dataset.held_out.any() else None
    return Diagnostics(n=dataset.n, utilities=chosen, train=split("train", False), held_out=held)
