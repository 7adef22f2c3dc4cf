"""Solver timings of this checkout against an earlier one, measured side by side in one run.

Each problem is timed in a fresh process per checkout (``PYTHONPATH`` set to the checkout),
the two checkouts interleaved round by round so that a change of load hits them alike: one
untimed call compiles, then the best of ``--calls`` warm calls is kept, and the best over
``--rounds`` rounds is reported with the ratio after / before. Both checkouts are asked
through the public names they share (``collapse_theory.solve`` for utilities and
``collapse_theory.solve_loss`` for losses, deprecated but kept for one release), and the
answers are compared too: the largest difference of rewards must be 0 where the code
computes the same numbers.

Usage::

    git worktree add /tmp/before COMMIT
    python benchmarks/before_after.py --before /tmp/before [--rounds 3] [--calls 3] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

#: (kind, spec, n): the paper's utilities at small and large n, then the ranking losses' back ends.
PROBLEMS = (
    ("utility", "log", 100),
    ("utility", "log", 1000),
    ("utility", "log-sigmoid:4", 200),
    ("utility", "exp:1", 1000),
    ("utility", "neg-power:1", 300),
    ("loss", "open-assistant", 64),
    ("loss", "open-assistant", 300),
    ("loss", "log-sigmoid:1+margin:0.1", 300),
    ("loss", "ipo:1", 300),
    ("loss", "plackett-luce:1", 300),
    ("loss", "min-linear:0.3", 50),
    ("loss", "log+free+l2:0.5", 300),
)

_PROGRAM = """
import json, sys, time, warnings
import numpy as np
import collapse_theory as ct
kind, spec, n, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    solve = ct.solve if kind == "utility" else ct.solve_loss
solve(spec, n)
best = float("inf")
for _ in range(calls):
    start = time.perf_counter()
    solution = solve(spec, n)
    best = min(best, time.perf_counter() - start)
values = solution.rewards if solution.rewards is not None else solution.direction
print(json.dumps({"seconds": best, "status": solution.status.value, "values": np.asarray(values).tolist()}))
"""


def measure(checkout: Path, kind: str, spec: str, n: int, calls: int) -> dict:
    """One fresh process on ``checkout``: the best warm time of ``calls`` solves, the status and the answer."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _PROGRAM, kind, spec, str(n), str(calls)],
        env=env, cwd=checkout, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the earlier commit")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    arguments = parser.parse_args(argv)
    after = Path(__file__).resolve().parents[1]
    rows = []
    load = os.getloadavg()[0]
    for kind, spec, n in PROBLEMS:
        best = {"before": float("inf"), "after": float("inf")}
        answers: dict[str, dict] = {}
        for _ in range(arguments.rounds):
            for label, checkout in (("before", arguments.before), ("after", after)):
                record = measure(checkout, kind, spec, n, arguments.calls)
                best[label] = min(best[label], record["seconds"])
                answers[label] = record
        difference = max(abs(a - b) for a, b in zip(answers["before"]["values"], answers["after"]["values"], strict=True))
        ratio = best["after"] / best["before"]
        rows.append((kind, spec, n, best["before"], best["after"], ratio, answers["after"]["status"], difference))
        print(f"{spec:28s} n={n:<5} before {best['before']:.4f} s  after {best['after']:.4f} s  ratio {ratio:.2f}  "
              f"max |difference| {difference:.1e}", flush=True)  # fmt: skip
    lines = [
        f"Measured {datetime.date.today().isoformat()}, load average {load:.1f} before the rounds, "
        f"{os.getloadavg()[0]:.1f} after; best of {arguments.calls} warm calls, best of {arguments.rounds} rounds.",
        "",
        "| problem | n | before (s) | after (s) | after / before | status | max abs difference |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for kind, spec, n, before, after_s, ratio, status, difference in rows:
        lines.append(f"| `{spec}` ({kind}) | {n} | {before:.4f} | {after_s:.4f} | {ratio:.2f} | {status} | {difference:.1e} |")
    print("\n".join(lines))
    if arguments.out is not None:
        arguments.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
