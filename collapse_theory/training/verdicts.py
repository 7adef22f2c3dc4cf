"""What a training run shows: the acceptance checks of a split, and the run's verdict.

Two judges read a run's :class:`~collapse_theory.training.diagnostics.Diagnostics`:

* :func:`acceptance`: the reproduction's demo tolerances. One utility for every prompt
  passes when each kind's mean curve is within ``ACCEPTANCE_TOLERANCE`` of the optimum and
  the kinds differ by less than it (collapse); the prompt-aware scheme when each kind is
  within it of its own optimum and the kinds differ by more than ``ACCEPTANCE_SEPARATION``.
* :func:`evidence` (and :func:`verdict`, which applies it to each split): judged against the
  data's noise. A kind *sits at* an optimum when its mean curve is closer to it than to every
  alternative optimum by more than ``VERDICT_Z`` standard errors of the mean curve, the
  alternatives being the other kinds' optima (prompt-aware) or the audit's reference optima
  at n (one utility; :mod:`collapse_theory.auditing.resolution`).

Example:
    >>> import numpy as np
    >>> from collapse_theory.training.data import make_synthetic_dataset
    >>> from collapse_theory.training.diagnostics import diagnose
    >>> data = make_synthetic_dataset(prompts=4, n=2, held_out=0.0)
    >>> ideal = np.where(data.rankings == 0, 1.0, 0.0)
    >>> report = diagnose(data, ideal, {"open": "linear", "closed": "linear"}, optima={"linear": [1.0, 0.0]})
    >>> acceptance(report).passed, verdict(report).outcome
    (True, 'collapsed')
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.stats

from collapse_theory.auditing.resolution import REFERENCE_SHAPES
from collapse_theory.errors import InputError
from collapse_theory.solver.loss_solver import solve_loss
from collapse_theory.training.diagnostics import Diagnostics, KindCurve, range_normalised

__all__ = [
    "ACCEPTANCE_SEPARATION",
    "ACCEPTANCE_TOLERANCE",
    "VERDICT_Z",
    "Acceptance",
    "Verdict",
    "acceptance",
    "evidence",
    "verdict",
]

#: The reproduction's demo tolerances (stricter than the verdict, :func:`evidence`): distance to the optimum and between kinds.
ACCEPTANCE_TOLERANCE = 0.05
ACCEPTANCE_SEPARATION = 0.3


@dataclass(frozen=True, kw_only=True)
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
        raise InputError(f"no {split} split in these diagnostics")
    distance = max(curve.distance_to_optimum for curve in chosen.curves)
    score = chosen.collapse_score
    near = distance < tolerance
    if diagnostics.mode == "single":
        apart = score is not None and score < tolerance
        relation = f"kinds differ by {score:.4f} (< {tolerance:g} wanted)" if score is not None else "only one kind"
    else:
        apart = score is not None and score > separation
        relation = f"kinds differ by {score:.4f} (> {separation:g} wanted)" if score is not None else "only one kind"
    target = "optimum"
    if any(curve.unbounded for curve in chosen.curves):
        target = "optimum or, for an unbounded loss, its direction (range-normalised)"
    elif any(curve.normalised for curve in chosen.curves):
        target = "optimum (range-normalised)"
    message = f"{split}: max distance to {target} {distance:.4f} (< {tolerance:g} wanted), {relation}"
    return Acceptance(
        passed=bool(near and apart),
        mode=diagnostics.mode,
        max_distance_to_optimum=distance,
        collapse_score=score,
        message=message,
    )


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What a run shows, in one word and one line, from :func:`acceptance` on each split.

    Attributes:
        outcome: ``"collapsed"`` (one utility: every kind at the same optimum),
            ``"prompt-aware fix works"`` (each kind at its own optimum, kinds apart), or
            ``"not collapsed"`` / ``"prompt-aware fix not shown"`` when the checks fail.
        passed: the acceptance checks held on every split.
        train: the training split's check.
        held_out: the held-out split's check (None without held-out prompts).
        message: one line for the terminal.
    """

    outcome: str
    passed: bool
    train: Acceptance
    held_out: Acceptance | None
    message: str


#: The normal quantile of the trainer's verdict: a mean curve's uncertainty is this many standard errors.
VERDICT_Z = float(scipy.stats.norm.ppf(0.995))


def _standard_error(curve: KindCurve) -> float:
    """The largest standard error over ranks of the kind's mean curve (inf with one prompt)."""
    return float(np.max(curve.spread)) / math.sqrt(curve.prompts - 1) if curve.prompts > 1 else math.inf


