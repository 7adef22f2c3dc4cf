"""Claims of collapse_theory.convergence_studies and collapse_theory.numerical_laws: rates of convergence to the closed-form limits, and the
numerical limit law of any utility reproducing every known law.

Time budget: 70 s on two busy cores (three solver compilations, for the Box-Cox family,
linear and exp:2, all at padded size 8; six numerical limits of a few seconds each, computed
once per module).
"""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from collapse_theory.convergence_studies import ConvergenceStudy, convergence, convergence_many, fit_rate
from collapse_theory.distances import distance, law_distance
from collapse_theory.limits import limit
from collapse_theory.numerical_laws import NumericalLimit, is_hypersingular, is_singular_at_zero, numerical_limit
from collapse_theory.solver import solve
from collapse_theory.utilities import custom

# The ns of the convergence tests: n // 2 = 5, 6, 8 share the solver's padded size 8, so all
# of them (and every utility below, solved as Box-Cox members) cost one compilation.
NS = (10, 13, 17)

#: Measured log-log slopes on n = 10, 13, 17 (docs/theory.md, "Measured convergence rates"):
#: KS is -1.00 for all four (at small n the jump 1/n of the empirical law at r_n = 0 dominates),
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


# --- the numerical limit ------------------------------------------------------------------------

CLOSED_FORMS = ("log", "power:0.5", "power:0.75", "neg-power:0.5", "linear")


@pytest.fixture(scope="module")
def numerical() -> dict[str, NumericalLimit]:
    return {spec: numerical_limit(spec) for spec in (*CLOSED_FORMS, "exp:2")}


@pytest.mark.parametrize("spec", CLOSED_FORMS)
def test_numerical_limit_reproduces_every_closed_form(numerical, spec):
    law = numerical[spec]
    assert law_distance(law, limit(spec)) <= 1e-3
    assert law.certified and law.certificate_gap <= 1e-10
    assert law.error_estimate <= 1e-2  # the coarse/fine comparison flags no trouble
    assert law.mean == pytest.approx(0.5, abs=1e-12)
    assert law.variance == pytest.approx(limit(spec).variance, abs=1e-3)


def test_numerical_limit_of_log_is_the_arcsine_law_to_1e4(numerical):
    law = numerical["log"]
    oracle = scipy.stats.beta(0.5, 0.5)
    assert law_distance(law, oracle) <= 2e-4
    assert law.variance == pytest.approx(1.0 / 8.0, abs=1e-4)
    q = np.linspace(0.01, 0.99, 99)
    assert np.max(np.abs(law.ppf(q) - oracle.ppf(q))) <= 1e-3
    assert law.atoms == ()


def test_numerical_limit_of_linear_has_two_atoms(numerical):
    law = numerical["linear"]
    assert [a.location for a in law.atoms] == [0.0, 1.0]
    assert [a.mass for a in law.atoms] == pytest.approx([0.5, 0.5], abs=1e-6)
    assert law.continuous_mass == pytest.approx(0.0, abs=1e-5)


def test_numerical_limit_of_exp_matches_the_derived_closed_form(numerical):
    # oracle (docs/theory.md): atoms 1/(2+B) at 0 and 1, density B/(2+B); its potential under
    # exp(-B|x-y|) is the constant 2/(2+B) (Green's function of -d^2/dx^2 + B^2)
    beta = 2.0
    law = numerical["exp:2"]
    assert [a.location for a in law.atoms] == [0.0, 1.0]
    assert [a.mass for a in law.atoms] == pytest.approx([1 / (2 + beta)] * 2, abs=1e-6)
    x = np.linspace(0.02, 0.98, 49)
    assert law.pdf(x) == pytest.approx(np.full(x.size, beta / (2 + beta)), abs=1e-4)
    assert float(law.cdf(0.3)) == pytest.approx(1 / (2 + beta) + 0.3 * beta / (2 + beta), abs=1e-6)


def test_numerical_limit_is_what_large_n_optima_approach(numerical):
    # the n-point optimum of exp:2 (ties at both ends) is already close to the numerical law at
    # n = 10 (measured W1 0.025, KS 0.05; both shrink like 1/n)
    law = numerical["exp:2"]
    near = distance(solve("exp:2", 10).rewards, law)
    assert near.wasserstein <= 0.04
    assert near.kolmogorov_smirnov <= 0.1


def test_hypersingular_utilities_get_the_uniform_law_of_hardin_and_saff():
    law = numerical_limit("neg-power:2")
    assert law.method == "hypersingular"
    assert law_distance(law, scipy.stats.uniform()) <= 1e-12
    assert law.variance == pytest.approx(1.0 / 12.0)
    assert is_hypersingular("neg-power:1")
    assert not is_hypersingular("neg-power:0.9")
    assert is_hypersingular(custom(lambda x: -(x**-1.5) + jnp.log(x), "riesz-plus-log"))


def test_numerical_limit_accepts_a_custom_utility():
    # the same function as exp:2 written by hand: same law, through the custom path
    law = numerical_limit(custom(lambda x: -jnp.expm1(-2.0 * x), "hand-exp", concave=True), cells=60)
    assert [a.mass for a in law.atoms] == pytest.approx([0.25, 0.25], abs=1e-6)


def test_singularity_at_zero_is_read_from_the_function():
    assert is_singular_at_zero("log") and is_singular_at_zero("power:0.5") and is_singular_at_zero("neg-power:0.5")
    assert not is_singular_at_zero("exp:1") and not is_singular_at_zero("linear")


def test_numerical_limit_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 12 cells"):
        numerical_limit("log", cells=4)
    with pytest.raises(ValueError, match="tol"):
        numerical_limit("log", tol=0.0)
    with pytest.raises(ValueError, match="not finite"):
        numerical_limit(custom(lambda x: jnp.where(x > 0.5, jnp.nan, x), "broken"), cells=12)


def test_numerical_limit_works_with_distances(numerical):
    law = numerical["linear"]
    assert distance([0.0, 1.0], law).kolmogorov_smirnov <= 1e-5
    assert math.isclose(float(law.cdf(1.0)), 1.0) and float(law.cdf(-0.1)) == 0.0
