"""Sweeps of a utility family's parameter: optimal rewards and limit laws across one family.

The Box-Cox utilities :math:`U_G(x) = (x^G - 1)/G` (log x at G = 0; Box and Cox, JRSS B
1964) are positive multiples of ``power:G``, ``log``, ``neg-power:-G`` and ``linear`` plus
constants, so they have the same optimal rewards; their limit law is Beta(a, a) with
a = (1 - G)/2 on (-1, 1), uniform for G <= -1 and two atoms at G = 1.
:func:`beta_parameter_sweep` solves many G in one compiled call and :func:`family_sweep`
any built-in family over a parameter grid.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from collapse_theory._core.spec_numbers import format_number
from collapse_theory.errors import InputError
from collapse_theory.laws.distances import distance
from collapse_theory.laws.limits import describe_limit, limit
from collapse_theory.problems.families import box_cox_beta_parameter as limit_beta_parameter
from collapse_theory.problems.utilities import Utility, box_cox, member, parse_utility
from collapse_theory.solver.utility_solver import DEFAULT_TOLERANCE, check_n, solve_family, solve_many

__all__ = [
    "FamilySweep",
    "SweepPoint",
    "beta_parameter_sweep",
    "box_cox_exponent",
    "exponent_spec",
    "family_sweep",
    "family_utility",
    "limit_beta_parameter",
    "moment_beta_parameter",
]


def exponent_spec(exponent: float, significant: int | None = None) -> str:
    """The built-in spec with the same optimum as ``box_cox(exponent)``.

    The spec carries the exponent exactly (it parses back to the same float64), or
    rounded to ``significant`` digits for display (a fitted exponent, say).

    Example:
        >>> [exponent_spec(g) for g in (0.5, 0.0, -1.0, 1.0)]
        ['power:0.5', 'log', 'neg-power:1', 'linear']
        >>> exponent_spec(0.123456789012345), exponent_spec(0.123456789012345, significant=4)
        ('power:0.123456789012345', 'power:0.1235')
    """
    exponent = float(exponent)
    if exponent == 1.0:
        return "linear"
    if exponent == 0.0:
        return "log"
    number = format_number(abs(exponent)) if significant is None else format(abs(exponent), f".{significant}g")
    return f"power:{number}" if exponent > 0.0 else f"neg-power:{number}"


def box_cox_exponent(utility: Utility | str) -> float | None:
    """G with ``box_cox(G)`` equivalent to a built-in ``log``/``power``/``neg-power``/``linear``, else None.

    Read from the utility's family record, so a custom utility is never mistaken for one.

    Example:
        >>> box_cox_exponent("neg-power:2"), box_cox_exponent("log"), box_cox_exponent("exp:1")
        (-2.0, 0.0, None)
    """
    parsed = parse_utility(utility)
    record = parsed.family_record
    if record is None or record.box_cox_exponent is None:
        return None
    return float(record.box_cox_exponent(parsed.parameters))


# ---------------------------------------------------------------------------------------------
# the Box-Cox family
# ---------------------------------------------------------------------------------------------


def family_utility(family: str, parameter: float) -> Utility:
    """The member of a one-parameter family: ``box-cox`` or a built-in (``power``, ``exp``, ...).

    Example:
        >>> family_utility("neg-power", 2).spec
        'neg-power:2'
    """
    return member(family, parameter)


def moment_beta_parameter(rewards: Sequence[float] | np.ndarray) -> float:
    """a of the Beta(a, a) with the variance of the rewards' empirical law.

    Var Beta(a, a) = 1 / (4 (2a + 1)), so a = (1/(4 v) - 1)/2; 0 for v >= 1/4 (two atoms).

    Example:
        >>> round(moment_beta_parameter([0.0, 1.0]), 12)
        0.0
    """
    variance = float(np.var(np.asarray(rewards, dtype=np.float64)))
    if variance >= 0.25:
        return 0.0
    return (1.0 / (4.0 * variance) - 1.0) / 2.0


@dataclass(frozen=True)
class SweepPoint:
    """One member of a family sweep.

    Attributes:
        parameter: the family parameter (G for ``box-cox``).
        utility: the member's spec (the equivalent built-in spec for ``box-cox``).
        rewards: the certified optimal rewards at n, descending.
        converged: the solver's certificate met its tolerance.
        limit: the closed-form limit law, described (or ``"no closed form known"``).
        limit_beta_parameter: a of a Beta(a, a) limit, None if the limit is not of that form.
        fitted_beta_parameter: a of the Beta(a, a) with the rewards' variance.
        kolmogorov_smirnov: KS distance of the rewards to the limit law (None without one).
    """

    parameter: float
    utility: str
    rewards: np.ndarray = field(repr=False)
    converged: bool
    limit: str
    limit_beta_parameter: float | None
    fitted_beta_parameter: float
    kolmogorov_smirnov: float | None


@dataclass(frozen=True)
class FamilySweep:
    """Optimal rewards and limit laws across a family's parameter, at one n."""

    family: str
    n: int
    points: tuple[SweepPoint, ...]
    seconds: float


