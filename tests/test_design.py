"""Claims of collapse_theory.design.utility_design: one Box-Cox family for power/log/neg-power, implicit
derivatives of the optimum that agree with finite differences of the solver, and inverse design
in closed form and by fitting, with unreachable targets reported.

Time budget: 60 s on two busy cores (n = 10 throughout; solver compilations for box-cox
(single and a batch of four), power, log and log-sigmoid; two implicit-differentiation
compilations).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.stats

from collapse_theory.design.utility_design import (
    box_cox,
    design_for_limit,
    design_for_rewards,
    exp_limit_law,
    exponent_spec,
    family_sweep,
    limit_beta_parameter,
    reward_sensitivity,
)
from collapse_theory.laws.limits import limit
from collapse_theory.solver.utility_solver import solve, solve_many

N = 10  # n // 2 = 5 pads to 8, the size test_convergence_studies compiles too
#: Finite-difference step and solver tolerance for the derivative checks: truncation
#: ~ h^2 |r'''| ~ 1e-8 and solver noise ~ 1e-13 / h ~ 1e-9, so 1e-6 is a safe bound.
STEP = 1e-4
DERIVATIVE_TOLERANCE = 1e-6


def central_difference(family: str, parameter: float) -> np.ndarray:
    def rewards(value: float):
        if family == "box-cox":
            return solve_many([box_cox(value)], N, tol=1e-14)[0].rewards
        return solve(f"{family}:{value!r}", N, tol=1e-14).rewards

    return (rewards(parameter + STEP) - rewards(parameter - STEP)) / (2 * STEP)


#: Four exponents, as in test_convergence_studies: the batched solve has the same shape (one compilation).
EXPONENTS = (0.5, 0.0, -0.5, -2.0)


@pytest.fixture(scope="module")
def sweep():
    return family_sweep("box-cox", EXPONENTS, N)


def test_box_cox_members_have_the_optima_of_power_and_log(sweep):
    for point in sweep.points[:2]:
        oracle = solve(point.utility, N)  # U_G is a positive multiple of it plus a constant
        assert point.utility == exponent_spec(point.parameter)
        assert point.rewards == pytest.approx(oracle.rewards, abs=1e-8)
        assert point.converged


def test_beta_parameter_of_the_limit_is_one_minus_g_over_two_across_the_families(sweep):
    assert [p.utility for p in sweep.points] == ["power:0.5", "log", "neg-power:0.5", "neg-power:2"]
    # oracle: limits.limit (Bjorck; Fekete/Gauss-Lobatto; Riesz; Hardin-Saff) for the built-in specs
    for point in sweep.points:
        law = limit(point.utility)
        expected = 1.0 if law.kind == "uniform" else law.parameters["a"]
        assert point.limit_beta_parameter == pytest.approx(expected, abs=1e-15)
        assert limit_beta_parameter(point.parameter) == pytest.approx(expected, abs=1e-15)
    fitted = [p.fitted_beta_parameter for p in sweep.points]
    assert all(later > earlier for earlier, later in itertools.pairwise(fitted))  # spread grows as G falls


def test_family_sweep_of_a_built_in_family_uses_its_closed_forms():
    (point,) = family_sweep("power", [0.5], N).points
    assert point.limit_beta_parameter == 0.25
    assert point.kolmogorov_smirnov == pytest.approx(1.0 / N, abs=1e-9)  # the 1/n jump at r_n = 0 dominates


@pytest.mark.parametrize(
    ("family", "parameter"),
    [("box-cox", 0.5), ("box-cox", 0.0), ("box-cox", -1.0), ("log-sigmoid", 4.0)],
)
def test_implicit_derivative_matches_finite_differences_of_solve(family, parameter):
    sensitivity = reward_sensitivity(family, parameter, N)
    oracle = central_difference(family, parameter)
    assert np.max(np.abs(sensitivity.derivative - oracle)) <= DERIVATIVE_TOLERANCE
    assert np.max(np.abs(sensitivity.derivative)) > 1e-3  # a real signal, not two zeros agreeing


def test_implicit_derivative_holds_tied_rewards_fixed():
    sensitivity = reward_sensitivity("log-sigmoid", 4.0, N)
    ties = np.isclose(sensitivity.rewards, 1.0) | np.isclose(sensitivity.rewards, 0.0)
    assert ties.sum() >= 4  # log-sigmoid:4 ties at least two rewards at 1 and two at 0 for n = 10
    assert np.all(sensitivity.derivative[ties] == 0.0)
    assert sensitivity.blocks == N - ties.sum()


def test_design_for_rewards_recovers_the_exponent_of_a_solved_target():
    target = solve("power:0.3", N).rewards
    design = design_for_rewards(target)
    assert design.reachable
    assert design.parameter == pytest.approx(0.3, abs=1e-6)
    assert design.utility == "power:0.3"
    assert design.residual <= 1e-9


def test_design_for_rewards_reports_unreachable_targets():
    # every increasing utility puts r_1 = 1 and r_n = 0, so a target from 0.9 down to 0.1
    # misses by at least 0.1 twice: RMS >= sqrt(0.02 / n)
    design = design_for_rewards(np.linspace(0.9, 0.1, N))
    assert not design.reachable
    assert design.residual >= np.sqrt(0.02 / N) - 1e-12
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        design_for_rewards([1.5, 0.0])
    with pytest.raises(ValueError, match="unknown family"):
        design_for_rewards([1.0, 0.0], "cubic")


@pytest.mark.parametrize(
    ("a", "spec"),
    [(0.25, "power:0.5"), (0.5, "log"), (0.75, "neg-power:0.5"), (1.0, "neg-power:1")],
)
def test_closed_form_design_inverts_the_limit_laws(a, spec):
    design = design_for_limit(scipy.stats.beta(a, a))
    assert design.reachable and design.method == "closed form"
    assert design.utility == spec
    law = limit(design.utility)
    assert law.mean == pytest.approx(0.5) and law.variance == pytest.approx(scipy.stats.beta(a, a).var())


def test_two_point_target_designs_linear():
    assert design_for_limit(scipy.stats.bernoulli(0.5)).utility == "linear"


def test_targets_no_member_reaches_are_reported():
    wide = design_for_limit(scipy.stats.beta(2.0, 2.0))
    assert not wide.reachable and "more concentrated than uniform" in wide.message
    assert wide.residual == pytest.approx(
        float(np.max(np.abs(scipy.stats.beta(2, 2).cdf(np.linspace(0, 1, 100001)) - np.linspace(0, 1, 100001)))), abs=1e-6
    )
    skew = design_for_limit(scipy.stats.beta(0.5, 2.0))
    assert not skew.reachable and "asymmetric" in skew.message


class _OpaqueLaw:
    """A Beta(0.3, 0.3) that design_for_limit cannot recognise, to exercise the numerical fit."""

    def __init__(self) -> None:
        self._law = scipy.stats.beta(0.3, 0.3)

    def cdf(self, x):
        return self._law.cdf(x)


def test_limit_design_fits_an_unrecognised_law():
    design = design_for_limit(_OpaqueLaw())
    assert design.reachable and design.method.startswith("fit")
    assert design.parameter == pytest.approx(1.0 - 2 * 0.3, abs=1e-4)
    assert design.residual <= 1e-4


def test_exp_family_design_uses_the_atoms_of_its_limit():
    design = design_for_limit(exp_limit_law(3.0), "exp")
    assert design.reachable and design.parameter == pytest.approx(3.0, abs=1e-12)
    not_exp = design_for_limit(scipy.stats.beta(0.5, 0.5), "exp")
    assert not not_exp.reachable


def test_design_for_2000_target_rewards_is_refused_before_memory_is_spent(monkeypatch):
    """Before: 2000 target rewards asked for 445 GB (an n^3 Jacobian); now the need is O(n^2) and checked first."""
    from collapse_theory._core.checks import MemoryLimitError
    from collapse_theory.design.utility_design import _design_memory

    assert _design_memory(2000) < 2e9  # quadratic: about 0.5 GB, not hundreds of GB
    assert _design_memory(4000) / _design_memory(2000) < 4.5
    monkeypatch.setenv("COLLAPSE_THEORY_MEMORY_LIMIT", str(3 * 10**8))
    with pytest.raises(MemoryLimitError, match="largest n that fits"):
        design_for_rewards(np.linspace(1.0, 0.0, 2000))
