"""``collapse-theory explore``: a summary and a plot of one utility (built-in or from a Python file) or ranking loss."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from collapse_theory._core.io import atomic_savefig
from collapse_theory._core.results import json_value
from collapse_theory.commands._arguments import check_output_file, completions, named_loss_spec, utility_spec
from collapse_theory.errors import InputError
from collapse_theory.exploration.loss_exploration import LossExploration, explore_loss, loss_exploration_figure
from collapse_theory.exploration.utility_exploration import (
    SHOWN_ATOM_MASS,
    Exploration,
    exploration_figure,
    explore_utility,
    load_utility,
    shown_atoms,
)
from collapse_theory.problems.utilities import Utility
from collapse_theory.solver.status import Status

PLOT_FORMATS = (".png", ".pdf", ".svg")


def register(subparsers: Any) -> None:
    """Add ``explore`` to the command line."""
    parser = subparsers.add_parser(
        "explore",
        help="summary of a utility or ranking loss: shape, limit law, atoms, Beta fit, small-n optimum, plot",
        description="Explore a utility: is it concave/singular, its n -> infinity law (closed form or numerical), atoms, "
        "the closest Beta(a, b), the certified optimum at small n, and a plot. With --loss, a ranking loss "
        "(docs/losses.md): its terms, its status at n (certified optimum, face, or unbounded direction) with the "
        "certificate, and its n -> infinity law on the real line, or why it has none.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--utility", type=utility_spec, metavar="SPEC", help="a built-in utility spec")
    source.add_argument(
        "--utility-file",
        metavar="PATH.py:FUNCTION",
        help="a custom U(x) from your Python file (JAX-traceable, elementwise, x > 0). "
        "WARNING: the file is imported, so its Python code runs with your permissions; use only files you trust",
    )
    source.add_argument(
        "--loss",
        type=named_loss_spec,
        metavar="SPEC",
        help="a ranking-loss spec (e.g. log+free+l2:0.5, ipo:0.1, open-assistant, trl); see docs/losses.md and `collapse-theory losses`",
    )
    parser.add_argument("--n", type=completions, default=8, metavar="N", help="completions of the finite-n optimum (default: 8)")
    parser.add_argument("--out", metavar="FILE", help="write the plot here (.png, .pdf or .svg)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    parser.set_defaults(handler=run_explore)


def _print_summary(summary: Exploration) -> None:
    yes_no = {True: "yes", False: "no"}
    print(f"utility        {summary.utility}")
    print(f"concave        {yes_no[summary.concave]} (on (0, 1]); non-decreasing {yes_no[summary.increasing]}")
    print(f"singular at 0  {yes_no[summary.singular]}" + ("; hypersingular (U ~ -x^-G, G >= 1)" if summary.hypersingular else ""))
    if summary.closed_form:
        kind = "closed form"
    elif summary.law_certified:
        kind = f"numerical, certified on its mesh, error estimate {summary.error_estimate:.2g}; computed apart from the n solve"
    else:
        kind = f"numerical, NOT CERTIFIED (U is not concave), error estimate {summary.error_estimate:.2g}"
    print(f"limit law      {summary.law} ({kind})")
    heavy, light = shown_atoms(summary.atoms)
    atoms = ", ".join(f"{a.mass:.6g} at {a.location:g}" for a in heavy) or "none"
    if light:
        atoms += (
            f" (and {len(light)} below {SHOWN_ATOM_MASS:g}, total {sum(a.mass for a in light):.2g}: --format json lists them)"
        )
    print(f"atoms          {atoms}")
    print(f"mean, variance {summary.mean:.6g}, {summary.variance:.6g}")
    fit = summary.beta_fit
    if summary.law_certified:
        print(
            f"best Beta fit  Beta({fit.a:.4g}, {fit.b:.4g}): KS {fit.kolmogorov_smirnov:.3g}, "
            f"Wasserstein-1 {fit.wasserstein:.3g} (minimised: {fit.criterion})"
        )
    else:
        print("best Beta fit  - (the law is not certified)")
    solution = summary.solution
    if solution.converged and solution.rewards is not None:
        status = "certified" if solution.certified else solution.status.value.replace("_", " ")
        print(
            f"optimum, n={solution.n:<3} ["
            + ", ".join(f"{r:.4f}" for r in solution.rewards)
            + f"] ({status}, gap {solution.gap:.2e})"
        )
    else:
        status = solution.status.value.replace("_", " ").upper()
        print(f"optimum, n={solution.n:<3} {status} (gap {solution.gap:.2e}): no optimum at n = {solution.n} is claimed")
        print(f"               ({solution.message})")


def _vector(values: Any) -> str:
    """Four decimals, no negative zero."""
    return "[" + ", ".join(f"{float(np.round(value, 4)) + 0.0:.4f}" for value in values) + "]"


def _optional(value: float | None, digits: str = ".6g") -> str:
    return "-" if value is None else format(value, digits)


def _print_loss_summary(summary: LossExploration, name: str | None = None) -> None:
    yes_no = {True: "yes", False: "no", None: "-"}
    solution = summary.solution
    print(f"loss           {summary.loss}" + ("" if name in (None, summary.loss) else f" (given as {name})"))
    print(f"terms          {summary.terms[0]} (objective), " + (", ".join(summary.terms[1:]) or "no other term"))
    print(f"rewards        {'free in R^n' if summary.free else 'bounded in [0, 1]'}")
    print(f"concave        {yes_no[summary.concave]} ({summary.concavity}); non-decreasing {yes_no[summary.increasing]}")
    singular = yes_no[summary.singular] + ("; hypersingular (U ~ -x^-G, G >= 1)" if summary.hypersingular else "")
    print(f"singular at 0  {singular}")
    print(f"answer         {summary.answer}")
    print(f"{f'status, n={solution.n}':<14} {summary.status.value}: {solution.message}")
    if solution.rewards is not None:
        which = {Status.NON_UNIQUE: " (one of a face)", Status.SHIFT_INVARIANT: " (mean zero; every common shift too)"}
        print(f"optimum        {_vector(solution.rewards)}{which.get(summary.status, '')}")
    if solution.direction is not None:
        print(f"direction      {_vector(solution.direction)} (best first, range 1)")
    if solution.gap is None:
        print("certificate    none (no maximiser to certify)")
    else:
        verdict = "certified" if solution.certified else "NOT CERTIFIED"
        scale = "" if solution.scale is None else f", scale {solution.scale:.3g}"
        print(f"certificate    {verdict}: gap {solution.gap:.2e} (bounds F* - F(r){scale})")
    print(f"limit law      {summary.law if summary.law is not None else summary.limit_note}")
    if summary.law is not None:
        print(f"               ({summary.limit_note})")
    if summary.limit is not None:
        atoms = ", ".join(f"{a.mass:.6g} at {a.location:g}" for a in summary.atoms) or "none"
        print(f"atoms          {atoms}")
        print(f"mean, variance {_optional(summary.mean)}, {_optional(summary.variance)}")
    fit = summary.beta_fit
    if fit is not None:
        print(
            f"best Beta fit  Beta({fit.a:.4g}, {fit.b:.4g}): KS {fit.kolmogorov_smirnov:.3g}, "
            f"Wasserstein-1 {fit.wasserstein:.3g} (minimised: {fit.criterion})"
        )
    else:
        if summary.limit is None:
            why = "no limit law"
        elif summary.limit.atoms:
            why = "the law has atoms, which no Beta law has"
        else:
            why = "the law lives on the real line, not on [0, 1]"
        print(f"best Beta fit  - ({why})")


def run_explore(arguments: argparse.Namespace) -> int:
    """Explore the utility or loss, print the summary, write the plot."""
    if arguments.out is not None:
        if Path(arguments.out).suffix.lower() not in PLOT_FORMATS:
            raise InputError(f"--out must end in one of {', '.join(PLOT_FORMATS)}, got {arguments.out!r}")
        check_output_file(arguments.out)  # before the work, which an unwritable plot would throw away
    if getattr(arguments, "loss", None) is not None:
        return _run_loss(arguments)
    utility: Utility = arguments.utility if arguments.utility is not None else load_utility(arguments.utility_file)
    summary = explore_utility(utility, arguments.n)
    if arguments.format == "json":
        print(json.dumps(json_value(summary.as_dict()), indent=1, allow_nan=False))
    else:
        _print_summary(summary)
    if arguments.out is not None:
        atomic_savefig(exploration_figure(summary), arguments.out, dpi=120)
        if arguments.format != "json":
            print(f"plot written to {arguments.out}")
    if not summary.converged:
        print(f"warning: {summary.utility} n={summary.solution.n}: {summary.solution.message}", file=sys.stderr)
        return 1
    return 0


def _run_loss(arguments: argparse.Namespace) -> int:
    """``explore --loss``: exit code 1 when the solver did not reach an answer at n."""
    summary = explore_loss(arguments.loss, arguments.n)
    if arguments.format == "json":
        print(json.dumps(json_value(summary.as_dict()), indent=1, allow_nan=False))
    else:
        _print_loss_summary(summary, arguments.loss)
    if arguments.out is not None:
        atomic_savefig(loss_exploration_figure(summary, arguments.loss), arguments.out, dpi=120)
        if arguments.format != "json":
            print(f"plot written to {arguments.out}")
    if not summary.solution.converged:
        print(f"warning: {summary.loss} n={summary.solution.n}: {summary.solution.message}", file=sys.stderr)
        return 1
    return 0
