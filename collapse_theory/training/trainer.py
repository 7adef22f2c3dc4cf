"""Training a reward model on rankings until the terminal phase, where rewards collapse.

The loss of one prompt with completions ranked :math:`y_1 \\succ y_2 \\succ \\dots \\succ y_n`
(Song, Cai, Lee, Su, "Reward Collapse in Aligning Large Language Models",
arXiv 2305.17608, eq. (2.1)) is

.. math::

    \\ell(x) = -\\sum_{1 \\le i < j \\le n} U_{ext}\\big(r(x, y_i) - r(x, y_j)\\big),

with :math:`U_{ext}` the utility's extended version (:meth:`Utility.extended`, the
tangent below ``extension_eps``) and rewards r in (0, 1) from the sigmoid model of
:mod:`collapse_theory.training.model`. A ranking loss as practitioners train it
(:mod:`collapse_theory.problems.losses`: ``open-assistant``, ``ipo:0.5``, ``bradley-terry``, ...)
gives :math:`\\ell = -F(r)` (:mod:`collapse_theory.training.objectives`), with r the raw
logit when the loss is ``free``. The training loss is the mean of :math:`\\ell` over the
training prompts. Two modes:

* one utility U for every prompt: in the interpolating regime every prompt ends at the
  same reward vector, the solver's optimum for U and n (*reward collapse*);
* *prompt-aware*: a utility per prompt kind, so each kind ends at its own optimum.

The loop is full-batch Adam (optax) with a cosine-decayed learning rate, run in
float32 on every visible device: the prompts are split across a one-axis
``jax.sharding.Mesh`` (data parallel; the parameters are replicated and XLA inserts
the gradient all-reduce), the batch padded with zero-weight prompts to a multiple of
the device count. Results (rewards, accuracies) are handed back in float64.

The run directory's files, guards and lock live in
:mod:`collapse_theory.training.run_directory`, the run's outcome in
:mod:`collapse_theory.training.result`; this module is the loop. ``resume=True``
continues from the checkpoint and, because chunk boundaries depend only on the absolute
step, reproduces the uninterrupted run bit for bit on the same machine. A loss or a
parameter that turns non-finite stops the run with :class:`TrainingDivergedError`
before anything of the bad stretch is written; the last good checkpoint stays.

Example:
    >>> from collapse_theory.training.data import make_synthetic_dataset
    >>> dataset = make_synthetic_dataset(prompts=40, n=4, seed=0)
    >>> config = TrainingConfig(utility="log", steps=20, log_every=10)
    >>> result = train(dataset, config, progress=False)
    >>> result.rewards.shape, result.rewards.dtype
    ((40, 4), dtype('float64'))
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TextIO

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm as text_tqdm
from tqdm.auto import tqdm as auto_tqdm

from collapse_theory._core.checks import check_memory
from collapse_theory.problems.losses import Loss
from collapse_theory.training.config import DEFAULT_TRAINING_HIDDEN, TrainingConfig, TrainingError, parse_prompt_aware
from collapse_theory.training.data import Dataset
from collapse_theory.training.diagnostics import (
    Prediction,
    collapse_score,
    diagnostic_rewards,
    pair_accuracy,
    predict,
    range_normalised,
    sorted_rewards,
)
from collapse_theory.training.model import init_reward_model
from collapse_theory.training.result import TrainingResult, head_rewards, loss_change, terminal_phase
from collapse_theory.training.run_directory import CHECKPOINT_FORMAT, RunDirectory, hold
from collapse_theory.training.steps import Batch, adam_optimizer, evaluate_batch, make_batch, prompt_loss, train_chunk

__all__ = [
    "CHECKPOINT_FORMAT",
    "DEFAULT_TRAINING_HIDDEN",
    "TrainingConfig",
    "TrainingDivergedError",
    "TrainingError",
    "TrainingResult",
    "dataset_fingerprint",
    "parse_prompt_aware",
    "prompt_loss",
    "terminal_phase",
    "train",
]


class TrainingDivergedError(TrainingError):
    """The loss or the parameters became non-finite; the run stopped before writing any of it."""


def dataset_fingerprint(dataset: Dataset) -> str:
    """SHA-256 of a dataset's arrays (shapes, dtypes and bytes): a resumed run must use the same data."""
    digest = hashlib.sha256()
    for array in (dataset.prompt_embeddings, dataset.completion_embeddings, dataset.rankings, dataset.kinds, dataset.held_out):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update("\x1f".join(dataset.kind_names).encode())
    return digest.hexdigest()


