"""Between-group comparison, stratum by stratum: effects with simultaneous intervals and one test.

The groups are compared on the features of :mod:`.features` (the interior shape values
and the log-range of each prompt), only between cells of equal n. For every stratum n
held by two or more *deciding* groups (groups with at least ``min_prompts`` prompts at
that n and scores that follow the ranking), every pair of groups (a, b) and every
feature j give a contrast

.. math::

    D_k = \\bar x^{(a,n)}_j - \\bar x^{(b,n)}_j, \\qquad
    \\sigma_k^2 = \\frac{S^{(a,n)}_{jj}}{m_{a,n}} + \\frac{S^{(b,n)}_{jj}}{m_{b,n}},

with each cell's own sample covariance S, so groups may differ in spread (no pooled
variance: the Behrens-Fisher setting). The test of "no difference" is the max-t test
:math:`T = \\max_k |D_k| / \\sigma_k` with its null distribution from a Gaussian
multiplier bootstrap: each cell's mean is redrawn as :math:`\\bar x + Z`,
:math:`Z \\sim N(0, S/m)`, independently per cell, and
:math:`T^* = \\max_k |D^*_k - D_k| / \\sigma_k` (Chernozhukov, Chetverikov, Kato,
"Gaussian approximations and multiplier bootstrap for maxima of sums of
high-dimensional random vectors", Ann. Statist. 2013). It costs O(cells x d^2) per
draw, whatever the number of prompts. The p-value is
:math:`(1 + \\#\\{T^* \\ge T\\}) / (1 + B)`.

**Intervals that agree with the test.** With c the bootstrap critical value (the
smallest draw that T must exceed for p < alpha), every contrast lies in
:math:`D_k \\pm c\\,\\sigma_k` simultaneously with probability about 1 - alpha, so the
largest absolute difference on an axis, :math:`\\theta = \\max_k |\\delta_k|`, lies in

.. math::

    \\Big[\\max_k \\big(|D_k| - c\\,\\sigma_k\\big)^+, \\; \\max_k \\big(|D_k| + c\\,\\sigma_k\\big)\\Big].

The test rejects exactly when some lower end is positive, so an interval that
excludes 0 and a significant test are the same statement: the verdict cannot
contradict its test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from collapse_theory._core.checks import check_seed
from collapse_theory.auditing.features import CellMoments, shape_coordinates
from collapse_theory.errors import InputError

__all__ = [
    "AXES",
    "DEFAULT_RESAMPLES",
    "MAX_RESAMPLES",
    "AxisEffect",
    "Contrasts",
    "MaxTTest",
    "bounds",
    "critical_value",
    "critical_value_of",
    "max_t_test",
    "stratum_contrasts",
    "target_contrasts",
]

#: The two axes: the shape (interior values, units of the range) and the log-range.
AXES = ("shape", "scale")
DEFAULT_RESAMPLES = 1000
MAX_RESAMPLES = 1_000_000
_DRAW_CELLS = 1 << 22  # bootstrap values held at once


@dataclass(frozen=True)
class Contrasts:
    """Differences between cell means with their standard errors.

    Attributes:
        difference: float64 [K], :math:`D_k`.
        error: float64 [K], :math:`\\sigma_k`.
        axis: int [K], 0 (shape) or 1 (scale).
        first, second: int [K], indices into ``cells`` of the two cells compared.
        feature: int [K], the feature index within the cells.
        cells: the (group, n) of each cell entering a contrast.
    """

    difference: np.ndarray
    error: np.ndarray
    axis: np.ndarray
    first: np.ndarray
    second: np.ndarray
    feature: np.ndarray
    cells: tuple[tuple[int, int], ...]


def stratum_contrasts(moments: Mapping[tuple[int, int], CellMoments], deciding: Sequence[tuple[int, int]]) -> Contrasts:
    """Every pair of deciding cells of equal n, every feature (see the module)."""
    by_n: dict[int, list[tuple[int, int]]] = {}
    for cell in deciding:
        by_n.setdefault(cell[1], []).append(cell)
    cells: list[tuple[int, int]] = []
    index: dict[tuple[int, int], int] = {}
    parts: dict[str, list[np.ndarray]] = {key: [] for key in ("difference", "error", "axis", "first", "second", "feature")}
    for n, members in sorted(by_n.items()):
        if len(members) < 2:
            continue
        d = shape_coordinates(n) + 1
        axis = np.where(np.arange(d) < d - 1, 0, 1)
        for cell in members:
            index.setdefault(cell, len(cells))
            if len(cells) < len(index):
                cells.append(cell)
        for left in range(len(members)):
            for right in range(left + 1, len(members)):
                a, b = moments[members[left]], moments[members[right]]
                parts["difference"].append(a.mean - b.mean)
                variance = np.diag(a.covariance_of_mean()) + np.diag(b.covariance_of_mean())
                parts["error"].append(np.sqrt(np.maximum(variance, 0.0)))
                parts["axis"].append(axis)
                parts["first"].append(np.full(d, index[members[left]]))
                parts["second"].append(np.full(d, index[members[right]]))
                parts["feature"].append(np.arange(d))
    joined = {key: (np.concatenate(value) if value else np.empty(0)) for key, value in parts.items()}
    return Contrasts(
        difference=joined["difference"].astype(np.float64),
        error=joined["error"].astype(np.float64),
        axis=joined["axis"].astype(np.int64),
        first=joined["first"].astype(np.int64),
        second=joined["second"].astype(np.int64),
        feature=joined["feature"].astype(np.int64),
        cells=tuple(cells),
    )


def target_contrasts(moments: Mapping[tuple[int, int], CellMoments], targets: Mapping[tuple[int, int], np.ndarray]) -> Contrasts:
    """Each cell's interior shape values against a target (one-sample contrasts; ``second`` is -1)."""
    cells = tuple(targets)
    parts: dict[str, list[np.ndarray]] = {key: [] for key in ("difference", "error", "first", "feature")}
    for number, cell in enumerate(cells):
        target = np.asarray(targets[cell], dtype=np.float64)
        moment = moments[cell]
        d = target.size
        parts["difference"].append(moment.mean[:d] - target)
        parts["error"].append(np.sqrt(np.maximum(np.diag(moment.covariance_of_mean())[:d], 0.0)))
        parts["first"].append(np.full(d, number))
        parts["feature"].append(np.arange(d))
    joined = {key: (np.concatenate(value) if value else np.empty(0)) for key, value in parts.items()}
    size = joined["difference"].size
    return Contrasts(
        difference=joined["difference"].astype(np.float64),
        error=np.nan_to_num(joined["error"].astype(np.float64)),
        axis=np.zeros(size, dtype=np.int64),
        first=joined["first"].astype(np.int64),
        second=np.full(size, -1, dtype=np.int64),
        feature=joined["feature"].astype(np.int64),
        cells=cells,
    )


