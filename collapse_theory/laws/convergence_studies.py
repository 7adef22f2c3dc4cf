"""Convergence studies: how fast the finite-n optimal rewards approach their limit law.

:func:`convergence` solves the finite-n problem for several n (one compiled, batched call
per n through :func:`collapse_theory.solver.utility_solver.solve_many`) and measures how fast the
empirical law of the optimal rewards approaches the closed-form limit of
:func:`collapse_theory.laws.limits.limit`, in Kolmogorov-Smirnov and Wasserstein-1 distance,
with the rate fitted as the slope of log(distance) against log(n)
(:func:`scipy.stats.linregress`, with its standard error).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.stats

from collapse_theory._core.results import as_dict
from collapse_theory.errors import InputError
from collapse_theory.laws.distances import distance
from collapse_theory.laws.law import Law, UnitIntervalLaw
from collapse_theory.laws.limits import describe_limit, limit
from collapse_theory.laws.loss_laws import loss_limit
from collapse_theory.problems.losses import parse_loss
from collapse_theory.problems.problem import Problem, parse_problem
from collapse_theory.problems.utilities import Utility, parse_utility
from collapse_theory.solver.loss_solver import solve_loss
from collapse_theory.solver.utility_solver import DEFAULT_TOLERANCE, check_n, solve_many

__all__ = [
    "ATOM_TOLERANCE",
    "ConvergencePoint",
    "ConvergenceStudy",
    "Rate",
    "convergence",
    "convergence_many",
    "fit_rate",
    "loss_convergence",
]

#: Rewards within this distance of an atom of the limit law count as sitting on it when the
#: Kolmogorov-Smirnov distance is measured: KS is discontinuous at atoms, and a reward that
#: the solver leaves 1e-12 below 1 would otherwise cost the atom's whole mass.
ATOM_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ConvergencePoint:
    """The distance of the finite-n optimal rewards to the limit law at one n.

    Attributes:
        n: number of ranked completions.
        kolmogorov_smirnov: :math:`\\sup_x |F_n(x) - F(x)|`.
        wasserstein: the Wasserstein-1 distance, :math:`\\int |F_n - F|`.
        seconds: solver time per utility at this n (compilation included).
        converged: the solver's certificate met its tolerance.
    """

    n: int
    kolmogorov_smirnov: float
    wasserstein: float
    seconds: float
    converged: bool


@dataclass(frozen=True)
class Rate:
    """A fitted power law distance ~ C n^slope (least squares on log-log axes).

    Attributes:
        slope: the fitted exponent (negative when the distance shrinks).
        standard_error: the standard error of the slope (None when fitted on two points,
            where it is undefined).
        points: how many n entered the fit (those with a positive distance).
    """

    slope: float
    standard_error: float | None
    points: int


@dataclass(frozen=True)
class ConvergenceStudy:
    """How fast the optimal rewards approach the closed-form limit law.

    Attributes:
        utility: the utility's spec string.
        law: a description of the limit law, e.g. ``"Beta(0.5, 0.5) (arcsine)"``.
        limit: the law itself.
        points: one :class:`ConvergencePoint` per n, in increasing n.
        kolmogorov_smirnov_rate: the fitted rate of the KS distance, or None (fewer than
            two positive distances).
        wasserstein_rate: the fitted rate of the Wasserstein-1 distance, or None.
    """

    utility: str
    law: str
    limit: Law = field(metadata={"json": False})
    points: tuple[ConvergencePoint, ...]
    kolmogorov_smirnov_rate: Rate | None
    wasserstein_rate: Rate | None

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract of ``collapse-theory converge --format json`` (``limit``: the law's shared structure)."""
        return {**as_dict(self), "limit": self.limit.as_dict()}


def fit_rate(ns: Sequence[int], distances: Sequence[float]) -> Rate | None:
    """The slope of log(distance) against log(n), with its standard error.

    .. math::

        \\log d_n = \\log C + \\text{slope} \\cdot \\log n + \\varepsilon_n

    fitted by least squares (:func:`scipy.stats.linregress`). Distances that are exactly 0
    (for example ``linear`` at even n, where the optimum is the limit law itself) carry no
    rate and are left out; with fewer than two points left the rate is None.

    Example:
        >>> rate = fit_rate([10, 100, 1000], [0.1, 0.01, 0.001])
        >>> round(rate.slope, 12), rate.points
        (-1.0, 3)
    """
    pairs = [(float(n), float(d)) for n, d in zip(ns, distances, strict=True) if d > 0 and math.isfinite(d)]
    if len({n for n, _ in pairs}) < 2:
        return None
    x = np.log([n for n, _ in pairs])
    y = np.log([d for _, d in pairs])
    if len(pairs) == 2:
        # a line through two points has no residual: its standard error is undefined
        return Rate(slope=float((y[1] - y[0]) / (x[1] - x[0])), standard_error=None, points=2)
    result = scipy.stats.linregress(x, y)
    return Rate(slope=float(result.slope), standard_error=float(result.stderr), points=len(pairs))