class _Progress:
    """The progress bar: tqdm on stderr (a widget in notebooks), updated at every logged step."""

    def __init__(self, total: int, initial: int, enabled: bool, stream: TextIO | None) -> None:
        # tqdm.auto: a notebook widget in Jupyter, text elsewhere; a stream given is written as text
        tqdm = auto_tqdm if stream is None else text_tqdm
        self.bar = tqdm(
            total=total,
            initial=initial,
            disable=not enabled,
            file=sys.stderr if stream is None else stream,
            desc="train",
            unit="step",
            leave=True,
            mininterval=0.0,
        )

    def update(self, step: int, loss: float, accuracy: float, score: float | None) -> None:
        collapse = "" if score is None else f"  collapse score {score:.4f}"
        self.bar.set_postfix_str(f"loss {loss:.6g}  pair accuracy {accuracy:.4f}{collapse}", refresh=False)
        self.bar.update(step - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _boundaries(config: TrainingConfig, after: int, until: int) -> Iterator[int]:
    """Chunk ends: every log, snapshot and checkpoint step, the last step, and ``until``.

    They depend on absolute steps only, so a resumed run compiles and runs the same
    chunks as an uninterrupted one (the reason it reproduces it bit for bit). Generated
    one at a time: a huge step count must not materialise millions of boundaries.
    """
    step = after
    while step < until:
        following = [
            ((step // every) + 1) * every for every in (config.log_every, config.snapshot_every, config.checkpoint_every)
        ]
        step = min(end for end in (*following, config.steps, until) if end > step)
        yield step


def _parameter_count(dim: int, hidden: Sequence[int]) -> int:
    widths = [2 * dim, *hidden, 1]
    return sum(a * b + b for a, b in itertools.pairwise(widths))


def training_memory(dataset: Dataset, hidden: Sequence[int], steps: int) -> float:
    """Estimated host bytes of one run: model, Adam state, activations, batches, loss log.

    float32 throughout: parameters with gradients, Adam's two moments, updates and a
    host copy (about 8 copies); activations of every completion through every layer,
    kept for the backward pass (about 4 copies); the batches on host and device; 16
    bytes per step for the loss log (float32, its concatenations, the float64 result).

    Example:
        >>> from collapse_theory.training.data import make_synthetic_dataset
        >>> data = make_synthetic_dataset(prompts=2000, n=8, dim=16)
        >>> round(training_memory(data, (64, 64), 600) / 1e6)  # MB
        45
    """
    completions = dataset.prompts * dataset.n
    activations = completions * (2 * dataset.dim + sum(hidden) + 1)
    return float(32 * _parameter_count(dataset.dim, hidden) + 16 * activations + 12 * completions * dataset.dim + 16 * steps)


def _check_embeddings(dataset: Dataset) -> None:
    """Refuse embeddings float32 cannot hold: they become infinite in training and every loss NaN."""
    limit = float(np.finfo(np.float32).max)
    for name in ("prompt_embeddings", "completion_embeddings"):
        array = getattr(dataset, name)
        largest = max(abs(float(array.max())), abs(float(array.min())))
        if largest > limit:
            raise TrainingError(
                f"{name} has values up to {largest:.3g}, beyond the float32 range ({limit:.3g}) that training uses; "
                "standardise the embeddings (zero mean, unit variance per coordinate)"
            )


def _check_training_memory(dataset: Dataset, config: TrainingConfig) -> None:
    """Refuse a width or step count whose run cannot fit in memory, before allocating it.

    The size that takes the most memory is checked first, so the message names the flag
    that made the request too large and the largest value of it that fits.
    """
    what = f"training on {dataset.prompts} prompts x {dataset.n} completions (d = {dataset.dim})"
    hidden = config.hidden

    def by_steps() -> None:
        check_memory(what, config.steps, lambda steps: training_memory(dataset, hidden, steps), size_name="steps")

    def by_width() -> None:
        def estimate(width: int) -> float:
            return training_memory(dataset, [min(w, width) for w in hidden], config.steps)

        check_memory(what, max(hidden), estimate, size_name="hidden width")

    model_first = training_memory(dataset, hidden, 0) >= 16 * config.steps
    for check in (by_width, by_steps) if model_first else (by_steps, by_width):
        check()


class _Setup(NamedTuple):
    """What every step of one run shares: the batches on the devices, the optimizer, the losses."""

    train_indices: np.ndarray
    held_indices: np.ndarray
    train_batch: Batch
    held_batch: Batch | None
    replicated: NamedSharding
    schedule: optax.Schedule
    optimizer: optax.GradientTransformation
    losses: tuple[Loss, ...]
    devices: tuple[jax.Device, ...]
    free: np.ndarray  # bool [P]: the prompt's loss trains free rewards
    predictions: dict[int, Prediction]  # kind index -> the solver's normalised shape, for free kinds


@dataclass
class _State:
    """The loop's state, updated chunk by chunk (the only mutable value of a run)."""

    step: int
    losses: np.ndarray
    params: Any
    optimizer_state: Any
    metrics: list[dict[str, Any]] = field(default_factory=list)
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)
    timed: list[tuple[int, float]] = field(default_factory=list)
    checkpointed: int | None = None  # the step of the last checkpoint written or resumed from


def _prepare(dataset: Dataset, config: TrainingConfig, devices: Sequence[jax.Device] | None) -> _Setup:
    losses = config.losses_for(dataset.kind_names)
    distinct = tuple(dict.fromkeys(losses.values()))
    loss_of_kind = np.asarray([distinct.index(losses[kind]) for kind in dataset.kind_names])
    free_kind = np.asarray([losses[kind].free for kind in dataset.kind_names], dtype=bool)
    # The metrics compare free kinds' shapes with the solver's (normalised optimum or direction).
    predictions = {index: predict(losses[kind], dataset.n) for index, kind in enumerate(dataset.kind_names) if free_kind[index]}
    chosen = tuple(devices) if devices is not None else tuple(jax.devices())
    if not chosen:
        raise TrainingError("no devices to train on")
    mesh = Mesh(np.asarray(chosen), ("prompts",))
    train_indices, held_indices = dataset.split(False), dataset.split(True)
    schedule, optimizer = adam_optimizer(config.learning_rate, config.steps, config.final_learning_rate_fraction)
    return _Setup(
        train_indices=train_indices,
        held_indices=held_indices,
        train_batch=make_batch(dataset, train_indices, loss_of_kind, mesh),
        held_batch=make_batch(dataset, held_indices, loss_of_kind, mesh) if held_indices.size else None,
        replicated=NamedSharding(mesh, PartitionSpec()),
        schedule=schedule,
        optimizer=optimizer,
        losses=distinct,
        devices=chosen,
        free=free_kind[dataset.kinds],
        predictions=predictions,
    )


def _initial_state(
    dataset: Dataset, config: TrainingConfig, setup: _Setup, run: RunDirectory | None, resume: bool, fingerprint: str
) -> _State:
    """Fresh parameters, or the checkpoint's state with the metrics and snapshots up to its step."""
    params = init_reward_model(jax.random.key(config.seed), dataset.dim, config.hidden)
    state: Any = (params, setup.optimizer.init(params))
    step, losses = 0, np.zeros(0, dtype=np.float32)
    metrics: list[dict[str, Any]] = []
    snapshots: dict[int, np.ndarray] = {}
    if run is not None and resume:
        leaves, treedef = jax.tree_util.tree_flatten(state)
        template = [np.asarray(leaf) for leaf in leaves]
        step, losses, loaded = run.load_checkpoint(template, config.as_dict(), config.steps, fingerprint)
        state = jax.tree_util.tree_unflatten(treedef, loaded)
        run.read_config()  # a damaged config.json is reported, not silently replaced
        metrics = run.read_metrics(step)
        snapshots = run.read_snapshots(range(config.snapshot_every, step + 1, config.snapshot_every))
        if step == config.steps:
            snapshots.update(run.read_snapshots([step]))
    params, optimizer_state = jax.device_put(state, setup.replicated)
    return _State(
        step=step,
        losses=losses,
        params=params,
        optimizer_state=optimizer_state,
        metrics=metrics,
        snapshots=snapshots,
        checkpointed=step if resume else None,
    )


def _all_logits(dataset: Dataset, config: TrainingConfig, setup: _Setup, params: Any) -> tuple[float, np.ndarray, float | None]:
    """The training loss, every prompt's logits (float64, dataset order), the held-out loss."""
    evaluate = functools.partial(evaluate_batch, losses=setup.losses, eps=config.extension_eps)
    loss, train_logits = evaluate(params, setup.train_batch)
    logits = np.zeros(dataset.rankings.shape, dtype=np.float64)
    logits[setup.train_indices] = np.asarray(train_logits, dtype=np.float64)[: setup.train_indices.size]
    held_loss = None
    if setup.held_batch is not None:
        held_loss_value, held_logits = evaluate(params, setup.held_batch)
        held_loss = float(held_loss_value)
        logits[setup.held_indices] = np.asarray(held_logits, dtype=np.float64)[: setup.held_indices.size]
    return float(loss), logits, held_loss


@jax.jit
def _all_finite(tree: Any) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]))


