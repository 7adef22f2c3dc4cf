"""Starting points of the utility back end: the limit law's quantiles, a plain interior start, or coarser solutions.

A good start saves the barrier phase: from the closed-form limit law's quantiles (or, for
large n, from the solutions at n // 2 and n // 4 interpolated in the reward levels) the
polish needs a few Newton steps only.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.special

from collapse_theory.problems.families import Family, box_cox_beta_parameter
from collapse_theory.problems.utilities import Utility
from collapse_theory.solver._compiled_phase import _is_builtin
from collapse_theory.solver.solution import Solution

__all__: list[str] = []

#: Above this many free rewards (m = n // 2) the solutions at n // 2 and n // 4 seed the solve.
COARSE_LEVEL = 64


def _closed_form_quantiles(utility: Utility, n: int) -> np.ndarray | None:
    """Top-half start from the closed-form limit law, if there is one (a polish-ready guess)."""
    if not (_is_builtin(utility) and utility.concave) or utility.family_record is None:
        return None
    quantiles = _cached_quantiles(utility.family_record, utility.parameters, n)
    return None if quantiles is None else quantiles.copy()


@lru_cache(maxsize=256)
def _cached_quantiles(family: Family, parameters: tuple[float, ...], n: int) -> np.ndarray | None:
    # cached: freezing a scipy.stats law costs milliseconds, more than a small solve
    levels = (np.arange(n // 2) + 0.5) / n
    if family.box_cox_exponent is not None:
        # the Box-Cox scale's laws are Beta(a, a) (a = 1: uniform; a = 0: two points): their
        # quantiles straight from scipy.special (the same boost routine as scipy.stats.beta.ppf),
        # so a short command need not import scipy.stats, most of a second
        a = box_cox_beta_parameter(family.box_cox_exponent(parameters))
        if a <= 0.0:
            return None
        quantiles = scipy.special.betaincinv(a, a, levels)
    else:
        law = family.limit_law(parameters)
        if law is None or law.continuous_mass <= 0.0:  # the two-point law: no interior quantiles
            return None
        # exact quantiles: the atoms of exp:B's law start as exact ties at the top (U'(0) is
        # finite, so they tie), its uniform part from scipy's ppf
        quantiles = law.ppf(levels)
    # stretched so that y_1 = 0 (r_1 = 1, optimal for every increasing U) with y = 1/2 fixed
    quantiles = 0.5 * (quantiles - quantiles[0]) / (0.5 - quantiles[0])
    usable = np.all(np.isfinite(quantiles)) and np.all(np.diff(quantiles) >= 0) and quantiles[0] >= 0 and quantiles[-1] < 0.5
    return quantiles if usable else None


def _quantile_start(size: int, quantiles: np.ndarray) -> np.ndarray:
    """The closed-form quantiles as a top half padded to ``size`` (ties allowed: only polished)."""
    y = np.full(size, 0.25)
    y[: len(quantiles)] = quantiles
    return y


def _interior_start(n: int, size: int, quantiles: np.ndarray | None) -> np.ndarray:
    """A strictly feasible symmetric start for the barrier path: evenly spaced rewards, or their
    midpoint with the closed-form quantiles where given.

    The midpoint is strictly increasing with y_1 > 0 even where the quantiles tie or
    start at 0 (the log-barrier is infinite there).
    """
    y = np.full(size, 0.25)
    evenly_spaced = (np.arange(n // 2) + 0.5) / n
    y[: n // 2] = evenly_spaced if quantiles is None else 0.5 * (evenly_spaced + quantiles)
    return y


def _interpolated_start(half: Solution, quarter: Solution | None, n: int, size: int) -> np.ndarray:
    """Top half at n from the solutions at n // 2 (``half``) and n // 4 (``quarter``, or None).

    In the bulk, the rewards of ``half`` and ``quarter`` interpolated at the quantile
    levels of n by a monotone cubic (PCHIP: gaps vary smoothly, where piecewise-linear
    interpolation makes them piecewise constant, a relative error of about 1/k at the k-th
    reward) and extrapolated linearly in the level's finite-n correction
    (:math:`2 y_{n/2} - y_{n/4}`, a Richardson step). Near the top the optimum is not a
    function of the level but of the index: the k-th reward from the top scales like a
    power of n at fixed k (for ``log``, the Gauss-Lobatto nodes,
    :math:`y_k \\approx j_k^2 / (4 n^2)` with Bessel zeros :math:`j_k`), so there each y_k
    is extrapolated from its values at n // 4 and n // 2 (:math:`y_k^2 / y_k'`, one
    Richardson step in the index), blended into the bulk by a half cosine over the first
    half of the indices ``quarter`` has. Relative certificate gaps of the start at
    n = 4000, against the n // 2 solution's PCHIP alone and a quadratic blend over a
    quarter: 1e-2 against 6e-2 (``neg-power:1``), 1e-4 against 8e-3 (``log``), 2e-6
    against 3e-3 (``power:0.5``), 5e-7 against 4e-7 (``log-sigmoid:4``). Ties of the
    coarse solutions (rewards exactly 1) stay exact ties, so the polish starts on the
    right face.
    """
    import scipy.interpolate  # here: the short commands that never solve at large n need not import it

    m = n // 2
    fine_levels = (np.arange(m) + 0.5) / n

    def at_fine_levels(solution: Solution) -> np.ndarray:
        assert solution.rewards is not None  # a utility's solution always has rewards
        coarse = 1.0 - solution.rewards
        levels = (np.arange(solution.n) + 0.5) / solution.n
        return scipy.interpolate.PchipInterpolator(levels, coarse)(np.clip(fine_levels, levels[0], levels[-1]))

    top = at_fine_levels(half)
    if quarter is not None:
        top = 2.0 * top - at_fine_levels(quarter)
        length = min(quarter.n // 2, half.n // 2, m)
        assert half.rewards is not None and quarter.rewards is not None
        y_half, y_quarter = 1.0 - half.rewards[:length], 1.0 - quarter.rewards[:length]
        positive = y_quarter > 0
        edge = np.where(positive, y_half * (y_half / np.where(positive, y_quarter, 1.0)), top[:length])
        span = max(length // 2, 1)
        index = np.arange(length)
        weight = np.where(index < span, 0.5 * (1.0 + np.cos(np.pi * index / span)), 0.0)
        top[:length] = weight * edge + (1.0 - weight) * top[:length]
    y = np.full(size, 0.25)
    y[:m] = np.minimum(np.maximum.accumulate(np.clip(top, 0.0, 0.5)), 0.5 if n % 2 else 0.5 - 0.5 / n)
    y[0] = 0.0  # r_1 = 1: optimal for every increasing U
    return y


def _seeded_by_coarser(quantiles: np.ndarray | None, n: int) -> bool:
    """Whether a solve at n starts from the chain of coarser solutions (see :func:`_guesses`)."""
    if n // 2 <= COARSE_LEVEL:
        return False
    # a law with atoms starts as exact ties (exp:B: 1 to 4 Newton steps); a continuous law's
    # quantiles are good in the bulk only (the gaps next to the top are off by up to 100%)
    return quantiles is None or not np.any(np.diff(quantiles) == 0.0)


def _plain_guess(n: int, size: int, quantiles: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """The start of a problem not seeded by coarser solutions, and whether it is polish-ready."""
    return (_interior_start(n, size, None), False) if quantiles is None else (_quantile_start(size, quantiles), True)