def bounds(contrasts: Contrasts, members: np.ndarray, critical: float | None) -> tuple[float, float, float | None]:
    """``(effect, low, high)``: the largest :math:`|D_k|` over ``members`` with its simultaneous interval."""
    magnitude = np.abs(contrasts.difference[members])
    error = contrasts.error[members]
    spread = critical * error if critical is not None else np.where(error > 0, np.inf, 0.0)
    upper = float(np.max(magnitude + spread))
    return float(magnitude.max()), float(max(0.0, np.max(magnitude - spread))), upper if math.isfinite(upper) else None


def _studentised(values: np.ndarray, error: np.ndarray) -> np.ndarray:
    """|values| / error, with 0/0 = 0 and x/0 = inf (a difference without noise is certain)."""
    magnitude = np.abs(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = magnitude / error
    ratio[error == 0.0] = np.where(magnitude[error == 0.0] > 0.0, np.inf, 0.0)
    return ratio


def _cell_draws(moments: CellMoments, draws: int, rng: np.random.Generator) -> np.ndarray:
    """[B, d] draws of Z ~ N(0, S/m) (a symmetric square root: S may be singular)."""
    covariance = moments.covariance_of_mean()
    values, vectors = np.linalg.eigh(covariance)
    root = vectors * np.sqrt(np.clip(values, 0.0, None))
    return rng.standard_normal((draws, covariance.shape[0])) @ root.T


def critical_value(draws: np.ndarray, alpha: float) -> float:
    """The smallest c such that T > c is the same as p = (1 + #{T* >= T})/(1 + B) < alpha."""
    resamples = draws.size
    exceed = np.arange(resamples + 1)
    allowed = exceed[(1 + exceed) / (1 + resamples) < alpha]
    if allowed.size == 0:
        return float("inf")  # too few resamples to reach alpha
    ordered = np.sort(draws)
    return float(ordered[resamples - 1 - int(allowed.max())])


@dataclass(frozen=True)
class AxisEffect:
    """The largest between-group difference on one axis, with its simultaneous interval.

    Attributes:
        axis: ``shape`` (sup-norm distance of mean shapes, units of the range) or ``scale``
            (difference of mean log-ranges).
        effect: :math:`\\max_k |D_k|` over the axis's contrasts; None when the axis has none.
        low, high: the interval (see the module); ``high`` is None when unbounded.
        where: which groups, n and position give the largest difference.
    """

    axis: str
    effect: float
    low: float
    high: float | None
    where: str | None


@dataclass(frozen=True)
class MaxTTest:
    """The max-t test of "no difference between groups", and the effects per axis.

    Attributes:
        statistic: :math:`T = \\max_k |D_k| / \\sigma_k` (None without contrasts; a
            noise-free difference is reported as None with ``certain`` True).
        p_value: :math:`(1 + \\#\\{T^* \\ge T\\})/(1 + B)`, the test of no difference at all;
            None without contrasts.
        p_value_above: the same for "no difference above the margins" (the minimum-effect
            test: :math:`T_\\delta = \\max_k (|D_k| - \\delta_k)/\\sigma_k`); equals ``p_value``
            without margins.
        critical_value: c; None without contrasts or when B is too small for alpha.
        resamples: B.
        seed: the seed of the draws.
        certain: a difference measured without any noise (some :math:`\\sigma_k = 0`, D_k != 0).
        axes: one :class:`AxisEffect` per axis with contrasts.
    """

    statistic: float | None
    p_value: float | None
    p_value_above: float | None
    critical_value: float | None
    resamples: int
    seed: int
    certain: bool
    axes: tuple[AxisEffect, ...]

    def axis(self, name: str) -> AxisEffect | None:
        """The effect on ``name`` (``shape`` or ``scale``), or None."""
        return next((effect for effect in self.axes if effect.axis == name), None)


def critical_value_of(
    contrasts: Contrasts, moments: Mapping[tuple[int, int], CellMoments], alpha: float, resamples: int, seed: int
) -> float | None:
    """The bootstrap critical value c of ``contrasts`` (None: no contrasts, or too few draws for alpha)."""
    return max_t_test(contrasts, moments, alpha, resamples, seed).critical_value


def max_t_test(
    contrasts: Contrasts,
    moments: Mapping[tuple[int, int], CellMoments],
    alpha: float,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    describe: object = None,
    margins: Sequence[float | None] = (),
) -> MaxTTest:
    """The test and the per-axis intervals of :class:`Contrasts` (see the module).

    ``describe(first_cell, second_cell, feature)`` names a contrast for ``where``;
    ``margins`` gives per axis (shape, scale) the difference the minimum-effect test allows
    (None or absent: 0).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a, b = CellMoments.of(rng.normal(0.0, 0.1, (50, 2))), CellMoments.of(rng.normal(0.3, 0.1, (50, 2)))
        >>> moments = {(0, 3): a, (1, 3): b}
        >>> test = max_t_test(stratum_contrasts(moments, [(0, 3), (1, 3)]), moments, alpha=0.05, resamples=99)
        >>> test.p_value, test.axis("shape").low > 0.1
        (0.01, True)
    """
    seed = check_seed(seed)
    if isinstance(resamples, bool) or not isinstance(resamples, int) or not 1 <= resamples <= MAX_RESAMPLES:
        raise InputError(f"resamples must be an integer in [1, {MAX_RESAMPLES}], got {resamples!r}")
    if contrasts.difference.size == 0:
        return MaxTTest(None, None, None, None, resamples, seed, False, ())
    error = contrasts.error
    observed = _studentised(contrasts.difference, error)
    certain = bool(np.any(np.isinf(observed)))
    statistic = float(observed.max())
    noisy = error > 0.0
    rng = np.random.default_rng(seed)
    maxima = np.zeros(resamples)
    batch = max(1, _DRAW_CELLS // max(1, contrasts.difference.size))
    for start in range(0, resamples, batch):
        count = min(batch, resamples - start)
        draws = [_cell_draws(moments[cell], count, rng) for cell in contrasts.cells]
        if not noisy.any():
            continue
        zero = np.zeros(count)
        pairs = zip(contrasts.first[noisy], contrasts.second[noisy], contrasts.feature[noisy], strict=True)
        columns = [(draws[a][:, f], draws[b][:, f] if b >= 0 else zero) for a, b, f in pairs]
        first = np.stack([column[0] for column in columns], 1)
        second = np.stack([column[1] for column in columns], 1)
        maxima[start : start + count] = np.max(np.abs(first - second) / error[noisy], axis=1)
    p_value = (1 + int(np.count_nonzero(maxima >= statistic))) / (1 + resamples)
    allowed = np.array([(margins[a] if a < len(margins) and margins[a] is not None else 0.0) for a in range(len(AXES))])
    shifted = _studentised(np.maximum(np.abs(contrasts.difference) - allowed[contrasts.axis], 0.0), error)
    p_value_above = (1 + int(np.count_nonzero(maxima >= float(shifted.max())))) / (1 + resamples)
    c = critical_value(maxima, alpha)
    axes = []
    for number, name in enumerate(AXES):
        members = np.flatnonzero(contrasts.axis == number)
        if members.size == 0:
            continue
        effect, low, high = bounds(contrasts, members, c if np.isfinite(c) else None)
        k = members[int(np.argmax(np.abs(contrasts.difference[members])))]
        where = None
        if callable(describe):
            other = contrasts.cells[contrasts.second[k]] if contrasts.second[k] >= 0 else None
            where = str(describe(contrasts.cells[contrasts.first[k]], other, int(contrasts.feature[k])))
        axes.append(AxisEffect(axis=name, effect=effect, low=low, high=high, where=where))
    return MaxTTest(
        statistic=None if not np.isfinite(statistic) else statistic,
        p_value=p_value,
        p_value_above=p_value_above,
        critical_value=c if np.isfinite(c) else None,
        resamples=resamples,
        seed=seed,
        certain=certain,
        axes=tuple(axes),
    )