def convergence_many(
    utilities: Sequence[Utility | str],
    ns: Sequence[int],
    *,
    tol: float = DEFAULT_TOLERANCE,
    atom_tolerance: float = ATOM_TOLERANCE,
) -> list[ConvergenceStudy]:
    """:func:`convergence` for several utilities, sharing one batched solve per n.

    Every utility must have a closed-form limit (:func:`collapse_theory.laws.limits.limit`);
    for the others use :func:`collapse_theory.laws.numerical_laws.numerical_limit`.

    Example:
        >>> studies = convergence_many(["log", "power:0.5"], [8, 16])
        >>> [round(s.kolmogorov_smirnov_rate.slope, 2) for s in studies]
        [-1.0, -1.0]
    """
    parsed = [parse_utility(u) for u in utilities]
    if not parsed:
        raise InputError("convergence needs at least one utility")
    found = [limit(u) for u in parsed]
    laws = []
    for utility, law in zip(parsed, found, strict=True):
        if law is None:
            raise InputError(f"{utility.spec} has no closed-form limit; use numerical_limit (or `collapse-theory explore`)")
        laws.append(law)
    checked = sorted({check_n(n) for n in ns})
    if not checked:
        raise InputError("convergence needs at least one n")
    # the built-in families share one compiled solver (a run-time switch), so each n is
    # one compilation for all of them
    batched = parsed
    per_utility: list[list[ConvergencePoint]] = [[] for _ in parsed]
    for n in checked:
        for index, solution in enumerate(solve_many(batched, n, tol=tol)):
            rewards = laws[index].snap_to_atoms(solution.rewards, atom_tolerance)
            measured = distance(rewards, laws[index])
            per_utility[index].append(
                ConvergencePoint(
                    n=n,
                    kolmogorov_smirnov=measured.kolmogorov_smirnov,
                    wasserstein=measured.wasserstein,
                    seconds=solution.seconds,
                    converged=solution.converged,
                )
            )
    return [_study(utility.spec, law, points) for utility, law, points in zip(parsed, laws, per_utility, strict=True)]


def _study(spec: str, law: Law, points: list[ConvergencePoint]) -> ConvergenceStudy:
    """The study of one utility or loss, its rates fitted on the certified points only."""
    fitted = [p for p in points if p.converged]  # an uncertified solve measures nothing
    ns_used = [p.n for p in fitted]
    return ConvergenceStudy(
        utility=spec,
        law=describe_limit(law),
        limit=law,
        points=tuple(points),
        kolmogorov_smirnov_rate=fit_rate(ns_used, [p.kolmogorov_smirnov for p in fitted]),
        wasserstein_rate=fit_rate(ns_used, [p.wasserstein for p in fitted]),
    )


def convergence(
    problem: Problem | str,
    ns: Sequence[int],
    *,
    tol: float = DEFAULT_TOLERANCE,
    atom_tolerance: float = ATOM_TOLERANCE,
) -> ConvergenceStudy:
    """Distances of the finite-n optimal rewards to the closed-form limit, and their rate.

    For each n, the certified optimum of :math:`\\max \\sum_{i<j} U(r_i - r_j)` is compared
    with the limit law of :func:`collapse_theory.laws.limits.limit` (Song, Cai, Lee, Su,
    arXiv 2305.17608, the limit theorem) in Kolmogorov-Smirnov and Wasserstein-1 distance, and the
    rates are fitted by :func:`fit_rate`. Measured rates are listed in ``docs/theory.md``.

    Args:
        problem: a utility with a closed-form limit (``log``, ``power:G``, ``neg-power:G``,
            ``linear``, ``square``), or a ranking loss with a limit law (measured by
            :func:`loss_convergence`).
        ns: the numbers of completions (each an integer >= 2; duplicates are dropped).
        tol: the solver's relative certificate tolerance.
        atom_tolerance: rewards this close to an atom of the law count as on it.

    Example:
        >>> study = convergence("log", [8, 16, 32])
        >>> [round(p.kolmogorov_smirnov * p.n, 3) for p in study.points]   # KS = 1/n
        [1.0, 1.0, 1.0]
    """
    parsed = parse_problem(problem)
    if not isinstance(parsed, Utility):
        return loss_convergence(parsed, ns, tol=tol)
    return convergence_many([parsed], ns, tol=tol, atom_tolerance=atom_tolerance)[0]


def loss_convergence(loss: Any, ns: Sequence[int], *, tol: float = DEFAULT_TOLERANCE) -> ConvergenceStudy:
    """:func:`convergence` for a ranking loss with a limit law (:func:`collapse_theory.laws.loss_laws.loss_limit`).

    Free-reward laws live on an interval [a, b] of the real line: rewards and law are moved
    onto [0, 1] by x -> (x - a)/(b - a) before measuring (KS is unchanged by the move,
    Wasserstein-1 is reported in units of b - a).

    Example:
        >>> study = loss_convergence("log+free+l2:0.5", [8, 16, 32])
        >>> study.kolmogorov_smirnov_rate.slope < -0.5, study.law
        (True, 'semicircle on [-2, 2]')
    """
    parsed = parse_loss(loss)
    law = loss_limit(parsed)
    low, high = law.support
    on_unit = law if (low, high) == (0.0, 1.0) else UnitIntervalLaw(law, (low, high))
    points = []
    for n in sorted({check_n(n) for n in ns}):
        solution = solve_loss(parsed, n, tol=tol)
        if solution.rewards is None:
            raise InputError(f"{parsed.spec} has no maximiser at n = {n} ({solution.status.value})")
        rewards = (np.asarray(solution.rewards, dtype=np.float64) - low) / (high - low)
        measured = distance(on_unit.snap_to_atoms(np.clip(rewards, 0.0, 1.0), ATOM_TOLERANCE), on_unit)
        points.append(
            ConvergencePoint(
                n=n,
                kolmogorov_smirnov=measured.kolmogorov_smirnov,
                wasserstein=measured.wasserstein,
                seconds=solution.seconds,
                converged=solution.certified,
            )
        )
    return _study(parsed.spec, law, points)
