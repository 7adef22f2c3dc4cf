"""Claims of collapse_theory.laws.convergence_studies: rates of convergence to the closed-form limits.

Time budget: 70 s on two busy cores (three solver compilations, for the Box-Cox family,
linear and exp:2, all at padded size 8; six numerical limits of a few seconds each, computed
once per module).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.stats

from collapse_theory.laws.convergence_studies import ConvergenceStudy, convergence, convergence_many, fit_rate, loss_convergence

# The ns of the convergence tests: n // 2 = 5, 6, 8 share the solver's padded size 8, so all
# of them (and every utility below, solved as Box-Cox members) cost one compilation.
NS = (10, 13, 17)

#: Measured log-log slopes on n = 10, 13, 17 (docs/theory.md, "Measured convergence rates"):
#: KS is -1.00 for log, power:0.5 and neg-power:0.5 and -0.98 for neg-power:2 (at small n the jump 1/n of the empirical law at r_n = 0 dominates),
#: Wasserstein-1 is -1.02 (log), -1.00 (power:0.5), -0.92 (neg-power:0.5), -0.97 (neg-power:2).
#: The intervals add a margin of about 0.08 for changes in the solver's last digits.
KS_SLOPE_INTERVALS = {
    "log": (-1.08, -0.92),
    "power:0.5": (-1.08, -0.92),
    "neg-power:0.5": (-1.08, -0.92),
    "neg-power:2": (-1.08, -0.9),
}
WASSERSTEIN_SLOPE_INTERVALS = {
    "log": (-1.1, -0.94),
    "power:0.5": (-1.08, -0.92),
    "neg-power:0.5": (-1.0, -0.84),
    "neg-power:2": (-1.05, -0.89),
}


@pytest.fixture(scope="module")
def studies() -> dict[str, ConvergenceStudy]:
    found = convergence_many(list(KS_SLOPE_INTERVALS), NS)
    return {study.utility: study for study in found}


# --- fit_rate ----------------------------------------------------------------------------------


def test_fit_rate_recovers_an_exact_power_law():
    ns = [10, 20, 40, 80]
    rate = fit_rate(ns, [3.0 * n**-0.75 for n in ns])
    assert rate is not None
    assert rate.slope == pytest.approx(-0.75, abs=1e-12)
    assert rate.standard_error == pytest.approx(0.0, abs=1e-12)
    assert rate.points == 4


def test_fit_rate_standard_error_matches_linregress_and_skips_zero_distances():
    ns = [8, 16, 32, 64, 128]
    distances = [0.3, 0.0, 0.05, 0.03, 0.01]
    rate = fit_rate(ns, distances)
    kept = [(n, d) for n, d in zip(ns, distances, strict=True) if d > 0]
    oracle = scipy.stats.linregress(np.log([n for n, _ in kept]), np.log([d for _, d in kept]))
    assert rate is not None and rate.points == 4
    assert rate.slope == pytest.approx(oracle.slope, rel=1e-12)
    assert rate.standard_error == pytest.approx(oracle.stderr, rel=1e-12)
    assert fit_rate([8, 16], [0.0, 0.1]) is None


# --- convergence to the closed forms -----------------------------------------------------------


@pytest.mark.parametrize("spec", list(KS_SLOPE_INTERVALS))
def test_every_closed_form_is_approached_at_the_measured_rate(studies, spec):
    study = studies[spec]
    ks = [p.kolmogorov_smirnov for p in study.points]
    assert [p.n for p in study.points] == list(NS)
    assert all(p.converged for p in study.points)
    assert all(later < earlier for earlier, later in itertools.pairwise(ks)), ks
    low, high = KS_SLOPE_INTERVALS[spec]
    assert study.kolmogorov_smirnov_rate is not None
    assert low <= study.kolmogorov_smirnov_rate.slope <= high
    wasserstein = [p.wasserstein for p in study.points]
    assert all(later < earlier for earlier, later in itertools.pairwise(wasserstein))
    low, high = WASSERSTEIN_SLOPE_INTERVALS[spec]
    assert study.wasserstein_rate is not None
    assert low <= study.wasserstein_rate.slope <= high


def test_ks_of_a_continuous_limit_is_at_least_one_over_n(studies):
    # oracle: r_n = 0 exactly (U increasing), so F_n(0) = 1/n while F(0) = 0 for a continuous law
    for study in studies.values():
        for point in study.points:
            assert point.kolmogorov_smirnov >= 1.0 / point.n - 1e-12
    for point in studies["log"].points:  # Gauss-Lobatto nodes: the bound is attained
        assert point.kolmogorov_smirnov == pytest.approx(1.0 / point.n, abs=1e-9)


def test_linear_odd_n_misses_the_two_point_law_by_exactly_one_over_2n():
    # oracle: for odd n the optimum puts (n-1)/2 rewards at 1, one at 1/2, (n-1)/2 at 0, so
    # F_n(1/2-) = (n-1)/(2n) against 1/2 (KS) and |F_n - F| = 1/(2n) on all of [0, 1) (W1)
    study = convergence("linear", [11, 17])
    for point in study.points:
        assert point.kolmogorov_smirnov == pytest.approx(1.0 / (2 * point.n), abs=1e-9)
        assert point.wasserstein == pytest.approx(1.0 / (2 * point.n), abs=1e-9)
    assert study.kolmogorov_smirnov_rate is not None
    assert study.kolmogorov_smirnov_rate.slope == pytest.approx(-1.0, abs=1e-6)


def test_convergence_rejects_utilities_without_a_closed_form():
    with pytest.raises(ValueError, match="numerical_limit"):
        convergence("log-sigmoid:4", [8])
    with pytest.raises(ValueError, match="n must be an integer"):
        convergence("log", [1])


def test_study_as_dict_is_json_ready(studies):
    data = studies["log"].as_dict()
    assert data["utility"] == "log" and [p["n"] for p in data["points"]] == list(NS)
    assert set(data["kolmogorov_smirnov_rate"]) == {"slope", "standard_error", "points"}


# --- losses -----------------------------------------------------------------------------------


def test_log_with_l2_on_free_rewards_converges_to_the_semicircle():
    """The Hermite maximisers (Stieltjes) approach the semicircle on [-sqrt(2/BETA), sqrt(2/BETA)] at rate ~1/n."""
    study = loss_convergence("log+free+l2:0.5", [16, 32, 64])
    assert study.limit.support == (-2.0, 2.0)
    ks = [p.kolmogorov_smirnov for p in study.points]
    assert all(b < a for a, b in itertools.pairwise(ks)) and all(p.converged for p in study.points)
    assert study.kolmogorov_smirnov_rate is not None and -1.1 <= study.kolmogorov_smirnov_rate.slope <= -0.85


def test_ipo_converges_to_the_uniform_law_with_ks_exactly_one_over_2n():
    """IPO's equal gaps 2 TAU/n sit at the midpoints of n equal cells of [-TAU, TAU]: KS = 1/(2n) exactly."""
    study = loss_convergence("ipo:1", [8, 16])
    for point in study.points:
        assert point.kolmogorov_smirnov == pytest.approx(1.0 / (2 * point.n), abs=1e-9)
