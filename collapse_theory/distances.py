"""Distances between optimal rewards (an empirical law) and a law on [0, 1].

* Kolmogorov-Smirnov: :math:`\\sup_x |F_n(x) - F(x)|`, evaluated exactly at the
  jump points of both laws (and just left of them), so it is right for
  continuous laws and for atoms (the two-point law) alike.
* Wasserstein-1: :math:`\\int_0^1 |F_n(x) - F(x)|\\, dx`, integrated between the
  sample points with the crossing F(x) = F_n(x) split out, by a 20-point
  Gauss-Legendre rule on each piece (F is smooth inside every piece; the pieces
  at 0 and 1 are integrated after a change of variables that smooths F ~ x^a).

Example:
    >>> import scipy.stats
    >>> d = distance([0.0, 1.0], scipy.stats.bernoulli(0.5))
    >>> (d.kolmogorov_smirnov, d.wasserstein)
    (0.0, 0.0)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(20)


class Distances(NamedTuple):
    """Kolmogorov-Smirnov and Wasserstein-1 distances."""

    kolmogorov_smirnov: float
    wasserstein: float


def _as_sample(rewards: Any) -> np.ndarray:
    sample = np.sort(np.asarray(rewards, dtype=np.float64).ravel())
    if sample.size == 0:
        raise ValueError("rewards must be non-empty")
    if not np.all(np.isfinite(sample)):
        raise ValueError("rewards contain NaN or infinity")
    return sample


def _support_points(distribution: Any) -> np.ndarray:
    """Atoms of a discrete scipy law on [0, 1] (none for a continuous law)."""
    if hasattr(distribution.dist, "pmf"):
        grid = np.arange(0, 2)
        return grid[distribution.pmf(grid) > 0].astype(np.float64)
    return np.empty(0)


def _unbounded_density_at_the_ends(distribution: Any) -> bool:
    """A continuous law whose density blows up at 0 or 1 (Beta(a, b) with a or b < 1)."""
    if not hasattr(distribution.dist, "pdf"):
        return False
    with np.errstate(all="ignore"):
        ends = distribution.pdf(np.array([1e-200, 1.0 - 1e-16]))
    return bool(np.any(~np.isfinite(ends) | (ends > 1e6)))


def kolmogorov_smirnov(rewards: Any, distribution: Any) -> float:
    """:math:`\\sup_x |F_n(x) - F(x)|` for the empirical law of ``rewards``."""
    sample = _as_sample(rewards)
    points = np.unique(np.concatenate([sample, _support_points(distribution)]))
    left = np.nextafter(points, -np.inf)
    n = sample.size
    empirical = np.searchsorted(sample, points, side="right") / n
    empirical_left = np.searchsorted(sample, left, side="right") / n
    at = np.abs(empirical - distribution.cdf(points))
    before = np.abs(empirical_left - distribution.cdf(left))
    return float(max(at.max(), before.max()))


def wasserstein(rewards: Any, distribution: Any) -> float:
    """:math:`\\int_0^1 |F_n(x) - F(x)|\\, dx` for a law supported in [0, 1]."""
    sample = _as_sample(rewards)
    n = sample.size
    # 1/2 is an extra edge so that no piece touches both 0 and 1 (see the substitution below)
    edges = np.unique(np.concatenate([[0.0, 0.5, 1.0], np.clip(sample, 0.0, 1.0)]))
    levels = np.searchsorted(sample, edges[:-1], side="right") / n  # F_n on [edges[k], edges[k+1])
    # split each piece where F crosses the level of F_n
    crossing = np.clip(distribution.ppf(levels), edges[:-1], edges[1:])
    lower = np.concatenate([edges[:-1], crossing])
    upper = np.concatenate([crossing, edges[1:]])
    level = np.concatenate([levels, levels])
    # Each piece is integrated in s with x = s^8 (left of 1/2) or x = 1 - s^8 (right of it):
    # a law such as Beta(a, a), a < 1, has F ~ x^a at the ends, which Gauss-Legendre
    # cannot follow in x; in s the integrand is smooth for a >= 1/8.
    power = 8.0 if _unbounded_density_at_the_ends(distribution) else 1.0
    right = lower >= 0.5
    s_low = np.where(right, 1.0 - upper, lower) ** (1.0 / power)
    s_high = np.where(right, 1.0 - lower, upper) ** (1.0 / power)
    half = (s_high - s_low) / 2.0
    s = (s_high + s_low)[:, None] / 2.0 + half[:, None] * _NODES[None, :]
    x = np.where(right[:, None], 1.0 - s**power, s**power)
    integrand = np.abs(level[:, None] - distribution.cdf(x)) * power * s ** (power - 1.0)
    return float(np.sum(half * (integrand @ _WEIGHTS)))


def distance(rewards: Any, distribution: Any) -> Distances:
    """Kolmogorov-Smirnov and Wasserstein-1 distance from rewards to a law on [0, 1].

    Args:
        rewards: the optimal rewards (any order).
        distribution: a frozen :mod:`scipy.stats` law on [0, 1], e.g. from
            :func:`collapse_theory.limits.limit`.
    """
    return Distances(kolmogorov_smirnov(rewards, distribution), wasserstein(rewards, distribution))
