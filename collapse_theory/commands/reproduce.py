"""``collapse-theory reproduce``: every figure and the verification report."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from collapse_theory.commands._arguments import check_output_directory, seed


def register(subparsers: Any) -> None:
    """Add ``reproduce`` to the command line."""
    parser = subparsers.add_parser(
        "reproduce",
        help="regenerate every figure and a claim-by-claim verification report",
        description="Reproduce the paper's theory end to end: figures (PNG and SVG), report.md and report.json. "
        "The full run takes about 12 minutes on 2 CPU cores; --quick about 2 minutes. "
        "An interrupted run resumes where it stopped, from the cache in OUT/.cache (kept per settings and per "
        "version of the code; a damaged entry is recomputed).",
    )
    parser.add_argument("--quick", action="store_true", help="the reduced run (smaller n, fewer prompts)")
    parser.add_argument("--out", default="figures", metavar="DIR", help="output folder (default: figures)")
    parser.add_argument(
        "--seed", type=seed, default=0, help="seed of the synthetic data and training, in [0, 2**32 - 1] (default: 0)"
    )
    parser.add_argument("--force", action="store_true", help="recompute every step, ignoring the cache in OUT/.cache")
    parser.set_defaults(handler=run_reproduce)


def run_reproduce(arguments: argparse.Namespace) -> int:
    """Run the reproduction; exit 0 when every claim passes, 1 otherwise."""
    # here, not at the top: the reproduction (trainer, figures) loads when it runs, not for `reproduce --help`
    from collapse_theory.reproduction.runner import Settings, clear_cache, reproduce

    # an output that cannot be written is refused now, not after minutes of work
    out = check_output_directory(arguments.out)
    check_output_directory(out / ".cache")
    if arguments.force:
        clear_cache(out, Settings.make(arguments.quick, arguments.seed))
    result = reproduce(out, quick=arguments.quick, seed=arguments.seed, stream=sys.stderr)
    for claim in result.claims:
        print(f"{claim.verdict}  {claim.id}: {claim.claim}")
    return 0 if result.passed else 1
