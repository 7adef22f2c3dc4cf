"""``collapse-theory losses``: each framework's reward-model option and the loss spec that computes it."""

from __future__ import annotations

import argparse
import json
from typing import Any

from collapse_theory.commands._output import write_csv
from collapse_theory.errors import InputError
from collapse_theory.problems.frameworks import FRAMEWORK_CONVENTIONS

FORMATS = ("table", "csv", "json")


def register(subparsers: Any) -> None:
    """Add ``losses`` to the command line."""
    parser = subparsers.add_parser(
        "losses",
        help="the framework conventions: TRL, OpenRLHF, Open-Assistant, IPO, ListMLE, LiPO, SLiC options as loss specs",
        description="List each framework's reward-model option (TRL, OpenRLHF, Open-Assistant, InstructGPT, ListMLE, "
        "LiPO, SLiC) with the loss it minimises and the spec that computes it here (for --loss of solve, limit, "
        "explore, design and train; docs/losses.md). ipo:BETA follows TRL and Azar et al.: target margin 1/(2 BETA).",
    )
    parser.add_argument("--framework", metavar="NAME", help="only this framework (case-insensitive, e.g. trl)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.set_defaults(handler=run_losses)


def run_losses(arguments: argparse.Namespace) -> int:
    """Print the conventions as a table, CSV or JSON."""
    rows = list(FRAMEWORK_CONVENTIONS)
    if arguments.framework is not None:
        wanted = arguments.framework.strip().lower()
        rows = [row for row in rows if wanted in row.framework.lower()]
        if not rows:
            names = ", ".join(dict.fromkeys(row.framework for row in FRAMEWORK_CONVENTIONS))
            raise InputError(f"--framework {arguments.framework!r} matches none of {names}")
    records = [row.as_dict() for row in rows]
    if arguments.format == "json":
        print(json.dumps(records, indent=1, allow_nan=False))
        return 0
    if arguments.format == "csv":
        fields = list(records[0])
        write_csv(fields, [[record[name] for name in fields] for record in records])
        return 0
    for record in records:
        print(f"{record['framework']}: {record['option']}")
        print(f"  loss (minimised)  {record['loss']}")
        example = record["example"]
        canonical = "" if record["canonical"] == example else f" = {record['canonical']}"
        print(f"  spec              {record['spec']}   e.g. --loss {example}{canonical}")
        print(f"  note              {record['note']}")
    return 0
