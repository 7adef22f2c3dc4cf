"""Claims about the solver's certificates: what ``status`` promises, and that it does not depend on units.

* The relative certificate ``gap <= tol * (max_k G_k - min_k G_k)`` is invariant under
  U -> cU (c > 0): ``solve(c U, n)`` equals ``solve(U, n)`` or is not certified
  (oracle: the same solve at c = 1; and the Gauss-Lobatto nodes for multiples of log).
* Failures are never certified: non-finite S, gap or rewards give ``Status.FAILED``, and
  a :class:`Solution` that claims a certificate with NaN rewards cannot be built.
* The JSON form is strict (no NaN or Infinity).

The random mixtures reuse ``helpers.mixture_function`` (one compiled program for every
example) rather than a fresh ``custom(...)`` each, which would compile once per example.
"""

from __future__ import annotations

import json
import math

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import mixture_function
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_theory.laws.limits import gauss_lobatto_rewards
from collapse_theory.problems.utilities import Utility, custom
from collapse_theory.solver.status import Status
from collapse_theory.solver.utility_solver import Solution, solve

#: log-uniform scales over 24 decades
SCALES = st.floats(-12.0, 12.0).map(lambda e: 10.0**e)
MIXTURES = st.tuples(
    st.floats(0.0, 1.0),  # a: log x
    st.floats(0.0, 1.0),  # b: x^G
    st.floats(0.0, 2.0),  # c: 1 - exp(-Bx)
    st.floats(0.1, 0.9),  # G
    st.floats(0.5, 8.0),  # B
).filter(lambda p: p[0] + p[1] >= 0.05)  # U'(0+) = inf: singular, as declared


def scaled_mixture(scale: float, a: float, b: float, c: float, gamma: float, beta: float) -> Utility:
    """scale * (a log x + b x^G + c (1 - e^{-Bx})), a concave utility (one compiled function for all)."""
    return Utility("mixture", (scale * a, scale * b, scale * c, gamma, beta, 0.0), mixture_function, concave=True, singular=True)


# --- invariance under U -> cU ---------------------------------------------------------


@settings(max_examples=8)
@given(parameters=MIXTURES, scale=SCALES, n=st.sampled_from([6, 9]))
def test_scaled_mixture_has_the_same_optimum_or_no_certificate(parameters: tuple[float, ...], scale: float, n: int) -> None:
    """solve(c U, n) == solve(U, n) to 1e-7 in the rewards, or is not certified (c log-uniform in 1e-12..1e12)."""
    reference = solve(scaled_mixture(1.0, *parameters), n)
    scaled = solve(scaled_mixture(scale, *parameters), n)
    assert reference.certified, reference.message
    if scaled.certified:
        assert np.max(np.abs(scaled.rewards - reference.rewards)) <= 1e-7, (scaled.message, scaled.rewards, reference.rewards)


@pytest.mark.parametrize("scale", [1e-12, 1e12])
def test_scaled_log_is_certified_at_the_gauss_lobatto_nodes(scale: float) -> None:
    """c log (c = 1e-12, 1e12) at n = 9: certified, at the Gauss-Lobatto nodes to 1e-9 (oracle: scipy Jacobi roots)."""
    solution = solve(scaled_mixture(scale, 1.0, 0.0, 0.0, 0.5, 1.0), 9)
    assert solution.certified, solution.message
    assert np.max(np.abs(solution.rewards - gauss_lobatto_rewards(9))) <= 1e-9


def test_power_1e12_is_solved_not_returned_at_its_start() -> None:
    """power:1e-12 at n = 4 returned its start [1, .7071, .2929, 0] certified after 0 iterations.

    U = x^G = 1 + G log x + O(G^2): the optimum is log's, [1, .7236, .2764, 0] (as power:1e-9 shows).
    """
    solution = solve("power:1e-12", 4)
    assert solution.certified and solution.iterations > 0
    np.testing.assert_allclose(solution.rewards, gauss_lobatto_rewards(4), atol=1e-7)
    np.testing.assert_allclose(solution.rewards, solve("power:1e-9", 4).rewards, atol=1e-7)


def test_log_sigmoid_1e12_is_solved_not_returned_at_its_start() -> None:
    """log-sigmoid:1e-12 at n = 4 returned its start [1, .75, .25, 0] certified; its optimum is log-sigmoid:1e-9's."""
    solution = solve("log-sigmoid:1e-12", 4)
    assert solution.certified
    np.testing.assert_allclose(solution.rewards, solve("log-sigmoid:1e-9", 4).rewards, atol=1e-7)


