"""Claims about the distances of issue 2, item 5: Kolmogorov-Smirnov and Wasserstein-1.

Oracles: ``scipy.stats.kstest`` (KS against a continuous law),
``scipy.integrate.quad`` of |F_n - F| with the sample points as breakpoints and
``scipy.stats.wasserstein_distance`` against a fine quantile sample (W1), and
small cases computed by hand. Budget: under 10 s.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from collapse_theory.laws.distances import Distances, distance

CONTINUOUS_LAWS = {
    "arcsine": scipy.stats.beta(0.5, 0.5),
    "beta(0.125)": scipy.stats.beta(0.125, 0.125),
    "beta(0.75)": scipy.stats.beta(0.75, 0.75),
    "beta(2, 5)": scipy.stats.beta(2.0, 5.0),
    "uniform": scipy.stats.uniform(0.0, 1.0),
}
TWO_POINT = scipy.stats.bernoulli(0.5)

samples = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40)
laws = st.sampled_from(sorted(CONTINUOUS_LAWS))


def integrated_w1(sample: np.ndarray, law: Any) -> float:
    """W1 = int_0^1 |Q_n(u) - F^{-1}(u)| du (quantile form) by adaptive quadrature.

    Q_n is the empirical quantile function (the k-th smallest reward on
    ((k-1)/n, k/n]); the pieces break at k/n and where F^{-1} crosses a reward,
    u = F(s_k), so the integrand is smooth on each piece even for laws whose
    density blows up at 0 or 1 (F^{-1} of Beta(a, a) behaves like u^(1/a)).
    """
    sorted_sample = np.sort(sample)
    n = sorted_sample.size
    breaks = np.unique(np.concatenate([np.arange(n + 1) / n, law.cdf(sorted_sample)]))
    total = 0.0
    for low, high in itertools.pairwise(breaks):
        if high > low:
            level = sorted_sample[min(int(np.floor((low + high) / 2 * n)), n - 1)]  # Q_n on (low, high)
            value, _ = scipy.integrate.quad(
                lambda u, q=level: abs(q - law.ppf(u)), low, high, epsabs=1e-14, epsrel=1e-12, limit=200
            )
            total += value
    return total


@given(sample=samples, name=laws)
def test_kolmogorov_smirnov_matches_scipy_kstest(sample: list[float], name: str) -> None:
    """KS to a continuous law equals scipy.stats.kstest's statistic (to 1e-12)."""
    law = CONTINUOUS_LAWS[name]
    expected = scipy.stats.kstest(np.asarray(sample), law.cdf).statistic
    assert distance(sample, law).kolmogorov_smirnov == pytest.approx(expected, abs=1e-12)


def law_cases() -> list[Any]:
    """Every continuous law, Beta(a, a) with a < 1 (F ~ x^a at the ends) included."""
    return sorted(CONTINUOUS_LAWS)


@pytest.mark.parametrize("name", law_cases())
@given(sample=samples)
def test_wasserstein_matches_quadrature(name: str, sample: list[float]) -> None:
    """W1 to a continuous law equals int_0^1 |Q_n(u) - F^{-1}(u)| du by scipy.integrate.quad (to 1e-9)."""
    law = CONTINUOUS_LAWS[name]
    assert distance(sample, law).wasserstein == pytest.approx(integrated_w1(np.asarray(sample), law), abs=1e-9)


@pytest.mark.parametrize("name", law_cases())
def test_wasserstein_matches_scipy_on_a_quantile_sample(name: str) -> None:
    """W1 equals scipy.stats.wasserstein_distance against N = 200000 mid-quantiles of the law.

    Replacing a law on [0, 1] by its N mid-quantiles moves it by at most 1/N in W1,
    so the tolerance is 1/N.
    """
    law = CONTINUOUS_LAWS[name]
    quantiles = law.ppf((np.arange(200_000) + 0.5) / 200_000)
    sample = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    expected = scipy.stats.wasserstein_distance(sample, quantiles)
    assert distance(sample, law).wasserstein == pytest.approx(expected, abs=1 / 200_000)


# --- small cases by hand -------------------------------------------------------------


@pytest.mark.parametrize(
    ("rewards", "ks", "w1"),
    [
        ([1.0, 1.0, 0.0, 0.0], 0.0, 0.0),  # the limit law itself
        ([1.0, 0.0], 0.0, 0.0),
        ([1.0, 0.0, 0.0], 1 / 6, 1 / 6),  # F_n = 2/3 vs 1/2 on [0, 1)
        ([1.0, 0.5, 0.0], 1 / 6, 1 / 6),  # F_n = 1/3 on [0, 1/2), 2/3 on [1/2, 1): |.-1/2| = 1/6 throughout
        ([0.5], 0.5, 0.5),  # F_n = 0 then 1 vs F = 1/2
        ([1.0], 0.5, 0.5),  # all mass at 1: F_n = 0 on [0, 1)
    ],
)
def test_two_point_law_by_hand(rewards: list[float], ks: float, w1: float) -> None:
    """Distances to the two-point law (mass 1/2 at 0 and at 1), worked out by hand."""
    result = distance(rewards, TWO_POINT)
    assert isinstance(result, Distances)
    assert result.kolmogorov_smirnov == pytest.approx(ks, abs=1e-15)
    assert result.wasserstein == pytest.approx(w1, abs=1e-15)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101])
def test_uniform_midpoints_by_hand(n: int) -> None:
    """Sample (k - 1/2)/n vs Uniform(0, 1): KS = 1/(2n); W1 = n cells, two triangles of legs 1/(2n) each: 1/(4n)."""
    sample = (np.arange(1, n + 1) - 0.5) / n
    result = distance(sample, scipy.stats.uniform(0.0, 1.0))
    assert result.kolmogorov_smirnov == pytest.approx(1 / (2 * n), abs=1e-15)
    assert result.wasserstein == pytest.approx(1 / (4 * n), abs=1e-15)


def test_point_mass_against_uniform_by_hand() -> None:
    """A single reward at 1/4 vs Uniform(0, 1): KS = |1 - 1/4| = 3/4 at x = 1/4; W1 = 1/32 + 9/32 = 5/16."""
    result = distance([0.25], scipy.stats.uniform(0.0, 1.0))
    assert result.kolmogorov_smirnov == pytest.approx(0.75, abs=1e-15)
    assert result.wasserstein == pytest.approx(5 / 16, abs=1e-15)


# --- invariances and input errors ----------------------------------------------------


@given(sample=samples, seed=st.integers(0, 1000))
def test_distance_ignores_the_order_of_rewards(sample: list[float], seed: int) -> None:
    """The empirical law does not depend on the order (rewards come descending from the solver)."""
    law = CONTINUOUS_LAWS["arcsine"]
    shuffled = np.random.default_rng(seed).permutation(sample)
    assert distance(shuffled, law) == distance(sorted(sample), law)


@pytest.mark.parametrize("bad", [[], [0.5, float("nan")], [float("inf")]])
def test_bad_rewards_raise_value_error(bad: list[float]) -> None:
    """Empty or non-finite rewards are an input error (ValueError, one line)."""
    with pytest.raises(ValueError, match="rewards"):
        distance(bad, CONTINUOUS_LAWS["uniform"])
