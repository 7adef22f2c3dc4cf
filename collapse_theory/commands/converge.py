"""``collapse-theory converge``: how fast the optimal rewards approach the closed-form limit."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from collapse_theory.commands.solve import completions, utility_spec
from collapse_theory.convergence_studies import ConvergenceStudy, Rate, convergence_many
from collapse_theory.limits import limit
from collapse_theory.solver import DEFAULT_TOLERANCE

DEFAULT_NS = (16, 32, 64, 128)


def register(subparsers: Any) -> None:
    """Add ``converge`` to the command line."""
    parser = subparsers.add_parser(
        "converge",
        help="KS and Wasserstein-1 distance to the limit law across n, with fitted rates",
        description="For each n, solve the problem and measure the distance of the optimal rewards to the closed-form "
        "limit law; fit the rate as the log-log slope (with its standard error).",
    )
    parser.add_argument(
        "--utility",
        action="append",
        required=True,
        type=utility_spec,
        metavar="SPEC",
        help="utility spec with a closed-form limit (log, power:G, neg-power:G, linear, square); repeatable",
    )
    parser.add_argument(
        "--n",
        action="append",
        type=completions,
        metavar="N",
        help=f"completions per prompt, repeatable (default: {' '.join(map(str, DEFAULT_NS))})",
    )
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    parser.add_argument("--tol", type=float, default=DEFAULT_TOLERANCE, help="relative certificate tolerance (default: 1e-10)")
    parser.set_defaults(handler=run_converge)


def _rate_text(rate: Rate | None) -> str:
    return "-" if rate is None else f"{rate.slope:+.3f} ± {rate.standard_error:.3f}"


def _print_table(studies: list[ConvergenceStudy]) -> None:
    for study in studies:
        print(f"{study.utility}: limit {study.law}")
        header = f"{'n':>8}{'KS':>14}{'Wasserstein-1':>16}{'time [s]':>10}  status"
        print(header)
        print("-" * len(header))
        for p in study.points:
            status = "certified" if p.converged else "NOT CONVERGED"
            print(f"{p.n:>8}{p.kolmogorov_smirnov:>14.4e}{p.wasserstein:>16.4e}{p.seconds:>10.3f}  {status}")
        print(
            f"  rate (log-log slope ± standard error): KS {_rate_text(study.kolmogorov_smirnov_rate)}, "
            f"Wasserstein-1 {_rate_text(study.wasserstein_rate)}"
        )
        print()


def run_converge(arguments: argparse.Namespace) -> int:
    """Run the convergence study and print the table or the JSON list."""
    if not (0.0 < arguments.tol < 1.0):
        raise ValueError(f"--tol must be in (0, 1), got {arguments.tol!r}")
    for spec in arguments.utility:
        if limit(spec) is None:
            raise ValueError(
                f"{spec} has no closed-form limit; use `collapse-theory explore --utility {spec}` for its numerical limit"
            )
    studies = convergence_many(arguments.utility, arguments.n or list(DEFAULT_NS), tol=arguments.tol)
    if arguments.format == "json":
        print(json.dumps([s.as_dict() for s in studies], indent=1))
    else:
        _print_table(studies)
    failed = [(s.utility, p.n) for s in studies for p in s.points if not p.converged]
    for spec, n in failed:
        print(f"warning: {spec} n={n}: the solver did not meet its certificate tolerance", file=sys.stderr)
    return 1 if failed else 0
