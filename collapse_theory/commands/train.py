"""``collapse-theory train`` and ``collapse-theory make-data``."""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
from pathlib import Path
from typing import Any

from collapse_theory._core.checks import MAX_SEED, check_seed
from collapse_theory._core.io import atomic_savefig
from collapse_theory.commands._arguments import completions, integer, named_loss_spec, number, utility_spec
from collapse_theory.errors import InputError
from collapse_theory.exploration.utility_exploration import load_utility
from collapse_theory.problems.utilities import VALID_FORMS, Utility
from collapse_theory.training import (
    DEFAULT_TRAINING_HIDDEN,
    Diagnostics,
    RunRecord,
    TrainingConfig,
    TrainingResult,
    diagnose,
    load_dataset,
    make_synthetic_dataset,
    parse_prompt_aware,
    plot_rewards,
    save_dataset,
    save_diagnostics,
    train,
    verdict,
)
from collapse_theory.training.embedder import load_embedder
from collapse_theory.training.run_directory import DIAGNOSTICS_FILE, FIGURE_FILE, HELDOUT_REWARDS_FILE, RunDirectory, hold
from collapse_theory.training.run_record import package_versions
from collapse_theory.training.text_data import make_text_dataset, save_text_dataset, text_companion_paths

DEFAULT_RUN_DIRECTORY = "runs/train"
#: The dimension of the real-text embeddings (WordLlama's 256).
TEXT_DIM = 256


def seed_value(text: str) -> int:
    """argparse type for ``--seed``: the one seed range of every command, [0, 2**32 - 1]."""
    try:
        return check_seed(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def prompt_aware_spec(text: str) -> tuple[tuple[str, str], ...]:
    """argparse type for ``KIND=SPEC,KIND=SPEC``."""
    try:
        return parse_prompt_aware(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def hidden_widths(text: str) -> tuple[int, ...]:
    """argparse type for hidden widths such as ``64,64``."""
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"hidden widths must be comma-separated integers >= 1, got {text!r}") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"hidden widths must be comma-separated integers >= 1, got {text!r}")
    return widths


def register(subparsers: Any) -> None:
    """Add ``train`` and ``make-data`` to the command line."""
    forms = ", ".join(VALID_FORMS)
    train_parser = subparsers.add_parser(
        "train",
        help="train a reward model on rankings and watch rewards collapse (or not, prompt-aware)",
        description=(
            "Train an MLP reward model (sigmoid output) on ranked completions with the loss "
            "-sum_{i<j} U_ext(r_i - r_j), to the terminal phase; or with a ranking loss as practitioners train it "
            "(--loss: -F(r), docs/losses.md; a free loss such as bradley-terry, open-assistant, ipo:BETA trains raw "
            "logits, no sigmoid). Writes metrics.jsonl, snapshots/, checkpoint.npz, "
            f"heldout_rewards.jsonl, diagnostics.json and rewards.png to --out, holding its lock (train.lock) throughout: "
            f"one process per run directory. Utility specs: {forms}."
        ),
    )
    mode = train_parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--utility", type=utility_spec, metavar="SPEC", help="one utility for every prompt")
    mode.add_argument(
        "--loss",
        type=named_loss_spec,
        metavar="SPEC",
        help="one ranking loss for every prompt: terms joined by '+' (a utility, ipo:BETA, plackett-luce:B; free, "
        "l2:BETA, center:C, margin:M, rank-margin:M, lipo) or a preset (bradley-terry, trl, openrlhf, open-assistant, oasst, "
        "trl-center:C, listmle); a free loss trains raw logits",
    )
    mode.add_argument(
        "--utility-file",
        metavar="PATH.py:FUNCTION",
        help="a custom U(x) from your Python file (JAX-traceable, elementwise, x > 0), for every prompt. "
        "WARNING: the file is imported, so its Python code runs with your permissions; use only files you trust",
    )
    mode.add_argument(
        "--prompt-aware",
        type=prompt_aware_spec,
        metavar="KIND=SPEC,KIND=SPEC",
        help="a utility or loss per prompt kind, e.g. closed=linear,open=neg-power:1 or closed=log,open=open-assistant",
    )
    train_parser.add_argument("--data", metavar="FILE.npz", help="dataset (default: the synthetic demo, seeded by --seed)")
    train_parser.add_argument(
        "--steps",
        type=integer(1, "steps"),
        default=TrainingConfig.steps,
        help=f"optimizer steps (default: {TrainingConfig.steps})",
    )
    train_parser.add_argument(
        "--seed", type=seed_value, default=0, help=f"seed of the model (and of the demo data), 0..{MAX_SEED} (default: 0)"
    )
    train_parser.add_argument(
        "--out", metavar="DIR", default=DEFAULT_RUN_DIRECTORY, help=f"run directory (default: {DEFAULT_RUN_DIRECTORY})"
    )
    train_parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its checkpoint (a finished run: says so, exit 0, changes nothing)",
    )
    train_parser.add_argument(
        "--snapshot-every",
        type=integer(1, "snapshot every"),
        default=TrainingConfig.snapshot_every,
        metavar="K",
        help=f"steps between snapshots of every prompt's rewards (default: {TrainingConfig.snapshot_every})",
    )
    train_parser.add_argument(
        "--learning-rate",
        type=number("learning rate", 0.0, math.inf, True, lower_open=True),
        default=TrainingConfig.learning_rate,
        help=f"Adam's initial learning rate (default: {TrainingConfig.learning_rate:g})",
    )
    train_parser.add_argument(
        "--hidden",
        type=hidden_widths,
        default=DEFAULT_TRAINING_HIDDEN,
        metavar="W,W",
        help=f"hidden widths (default: {','.join(map(str, DEFAULT_TRAINING_HIDDEN))})",
    )
    train_parser.add_argument("--quiet", action="store_true", help="no progress bar")
    train_parser.set_defaults(handler=run_train)
    _register_make_data(subparsers)


