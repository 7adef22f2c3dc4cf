"""Time ``collapse-theory audit`` on 10^6 prompts of 8 scores (JSONL), and its peak memory.

Generates the file in a temporary folder (two groups, closed = linear and open =
neg-power:1 optima plus noise, each prompt scaled and shifted at random), then runs the
audit in this process with the default settings (1000 bootstrap draws for the test and
the intervals) and reports
the time of each stage and the peak resident memory (``resource.getrusage``).

Goal: under a minute on 2 cores, memory growing with prompts x grid, not with the file.

Usage::

    python benchmarks/audit_speed.py [--prompts 1000000] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def peak_megabytes() -> float:
    """Peak resident memory of this process so far (Linux reports kB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def write_scores(path: Path, prompts: int, n: int, seed: int = 0) -> None:
    """JSONL: {"prompt_id", "scores" best first, "group"}, written in blocks."""
    from collapse_theory.solver.utility_solver import solve

    optima = np.stack([solve("linear", n).rewards, solve("neg-power:1", n).rewards])
    rng = np.random.default_rng(seed)
    block = 100_000
    with open(path, "w") as stream:
        for start in range(0, prompts, block):
            size = min(block, prompts - start)
            kinds = rng.integers(0, 2, size)
            scores = optima[kinds] + rng.normal(0.0, 0.02, (size, n))
            scores = scores * rng.uniform(0.5, 5.0, (size, 1)) + rng.normal(0.0, 2.0, (size, 1))
            names = np.array(["closed", "open"])[kinds]
            stream.writelines(
                f'{{"prompt_id": {start + i}, "scores": [{", ".join(f"{v:.6f}" for v in row)}], "group": "{names[i]}"}}\n'
                for i, row in enumerate(scores)
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1_000_000)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--write-only", metavar="PATH", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.write_only:
        write_scores(Path(arguments.write_only), arguments.prompts, arguments.n)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scores.jsonl"
        start = time.perf_counter()
        # written by a child process, so this process's peak memory is the audit's own
        command = [
            sys.executable,
            __file__,
            "--write-only",
            str(path),
            "--prompts",
            str(arguments.prompts),
            "--n",
            str(arguments.n),
        ]
        subprocess.run(command, check=True)
        written = time.perf_counter() - start
        size = os.path.getsize(path)
        from collapse_theory.auditing import audit

        start, cpu = time.perf_counter(), time.process_time()
        report = audit(path, resamples=arguments.resamples)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"file: {arguments.prompts} prompts x {arguments.n} scores, {size / 1e6:.0f} MB JSONL (written in {written:.1f} s)")
        print(f"audit (read + statistics + {arguments.resamples} bootstrap draws): {total:.1f} s wall, {cpu:.1f} s CPU")
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"peak memory of the audit process: {peak_megabytes():.0f} MB")
        print(json.dumps({"collapsed": report.collapsed, "reason": report.reason, "p_value": report.test.p_value}))


if __name__ == "__main__":
    main()