def _alternatives(curve: KindCurve, n: int) -> list[np.ndarray]:
    """The audit's reference optima at n (bounded utilities and losses a user chooses between) other than the curve's own.

    Compared as the curve is: rewards for a bounded utility, range-normalised shapes otherwise.
    """
    found = []
    for spec in REFERENCE_SHAPES:
        solution = solve_loss(spec, n)
        values = solution.rewards if solution.rewards is not None else solution.direction
        if values is None:
            continue
        values = np.sort(np.asarray(values, dtype=np.float64))[::-1]
        if curve.normalised or curve.unbounded:
            values = range_normalised(values[None, :])[0]
        if float(np.max(np.abs(values - curve.optimum))) > 1e-6:
            found.append(values)
    return found


def evidence(diagnostics: Diagnostics, split: str = "train") -> Acceptance:
    """Whether one split shows collapse or the prompt-aware fix, judged against the optima and the data's noise.

    A kind *sits at* an optimum when its mean curve is closer to it than to each
    alternative optimum by more than ``VERDICT_Z`` standard errors of the mean curve:

    * prompt-aware: the alternatives are the other kinds' (distinct) optima; the fix is
      shown when every kind sits at its own optimum, however close the optima are;
    * one utility (``single``): the alternatives are the optima of the audit's reference
      utilities at n (:mod:`collapse_theory.auditing.resolution`); collapse is shown when
      every kind sits at the shared optimum and the kinds' mean curves differ by less than
      half the distance from that optimum to the nearest alternative.
    """
    chosen = diagnostics.train if split == "train" else diagnostics.held_out
    if chosen is None:
        raise InputError(f"no {split} split in these diagnostics")
    curves = chosen.curves
    distance = max(curve.distance_to_optimum for curve in curves)
    score = chosen.collapse_score
    margins = []
    nearest_alternative = math.inf
    for curve in curves:
        if diagnostics.mode == "single":
            others = _alternatives(curve, diagnostics.n)
        else:
            others = [other.optimum for other in curves if other.utility != curve.utility]
        if others:
            nearest_alternative = min(nearest_alternative, min(float(np.max(np.abs(curve.optimum - o))) for o in others))
        error = VERDICT_Z * _standard_error(curve)
        if not others:  # nothing to tell the optimum from (pairs: every bounded optimum is (1, 0)): within the noise of it
            margins.append((curve.kind, error - curve.distance_to_optimum, 0.0 if error > 0 else -1.0))
            continue
        nearest = min(float(np.max(np.abs(curve.mean - o))) for o in others)
        margins.append((curve.kind, nearest - curve.distance_to_optimum, error))
    at_optimum = all(margin > error for _, margin, error in margins)
    closer = ", ".join(f"{kind} {margin:.4f} (needs > {error:.4f})" for kind, margin, error in margins)
    if diagnostics.mode == "single":
        agree = score is None or score < nearest_alternative / 2
        passed = at_optimum and agree
        relation = "only one kind" if score is None else f"kinds differ by {score:.4f} (< {nearest_alternative / 2:.4f} wanted)"
        message = f"{split}: closer to the shared optimum than to any other reference optimum by {closer}; {relation}"
    else:
        passed = len(curves) > 1 and at_optimum
        message = f"{split}: closer to its own optimum than to another kind's by {closer}"
    return Acceptance(
        passed=bool(passed), mode=diagnostics.mode, max_distance_to_optimum=distance, collapse_score=score, message=message
    )


def verdict(diagnostics: Diagnostics) -> Verdict:
    """The run's verdict: collapsed, or the prompt-aware fix works (or neither), from :func:`evidence` on each split.

    Example:
        >>> import numpy as np
        >>> from collapse_theory.training.data import make_synthetic_dataset
        >>> from collapse_theory.training.diagnostics import diagnose
        >>> data = make_synthetic_dataset(prompts=4, n=2, held_out=0.0)
        >>> ideal = np.where(data.rankings == 0, 1.0, 0.0)
        >>> report = diagnose(data, ideal, {"open": "linear", "closed": "linear"}, optima={"linear": [1.0, 0.0]})
        >>> verdict(report).outcome
        'collapsed'
    """
    train = evidence(diagnostics, "train")
    held = evidence(diagnostics, "held_out") if diagnostics.held_out is not None else None
    passed = train.passed  # the theory predicts the training prompts; the held-out check is reported beside it
    if diagnostics.mode == "single":
        outcome = "collapsed" if passed else "not collapsed"
        meaning = "every kind ends at the same optimum: reward collapse" if passed else "the rewards have not collapsed (yet)"
    else:
        outcome = "prompt-aware fix works" if passed else "prompt-aware fix not shown"
        meaning = (
            "each kind ends at its own optimum, closer to it than to the other kinds' optima"
            if passed
            else "the kinds have not reached their own optima (yet)"
        )
    checks = "; ".join(check.message for check in (train, held) if check is not None)
    return Verdict(
        outcome=outcome, passed=passed, train=train, held_out=held, message=f"verdict: {outcome}: {meaning} ({checks})"
    )
