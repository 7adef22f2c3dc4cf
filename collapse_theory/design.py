"""Families of utilities and inverse design: from a target law of rewards to a utility.

**One family for power, log and neg-power.** The Box-Cox utilities (Box and Cox, JRSS B
1964)

.. math::

    U_G(x) = \\frac{x^G - 1}{G} \\quad (G \\ne 0), \\qquad U_0(x) = \\log x, \\qquad G \\le 1,

are positive multiples of ``power:G`` (0 < G < 1), ``log`` (G = 0), ``neg-power:-G``
(G < 0) and ``linear`` (G = 1), plus constants, so they have the same set of optimal
rewards (the family is one record of :mod:`collapse_theory.families`, ``box-cox:G`` as a
spec). For G < 1 the optimum is one vector (U strictly concave and increasing); at G = 1
(``linear``) and odd n the middle reward is free in [0, 1] and the solver returns 1/2
(``docs/theory.md``, section 2). In one family the limit law reads
:math:`\\text{Beta}(a, a)` with :math:`a = (1 - G)/2` for -1 < G < 1 (the closed forms of
Song, Cai, Lee, Su, arXiv 2305.17608, asymptotic section), uniform for G <= -1 (Hardin and
Saff; G = -1 is the borderline Riesz case s = d = 1), and two atoms at 0 and 1 for G = 1.
As G falls the law becomes less spread: variance 1/4 (two atoms), 1/8 (arcsine, G = 0),
1/12 (uniform). All members share one JAX function, so :func:`beta_parameter_sweep` solves
every G in one compiled, vmapped call.

**Inverse design.** Given the law a kind of prompt should have, :func:`design_for_limit`
returns the utility whose n -> infinity law it is: in closed form for Beta(a, a)
(a < 1/2: ``power:1-2a``; a = 1/2: ``log``; 1/2 < a < 1: ``neg-power:2a-1``; a = 1:
``neg-power:1``, indeed any ``neg-power:G`` with G >= 1; two atoms: ``linear``) and for
the ``exp:B`` family (atoms 1/(2+B) at 0 and 1 plus a uniform density, derived in
``docs/theory.md``), by fitting otherwise. Given target rewards at finite n,
:func:`design_for_rewards` fits the family parameter by Gauss-Newton, differentiating the
optimal rewards with respect to the parameter by implicit differentiation of the
optimality conditions (:func:`reward_sensitivity`; valid where the parameter enters
differentiably, the Hessian on the free block is non-singular and the tie pattern is
locally constant, i.e. strict complementarity holds). Targets no member reaches are
reported as such: asymmetric laws (for U concave, non-decreasing, not constant and
integrable at 0 the energy is strictly concave, so its maximiser, the limit law, is unique
and hence symmetric: proof in ``docs/theory.md``, section 3; the uniform law of G <= -1 is
symmetric too) and Beta(a, a) with a > 1 (more concentrated in the middle than the uniform
law, the least spread limit of the family).

Example:
    >>> design_for_limit(scipy.stats.beta(0.25, 0.25)).utility
    'power:0.5'
    >>> design_for_limit(scipy.stats.beta(2, 2)).reachable
    False
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
import scipy.stats

from collapse_theory._jaxopt import implicit_root
from collapse_theory._precision import float64
from collapse_theory._results import as_dict
from collapse_theory.distances import distance, law_distance
from collapse_theory.families import FAMILIES
from collapse_theory.families import box_cox_beta_parameter as limit_beta_parameter
from collapse_theory.laws import Law, as_law, beta_law, exp_law, uniform_law
from collapse_theory.limits import describe_limit, limit
from collapse_theory.solver import DEFAULT_TOLERANCE, check_n, solve, solve_family, solve_many
from collapse_theory.utilities import Utility, UtilityFunction, box_cox, member, parse_utility

__all__ = [
    "FAMILY_BOUNDS",
    "Design",
    "FamilySweep",
    "RewardSensitivity",
    "SweepPoint",
    "beta_parameter_sweep",
    "box_cox",
    "box_cox_exponent",
    "design_for_limit",
    "design_for_rewards",
    "exp_limit_law",
    "exponent_spec",
    "family_sweep",
    "family_utility",
    "limit_beta_parameter",
    "moment_beta_parameter",
    "reward_sensitivity",
]

#: Families that :func:`design_for_rewards` and :func:`reward_sensitivity` accept, with the
#: parameter interval searched and the starting parameter (read from the family records).
FAMILY_BOUNDS: dict[str, tuple[float, float, float]] = {
    family.name: family.design_bounds for family in FAMILIES.values() if family.design_bounds is not None
}


def exponent_spec(exponent: float) -> str:
    """The built-in spec with the same optimum as ``box_cox(exponent)``.

    Example:
        >>> [exponent_spec(g) for g in (0.5, 0.0, -1.0, 1.0)]
        ['power:0.5', 'log', 'neg-power:1', 'linear']
    """
    exponent = float(exponent)
    if exponent == 1.0:
        return "linear"
    if exponent == 0.0:
        return "log"
    number = format(abs(exponent), ".10g")
    return f"power:{number}" if exponent > 0.0 else f"neg-power:{number}"


def box_cox_exponent(utility: Utility | str) -> float | None:
    """G with ``box_cox(G)`` equivalent to a built-in ``log``/``power``/``neg-power``/``linear``, else None.

    Read from the utility's family record, so a custom utility is never mistaken for one.

    Example:
        >>> box_cox_exponent("neg-power:2"), box_cox_exponent("log"), box_cox_exponent("exp:1")
        (-2.0, 0.0, None)
    """
    record = parse_utility(utility).family_record
    if record is None or record.box_cox_exponent is None:
        return None
    return float(record.box_cox_exponent(parse_utility(utility).parameters))


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
    :func:`collapse_theory.solver.solve_many` solves them all in a single vmapped call.
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
        raise ValueError("a sweep needs at least one exponent")
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
        raise ValueError("a sweep needs at least one parameter")
    solutions = solve_family(family, [float(p) for p in parameters], check_n(n), tol=tol)
    points = tuple(_sweep_point(p, s.utility, s) for p, s in zip(parameters, solutions, strict=True))
    return FamilySweep(family=family, n=check_n(n), points=points, seconds=time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# implicit differentiation of the optimal rewards
# ---------------------------------------------------------------------------------------------

#: Rewards closer than this are treated as tied (one block moving together).
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RewardSensitivity:
    """Optimal rewards and their derivative with respect to the utility's parameter.

    Attributes:
        utility: the member's spec.
        family: the family name.
        parameter: the parameter value.
        rewards: the optimal rewards, descending (the solver's, Newton-polished).
        derivative: d rewards / d parameter.
        blocks: how many free blocks of tied rewards the optimality conditions had.
    """

    utility: str
    family: str
    parameter: float
    rewards: np.ndarray
    derivative: np.ndarray
    blocks: int


def _blocks(rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tie blocks of descending rewards: block index per reward, free-block mask, fixed values.

    Blocks at 1 or at 0 are held by the constraints 1 >= r_1 and r_n >= 0; the others are
    free and satisfy the stationarity of S restricted to block values.
    """
    block = np.concatenate([[0], np.cumsum(np.abs(np.diff(rewards)) > TIE_TOLERANCE)])
    count = int(block[-1]) + 1
    values = np.array([rewards[block == b].mean() for b in range(count)])
    fixed = (np.abs(values - 1.0) <= TIE_TOLERANCE) | (np.abs(values) <= TIE_TOLERANCE)
    values = np.where(np.abs(values - 1.0) <= TIE_TOLERANCE, 1.0, np.where(np.abs(values) <= TIE_TOLERANCE, 0.0, values))
    return block, ~fixed, values


def reward_sensitivity(family: str, parameter: float, n: int, *, tol: float = 1e-13) -> RewardSensitivity:
    """d r* / d theta for the optimal rewards of a family member, by implicit differentiation.

    At the optimum, rewards tied at 1 or 0 stay there under a small change of theta (the
    active constraints do not change, assuming strict complementarity), tied blocks move
    together, and the free block values v solve the stationarity conditions

    .. math::

        F_b(v, \\theta) = \\sum_{i \\in b} \\frac{\\partial S}{\\partial r_i}(r(v); \\theta) = 0 ,

    so :math:`dv/d\\theta = -(\\partial F/\\partial v)^{-1} \\partial F/\\partial \\theta`
    (jaxopt's ``custom_root`` through :mod:`collapse_theory._jaxopt`). For singular
    concave U every reward is its own block with r_1 = 1 and r_n = 0. The certified solution
    of :func:`collapse_theory.solver.solve` is polished by three Newton steps on F first.

    Example:
        >>> sens = reward_sensitivity("power", 0.5, 4)
        >>> [round(float(d), 6) for d in sens.derivative]   # central differences of solve: 0.355405
        [0.0, 0.355405, -0.355405, 0.0]
    """
    utility = family_utility(family, parameter)
    n = check_n(n)
    solution = solve(utility, n, tol=tol)
    rewards = np.asarray(solution.rewards, dtype=np.float64)
    block, free, values = _blocks(rewards)
    free_index = np.flatnonzero(free)
    if free_index.size == 0:
        return RewardSensitivity(
            utility=utility.spec,
            family=family,
            parameter=float(parameter),
            rewards=np.where(free[block], 0.0, values[block]),
            derivative=np.zeros(n),
            blocks=0,
        )
    with float64():
        new_rewards, derivative = _implicit_rewards(
            jnp.asarray(values[free_index]),
            jnp.asarray(float(parameter), dtype=jnp.float64),
            jnp.asarray(np.where(free[block], 0.0, values[block])),
            jnp.asarray((block[:, None] == free_index[None, :]).astype(np.float64)),  # n x free blocks
            jnp.asarray(np.triu(block[:, None] != block[None, :], k=1).astype(np.float64)),  # pairs in different blocks
            function=utility.function,
        )
        new_rewards, derivative = np.asarray(new_rewards), np.asarray(derivative)
    return RewardSensitivity(
        utility=utility.spec,
        family=family,
        parameter=float(parameter),
        rewards=new_rewards,
        derivative=derivative,
        blocks=int(free_index.size),
    )


def _block_objective(
    v: jax.Array, theta: jax.Array, base: jax.Array, membership: jax.Array, pairs: jax.Array, function: UtilityFunction
) -> jax.Array:
    """S at the rewards r = base + membership v, over pairs in different blocks (others are constant)."""
    r = base + membership @ v
    gaps = r[:, None] - r[None, :]
    different = pairs > 0.5
    values = function(jnp.where(different, gaps, 1.0), jnp.reshape(theta, (1,)))
    return jnp.sum(jnp.where(different, values, 0.0))


@partial(jax.jit, static_argnames=("function",))
def _implicit_rewards(
    start: jax.Array, theta: jax.Array, base: jax.Array, membership: jax.Array, pairs: jax.Array, *, function: UtilityFunction
) -> tuple[jax.Array, jax.Array]:
    """Polished rewards and d rewards / d theta (compiled once per utility function and shape)."""

    def optimality(v: jax.Array, theta: jax.Array, base: jax.Array, membership: jax.Array, pairs: jax.Array) -> jax.Array:
        return jax.grad(_block_objective)(v, theta, base, membership, pairs, function)

    def polish(v: jax.Array, theta: jax.Array, base: jax.Array, membership: jax.Array, pairs: jax.Array) -> jax.Array:
        for _ in range(3):
            jacobian = jax.jacfwd(optimality)(v, theta, base, membership, pairs)
            v = v - jnp.linalg.solve(jacobian, optimality(v, theta, base, membership, pairs))
        return v

    root = implicit_root(optimality, polish)
    polished = root(start, theta, base, membership, pairs)
    slope = jax.jacrev(lambda t: root(start, t, base, membership, pairs))(theta)
    return base + membership @ polished, membership @ slope


# ---------------------------------------------------------------------------------------------
# inverse design
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """The utility of a family whose optimum matches a target best.

    Attributes:
        target: a description of the target.
        family: the family searched.
        parameter: the best parameter (None when no member qualifies at all).
        utility: the designed utility's spec (the equivalent built-in for ``box-cox``).
        reachable: the target is matched within the tolerance by a member inside the
            family's range.
        residual: the mismatch: KS distance of the laws (limit) or root-mean-square reward
            error (finite n).
        n: the number of completions, or None for the n -> infinity law.
        method: ``"closed form"`` or how the fit was done.
        message: a human-readable verdict (why a target is unreachable, non-uniqueness).
    """

    target: str
    family: str
    parameter: float | None
    utility: str | None
    reachable: bool
    residual: float
    n: int | None
    method: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (strict: an infinite residual is null)."""
        return as_dict(self)


def exp_limit_law(beta: float) -> Law:
    """The limit law of ``exp:B`` (:func:`collapse_theory.laws.exp_law`; ``limit("exp:B")`` returns it too).

    Example:
        >>> law = exp_limit_law(2.0)
        >>> float(law.cdf(0.0)), float(law.cdf(0.5)), round(law.variance, 6)
        (0.25, 0.5, 0.166667)
    """
    return exp_law(beta)


def _describe_target(target: Any) -> str:
    try:
        return as_law(target).describe()
    except TypeError:
        return type(target).__name__


def _symmetric_beta(target: Any) -> tuple[float, float] | None:
    """(a, b) if the target is a Beta or Uniform(0, 1) law, else None."""
    law = as_law(target)
    if law.kind == "beta":
        return float(law.parameters["a"]), float(law.parameters["b"])
    if law.kind == "uniform":
        return 1.0, 1.0
    return None


def _is_two_point(target: Any) -> bool:
    return as_law(target).kind == "two-point"


def design_for_limit(target: Any, family: str = "box-cox", *, tolerance: float = 1e-3) -> Design:
    """The family member whose n -> infinity law is the target law.

    ``box-cox`` (power, log, neg-power, linear): closed form for Beta(a, a) (G = 1 - 2a for
    a < 1, ``neg-power:1`` for a = 1, ``linear`` for two atoms of mass 1/2), and a
    one-dimensional fit of G minimising the KS distance for any other target (a scipy law,
    a :class:`~collapse_theory.numerical_laws.NumericalLimit`). ``exp``: closed form from the
    atom at 0 (B = 1/p - 2), then the KS of the whole law decides.

    Unreachable targets are reported with ``reachable=False`` and the closest member:
    asymmetric laws (every concave utility has a symmetric limit: its optimum can be
    symmetrised) and Beta(a, a) with a > 1 (the widest-spread limit of these families is
    the uniform law).

    Args:
        target: a frozen scipy law on [0, 1] or a NumericalLimit.
        family: ``"box-cox"`` or ``"exp"``.
        tolerance: the largest KS distance counted as a match.

    Example:
        >>> design_for_limit(scipy.stats.beta(0.75, 0.75)).utility
        'neg-power:0.5'
    """
    described = _describe_target(target)
    if family == "exp":
        return _design_exp_limit(target, described, tolerance)
    if family != "box-cox":
        raise ValueError(f"limit design supports the families box-cox and exp, got {family!r}")
    if _is_two_point(target):
        return Design(
            target=described,
            family=family,
            parameter=1.0,
            utility="linear",
            reachable=True,
            residual=0.0,
            n=None,
            method="closed form",
            message="two atoms of mass 1/2: U = x",
        )
    ab = _symmetric_beta(target)
    if ab is not None:
        a, b = ab
        if a != b:
            best = _fit_box_cox_limit(target)
            return dataclasses.replace(
                best,
                reachable=False,
                message=f"Beta({a:g}, {b:g}) is asymmetric; the limit law of every concave utility is symmetric about 1/2 "
                f"(closest member shown)",
            )
        if a > 1.0:
            residual = law_distance(target, uniform_law())
            return Design(
                target=described,
                family=family,
                parameter=-1.0,
                utility="neg-power:1",
                reachable=False,
                residual=residual,
                n=None,
                method="closed form",
                message=f"Beta({a:g}, {a:g}) with a > 1 is more concentrated than uniform; no member reaches it "
                "(neg-power:G with G >= 1 gives the uniform law, the closest)",
            )
        exponent = 1.0 - 2.0 * a
        message = "every neg-power:G with G >= 1 has this (uniform) limit" if a == 1.0 else "Beta(a, a): G = 1 - 2a"
        return Design(
            target=described,
            family=family,
            parameter=exponent,
            utility=exponent_spec(exponent),
            reachable=True,
            residual=0.0,
            n=None,
            method="closed form",
            message=message,
        )
    best = _fit_box_cox_limit(target)
    if best.residual <= tolerance:
        return best
    return dataclasses.replace(
        best, reachable=False, message=f"closest member has KS {best.residual:.3g} > tolerance {tolerance:g}"
    )


def _fit_box_cox_limit(target: Any) -> Design:
    """Minimise KS(target, Beta(a, a)) over a in (0, 1] (G = 1 - 2a), bounded Brent."""

    def mismatch(a: float) -> float:
        return law_distance(target, beta_law(a, a))

    result = scipy.optimize.minimize_scalar(mismatch, bounds=(1e-3, 1.0), method="bounded", options={"xatol": 1e-6})
    a = float(result.x)
    exponent = 1.0 - 2.0 * a
    return Design(
        target=_describe_target(target),
        family="box-cox",
        parameter=exponent,
        utility=exponent_spec(exponent),
        reachable=True,
        residual=float(result.fun),
        n=None,
        method="fit: KS to Beta((1-G)/2, (1-G)/2), bounded Brent",
        message="fitted",
    )


def _design_exp_limit(target: Any, described: str, tolerance: float) -> Design:
    atom = float(np.asarray(as_law(target).cdf(0.0)))
    if not 0.0 < atom < 0.5:
        return Design(
            target=described,
            family="exp",
            parameter=None,
            utility=None,
            reachable=False,
            residual=math.inf,
            n=None,
            method="closed form",
            message=f"exp:B limits have atoms 1/(2+B) in (0, 1/2) at 0 and 1; the target's mass at 0 is {atom:.3g}",
        )
    beta = 1.0 / atom - 2.0
    residual = law_distance(target, exp_limit_law(beta))
    reachable = residual <= tolerance
    message = "atoms 1/(2+B) at 0 and 1 with a uniform density" if reachable else f"KS {residual:.3g} > tolerance {tolerance:g}"
    return Design(
        target=described,
        family="exp",
        parameter=beta,
        utility=f"exp:{beta:.10g}",
        reachable=reachable,
        residual=residual,
        n=None,
        method="closed form",
        message=message,
    )


def design_for_rewards(
    target: Sequence[float] | np.ndarray,
    family: str = "box-cox",
    *,
    tolerance: float = 1e-3,
    max_iterations: int = 40,
) -> Design:
    """The family member whose optimal rewards at n = len(target) are closest to the target.

    Minimises :math:`\\tfrac12 \\lVert r^*(\\theta) - t \\rVert^2` (t sorted descending) by
    projected Gauss-Newton on theta within ``FAMILY_BOUNDS``, with
    :math:`dr^*/d\\theta` from :func:`reward_sensitivity` (implicit differentiation). The
    target is reachable when the root-mean-square error is <= ``tolerance`` at a parameter
    strictly inside the range; a best fit stuck at the range's end means the target is
    approached only in a limit of the family (for example evenly spaced rewards as
    G -> -inf, the nearest-neighbour regime of neg-power).

    Example:
        >>> target = solve("power:0.3", 6).rewards
        >>> design = design_for_rewards(target)
        >>> design.utility, design.reachable
        ('power:0.3', True)
    """
    t = np.sort(np.asarray(target, dtype=np.float64).ravel())[::-1]
    if t.size < 2:
        raise ValueError("target rewards need at least 2 values")
    if not np.all(np.isfinite(t)) or t.min() < 0.0 or t.max() > 1.0:
        raise ValueError("target rewards must be finite and in [0, 1]")
    if family not in FAMILY_BOUNDS:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILY_BOUNDS)}")
    low, high, theta = FAMILY_BOUNDS[family]
    n = t.size
    log_scale = family in ("exp", "log-sigmoid")  # scale parameters: search on log theta

    def residual_and_jacobian(value: float) -> tuple[np.ndarray, np.ndarray]:
        sensitivity = reward_sensitivity(family, value, n)
        return sensitivity.rewards - t, sensitivity.derivative

    # Gauss-Newton by hand, on one scalar parameter with a box and a log scale: jaxopt's
    # GaussNewton / LevenbergMarquardt have no bounds and would differentiate the solver
    # by unrolling instead of by the implicit derivative reward_sensitivity already gives.
    residual, jacobian = residual_and_jacobian(theta)
    cost = float(residual @ residual)
    method = "fit: projected Gauss-Newton, dr/dtheta by implicit differentiation"
    for _ in range(max_iterations):
        scale = theta if log_scale else 1.0  # d r / d log theta = theta d r / d theta
        gradient = float(jacobian @ residual) * scale
        curvature = float(jacobian @ jacobian) * scale * scale
        if curvature <= 0.0 or abs(gradient) <= 1e-14:
            break
        step = -gradient / curvature
        accepted = False
        for _ in range(30):
            trial = float(np.clip(theta * math.exp(step) if log_scale else theta + step, low, high))
            trial_residual, trial_jacobian = residual_and_jacobian(trial)
            trial_cost = float(trial_residual @ trial_residual)
            if trial_cost <= cost:
                accepted = True
                break
            step /= 2.0
        if not accepted or trial == theta:
            break
        converged = abs(cost - trial_cost) <= 1e-15 * max(1.0, cost) or abs(trial - theta) <= 1e-12 * max(1.0, abs(theta))
        theta, residual, jacobian, cost = trial, trial_residual, trial_jacobian, trial_cost
        if converged:
            break
    rms = math.sqrt(cost / n)
    spec = exponent_spec(theta) if family == "box-cox" else family_utility(family, theta).spec
    at_bound = theta in (low, high) and not (family == "box-cox" and theta == 1.0)
    reachable = rms <= tolerance and not at_bound
    if reachable:
        message = f"matched: RMS reward error {rms:.3g}"
    elif at_bound:
        side = "lower" if theta == low else "upper"
        message = f"best fit at the {side} end of the family's range ({family} parameter {theta:g}); RMS error {rms:.3g}"
    else:
        message = f"closest member has RMS reward error {rms:.3g} > tolerance {tolerance:g}"
    return Design(
        target=f"{n} target rewards",
        family=family,
        parameter=float(theta),
        utility=spec,
        reachable=reachable,
        residual=rms,
        n=n,
        method=method,
        message=message,
    )
