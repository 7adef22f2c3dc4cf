"""Claims about the interpolating-regime solver (issue 2, item 3).

Oracles, each named in its test:

* ``log``: the Gauss-Lobatto-Legendre nodes on [0, 1] (scipy's Jacobi roots via
  ``limits.gauss_lobatto_rewards``; that oracle is itself checked against NumPy's
  Legendre roots in ``test_limits.py``);
* ``linear`` and ``square``: the step vector with the top half at 1, with the
  closed-form objectives sum_i (n + 1 - 2i) r_i and k (n - k), k = n // 2;
* everything else: ``helpers.reference_optimum``, an independent scipy.optimize
  solve on the gap parameterisation, polished by Newton's method on the
  stationarity conditions and certified by its own Frank-Wolfe gap.

Budget: under 2.5 minutes on 2 busy cores. The solver pads n // 2 up to a padded
size (16, 32, 64, ...); each new padded size costs one JAX compilation, shared by
all built-in families, while custom functions and batches compile on their own.
The sizes below are chosen to share compilations with ``test_limits.py`` and
``test_cli_solve.py`` (and ``tests/conftest.py`` keeps compilations on disk).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    BUILT_IN_SPECS,
    CONCAVE_SPECS,
    frank_wolfe_gap,
    gradient,
    mixture_utility,
    numpy_mixture,
    numpy_utility,
    objective,
    reference_optimum,
    relative_tolerance,
    solved,
)
from hypothesis import assume, given
from hypothesis import strategies as st

from collapse_theory._core.checks import MemoryLimitError
from collapse_theory.laws.limits import gauss_lobatto_rewards
from collapse_theory.problems.utilities import Utility, UtilitySpecError, custom
from collapse_theory.solver.status import Status
from collapse_theory.solver.utility_solver import (
    DEFAULT_TOLERANCE,
    Solution,
    SolverInputError,
    certificate_gap,
    estimated_memory,
    objective_value,
    reward_gradient,
    solve,
    solve_batch,
    solve_family,
    solve_many,
)

#: Every n from 2 to 40, then 64, 100, 128, 129 and 2000: four padded solver sizes, each one compilation
#: (``--exhaustive``: every n in 2..2000, which adds 255, 256, 500, 999, 1000 and the rest).
LOG_ORACLE_NS = (*range(2, 41), 64, 100, 128, 129, 2000)
#: Even and odd sizes in two padded sizes (n // 2 <= 16 and <= 64), shared with the limit tests.
STEP_NS = (16, 17, 66, 67, 128, 129)
#: Sizes at which every built-in is solved (one padded size).
SMALL_NS = (16, 17)
REWARD_TOLERANCE = 1e-10


def assert_is_gauss_lobatto(n: int) -> None:
    solution = solved("log", n)
    error = np.max(np.abs(solution.rewards - gauss_lobatto_rewards(n)))
    assert solution.converged and solution.certified, solution.message
    assert error <= REWARD_TOLERANCE, f"n={n}: max abs error {error:.3g}"


# --- exact oracles -------------------------------------------------------------------


@pytest.mark.parametrize("n", LOG_ORACLE_NS)
def test_log_optimum_is_gauss_lobatto(n: int) -> None:
    """U = log: the optimum is the Gauss-Lobatto nodes on [0, 1], max abs error <= 1e-10 (oracle: scipy Jacobi roots)."""
    assert_is_gauss_lobatto(n)


@pytest.mark.exhaustive
def test_log_optimum_is_gauss_lobatto_for_every_n() -> None:
    """The same claim for every n from 2 to 2000 (``pytest --exhaustive``; slow)."""
    failures = []
    for n in range(2, 2001):
        try:
            assert_is_gauss_lobatto(n)
        except AssertionError as error:
            failures.append(str(error))
        solved.cache_clear()  # keeps memory flat over 2000 solutions
    assert not failures, failures[:10]


@pytest.mark.parametrize("n", STEP_NS)
@pytest.mark.parametrize("spec", ["linear", "square"])
def test_linear_and_square_put_the_top_half_at_one(spec: str, n: int) -> None:
    """Oracle: the step vector, top n//2 rewards at 1 and bottom n//2 at 0 (to 1e-10)."""
    rewards = solved(spec, n).rewards
    half = n // 2
    assert np.max(np.abs(rewards[:half] - 1.0)) <= REWARD_TOLERANCE
    assert np.max(np.abs(rewards[n - half :])) <= REWARD_TOLERANCE


