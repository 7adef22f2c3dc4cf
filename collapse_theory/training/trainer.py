"""Training a reward model on rankings until the terminal phase, where rewards collapse.

The loss of one prompt with completions ranked :math:`y_1 \\succ y_2 \\succ \\dots \\succ y_n`
(Song, Cai, Lee, Su, "Reward Collapse in Aligning Large Language Models",
arXiv 2305.17608, eq. (2.1)) is

.. math::

    \\ell(x) = -\\sum_{1 \\le i < j \\le n} U_{ext}\\big(r(x, y_i) - r(x, y_j)\\big),

with :math:`U_{ext}` the utility's extended version (:meth:`Utility.extended`, the
tangent below ``extension_eps``) and rewards r in (0, 1) from the sigmoid model of
:mod:`collapse_theory.training.model`. The training loss is the mean of
:math:`\\ell` over the training prompts. Two modes:

* one utility U for every prompt: in the interpolating regime every prompt ends at the
  same reward vector, the solver's optimum for U and n (*reward collapse*);
* *prompt-aware*: a utility per prompt kind, so each kind ends at its own optimum.

The loop is full-batch Adam (optax) with a cosine-decayed learning rate, run in
float32 on every visible device: the prompts are split across a one-axis
``jax.sharding.Mesh`` (data parallel; the parameters are replicated and XLA inserts
the gradient all-reduce), the batch padded with zero-weight prompts to a multiple of
the device count. Results (rewards, accuracies) are handed back in float64.

A run directory holds ``config.json``, ``metrics.jsonl`` (one JSON object per logged
step), ``snapshots/step_NNNNNN.npz`` (every prompt's rewards) and ``checkpoint.npz``
(parameters, optimizer state, step, per-step losses). ``resume=True`` continues from
the checkpoint and, because chunk boundaries depend only on the absolute step,
reproduces the uninterrupted run bit for bit on the same machine.

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
import json
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from collapse_theory._io import atomic_write, atomic_write_json, atomic_write_text
from collapse_theory.training.data import Dataset
from collapse_theory.training.diagnostics import pair_accuracy
from collapse_theory.training.model import RewardModel, init_reward_model, reward_logits
from collapse_theory.utilities import DEFAULT_EXTENSION_EPS, Utility, extended_value, parse_utility

#: Hidden widths of the default trainer's model (wide enough to interpolate the demo).
DEFAULT_TRAINING_HIDDEN = (64, 64)
#: Version of the checkpoint layout, checked on resume.
CHECKPOINT_FORMAT = 1

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.npz"
SNAPSHOT_FOLDER = "snapshots"


class TrainingError(ValueError):
    """A training configuration, run directory or checkpoint that cannot be used (one line)."""


def parse_prompt_aware(text: str) -> tuple[tuple[str, str], ...]:
    """Parse ``"closed=linear,open=neg-power:1"`` into ``(("closed", "linear"), ("open", "neg-power:1"))``.

    Each utility spec is validated (:func:`parse_utility`) and written canonically.

    Example:
        >>> parse_prompt_aware("closed=linear, open=neg-power:1.0")
        (('closed', 'linear'), ('open', 'neg-power:1'))
    """
    pairs: list[tuple[str, str]] = []
    for item in text.split(","):
        kind, sep, spec = item.partition("=")
        kind = kind.strip()
        if not sep or not kind or not spec.strip():
            raise TrainingError(f"prompt-aware utilities must look like KIND=SPEC,KIND=SPEC, got {text!r}")
        if kind in dict(pairs):
            raise TrainingError(f"prompt-aware utilities name kind {kind!r} twice")
        pairs.append((kind, parse_utility(spec.strip()).spec))
    return tuple(pairs)


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that determines a training run (two equal configs give equal runs).

    Attributes:
        utility: one utility spec for every prompt (e.g. ``"log"``), or None.
        prompt_aware: ``((kind, spec), ...)``, a utility per prompt kind, or empty.
            Exactly one of ``utility`` and ``prompt_aware`` is given.
        steps: full-batch optimizer steps.
        learning_rate: Adam's initial learning rate, decayed along a cosine.
        final_learning_rate_fraction: the learning rate at the last step, as a fraction
            of the first (small, so the loss ends flat).
        hidden: hidden-layer widths of the reward model.
        seed: seed of the model's initial parameters.
        extension_eps: threshold of the utilities' tangent extension.
        log_every: steps between metrics entries (and progress updates).
        snapshot_every: steps between snapshots of every prompt's rewards.
        checkpoint_every: steps between checkpoints.

    Example:
        >>> TrainingConfig(prompt_aware=(("closed", "linear"), ("open", "neg-power:1.0"))).prompt_aware
        (('closed', 'linear'), ('open', 'neg-power:1'))
    """

    utility: str | None = None
    prompt_aware: tuple[tuple[str, str], ...] = ()
    steps: int = 600
    learning_rate: float = 1e-2
    final_learning_rate_fraction: float = 0.01
    hidden: tuple[int, ...] = DEFAULT_TRAINING_HIDDEN
    seed: int = 0
    extension_eps: float = DEFAULT_EXTENSION_EPS
    log_every: int = 50
    snapshot_every: int = 100
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        if (self.utility is None) == (not self.prompt_aware):
            raise TrainingError("give exactly one of a utility for every prompt or prompt-aware utilities per kind")
        if self.utility is not None:
            object.__setattr__(self, "utility", parse_utility(self.utility).spec)
        else:
            pairs = tuple((str(kind), parse_utility(spec).spec) for kind, spec in self.prompt_aware)
            if len({kind for kind, _ in pairs}) != len(pairs):
                raise TrainingError(f"prompt-aware utilities name a kind twice: {pairs}")
            object.__setattr__(self, "prompt_aware", pairs)
        for name in ("steps", "log_every", "snapshot_every", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise TrainingError(f"{name.replace('_', ' ')} must be an integer >= 1, got {value!r}")
            object.__setattr__(self, name, int(value))
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise TrainingError(f"seed must be an integer >= 0, got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))
        for name, upper in (("learning_rate", math.inf), ("final_learning_rate_fraction", 1.0), ("extension_eps", 1.0)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not (0.0 < float(value) <= upper) or not math.isfinite(value):
                raise TrainingError(f"{name.replace('_', ' ')} must be a finite number in (0, {upper:g}], got {value!r}")
            object.__setattr__(self, name, float(value))
        hidden = tuple(self.hidden)
        if not hidden or any(isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1 for w in hidden):
            raise TrainingError(f"hidden widths must be one or more integers >= 1, got {self.hidden!r}")
        object.__setattr__(self, "hidden", tuple(int(w) for w in hidden))

    @property
    def mode(self) -> str:
        """``"single"`` (one utility) or ``"prompt-aware"``."""
        return "single" if self.utility is not None else "prompt-aware"

    def utilities_for(self, kind_names: Sequence[str]) -> dict[str, str]:
        """The utility spec of each kind of a dataset; every kind needs one, no other kind may appear."""
        if self.utility is not None:
            return {kind: self.utility for kind in kind_names}
        assigned = dict(self.prompt_aware)
        unknown = [kind for kind in assigned if kind not in kind_names]
        if unknown:
            raise TrainingError(f"prompt-aware kind {unknown[0]!r} is not in the dataset (kinds: {', '.join(kind_names)})")
        missing = [kind for kind in kind_names if kind not in assigned]
        if missing:
            raise TrainingError(
                f"prompt-aware utilities give no utility for kind {missing[0]!r} (kinds: {', '.join(kind_names)})"
            )
        return {kind: assigned[kind] for kind in kind_names}

    def as_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready values (``config.json``, checkpoints)."""
        return {
            "utility": self.utility,
            "prompt_aware": [list(pair) for pair in self.prompt_aware],
            "steps": self.steps,
            "learning_rate": self.learning_rate,
            "final_learning_rate_fraction": self.final_learning_rate_fraction,
            "hidden": list(self.hidden),
            "seed": self.seed,
            "extension_eps": self.extension_eps,
            "log_every": self.log_every,
            "snapshot_every": self.snapshot_every,
            "checkpoint_every": self.checkpoint_every,
        }


@dataclass(frozen=True, eq=False)
class TrainingResult:
    """The outcome of :func:`train`.

    Attributes:
        config: the configuration.
        kind_names: the dataset's kinds.
        utilities: each kind's utility spec.
        params: the final reward model (NumPy arrays).
        step: the last step trained (``config.steps`` unless stopped early).
        logits: float64 [P, n], every prompt's final logits in the dataset's order.
        held_out: bool [P], the dataset's held-out mask.
        snapshots: ``{step: rewards [P, n] float64}`` at every snapshot step.
        metrics: the metrics log, one dict per logged step.
        losses: float64 [step], the training loss before each optimizer step.
        train_pair_accuracy: fraction of ranked training pairs ordered right (on logits).
        held_out_pair_accuracy: the same on held-out prompts (None when there are none).
        loss_change: relative change of the loss over the last tenth of the steps.
        terminal_phase: training pair accuracy 1 and the loss flat (``loss_change`` at
            most 1e-3).
        seconds: wall-clock time of this call.
        steps_per_second: optimizer steps per second, compilation excluded when possible.
        devices: number of devices the prompts were split over.
        platform: the devices' platform (``"cpu"``, ``"gpu"``, ``"tpu"``).
    """

    config: TrainingConfig
    kind_names: tuple[str, ...]
    utilities: dict[str, str]
    params: RewardModel
    step: int
    logits: np.ndarray
    held_out: np.ndarray
    snapshots: dict[int, np.ndarray]
    metrics: tuple[dict[str, Any], ...]
    losses: np.ndarray
    train_pair_accuracy: float
    held_out_pair_accuracy: float | None
    loss_change: float
    terminal_phase: bool
    seconds: float
    steps_per_second: float
    devices: int
    platform: str

    @property
    def rewards(self) -> np.ndarray:
        """float64 [P, n], every prompt's rewards sigmoid(logits)."""
        return _sigmoid(self.logits)

    @property
    def train_rewards(self) -> np.ndarray:
        """The training prompts' rewards."""
        return self.rewards[~self.held_out]

    @property
    def held_out_rewards(self) -> np.ndarray:
        """The held-out prompts' rewards."""
        return self.rewards[self.held_out]


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -logits))


def prompt_loss(rewards: jax.Array, utility: Utility | str, eps: float = DEFAULT_EXTENSION_EPS) -> jax.Array:
    """The ranking loss of prompts whose rewards [..., n] are listed best first.

    .. math::

        \\ell = -\\sum_{1 \\le i < j \\le n} U_{ext}(r_i - r_j)

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(prompt_loss(jnp.array([0.9, 0.5, 0.1]), "linear")), 6)  # -(0.4 + 0.8 + 0.4)
        -1.6
    """
    utility = parse_utility(utility)
    n = rewards.shape[-1]
    better, worse = np.triu_indices(n, 1)
    differences = rewards[..., better] - rewards[..., worse]
    parameters = jnp.asarray(utility.parameters, dtype=differences.dtype)
    values = extended_value(utility.function, differences, parameters, eps, utility.defined_everywhere)
    return -jnp.sum(values, axis=-1)


class _Batch(NamedTuple):
    """A split of the dataset on the devices, padded to a multiple of the device count."""

    prompt_embeddings: jax.Array  # [B, d]
    completion_embeddings: jax.Array  # [B, n, d]
    by_rank: jax.Array  # [B, n]: storage positions, best first
    utility_index: jax.Array  # [B]
    weight: jax.Array  # [B]: 1 for real prompts, 0 for padding


def _make_batch(dataset: Dataset, indices: np.ndarray, utility_of_kind: np.ndarray, mesh: Mesh) -> _Batch:
    devices = mesh.devices.size
    padded = -(-len(indices) // devices) * devices
    rows = np.concatenate([indices, np.full(padded - len(indices), indices[0])])
    weight = np.zeros(padded, dtype=np.float32)
    weight[: len(indices)] = 1.0
    host = (
        dataset.prompt_embeddings[rows].astype(np.float32),
        dataset.completion_embeddings[rows].astype(np.float32),
        np.argsort(dataset.rankings[rows], axis=1).astype(np.int32),
        utility_of_kind[dataset.kinds[rows]].astype(np.int32),
        weight,
    )
    sharding = NamedSharding(mesh, PartitionSpec("prompts"))
    return _Batch(*(jax.device_put(array, sharding) for array in host))


def _batch_loss(params: RewardModel, batch: _Batch, utilities: tuple[Utility, ...], eps: float) -> jax.Array:
    logits = reward_logits(params, batch.prompt_embeddings, batch.completion_embeddings)
    rewards = jax.nn.sigmoid(jnp.take_along_axis(logits, batch.by_rank, axis=1))
    per_utility = jnp.stack([prompt_loss(rewards, utility, eps) for utility in utilities], axis=-1)
    per_prompt = jnp.take_along_axis(per_utility, batch.utility_index[:, None], axis=1)[:, 0]
    return jnp.sum(batch.weight * per_prompt) / jnp.sum(batch.weight)


@functools.lru_cache(maxsize=16)
def _optimizer(learning_rate: float, steps: int, final_fraction: float) -> tuple[optax.Schedule, optax.GradientTransformation]:
    """Adam on a cosine-decayed learning rate; cached so equal configs reuse compiled chunks."""
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=final_fraction)
    return schedule, optax.adam(schedule)


@functools.partial(jax.jit, static_argnames=("optimizer", "utilities", "eps", "length"))
def _train_chunk(
    params: RewardModel,
    optimizer_state: Any,
    batch: _Batch,
    *,
    optimizer: optax.GradientTransformation,
    utilities: tuple[Utility, ...],
    eps: float,
    length: int,
) -> tuple[RewardModel, Any, jax.Array]:
    """``length`` full-batch optimizer steps in one compiled ``lax.scan``; returns the losses too."""

    def step(carry: tuple[RewardModel, Any], _: None) -> tuple[tuple[RewardModel, Any], jax.Array]:
        params, state = carry
        value, gradients = jax.value_and_grad(_batch_loss)(params, batch, utilities, eps)
        updates, state = optimizer.update(gradients, state, params)
        return (optax.apply_updates(params, updates), state), value

    (params, optimizer_state), values = jax.lax.scan(step, (params, optimizer_state), length=length)
    return params, optimizer_state, values


@functools.partial(jax.jit, static_argnames=("utilities", "eps"))
def _evaluate(params: RewardModel, batch: _Batch, *, utilities: tuple[Utility, ...], eps: float) -> tuple[jax.Array, jax.Array]:
    loss = _batch_loss(params, batch, utilities, eps)
    return loss, reward_logits(params, batch.prompt_embeddings, batch.completion_embeddings)


def dataset_fingerprint(dataset: Dataset) -> str:
    """SHA-256 of a dataset's arrays (shapes, dtypes and bytes): a resumed run must use the same data."""
    digest = hashlib.sha256()
    for array in (dataset.prompt_embeddings, dataset.completion_embeddings, dataset.rankings, dataset.kinds, dataset.held_out):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update("\x1f".join(dataset.kind_names).encode())
    return digest.hexdigest()


class _Progress:
    """A plain-text progress bar on stderr (rewritten in place on a terminal)."""

    def __init__(self, total: int, enabled: bool, stream: TextIO | None = None) -> None:
        self.total, self.enabled = total, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.inline = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()

    def update(self, step: int, loss: float, accuracy: float) -> None:
        if not self.enabled:
            return
        width = 24
        filled = int(width * step / self.total)
        elapsed = time.perf_counter() - self.start
        text = (
            f"train [{'#' * filled}{'.' * (width - filled)}] {step}/{self.total}"
            f"  loss {loss:.6g}  pair accuracy {accuracy:.4f}  {elapsed:.1f} s"
        )
        self.stream.write(("\r" + text) if self.inline else (text + "\n"))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.inline:
            self.stream.write("\n")
            self.stream.flush()


def _boundaries(config: TrainingConfig, after: int, until: int) -> list[int]:
    """Chunk ends: every log, snapshot and checkpoint step, the last step, and ``until``.

    They depend on absolute steps only, so a resumed run compiles and runs the same
    chunks as an uninterrupted one (the reason it reproduces it bit for bit).
    """
    ends = {config.steps, until}
    for every in (config.log_every, config.snapshot_every, config.checkpoint_every):
        ends.update(range(every, config.steps + 1, every))
    return sorted(step for step in ends if after < step <= until)


def _check_run_directory(out_dir: Path, resume: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise TrainingError(f"{out_dir}: exists and is not a directory")
    has_checkpoint = (out_dir / CHECKPOINT_FILE).exists()
    if resume and not has_checkpoint:
        raise TrainingError(f"{out_dir}: no {CHECKPOINT_FILE} to resume from")
    if not resume and has_checkpoint:
        raise TrainingError(
            f"{out_dir}: already holds a training run; pass resume (--resume) to continue it or choose another directory"
        )
    if not resume and (out_dir / METRICS_FILE).exists():
        raise TrainingError(f"{out_dir}: holds a run stopped before its first checkpoint; remove it or choose another directory")


def _save_checkpoint(path: Path, step: int, losses: np.ndarray, state: Any, config: TrainingConfig, fingerprint: str) -> None:
    leaves = jax.tree_util.tree_leaves(state)
    arrays: dict[str, np.ndarray] = {
        "format": np.asarray(CHECKPOINT_FORMAT),
        "step": np.asarray(step, dtype=np.int64),
        "losses": np.asarray(losses, dtype=np.float32),
        "config": np.asarray(json.dumps(config.as_dict(), sort_keys=True)),
        "dataset": np.asarray(fingerprint),
    }
    for index, leaf in enumerate(leaves):
        arrays[f"leaf_{index:04d}"] = np.asarray(leaf)
    atomic_write(path, lambda stream: np.savez(stream, **arrays))  # type: ignore[arg-type]


def _load_checkpoint(path: Path, template: Any, config: TrainingConfig, fingerprint: str) -> tuple[int, np.ndarray, Any]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            contents = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError) as error:
        raise TrainingError(f"{path}: unreadable checkpoint ({_first_line(error)})") from None
    required = ("format", "step", "losses", "config", "dataset")
    if any(key not in contents for key in required) or int(contents["format"]) != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path}: not a checkpoint of this trainer (format {CHECKPOINT_FORMAT})")
    saved = json.loads(str(contents["config"]))
    current = config.as_dict()
    differing = [key for key in current if saved.get(key) != current[key]]
    if differing:
        key = differing[0]
        raise TrainingError(
            f"{path}: cannot resume with a different configuration ({key}: checkpoint {saved.get(key)!r}, now {current[key]!r})"
        )
    if str(contents["dataset"]) != fingerprint:
        raise TrainingError(f"{path}: cannot resume on a different dataset (fingerprint mismatch)")
    leaves, treedef = jax.tree_util.tree_flatten(template)
    loaded = [contents.get(f"leaf_{index:04d}") for index in range(len(leaves))]
    for index, (leaf, value) in enumerate(zip(leaves, loaded, strict=True)):
        if value is None or value.shape != np.shape(leaf) or value.dtype != np.asarray(leaf).dtype:
            raise TrainingError(f"{path}: checkpoint array leaf_{index:04d} does not match the model")
    step = int(contents["step"])
    losses = np.asarray(contents["losses"], dtype=np.float32)
    if not (0 <= step <= config.steps) or losses.shape != (step,):
        raise TrainingError(f"{path}: inconsistent checkpoint (step {step}, {losses.shape[0]} losses)")
    return step, losses, jax.tree_util.tree_unflatten(treedef, loaded)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _read_metrics(path: Path, until: int) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            if int(entry["step"]) <= until:
                entries.append(entry)
    return entries