def _register_make_data(subparsers: Any) -> None:
    data_parser = subparsers.add_parser(
        "make-data",
        help="write the synthetic dataset of open-ended and closed-ended prompts (or, --text, the real-text one)",
        description=(
            "Write a seeded synthetic dataset (.npz; format in docs/training.md), or with --text the paper's experiment "
            "on real text: docstrings of the installed scientific packages and Python's documentation topics, truncated "
            "at 8 lengths (longer is better), embedded by the frozen WordLlama embedder (the optional extra 'text': "
            "pip install -e '.[text]'); the texts go to FILE.texts.jsonl and the metadata to FILE.meta.json beside it."
        ),
    )
    data_parser.add_argument("--out", metavar="FILE.npz", required=True, help="output file (must not exist)")
    data_parser.add_argument(
        "--text",
        action="store_true",
        help="real text, offline, embedded by WordLlama (needs the extra 'text'); writes FILE.texts.jsonl, FILE.meta.json too",
    )
    data_parser.add_argument(
        "--prompts",
        type=integer(2, "prompts"),
        default=None,
        help="number of prompts P (default: 2000; with --text: every installed text of 80 words or more)",
    )
    data_parser.add_argument("--n", type=completions, default=None, help="completions per prompt (default: 8; --text: 8 only)")
    data_parser.add_argument(
        "--dim",
        type=integer(8, "dim"),
        default=None,
        help=f"embedding dimension, at least 8 (default: 16; with --text: the first DIM of WordLlama's {TEXT_DIM}, default {TEXT_DIM}, in its mean and its sum: 2 * DIM numbers)",
    )
    data_parser.add_argument("--seed", type=seed_value, default=0, help=f"seed, 0..{MAX_SEED} (default: 0)")
    data_parser.add_argument(
        "--held-out",
        type=number("held-out fraction", 0.0, 1.0, True),
        default=0.1,
        metavar="FRACTION",
        help="fraction of prompts held out (default: 0.1)",
    )
    data_parser.add_argument(
        "--noise",
        type=number("noise", 0.0, math.inf, True),
        default=None,
        help="embedding noise standard deviation of the synthetic dataset (default: 0.02; not with --text)",
    )
    data_parser.add_argument("--quiet", action="store_true", help="no progress bar (--text)")
    data_parser.set_defaults(handler=run_make_data)