@pytest.mark.parametrize("n", [n for n in STEP_NS if n % 2])
def test_linear_odd_n_returns_the_symmetric_middle(n: int) -> None:
    """Odd n, U = x: the middle reward is not unique (any value in [0, 1] is optimal); the solver returns 1/2."""
    assert abs(solved("linear", n).rewards[n // 2] - 0.5) <= REWARD_TOLERANCE


@pytest.mark.parametrize("n", [n for n in STEP_NS if n % 2])
def test_square_odd_n_puts_the_middle_at_a_vertex(n: int) -> None:
    """Odd n, U = x^2 (convex): the maximum is at a step vector, so the middle reward is 0 or 1, not 1/2."""
    middle = solved("square", n).rewards[n // 2]
    assert min(abs(middle), abs(middle - 1.0)) <= REWARD_TOLERANCE


@pytest.mark.parametrize("n", STEP_NS)
def test_linear_objective_has_its_closed_form(n: int) -> None:
    """U = x: S(r) = sum_i (n + 1 - 2i) r_i, and the optimum is k (n - k) with k = n // 2."""
    solution = solved("linear", n)
    weights = n + 1 - 2 * np.arange(1, n + 1)
    closed_form = float(np.dot(weights, solution.rewards))
    k = n // 2
    assert solution.objective == pytest.approx(closed_form, rel=1e-12, abs=1e-12)
    assert abs(solution.objective - k * (n - k)) <= relative_tolerance(k * (n - k))


@pytest.mark.parametrize("n", STEP_NS)
def test_square_objective_is_k_times_n_minus_k(n: int) -> None:
    """U = x^2 at the step vector with k = n // 2 ones: S = k (n - k), the best of all n + 1 vertices."""
    solution = solved("square", n)
    k = n // 2
    vertex_values = [objective(np.r_[np.ones(j), np.zeros(n - j)], numpy_utility("square")) for j in range(n + 1)]
    assert max(vertex_values) == k * (n - k)
    assert abs(solution.objective - k * (n - k)) <= relative_tolerance(k * (n - k))


@pytest.mark.parametrize("spec", ["power:0.25", "power:0.5", "power:0.75", "neg-power:0.5", "neg-power:1", "neg-power:2"])
def test_singular_optimum_matches_an_independent_solve(spec: str) -> None:
    """Oracle: helpers.reference_optimum (scipy BFGS + hybrid Newton, own certificate); rewards within 1e-9."""
    n = 17
    formulas = numpy_utility(spec)
    reference = reference_optimum(formulas, n)
    solution = solved(spec, n)
    assert reference.gap <= 1e-12 * max(1.0, abs(reference.objective))
    assert np.max(np.abs(solution.rewards - reference.rewards)) <= 1e-9
    assert objective(solution.rewards, formulas) == pytest.approx(reference.objective, rel=1e-12)


# --- properties of every solution ----------------------------------------------------


@pytest.mark.parametrize("n", SMALL_NS)
@pytest.mark.parametrize("spec", CONCAVE_SPECS)
def test_concave_optimum_is_symmetric(spec: str, n: int) -> None:
    """r_i + r_{n+1-i} = 1 within 1e-10 for every concave built-in, at a certified optimum."""
    solution = solved(spec, n)
    assert solution.converged and solution.certified, solution.message
    assert np.max(np.abs(solution.rewards + solution.rewards[::-1] - 1.0)) <= REWARD_TOLERANCE


@pytest.mark.parametrize("n", SMALL_NS)
@pytest.mark.parametrize("spec", BUILT_IN_SPECS)
def test_rewards_are_float64_descending_in_the_unit_interval(spec: str, n: int) -> None:
    """rewards: float64 ndarray of shape (n,), r_1 >= ... >= r_n, all in [0, 1]; objective = S(rewards)."""
    solution = solved(spec, n)
    rewards = solution.rewards
    assert isinstance(rewards, np.ndarray) and rewards.dtype == np.float64 and rewards.shape == (n,)
    assert np.all(np.diff(rewards) <= 0)
    assert rewards.min() >= 0.0 and rewards.max() <= 1.0
    assert solution.objective == pytest.approx(objective(rewards, numpy_utility(spec)), rel=1e-12, abs=1e-12)
    assert solution.utility == spec and solution.n == n


@pytest.mark.parametrize("n", SMALL_NS)
@pytest.mark.parametrize("spec", CONCAVE_SPECS)
def test_concave_solution_is_converged_and_certified(spec: str, n: int) -> None:
    """Concave U: status OPTIMAL, gap <= tol * (max_k G_k - min_k G_k) (the prefix sums of the
    gradient, from the pair-by-pair NumPy gradient), and the gap is the Frank-Wolfe gap at the rewards."""
    solution = solved(spec, n)
    assert solution.converged and solution.certified and solution.status is Status.OPTIMAL
    prefix = np.concatenate([[0.0], np.cumsum(gradient(solution.rewards, numpy_utility(spec)))])
    bound = DEFAULT_TOLERANCE * (prefix.max() - prefix.min()) * (1 + 1e-9)
    assert 0.0 <= solution.gap <= bound
    independent_gap = frank_wolfe_gap(solution.rewards, numpy_utility(spec))
    assert independent_gap <= bound + 1e-13 * max(1.0, abs(solution.objective))
    assert solution.iterations >= 0 and solution.message


@pytest.mark.parametrize("n", SMALL_NS)
def test_square_is_not_certified_and_says_why(n: int) -> None:
    """U = x^2 is convex: no Frank-Wolfe certificate; certified is False and the message gives the reason."""
    solution = solved("square", n)
    assert solution.certified is False
    assert "not concave" in solution.message
    assert solution.converged  # exact: a convex maximum over a polytope is at one of its n + 1 vertices


# --- certificates against an independent solve ---------------------------------------

mixtures = st.tuples(
    st.floats(0.0, 1.0),  # a: log x
    st.floats(0.0, 1.0),  # b: x^G
    st.floats(0.0, 2.0),  # c: 1 - exp(-Bx)
    st.floats(0.1, 0.9),  # G
    st.floats(0.5, 8.0),  # B
).filter(lambda p: p[0] + p[1] >= 0.05)  # U'(0+) = inf: the reference assumes no ties
CERTIFICATE_NS = st.sampled_from([6, 7, 8, 9])  # one padded size: one compilation for all examples


@given(parameters=mixtures, n=CERTIFICATE_NS)
def test_reported_gap_bounds_the_true_suboptimality(parameters: tuple[float, ...], n: int) -> None:
    """Random concave U = a log x + b x^G + c (1 - e^{-Bx}): S* - S(r) <= gap <= tol * max(1, |S|).

    S* comes from helpers.reference_optimum (scipy, independent, certified to 1e-12
    relative by its own Frank-Wolfe gap); rounding slack 1e-13 * max(1, |S|).
    """
    formulas = numpy_mixture(*parameters)
    try:
        reference = reference_optimum(formulas, n)
    except AssertionError:  # the independent scipy reference itself failed on this mixture
        reference = None
    # only mixtures where the independent oracle certifies its own optimum can judge ours
    assume(reference is not None and reference.gap <= 1e-12 * max(1.0, abs(reference.objective)))
    assert reference is not None
    solution = solve(mixture_utility(*parameters), n)
    value = objective(solution.rewards, formulas)
    rounding = 1e-13 * max(1.0, abs(value))
    assert solution.converged and solution.certified, solution.message
    assert solution.gap >= reference.objective - value - rounding
    assert solution.gap <= relative_tolerance(solution.objective)
    assert value <= reference.objective + reference.gap + rounding  # no better than the certified optimum


@given(parameters=mixtures, n=CERTIFICATE_NS, weight=st.floats(0.01, 0.9), seed=st.integers(0, 2**32 - 1))
def test_certificate_gap_bounds_suboptimality_at_a_perturbed_point(
    parameters: tuple[float, ...], n: int, weight: float, seed: int
) -> None:
    """certificate_gap at a feasible point p = (1-w) r* + w q (q random, sorted) is >= S* - S(p).

    It also equals the Frank-Wolfe gap found by enumerating the n + 1 vertices
    (helpers.frank_wolfe_gap) to 1e-10 relative.
    """
    formulas = numpy_mixture(*parameters)
    reference = reference_optimum(formulas, n)
    other = np.sort(np.random.default_rng(seed).uniform(size=n))[::-1]
    point = (1.0 - weight) * reference.rewards + weight * other
    suboptimality = reference.objective - objective(point, formulas)
    reported = certificate_gap(mixture_utility(*parameters), point)
    assert suboptimality > 0.0
    assert reported >= suboptimality - 1e-13 * max(1.0, abs(reference.objective))
    assert reported == pytest.approx(frank_wolfe_gap(point, formulas), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("spec", CONCAVE_SPECS)
def test_objective_and_gradient_match_pairwise_sums(spec: str) -> None:
    """objective_value and reward_gradient equal the pair-by-pair NumPy sums at a random feasible point."""
    rewards = np.sort(np.random.default_rng(0).uniform(size=12))[::-1]
    formulas = numpy_utility(spec)
    assert objective_value(spec, rewards) == pytest.approx(objective(rewards, formulas), rel=1e-13)
    np.testing.assert_allclose(reward_gradient(spec, rewards), gradient(rewards, formulas), rtol=1e-12, atol=1e-12)


# --- batching ------------------------------------------------------------------------

BATCH_GAMMAS = (0.25, 0.5, 0.75)


def assert_same_solution(batched: Solution, single: Solution) -> None:
    assert batched.utility == single.utility and batched.n == single.n
    np.testing.assert_allclose(batched.rewards, single.rewards, rtol=0, atol=1e-12)
    assert batched.objective == pytest.approx(single.objective, rel=1e-12)
    assert batched.converged == single.converged and batched.certified == single.certified


def test_solve_family_equals_one_at_a_time() -> None:
    """solve_family (one vmapped call over a parameter grid) == solve per parameter, to 1e-12."""
    batch = solve_family("power", BATCH_GAMMAS, 16)
    assert len(batch) == len(BATCH_GAMMAS)
    for gamma, batched in zip(BATCH_GAMMAS, batch, strict=True):
        assert_same_solution(batched, solved(f"power:{gamma:g}", 16))


def test_solve_many_keeps_order_and_equals_one_at_a_time() -> None:
    """solve_many over mixed families returns one solution per utility, in order, equal to solve, to 1e-12."""
    specs = ["power:0.25", "log", "power:0.5", "power:0.75"]
    batch = solve_many(specs, 16)
    assert [s.utility for s in batch] == specs
    for spec, batched in zip(specs, batch, strict=True):
        assert_same_solution(batched, solved(spec, 16))


# --- failures are reported, never silent ---------------------------------------------


def test_nan_utility_is_not_converged_and_says_so() -> None:
    """A utility that is NaN on part of (0, 1] (here: below 0.3) gives converged=False with a message (no silent NaN)."""
    solution = solve(mixture_utility(1.0, 0.0, 0.0, 0.5, 1.0, nan_below=0.3), 8)
    assert solution.converged is False
    assert solution.message and not solution.message.startswith("converged")


def test_custom_utility_is_solved_and_certified() -> None:
    """A custom(..., concave=True) utility goes through the solver: certified, and equal to the same mixture as a Utility.

    custom() wraps U in a fresh function, so this costs a compilation of its own; the
    random mixtures above reuse one module-level function instead.
    """
    wrapped = custom(lambda x: 0.5 * jnp.log(x) + 0.5 * jnp.sqrt(x), "log-plus-sqrt", concave=True)
    solution = solve(wrapped, 8)
    same = solve(mixture_utility(0.5, 0.5, 0.0, 0.5, 1.0), 8)
    assert solution.converged and solution.certified and solution.utility == "log-plus-sqrt"
    np.testing.assert_allclose(solution.rewards, same.rewards, rtol=0, atol=1e-10)


def test_custom_utilities_of_one_name_are_kept_apart() -> None:
    """Two custom utilities with one name but different functions get their own answers (no shared cache entry).

    Both are convex, so each optimum is the step vector e_{n/2} with S = (n/2)^2 U(1):
    4 U(1) at n = 4, that is 20 for 5x^2 and 4 for x^2, whichever is solved first.
    """
    steep = Utility("quadratic", (), lambda x, p: 5.0 * x**2, concave=False, convex=True)
    plain = Utility("quadratic", (), lambda x, p: x**2, concave=False, convex=True)
    assert steep != plain
    assert solve(steep, 4).objective == 20.0
    assert solve(plain, 4).objective == 4.0


def test_batch_keeps_convex_and_other_utilities_of_one_function_apart() -> None:
    """A batch groups problems by their compiled function; the convex flag must split groups too.

    Declared convex, x^2 gets the exact vertex answer (converged, S = 4 at n = 4); the same
    function declared neither convex nor concave gets the local-ascent treatment (never
    converged), even when both share a batch.
    """

    def quadratic(x: jax.Array, p: jax.Array) -> jax.Array:
        return x**2

    convex = Utility("quadratic", (), quadratic, concave=False, convex=True)
    unknown = Utility("quadratic-unknown", (), quadratic, concave=False)
    together = solve_batch([(convex, 4), (unknown, 4)])
    assert together[0].converged and together[0].objective == 4.0
    assert "exact for convex U" in together[0].message
    assert not together[1].converged and "exact for convex U" not in together[1].message


def test_results_are_float64_while_global_x64_stays_off() -> None:
    """Float64 results without touching jax_enable_x64 (issue 2: the user's JAX settings are left alone)."""
    before = jax.config.jax_enable_x64  # type: ignore[attr-defined]
    solution = solve("log", 8)
    gradient_at_solution = reward_gradient("log", solution.rewards)
    after = jax.config.jax_enable_x64  # type: ignore[attr-defined]
    assert before is False and after is False
    assert solution.rewards.dtype == np.float64 and gradient_at_solution.dtype == np.float64
    assert isinstance(solution.objective, float) and isinstance(solution.gap, float)
    # float64, not float32: the log optimum is exact far below float32's 6e-8 resolution
    assert np.max(np.abs(solution.rewards - gauss_lobatto_rewards(8))) <= REWARD_TOLERANCE


# --- input validation ----------------------------------------------------------------


BAD_NS = (1, 0, -3, 2.5, float("nan"), "8", None, True)


@pytest.mark.parametrize("n", BAD_NS)
def test_bad_n_raises_solver_input_error(n: object) -> None:
    """n < 2 and non-integer n raise SolverInputError (a ValueError) naming n, for solve and solve_many."""
    with pytest.raises(SolverInputError, match="n must be"):
        solve("log", n)  # type: ignore[arg-type]
    with pytest.raises(SolverInputError, match="n must be"):
        solve_many(["log", "linear"], n)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", BAD_NS)
def test_bad_n_in_solve_family_raises_solver_input_error(n: object) -> None:
    """solve_family(family, parameters, n) validates n like solve does."""
    with pytest.raises(SolverInputError, match="n must be"):
        solve_family("power", [0.5], n)  # type: ignore[arg-type]


@pytest.mark.parametrize("tol", [0.0, -1e-10, 1.0, float("nan"), float("inf")])
def test_bad_tolerance_raises_solver_input_error(tol: float) -> None:
    """tol must lie in (0, 1)."""
    with pytest.raises(SolverInputError, match="tol"):
        solve("log", 4, tol=tol)


def test_unknown_family_in_solve_family_raises() -> None:
    """solve_family validates the family name with the valid forms."""
    with pytest.raises(UtilitySpecError, match="valid forms"):
        solve_family("quadratic", [1.0], 4)


def test_solve_many_takes_a_bare_spec_as_one_utility() -> None:
    """solve_many("log", 4) said "unknown utility 'l'" (the string iterated by character): now a list of one."""
    (solution,) = solve_many("log", 4)
    assert solution.utility == "log" and solution.certified
    np.testing.assert_array_equal(solution.rewards, solve("log", 4).rewards)


def test_solve_family_takes_a_bare_parameter_and_a_bare_n() -> None:
    """solve_family("power", 0.5, 4): one parameter and one n count as lists of one."""
    (solution,) = solve_family("power", 0.5, 4)
    assert solution.utility == "power:0.5"


# --- knobs ---------------------------------------------------------------------------


def test_max_steps_is_the_one_step_limit_and_max_iterations_is_gone() -> None:
    """Every entry point takes max_steps; the former max_iterations is refused (removed after its deprecation)."""
    with pytest.raises(TypeError, match="max_iterations"):
        solve("log", 8, max_iterations=400)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="max_iterations"):
        solve_many(["log"], 8, max_iterations=400)  # type: ignore[call-arg]
    with pytest.raises(SolverInputError, match="max_steps"):
        solve("log", 8, max_steps=0)


# --- sizes refused before memory is spent --------------------------------------------


def test_estimated_memory_grows_with_the_padded_size() -> None:
    """estimated_memory(n) ~ 2 float64 M x M arrays (M = padded n // 2; 4 per problem of a batch) plus a fixed part,
    calibrated at n = 10^4 and 2 x 10^4."""
    assert estimated_memory(2000) < estimated_memory(5000) < estimated_memory(10**9)
    assert 2 * estimated_memory(10**5) < estimated_memory(10**5, count=2)  # a batch holds more per problem
    assert estimated_memory(10**9) > 10**18  # (n/2)^2 float64: far beyond any machine
    assert estimated_memory(10**9, vertex=True) == 32 * 10**9  # a step vector is O(n)


@pytest.mark.parametrize(
    "call",
    [
        lambda: solve("log", 10**9),
        lambda: solve_many(["log", "power:0.5"], 10**9),
        lambda: solve_family("power", [0.5], 10**9),
        lambda: solve_batch([("log", 8), ("exp:1", 10**9)]),
    ],
    ids=["solve", "solve_many", "solve_family", "solve_batch"],
)
def test_log_with_a_billion_completions_is_refused_before_allocation(call: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """solve log n = 1e9 was killed by the kernel: MemoryLimitError (a ValueError) naming the largest n that fits."""
    monkeypatch.setenv("COLLAPSE_THEORY_MEMORY_LIMIT", str(2**30))
    with pytest.raises(MemoryLimitError, match="largest n that fits is"):
        call()


def test_largest_fitting_n_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The n the refusal names does fit (a small memory limit: n = 2 .. a few hundred)."""
    limit = estimated_memory(256)
    monkeypatch.setenv("COLLAPSE_THEORY_MEMORY_LIMIT", str(limit))
    with pytest.raises(MemoryLimitError, match="largest n that fits is 257"):
        solve("log", 258)
