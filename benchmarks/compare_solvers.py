"""Benchmark: ``collapse_theory.solve`` against CVXPY (Clarabel, SCS) and scipy.optimize (SLSQP, trust-constr).

The problem (Song, Cai, Lee, Su, arXiv 2305.17608, eq. (3.2)):

.. math::

    \\max_r \\sum_{1 \\le i < j \\le n} U(r_i - r_j) \\quad \\text{s.t.} \\quad 1 \\ge r_1 \\ge \\dots \\ge r_n \\ge 0 .

Every peer gets the problem as a user would write it: CVXPY with a variable r,
the constraints ``r[0] <= 1``, ``r[:-1] >= r[1:]``, ``r[-1] >= 0`` and the sum of
``cp.log`` / ``cp.power`` / ``-cp.inv_pos`` / ``-cp.logistic`` / ``-cp.exp`` atoms of the
pairwise differences (a sparse difference matrix times r); scipy with the same
linear constraints, -S and its gradient in NumPy, from the evenly spaced start.
Each peer solve runs in its own process with a wall-clock limit (``--time-limit``)
and a memory cap, so a hung or exhausted peer is recorded and skipped at larger n.

Accuracy is measured against the best available reference: the Gauss-Lobatto
nodes for ``log`` (scipy's Jacobi roots), the certified ``collapse_theory`` solve
otherwise. Our times are after compilation (a first call at the same n compiles;
its time is reported separately). Not a test: run it by hand on a quiet machine.

Usage::

    python benchmarks/compare_solvers.py --quick              # small n, about a minute
    python benchmarks/compare_solvers.py                      # the full table (long)
    python benchmarks/compare_solvers.py --utilities log --ns 100 316 --out /tmp/log.md
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import queue
import resource
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

PEERS = ("cvxpy-clarabel", "cvxpy-scs", "scipy-slsqp", "scipy-trust-constr")
FULL_NS = (8, 32, 100, 316, 1000, 2000)
OURS_ONLY_NS = (5000, 10000)
QUICK_NS = (8, 32)
FULL_UTILITIES = ("log", "power:0.5", "neg-power:1", "log-sigmoid:4", "exp:1", "linear", "square")
QUICK_UTILITIES = ("log", "neg-power:1")
#: n at which every built-in must solve in under 1 s after compilation (issue 2, item 8).
TARGET_N = 1000
#: A tool "solves" a problem when it reports success, breaches no constraint by more than
#: SOLVED_VIOLATION and its objective is within SOLVED_GAP * max(1, |S*|) of the reference's.
SOLVED_GAP = 1e-6
SOLVED_VIOLATION = 1e-6
DEFAULT_MEMORY_GIB = 6.0
#: Timing: a solve is repeated (the timeit convention) while the repeats fit in REPEAT_BUDGET
#: seconds, at most REPEATS times, and the fastest run is reported; ours and the peers alike.
REPEATS = 5
REPEAT_BUDGET = 2.0
#: Bisection steps between the largest n a peer solves on the grid and the next grid n,
#: where it failed quickly (an error or an inaccurate answer, not a timeout).
REFINE_STEPS = 6


# --- the problem in NumPy, as a scipy user would write it ---------------------------


def numpy_utility(spec: str) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """U and U' of a built-in spec in NumPy."""
    family, _, argument = spec.partition(":")
    p = float(argument) if argument else 0.0
    table: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
        "linear": (lambda x: x, np.ones_like),
        "power": (lambda x: x**p, lambda x: p * x ** (p - 1)),
        "log": (np.log, lambda x: 1 / x),
        "neg-power": (lambda x: -(x ** (-p)), lambda x: p * x ** (-p - 1)),
        "log-sigmoid": (lambda x: -np.logaddexp(0.0, -p * x), lambda x: p / (1 + np.exp(p * x))),
        "exp": (lambda x: -np.expm1(-p * x), lambda x: p * np.exp(-p * x)),
        "square": (lambda x: x * x, lambda x: 2 * x),
    }
    return table[family]


def pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices i < j of all ranked pairs."""
    i, j = np.triu_indices(n, k=1)
    return i, j


def order_matrix(n: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """Rows r_1 <= 1, r_k - r_{k+1} >= 0, r_n >= 0 as a sparse matrix with bounds."""
    import scipy.sparse

    rows = [scipy.sparse.csr_matrix(([1.0], ([0], [0])), shape=(1, n))]
    rows.append(scipy.sparse.diags([np.ones(n - 1), -np.ones(n - 1)], [0, 1], shape=(n - 1, n), format="csr"))
    rows.append(scipy.sparse.csr_matrix(([1.0], ([0], [n - 1])), shape=(1, n)))
    matrix = scipy.sparse.vstack(rows, format="csr")
    lower = np.r_[-np.inf, np.zeros(n - 1), 0.0]
    upper = np.r_[1.0, np.full(n - 1, np.inf), np.inf]
    return matrix, lower, upper


def evenly_spaced(n: int) -> np.ndarray:
    """The strictly feasible start r_k = 1 - (k - 1/2)/n."""
    return 1.0 - (np.arange(n) + 0.5) / n


# --- peers ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one tool returned for one (utility, n)."""

    tool: str
    status: str  # "ok", "inaccurate", "failed", "timeout", "skipped", "error"
    seconds: float = float("nan")
    rewards: np.ndarray | None = None
    message: str = ""
    compile_seconds: float = float("nan")
    error: float = float("nan")  # max abs reward error vs the reference
    objective_gap: float = float("nan")  # S(reference) - S(rewards)
    violation: float = float("nan")  # largest violation of the order constraints
    extra: dict[str, Any] = field(default_factory=dict)


def cvxpy_objective(spec: str, differences: Any) -> Any:
    """The concave CVXPY expression sum U(d) (raises for square: maximising a convex function is not DCP)."""
    import cvxpy as cp

    family, _, argument = spec.partition(":")
    p = float(argument) if argument else 0.0
    if family == "linear":
        return cp.sum(differences)
    if family == "power":
        return cp.sum(cp.power(differences, p))
    if family == "log":
        return cp.sum(cp.log(differences))
    if family == "neg-power":
        return -cp.sum(cp.inv_pos(differences)) if p == 1.0 else -cp.sum(cp.power(differences, -p))
    if family == "log-sigmoid":
        return -cp.sum(cp.logistic(-p * differences))
    if family == "exp":
        return cp.sum(1 - cp.exp(-p * differences))
    if family == "square":
        return cp.sum_squares(differences)
    raise ValueError(f"no CVXPY form for {spec!r}")


def solve_with_cvxpy(spec: str, n: int, solver: str) -> tuple[str, np.ndarray | None, str]:
    """Build and solve the problem with CVXPY; returns (status, rewards, message)."""
    import cvxpy as cp
    import scipy.sparse

    i, j = pairs(n)
    count = len(i)
    difference = scipy.sparse.csr_matrix(
        (np.r_[np.ones(count), -np.ones(count)], (np.r_[np.arange(count), np.arange(count)], np.r_[i, j])), shape=(count, n)
    )
    r = cp.Variable(n)
    constraints = [r[0] <= 1, r[:-1] >= r[1:], r[-1] >= 0]
    problem = cp.Problem(cp.Maximize(cvxpy_objective(spec, difference @ r)), constraints)
    problem.solve(solver=solver)
    status = str(problem.status)
    rewards = None if r.value is None else np.asarray(r.value, dtype=np.float64)
    outcome = "ok" if status == cp.OPTIMAL else ("inaccurate" if status == cp.OPTIMAL_INACCURATE else "failed")
    return outcome, rewards, f"status {status}"


