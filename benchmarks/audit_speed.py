"""Time ``collapse-theory audit`` on 10^6 prompts of 8 scores (JSONL), and its peak memory.

Generates the file in a temporary folder (two groups, closed = linear and open =
neg-power:1 optima plus noise, each prompt scaled and shifted at random), then runs the
audit in this process with the default settings (grid 8, 1000 permutations) and reports
the time of each stage and the peak resident memory (``resource.getrusage``).

Goal: under a minute on 2 cores, memory growing with prompts x grid, not with the file.

Usage::

    python benchmarks/audit_speed.py [--prompts 1000000] [--permutations 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
    from collapse_theory.solver import solve

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
    parser.add_argument("--permutations", type=int, default=1000)
    arguments = parser.parse_args()
    from collapse_theory.audit import audit, open_score_file, read_shapes

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scores.jsonl"
        start = time.perf_counter()
        write_scores(path, arguments.prompts, arguments.n)
        written = time.perf_counter() - start
        size = os.path.getsize(path)
        before = peak_megabytes()
        start = time.perf_counter()
        shapes = read_shapes(open_score_file(path))
        reading = time.perf_counter() - start
        del shapes
        start = time.perf_counter()
        report = audit(path, permutations=arguments.permutations)
        total = time.perf_counter() - start
        print(f"file: {arguments.prompts} prompts x {arguments.n} scores, {size / 1e6:.0f} MB JSONL (written in {written:.1f} s)")
        print(f"reading and shapes: {reading:.1f} s")
        print(f"audit (read + statistics + {arguments.permutations} permutations): {total:.1f} s")
        print(f"peak memory: {peak_megabytes():.0f} MB (before the audit: {before:.0f} MB)")
        print(
            json.dumps(
                {"collapse_score": report.collapse_score, "p_value": report.between_groups.p_value, "collapsed": report.collapsed}
            )
        )


if __name__ == "__main__":
    main()