def run_make_data(arguments: argparse.Namespace) -> int:
    """Generate and write the synthetic or the real-text dataset (never over an existing file)."""
    if arguments.text:
        return _run_make_text_data(arguments)
    if Path(arguments.out).exists():  # refused before spending time on generating
        raise FileExistsError(f"{arguments.out}: already exists; remove it or choose another file")
    dataset = make_synthetic_dataset(
        prompts=2000 if arguments.prompts is None else arguments.prompts,
        n=8 if arguments.n is None else arguments.n,
        dim=16 if arguments.dim is None else arguments.dim,
        seed=arguments.seed,
        held_out=arguments.held_out,
        noise=0.02 if arguments.noise is None else arguments.noise,
    )
    save_dataset(dataset, arguments.out, overwrite=False)
    held = int(dataset.held_out.sum())
    print(
        f"wrote {arguments.out}: {dataset.prompts} prompts ({held} held out), n = {dataset.n}, d = {dataset.dim}, "
        f"kinds {', '.join(dataset.kind_names)}"
    )
    return 0


def _run_make_text_data(arguments: argparse.Namespace) -> int:
    """The real-text dataset: every input checked, the extra and the output files too, before any work."""
    if arguments.noise is not None:
        raise InputError("--noise applies to the synthetic dataset only, not to --text")
    if arguments.n is not None and arguments.n != 8:
        raise InputError(f"--text has n = 8 completions per prompt (the paper's truncations), got --n {arguments.n}")
    if arguments.dim is not None and arguments.dim > TEXT_DIM:
        raise InputError(f"--dim with --text must be at most {TEXT_DIM} (WordLlama's dimension), got {arguments.dim}")
    load_embedder()  # the extra is missing: one line naming it, before anything else
    for target in (Path(arguments.out), *text_companion_paths(arguments.out)):
        if os.path.lexists(target):
            raise FileExistsError(f"{target}: already exists; remove it or choose another file")
    data = make_text_dataset(
        prompts=arguments.prompts,
        seed=arguments.seed,
        held_out=arguments.held_out,
        dim=arguments.dim,
        progress=not arguments.quiet,
    )
    written = save_text_dataset(data, arguments.out, overwrite=False)
    dataset = data.dataset
    print(
        f"wrote {', '.join(str(path) for path in written)}: {dataset.prompts} prompts ({int(dataset.held_out.sum())} held out) "
        f"of {data.metadata['texts_available']} installed texts, n = {dataset.n}, d = {dataset.dim} ({data.metadata['embedder']}), "
        f"kinds {', '.join(dataset.kind_names)}"
    )
    return 0


def run_train(arguments: argparse.Namespace) -> int:
    """Train, then write diagnostics.json and rewards.png and print the summary and the verdict."""
    utility: Utility | None = arguments.utility
    utility_file = None
    if arguments.utility_file is not None:
        utility = load_utility(arguments.utility_file)
        utility_file = _utility_file_record(arguments.utility_file)
    dataset = load_dataset(arguments.data) if arguments.data else make_synthetic_dataset(seed=arguments.seed)
    config = TrainingConfig(
        utility=utility,
        loss=arguments.loss,
        utility_file=utility_file,
        prompt_aware=arguments.prompt_aware or (),
        steps=arguments.steps,
        seed=arguments.seed,
        learning_rate=arguments.learning_rate,
        hidden=arguments.hidden,
        snapshot_every=arguments.snapshot_every,
    )
    config.utilities_for(dataset.kind_names)  # a kind mismatch is an input error: report it before any file appears
    out = Path(arguments.out)
    # The lock covers the diagnostics and the figure too: another process must not interleave them.
    with hold(out):
        if arguments.resume and _finished(out, config):
            print(f"{out}: this run already finished at step {config.steps}; nothing to resume (results in {DIAGNOSTICS_FILE})")
            return 0
        result = train(dataset, config, out, progress=not arguments.quiet, resume=arguments.resume)
        diagnostics = diagnose(dataset, result.rewards, result.losses_by_kind)
        outcome = verdict(diagnostics)
        record = RunRecord(
            versions=package_versions(),
            platform=result.platform,
            device_kind=result.device_kind,
            devices=result.devices,
            steps=result.step,
            seconds=result.seconds,
            steps_per_second=result.steps_per_second,
            terminal_phase=result.terminal_phase,
        )
        save_diagnostics(diagnostics, out / DIAGNOSTICS_FILE, verdict=outcome, run=record)
        names = {config.loss: arguments.loss} if config.loss is not None and arguments.loss is not None else None
        unfinished = (
            None if result.terminal_phase else f"NOT IN THE TERMINAL PHASE after {result.step} steps: not the trained end point"
        )
        atomic_savefig(plot_rewards(diagnostics, names=names, unfinished=unfinished), out / FIGURE_FILE, dpi=120)
    _print_summary(out, result, diagnostics)
    print(outcome.message)
    if result.loss_underflowed:
        print(
            "warning: the training loss is exactly 0 in float32 (saturated): its gradient vanished, so a flat loss is "
            "not the terminal phase; lower --learning-rate",
            file=sys.stderr,
        )
    elif not result.terminal_phase:
        print(
            f"warning: not in the terminal phase after {result.step} steps (pair accuracy {result.train_pair_accuracy:.4f}, "
            f"loss change {result.loss_change:.2e}); try more --steps",
            file=sys.stderr,
        )
    return 0


