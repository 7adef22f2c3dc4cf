"""Time ``solve_loss`` for the framework presets (and their margin and LiPO variants) at one n.

For each spec: a first call (compilation included), then ``--repeats`` calls after it;
reported are the status, the Newton steps, the best wall and CPU seconds of the repeats
(``time.process_time``: user + sys of the process, which a loaded machine inflates less
than wall time), and the certificate as gap / scale (certified when <= the tolerance, 1e-10).

Set ``OPENBLAS_NUM_THREADS=1`` on a machine with 2 cores shared with other jobs: with
OpenBLAS's default threads, its threads spin against each other and one factorisation
can take 100 times longer.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/loss_presets.py [--n 1000] [--repeats 3] [--specs SPEC ...]
"""

from __future__ import annotations

import argparse
import os
import time

from collapse_theory.solver.loss_solver import solve_loss

SPECS = (
    "bradley-terry",
    "listmle",
    "open-assistant",
    "trl-center:0.01",
    "ipo:1",
    "log-sigmoid:1+free+l2:0.001+margin:0.5",
    "log-sigmoid:1+free+l2:0.001+rank-margin:0.1",
    "plackett-luce:1+free+l2:0.001",
    "log-sigmoid:1+free+lipo",
    "log-sigmoid:1+free+l2:0.001+lipo",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--specs", nargs="+", default=list(SPECS))
    arguments = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"n = {arguments.n}, best of {arguments.repeats} after a compiling call, load average {load:.1f}")
    print(f"{'loss':45s} {'status':16s} {'steps':>5s} {'first s':>8s} {'wall s':>8s} {'CPU s':>8s} {'gap/scale':>10s}")
    for spec in arguments.specs:
        started = time.perf_counter()
        solve_loss(spec, arguments.n)
        first = time.perf_counter() - started
        walls, cpus = [], []
        for _ in range(arguments.repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            solution = solve_loss(spec, arguments.n)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        if solution.gap is None or solution.scale is None:
            certificate = "-"
        else:
            certificate = f"{solution.gap / solution.scale:.1e}" if solution.scale > 0 else f"{solution.gap:.1e}"
        print(
            f"{spec:45s} {solution.status.value:16s} {solution.iterations:5d} {first:8.2f} "
            f"{min(walls):8.3f} {min(cpus):8.3f} {certificate:>10s}",
            flush=True,
        )


if __name__ == "__main__":
    main()
