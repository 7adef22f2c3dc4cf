"""The solver's hand-written linear algebra against plain references.

* ``_symmetric.derivatives`` (S, gradient and Hessian of the symmetric problem from one
  packed evaluation of U, U', U'') against JAX autodiff of ``_symmetric.objective``;
* the tiled evaluation (several row blocks, the Hessian symmetrised in place) against one tile;
* ``_newton.scaled_solve`` (masked, scaled, Cholesky in place) against NumPy, with and without
  the barrier's band, its CPU factorisation (LAPACK in place) against the portable one that
  GPU and TPU run, its failure (NaN) and its batched form;
* ``_newton.reverse_cumsum`` (blocked by matrix products) and ``_newton.to_gaps_in_place``
  against NumPy;
* the affine path (``linear``): an exact, symmetric, certified vertex.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from collapse_theory._core.precision import float64
from collapse_theory.problems.utilities import family_function
from collapse_theory.solver import _newton, _symmetric
from collapse_theory.solver.utility_solver import certificate_gap, objective_value, solve

#: (family, parameter) pairs: singular and finite-slope utilities, and the convex contrast case.
FAMILIES = (("log", 0.0), ("neg-power", 1.0), ("power", 0.5), ("exp", 2.0), ("log-sigmoid", 4.0), ("square", 0.0))


@pytest.mark.parametrize(("family", "parameter"), FAMILIES)
@pytest.mark.parametrize(("n", "size"), [(9, 8), (10, 8), (13, 16), (2, 16)])
def test_packed_derivatives_match_autodiff(family: str, parameter: float, n: int, size: int) -> None:
    function = family_function(family)
    with float64():
        layout = _symmetric.Layout(jnp.asarray(n), size)
        top = np.sort(np.random.default_rng(n + size).uniform(0.01, 0.45, n // 2))
        y = jnp.asarray(np.concatenate([top, np.full(size - n // 2, 0.25)]))
        params = jnp.asarray([parameter])
        value, gradient, hessian = _symmetric.derivatives(y, params, function, layout, False)

        def objective(z: jax.Array) -> jax.Array:
            return _symmetric.objective(z, params, function, layout)

        live = np.arange(size) < n // 2
        expected_hessian = np.asarray(jax.hessian(objective)(y))[np.ix_(live, live)]
        scale = max(1.0, float(np.max(np.abs(expected_hessian))))
        assert abs(float(value) - float(objective(y))) <= 1e-12 * max(1.0, abs(float(value)))
        np.testing.assert_allclose(np.asarray(gradient), np.asarray(jax.grad(objective)(y)), rtol=0, atol=1e-12 * scale)
        np.testing.assert_allclose(np.asarray(hessian)[np.ix_(live, live)], expected_hessian, rtol=0, atol=1e-12 * scale)
        assert np.all(np.asarray(hessian)[~live] == 0.0) and np.all(np.asarray(gradient)[~live] == 0.0)


@pytest.mark.parametrize(("family", "parameter"), FAMILIES)
@pytest.mark.parametrize(("n", "size"), [(59, 32), (64, 32), (41, 64)])
def test_tiled_evaluation_matches_one_tile(
    family: str, parameter: float, n: int, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = family_function(family)
    with float64():
        layout = _symmetric.Layout(jnp.asarray(n), size)
        top = np.sort(np.random.default_rng(n).uniform(0.01, 0.45, n // 2))
        y = jnp.asarray(np.concatenate([top, np.full(size - n // 2, 0.25)]))
        params = jnp.asarray([parameter])
        one_tile = [np.asarray(a) for a in _symmetric.derivatives(y, params, function, layout, True)]
        monkeypatch.setattr(_symmetric, "PAIR_BLOCK", 8)
        tiles = [np.asarray(a) for a in _symmetric.derivatives(y, params, function, layout, True)]
        value = float(_symmetric.objective(y, params, function, layout))
    for expected, result in zip(one_tile, tiles, strict=True):
        np.testing.assert_allclose(result, expected, rtol=1e-13, atol=1e-13 * float(np.max(np.abs(expected))))
    assert abs(value - float(one_tile[0])) <= 1e-13 * max(1.0, abs(value))
    assert np.array_equal(tiles[2], tiles[2].T)  # exactly symmetric: potrf may read either triangle


def test_scaled_solve_matches_numpy_on_the_kept_block() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=(12, 12))
    matrix = a @ a.T + 12 * np.eye(12)
    rhs = rng.normal(size=12)
    keep = np.arange(12) % 3 != 1
    with float64():
        result = np.asarray(_newton.scaled_solve(jnp.asarray(matrix), jnp.asarray(rhs), jnp.asarray(keep)))
    expected = np.linalg.solve(matrix[np.ix_(keep, keep)], rhs[keep])
    np.testing.assert_allclose(result[keep], expected, rtol=1e-10)
    np.testing.assert_allclose(result[~keep], rhs[~keep], rtol=1e-12)


def _spd(size: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(size, size))
    return a @ a.T + size * np.eye(size)


def test_scaled_solve_adds_the_band_on_the_kept_block() -> None:
    """The barrier's tridiagonal, added in the factorisation's scaling pass, equals adding it to the matrix first."""
    rng = np.random.default_rng(4)
    matrix, rhs, keep = _spd(12, 4), rng.normal(size=12), np.arange(12) % 4 != 2
    diagonal, superdiagonal = rng.uniform(1.0, 2.0, size=12), rng.uniform(-0.5, 0.5, size=11)
    full = matrix + np.diag(diagonal) + np.diag(superdiagonal, 1) + np.diag(superdiagonal, -1)
    with float64():
        band = (jnp.asarray(diagonal), jnp.asarray(superdiagonal))
        result = np.asarray(_newton.scaled_solve(jnp.asarray(matrix), jnp.asarray(rhs), jnp.asarray(keep), band))
    np.testing.assert_allclose(result[keep], np.linalg.solve(full[np.ix_(keep, keep)], rhs[keep]), rtol=1e-10)
    np.testing.assert_allclose(result[~keep], rhs[~keep], rtol=1e-12)


def test_cpu_factorisation_matches_the_portable_one() -> None:
    """LAPACK's potrf in place (the CPU path) and ``lax.linalg.cholesky`` (the GPU and TPU path) give one factor."""
    matrix = _spd(40, 5)
    with float64():
        lower, ok = jax.jit(_newton._potrf_cpu)(jnp.asarray(matrix))
        portable, portable_ok = jax.jit(_newton._potrf_portable)(jnp.asarray(matrix))
    assert bool(ok) and bool(portable_ok)
    np.testing.assert_allclose(np.tril(np.asarray(lower)), np.asarray(portable), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(np.tril(np.asarray(lower)), np.linalg.cholesky(matrix), rtol=1e-12, atol=1e-12)


def test_scaled_solve_is_nan_where_not_positive_definite_and_batches() -> None:
    """An indefinite kept block gives NaN (never a wrong finite step); under vmap each problem keeps its own answer."""
    matrix, rhs, keep = _spd(16, 6), np.ones(16), np.ones(16, bool)
    indefinite = matrix.copy()
    indefinite[3, 3] = -1.0
    with float64():
        solve = jax.jit(jax.vmap(_newton.scaled_solve))
        result = np.asarray(
            solve(jnp.asarray(np.stack([matrix, indefinite])), jnp.asarray([rhs, rhs]), jnp.asarray([keep, keep]))
        )
    np.testing.assert_allclose(result[0], np.linalg.solve(matrix, rhs), rtol=1e-10)
    assert np.all(np.isnan(result[1]))


@pytest.mark.parametrize("size", [16, 128])
def test_gap_transform_in_place_matches_numpy(size: int) -> None:
    """R A R^T (reverse cumulative sums along both axes) where enabled; A itself where not."""
    matrix = _spd(size, size)
    expected = np.flip(np.cumsum(np.flip(matrix, 0), axis=0), 0)
    expected = np.flip(np.cumsum(np.flip(expected, 1), axis=1), 1)
    with float64():
        transform = jax.jit(_newton.to_gaps_in_place)
        result = np.asarray(transform(jnp.asarray(matrix), jnp.asarray(True)))
        unchanged = np.asarray(transform(jnp.asarray(matrix), jnp.asarray(False)))
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-12 * np.abs(matrix).sum())
    assert np.array_equal(unchanged, matrix)


