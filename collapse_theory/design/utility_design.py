"""Families of utilities and inverse design: from a target law of rewards to a utility.

**One family for power, log and neg-power.** The Box-Cox utilities (Box and Cox, JRSS B
1964)

.. math::

    U_G(x) = \\frac{x^G - 1}{G} \\quad (G \\ne 0), \\qquad U_0(x) = \\log x, \\qquad G \\le 1,

are positive multiples of ``power:G`` (0 < G < 1), ``log`` (G = 0), ``neg-power:-G``
(G < 0) and ``linear`` (G = 1), plus constants, so they have the same set of optimal
rewards (the family is one record of :mod:`collapse_theory.problems.families`, ``box-cox:G`` as a
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize
import scipy.stats

from collapse_theory._core.checks import check_memory
from collapse_theory._core.results import as_dict
from collapse_theory.design.family_sweeps import (
    FamilySweep,
    SweepPoint,
    beta_parameter_sweep,
    box_cox_exponent,
    exponent_spec,
    family_sweep,
    family_utility,
    moment_beta_parameter,
)
from collapse_theory.design.reward_sensitivity import RewardSensitivity, reward_sensitivity
from collapse_theory.errors import InputError
from collapse_theory.laws.distances import law_distance
from collapse_theory.laws.law import Law, as_law, beta_law, exp_law, uniform_law
from collapse_theory.problems.families import FAMILIES
from collapse_theory.problems.families import box_cox_beta_parameter as limit_beta_parameter
from collapse_theory.problems.losses import Loss
from collapse_theory.problems.utilities import box_cox
from collapse_theory.solver.utility_solver import estimated_memory

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

#: Significant digits of a designed spec (:attr:`Design.utility`): a fitted estimate, shown
#: rounded; :attr:`Design.parameter` carries the float itself.
DESIGN_DIGITS = 10

#: Families that :func:`design_for_rewards` and :func:`reward_sensitivity` accept, with the
#: parameter interval searched and the starting parameter (read from the family records).
FAMILY_BOUNDS: dict[str, tuple[float, float, float]] = {
    family.name: family.design_bounds for family in FAMILIES.values() if family.design_bounds is not None
}


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
        utility: the designed utility's spec (the equivalent built-in for ``box-cox``), its
            parameter rounded to :data:`DESIGN_DIGITS` significant digits.
        reachable: the target is matched within the tolerance by a member inside the
            family's range.
        residual: the mismatch: KS distance of the laws (limit) or root-mean-square reward
            error (finite n).
        n: the number of completions, or None for the n -> infinity law.
        method: ``"closed form"`` or how the fit was done.
        message: a human-readable verdict (why a target is unreachable, non-uniqueness).
        residual_kind: what ``residual`` measures: ``"kolmogorov-smirnov"`` (law targets)
            or ``"rms reward error"`` (reward targets).
        target_rewards: the target rewards, best first (reward targets), else None.
        rewards: the designed utility's optimal rewards at n (reward targets), else None.
        loss: the designed ranking loss's spec (``design --loss``:
            :mod:`collapse_theory.design.loss_design`), else None and left out of the JSON.
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
    residual_kind: str = "kolmogorov-smirnov"
    target_rewards: np.ndarray | None = None
    rewards: np.ndarray | None = None
    loss: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (strict: an infinite residual is null; ``loss`` only for a loss design)."""
        return as_dict(self, exclude=() if self.loss is not None else ("loss",))


#: n x n float64 arrays the implicit derivative holds at once (pairs, gaps, U'' weights, the
#: Laplacian and its product with the block membership), on top of the solve itself.
_SENSITIVITY_ARRAYS = 8


def _design_memory(n: int) -> float:
    """Peak bytes of design_for_rewards at n target rewards: a solve plus the O(n^2) derivative."""
    return float(estimated_memory(n) + _SENSITIVITY_ARRAYS * 8 * n * n)


