"""``collapse-theory design``: the utility (or the objective term of a ranking loss) whose optimal rewards have a target law."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np
import scipy.stats

from collapse_theory._core.results import json_value
from collapse_theory.commands._arguments import loss_spec
from collapse_theory.design.loss_design import design_for_loss_limit, design_for_loss_rewards
from collapse_theory.design.utility_design import FAMILY_BOUNDS, Design, design_for_limit, design_for_rewards
from collapse_theory.errors import InputError
from collapse_theory.problems.losses import Loss

TARGET_FORMS = "beta:A (symmetric), beta:A,B, uniform, two-point, rewards:R1,R2,...,Rn"


def _numbers(text: str, what: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"{what} must be finite numbers, got {text!r}")
    return values


def target_spec(text: str) -> tuple[str, Any]:
    """argparse type for a design target: ("law", frozen scipy law) or ("rewards", list)."""
    kind, _, rest = text.strip().partition(":")
    if kind == "uniform" and not rest:
        return "law", scipy.stats.uniform()
    if kind == "two-point" and not rest:
        return "law", scipy.stats.bernoulli(0.5)
    if kind == "beta" and rest:
        values = _numbers(rest, "beta parameters")
        if len(values) not in (1, 2) or min(values) <= 0.0:
            raise argparse.ArgumentTypeError(f"beta needs one or two positive parameters, got {rest!r}")
        a, b = (values[0], values[0]) if len(values) == 1 else (values[0], values[1])
        return "law", scipy.stats.beta(a, b)
    if kind == "rewards" and rest:
        values = _numbers(rest, "rewards")
        if len(values) < 2 or min(values) < 0.0 or max(values) > 1.0:
            raise argparse.ArgumentTypeError(f"rewards need at least 2 values in [0, 1], got {rest!r}")
        return "rewards", values
    raise argparse.ArgumentTypeError(f"unknown target {text!r}; valid forms: {TARGET_FORMS}")


def register(subparsers: Any) -> None:
    """Add ``design`` to the command line."""
    parser = subparsers.add_parser(
        "design",
        help="inverse design: the utility whose optimum has a target law or target rewards",
        description=f"Find the family member whose n -> infinity law (or optimal rewards at n = number of target rewards) "
        f"matches a target. Targets: {TARGET_FORMS}.",
    )
    parser.add_argument("--target", required=True, type=target_spec, metavar="TARGET", help=f"one of: {TARGET_FORMS}")
    parser.add_argument(
        "--family",
        default=None,
        choices=tuple(FAMILY_BOUNDS),
        help="family searched (default: box-cox = power, log, neg-power and linear in one; limit targets: box-cox or exp; "
        "with --loss: the objective term's family)",
    )
    parser.add_argument(
        "--loss",
        type=loss_spec,
        metavar="SPEC",
        help="design inside a ranking loss (docs/losses.md): the objective term's parameter is fitted, its other terms "
        "(free, l2, center, margins, lipo) kept; reward targets only, except for a plain utility (see docs/usage.md)",
    )
    parser.add_argument("--tolerance", type=float, default=1e-3, help="largest mismatch counted as reached (default: 1e-3)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    parser.set_defaults(handler=run_design)


def run_design(arguments: argparse.Namespace) -> int:
    """Design the utility and print the verdict; exit code 1 when the target is unreachable."""
    if not (arguments.tolerance > 0.0 and math.isfinite(arguments.tolerance)):
        raise InputError(f"--tolerance must be a positive number, got {arguments.tolerance!r}")
    kind, value = arguments.target
    design: Design
    loss: Loss | None = getattr(arguments, "loss", None)
    if loss is not None:
        if kind == "law":
            design = design_for_loss_limit(value, loss, arguments.family, tolerance=arguments.tolerance)
        else:
            design = design_for_loss_rewards(np.asarray(value), loss, arguments.family, tolerance=arguments.tolerance)
    elif kind == "law":
        design = design_for_limit(value, arguments.family or "box-cox", tolerance=arguments.tolerance)
    else:
        design = design_for_rewards(np.asarray(value), arguments.family or "box-cox", tolerance=arguments.tolerance)
    if arguments.format == "json":
        print(json.dumps(json_value(design.as_dict()), indent=1, allow_nan=False))
    else:
        where = "n -> infinity" if design.n is None else f"n = {design.n}"
        print(f"target     {design.target} ({where})")
        print(f"family     {design.family}")
        if design.loss is not None:
            print(f"loss       {design.loss}")
        print(
            f"utility    {design.utility if design.utility is not None else '-'}"
            + ("" if design.parameter is None else f" (parameter {design.parameter:.10g})")
        )
        print(f"reachable  {'yes' if design.reachable else 'NO'}; mismatch {design.residual:.3g}")
        print(f"method     {design.method}")
        print(f"note       {design.message}")
    return 0 if design.reachable else 1