@pytest.mark.parametrize("shape", [(16,), (32, 5), (256, 256), (768, 3), (24, 4)])
@pytest.mark.parametrize("axis", [0, -1])
def test_blocked_reverse_cumsum_matches_numpy(shape: tuple[int, ...], axis: int) -> None:
    x = np.random.default_rng(len(shape) + shape[0]).normal(size=shape)
    expected = np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)
    with float64():
        result = np.asarray(_newton.reverse_cumsum(jnp.asarray(x), axis))
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-12 * np.abs(x).sum())


@pytest.mark.parametrize("n", [2, 3, 7, 8, 101, 5000])
def test_affine_utility_is_solved_at_a_symmetric_certified_vertex(n: int) -> None:
    solution = solve("linear", n)
    top, middle = n // 2, n % 2
    expected = np.concatenate([np.ones(top), np.full(middle, 0.5), np.zeros(top)])
    assert np.array_equal(solution.rewards, expected)
    assert solution.converged and solution.certified and solution.gap == 0.0
    # S = sum_i (n + 1 - 2i) r_i = top * (n - top) for the top half at 1 (the middle adds 0)
    assert solution.objective == top * (n - top)
    if n <= 101:  # the generic O(n^2) evaluations agree with the affine shortcut
        assert objective_value("linear", solution.rewards) == solution.objective
        assert certificate_gap("linear", solution.rewards) == 0.0