def _sweep_point(parameter: float, spec: str, solution: Any) -> SweepPoint:
    law = limit(spec)
    beta_a = None
    if law is not None and law.kind == "beta" and law.parameters["a"] == law.parameters["b"]:
        beta_a = float(law.parameters["a"])
    elif law is not None and law.kind == "uniform":
        beta_a = 1.0
    elif law is not None and law.kind == "two-point":
        beta_a = 0.0
    ks = None if law is None else distance(solution.rewards, law).kolmogorov_smirnov
    rewards = np.asarray(solution.rewards, dtype=np.float64)
    return SweepPoint(
        parameter=float(parameter),
        utility=spec,
        rewards=rewards,
        converged=bool(solution.converged),
        limit=describe_limit(law),
        limit_beta_parameter=beta_a,
        fitted_beta_parameter=moment_beta_parameter(rewards),
        kolmogorov_smirnov=ks,
    )


def beta_parameter_sweep(exponents: Sequence[float], n: int, *, tol: float = DEFAULT_TOLERANCE) -> FamilySweep:
    """The limit's Beta parameter a = (1 - G)/2 across power, log and neg-power, in one compiled call.

    Every exponent G is a member of the Box-Cox family (one JAX function), so
    :func:`collapse_theory.solver.utility_solver.solve_many` solves them all in a single vmapped call.
    Each point carries the closed-form a, the moment-fitted a of the finite-n rewards and
    their KS distance to the limit.

    Example:
        >>> sweep = beta_parameter_sweep([0.5, 0.0, -0.5], 8)
        >>> [p.utility for p in sweep.points], [p.limit_beta_parameter for p in sweep.points]
        (['power:0.5', 'log', 'neg-power:0.5'], [0.25, 0.5, 0.75])
    """
    start = time.perf_counter()
    n = check_n(n)
    members = [box_cox(g) for g in exponents]
    if not members:
        raise InputError("a sweep needs at least one exponent")
    # each Box-Cox member has the optimum of a built-in (exponent_spec), and the built-ins
    # share one compiled solver, so the sweep compiles once per padded size
    specs = [exponent_spec(u.parameters[0]) for u in members]
    solutions = solve_many(specs, n, tol=tol)
    points = tuple(_sweep_point(u.parameters[0], spec, s) for u, spec, s in zip(members, specs, solutions, strict=True))
    return FamilySweep(family="box-cox", n=n, points=points, seconds=time.perf_counter() - start)


def family_sweep(family: str, parameters: Sequence[float], n: int, *, tol: float = DEFAULT_TOLERANCE) -> FamilySweep:
    """Solve a built-in family over a parameter grid in one compiled call (``solve_family``).

    Example:
        >>> sweep = family_sweep("power", [0.25, 0.75], 8)
        >>> [p.limit_beta_parameter for p in sweep.points]
        [0.375, 0.125]
    """
    start = time.perf_counter()
    if family == "box-cox":
        return beta_parameter_sweep(parameters, n, tol=tol)
    if not parameters:
        raise InputError("a sweep needs at least one parameter")
    solutions = solve_family(family, [float(p) for p in parameters], check_n(n), tol=tol)
    points = tuple(_sweep_point(p, s.utility, s) for p, s in zip(parameters, solutions, strict=True))
    return FamilySweep(family=family, n=check_n(n), points=points, seconds=time.perf_counter() - start)