def _utility_file_record(reference: str) -> str:
    """``path.py:function sha256:...``: the file's content identifies the run (a resume with an edited file is refused)."""
    path = reference.rpartition(":")[0]
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return f"{Path(path).name}:{reference.rpartition(':')[2]} sha256:{digest}"


def _finished(out: Path, config: TrainingConfig) -> bool:
    """The run in ``out`` reached its last step under ``config`` and wrote its results."""
    run = RunDirectory(out)
    complete = (out / DIAGNOSTICS_FILE).exists() and (out / HELDOUT_REWARDS_FILE).exists()
    return complete and run.checkpoint_step(config.as_dict()) == config.steps


def _print_summary(out: Path, result: TrainingResult, diagnostics: Diagnostics) -> None:
    if result.config.loss is not None:
        utilities = f"one loss for every prompt: {result.config.loss}"
    elif result.config.utility is not None:
        utilities = f"one utility for every prompt: {result.config.spec}"
    else:
        utilities = "prompt-aware: " + ", ".join(f"{kind}={spec}" for kind, spec in result.utilities.items())
    print(f"run directory: {out}")
    print(
        f"{utilities}, n = {diagnostics.n}: {result.step} steps in {result.seconds:.1f} s "
        f"({result.steps_per_second:.1f} steps/s on {result.devices} {result.platform} device(s))"
    )
    print(
        f"terminal phase: {'yes' if result.terminal_phase else 'no'} (training pair accuracy {result.train_pair_accuracy:.4f}, "
        f"loss change over the last tenth {result.loss_change:.1e})"
    )
    free = [curve for curve in diagnostics.train.curves if curve.normalised]
    if free:
        unbounded = any(curve.unbounded for curve in free)
        print(
            "free rewards (raw logits): curves and optima are range-normalised per prompt"
            + ("; an unbounded loss is compared with its direction (no optimum exists)" if unbounded else "")
        )
        last = result.metrics[-1] if result.metrics else {}
        if "reward_range" in last:
            print(
                f"mean reward range {last['reward_range']:.4g}, shape distance {last['shape_distance']:.4f} (step {last['step']})"
            )
    print(f"{'split':<10}{'kind':<12}{'prompts':>8}{'pair acc.':>11}{'distance to optimum':>21}")
    for split in (diagnostics.train, diagnostics.held_out):
        if split is None:
            continue
        for curve in split.curves:
            print(
                f"{split.split:<10}{curve.kind:<12}{curve.prompts:>8}{curve.pair_accuracy:>11.4f}{curve.distance_to_optimum:>21.4f}"
            )
    scores = [
        f"{split.split} {split.collapse_score:.4f}"
        for split in (diagnostics.train, diagnostics.held_out)
        if split is not None and split.collapse_score is not None
    ]
    if scores:
        print("collapse score (max over ranks of the gap between kinds' mean curves; 0 = collapsed): " + ", ".join(scores))
