"""``collapse-theory converge``: how fast the optimal rewards approach the closed-form limit."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from collapse_theory._core.results import json_value
from collapse_theory.commands._arguments import completions, loss_spec, utility_spec
from collapse_theory.commands._output import write_csv
from collapse_theory.errors import InputError
from collapse_theory.laws.convergence_studies import ConvergencePoint, ConvergenceStudy, convergence_many, loss_convergence
from collapse_theory.laws.limits import limit
from collapse_theory.laws.loss_laws import loss_limit
from collapse_theory.problems.losses import Loss
from collapse_theory.problems.utilities import Utility
from collapse_theory.solver.utility_solver import DEFAULT_TOLERANCE

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
        type=utility_spec,
        metavar="SPEC",
        help="utility spec with a closed-form limit (log, power:G, neg-power:G, box-cox:G, exp:B, linear, square); repeatable",
    )
    parser.add_argument(
        "--loss",
        action="append",
        type=loss_spec,
        metavar="SPEC",
        help="ranking-loss spec with a limit law (e.g. log+free+l2:0.5: a semicircle; ipo:1: uniform on [-0.5, 0.5]); repeatable",
    )
    parser.add_argument(
        "--n",
        action="append",
        type=completions,
        metavar="N",
        help=f"completions per prompt, repeatable (default: {' '.join(map(str, DEFAULT_NS))})",
    )
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format (default: table)")
    parser.add_argument("--tol", type=float, default=DEFAULT_TOLERANCE, help="relative certificate tolerance (default: 1e-10)")
    parser.set_defaults(handler=run_converge)


def _rate_text(rate: dict[str, Any] | None) -> str:
    if rate is None:
        return "-"
    error = "-" if rate["standard_error"] is None else f"{rate['standard_error']:.3f}"
    return f"{rate['slope']:+.3f} ± {error} ({rate['points']} points)"


def _study_record(study: ConvergenceStudy) -> dict[str, Any]:
    """The JSON record of a study; a slope fitted on two points has no standard error (null)."""
    record = study.as_dict()
    for key in ("kolmogorov_smirnov_rate", "wasserstein_rate"):
        rate = record.get(key)
        # two points fit a line exactly: the residual is 0 by construction, not a
        # measurement, so the slope's standard error is undefined rather than 0
        if rate is not None and rate["points"] < 3:
            rate["standard_error"] = None
    return record


def _certified_distances(point: ConvergencePoint) -> tuple[float | None, float | None]:
    """KS and Wasserstein-1 of a certified point; None for a point that did not converge."""
    return (point.kolmogorov_smirnov, point.wasserstein) if point.converged else (None, None)


def _print_table(studies: list[ConvergenceStudy]) -> None:
    for study in studies:
        record = _study_record(study)
        print(f"{study.utility}: limit {study.law}")
        header = f"{'n':>8}{'KS':>14}{'Wasserstein-1':>16}{'time [s]':>10}  status"
        print(header)
        print("-" * len(header))
        for p in study.points:
            # a distance from rewards that are not a certified optimum measures the solver, not the theory
            if p.converged:
                distances = f"{p.kolmogorov_smirnov:>14.4e}{p.wasserstein:>16.4e}"
            else:
                distances = f"{'-':>14}{'-':>16}"
            status = "certified" if p.converged else "NOT CONVERGED (distances not shown)"
            print(f"{p.n:>8}{distances}{p.seconds:>10.3f}  {status}")
        print(
            f"  rate (log-log slope ± standard error): KS {_rate_text(record['kolmogorov_smirnov_rate'])}, "
            f"Wasserstein-1 {_rate_text(record['wasserstein_rate'])}"
        )
        print()


def run_converge(arguments: argparse.Namespace) -> int:
    """Run the convergence study and print the table or the JSON list."""
    if not (0.0 < arguments.tol < 1.0):  # also NaN
        raise InputError(f"--tol must be in (0, 1), got {arguments.tol!r}")
    utilities: list[Utility] = arguments.utility or []
    losses: list[Loss] = getattr(arguments, "loss", None) or []
    if not utilities and not losses:
        raise InputError("give at least one --utility or --loss")
    for utility in utilities:
        if limit(utility) is None:
            raise InputError(
                f"{utility.spec} has no closed-form limit; use `collapse-theory explore --utility {utility.spec}` "
                "for its numerical limit"
            )
    for loss in losses:
        loss_limit(loss)  # refuses losses without a limit law (one line, exit 2) before any solve
    ns = arguments.n or list(DEFAULT_NS)
    studies = convergence_many(utilities, ns, tol=arguments.tol) if utilities else []
    studies += [loss_convergence(loss, ns, tol=arguments.tol) for loss in losses]
    if arguments.format == "json":
        print(json.dumps(json_value([_study_record(s) for s in studies]), indent=1, allow_nan=False))
    elif arguments.format == "csv":
        write_csv(
            ["spec", "law", "n", "kolmogorov_smirnov", "wasserstein", "seconds", "certified"],
            [[s.utility, s.law, p.n, *_certified_distances(p), p.seconds, p.converged] for s in studies for p in s.points],
        )
    else:
        _print_table(studies)
    failed = [(s.utility, p.n) for s in studies for p in s.points if not p.converged]
    for spec, n in failed:
        print(f"warning: {spec} n={n}: the solver did not meet its certificate tolerance", file=sys.stderr)
    return 1 if failed else 0