def _diverged(step: int, what: str, run: RunDirectory | None, checkpointed: int | None) -> TrainingDivergedError:
    kept = ""
    if run is not None and checkpointed is not None:
        kept = f"; the last good checkpoint (step {checkpointed}) is kept in {run.path}"
    return TrainingDivergedError(
        f"training diverged: {what} became non-finite at step {step}{kept}; nothing after it was written. "
        "Standardise the embeddings (zero mean, unit variance per coordinate) or lower the learning rate "
        "(--learning-rate), and start a new run"
    )


def _check_chunk(values: np.ndarray, params: Any, state: _State, end: int, run: RunDirectory | None) -> None:
    """Raise :class:`TrainingDivergedError` if the chunk's losses or its final parameters are not finite."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:  # values[i] is the loss at step state.step + i, before that step's update
        raise _diverged(state.step + int(bad[0]), "the training loss", run, state.checkpointed)
    if not bool(_all_finite(params)):
        raise _diverged(end, "the model's parameters", run, state.checkpointed)


def _log_entry(
    dataset: Dataset, setup: _Setup, step: int, loss: float, logits: np.ndarray, held_loss: float | None, seconds: float
) -> dict[str, Any]:
    """One metrics entry: loss, pair accuracy and collapse score (training and held-out), learning rate.

    With free rewards also ``reward_range`` (the mean over free training prompts of max r - min r)
    and ``shape_distance`` (the largest over free kinds of max_k |mean normalised shape_k -
    prediction_k|, the prediction the solver's normalised optimum or, unbounded, its direction).
    """
    rewards = diagnostic_rewards(head_rewards(logits, setup.free), setup.free)
    train, held = setup.train_indices, setup.held_indices
    kind_count = len(dataset.kind_names)
    entry: dict[str, Any] = {
        "step": step,
        "loss": loss,
        "pair_accuracy": pair_accuracy(logits[train], dataset.rankings[train]),
        "collapse_score": collapse_score(rewards[train], dataset.kinds[train], kind_count),
        "learning_rate": float(setup.schedule(step)),
        "seconds": round(seconds, 3),
    }
    if setup.predictions:
        entry.update(_free_shape(dataset, setup, logits))
    if held_loss is not None:
        entry["held_out_loss"] = held_loss
        entry["held_out_pair_accuracy"] = pair_accuracy(logits[held], dataset.rankings[held])
        entry["held_out_collapse_score"] = collapse_score(rewards[held], dataset.kinds[held], kind_count)
    return entry


def _free_shape(dataset: Dataset, setup: _Setup, logits: np.ndarray) -> dict[str, float]:
    """``reward_range`` and ``shape_distance`` of the free training prompts (see :func:`_log_entry`)."""
    train = setup.train_indices
    free = train[setup.free[train]]
    ranges = logits[free].max(axis=1) - logits[free].min(axis=1)
    distances = []
    for index, prediction in setup.predictions.items():
        members = free[dataset.kinds[free] == index]
        if members.size:
            shape = sorted_rewards(range_normalised(logits[members])).mean(axis=0)
            distances.append(float(np.max(np.abs(shape - prediction.rewards))))
    return {
        "reward_range": float(ranges.mean()) if ranges.size else math.nan,
        "shape_distance": max(distances) if distances else math.nan,
    }


def _record(
    dataset: Dataset,
    config: TrainingConfig,
    setup: _Setup,
    state: _State,
    until: int,
    run: RunDirectory | None,
    bar: _Progress,
    start: float,
    fingerprint: str,
) -> None:
    """After a chunk: log metrics, take a snapshot and write a checkpoint where the step asks for them."""
    step = state.step
    last = step == config.steps
    logged, snapped = step % config.log_every == 0 or last, step % config.snapshot_every == 0 or last
    if logged or snapped:
        loss, logits, held_loss = _all_logits(dataset, config, setup, state.params)
        if not (math.isfinite(loss) and np.all(np.isfinite(logits))):
            raise _diverged(step, "the rewards' logits", run, state.checkpointed)
        if logged:
            entry = _log_entry(dataset, setup, step, loss, logits, held_loss, time.perf_counter() - start)
            state.metrics.append(entry)
            bar.update(step, loss, entry["pair_accuracy"], entry["collapse_score"])
            if run is not None:
                run.write_metrics(state.metrics)
        if snapped:
            state.snapshots[step] = head_rewards(logits, setup.free)
            if run is not None:
                run.save_snapshot(step, state.snapshots[step])
    if run is not None and (step % config.checkpoint_every == 0 or last or step == until):
        leaves = [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves((state.params, state.optimizer_state))]
        run.save_checkpoint(step, state.losses, leaves, config.as_dict(), fingerprint)
        state.checkpointed = step


def _heldout_records(dataset: Dataset, rewards: np.ndarray) -> Iterator[dict[str, Any]]:
    """``heldout_rewards.jsonl``'s lines: each held-out prompt's rewards in rank order, best first."""
    by_rank = np.take_along_axis(rewards, np.argsort(dataset.rankings, axis=1), axis=1)
    for index in dataset.split(True):
        yield {
            "prompt_id": int(index),
            "scores": [float(score) for score in by_rank[index]],
            "group": dataset.kind_names[int(dataset.kinds[index])],
        }


def train(
    dataset: Dataset,
    config: TrainingConfig,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    progress: bool = True,
    resume: bool = False,
    stop_at: int | None = None,
    progress_stream: TextIO | None = None,
    devices: Sequence[jax.Device] | None = None,
) -> TrainingResult:
    """Train a reward model on the dataset's training prompts; see the module docstring.

    Args:
        dataset: the prompts, completions, rankings and kinds.
        config: the run's configuration (utility or prompt-aware utilities, steps, ...).
        out_dir: the run directory (metrics, snapshots, checkpoints, held-out rewards), or
            None to keep everything in memory. It must not hold a run unless ``resume``;
            the call holds its lock (:func:`~collapse_theory.training.run_directory.hold`)
            throughout, and a failure before the first checkpoint leaves no files behind.
        progress: show a progress bar (tqdm) on stderr.
        resume: continue from ``out_dir``'s checkpoint (same config and dataset).
        stop_at: pause after this step (a checkpoint is written there) to resume later,
            e.g. in time-sliced jobs; the result then describes that step.
        progress_stream: where the progress bar goes (default: stderr).
        devices: the devices to split the prompts over (default: every visible device).

    Returns:
        A :class:`TrainingResult`.

    Raises:
        TrainingError: a bad configuration, run directory or checkpoint (one line);
            :class:`TrainingDivergedError` when the loss becomes non-finite;
            :class:`~collapse_theory._core.checks.MemoryLimitError` for sizes that cannot fit.
    """
    until = config.steps if stop_at is None else int(stop_at)
    if not (1 <= until <= config.steps):
        raise TrainingError(f"stop_at must be in 1..{config.steps}, got {stop_at!r}")
    config.utilities_for(dataset.kind_names)
    _check_embeddings(dataset)
    _check_training_memory(dataset, config)
    # Training is float32 by design; pinning x64 off for this call makes the run the same
    # whatever the caller's global jax_enable_x64 (it would change random draws and the
    # optimizer's arithmetic otherwise).
    with jax.enable_x64(False):
        if out_dir is None:
            if resume:
                raise TrainingError("resume needs the run directory (out_dir) that holds the checkpoint")
            return _train(dataset, config, None, resume, until, _Progress(config.steps, 0, progress, progress_stream), devices)
        run = RunDirectory(out_dir)
        run.check(resume)
        with hold(run.path):
            run.check(resume)  # again under the lock: another process may have written meanwhile
            try:
                bar = _Progress(config.steps, 0, progress, progress_stream)
                return _train(dataset, config, run, resume, until, bar, devices)
            except BaseException:
                run.discard_unless_checkpointed()
                raise


def _train(
    dataset: Dataset,
    config: TrainingConfig,
    run: RunDirectory | None,
    resume: bool,
    until: int,
    bar: _Progress,
    devices: Sequence[jax.Device] | None,
) -> TrainingResult:
    start = time.perf_counter()
    utilities = config.utilities_for(dataset.kind_names)
    setup = _prepare(dataset, config, devices)
    fingerprint = dataset_fingerprint(dataset)
    state = _initial_state(dataset, config, setup, run, resume, fingerprint)
    if run is not None:
        run.write_config(config.as_dict(), fingerprint, utilities)
    chunk = functools.partial(train_chunk, optimizer=setup.optimizer, losses=setup.losses, eps=config.extension_eps)
    if state.step:
        bar.bar.update(state.step)  # a resumed run's bar starts where it stopped
    try:
        for end in _boundaries(config, state.step, until):
            chunk_start = time.perf_counter()
            params, optimizer_state, values = chunk(
                state.params, state.optimizer_state, setup.train_batch, length=end - state.step
            )
            values = np.asarray(values)
            _check_chunk(values, params, state, end, run)
            state.timed.append((end - state.step, time.perf_counter() - chunk_start))
            state.params, state.optimizer_state, state.step = params, optimizer_state, end
            state.losses = np.concatenate([state.losses, values.astype(np.float32)])
            _record(dataset, config, setup, state, until, run, bar, start, fingerprint)
    finally:
        bar.close()
    return _result(dataset, config, setup, state, run, utilities, start)


def _result(
    dataset: Dataset,
    config: TrainingConfig,
    setup: _Setup,
    state: _State,
    run: RunDirectory | None,
    utilities: dict[str, str],
    start: float,
) -> TrainingResult:
    """The final figures; in a run directory, the held-out rewards once the run is finished."""
    _, logits, _ = _all_logits(dataset, config, setup, state.params)
    if not np.all(np.isfinite(logits)):
        raise _diverged(state.step, "the rewards' logits", run, state.checkpointed)
    train, held = setup.train_indices, setup.held_indices
    train_accuracy = pair_accuracy(logits[train], dataset.rankings[train])
    held_accuracy = pair_accuracy(logits[held], dataset.rankings[held]) if held.size else None
    if run is not None and state.step == config.steps:
        run.write_heldout_rewards(_heldout_records(dataset, head_rewards(logits, setup.free)))
    change = loss_change(state.losses.astype(np.float64))
    steady = state.timed[1:] if len(state.timed) > 1 else state.timed
    steps_per_second = sum(s for s, _ in steady) / max(sum(t for _, t in steady), 1e-12) if steady else 0.0
    return TrainingResult(
        config=config,
        kind_names=dataset.kind_names,
        utilities=utilities,
        params=jax.tree_util.tree_map(np.asarray, state.params),
        step=state.step,
        logits=logits,
        held_out=dataset.held_out.copy(),
        snapshots=state.snapshots,
        metrics=tuple(state.metrics),
        losses=state.losses.astype(np.float64),
        train_pair_accuracy=train_accuracy,
        held_out_pair_accuracy=held_accuracy,
        loss_change=change,
        terminal_phase=terminal_phase(train_accuracy, change, state.losses),
        seconds=time.perf_counter() - start,
        steps_per_second=float(steps_per_second),
        devices=len(setup.devices),
        platform=setup.devices[0].platform,
        device_kind=str(getattr(setup.devices[0], "device_kind", setup.devices[0].platform)),
        losses_by_kind=config.losses_for(dataset.kind_names),
        free=setup.free.copy(),
    )