def solve_with_scipy(spec: str, n: int, method: str) -> tuple[str, np.ndarray | None, str]:
    """Minimise -S with scipy.optimize under the linear order constraints."""
    import scipy.optimize

    value, slope = numpy_utility(spec)
    i, j = pairs(n)

    def negative_objective(r: np.ndarray) -> tuple[float, np.ndarray]:
        d = r[i] - r[j]
        with np.errstate(all="ignore"):
            s = slope(d)
            g = np.bincount(i, s, minlength=n) - np.bincount(j, s, minlength=n)
            return -float(np.sum(value(d))), -g

    matrix, lower, upper = order_matrix(n)
    if method == "SLSQP":
        constraint = scipy.optimize.LinearConstraint(matrix.toarray(), lower, upper)
        options: dict[str, Any] = {"ftol": 1e-12, "maxiter": 1000}
        result = scipy.optimize.minimize(
            negative_objective, evenly_spaced(n), jac=True, method="SLSQP", constraints=[constraint], options=options
        )
    else:
        constraint = scipy.optimize.LinearConstraint(matrix, lower, upper)
        options = {"gtol": 1e-10, "xtol": 1e-12, "maxiter": 5000}
        result = scipy.optimize.minimize(
            negative_objective,
            evenly_spaced(n),
            jac=True,
            hess=scipy.optimize.BFGS(),
            method="trust-constr",
            constraints=[constraint],
            options=options,
        )
    status = "ok" if result.success else "failed"
    return status, np.asarray(result.x, dtype=np.float64), str(result.message)


PEER_FUNCTIONS: dict[str, Callable[[str, int], tuple[str, np.ndarray | None, str]]] = {
    "cvxpy-clarabel": lambda spec, n: solve_with_cvxpy(spec, n, "CLARABEL"),
    "cvxpy-scs": lambda spec, n: solve_with_cvxpy(spec, n, "SCS"),
    "scipy-slsqp": lambda spec, n: solve_with_scipy(spec, n, "SLSQP"),
    "scipy-trust-constr": lambda spec, n: solve_with_scipy(spec, n, "trust-constr"),
}


def best_of(solve: Callable[[], Any]) -> tuple[Any, float]:
    """The first call's answer and the fastest of up to REPEATS timed calls.

    Repeats stop once another would take the total past REPEAT_BUDGET seconds, so a
    slow solve is timed once. The minimum is the usual estimate of a function's cost
    on a noisy machine (the timeit convention); it is applied to every tool alike.
    """
    start = time.perf_counter()
    answer = solve()
    best = total = time.perf_counter() - start
    for _ in range(REPEATS - 1):
        if total + best > REPEAT_BUDGET:
            break
        start = time.perf_counter()
        solve()
        elapsed = time.perf_counter() - start
        best, total = min(best, elapsed), total + elapsed
    return answer, best


def _peer_worker(tool: str, spec: str, n: int, memory_bytes: int, results: Any) -> None:
    """Child process: cap memory, warm up, solve, send (status, seconds, rewards, message)."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:  # a tiny solve first, so lazy imports and first-call set-up are not charged to the timed solve
        PEER_FUNCTIONS[tool](spec, 3)
    except Exception:  # the timed solve below reports any real failure
        pass
    start = time.perf_counter()
    try:
        (status, rewards, message), seconds = best_of(lambda: PEER_FUNCTIONS[tool](spec, n))
    except MemoryError:
        status, rewards, message = "error", None, f"MemoryError (cap {memory_bytes / 2**30:.0f} GiB)"
        seconds = time.perf_counter() - start
    except Exception as error:  # a peer's failure is a result, reported in the table
        lines = traceback.format_exception_only(type(error), error)
        status, rewards, message = "error", None, lines[-1].strip().splitlines()[0][:200]
        seconds = time.perf_counter() - start
    results.put((status, seconds, rewards, message))


def run_peer(tool: str, spec: str, n: int, time_limit: float, memory_gib: float) -> Outcome:
    """One peer solve in a fresh process, killed after ``time_limit`` seconds."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_peer_worker, args=(tool, spec, n, int(memory_gib * 2**30), results), daemon=True)
    process.start()
    try:
        # generous start-up allowance: the child imports cvxpy / scipy before its clock starts
        status, seconds, rewards, message = results.get(timeout=time_limit + REPEAT_BUDGET + 30.0)
    except queue.Empty:
        process.kill()
        process.join()
        return Outcome(tool, "timeout", message=f"no answer within {time_limit:g} s (killed)")
    process.join(timeout=30.0)
    if seconds > time_limit:
        return Outcome(tool, "timeout", seconds, message=f"took {seconds:.0f} s > limit {time_limit:g} s")
    return Outcome(tool, status, seconds, rewards, message)