@pytest.mark.parametrize("name", ["square", "linear", "cubic", "wiggly", "decreasing", "steep"])
def test_step_vector_formulas_match_autodiff(name: str) -> None:
    """The O(1) S(e_k), best step vector and Frank-Wolfe gap at e_k (used for convex and
    non-concave U) equal objective_value, a search over every k, and certificate_gap
    (autodiff of the full objective)."""
    from collapse_theory.problems.utilities import custom, parse_utility
    from collapse_theory.solver._step_vectors import _best_step_vector, _endpoints, _step_vector_gap, _step_vector_objective

    utility = {
        "cubic": custom(lambda x: x**3 + 0.5 * x, name="cubic"),
        "wiggly": custom(lambda x: jnp.sin(3.0 * x) + x, name="wiggly"),
        "decreasing": custom(lambda x: -2.0 * x + 0.3 * x**2, name="decreasing"),
        "steep": custom(lambda x: 40.0 * x - x**2, name="steep"),  # concave vertex inside the range of j
    }.get(name) or parse_utility(name)
    ends = _endpoints(utility)
    for n in (2, 3, 8, 13, 40):
        values = []
        for k in range(n + 1):
            rewards = np.concatenate([np.ones(k), np.zeros(n - k)])
            values.append(_step_vector_objective(ends, n, k))
            assert values[-1] == pytest.approx(objective_value(utility, rewards), rel=1e-13, abs=1e-13)
            assert _step_vector_gap(ends, n, k) == pytest.approx(certificate_gap(utility, rewards), rel=1e-12, abs=1e-11)
        best = int(np.argmax(values))
        assert _best_step_vector(ends, n) == (best, pytest.approx(values[best], rel=1e-13, abs=1e-13))


@pytest.mark.parametrize("beta", [0.5, 2.0, 30.0])
def test_exp_start_is_its_limit_law_and_needs_few_newton_steps(beta: float) -> None:
    """exp:B starts from the quantiles of its closed-form law (design.exp_limit_law), ties included.

    That law is so close to the finite-n optimum that the polish certifies it in a few
    Newton steps (from evenly spaced rewards a barrier path took 20 to 30); the barrier's
    own start stays strictly inside the order constraints even though the quantiles tie.
    """
    from collapse_theory.design.utility_design import exp_limit_law
    from collapse_theory.problems.utilities import parse_utility
    from collapse_theory.solver._starting_points import _closed_form_quantiles, _interior_start

    utility = parse_utility(f"exp:{beta}")
    for n in (16, 49, 200, 1000):
        quantiles = _closed_form_quantiles(utility, n)
        assert quantiles is not None
        levels = (np.arange(n // 2) + 0.5) / n
        law = np.asarray(exp_limit_law(beta).ppf(levels))
        stretched = 0.5 * (law - law[0]) / (0.5 - law[0])  # y_1 = 0: r_1 = 1
        np.testing.assert_allclose(quantiles, stretched, rtol=0, atol=1e-12)
        barrier_start = _interior_start(n, n // 2, quantiles)
        assert barrier_start[0] > 0 and np.all(np.diff(barrier_start) > 0) and barrier_start[-1] < 0.5
        solution = solve(utility, n)
        assert solution.converged and solution.certified
        assert solution.iterations <= 5


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["power:0.5", "neg-power:1", "log-sigmoid:4"])
def test_a_familys_own_program_solves_as_the_shared_switch_does(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above SWITCH_SIZE a family compiles its own program; it reaches the optimum the shared program
    (every built-in behind a run-time switch) reaches: both certified, rewards equal to 1e-10."""
    from collapse_theory.problems.utilities import parse_utility
    from collapse_theory.solver import utility_solver as solver

    n = 1100  # padded size 768: its own program at n, the shared one for the chain's level n / 2
    assert solver.bucket_size(n // 2) > solver.SWITCH_SIZE >= solver.bucket_size(n // 4)
    utility = parse_utility(spec)
    own = solve(utility, n)
    monkeypatch.setattr(solver, "SWITCH_SIZE", 1 << 30)
    shared = solve(utility, n)
    assert own.certified and shared.certified, (own.message, shared.message)
    np.testing.assert_allclose(own.rewards, shared.rewards, rtol=0, atol=1e-10)
