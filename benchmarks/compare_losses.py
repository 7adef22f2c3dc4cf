"""collapse_theory's loss solver against CVXPY on the same problems: time ratios and accuracy.

Problems CVXPY can express (DCP) on free rewards r_1 >= ... >= r_n:

* IPO, ``ipo:BETA``: maximise -sum_{i<j} (r_i - r_j - TAU)^2, TAU = 1/(2 BETA), with sum r = 0;
* Open-Assistant, ``log-sigmoid:1+free+l2:BETA``: log sigmoid(x) = -logistic(-x);
* ListMLE with l2, ``plackett-luce:1+free+l2:BETA``: -log_sum_exp over suffixes.

Each is solved once by each side (our solver after one warm-up call for compilation;
CVXPY with Clarabel). Reported: seconds, the ratio, |F_ours - F_cvxpy| / |F|, and
max |r_ours - r_cvxpy|.

Run: ``python benchmarks/compare_losses.py --n 50 100``
"""

from __future__ import annotations

import argparse
import time

import cvxpy as cp
import numpy as np

from collapse_theory.solver.loss_solver import loss_value, solve_loss


def _cvxpy_problem(spec: str, n: int) -> tuple[cp.Problem, cp.Variable]:
    r = cp.Variable(n)
    rows, cols = np.triu_indices(n, 1)
    difference = r[rows] - r[cols]
    constraints = [r[:-1] >= r[1:], cp.sum(r) == 0]
    if spec.startswith("ipo:"):
        tau = 1.0 / (2.0 * float(spec.split(":")[1]))  # TRL's beta: target margin 1/(2 beta)
        objective = -cp.sum_squares(difference - tau)
    elif spec.startswith("log-sigmoid:1+free+l2:"):
        beta = float(spec.rsplit(":", 1)[1])
        objective = -cp.sum(cp.logistic(-difference)) - beta * (n - 1) / 2 * cp.sum_squares(r)
    elif spec.startswith("plackett-luce:1+free+l2:"):
        beta = float(spec.rsplit(":", 1)[1])
        terms = [r[i] - cp.log_sum_exp(r[i:]) for i in range(n - 1)]
        objective = cp.sum(cp.hstack(terms)) - beta * (n - 1) / 2 * cp.sum_squares(r)
    else:
        raise ValueError(spec)
    return cp.Problem(cp.Maximize(objective), constraints), r


SPECS = ("ipo:1", "log-sigmoid:1+free+l2:0.001", "plackett-luce:1+free+l2:0.001")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50, 100])
    arguments = parser.parse_args()
    print(f"{'loss':34s} {'n':>5s} {'ours s':>8s} {'cvxpy s':>8s} {'ratio':>7s} {'rel dF':>9s} {'max dr':>9s} status")
    for n in arguments.n:
        for spec in SPECS:
            solve_loss(spec, n)  # compile
            started = time.perf_counter()
            ours = solve_loss(spec, n)
            ours_seconds = time.perf_counter() - started
            problem, variable = _cvxpy_problem(spec, n)
            started = time.perf_counter()
            problem.solve(solver=cp.CLARABEL)
            cvxpy_seconds = time.perf_counter() - started
            theirs = np.asarray(variable.value)
            assert ours.rewards is not None and ours.objective is not None
            reference = loss_value(spec, theirs)
            relative = abs(ours.objective - reference) / abs(reference)
            spread = float(np.max(np.abs(ours.rewards - theirs)))
            print(
                f"{spec:34s} {n:5d} {ours_seconds:8.3f} {cvxpy_seconds:8.3f} {cvxpy_seconds / ours_seconds:7.1f} "
                f"{relative:9.1e} {spread:9.1e} {ours.status.value} (ours {'higher' if ours.objective >= reference else 'lower'})"
            )


if __name__ == "__main__":
    main()