# --- ours and the reference ----------------------------------------------------------


def run_ours(spec: str, n: int) -> Outcome:
    """collapse_theory.solve: a first call that compiles, then the timed calls (:func:`best_of`).

    The first call uses a loose tolerance (tol is a run-time argument of the
    compiled program, so the program is the same) to keep it short at large n.
    """
    from collapse_theory.solver.utility_solver import solve

    start = time.perf_counter()
    solve(spec, n, tol=0.5)
    compile_seconds = time.perf_counter() - start
    solution, seconds = best_of(lambda: solve(spec, n))
    status = "ok" if solution.converged else "failed"
    outcome = Outcome("collapse_theory", status, seconds, solution.rewards, solution.message, compile_seconds)
    outcome.extra.update(gap=solution.gap, certified=solution.certified, objective=solution.objective)
    return outcome


def reference_rewards(spec: str, n: int, ours: Outcome) -> tuple[np.ndarray, str]:
    """Gauss-Lobatto nodes for log, our certified solution otherwise."""
    from collapse_theory.laws.limits import gauss_lobatto_rewards

    if spec == "log":
        return gauss_lobatto_rewards(n), "Gauss-Lobatto nodes (scipy Jacobi roots)"
    assert ours.rewards is not None
    return ours.rewards, "collapse_theory certified solve" if ours.extra.get("certified") else "collapse_theory (not certified)"


class Reference(NamedTuple):
    """What every row at one (utility, n) is judged against."""

    ours: Outcome  # our solve at this (utility, n), the denominator of the speed-ups
    rewards: np.ndarray
    name: str
    objective: float  # S(rewards)


def order_restored(rewards: np.ndarray) -> np.ndarray:
    """Rewards clipped to [0, 1] and made non-increasing (a running minimum).

    No reward moves by more than the constraint violation, so a solver whose answer
    breaches the order by a rounding error is scored at a feasible point, where S is
    defined (S(r) = NaN for ``power:G`` at r_i < r_j), instead of failing on it.
    """
    return np.minimum.accumulate(np.clip(rewards, 0.0, 1.0))


def score(outcome: Outcome, spec: str, reference: Reference) -> None:
    """Fill in the reward error, objective gap and constraint violation of an outcome."""
    from collapse_theory.solver.utility_solver import objective_value

    if outcome.rewards is None or outcome.rewards.shape != reference.rewards.shape:
        return
    r = outcome.rewards
    outcome.error = float(np.max(np.abs(r - reference.rewards)))
    outcome.violation = float(max(0.0, r[0] - 1.0, -r[-1], float(np.max(r[1:] - r[:-1])) if len(r) > 1 else 0.0))
    with np.errstate(all="ignore"):
        outcome.objective_gap = reference.objective - objective_value(spec, order_restored(r))


def solved(outcome: Outcome, reference_objective: float) -> bool:
    """Reported success, feasible to SOLVED_VIOLATION and objective within SOLVED_GAP (relative)."""
    return (
        outcome.status == "ok"
        and np.isfinite(outcome.objective_gap)
        and outcome.violation <= SOLVED_VIOLATION
        and abs(outcome.objective_gap) <= SOLVED_GAP * max(1.0, abs(reference_objective))
    )


# --- the run -------------------------------------------------------------------------


def benchmark(
    utilities: Sequence[str],
    ns: Sequence[int],
    ours_only_ns: Sequence[int],
    peers: Sequence[str],
    time_limit: float,
    memory_gib: float,
    refine: bool = True,
) -> list[dict[str, Any]]:
    """Every (utility, n): ours, then each peer still in the race; one row per tool.

    With ``refine``, the largest n each peer solves is then located between grid
    points by bisection (:func:`refine_largest_solved`).
    """
    rows: list[dict[str, Any]] = []
    out_of_race: dict[tuple[str, str], str] = {}
    for spec in utilities:
        for n in [*ns, *ours_only_ns]:
            reference = measure_ours(spec, n)
            rows.append(_row(spec, n, reference.ours, reference))
            for tool in peers if n in ns else ():
                if (spec, tool) in out_of_race:
                    outcome = Outcome(tool, "skipped", message=out_of_race[(spec, tool)])
                else:
                    outcome = run_peer(tool, spec, n, time_limit, memory_gib)
                    score(outcome, spec, reference)
                    if outcome.status in ("timeout", "error", "failed"):
                        out_of_race[(spec, tool)] = f"{outcome.status} at n={n}"
                rows.append(_row(spec, n, outcome, reference))
        for tool in peers if refine else ():
            rows += refine_largest_solved(spec, tool, rows, time_limit, memory_gib)
    return rows