def _write_metrics(path: Path, entries: Sequence[Mapping[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(entry, sort_keys=True) + "\n" for entry in entries))


def _snapshot_path(out_dir: Path, step: int) -> Path:
    return out_dir / SNAPSHOT_FOLDER / f"step_{step:06d}.npz"


def _save_snapshot(path: Path, rewards: np.ndarray, step: int) -> None:
    atomic_write(path, lambda stream: np.savez(stream, rewards=rewards, step=np.asarray(step)))  # type: ignore[arg-type]


def _read_snapshots(out_dir: Path, config: TrainingConfig, until: int) -> dict[int, np.ndarray]:
    snapshots = {}
    for step in range(config.snapshot_every, until + 1, config.snapshot_every):
        path = _snapshot_path(out_dir, step)
        if path.exists():
            with np.load(path, allow_pickle=False) as archive:
                snapshots[step] = np.asarray(archive["rewards"], dtype=np.float64)
    return snapshots


def _loss_change(losses: np.ndarray) -> float:
    """Relative change of the loss over the last tenth of the steps (a flat loss has ~0)."""
    if losses.size < 2:
        return math.inf
    start = losses[max(0, losses.size - max(1, losses.size // 10) - 1)]
    end = losses[-1]
    return float(abs(end - start) / max(1.0, abs(end)))


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
        out_dir: the run directory (metrics, snapshots, checkpoints), or None to keep
            everything in memory. It must not hold a run unless ``resume``.
        progress: print a progress bar to stderr.
        resume: continue from ``out_dir``'s checkpoint (same config and dataset).
        stop_at: pause after this step (a checkpoint is written there) to resume later,
            e.g. in time-sliced jobs; the result then describes that step.
        progress_stream: where the progress bar goes (default: stderr).
        devices: the devices to split the prompts over (default: every visible device).

    Returns:
        A :class:`TrainingResult`.
    """
    # Training is float32 by design; pinning x64 off for this call makes the run the same
    # whatever the caller's global jax_enable_x64 (it would change random draws and the
    # optimizer's arithmetic otherwise).
    with jax.enable_x64(False):
        return _train(dataset, config, out_dir, progress, resume, stop_at, progress_stream, devices)


def _train(
    dataset: Dataset,
    config: TrainingConfig,
    out_dir: str | os.PathLike[str] | None,
    progress: bool,
    resume: bool,
    stop_at: int | None,
    progress_stream: TextIO | None,
    devices: Sequence[jax.Device] | None,
) -> TrainingResult:
    start = time.perf_counter()
    utilities = config.utilities_for(dataset.kind_names)
    until = config.steps if stop_at is None else int(stop_at)
    if not (1 <= until <= config.steps):
        raise TrainingError(f"stop_at must be in 1..{config.steps}, got {stop_at!r}")
    run_dir = Path(out_dir) if out_dir is not None else None
    if run_dir is not None:
        _check_run_directory(run_dir, resume)
    elif resume:
        raise TrainingError("resume needs the run directory (out_dir) that holds the checkpoint")

    distinct = tuple(dict.fromkeys(utilities.values()))
    utility_objects = tuple(parse_utility(spec) for spec in distinct)
    utility_of_kind = np.asarray([distinct.index(utilities[kind]) for kind in dataset.kind_names])

    devices = list(devices) if devices is not None else jax.devices()
    if not devices:
        raise TrainingError("no devices to train on")
    mesh = Mesh(np.asarray(devices), ("prompts",))
    replicated = NamedSharding(mesh, PartitionSpec())
    train_indices, held_indices = dataset.split(False), dataset.split(True)
    train_batch = _make_batch(dataset, train_indices, utility_of_kind, mesh)
    held_batch = _make_batch(dataset, held_indices, utility_of_kind, mesh) if held_indices.size else None

    schedule, optimizer = _optimizer(config.learning_rate, config.steps, config.final_learning_rate_fraction)
    params = init_reward_model(jax.random.key(config.seed), dataset.dim, config.hidden)
    state: Any = (params, optimizer.init(params))
    fingerprint = dataset_fingerprint(dataset)
    step, losses = 0, np.zeros(0, dtype=np.float32)
    metrics: list[dict[str, Any]] = []
    snapshots: dict[int, np.ndarray] = {}
    if run_dir is not None and resume:
        step, losses, state = _load_checkpoint(run_dir / CHECKPOINT_FILE, state, config, fingerprint)
        metrics = _read_metrics(run_dir / METRICS_FILE, step)
        snapshots = _read_snapshots(run_dir, config, step)
    if run_dir is not None:
        atomic_write_json(run_dir / CONFIG_FILE, {**config.as_dict(), "dataset": fingerprint, "utilities": utilities})
    params, optimizer_state = jax.device_put(state, replicated)
    evaluate = functools.partial(_evaluate, utilities=utility_objects, eps=config.extension_eps)

    def all_logits(params: RewardModel) -> tuple[float, np.ndarray, float | None]:
        loss, train_logits = evaluate(params, train_batch)
        logits = np.zeros(dataset.rankings.shape, dtype=np.float64)
        logits[train_indices] = np.asarray(train_logits, dtype=np.float64)[: train_indices.size]
        held_loss = None
        if held_batch is not None:
            held_loss_value, held_logits = evaluate(params, held_batch)
            held_loss = float(held_loss_value)
            logits[held_indices] = np.asarray(held_logits, dtype=np.float64)[: held_indices.size]
        return float(loss), logits, held_loss

    bar = _Progress(config.steps, progress, progress_stream)
    timed: list[tuple[int, float]] = []
    chunk = functools.partial(_train_chunk, optimizer=optimizer, utilities=utility_objects, eps=config.extension_eps)
    for end in _boundaries(config, step, until):
        chunk_start = time.perf_counter()
        params, optimizer_state, values = chunk(params, optimizer_state, train_batch, length=end - step)
        values = np.asarray(values)
        timed.append((end - step, time.perf_counter() - chunk_start))
        losses = np.concatenate([losses, values.astype(np.float32)])
        step = end
        logged = step % config.log_every == 0 or step == config.steps
        snapped = step % config.snapshot_every == 0 or step == config.steps
        checkpointed = step % config.checkpoint_every == 0 or step == config.steps or step == until
        if logged or snapped:
            loss, logits, held_loss = all_logits(params)
            accuracy = pair_accuracy(logits[train_indices], dataset.rankings[train_indices])
            if logged:
                entry: dict[str, Any] = {
                    "step": step,
                    "loss": loss,
                    "pair_accuracy": accuracy,
                    "learning_rate": float(schedule(step)),
                    "seconds": round(time.perf_counter() - start, 3),
                }
                if held_loss is not None:
                    entry["held_out_loss"] = held_loss
                    entry["held_out_pair_accuracy"] = pair_accuracy(logits[held_indices], dataset.rankings[held_indices])
                metrics.append(entry)
                bar.update(step, loss, accuracy)
                if run_dir is not None:
                    _write_metrics(run_dir / METRICS_FILE, metrics)
            if snapped:
                snapshots[step] = _sigmoid(logits)
                if run_dir is not None:
                    _save_snapshot(_snapshot_path(run_dir, step), snapshots[step], step)
        if checkpointed and run_dir is not None:
            _save_checkpoint(run_dir / CHECKPOINT_FILE, step, losses, (params, optimizer_state), config, fingerprint)
    bar.close()

    _, logits, _ = all_logits(params)
    train_accuracy = pair_accuracy(logits[train_indices], dataset.rankings[train_indices])
    held_accuracy = pair_accuracy(logits[held_indices], dataset.rankings[held_indices]) if held_indices.size else None
    loss_change = _loss_change(losses.astype(np.float64))
    steady = timed[1:] if len(timed) > 1 else timed
    steps_per_second = sum(s for s, _ in steady) / max(sum(t for _, t in steady), 1e-12) if steady else 0.0
    return TrainingResult(
        config=config,
        kind_names=dataset.kind_names,
        utilities=utilities,
        params=jax.tree_util.tree_map(np.asarray, params),
        step=step,
        logits=logits,
        held_out=dataset.held_out.copy(),
        snapshots=snapshots,
        metrics=tuple(metrics),
        losses=losses.astype(np.float64),
        train_pair_accuracy=train_accuracy,
        held_out_pair_accuracy=held_accuracy,
        loss_change=loss_change,
        terminal_phase=bool(train_accuracy == 1.0 and loss_change <= 1e-3),
        seconds=time.perf_counter() - start,
        steps_per_second=float(steps_per_second),
        devices=len(devices),
        platform=devices[0].platform,
    )
