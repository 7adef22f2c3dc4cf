"""Where the time of a large certified solve goes (n = 10^4 by default).

For each utility: a first solve (compiles), then a warm solve timed in CPU time
(``time.process_time``: user + sys of this process, robust to other jobs on the
machine) and wall time, with its polish steps and how many of them factorised (the
others are chord steps); the part spent on the start (the chain of coarser solves at
n/2, n/4, ... where there is no start with atoms); and one of each building block
of a Newton step at the same padded size M, compiled on its own and timed with
``block_until_ready``: the value and gradient (U and U' per pair, once per trial
point), the Newton matrix (U'' per pair), the factorisation with its solve, and a
solve with an existing factor (a chord step's linear algebra). The reference is one
``numpy.linalg.cholesky`` of a (n/2) x (n/2) matrix in this process, taken before
the first utility and after each (the smaller of the two nearest is used).

    .venv/bin/python benchmarks/profile_large_n.py                       # n = 10000, every built-in
    .venv/bin/python benchmarks/profile_large_n.py --n 5000 --utilities log exp:1
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from collapse_theory._core.precision import float64
from collapse_theory.problems.utilities import parse_utility
from collapse_theory.solver import _newton, _projected_newton, _symmetric
from collapse_theory.solver import utility_solver as solver

UTILITIES = ("linear", "power:0.5", "log", "neg-power:1", "log-sigmoid:4", "exp:1", "square")

#: Factorisations done by the polish since the last reset, counted by a host callback.
FACTORISATIONS = {"count": 0}


def _count_factorisations() -> None:
    """Wrap the polish's factorisation step with a host callback that counts the ones that run."""
    original = _projected_newton.refactorised

    def counted(phase: Any, state: Any, fallback: Any, refactorise: jax.Array) -> Any:
        def add(flag: Any) -> None:
            FACTORISATIONS["count"] += int(np.sum(flag))

        jax.debug.callback(add, refactorise)
        return original(phase, state, fallback, refactorise)

    _projected_newton.refactorised = counted


def timed(function: Callable[[], Any], repeats: int = 1) -> tuple[float, float, Any]:
    """(CPU seconds, wall seconds, result) of the fastest of ``repeats`` calls."""
    best_cpu, best_wall, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        result = jax.block_until_ready(function())
        best_cpu, best_wall = min(best_cpu, time.process_time() - cpu), min(best_wall, time.perf_counter() - wall)
    return best_cpu, best_wall, result


def cholesky_reference(m: int) -> tuple[float, float]:
    """CPU and wall seconds of one numpy Cholesky factorisation of an m x m SPD matrix (best of 3)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, m))
    matrix = a @ a.T + m * np.eye(m)
    cpu, wall, _ = timed(lambda: np.linalg.cholesky(matrix), repeats=3)
    return cpu, wall


def building_blocks(spec: str, n: int) -> dict[str, float]:
    """CPU seconds of each building block of a polish step at n's padded size."""
    utility = parse_utility(spec)
    size = solver.bucket_size(n // 2)
    with float64():
        y = jnp.asarray(solver._interior_start(n, size, None))
        params = jnp.asarray(utility.parameters or (0.0,), dtype=jnp.float64)
        layout = _symmetric.Layout(jnp.asarray(n), size)
        everything = jnp.ones(size, dtype=bool)

        # the parameters are arguments, as in the solver: a constant power 0.5 would compile to a sqrt
        @jax.jit
        def value_and_gradient_at(y: jax.Array, params: jax.Array) -> Any:
            return _symmetric.value_and_gradient(y, params, utility.function, layout)

        @jax.jit
        def newton_matrix_at(y: jax.Array, params: jax.Array) -> jax.Array:
            return _symmetric.newton_matrix(y, params, utility.function, layout, False)

        def value_and_gradient(y: jax.Array) -> Any:
            return value_and_gradient_at(y, params)

        def newton_matrix(y: jax.Array) -> jax.Array:
            return newton_matrix_at(y, params)

        @jax.jit
        def factorise_and_solve(matrix: jax.Array, rhs: jax.Array) -> tuple[_newton.Factor, jax.Array]:
            factor = _newton.factorise(matrix, everything)
            return factor, _newton.factored_solve(factor, rhs)

        @jax.jit
        def chord_solve(factor: _newton.Factor, rhs: jax.Array) -> jax.Array:
            return _newton.factored_solve(factor, rhs)

        blocks = {}
        for name, block in (("value and gradient", lambda: value_and_gradient(y)), ("Newton matrix", lambda: newton_matrix(y))):
            timed(block)
            blocks[name] = timed(block, 2)[0]
        _, gradient = value_and_gradient(y)
        factor, _ = factorise_and_solve(newton_matrix(y), gradient)
        blocks["factorisation and solve"] = min(
            timed(lambda: factorise_and_solve(newton_matrix(y), gradient))[0] for _ in range(2)
        )
        blocks["factorisation and solve"] -= blocks["Newton matrix"]
        timed(lambda: chord_solve(factor, gradient))
        blocks["chord solve"] = timed(lambda: chord_solve(factor, gradient), 2)[0]
    return blocks


def profile(spec: str, n: int) -> dict[str, Any]:
    """Cold and warm solves of one utility, the start's share and the building blocks."""
    utility = parse_utility(spec)
    cold = timed(lambda: solver.solve(utility, n))[0]
    FACTORISATIONS["count"] = 0
    cpu, wall, solution = timed(lambda: solver.solve(utility, n))
    solve_factorisations = FACTORISATIONS["count"]
    row: dict[str, Any] = {
        "utility": spec,
        "cold cpu": cold,
        "warm cpu": cpu,
        "warm wall": wall,
        "status": solution.status.value,
        "steps": solution.iterations,
        "gap": solution.gap,
    }
    if not (utility.affine or utility.convex):
        size = solver.bucket_size(n // 2)
        FACTORISATIONS["count"] = 0
        with float64():
            row["start cpu"] = timed(lambda: solver._guesses([(utility, n)], size, solver.DEFAULT_TOLERANCE))[0]
        row["factorisations at n"] = solve_factorisations - FACTORISATIONS["count"]
        row["factorisations in the start"] = FACTORISATIONS["count"]
        row.update(building_blocks(spec, n))
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--utilities", nargs="+", default=list(UTILITIES))
    arguments = parser.parse_args(argv)
    _count_factorisations()
    references = [cholesky_reference(arguments.n // 2)]
    print(f"numpy cholesky {arguments.n // 2} x {arguments.n // 2}: cpu {references[0][0]:.3f} s, wall {references[0][1]:.3f} s")
    for spec in arguments.utilities:
        row = profile(spec, arguments.n)
        references.append(cholesky_reference(arguments.n // 2))
        reference_cpu = min(cpu for cpu, _ in references[-2:])
        reference_wall = min(wall for _, wall in references[-2:])
        ratios = f"{row['warm cpu'] / reference_cpu:.2f} choleskys (cpu), {row['warm wall'] / reference_wall:.2f} (wall)"
        details = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items() if k != "utility")
        print(f"{spec}: {ratios}; {details}; load {os.getloadavg()[0]:.1f}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {peak:.2f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