def exp_limit_law(beta: float) -> Law:
    """The limit law of ``exp:B`` (:func:`collapse_theory.laws.law.exp_law`; ``limit("exp:B")`` returns it too).

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


def design_for_limit(
    target: Any, family: str | None = None, *, loss: Loss | str | None = None, tolerance: float = 1e-3
) -> Design:
    """The family member whose n -> infinity law is the target law.

    ``box-cox`` (power, log, neg-power, linear): closed form for Beta(a, a) (G = 1 - 2a for
    a < 1, ``neg-power:1`` for a = 1, ``linear`` for two atoms of mass 1/2), and a
    one-dimensional fit of G minimising the KS distance for any other target (a scipy law,
    a :class:`~collapse_theory.laws.numerical_laws.NumericalLimit`). ``exp``: closed form from the
    atom at 0 (B = 1/p - 2), then the KS of the whole law decides.

    Unreachable targets are reported with ``reachable=False`` and the closest member:
    asymmetric laws (every concave utility has a symmetric limit: its optimum can be
    symmetrised) and Beta(a, a) with a > 1 (the widest-spread limit of these families is
    the uniform law).

    Args:
        target: a frozen scipy law on [0, 1] or a NumericalLimit.
        family: ``"box-cox"`` (the default) or ``"exp"``; with ``loss``, the loss's own
            objective family by default.
        loss: design under a ranking loss instead of the paper's problem
            (:func:`~collapse_theory.design.loss_design.design_for_loss_limit`: a plain
            utility's law, refused with the reason for any other loss).
        tolerance: the largest KS distance counted as a match (a verdict threshold, not a
            solver tolerance: the fits run to their own convergence).

    Example:
        >>> design_for_limit(scipy.stats.beta(0.75, 0.75)).utility
        'neg-power:0.5'
    """
    if loss is not None:
        # loss_design builds on this module (its Design, bounds and searches), so it is imported here
        from collapse_theory.design.loss_design import design_for_loss_limit

        return design_for_loss_limit(target, loss, family, tolerance=tolerance)
    family = family or "box-cox"
    described = _describe_target(target)
    if family == "exp":
        return _design_exp_limit(target, described, tolerance)
    if family != "box-cox":
        raise InputError(f"limit design supports the families box-cox and exp, got {family!r}")
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
        return _design_beta_limit(target, described, *ab)
    best = _fit_box_cox_limit(target)
    if best.residual <= tolerance:
        return best
    return dataclasses.replace(
        best, reachable=False, message=f"closest member has KS {best.residual:.3g} > tolerance {tolerance:g}"
    )


def _design_beta_limit(target: Any, described: str, a: float, b: float) -> Design:
    """The box-cox member whose limit is Beta(a, b): G = 1 - 2a in closed form (a = b <= 1), else the closest."""
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
            family="box-cox",
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
        family="box-cox",
        parameter=exponent,
        utility=exponent_spec(exponent, significant=DESIGN_DIGITS),
        reachable=True,
        residual=0.0,
        n=None,
        method="closed form",
        message=message,
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
        utility=exponent_spec(exponent, significant=DESIGN_DIGITS),
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
        utility=f"exp:{beta:.{DESIGN_DIGITS}g}",
        reachable=reachable,
        residual=residual,
        n=None,
        method="closed form",
        message=message,
    )


def _projected_gauss_newton(
    residual_and_jacobian: Callable[[float], tuple[np.ndarray, np.ndarray]],
    theta: float,
    bounds: tuple[float, float],
    log_scale: bool,
    max_steps: int,
) -> tuple[float, np.ndarray]:
    """min_theta |residual(theta)|^2 over [low, high] for one scalar theta: (theta, residual).

    Gauss-Newton by hand, on one scalar parameter with a box and a log scale: jaxopt's
    GaussNewton / LevenbergMarquardt have no bounds and would differentiate the solver by
    unrolling instead of by the implicit derivative reward_sensitivity already gives.
    Steps are halved until the cost does not grow (at most 30 halvings).
    """
    low, high = bounds
    residual, jacobian = residual_and_jacobian(theta)
    cost = float(residual @ residual)
    for _ in range(max_steps):
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
    return theta, residual


def _fit_verdict(family: str, theta: float, bounds: tuple[float, float], rms: float, tolerance: float) -> tuple[bool, str]:
    """Whether a fitted member reaches the target rewards (within tolerance, inside the range), and the message."""
    low, high = bounds
    at_bound = theta in (low, high) and not (family == "box-cox" and theta == 1.0)
    if rms <= tolerance and not at_bound:
        return True, f"matched: RMS reward error {rms:.3g}"
    if at_bound:
        side = "lower" if theta == low else "upper"
        return False, f"best fit at the {side} end of the family's range ({family} parameter {theta:g}); RMS error {rms:.3g}"
    return False, f"closest member has RMS reward error {rms:.3g} > tolerance {tolerance:g}"


def design_for_rewards(
    target: Sequence[float] | np.ndarray,
    family: str | None = None,
    *,
    loss: Loss | str | None = None,
    tolerance: float = 1e-3,
    max_steps: int = 40,
) -> Design:
    """The family member whose optimal rewards at n = len(target) are closest to the target.

    Minimises :math:`\\tfrac12 \\lVert r^*(\\theta) - t \\rVert^2` (t sorted descending) by
    projected Gauss-Newton on theta within ``FAMILY_BOUNDS``, with
    :math:`dr^*/d\\theta` from :func:`reward_sensitivity` (implicit differentiation). The
    target is reachable when the root-mean-square error is <= ``tolerance`` at a parameter
    strictly inside the range; a best fit stuck at the range's end means the target is
    approached only in a limit of the family (for example evenly spaced rewards as
    G -> -inf, the nearest-neighbour regime of neg-power).

    Args:
        target: the target rewards (any order; sorted best first), in [0, 1].
        family: a family with design bounds (``FAMILY_BOUNDS``, read from the registry);
            default ``"box-cox"``, or with ``loss`` the family of its objective term.
        loss: design under a ranking loss, its other terms fixed
            (:func:`~collapse_theory.design.loss_design.design_for_loss_rewards`; then
            ``max_steps`` does not apply: that search is a grid, then bounded Brent).
        tolerance: the largest RMS reward error counted as a match (a verdict threshold,
            not a solver tolerance).
        max_steps: Gauss-Newton steps at most.

    Example:
        >>> from collapse_theory.solver.utility_solver import solve
        >>> target = solve("power:0.3", 6).rewards
        >>> design = design_for_rewards(target)
        >>> design.utility, design.reachable
        ('power:0.3', True)
    """
    if loss is not None:
        # loss_design builds on this module (its Design, bounds and searches), so it is imported here
        from collapse_theory.design.loss_design import design_for_loss_rewards

        return design_for_loss_rewards(target, loss, family, tolerance=tolerance)
    family = family or "box-cox"
    t = np.sort(np.asarray(target, dtype=np.float64).ravel())[::-1]
    if t.size < 2:
        raise InputError("target rewards need at least 2 values")
    if not np.all(np.isfinite(t)) or t.min() < 0.0 or t.max() > 1.0:
        raise InputError("target rewards must be finite and in [0, 1]")
    if family not in FAMILY_BOUNDS:
        raise InputError(f"unknown family {family!r}; choose from {', '.join(FAMILY_BOUNDS)}")
    low, high, theta = FAMILY_BOUNDS[family]
    n = t.size
    check_memory("design for target rewards", n, _design_memory, lower=2)
    log_scale = family in ("exp", "log-sigmoid")  # scale parameters: search on log theta

    def residual_and_jacobian(value: float) -> tuple[np.ndarray, np.ndarray]:
        sensitivity = reward_sensitivity(family, value, n)
        return sensitivity.rewards - t, sensitivity.derivative

    theta, residual = _projected_gauss_newton(residual_and_jacobian, theta, (low, high), log_scale, max_steps)
    cost = float(residual @ residual)
    method = "fit: projected Gauss-Newton, dr/dtheta by implicit differentiation"
    rms = math.sqrt(cost / n)
    spec = exponent_spec(theta, significant=DESIGN_DIGITS) if family == "box-cox" else f"{family}:{theta:.{DESIGN_DIGITS}g}"
    reachable, message = _fit_verdict(family, theta, (low, high), rms, tolerance)
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
        residual_kind="rms reward error",
        target_rewards=t,
        rewards=t + residual,
    )
