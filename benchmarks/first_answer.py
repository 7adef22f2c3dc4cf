"""Time to the first answer: short ``collapse-theory`` commands against ``python -c "import jax"``.

Every command runs in a fresh process, the commands interleaved round by round so that
a change of load hits them alike; each row is the best of ``--repeats`` runs, with the
load average (``os.getloadavg``) before and after. Caches:

* *cold*: ``XDG_CACHE_HOME`` set to a new empty folder for every run (no compiled
  program, no exported program: what a first call after installing pays);
* *repeated*: one folder, filled by an untimed run before the rounds;
* ``COLLAPSE_THEORY_PROGRAM_CACHE=off``: the compilation cache only (the solver is traced
  in Python in every process), for comparison.

``JAX_COMPILATION_CACHE_DIR`` is removed from the commands' environment, so the caches
are the ones under ``XDG_CACHE_HOME``. Goal (issue "time to the first answer"): a repeated
``solve`` for n <= 100 within 2x ``import jax``.

With ``--before DIR`` (a checkout of an earlier commit, e.g. made by ``git worktree add``)
the solve rows are also run with ``PYTHONPATH=DIR``, in the same rounds: a before/after
table measured side by side.

Usage::

    python benchmarks/first_answer.py [--repeats 3] [--no-cold] [--before DIR]
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple


def console_script() -> list[str]:
    """``collapse-theory`` next to this Python, or ``python -m collapse_theory.cli``."""
    script = Path(sys.executable).parent / "collapse-theory"
    return [str(script)] if script.exists() else [sys.executable, "-m", "collapse_theory.cli"]


def seconds(command: list[str], env: dict[str, str]) -> float:
    """Wall time of one run (output discarded; a failing command stops the benchmark)."""
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


class Row(NamedTuple):
    """One timed command: its label, command line, environment and whether its cache starts empty."""

    label: str
    command: list[str]
    env: dict[str, str]
    cold: bool = False


def rows_of(cli: list[str], pythonpath: str | None, cache: Path, prefix: str = "") -> list[Row]:
    """The rows of one version of the package (``pythonpath``: where it is; None: the installed one)."""
    env = {key: value for key, value in os.environ.items() if key != "JAX_COMPILATION_CACHE_DIR"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    warm = {**env, "XDG_CACHE_HOME": str(cache)}
    solve8 = [*cli, "solve", "--utility", "log", "--n", "8"]
    return [
        Row(f"{prefix}`collapse-theory --version`", [*cli, "--version"], warm),
        Row(f"{prefix}`solve --utility log --n 8`, cold (empty cache)", solve8, env, cold=True),
        Row(f"{prefix}`solve --utility log --n 8`, repeated", solve8, warm),
        Row(f"{prefix}`solve --utility log --n 100`, repeated", [*cli, "solve", "--utility", "log", "--n", "100"], warm),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per command; the best is reported (default 3)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold calls (they compile: tens of seconds)")
    parser.add_argument("--before", type=Path, metavar="DIR", help="also time the rows with PYTHONPATH=DIR")
    arguments = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="first-answer-"))
    env = {key: value for key, value in os.environ.items() if key != "JAX_COMPILATION_CACHE_DIR"}
    rows = [Row('`python -c "import jax"`', [sys.executable, "-c", "import jax"], env)]
    cli = console_script()
    rows += rows_of(cli, os.environ.get("PYTHONPATH"), root / "after")
    program_off = {**rows[3].env, "COLLAPSE_THEORY_PROGRAM_CACHE": "off"}
    rows.append(Row(f"{rows[3].label}, `COLLAPSE_THEORY_PROGRAM_CACHE=off`", rows[3].command, program_off))
    if arguments.before is not None:
        rows += rows_of(cli, str(arguments.before.resolve()), root / "before", prefix="before: ")
    if arguments.no_cold:
        rows = [row for row in rows if not row.cold]
    for row in rows[1:]:  # fill the caches of the repeated calls (untimed)
        if not row.cold:
            seconds(row.command, row.env)

    load_before = os.getloadavg()
    times: dict[str, list[float]] = {row.label: [] for row in rows}
    for repeat in range(arguments.repeats):
        for index, row in enumerate(rows):
            # a cold run gets a new empty cache folder
            env = {**row.env, "XDG_CACHE_HOME": str(root / f"cold-{repeat}-{index}")} if row.cold else row.env
            times[row.label].append(seconds(row.command, env))
    load_after = os.getloadavg()
    shutil.rmtree(root, ignore_errors=True)

    reference = min(times[rows[0].label])
    print(
        f"{datetime.date.today().isoformat()}, {os.cpu_count()} cores, best of {arguments.repeats}, "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after\n"
    )
    print("| command | seconds | / import jax |")
    print("|---|---:|---:|")
    for row in rows:
        best = min(times[row.label])
        print(f"| {row.label} | {best:.2f} | {best / reference:.2f} |")


if __name__ == "__main__":
    main()
