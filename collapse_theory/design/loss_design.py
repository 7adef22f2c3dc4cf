"""Inverse design under a ranking loss: the objective term's parameter for target rewards, the other terms fixed.

:func:`~collapse_theory.design.utility_design.design_for_rewards` fits the parameter of a utility family so
that the paper's optimum at n matches target rewards. :func:`design_for_loss_rewards` does
the same inside a loss as trainers write it: the objective term's family is searched
(``box-cox`` for log, power, neg-power and linear; ``log-sigmoid:B``, ``exp:B``,
``plackett-luce:B``), while ``free``/``bounded``, ``l2``, ``center``, the margins and the LiPO
weights stay as given. Every candidate is a certified :func:`~collapse_theory.solver.loss_solver.solve_loss`
answer (status ``optimal`` or ``shift_invariant``).

**What is compared.** Bounded rewards are compared as they are (targets in [0, 1], as the
plain design). Free rewards have no fixed place or scale: a common shift never matters and
the scale is set by the regulariser, so the optimum and the target are both mapped to
range [0, 1], (r - r_n)/(r_1 - r_n), and their *shapes* compared. Some parameters are then
not identifiable: for a power-like U (log, power, neg-power) with ``free+l2`` the shape does
not depend on BETA; for ``log-sigmoid:B`` (or ``plackett-luce:B``) with ``l2:BETA`` it
depends on BETA / B^2 only (r -> B r turns one into the other), so B is designed for the
given BETA.

**Search.** One parameter: a grid over the family's range (log-spaced for the scale
parameters B), then bounded Brent (:func:`scipy.optimize.minimize_scalar`) in the cells
around the grid's lowest local minima; no derivative of the optimum is needed. A shape
need not identify the parameter: with ``free+l2`` both ``log`` and ``neg-power:2`` (box-cox
G = 0 and G = -2) have the zeros of the Hermite polynomial H_n as optimum (Stieltjes;
Calogero's harmonic equilibrium), and the shape of ``log-sigmoid:B+free+l2`` runs from equal
gaps (BETA / B^2 -> 0, saturation) back to equal gaps (BETA / B^2 -> inf, the quadratic
regime). When separated members match within the tolerance, the one nearest the loss's own
term is reported and the others are named, with their errors, in the message. Candidates the solver
refuses (an infeasible margin) or does not certify count as a mismatch of 2, worse than any
(an RMS error of vectors in [0, 1] is at most 1).

**Limit targets** (``--target beta:A``) are designed only for plain utilities
(:func:`~collapse_theory.design.utility_design.design_for_limit`): beyond them a loss's n -> infinity law is
known in closed form only for ``log`` with ``l2``/``center`` (a semicircle: Beta(3/2, 3/2) after
range normalisation, for every BETA) and ``ipo`` alone (uniform for every TAU), where no
parameter moves the law; other members have numerical laws only (a ``field_limit`` per
candidate) or none at all (divergent losses, bounded losses with extra terms).
:func:`loss_limit_design_refusal` says so in one line.

Example:
    >>> import numpy as np, scipy.special
    >>> zeros = np.sort(scipy.special.roots_hermite(5)[0])[::-1]    # log+free+l2: Hermite zeros
    >>> target = (zeros - zeros[-1]) / (zeros[0] - zeros[-1])
    >>> design = design_for_loss_rewards(target, "power:0.5+free+l2:2")    # G = 0 is log
    >>> design.family, abs(design.parameter) < 1e-5, design.reachable
    ('box-cox', True, True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
import scipy.optimize

from collapse_theory.design.family_sweeps import box_cox_exponent, family_utility
from collapse_theory.design.utility_design import DESIGN_DIGITS, FAMILY_BOUNDS, Design, design_for_limit, design_for_rewards
from collapse_theory.problems.losses import Loss, LossSpecError, parse_loss
from collapse_theory.solver.loss_solver import solve_loss
from collapse_theory.solver.status import Status

__all__ = ["LOSS_FAMILIES", "design_for_loss_limit", "design_for_loss_rewards", "loss_family", "loss_limit_design_refusal"]

#: The objective families a loss design searches, with (low, high, start): the utility
#: families of :data:`~collapse_theory.design.utility_design.FAMILY_BOUNDS` and Plackett-Luce's B.
LOSS_FAMILIES: dict[str, tuple[float, float, float]] = {**FAMILY_BOUNDS, "plackett-luce": (1e-3, 1e3, 1.0)}

#: Scale parameters (B): searched on log B.
_LOG_SCALE = ("exp", "log-sigmoid", "plackett-luce")

#: The mismatch of a candidate without a certified optimum: above any RMS error in [0, 1].
_REFUSED = 2.0

#: Grid points over the family's range before Brent refines the best cells.
_GRID = 64

#: Local minima of the grid refined by Brent, lowest first.
_REFINED = 4


def loss_family(loss: Loss | str, family: str | None = None) -> tuple[str, float]:
    """The family searched for a loss's objective term and the term's own parameter (the start).

    ``family`` (the command's ``--family``) must contain the objective term; None picks
    ``box-cox`` for log, power, neg-power and linear, else the term's own family.

    Raises:
        LossSpecError: an objective term no design family contains (ipo, min-linear, square),
            or a ``family`` that does not contain it; one line.

    Example:
        >>> loss_family("log+free+l2:0.5"), loss_family("open-assistant"), loss_family("listmle")
        (('box-cox', 0.0), ('log-sigmoid', 1.0), ('plackett-luce', 1.0))
    """
    loss = parse_loss(loss)
    own: dict[str, float] = {}
    if loss.objective == "plackett-luce":
        assert loss.parameter is not None
        own["plackett-luce"] = float(loss.parameter)
    elif loss.utility is not None:
        exponent = box_cox_exponent(loss.utility)
        if exponent is not None:
            own["box-cox"] = exponent
        record = loss.utility.family_record
        if record is not None and record.name in LOSS_FAMILIES:
            own[record.name] = float(loss.utility.parameters[0]) if loss.utility.parameters else 0.0
    if not own:
        raise LossSpecError(
            f"design --loss searches the objective term's parameter in a family (box-cox: log, power, neg-power, linear; "
            f"log-sigmoid, exp, plackett-luce); {loss.objective_spec!r} is in none of them (ipo, min-linear and square "
            "are not searched)"
        )
    if family is None:
        family = "box-cox" if "box-cox" in own else next(iter(own))
    if family not in own:
        raise LossSpecError(
            f"--family {family} does not contain the loss's objective term {loss.objective_spec!r} "
            f"(it is in: {', '.join(own)}); with --loss the objective term names the family and its start"
        )
    return family, own[family]


def _refined_minima(
    mismatch: Callable[[float], float], grid: np.ndarray, costs: np.ndarray, most: int = _REFINED
) -> list[tuple[float, float]]:
    """(coordinate, cost) of the grid's lowest local minima, each refined by bounded Brent in its two cells."""
    interior = [
        i
        for i in range(grid.size)
        if costs[i] < _REFUSED and (i == 0 or costs[i] <= costs[i - 1]) and (i == grid.size - 1 or costs[i] <= costs[i + 1])
    ]
    if not interior:
        best = int(np.argmin(costs))
        return [(float(grid[best]), float(costs[best]))]
    minima = []
    for i in sorted(interior, key=lambda i: costs[i])[:most]:
        coordinate, cost = float(grid[i]), float(costs[i])
        left, right = float(grid[max(i - 1, 0)]), float(grid[min(i + 1, grid.size - 1)])
        refined = scipy.optimize.minimize_scalar(mismatch, bounds=(left, right), method="bounded", options={"xatol": 1e-10})
        if float(refined.fun) <= cost:
            coordinate, cost = float(refined.x), float(refined.fun)
        minima.append((coordinate, cost))
    spacing = float(np.max(np.diff(grid))) if grid.size > 1 else 0.0
    separated: list[tuple[float, float]] = []
    for coordinate, cost in sorted(minima, key=lambda m: m[1]):  # one per basin: two grid minima may refine to one point
        if all(abs(coordinate - kept) > spacing for kept, _ in separated):
            separated.append((coordinate, cost))
    return separated


def _member(loss: Loss, family: str, parameter: float) -> Loss:
    if family == "plackett-luce":
        return dataclasses.replace(loss, parameter=float(parameter))
    return dataclasses.replace(loss, utility=family_utility(family, parameter))


def _normalised(values: np.ndarray) -> np.ndarray:
    return (values - values[-1]) / (values[0] - values[-1])


def loss_limit_design_refusal(loss: Loss | str) -> str:
    """Why a loss beyond a plain utility gets no limit-law design (one line; see the module docstring).

    Example:
        >>> loss_limit_design_refusal("bradley-terry").startswith("design --loss log-sigmoid:1+free")
        True
    """
    loss = parse_loss(loss)
    return (
        f"design --loss {loss.spec} with a limit target: beyond plain utilities a loss's n -> infinity law is known in "
        "closed form only for log with l2 or center (a semicircle, Beta(3/2, 3/2) after range normalisation, for every "
        "BETA) and ipo alone (uniform for every TAU), where no parameter moves the law; other members' laws are only "
        "numerical or unknown; give --target rewards:R1,...,Rn to design at finite n"
    )


def design_for_loss_limit(target: object, loss: Loss | str, family: str | None = None, *, tolerance: float = 1e-3) -> Design:
    """Limit-law design under a loss: a plain utility is :func:`~collapse_theory.design.utility_design.design_for_limit`.

    Raises:
        LossSpecError: any other loss (:func:`loss_limit_design_refusal` says why).

    Example:
        >>> import scipy.stats
        >>> design_for_loss_limit(scipy.stats.beta(0.25, 0.25), "log").utility
        'power:0.5'
    """
    loss = parse_loss(loss)
    if not loss.is_plain_utility:
        raise LossSpecError(loss_limit_design_refusal(loss))
    family, _ = loss_family(loss, family)
    design = design_for_limit(target, family, tolerance=tolerance)
    return dataclasses.replace(design, loss=design.utility)


def _target_rewards(target: Sequence[float] | np.ndarray, loss: Loss) -> np.ndarray:
    """The target rewards best first, checked: at least two, finite, in [0, 1] for a bounded loss."""
    t = np.sort(np.asarray(target, dtype=np.float64).ravel())[::-1]
    if t.size < 2:
        raise LossSpecError("target rewards need at least 2 values")
    if not np.all(np.isfinite(t)):
        raise LossSpecError("target rewards must be finite")
    if not loss.free and (t.min() < 0.0 or t.max() > 1.0):
        raise LossSpecError(f"target rewards must be in [0, 1]: the loss {loss.spec!r} has bounded rewards")
    return t


def _matched_message(family: str, compared: str, cost: float, others: Sequence[tuple[float, float]]) -> str:
    """The message of a match, naming the other members that match too (the target does not identify the parameter)."""
    message = f"matched: RMS error of the {compared} {cost:.3g}"
    if others:
        listed = ", ".join(f"{value:.6g} (RMS {error:.2g})" for value, error in others)
        message += f"; also matched by {family} parameter {listed}: the {compared} do not identify the parameter"
    return message


# Long: a third is the docstring and its worked example; the search's steps share one cache of solved
# candidates (the closures inside), which splitting it would have to pass around.
def design_for_loss_rewards(
    target: Sequence[float] | np.ndarray,
    loss: Loss | str,
    family: str | None = None,
    *,
    tolerance: float = 1e-3,
) -> Design:
    """The objective term's parameter whose loss optimum at n = len(target) is closest to the target.

    A plain utility is :func:`~collapse_theory.design.utility_design.design_for_rewards` (the same answer).
    Otherwise the search of the module docstring, the other terms of the loss fixed.

    Args:
        target: the target rewards (any order; sorted best first): in [0, 1] for a bounded
            loss; any finite numbers for a free one, whose range-normalised shape is compared.
        loss: the loss; its objective term names the family (:func:`loss_family`) and its
            other terms are kept.
        family: the family searched (None: from the objective term).
        tolerance: the largest RMS error counted as a match (a verdict threshold).

    Raises:
        LossSpecError: the loss has no maximiser (unbounded), its objective term is in no
            design family, or the target cannot be normalised; one line.

    Example:
        >>> from collapse_theory.solver.loss_solver import solve_loss
        >>> target = solve_loss("log-sigmoid:1+free+l2:0.04", 6).rewards
        >>> design = design_for_loss_rewards(target, "log-sigmoid:1+free+l2:0.01", tolerance=1e-8)
        >>> round(design.parameter, 6), design.reachable      # the shape depends on BETA / B^2 only
        (0.5, True)
        >>> five = design_for_loss_rewards(solve_loss("log-sigmoid:1+free+l2:0.04", 5).rewards, "log-sigmoid:1+free+l2:0.01")
        >>> round(five.parameter, 4), "also matched by log-sigmoid parameter 0.5 " in five.message
        (1.5195, True)

    At n = 5 a symmetric shape is one number (the ratio of its two gaps), and BETA / B^2 -> 0
    and -> inf both give equal gaps, so two temperatures give that number exactly; the one
    nearer the loss's own B = 1 is reported.
    """
    loss = parse_loss(loss)
    t = _target_rewards(target, loss)
    family, start = loss_family(loss, family)
    if loss.is_plain_utility:
        design = design_for_rewards(t, family, tolerance=tolerance)
        return dataclasses.replace(design, loss=design.utility)
    n = t.size
    if loss.free:
        if t[0] == t[-1]:
            raise LossSpecError("free rewards are compared after range normalisation; the target rewards are all equal")
        t = _normalised(t)
    low, high, _ = LOSS_FAMILIES[family]
    start = min(max(start, low), high)
    try:
        unbounded = solve_loss(_member(loss, family, start), n).status is Status.UNBOUNDED
    except LossSpecError:  # this member's margins do not fit in [0, 1]; others' may
        unbounded = False
    if unbounded:  # free rewards without a strongly concave term: no member has a maximiser
        raise LossSpecError(
            f"loss {loss.spec!r} has no maximiser at n = {n} (unbounded: free rewards without l2 or center), "
            "so there is no optimum to design; add l2:BETA or center:C, or drop free"
        )
    log_scale = family in _LOG_SCALE
    to_parameter: Callable[[float], float] = math.exp if log_scale else float
    solved: dict[float, np.ndarray | None] = {}

    def answer(parameter: float) -> np.ndarray | None:
        if parameter not in solved:
            try:
                solution = solve_loss(_member(loss, family, parameter), n)
            except LossSpecError:  # an infeasible margin for this member
                solved[parameter] = None
                return None
            usable = solution.status in (Status.OPTIMAL, Status.SHIFT_INVARIANT) and solution.rewards is not None
            rewards = None if not usable else np.asarray(solution.rewards, dtype=np.float64)
            if rewards is not None and loss.free:
                rewards = _normalised(rewards) if rewards[0] > rewards[-1] else None
            solved[parameter] = rewards
        return solved[parameter]

    def mismatch(coordinate: float) -> float:
        rewards = answer(to_parameter(coordinate))
        return _REFUSED if rewards is None else float(np.sqrt(np.mean((rewards - t) ** 2)))

    lower, upper = (math.log(low), math.log(high)) if log_scale else (low, high)
    start_coordinate = math.log(start) if log_scale else start
    grid = np.unique(np.append(np.linspace(lower, upper, _GRID), start_coordinate))
    costs = np.array([mismatch(float(c)) for c in grid])
    minima = _refined_minima(mismatch, grid, costs)
    matching = [m for m in minima if m[1] <= tolerance]
    # several separated members may match (log and neg-power:2 with free+l2 both give the Hermite zeros):
    # the one nearest the loss's own term is reported, the others named in the message
    coordinate, cost = min(matching, key=lambda m: abs(m[0] - start_coordinate)) if matching else min(minima, key=lambda m: m[1])
    others = [(to_parameter(m[0]), m[1]) for m in matching if m[0] != coordinate]
    theta = min(max(to_parameter(coordinate), low), high)
    # the spec shown is rounded like design_for_rewards' (a fitted estimate); parameter is the float
    designed = _member(loss, family, float(f"{theta:.{DESIGN_DIGITS}g}"))
    rewards = answer(to_parameter(coordinate))
    at_low = math.isclose(theta, low, rel_tol=1e-9, abs_tol=1e-12)
    at_bound = (at_low or math.isclose(theta, high, rel_tol=1e-9, abs_tol=1e-12)) and not (family == "box-cox" and theta == 1.0)
    compared = "range-normalised rewards" if loss.free else "rewards"
    reachable = cost <= tolerance and not at_bound and rewards is not None
    if rewards is None:
        message = f"no member of {family} has a certified optimum for this loss at n = {n}"
    elif reachable:
        message = _matched_message(family, compared, cost, others)
    elif at_bound:
        side = "lower" if at_low else "upper"
        message = f"best fit at the {side} end of the family's range ({family} parameter {theta:g}); RMS error {cost:.3g}"
    else:
        message = f"closest member has RMS error of the {compared} {cost:.3g} > tolerance {tolerance:g}"
    return Design(
        target=f"{n} target rewards" + (" (range-normalised)" if loss.free else ""),
        family=family,
        parameter=float(theta),
        utility=designed.objective_spec,
        reachable=reachable,
        residual=cost if rewards is not None else math.inf,
        n=n,
        method=f"fit: grid and bounded Brent on {'the log of ' if log_scale else ''}the {family} parameter, "
        f"a certified solve_loss per candidate, other terms fixed; {compared} compared",
        message=message,
        residual_kind=f"rms error of the {compared}",
        target_rewards=t,
        rewards=rewards,
        loss=designed.spec,
    )
