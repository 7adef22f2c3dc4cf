"""The solver at n = 10^5 on one GPU (issue 16, part 4): one script, run once where a GPU is lent.

For each utility (default ``log`` and ``log-sigmoid:4``): a first solve (compiles), then a
second, timed, in the same process, with its status, polish steps, certificate (gap /
scale) and, for ``log``, the largest distance to the Gauss-Lobatto nodes; the device's peak
memory where JAX reports it. The symmetric Hessian at n = 10^5 is 5 x 10^4 square, 20 GB in
float64. Without a GPU it says so and exits 0, unless ``--cpu`` asks to run anyway (a check of
the script itself at a small n).

Usage::

    python benchmarks/gpu_solver_check.py [--n 100000] [--utilities log log-sigmoid:4] [--json FILE]
    python benchmarks/gpu_solver_check.py --cpu --n 2000          # the script itself, on a CPU

Exit status: 0 when every solve is certified (or there is no GPU), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from collapse_theory._core.io import atomic_write_text
from collapse_theory.laws.limits import gauss_lobatto_rewards
from collapse_theory.problems.utilities import parse_utility
from collapse_theory.solver import utility_solver as solver


def check(spec: str, n: int) -> dict[str, Any]:
    """Cold and warm solve of one utility at n; the warm one's figures."""
    utility = parse_utility(spec)
    start = time.perf_counter()
    solver.solve(utility, n)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    solution = solver.solve(utility, n)
    warm = time.perf_counter() - start
    row: dict[str, Any] = {
        "utility": spec,
        "n": n,
        "cold_seconds": cold,
        "warm_seconds": warm,
        "status": solution.status.value,
        "certified": solution.certified,
        "steps": solution.iterations,
        "gap": solution.gap,
    }
    if spec == "log":
        row["max_abs_error_vs_gauss_lobatto"] = float(np.max(np.abs(solution.rewards - gauss_lobatto_rewards(n))))
    return row


def peak_device_bytes() -> int | None:
    """The first device's peak memory in bytes, where the backend reports it."""
    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--utilities", nargs="+", default=["log", "log-sigmoid:4"])
    parser.add_argument("--cpu", action="store_true", help="run without a GPU too (a check of the script)")
    parser.add_argument("--json", help="also write the rows to this file")
    arguments = parser.parse_args(argv)
    backend = jax.default_backend()
    if backend != "gpu" and not arguments.cpu:
        print(f"no GPU: JAX's backend is {backend}; nothing measured")
        return 0
    print(f"device: {jax.devices()[0].device_kind} ({backend}), jax {jax.__version__}", flush=True)
    rows = []
    for spec in arguments.utilities:
        row = check(spec, arguments.n)
        row["peak_device_bytes"] = peak_device_bytes()
        rows.append(row)
        print(json.dumps(row), flush=True)
    if arguments.json:
        atomic_write_text(arguments.json, json.dumps(rows, indent=2) + "\n")
    return 0 if all(row["certified"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
