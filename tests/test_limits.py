"""Claims about the closed-form n -> infinity laws (issue 2, item 4).

Each closed form of ``limits.limit`` is verified numerically, not restated: the
Kolmogorov-Smirnov distance from the solver's optimal rewards to the claimed law
shrinks as n grows, at a stated rate, and at the largest n the claimed law is the
nearest of all the candidate laws. The Gauss-Lobatto oracle used by the solver
tests is checked here against NumPy's Legendre polynomials and against the
stationarity conditions of the log objective. Budget: under 1 minute (the
solutions are shared with ``test_solver.py`` through ``helpers.solved``).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from helpers import gradient, numpy_utility, solved

from collapse_theory.laws.distances import distance
from collapse_theory.laws.limits import describe_limit, gauss_lobatto_rewards, limit, limit_parameters
from collapse_theory.problems.utilities import custom
from collapse_theory.solver.utility_solver import SolverInputError

#: Growing sizes in two padded solver sizes (n // 2 <= 16 and <= 64); odd, so that the two-point
#: law is never matched exactly (at even n the step vector *is* the two-point law: KS = 0).
LIMIT_NS = (17, 67, 129)
#: Every closed form of the issue: log, power:G for a few G, neg-power:G below and above 1, linear, square.
CLOSED_FORMS = {
    "log": ("beta", 0.5),
    "power:0.25": ("beta", 0.375),
    "power:0.5": ("beta", 0.25),
    "power:0.75": ("beta", 0.125),
    "neg-power:0.5": ("beta", 0.75),
    "neg-power:1": ("uniform", None),
    "neg-power:2": ("uniform", None),
    "linear": ("bernoulli", None),
    "square": ("bernoulli", None),
}


def ks_to_limit(spec: str, n: int) -> float:
    return distance(solved(spec, n).rewards, limit(spec)).kolmogorov_smirnov


@pytest.mark.parametrize("spec", CLOSED_FORMS)
def test_limit_is_the_documented_law(spec: str) -> None:
    """limit(spec) is the law of the issue: Beta((1 -+ G)/2, same), uniform or two-point."""
    name, a = CLOSED_FORMS[spec]
    law = limit(spec)
    kind = {"bernoulli": "two-point"}.get(name, name)
    assert law is not None and law.kind == kind
    if name == "beta":
        assert (law.parameters["a"], law.parameters["b"]) == pytest.approx((a, a), abs=1e-15)
        assert law.variance == pytest.approx(scipy.stats.beta(a, a).var(), abs=1e-15)
    if name == "bernoulli":
        assert law.pmf([0, 1]) == pytest.approx([0.5, 0.5], abs=1e-15)
    if name == "uniform":
        assert (law.support, law.mean) == ((0.0, 1.0), 0.5)


@pytest.mark.parametrize("spec", CLOSED_FORMS)
def test_ks_to_the_limit_shrinks_with_n(spec: str) -> None:
    """KS(rewards_n, limit) decreases strictly along n = 17, 67, 129, by at least (n'/n)^(1/3) per step.

    The rate n^(-1/3) is a stated floor: the slowest case, neg-power:1 (uniform
    limit), decays like n^(-0.4) here, the others like 1/n.
    """
    distances = [ks_to_limit(spec, n) for n in LIMIT_NS]
    for k in range(len(LIMIT_NS) - 1):
        n, n_next, d, d_next = LIMIT_NS[k], LIMIT_NS[k + 1], distances[k], distances[k + 1]
        assert d_next < d / (n_next / n) ** (1 / 3), f"{spec}: KS {d:.4g} at n={n}, {d_next:.4g} at n={n_next}"


#: How much nearer the claimed law must be than any other candidate (KS at n = 129).
NEAREST_FACTOR = dict.fromkeys(CLOSED_FORMS, 2.0) | {"neg-power:1": 1.1}


@pytest.mark.parametrize("spec", CLOSED_FORMS)
def test_claimed_limit_is_the_nearest_candidate(spec: str) -> None:
    """At n = 129 the claimed law is the nearest (in KS) of all the closed-form laws above, by a stated factor.

    So the shrinking distance singles out the claimed law, not just any law of
    similar shape. The factor is 2, except 1.1 for neg-power:1: G = 1 is where the
    law switches from Beta((1+G)/2, (1+G)/2) to uniform, its nearest rival is
    Beta(3/4, 3/4) (neg-power:0.5) and its convergence is the slowest (about n^-0.4).
    """
    rewards = solved(spec, LIMIT_NS[-1]).rewards
    claimed = distance(rewards, limit(spec)).kolmogorov_smirnov
    own_law = describe_limit(limit(spec))
    for other in CLOSED_FORMS:
        if describe_limit(limit(other)) != own_law:
            rival = distance(rewards, limit(other)).kolmogorov_smirnov
            assert claimed * NEAREST_FACTOR[spec] <= rival, (
                f"{spec}: KS {claimed:.4g} to its limit, {rival:.4g} to that of {other}"
            )


@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_limit_of_exp_is_its_closed_form_with_atoms(beta: float) -> None:
    """exp:B: atoms 1/(B+2) at 0 and 1 and a uniform density B/(B+2) between (docs/theory.md)."""
    law = limit(f"exp:{beta:g}")
    assert law is not None and law.kind == "atoms and uniform"
    atom = 1.0 / (beta + 2.0)
    assert [(a.location, a.mass) for a in law.atoms] == [(0.0, atom), (1.0, atom)]
    x = np.linspace(0.1, 0.9, 9)
    assert law.cdf(x) == pytest.approx(atom + beta / (beta + 2.0) * x, abs=1e-15)
    assert law.variance == pytest.approx(atom / 2.0 + beta / (beta + 2.0) / 12.0, abs=1e-15)


def test_a_custom_utility_named_like_a_family_has_no_closed_form() -> None:
    """Dispatch is by the family record: custom(f, "log") is not log, whatever its name."""
    assert limit(custom(lambda x: x**0.3, "log", concave=True)) is None


@pytest.mark.parametrize("spec", ["log-sigmoid:1", "log-sigmoid:4"])
def test_no_closed_form_for_log_sigmoid(spec: str) -> None:
    """log-sigmoid:B has no known closed-form limit: limit() is None, described as such."""
    assert limit(spec) is None
    assert describe_limit(None) == "no closed form known"
    assert limit_parameters(None) == {"law": None}


def test_limit_parameters_are_json_ready() -> None:
    """limit_parameters gives plain floats: beta (a, b), uniform (0, 1), two-point atoms and masses."""
    assert limit_parameters(limit("power:0.5")) == {"law": "beta", "a": 0.25, "b": 0.25}
    assert limit_parameters(limit("neg-power:2")) == {"law": "uniform", "low": 0.0, "high": 1.0}
    assert limit_parameters(limit("square")) == {"law": "two-point", "atoms": [0.0, 1.0], "masses": [0.5, 0.5]}
    assert describe_limit(limit("log")) == "Beta(0.5, 0.5) (arcsine)"


# --- the Gauss-Lobatto oracle itself -------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 13, 21, 30])
def test_gauss_lobatto_rewards_are_legendre_lobatto_nodes(n: int) -> None:
    """Oracle check: the nodes are +-1 and the roots of P'_{n-1} (NumPy's Legendre class), mapped to [0, 1], to 1e-12."""
    derivative_roots = np.polynomial.legendre.Legendre.basis(n - 1).deriv().roots() if n > 2 else np.empty(0)
    nodes = np.sort(np.concatenate([[-1.0, 1.0], np.real(derivative_roots)]))[::-1]
    np.testing.assert_allclose(gauss_lobatto_rewards(n), (nodes + 1.0) / 2.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [50, 500, 2000])
def test_gauss_lobatto_rewards_are_stationary_for_log(n: int) -> None:
    """Oracle check at large n: the interior partial derivatives of sum log(r_i - r_j) vanish (relative 1e-10)."""
    rewards = gauss_lobatto_rewards(n)
    g = gradient(rewards, numpy_utility("log"))
    scale = np.max(np.abs(g[[0, -1]]))  # the endpoints' derivatives are the large, non-zero ones
    assert np.all(np.diff(rewards) < 0) and rewards[0] == 1.0 and rewards[-1] == 0.0
    assert np.max(np.abs(g[1:-1])) <= 1e-10 * scale


def test_gauss_lobatto_rejects_bad_n() -> None:
    """gauss_lobatto_rewards validates n like the solver."""
    with pytest.raises(SolverInputError):
        gauss_lobatto_rewards(1)
