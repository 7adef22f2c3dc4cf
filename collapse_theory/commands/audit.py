"""``collapse-theory audit``: is a trained reward model collapsed?"""

from __future__ import annotations

import argparse
import json
from typing import Any

from collapse_theory._checks import check_seed
from collapse_theory.auditing import (
    DEFAULT_ALPHA,
    DEFAULT_GRID,
    DEFAULT_PERMUTATIONS,
    DEFAULT_THRESHOLD,
    INPUT_FORMATS,
    RUN_REWARDS_FILE,
    audit,
    format_table,
    write_report,
)
from collapse_theory.auditing.predictions import DEFAULT_SUGGEST_FAMILY
from collapse_theory.commands._arguments import integer, loss_spec, number
from collapse_theory.commands._output import numbers, write_csv
from collapse_theory.design import FAMILY_BOUNDS


def _seed(text: str) -> int:
    try:
        return check_seed(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def register(subparsers: Any) -> None:
    """Add ``audit`` to the command line."""
    parser = subparsers.add_parser(
        "audit",
        help="is a trained reward model collapsed? compare the reward shapes of groups of prompts",
        description=(
            "Read a reward model's scores on ranked completions (RewardBench 2 score file, JSONL "
            '{"prompt_id", "scores" best first, "ranks", "group"}, CSV prompt_id,score[,rank][,group], or a '
            f"run directory of collapse-theory train with {RUN_REWARDS_FILE}), turn each prompt's scores into a "
            "shape (sorted, rescaled to [0, 1], on a grid), and compare the groups' mean shapes: the collapse "
            "score, a permutation test, and a verdict. Exit code 2 on bad input."
        ),
    )
    parser.add_argument("path", metavar="FILE_OR_RUN_DIR", help="score file, or a trainer run directory")
    parser.add_argument(
        "--input-format", choices=INPUT_FORMATS, default="auto", help="force the input format (default: detect from the content)"
    )
    parser.add_argument(
        "--grid",
        type=integer(2, "grid"),
        default=DEFAULT_GRID,
        help=f"grid points shapes are compared on (default: {DEFAULT_GRID})",
    )
    parser.add_argument(
        "--permutations",
        type=integer(1, "permutations"),
        default=DEFAULT_PERMUTATIONS,
        help=f"relabellings in the permutation test (default: {DEFAULT_PERMUTATIONS})",
    )
    parser.add_argument("--seed", type=_seed, default=0, help="seed of the permutation test, in [0, 2**32 - 1] (default: 0)")
    parser.add_argument(
        "--threshold",
        type=number("threshold", 0.0, 1.0, upper_open=False, lower_open=True),
        default=DEFAULT_THRESHOLD,
        help=f"collapse score below which the model is collapsed (default: {DEFAULT_THRESHOLD:g})",
    )
    parser.add_argument(
        "--alpha",
        type=number("alpha", 0.0, 1.0, upper_open=True, lower_open=True),
        default=DEFAULT_ALPHA,
        help=f"p-value below which a larger score means not collapsed (default: {DEFAULT_ALPHA:g})",
    )
    parser.add_argument(
        "--loss",
        type=loss_spec,
        metavar="SPEC",
        help="the utility or ranking loss the model was trained with (e.g. log-sigmoid:4, bradley-terry, open-assistant): "
        "distance of each group to its optimum (range-normalised; an unbounded loss predicts its limiting direction)",
    )
    parser.add_argument(
        "--suggest",
        nargs="?",
        const=DEFAULT_SUGGEST_FAMILY,
        choices=tuple(FAMILY_BOUNDS),
        metavar="FAMILY",
        help=f"suggest a utility per group from FAMILY (default family: {DEFAULT_SUGGEST_FAMILY}; one of {', '.join(FAMILY_BOUNDS)})",
    )
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format (default: table)")
    parser.add_argument("--out", metavar="DIR", help="also write report.md, report.json and shapes.png to DIR")
    parser.set_defaults(handler=run_audit)


def run_audit(arguments: argparse.Namespace) -> int:
    """Audit the file and print the report; exit code 0 whatever the verdict."""
    report = audit(
        arguments.path,
        input_format=arguments.input_format,
        grid=arguments.grid,
        permutations=arguments.permutations,
        seed=arguments.seed,
        threshold=arguments.threshold,
        alpha=arguments.alpha,
        loss=arguments.loss,
        suggest=arguments.suggest,
    )
    if arguments.out is not None:
        write_report(report, arguments.out)
    if arguments.format == "json":
        print(json.dumps(report.as_dict(), indent=1, allow_nan=False))
    elif arguments.format == "csv":  # one row per group; the verdict and test are in the JSON
        write_csv(
            ["group", "prompts", "spread", "accuracy", "mean_shape", "band_low", "band_high"],
            [
                [g.name, g.prompts, g.spread, g.accuracy, numbers(g.mean_shape), numbers(g.band_low), numbers(g.band_high)]
                for g in report.groups
            ],
        )
    else:
        print(format_table(report))
        if arguments.out is not None:
            print(f"\nwrote report.md, report.json and shapes.png to {arguments.out}")
    return 0