def measure_ours(spec: str, n: int) -> Reference:
    """Our solve at (spec, n), scored, in the reference every row at this n is judged against."""
    from collapse_theory.solver.utility_solver import objective_value

    ours = run_ours(spec, n)
    rewards, name = reference_rewards(spec, n, ours)
    reference = Reference(ours, rewards, name, objective_value(spec, rewards))
    score(ours, spec, reference)
    return reference


def refine_largest_solved(
    spec: str, tool: str, rows: list[dict[str, Any]], time_limit: float, memory_gib: float
) -> list[dict[str, Any]]:
    """Bisect between the largest grid n a peer solves and the next grid n, where it failed quickly.

    The speed-up target is set at the largest n a peer solves; on a coarse grid that
    n is only a lower bound. A peer that timed out is not bisected (each step would
    cost up to the time limit). Returns the new rows (ours and the peer at each n tried).
    """
    mine = [row for row in rows if row["utility"] == spec and row["outcome"].tool == tool]
    solved_ns = [row["n"] for row in mine if row["solved"]]
    if not solved_ns:
        return []
    low = max(solved_ns)
    failures = sorted((row for row in mine if row["n"] > low and row["outcome"].status != "skipped"), key=lambda row: row["n"])
    if not failures or failures[0]["outcome"].status == "timeout":
        return []
    high = failures[0]["n"]
    new_rows: list[dict[str, Any]] = []
    for _ in range(REFINE_STEPS):
        if high - low <= 1:
            break
        n = (low + high) // 2
        reference = measure_ours(spec, n)
        ours = reference.ours
        outcome = run_peer(tool, spec, n, time_limit, memory_gib)
        score(outcome, spec, reference)
        prefix = f"bisection for the largest n {tool} solves; "
        ours.message, outcome.message = prefix + ours.message, prefix + outcome.message
        new_rows += [_row(spec, n, ours, reference, refined=True), _row(spec, n, outcome, reference, refined=True)]
        if new_rows[-1]["solved"]:
            low = n
        elif outcome.status == "timeout":
            break
        else:
            high = n
    return new_rows


def _row(spec: str, n: int, outcome: Outcome, reference: Reference, refined: bool = False) -> dict[str, Any]:
    """One table row; printed as progress."""
    first_call = f" (first call {outcome.compile_seconds:.1f} s)" if outcome.tool == "collapse_theory" else ""
    progress = f"{spec:>14} n={n:<6} {outcome.tool:<18} {outcome.seconds:9.3g} s{first_call}  {outcome.status:<10}"
    print(f"{progress} err {outcome.error:.2e}  {outcome.message}", flush=True)
    row_solved = solved(outcome, reference.objective)
    row = {"utility": spec, "n": n, "outcome": outcome, "reference": reference.name, "ours": reference.ours, "solved": row_solved}
    return row | {"refined": refined}


def targets(utilities: Sequence[str]) -> list[dict[str, Any]]:
    """Our time at n = TARGET_N for every built-in (after compilation)."""
    found = []
    for spec in utilities:
        outcome = run_ours(spec, TARGET_N)
        found.append({"utility": spec, "outcome": outcome})
        print(f"target n={TARGET_N} {spec:>14}: {outcome.seconds:.3g} s (first call {outcome.compile_seconds:.1f} s)", flush=True)
    return found


# --- the report ----------------------------------------------------------------------


def _number(value: float, spec: str = ".2e") -> str:
    return "-" if value is None or not np.isfinite(value) else format(value, spec)


def _seconds(value: float) -> str:
    """Three significant figures: a peer's milliseconds and our microseconds both stay readable."""
    return _number(value, ".3g")


def _times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:,.0f}x"


