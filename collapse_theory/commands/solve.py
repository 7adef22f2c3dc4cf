"""``collapse-theory solve`` and ``collapse-theory limit``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from collapse_theory._core.results import json_value
from collapse_theory.commands._arguments import completions, loss_spec, utility_spec
from collapse_theory.commands._output import numbers, write_csv
from collapse_theory.errors import InputError
from collapse_theory.laws.distances import kolmogorov_smirnov
from collapse_theory.laws.limits import describe_limit, limit, limit_parameters
from collapse_theory.problems.utilities import DEFAULT_SPECS, VALID_FORMS, Utility, parse_utility
from collapse_theory.solver.dispatch import solve
from collapse_theory.solver.status import Status
from collapse_theory.solver.utility_solver import DEFAULT_TOLERANCE, Solution, solve_many

FORMATS = ("table", "csv", "json")


def register(subparsers: Any) -> None:
    """Add ``solve`` and ``limit`` to the command line."""
    forms = ", ".join(VALID_FORMS)
    solve_parser = subparsers.add_parser(
        "solve",
        help="optimal rewards for utilities (or ranking losses) and n, with certificates",
        description=f"Solve max sum_{{i<j}} U(r_i - r_j) over 1 >= r_1 >= ... >= r_n >= 0. Utility specs: {forms}. "
        "With --loss, a ranking loss as trainers use it (docs/losses.md): terms joined by '+', e.g. "
        "log-sigmoid:1+free+l2:0.001, or a preset (bradley-terry, open-assistant, trl, openrlhf, oasst, trl-center:C, ipo:BETA, listmle); `collapse-theory losses` lists each framework option's spec.",
    )
    solve_parser.add_argument(
        "--utility",
        action="append",
        type=utility_spec,
        metavar="SPEC",
        help=f"utility spec, repeatable (default: {' '.join(DEFAULT_SPECS)})",
    )
    solve_parser.add_argument(
        "--utility-file",
        action="append",
        metavar="PATH.py:FUNCTION",
        help="a custom U(x) from your Python file (JAX-traceable, elementwise, x > 0), repeatable, with or without --utility. "
        "WARNING: the file is imported, so its Python code runs with your permissions; use only files you trust",
    )
    solve_parser.add_argument(
        "--loss", action="append", type=loss_spec, metavar="SPEC", help="ranking-loss spec, repeatable (instead of --utility)"
    )
    solve_parser.add_argument(
        "--n", action="append", type=completions, metavar="N", help="completions per prompt, repeatable (default: 8)"
    )
    solve_parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    solve_parser.add_argument(
        "--tol", type=float, default=DEFAULT_TOLERANCE, help="relative certificate tolerance (default: 1e-10)"
    )
    solve_parser.set_defaults(handler=run_solve)

    limit_parser = subparsers.add_parser(
        "limit",
        help="the closed-form n -> infinity law of a utility (or a ranking loss)",
        description=f"Print the limit law of the optimal rewards. Utility specs: {forms}.",
    )
    limit_parser.add_argument("--utility", action="append", type=utility_spec, metavar="SPEC", help="utility spec, repeatable")
    limit_parser.add_argument("--loss", action="append", type=loss_spec, metavar="SPEC", help="ranking-loss spec, repeatable")
    limit_parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    limit_parser.set_defaults(handler=run_limit)


def _limit_distance(solution: Solution, utility: Utility) -> float | None:
    if solution.status is Status.FAILED:  # rewards may be NaN
        return None
    law = limit(utility)  # None for a custom utility
    # the KS distance alone: the Wasserstein one (unused here) needs the law's quantiles, i.e. scipy.stats
    return None if law is None else kolmogorov_smirnov(solution.rewards, law)


def _check_tolerance(tol: float) -> None:
    if not (0.0 < tol < 1.0):
        raise InputError(f"--tol must be in (0, 1), got {tol!r}")


def run_solve(arguments: argparse.Namespace) -> int:
    """Solve every (utility, n) pair and print the table, CSV or the JSON list."""
    _check_tolerance(arguments.tol)
    files = getattr(arguments, "utility_file", None) or []
    if arguments.loss and (arguments.utility or files):
        raise InputError("give --utility (or --utility-file) or --loss, not both")
    if arguments.loss:
        return _run_losses(arguments)
    utilities: list[Utility] = list(arguments.utility or [])
    if not utilities and not files:  # the default specs enter here, parsed once like --utility's
        utilities = [parse_utility(spec) for spec in DEFAULT_SPECS]
    if files:  # the loader's module brings scipy.stats and matplotlib: only when asked for
        from collapse_theory.exploration.utility_exploration import load_utility

        utilities.extend(load_utility(reference) for reference in files)
    ns = arguments.n or [8]
    # largest n first: a size that does not fit is refused before anything is solved
    by_n = {n: solve_many(utilities, n, tol=arguments.tol) for n in sorted(dict.fromkeys(ns), reverse=True)}
    solutions = [by_n[n][index] for index in range(len(utilities)) for n in ns]
    sources = [utilities[index] for index in range(len(utilities)) for n in ns]  # each solution's utility
    if arguments.format == "json":
        # strict JSON: as_dict writes non-finite numbers as null, and allow_nan=False makes sure
        print(json.dumps([s.as_dict() for s in solutions], indent=1, allow_nan=False))
    elif arguments.format == "csv":
        write_csv(
            ["utility", "n", "objective", "gap", "status", "ks_to_limit", "seconds", "rewards"],
            [
                [s.utility, s.n, s.objective, s.gap, s.status.value, _limit_distance(s, u), s.seconds, numbers(s.rewards)]
                for s, u in zip(solutions, sources, strict=True)
            ],
        )
    else:
        _print_table(solutions, sources)
    failed = [s for s in solutions if not s.converged]
    for s in failed:
        print(f"warning: {s.utility} n={s.n}: {s.message}", file=sys.stderr)
    return 1 if failed else 0


def _run_losses(arguments: argparse.Namespace) -> int:
    # the answers bring the loss laws (scipy.stats): loaded for losses only, so `solve --utility` stays quick
    from collapse_theory.exploration.answers import loss_answer

    ns = arguments.n or [8]
    # a Loss (parsed by the argument type) is answered in the loss's form, a plain utility's loss included
    solutions = [solve(loss, n, tol=arguments.tol) for loss in arguments.loss for n in ns]
    if arguments.format == "json":
        print(json.dumps([{**s.as_dict(), "answer": loss_answer(s)} for s in solutions], indent=1, allow_nan=False))
    elif arguments.format == "csv":
        write_csv(
            ["loss", "n", "status", "objective", "gap", "seconds", "rewards", "direction", "answer"],
            [
                [
                    s.loss,
                    s.n,
                    s.status.value,
                    s.objective,
                    s.gap,
                    s.seconds,
                    numbers(s.rewards),
                    numbers(s.direction),
                    loss_answer(s),
                ]
                for s in solutions
            ],
        )
    else:
        for s in solutions:
            print(f"{s.loss}  n = {s.n}: {s.status.value}")
            print(f"  answer    {loss_answer(s)}")
            if s.rewards is not None:
                print("  rewards   [" + ", ".join(f"{r:.6g}" for r in s.rewards) + "]")
            if s.direction is not None:
                print("  direction [" + ", ".join(f"{r:.6g}" for r in s.direction) + "]  (best first, range 1)")
            if s.gap is not None:
                print(f"  objective {s.objective:.12g}, gap {s.gap:.2e}")
            print(f"  {s.message}")
    failed = [s for s in solutions if not s.converged]
    for s in failed:
        print(f"warning: {s.loss} n={s.n}: {s.message}", file=sys.stderr)
    return 1 if failed else 0


#: The table's status column (the JSON gives ``status`` itself).
_TABLE_STATUS = {
    Status.OPTIMAL: "certified",
    Status.EXACT_VERTEX: "exact vertex",
    Status.NOT_CERTIFIED: "not certified",
    Status.NOT_CONVERGED: "NOT CONVERGED",
    Status.FAILED: "FAILED",
}

#: Rewards shown in the table (all of them up to this n, else the first and last few).
_SHOWN_REWARDS = 10


def _rewards_column(rewards: Any) -> str:
    values = [f"{float(r):.3f}" for r in rewards]
    if len(values) > _SHOWN_REWARDS:
        values = [*values[:4], "...", *values[-4:]]
    return " ".join(values)


def _print_table(solutions: list[Solution], utilities: list[Utility]) -> None:
    header = f"{'utility':<16}{'n':>7}{'objective':>22}{'gap':>11}{'KS to limit':>13}  {'status':<14}rewards (best first)"
    print(header)
    print("-" * len(header))
    for s, utility in zip(solutions, utilities, strict=True):
        ks = _limit_distance(s, utility)
        ks_text = "-" if ks is None else f"{ks:.4f}"
        status = _TABLE_STATUS[s.status]
        print(
            f"{s.utility:<16}{s.n:>7}{s.objective:>22.12g}{s.gap:>11.2e}{ks_text:>13}  {status:<14}{_rewards_column(s.rewards)}"
        )
    # the time column mixed a first call's compilation with the solve; JSON and CSV keep `seconds`
    print("(times: --format json or csv, field seconds, which includes compilation on a first call)")


def run_limit(arguments: argparse.Namespace) -> int:
    """Print the limit law of each utility (or loss)."""
    if not arguments.utility and not arguments.loss:
        raise InputError("give at least one --utility or --loss")
    records = []
    for utility in arguments.utility or []:
        law = limit(utility)
        records.append(
            {"utility": utility.spec, **limit_parameters(law), "description": describe_limit(law), "limit": _law_json(law)}
        )
    for loss in arguments.loss or []:
        # the answers bring the loss laws (scipy.stats): loaded for losses only, so `limit --utility` stays quick
        from collapse_theory.exploration.answers import limit_answer

        try:
            law = limit(loss)
        except ValueError as error:
            records.append(
                {"loss": loss.spec, "law": None, "description": str(error), "limit": None, "answer": limit_answer(None, loss)}
            )
            continue
        assert law is not None  # a loss's limit raises, saying why, where there is none
        records.append(
            {
                "loss": loss.spec,
                "law": law.kind,
                "description": law.describe(),
                "limit": _law_json(law),
                "answer": limit_answer(law),
            }
        )
    if arguments.format == "json":
        print(json.dumps(records[0] if len(records) == 1 else records, allow_nan=False))
        return 0
    if arguments.format == "csv":
        write_csv(
            ["spec", "law", "description", "mean", "variance"],
            [
                [
                    r.get("utility", r.get("loss")),
                    r["law"],
                    r["description"],
                    None if r["limit"] is None else r["limit"]["mean"],
                    None if r["limit"] is None else r["limit"]["variance"],
                ]
                for r in records
            ],
        )
        return 0
    for record in records:
        spec = record.get("utility", record.get("loss"))
        print(f"{spec}: {record['description']}")
        if "answer" in record:
            print(f"  answer: {record['answer']}")
        if record["limit"] is None:
            if "answer" not in record:
                print("  (try `collapse-theory explore` for the numerical limit law)")
        else:
            print(f"  mean {record['limit']['mean']:.6g}, variance {record['limit']['variance']:.6g}")
    return 0


def _law_json(law: Any) -> dict[str, Any] | None:
    """The law in the structure every command shares (kind, parameters, atoms, mean, variance)."""
    return None if law is None else json_value(law.as_dict())
