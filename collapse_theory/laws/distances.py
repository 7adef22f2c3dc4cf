"""Distances between laws on [0, 1]: from optimal rewards to a law, and from law to law.

* Kolmogorov-Smirnov: :math:`\\sup_x |F_1(x) - F_2(x)|`, evaluated exactly at the jump
  points of both laws (the sample points and the atoms) and just left of them, so it is
  right for continuous laws and for atoms alike.
* Wasserstein-1: :math:`\\int_0^1 |F_n(x) - F(x)|\\, dx`, integrated between the sample
  points with the crossing F(x) = F_n(x) split out, by a 20-point Gauss-Legendre rule on
  each piece (F is smooth inside every piece; the pieces at 0 and 1 are integrated after
  a change of variables that smooths F ~ x^a).

Every law is a :class:`~collapse_theory.laws.law.Law` (frozen :mod:`scipy.stats` laws are
converted by :func:`~collapse_theory.laws.law.as_law`); atoms are read from ``law.atoms``.

Example:
    >>> from collapse_theory.laws.law import two_point_law, uniform_law
    >>> d = distance([0.0, 1.0], two_point_law())
    >>> (d.kolmogorov_smirnov, d.wasserstein)
    (0.0, 0.0)
    >>> law_distance(uniform_law(), two_point_law())
    0.5
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from collapse_theory.errors import InputError
from collapse_theory.laws.law import Law, as_law

__all__ = ["Distances", "distance", "kolmogorov_smirnov", "law_distance", "law_wasserstein", "wasserstein"]

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(20)


class Distances(NamedTuple):
    """Kolmogorov-Smirnov and Wasserstein-1 distances."""

    kolmogorov_smirnov: float
    wasserstein: float


def _as_sample(rewards: Any) -> np.ndarray:
    sample = np.sort(np.asarray(rewards, dtype=np.float64).ravel())
    if sample.size == 0:
        raise InputError("rewards must be non-empty")
    if not np.all(np.isfinite(sample)):
        raise InputError("rewards contain NaN or infinity")
    return sample


def _atom_locations(law: Law) -> np.ndarray:
    return np.array([atom.location for atom in law.atoms], dtype=np.float64)


def kolmogorov_smirnov(rewards: Any, law: Any) -> float:
    """:math:`\\sup_x |F_n(x) - F(x)|` for the empirical law of ``rewards``."""
    sample = _as_sample(rewards)
    law = as_law(law)
    points = np.unique(np.concatenate([sample, _atom_locations(law)]))
    left = np.nextafter(points, -np.inf)
    n = sample.size
    empirical = np.searchsorted(sample, points, side="right") / n
    empirical_left = np.searchsorted(sample, left, side="right") / n
    at = np.abs(empirical - law.cdf(points))
    before = np.abs(empirical_left - law.cdf(left))
    return float(max(at.max(), before.max()))


def wasserstein(rewards: Any, law: Any) -> float:
    """:math:`\\int_0^1 |F_n(x) - F(x)|\\, dx` for a law supported in [0, 1]."""
    sample = _as_sample(rewards)
    law = as_law(law)
    n = sample.size
    # 1/2 is an extra edge so that no piece touches both 0 and 1 (see the substitution below)
    edges = np.unique(np.concatenate([[0.0, 0.5, 1.0], np.clip(sample, 0.0, 1.0)]))
    levels = np.searchsorted(sample, edges[:-1], side="right") / n  # F_n on [edges[k], edges[k+1])
    # split each piece where F crosses the level of F_n
    crossing = np.clip(law.ppf(levels), edges[:-1], edges[1:])
    lower = np.concatenate([edges[:-1], crossing])
    upper = np.concatenate([crossing, edges[1:]])
    level = np.concatenate([levels, levels])
    # Each piece is integrated in s with x = s^8 (left of 1/2) or x = 1 - s^8 (right of it):
    # a law such as Beta(a, a), a < 1, has F ~ x^a at the ends, which Gauss-Legendre
    # cannot follow in x; in s the integrand is smooth for a >= 1/8.
    power = 8.0 if law.unbounded_density else 1.0
    right = lower >= 0.5
    s_low = np.where(right, 1.0 - upper, lower) ** (1.0 / power)
    s_high = np.where(right, 1.0 - lower, upper) ** (1.0 / power)
    half = (s_high - s_low) / 2.0
    s = (s_high + s_low)[:, None] / 2.0 + half[:, None] * _NODES[None, :]
    x = np.where(right[:, None], 1.0 - s**power, s**power)
    integrand = np.abs(level[:, None] - law.cdf(x)) * power * s ** (power - 1.0)
    return float(np.sum(half * (integrand @ _WEIGHTS)))


def distance(rewards: Any, law: Any) -> Distances:
    """Kolmogorov-Smirnov and Wasserstein-1 distance from rewards to a law on [0, 1].

    Args:
        rewards: the optimal rewards (any order).
        law: a :class:`~collapse_theory.laws.law.Law` (e.g. from
            :func:`collapse_theory.laws.limits.limit`) or a frozen :mod:`scipy.stats` law.
    """
    return Distances(kolmogorov_smirnov(rewards, law), wasserstein(rewards, law))


def law_distance(first: Any, second: Any, grid: np.ndarray | None = None, *, dense: bool = True) -> float:
    """Kolmogorov-Smirnov distance :math:`\\sup_x |F_1(x) - F_2(x)|` between two laws on [0, 1].

    Evaluated at ``grid`` (if given), both laws' mesh nodes and cell midpoints (when they
    have a ``grid``, as numerical laws do), their atoms (both sides of each jump) and, with
    ``dense``, a log-spaced plus uniform grid of 20,000 points that resolves the
    neighbourhoods of 0 and 1 down to 1e-16.

    Example:
        >>> import scipy.stats
        >>> round(law_distance(scipy.stats.uniform(), scipy.stats.beta(1, 1)), 12)
        0.0
    """
    laws = (as_law(first), as_law(second))
    points = []
    if dense:
        near = np.geomspace(1e-16, 0.5, 5000)
        points += [near, 1.0 - near, np.linspace(0.0, 1.0, 10001)]
    for law in laws:
        mesh = getattr(law, "grid", None)
        if mesh is not None and dense:
            points.append(mesh)
            points.append(0.5 * (mesh[1:] + mesh[:-1]))
        for atom in law.atoms:
            points.append(np.array([atom.location, np.nextafter(atom.location, -np.inf)]))
    if grid is not None:
        points.append(np.asarray(grid, dtype=np.float64))
    if not points:
        raise InputError("law_distance needs evaluation points: pass a grid or dense=True")
    x = np.unique(np.clip(np.concatenate(points), 0.0, 1.0))
    left = np.nextafter(x, -np.inf)
    at = np.abs(np.asarray(laws[0].cdf(x)) - np.asarray(laws[1].cdf(x)))
    before = np.abs(np.asarray(laws[0].cdf(left)) - np.asarray(laws[1].cdf(left)))
    return float(max(at.max(), before.max()))


def law_wasserstein(first: Any, second: Any, grid: np.ndarray) -> float:
    """Wasserstein-1 distance :math:`\\int_0^1 |F_1 - F_2|\\, dx` between two laws, by the trapezoidal rule on ``grid``.

    Both sides of every atom are added to the grid, so jumps are integrated exactly.

    Example:
        >>> from collapse_theory.laws.law import two_point_law, uniform_law
        >>> round(law_wasserstein(uniform_law(), two_point_law(), np.linspace(0.0, 1.0, 1001)), 6)
        0.25
    """
    laws = (as_law(first), as_law(second))
    points: list[np.ndarray] = [np.asarray(grid, dtype=np.float64), np.array([0.0, 1.0])]
    for law in laws:
        for atom in law.atoms:
            points.append(np.array([atom.location, np.nextafter(atom.location, -np.inf)]))
    x = np.unique(np.clip(np.concatenate(points), 0.0, 1.0))
    gap = np.abs(np.asarray(laws[0].cdf(x), dtype=float) - np.asarray(laws[1].cdf(x), dtype=float))
    return float(np.sum(np.diff(x) * (gap[1:] + gap[:-1]) / 2.0))
