"""``collapse-theory solve`` and ``collapse-theory limit``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from collapse_theory.distances import distance
from collapse_theory.limits import describe_limit, limit, limit_parameters
from collapse_theory.solver import DEFAULT_TOLERANCE, Solution, check_n, solve_many
from collapse_theory.status import Status
from collapse_theory.utilities import DEFAULT_SPECS, VALID_FORMS, parse_utility


def completions(text: str) -> int:
    """argparse type for n: an integer >= 2, with a one-line message otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"n must be an integer >= 2, got {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"n must be an integer >= 2, got {text!r}")
    try:
        return check_n(int(value))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def utility_spec(text: str) -> str:
    """argparse type for a utility spec: validated, returned as given."""
    try:
        return parse_utility(text).spec
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def register(subparsers: Any) -> None:
    """Add ``solve`` and ``limit`` to the command line."""
    forms = ", ".join(VALID_FORMS)
    solve_parser = subparsers.add_parser(
        "solve",
        help="optimal rewards for utilities and n, with certificates",
        description=f"Solve max sum_{{i<j}} U(r_i - r_j) over 1 >= r_1 >= ... >= r_n >= 0. Utility specs: {forms}.",
    )
    solve_parser.add_argument(
        "--utility",
        action="append",
        type=utility_spec,
        metavar="SPEC",
        help=f"utility spec, repeatable (default: {' '.join(DEFAULT_SPECS)})",
    )
    solve_parser.add_argument(
        "--n", action="append", type=completions, metavar="N", help="completions per prompt, repeatable (default: 8)"
    )
    solve_parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    solve_parser.add_argument(
        "--tol", type=float, default=DEFAULT_TOLERANCE, help="relative certificate tolerance (default: 1e-10)"
    )
    solve_parser.set_defaults(handler=run_solve)

    limit_parser = subparsers.add_parser(
        "limit",
        help="the closed-form n -> infinity law of a utility",
        description=f"Print the limit law of the optimal rewards. Utility specs: {forms}.",
    )
    limit_parser.add_argument("--utility", required=True, type=utility_spec, metavar="SPEC", help="utility spec")
    limit_parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    limit_parser.set_defaults(handler=run_limit)


def _limit_distance(solution: Solution) -> float | None:
    if solution.status is Status.FAILED:  # rewards may be NaN
        return None
    law = limit(solution.utility)
    return None if law is None else distance(solution.rewards, law).kolmogorov_smirnov


def run_solve(arguments: argparse.Namespace) -> int:
    """Solve every (utility, n) pair and print the table or the JSON list."""
    specs = arguments.utility or list(DEFAULT_SPECS)
    ns = arguments.n or [8]
    if not (0.0 < arguments.tol < 1.0):
        raise ValueError(f"--tol must be in (0, 1), got {arguments.tol!r}")
    # largest n first: a size that does not fit is refused before anything is solved
    by_n = {n: solve_many(specs, n, tol=arguments.tol) for n in sorted(dict.fromkeys(ns), reverse=True)}
    solutions = [next(s for s in by_n[n] if s.utility == spec) for spec in specs for n in ns]
    if arguments.format == "json":
        # strict JSON: as_dict writes non-finite numbers as null, and allow_nan=False makes sure
        print(json.dumps([s.as_dict() for s in solutions], indent=1, allow_nan=False))
    else:
        _print_table(solutions)
    failed = [s for s in solutions if not s.converged]
    for s in failed:
        print(f"warning: {s.utility} n={s.n}: {s.message}", file=sys.stderr)
    return 1 if failed else 0


#: The table's status column (the JSON gives ``status`` itself).
_TABLE_STATUS = {
    Status.OPTIMAL: "certified",
    Status.EXACT_VERTEX: "not certified",
    Status.NOT_CERTIFIED: "not certified",
    Status.NOT_CONVERGED: "NOT CONVERGED",
    Status.FAILED: "FAILED",
}


def _print_table(solutions: list[Solution]) -> None:
    header = f"{'utility':<16}{'n':>7}{'objective':>22}{'gap':>11}{'time [s]':>10}{'KS to limit':>13}  status"
    print(header)
    print("-" * len(header))
    for s in solutions:
        ks = _limit_distance(s)
        ks_text = "-" if ks is None else f"{ks:.4f}"
        status = _TABLE_STATUS[s.status]
        print(f"{s.utility:<16}{s.n:>7}{s.objective:>22.12g}{s.gap:>11.2e}{s.seconds:>10.3f}{ks_text:>13}  {status}")


def run_limit(arguments: argparse.Namespace) -> int:
    """Print the limit law of one utility."""
    law = limit(arguments.utility)
    if arguments.format == "json":
        print(json.dumps({"utility": arguments.utility, **limit_parameters(law)}))
        return 0
    print(f"{arguments.utility}: {describe_limit(law)}")
    if law is None:
        print("  (try `collapse-theory explore` for the numerical limit law)")
    else:
        print(f"  mean {law.mean:.6g}, variance {law.variance:.6g}")
    return 0
