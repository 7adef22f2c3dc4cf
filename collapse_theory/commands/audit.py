"""``collapse-theory audit``: is a trained reward model collapsed?

Before any work the command checks what it can without reading the scores: ``--out``
(not empty, not a file, creatable), the bounds on ``--grid`` and ``--resamples``
(:mod:`collapse_theory.auditing.bounds`), the score file itself (a regular UTF-8 file
of a known format) and the memory the shapes need. Group names are user text: in
``--format csv`` they are quoted where needed, and a name that a spreadsheet would run
as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is
prefixed with ``'``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from collapse_theory._core.checks import check_seed
from collapse_theory.auditing import (
    DEFAULT_ALPHA,
    DEFAULT_GRID,
    DEFAULT_MIN_PROMPTS,
    DEFAULT_RESAMPLES,
    INPUT_FORMATS,
    RUN_REWARDS_FILE,
    audit,
    format_table,
    write_report,
)
from collapse_theory.auditing.bounds import MAX_GRID, check_grid
from collapse_theory.auditing.comparison import MAX_RESAMPLES
from collapse_theory.auditing.predictions import DEFAULT_DESCRIBE_FAMILY
from collapse_theory.commands._arguments import check_output_directory, integer, loss_spec, number
from collapse_theory.commands._output import numbers, write_csv
from collapse_theory.commands.design import target_spec
from collapse_theory.design.utility_design import FAMILY_BOUNDS
from collapse_theory.errors import InputError


def _seed(text: str) -> int:
    try:
        return check_seed(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _check_resamples(resamples: Any) -> int:
    if isinstance(resamples, bool) or not isinstance(resamples, int) or not 1 <= resamples <= MAX_RESAMPLES:
        raise InputError(f"resamples must be an integer in [1, {MAX_RESAMPLES}], got {resamples!r}")
    return resamples


def _bounded(check: Callable[[Any], int]) -> Callable[[str], int]:
    """argparse type for an integer checked by ``check`` (every digit kept, one-line error)."""

    def parse(text: str) -> int:
        try:
            value: Any = int(text)
        except ValueError:
            value = text
        try:
            return check(value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


#: What a spreadsheet reads as the start of a formula in a CSV cell.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` for a CSV cell that a spreadsheet shows and never runs: ``'`` before a formula's start.

    Example:
        >>> spreadsheet_safe("=cmd()"), spreadsheet_safe("math")
        ("'=cmd()", 'math')
    """
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


TARGET_LAWS = "beta:A[,B], uniform, two-point"


def _suggestion(text: str) -> tuple[str, Any]:
    """argparse type for ``GROUP=TARGET``: the group and a target law."""
    group, separator, target = text.partition("=")
    if not separator or not group.strip():
        raise argparse.ArgumentTypeError(f"--suggest takes GROUP=TARGET (targets: {TARGET_LAWS}), got {text!r}")
    kind, law = target_spec(target)
    if kind != "law":
        raise argparse.ArgumentTypeError(f"--suggest targets are laws ({TARGET_LAWS}), got {target!r}")
    return group.strip(), law