def test_custom_1e12_log_is_certified_at_logs_optimum() -> None:
    """custom(1e-12 log x, concave) at n = 6 was certified away from log's optimum: now at the Gauss-Lobatto nodes."""
    solution = solve(custom(lambda x: 1e-12 * jnp.log(x), "tiny-log", concave=True), 6)
    assert solution.certified, solution.message
    np.testing.assert_allclose(solution.rewards, gauss_lobatto_rewards(6), atol=1e-9)


def test_scaled_linear_is_certified_at_the_same_vertex() -> None:
    """The exact affine path: 1e-12 x and 1e12 x give linear's symmetric vertex, certified."""
    for scale in (1e-12, 1e12):
        utility = Utility("scaled-linear", (scale,), lambda x, p: p[0] * x, concave=True, convex=True)
        solution = solve(utility, 5)
        assert solution.certified, solution.message
        np.testing.assert_array_equal(solution.rewards, solve("linear", 5).rewards)


# --- failures are never certified -----------------------------------------------------


def test_neg_power_1e6_fails_instead_of_being_certified() -> None:
    """neg-power:1e6 at n = 4 (G > 0, inside the documented range) overflows float64: FAILED, never certified."""
    solution = solve("neg-power:1e6", 4)
    assert solution.status is Status.FAILED
    assert not solution.certified and not solution.converged
    assert "non-finite" in solution.message


def test_convex_function_declared_concave_is_not_certified() -> None:
    """custom(x^2, concave=True) returned NaN rewards marked certified: now FAILED, saying U is not concave."""
    solution = solve(custom(lambda x: x**2, "square-declared-concave", concave=True), 4)
    assert not solution.certified
    assert solution.status in (Status.FAILED, Status.NOT_CONVERGED)
    assert "not concave" in solution.message


def test_nan_rewards_cannot_be_built_certified() -> None:
    """A Solution with status OPTIMAL (certified) and NaN rewards or gap is refused at construction."""
    fields = {"utility": "log", "n": 2, "objective": 0.0, "iterations": 0, "seconds": 0.0, "message": "m"}
    with pytest.raises(ValueError, match="finite"):
        Solution(rewards=np.array([math.nan, 0.0]), gap=0.0, status=Status.OPTIMAL, **fields)
    with pytest.raises(ValueError, match="finite"):
        Solution(rewards=np.array([1.0, 0.0]), gap=math.nan, status=Status.OPTIMAL, **fields)


def test_converged_and_certified_follow_the_status() -> None:
    """converged and certified are read from the status: certified implies converged, for every member."""
    for status in Status:
        assert not status.certified or status.converged
        assert status.message and status.value == status.value.lower()
    certified = [Status.OPTIMAL, Status.SHIFT_INVARIANT, Status.NON_UNIQUE]
    assert [s for s in Status if s.certified] == certified
    assert [s for s in Status if s.converged] == [*certified[:1], Status.EXACT_VERTEX, *certified[1:], Status.UNBOUNDED]
    assert [s for s in Status if not s.has_rewards] == [Status.UNBOUNDED]


def test_a_solution_cannot_contradict_its_status() -> None:
    """The invariant is enforced when a solution is made: no certified NaN, no unbounded answer with rewards."""
    common = {"utility": "u", "n": 2, "iterations": 0, "seconds": 0.0, "message": "m"}
    with pytest.raises(ValueError, match="finite"):
        Solution(rewards=np.array([math.nan, 0.0]), objective=0.0, gap=0.0, status=Status.OPTIMAL, **common)
    with pytest.raises(ValueError, match="finite"):
        Solution(rewards=np.array([1.0, 0.0]), objective=1.0, gap=None, status=Status.NON_UNIQUE, **common)
    with pytest.raises(ValueError, match="direction"):
        Solution(rewards=np.array([1.0, 0.0]), objective=1.0, gap=None, status=Status.UNBOUNDED, **common)
    with pytest.raises(ValueError, match="needs rewards"):
        Solution(rewards=None, objective=None, gap=None, status=Status.NOT_CONVERGED, **common)
    unbounded = Solution(
        rewards=None, objective=None, gap=None, status=Status.UNBOUNDED, direction=np.array([1.0, 0.0]), **common
    )
    assert unbounded.converged and not unbounded.certified


def test_failed_solution_json_is_strict() -> None:
    """as_dict writes non-finite numbers as null, with the status and message saying why."""
    solution = Solution(
        utility="u",
        n=2,
        rewards=np.array([math.nan, 0.0]),
        objective=-math.inf,
        gap=math.nan,
        status=Status.FAILED,
        iterations=0,
        seconds=0.0,
        message="failed: non-finite S",
    )
    text = json.dumps(solution.as_dict(), allow_nan=False)
    record = json.loads(text)
    assert record["rewards"] == [None, 0.0] and record["objective"] is None and record["gap"] is None
    assert record["status"] == "failed" and record["certified"] is False and record["converged"] is False
