"""``collapse-theory reproduce``: every figure and the verification report."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {text!r}")
    return value


def register(subparsers: Any) -> None:
    """Add ``reproduce`` to the command line."""
    parser = subparsers.add_parser(
        "reproduce",
        help="regenerate every figure and a claim-by-claim verification report",
        description="Reproduce the paper's theory end to end: figures (PNG and SVG), report.md and report.json. "
        "The full run takes about 15 minutes on 2 CPU cores; --quick a few minutes. "
        "An interrupted run resumes where it stopped.",
    )
    parser.add_argument("--quick", action="store_true", help="the reduced run (smaller n, fewer prompts)")
    parser.add_argument("--out", default="figures", metavar="DIR", help="output folder (default: figures)")
    parser.add_argument("--seed", type=_seed, default=0, help="seed of the synthetic data and training (default: 0)")
    parser.set_defaults(handler=run_reproduce)


def run_reproduce(arguments: argparse.Namespace) -> int:
    """Run the reproduction; exit 0 when every claim passes, 1 otherwise."""
    from collapse_theory.reproduction import reproduce

    result = reproduce(arguments.out, quick=arguments.quick, seed=arguments.seed, stream=sys.stderr)
    for claim in result.claims:
        print(f"{claim.verdict}  {claim.claim}")
    return 0 if result.passed else 1