def _ratio(outcome: Outcome, ours: Outcome) -> str:
    if outcome.tool == "collapse_theory" or not np.isfinite(outcome.seconds) or outcome.status in ("timeout", "skipped", "error"):
        return "-"
    return _times(outcome.seconds / ours.seconds) if ours.seconds > 0 else "-"


def render(rows: list[dict[str, Any]], target_rows: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    """The Markdown report: settings, the per-(utility, n, tool) table, the summary and the targets."""
    lines = ["# Solver benchmark: collapse_theory vs CVXPY and scipy.optimize", ""]
    lines += [f"- {key}: {value}" for key, value in settings.items()]
    lines += [
        "",
        f"Times are wall-clock seconds of one solve, problem set-up included: the fastest of up to {REPEATS} runs that fit in",
        f"{REPEAT_BUDGET:g} s (one run when it takes longer), for every tool; peers after a warm-up solve at n = 3 in the same",
        "process; ours after compilation (in brackets: the first call, which compiles, run at a loose tolerance).",
        "Rows marked *bisection* locate the largest n a peer solves between two grid points (it failed at the larger one",
        "with an error or an inaccurate answer).",
        "`x ours` = peer time / our time at the same (utility, n), measured in this run.",
        "Error = max abs reward error vs the reference (Gauss-Lobatto for log, our certified solve otherwise);",
        "objective gap = S(reference) - S(rewards), S taken at the rewards clipped to [0, 1] and put in order (no reward",
        "moves by more than the violation); violation = worst breach of 1 >= r_1 >= ... >= r_n >= 0.",
        f"A tool *solves* a problem when it reports success, breaches no constraint by more than {SOLVED_VIOLATION:g} and "
        f"|objective gap| <= {SOLVED_GAP:g} * max(1, |S|).",
        "",
        "| utility | n | tool | status | seconds | x ours | max reward error | objective gap | violation | solved | note |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    order = {spec: k for k, spec in enumerate(dict.fromkeys(row["utility"] for row in rows))}
    rows = sorted(rows, key=lambda row: (order[row["utility"]], row["n"]))  # bisection rows in place (a stable sort)
    for row in rows:
        o: Outcome = row["outcome"]
        seconds = _seconds(o.seconds)
        if o.tool == "collapse_theory":
            seconds += f" ({o.compile_seconds:.1f})"
        note = o.message.replace("|", "/")[:120]
        cells = [row["utility"], row["n"], o.tool, o.status, seconds, _ratio(o, row["ours"]), _number(o.error)]
        cells += [_number(o.objective_gap), _number(o.violation), "yes" if row["solved"] else "no", note]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines += ["", "## Largest n each peer solves, and our speed-up there", ""]
    lines += [
        "| utility | peer | largest n solved | peer seconds | our seconds | speed-up | first failure |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    utilities = list(dict.fromkeys(row["utility"] for row in rows))
    peers = list(dict.fromkeys(row["outcome"].tool for row in rows if row["outcome"].tool != "collapse_theory"))
    for spec in utilities:
        for tool in peers:
            mine = [row for row in rows if row["utility"] == spec and row["outcome"].tool == tool]
            good = [row for row in mine if row["solved"]]
            largest = good[-1]["n"] if good else 0
            bad = [row for row in mine if not row["solved"] and row["outcome"].status != "skipped" and row["n"] > largest]
            failure = "-"
            if bad:
                first = bad[0]["outcome"]
                failure = f"n={bad[0]['n']}: {first.status} ({first.message[:60]})".replace("|", "/")
            if good:
                best = good[-1]
                o, ours = best["outcome"], best["ours"]
                speed_up = _times(o.seconds / ours.seconds)
                where = f"{best['n']} (bisection)" if best["refined"] else str(best["n"])
                lines.append(
                    f"| {spec} | {tool} | {where} | {_seconds(o.seconds)} | {_seconds(ours.seconds)} | {speed_up} | {failure} |"
                )
            else:
                lines.append(f"| {spec} | {tool} | none | - | - | - | {failure} |")
    if target_rows:
        lines += ["", f"## Target: every built-in at n = {TARGET_N} in under 1 s after compilation", ""]
        lines += [
            "| utility | seconds | first call (compiles) | converged | certified | under 1 s |",
            "|---|---:|---:|---|---|---|",
        ]
        for row in target_rows:
            o = row["outcome"]
            cells = [row["utility"], _seconds(o.seconds), f"{o.compile_seconds:.1f}", o.status == "ok", o.extra.get("certified")]
            cells.append("yes" if o.seconds < 1.0 else "NO")
            lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    large = [row for row in rows if row["outcome"].tool == "collapse_theory" and row["n"] >= 5000]
    if large:
        lines += ["", "## Ours alone at large n (target: n = 10000 in under 60 s)", ""]
        lines += ["| utility | n | seconds | first call | converged | certificate gap |", "|---|---:|---:|---:|---|---:|"]
        for row in large:
            o = row["outcome"]
            gap = _number(o.extra.get("gap", float("nan")))
            lines.append(
                f"| {row['utility']} | {row['n']} | {_seconds(o.seconds)} | {o.compile_seconds:.1f} | {o.status == 'ok'} | {gap} |"
            )
    return "\n".join(lines) + "\n"


def _settings(arguments: argparse.Namespace) -> dict[str, Any]:
    import cvxpy
    import jax
    import scipy

    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start",
        "versions": (
            f"python {platform.python_version()}, jax {jax.__version__}, cvxpy {cvxpy.__version__}, scipy {scipy.__version__}"
        ),
        "mode": "quick" if arguments.quick else "full",
        "per-solve time limit": (
            f"{arguments.time_limit:g} s (each peer solve runs in its own process, memory cap {arguments.memory_gib:g} GiB)"
        ),
        "peer options": "CVXPY defaults; SLSQP ftol 1e-12, maxiter 1000; trust-constr gtol 1e-10, xtol 1e-12, BFGS Hessian",
    }


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options (n and utility specs validated as by ``collapse-theory solve``)."""
    from collapse_theory.commands.solve import completions, utility_spec

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"small n only ({', '.join(map(str, QUICK_NS))}), two utilities")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).with_name("results.md"),
        help="Markdown output (default: benchmarks/results.md)",
    )
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per peer solve (default: 120)")
    parser.add_argument("--memory-gib", type=float, default=DEFAULT_MEMORY_GIB, help="memory cap per peer process (default: 6)")
    parser.add_argument("--utilities", nargs="+", type=utility_spec, help="utility specs (default: all built-ins)")
    parser.add_argument("--ns", nargs="+", type=completions, help="n for ours and the peers")
    parser.add_argument("--large-ns", nargs="*", type=completions, help=f"n for ours alone (default: {OURS_ONLY_NS})")
    parser.add_argument("--peers", nargs="*", choices=PEERS, default=list(PEERS), help="peers to run (default: all)")
    parser.add_argument("--no-targets", action="store_true", help=f"skip the n = {TARGET_N} timing of every built-in")
    parser.add_argument(
        "--no-refine", action="store_true", help="do not bisect for the largest n a peer solves between grid points"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the Markdown table and write it atomically to --out."""
    arguments = parse_arguments(argv)
    if arguments.time_limit <= 0:
        print("compare_solvers: error: --time-limit must be positive", file=sys.stderr)
        return 2
    from collapse_theory._core.io import atomic_write_text
    from collapse_theory.problems.utilities import DEFAULT_SPECS

    utilities = arguments.utilities or list(QUICK_UTILITIES if arguments.quick else FULL_UTILITIES)
    ns = arguments.ns or list(QUICK_NS if arguments.quick else FULL_NS)
    large_ns = arguments.large_ns if arguments.large_ns is not None else ([] if arguments.quick else list(OURS_ONLY_NS))
    settings = _settings(arguments)
    rows = benchmark(
        utilities, ns, large_ns, arguments.peers, arguments.time_limit, arguments.memory_gib, refine=not arguments.no_refine
    )
    target_rows = [] if (arguments.quick or arguments.no_targets) else targets(DEFAULT_SPECS)
    report = render(rows, target_rows, settings)
    print(report)
    atomic_write_text(arguments.out, report)
    print(f"wrote {arguments.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
