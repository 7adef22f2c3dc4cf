"""Solving ranking losses: statuses, certificates, and the exact oracles of the losses issue."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.special
import scipy.stats

from collapse_theory._core.precision import float64
from collapse_theory.laws.limits import gauss_lobatto_rewards
from collapse_theory.problems.losses import LossSpecError, parse_loss
from collapse_theory.solver import _loss_objective
from collapse_theory.solver.loss_solver import (
    LossInfeasibleError,
    Status,
    _kind_and_function,
    _problem,
    cone_gap,
    frank_wolfe_gap,
    loss_value,
    padded_size,
    solve_loss,
)


@pytest.mark.parametrize(("beta", "n"), [(0.5, 8), (0.001, 7)])
def test_log_with_l2_on_free_rewards_is_the_hermite_zeros(beta: float, n: int) -> None:
    # Stieltjes' electrostatic problem: zeros of H_n divided by sqrt(BETA (n - 1))
    solution = solve_loss(f"log+free+l2:{beta}", n)
    zeros = np.sort(scipy.special.roots_hermite(n)[0])[::-1] / np.sqrt(beta * (n - 1))
    assert solution.status is Status.OPTIMAL and solution.certified
    assert solution.rewards is not None
    np.testing.assert_allclose(solution.rewards, zeros, rtol=1e-9, atol=1e-9 * np.abs(zeros).max())


@pytest.mark.parametrize(("tau", "n"), [(0.5, 4), (2.0, 7)])
def test_ipo_all_pairs_has_equal_gaps_two_tau_over_n(tau: float, n: int) -> None:
    solution = solve_loss(f"ipo-margin:{tau}", n)
    assert solution.status is Status.SHIFT_INVARIANT and solution.certified
    assert solution.rewards is not None
    np.testing.assert_allclose(-np.diff(solution.rewards), 2 * tau / n, rtol=1e-10)
    assert abs(solution.rewards.mean()) < 1e-12


def test_bounded_ipo_that_does_not_fill_the_box_is_non_unique() -> None:
    solution = solve_loss("ipo:5+bounded", 8)  # target margin 1/(2 * 5) = 0.1
    assert solution.status is Status.NON_UNIQUE and "shift" in solution.message
    assert solution.rewards is not None
    np.testing.assert_allclose(-np.diff(solution.rewards), 2 * 0.1 / 8, rtol=1e-10)


def test_bounded_log_keeps_the_gauss_lobatto_nodes() -> None:
    solution = solve_loss("log", 8)
    assert solution.status is Status.OPTIMAL
    np.testing.assert_allclose(solution.rewards, gauss_lobatto_rewards(8), atol=1e-10)


def test_open_assistant_at_eight_is_unique_centred_symmetric_range_17_14() -> None:
    solution = solve_loss("open-assistant", 8)
    assert solution.status is Status.OPTIMAL and solution.certified
    r = solution.rewards
    assert r is not None
    assert abs(r.mean()) < 1e-12
    np.testing.assert_allclose(r, -r[::-1], atol=1e-10)
    assert r[0] - r[-1] == pytest.approx(17.14, abs=0.005)


@pytest.mark.parametrize("spec", ["bradley-terry", "listmle", "log-sigmoid:1+free+rank-margin:0.3", "log-sigmoid:1+free+lipo"])
def test_free_bradley_terry_and_listmle_have_no_maximiser_and_equal_gap_direction(spec: str) -> None:
    solution = solve_loss(spec, 6)
    assert solution.status is Status.UNBOUNDED
    assert solution.rewards is None and solution.direction is not None
    np.testing.assert_allclose(solution.direction, np.linspace(1, 0, 6))
    # F keeps increasing along the direction, and stays below its supremum 0 (log-sigmoid <= 0)
    values = [loss_value(spec, t * solution.direction) for t in (1.0, 10.0, 100.0)]
    assert values[0] < values[1] < values[2] < 0.0


def test_centring_bounds_rewards_only_from_three_completions() -> None:
    assert solve_loss("trl-center:0.01", 2).status is Status.UNBOUNDED
    three = solve_loss("trl-center:0.01", 3)
    assert three.status is Status.OPTIMAL and three.certified


@pytest.mark.parametrize(
    ("spec", "n"),
    [
        ("log-sigmoid:1+rank-margin:0.05", 6),
        ("plackett-luce:2", 6),
        ("log-sigmoid:2+lipo", 5),
        ("log+margin:0.02", 6),
        ("exp:1+free+l2:0.01+rank-margin:0.1", 6),
        ("plackett-luce:1+free+center:0.05", 6),
    ],
)
def test_non_symmetric_losses_beat_an_independent_scipy_optimiser(spec: str, n: int) -> None:
    loss = parse_loss(spec)
    solution = solve_loss(loss, n)
    assert solution.status is Status.OPTIMAL and solution.certified
    assert solution.rewards is not None and solution.objective is not None
    lower = 0.02 if spec.startswith("log+margin") else 0.0

    def rewards_of(gaps: np.ndarray) -> np.ndarray:
        r = np.concatenate([np.cumsum(gaps[::-1])[::-1], [0.0]]) + (0.0 if loss.free else gaps[-1] * 0)
        return r - r.mean() if loss.free else r

    def negative(x: np.ndarray) -> float:
        value = loss_value(loss, rewards_of(x))
        return -value if np.isfinite(value) else 1e30

    bound = [(lower + 1e-9, None)] * (n - 1)
    constraints = [] if loss.free else [{"type": "ineq", "fun": lambda x: 1.0 - np.sum(x)}]
    start = np.full(n - 1, (1.0 - 1e-3) / (n - 1)) if not loss.free else np.ones(n - 1)
    reference = scipy.optimize.minimize(
        negative, start, bounds=bound, constraints=constraints, method="SLSQP", options={"ftol": 1e-14, "maxiter": 2000}
    )
    assert solution.objective >= -reference.fun - 1e-9 * abs(reference.fun)
    assert solution.objective == pytest.approx(loss_value(loss, solution.rewards), rel=1e-12)


@pytest.mark.parametrize("spec", ["log-sigmoid:1+rank-margin:0.1+lipo", "plackett-luce:1.5", "ipo:0.7+l2:0.1+margin:0.2"])
def test_hand_built_gradient_and_hessian_match_autodiff(spec: str) -> None:
    loss = parse_loss(spec)
    n, size = 5, 8
    problem = _problem(loss, n, size)
    kind, function = _kind_and_function(loss)
    rng = np.random.default_rng(1)
    with float64():
        r = jnp.asarray(np.concatenate([np.sort(rng.normal(size=n))[::-1], np.zeros(size - n)]))
        pieces = _loss_objective.pieces(r, problem, kind, function)

        def value(x: jax.Array) -> jax.Array:
            if kind == _loss_objective.PLACKETT_LUCE:  # an independent formula for the likelihood
                b = loss.parameter
                return sum(b * x[i] - jax.scipy.special.logsumexp(b * x[i:]) for i in range(n - 1))
            return _loss_objective.value(jnp.concatenate([x, r[n:]]), problem, kind, function)

        np.testing.assert_allclose(pieces.gradient[:n], jax.grad(value)(r[:n]), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(pieces.hessian[:n, :n], jax.hessian(value)(r[:n]), rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(pieces.objective - pieces.regulariser, value(r[:n]), rtol=1e-12)


@pytest.mark.parametrize(
    ("spec", "free"),
    [
        ("log-sigmoid:1+rank-margin:0.1+lipo+l2:0.2", False),
        ("plackett-luce:1.5+center:0.3", False),
        ("open-assistant+margin:0.3", True),
        ("plackett-luce:1+free+l2:0.1", True),
    ],
)
def test_gap_hessian_matches_autodiff_in_gap_coordinates(spec: str, free: bool) -> None:
    # prefix/suffix sums of U'' on pairs and the closed-form regulariser against jax.hessian of F(L e) or F(P L e)
    loss = parse_loss(spec)
    n, size = 6, 8
    problem = _problem(loss, n, size)
    kind, function = _kind_and_function(loss)
    moving = np.r_[np.arange(n - 1), [] if free else [size - 1]].astype(int)
    rng = np.random.default_rng(3)
    with float64():
        e = jnp.asarray(np.concatenate([rng.uniform(0.1, 0.4, size=n - 1), np.zeros(size - n), [0.05]]))
        _, pieces = _loss_objective.gap_pieces(e, problem, kind, function, free)

        def value(gaps: jax.Array) -> jax.Array:
            r = _loss_objective.rewards(gaps, problem, free)
            if kind == _loss_objective.PLACKETT_LUCE:  # the likelihood written out (no -inf padding to differentiate)
                b = loss.parameter
                likelihood = sum(b * r[i] - jax.scipy.special.logsumexp(b * r[i:n]) for i in range(n - 1))
                return likelihood - _loss_objective._regulariser(r, problem)[0]
            return _loss_objective.value(r, problem, kind, function)

        np.testing.assert_allclose(pieces.gap_gradient[moving], jax.grad(value)(e)[moving], rtol=1e-10, atol=1e-12)
        hessian = np.asarray(jax.hessian(value)(e))[np.ix_(moving, moving)]
        np.testing.assert_allclose(np.asarray(pieces.gap_hessian)[np.ix_(moving, moving)], hessian, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("n", [7, 8])
def test_symmetric_newton_direction_equals_the_full_one(n: int) -> None:
    # half the unknowns at a point symmetric under r -> -reverse(r): the same Newton direction
    from collapse_theory.solver import _loss_newton

    loss = parse_loss("open-assistant+rank-margin:0.2")
    size = 16
    problem = _problem(loss, n, size)
    kind, function = _kind_and_function(loss)
    gaps = np.zeros(size)
    gaps[: n - 1] = 1.0 + 0.3 * np.abs(np.arange(n - 1) - (n - 2) / 2.0)  # symmetric gaps
    with float64():
        _, pieces = _loss_objective.gap_pieces(jnp.asarray(gaps), problem, kind, function, True)
        moving = jnp.arange(size) < n - 1
        full = _loss_newton._newton_direction(pieces.gap_hessian, pieces.gap_gradient, moving)
        half = _loss_newton._symmetric_direction(pieces.gap_hessian, pieces.gap_gradient, moving, problem.n)
    np.testing.assert_allclose(np.asarray(half)[: n - 1], np.asarray(full)[: n - 1], rtol=1e-9, atol=1e-12)
    assert np.all(np.asarray(half)[n - 1 :] == 0.0)


@pytest.mark.parametrize(
    ("spec", "n", "symmetric"),
    [
        ("open-assistant+rank-margin:0.2", 8, True),
        ("open-assistant+margin:0.3", 7, True),
        ("ipo:1.25", 6, True),  # no regulariser: definite only on mean-zero directions
        ("ipo:1.25+lipo", 6, False),
        ("plackett-luce:1+free+l2:0.1", 7, False),
        ("log-sigmoid:1+free+center:0.2+lipo", 5, False),
    ],
)
def test_reward_coordinate_newton_step_equals_the_gap_coordinate_one(spec: str, n: int, symmetric: bool) -> None:
    # Newton's method is invariant under r = P L e: the step solved in rewards, differenced, is the gap step
    from collapse_theory.solver import _loss_newton

    loss = parse_loss(spec)
    size = 16
    problem = _problem(loss, n, size)
    kind, function = _kind_and_function(loss)
    gaps = np.zeros(size)
    gaps[: n - 1] = 0.5 + 0.2 * np.abs(np.arange(n - 1) - (n - 2) / 2.0)  # symmetric gaps
    if not symmetric:
        gaps[: n - 1] += np.linspace(0.0, 0.3, n - 1)
    with float64():
        e = jnp.asarray(gaps)
        _, reference = _loss_objective.gap_pieces(e, problem, kind, function, True)
        pieces = _loss_objective.reward_pieces(_loss_objective.rewards(e, problem, True), problem, kind, function)
        moving = jnp.arange(size) < n - 1
        expected = _loss_newton._newton_direction(reference.gap_hessian, reference.gap_gradient, moving)
        step = _loss_newton._reward_direction(pieces, problem, symmetric)
        np.testing.assert_allclose(
            _loss_objective.free_gap_gradient(pieces.gradient, problem)[: n - 1], reference.gap_gradient[: n - 1], rtol=1e-11
        )
        diagonal = _loss_objective.free_gap_hessian_diagonal(pieces.curvature, problem)
        np.testing.assert_allclose(diagonal[: n - 1], jnp.diagonal(reference.gap_hessian)[: n - 1], rtol=1e-10)
        full = _loss_objective.free_gap_hessian(pieces.curvature, problem)
        np.testing.assert_allclose(full[: n - 1, : n - 1], reference.gap_hessian[: n - 1, : n - 1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(step)[: n - 1], np.asarray(expected)[: n - 1], rtol=1e-8, atol=1e-12)
    assert np.all(np.asarray(step)[n - 1 :] == 0.0)


@pytest.mark.parametrize("spec", ["open-assistant+rank-margin:0.1", "ipo:0.5+margin:0.2", "log-sigmoid:1+free+l2:0.1+lipo"])
def test_equal_gap_start_value_in_linear_time_equals_the_pair_sum(spec: str) -> None:
    loss = parse_loss(spec)
    n, size = 7, 8
    problem = _problem(loss, n, size)
    kind, function = _kind_and_function(loss)
    with float64():
        for spacing in (0.01, 0.7, 30.0):
            gaps = jnp.where(jnp.arange(size) < n - 1, problem.lower + spacing, 0.0)
            expected = _loss_objective.value(_loss_objective.rewards(gaps, problem, True), problem, kind, function)
            got = _loss_objective.equal_gap_value(jnp.asarray(spacing), problem, kind, function)
            assert float(got) == pytest.approx(float(expected), rel=1e-12)


def test_certificates_scale_with_the_objective() -> None:
    # positively homogeneous of degree 1 in F: no absolute floor hides a scaled problem
    rng = np.random.default_rng(2)
    g, r = rng.normal(size=7), np.sort(rng.uniform(size=7))[::-1]
    for c in (1e-8, 1.0, 1e8):
        assert frank_wolfe_gap(c * g, r) == pytest.approx(c * frank_wolfe_gap(g, r), rel=1e-12)
        assert cone_gap(c * g, r, c * 3.0) == pytest.approx(c * cone_gap(g, r, 3.0), rel=1e-12)
    small = solve_loss("log-sigmoid:1+free+l2:0.001", 8)
    assert small.gap is not None and small.scale is not None and small.gap <= 1e-10 * small.scale


def test_kinked_utilities_are_linear_programs() -> None:
    kinked = solve_loss("min-linear:0.3", 8)
    assert kinked.status is Status.NON_UNIQUE and kinked.certified and "linear program" in kinked.message
    assert kinked.objective == pytest.approx(7.3)
    assert solve_loss("min-linear:0.3+free", 6).status is Status.NON_UNIQUE
    vertex = solve_loss("linear+margin:0.1", 8)
    assert vertex.status is Status.OPTIMAL and vertex.rewards is not None
    np.testing.assert_allclose(vertex.rewards, [1, 1, 1, 1, 0, 0, 0, 0], atol=1e-12)


def test_infeasible_margins_and_bad_inputs_are_refused() -> None:
    with pytest.raises(LossInfeasibleError, match="infeasible on"):
        solve_loss("log+margin:0.2", 8)
    with pytest.raises(LossSpecError, match="concave"):
        solve_loss("square+free+l2:1", 4)
    with pytest.raises(LossSpecError, match="n must be"):
        solve_loss("open-assistant", 1)


def test_json_is_strict_and_carries_todays_solve_fields() -> None:
    for spec in ("bradley-terry", "open-assistant", "log"):
        data = solve_loss(spec, 4).as_dict()
        json.dumps(data, allow_nan=False)
        for key in ("utility", "n", "rewards", "objective", "gap", "converged", "certified", "iterations", "seconds", "message"):
            assert key in data
        assert data["status"] in {status.value for status in Status}


def test_global_jax_precision_is_left_alone() -> None:
    solve_loss("ipo:1", 4)
    assert not jax.config.jax_enable_x64


def test_an_overflowing_certificate_certifies_nothing() -> None:
    huge = np.array([1e308, -1e308, 1e308])
    assert cone_gap(huge, np.zeros(3), 1e-308) == np.inf
    assert frank_wolfe_gap(np.array([np.nan, 1.0]), np.array([1.0, 0.0])) == np.inf


# --- bounded losses with many ties: the active-set method (bounded Plackett-Luce) -----------


def _plackett_luce_gradient(r: np.ndarray, beta: float) -> np.ndarray:
    """dF/dr of sum_{i<n} [B r_i - log sum_{j>=i} e^{B r_j}], written out with softmaxes (independent of the solver)."""
    n = r.shape[0]
    gradient = np.zeros(n)
    for i in range(n - 1):
        gradient[i] += beta
        gradient[i:] -= beta * scipy.special.softmax(beta * r[i:])
    return gradient


def _bounded_plackett_luce_law(n: int, beta: float) -> np.ndarray:
    """The n -> infinity quantiles of bounded Plackett-Luce: clip(1 - ((e + B) u - (e - 1)) / B, 0, 1), u = (i - 1/2) / n.

    Continuum KKT: with S(u) = int_u^1 e^{B r}, Phi(u) = int_0^u 1/S, the free part has e^{B r} Phi = 1, so
    S Phi is constant and B r is linear in u; matching r = 1 and r = 0 at its ends gives an atom (e - 1)/(e + B)
    at 1, an atom 1/(e + B) at 0, and mass B/(e + B) uniform on (0, 1).
    """
    u = (np.arange(n) + 0.5) / n
    return np.clip(1.0 - ((np.e + beta) * u - (np.e - 1.0)) / beta, 0.0, 1.0)


def _check_bounded_plackett_luce(n: int, beta: float, slack: float) -> None:
    solution = solve_loss(f"plackett-luce:{beta:g}", n)
    assert solution.status is Status.OPTIMAL and solution.certified
    assert solution.gap is not None and solution.scale is not None and solution.gap <= 1e-10 * solution.scale
    assert solution.rewards is not None and solution.iterations <= 30
    r = solution.rewards
    assert r[0] <= 1.0 and r[-1] >= 0.0
    assert abs(np.sum(r >= 1.0 - 1e-12) / n - (np.e - 1.0) / (np.e + beta)) <= slack  # ties, up to the rounding of a sum of gaps
    assert abs(np.sum(r <= 1e-12) / n - 1.0 / (np.e + beta)) <= slack
    np.testing.assert_allclose(r, _bounded_plackett_luce_law(n, beta), atol=slack)


@pytest.mark.parametrize("beta", [1.0, 3.0])
def test_bounded_plackett_luce_is_certified_at_300_and_follows_its_law(beta: float) -> None:
    # the barrier alone ended not_converged after 200 steps at n = 300 (gap / scale 1.3e-9)
    _check_bounded_plackett_luce(300, beta, 2.0 / 300)


@pytest.mark.slow
def test_bounded_plackett_luce_is_certified_at_1000() -> None:
    _check_bounded_plackett_luce(1000, 1.0, 2.0 / 1000)


@pytest.mark.parametrize("n", [4, 8, 32])
def test_bounded_plackett_luce_agrees_with_the_barrier(n: int) -> None:
    from collapse_theory.solver import _loss_newton

    loss = parse_loss("plackett-luce:1")
    solution = solve_loss(loss, n)
    assert solution.status is Status.OPTIMAL and solution.rewards is not None and solution.gap is not None
    kind, function = _kind_and_function(loss)
    with float64():
        problem = _problem(loss, n, padded_size(n))
        path = _loss_newton.barrier(problem, jnp.asarray(1e-10), kind=kind, function=function, max_steps=200)
    barrier_rewards = np.asarray(path.rewards)[:n]
    np.testing.assert_allclose(solution.rewards, barrier_rewards, atol=1e-7)
    barrier_gap = frank_wolfe_gap(np.asarray(path.gradient)[:n], barrier_rewards)
    assert solution.gap <= max(barrier_gap, 1e-12)
    assert solution.objective is not None and solution.objective >= loss_value(loss, barrier_rewards) - 1e-12


@pytest.mark.parametrize("beta", [0.7, 1.0, 4.0])
def test_bounded_plackett_luce_at_three_is_the_closed_form(beta: float) -> None:
    # r = (1, x, 0): dF/dx = 1/(e^{Bx} + 1) - e^{Bx}/(e^B + e^{Bx} + 1) = 0 gives e^{2Bx} = e^B + 1
    solution = solve_loss(f"plackett-luce:{beta:g}", 3)
    assert solution.status is Status.OPTIMAL and solution.rewards is not None
    np.testing.assert_allclose(solution.rewards, [1.0, np.log1p(np.exp(beta)) / (2.0 * beta), 0.0], atol=1e-9)


@pytest.mark.parametrize(("beta", "n"), [(1.0, 5), (1.0, 12), (2.5, 9)])
def test_bounded_plackett_luce_meets_the_kkt_conditions_of_the_ordered_box(beta: float, n: int) -> None:
    # r maximises the linear <g, y> over 1 >= y_1 >= ... >= y_n >= 0 (the first-order condition of a concave F):
    # with G_k = g_1 + ... + g_k (G_0 = 0), every step e_k = 1[first k] used by r (a gap d_k > 0) has G_k = max G,
    # and the ties are strict (G_k below the maximum)
    solution = solve_loss(f"plackett-luce:{beta:g}", n)
    assert solution.rewards is not None
    r = solution.rewards
    prefix = np.concatenate([[0.0], np.cumsum(_plackett_luce_gradient(r, beta))])
    gaps = np.concatenate([[1.0 - r[0]], r[:-1] - r[1:], [r[-1]]])
    used = gaps > 1e-9
    assert used.sum() >= 2 and (~used).sum() >= 2  # ties at both ends
    np.testing.assert_allclose(prefix[used], prefix.max(), atol=1e-8)
    assert np.all(prefix[~used] < prefix.max() - 1e-3)


def test_bounded_plackett_luce_at_five_matches_scipy() -> None:
    n = 5
    solution = solve_loss("plackett-luce:1", n)
    assert solution.rewards is not None

    def negative(r: np.ndarray) -> float:
        return -sum(r[i] - scipy.special.logsumexp(r[i:]) for i in range(n - 1))

    order = [{"type": "ineq", "fun": lambda r, i=i: r[i] - r[i + 1]} for i in range(n - 1)]
    reference = scipy.optimize.minimize(
        negative,
        np.linspace(0.9, 0.1, n),
        jac=lambda r: -_plackett_luce_gradient(r, 1.0),
        bounds=[(0.0, 1.0)] * n,
        constraints=order,
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    assert reference.success
    np.testing.assert_allclose(solution.rewards, reference.x, atol=1e-6)


@pytest.mark.parametrize(("spec", "n"), [("ipo:0.25+bounded", 100), ("exp:1+l2:0.01", 100), ("log-sigmoid:1+margin:0.1", 64)])
def test_other_bounded_losses_with_ties_are_certified(spec: str, n: int) -> None:
    # the barrier alone: 200 steps and not_converged for the first two at n = 100
    solution = solve_loss(spec, n)
    assert solution.status is Status.OPTIMAL and solution.certified and solution.iterations <= 40
    assert solution.rewards is not None and solution.rewards[0] <= 1.0 and np.sum(solution.rewards >= 1.0 - 1e-12) >= n // 4


def test_singular_utilities_finite_at_zero_stay_on_the_barrier() -> None:
    from collapse_theory.solver.loss_solver import _active_set_applies

    assert not _active_set_applies(parse_loss("power:0.5+lipo"))  # U'(0+) = inf on a bound
    for spec in ("log+l2:0.001", "neg-power:1+margin:0.01", "plackett-luce:1", "log-sigmoid:1+margin:0.1"):
        assert _active_set_applies(parse_loss(spec))
    solution = solve_loss("power:0.5+lipo", 12)
    assert solution.status is Status.OPTIMAL and solution.certified


def test_projection_onto_the_capped_orthant_is_euclidean() -> None:
    from collapse_theory.solver._loss_bounded import _project

    rng = np.random.default_rng(5)
    for _ in range(20):
        y = rng.normal(size=9)
        others = rng.uniform(size=9) < 0.8
        room = float(rng.uniform(0.1, 2.0))
        with float64():
            z = np.asarray(_project(jnp.asarray(y), jnp.asarray(others), jnp.asarray(room)))
        assert np.all(z >= 0.0) and np.all(z[~others] == 0.0) and z.sum() <= room + 1e-12
        # the KKT conditions of min ‖z - y‖^2 over {z >= 0, sum z <= room} on the chosen entries
        level = 0.0 if np.maximum(y[others], 0.0).sum() <= room else (y[others] - z[others])[z[others] > 0].mean()
        np.testing.assert_allclose(z[others], np.maximum(y[others] - level, 0.0), atol=1e-12)


def test_semicircle_start_gaps_are_the_semicircle_quantiles() -> None:
    # the free start's shaped candidate: gaps of scipy's semicircular quantiles at (n - i - 1/2)/n, range 1
    from collapse_theory.solver import _loss_newton

    loss = parse_loss("open-assistant")
    n, size = 9, 16
    problem = _problem(loss, n, size)
    with float64():
        gaps = np.asarray(_loss_newton._semicircle_gaps(problem))
    quantiles = scipy.stats.semicircular.ppf((n - np.arange(n) - 0.5) / n)
    expected = -np.diff(quantiles)
    np.testing.assert_allclose(gaps[: n - 1], expected / expected.sum(), rtol=1e-10)
    assert np.all(gaps[n - 1 :] == 0.0)
