"""Claims of collapse_theory.laws.numerical_laws: the numerical limit law of any utility reproducing every known law.

Time budget: 70 s on two busy cores (three solver compilations, for the Box-Cox family,
linear and exp:2, all at padded size 8; six numerical limits of a few seconds each, computed
once per module).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from collapse_theory.laws.distances import distance, law_distance
from collapse_theory.laws.limits import limit
from collapse_theory.laws.numerical_laws import NumericalLimit, is_hypersingular, is_singular_at_zero, numerical_limit
from collapse_theory.problems.utilities import custom
from collapse_theory.solver.utility_solver import solve

# The ns of the convergence tests: n // 2 = 5, 6, 8 share the solver's padded size 8, so all
# of them (and every utility below, solved as Box-Cox members) cost one compilation.

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


def test_numerical_limit_refuses_a_decreasing_utility():
    """Before: U(x) = -x was certified with a near-uniform law; its maximiser ties every reward (a point mass)."""
    with pytest.raises(ValueError, match="decreases on"):
        numerical_limit(custom(lambda x: -x, "decreasing", concave=True))