# Long: one add_argument per option of the command, in the order of --help.
def register(subparsers: Any) -> None:
    """Add ``audit`` to the command line."""
    parser = subparsers.add_parser(
        "audit",
        help="is a trained reward model collapsed? compare the reward shapes of groups of prompts",
        description=(
            "Read a reward model's scores on ranked completions (RewardBench 2 score file, JSONL "
            '{"prompt_id", "scores" best first, "ranks", "group"}, CSV prompt_id,score[,rank][,group], or a '
            f"run directory of collapse-theory train with {RUN_REWARDS_FILE}), turn each prompt's scores into a "
            "shape (sorted, rescaled to [0, 1]) and a log-range, and compare the groups at equal n: the largest "
            "difference on each axis with a simultaneous interval, a max-t test, and a verdict that follows from them "
            "(collapsed only when differences above the resolution are ruled out). Exit code 2 on bad input."
        ),
    )
    parser.add_argument("path", metavar="FILE_OR_RUN_DIR", help="score file, or a trainer run directory")
    parser.add_argument(
        "--input-format", choices=INPUT_FORMATS, default="auto", help="force the input format (default: detect from the content)"
    )
    parser.add_argument(
        "--grid",
        type=_bounded(check_grid),
        default=DEFAULT_GRID,
        help=f"grid points shapes are compared on, 2 to {MAX_GRID} (default: {DEFAULT_GRID})",
    )
    parser.add_argument(
        "--resamples",
        "--permutations",
        dest="resamples",
        type=_bounded(_check_resamples),
        default=DEFAULT_RESAMPLES,
        help=f"multiplier-bootstrap draws for the test and the intervals, 1 to {MAX_RESAMPLES} (default: {DEFAULT_RESAMPLES}; "
        "--permutations is the former name)",
    )
    parser.add_argument("--seed", type=_seed, default=0, help="seed of the bootstrap, in [0, 2**32 - 1] (default: 0)")
    parser.add_argument(
        "--alpha",
        type=number("alpha", 0.0, 1.0, upper_open=True, lower_open=True),
        default=DEFAULT_ALPHA,
        help=f"level of the test of no difference; intervals are at 1 - alpha (default: {DEFAULT_ALPHA:g})",
    )
    parser.add_argument(
        "--resolution",
        "--threshold",
        dest="resolution",
        type=number("resolution", 0.0, 1.0, upper_open=False, lower_open=True),
        help="shape differences at or above this count: 'collapsed' needs the shape interval below it "
        "(default: half the smallest distance between the reference optima at the data's n; --threshold is the former name)",
    )
    parser.add_argument(
        "--scale-resolution",
        type=number("scale-resolution", 0.0, 100.0, upper_open=False, lower_open=True),
        help="the same for the log-range (default: derived like --resolution from the frameworks' regularised losses)",
    )
    parser.add_argument(
        "--min-prompts",
        type=integer(2, "min-prompts"),
        default=DEFAULT_MIN_PROMPTS,
        help=f"prompts a group needs at an n to decide the verdict (default: {DEFAULT_MIN_PROMPTS})",
    )
    parser.add_argument(
        "--loss",
        type=loss_spec,
        metavar="SPEC",
        help="the utility or ranking loss the model was trained with (e.g. log-sigmoid:4, bradley-terry, open-assistant): "
        "each group against its optimum at each of its n (range-normalised; an unbounded loss predicts its limiting direction)",
    )
    parser.add_argument(
        "--describe",
        nargs="?",
        const=DEFAULT_DESCRIBE_FAMILY,
        choices=tuple(FAMILY_BOUNDS),
        metavar="FAMILY",
        help=f"the member of FAMILY each group behaves like, with its fit (default family: {DEFAULT_DESCRIBE_FAMILY}; "
        f"one of {', '.join(FAMILY_BOUNDS)})",
    )
    parser.add_argument(
        "--suggest",
        action="append",
        type=_suggestion,
        metavar="GROUP=TARGET",
        help=f"the utility that would train GROUP towards a target law ({TARGET_LAWS}); repeat for several groups",
    )
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format (default: table)")
    parser.add_argument("--out", metavar="DIR", help="also write report.md, report.json and shapes.png to DIR")
    parser.set_defaults(handler=run_audit)


def run_audit(arguments: argparse.Namespace) -> int:
    """Audit the file and print the report; exit code 0 whatever the verdict."""
    if arguments.out is not None:
        check_output_directory(arguments.out)
    report = audit(
        arguments.path,
        input_format=arguments.input_format,
        grid=arguments.grid,
        resamples=arguments.resamples,
        seed=arguments.seed,
        alpha=arguments.alpha,
        resolution=arguments.resolution,
        scale_resolution=arguments.scale_resolution,
        min_prompts=arguments.min_prompts,
        loss=arguments.loss,
        describe=arguments.describe,
        suggest=None if not arguments.suggest else dict(arguments.suggest),
    )
    if arguments.out is not None:
        write_report(report, arguments.out)
    if arguments.format == "json":
        print(json.dumps(report.as_dict(), indent=1, allow_nan=False))
    elif arguments.format == "csv":  # one row per group; the verdict and test are in the JSON
        write_csv(
            ["group", "prompts", "accuracy", "best_of_n_accuracy", "signal", "spread", "mean_shape", "band_low", "band_high"],
            [
                [
                    spreadsheet_safe(g.name),
                    g.prompts,
                    g.accuracy,
                    g.best_of_n_accuracy,
                    g.signal,
                    g.spread,
                    numbers(g.mean_shape),
                    numbers(g.band_low),
                    numbers(g.band_high),
                ]
                for g in report.groups
            ],
        )
    else:
        print(format_table(report))
        if arguments.out is not None:
            print(f"\nwrote report.md, report.json and shapes.png to {arguments.out}")
    return 0
