"""The run directory of a training run: its files, their guards, and the lock that owns it.

A run directory holds::

    train.lock                 the lock file (held with fcntl.flock for the whole run)
    config.json                the configuration, the dataset's fingerprint, each kind's utility
    metrics.jsonl              one JSON object per logged step
    snapshots/step_NNNNNN.npz  every prompt's rewards at a snapshot step
    checkpoint.npz             parameters, optimizer state, step, per-step losses
    heldout_rewards.jsonl      the held-out prompts' rewards, one line per prompt (at the end)
    diagnostics.json, rewards.png   written by ``collapse-theory train`` after training

One process at a time: :func:`hold` takes an exclusive, non-blocking ``flock`` on
``train.lock``, and a second process on the same directory gets
:class:`RunDirectoryBusyError` at once instead of silently overwriting the first one's
files. Every file is written atomically (:mod:`collapse_theory._core.io`) and every file read
back is checked: a damaged checkpoint, metrics line, configuration or snapshot is a
:class:`~collapse_theory.training.config.TrainingError` that names the file. Arrays are
read with ``allow_pickle=False``.

This module knows files, not training: the trainer hands it plain arrays and JSON
values (data flows trainer -> run directory, never back).

Example:
    >>> import tempfile, pathlib
    >>> run = RunDirectory(pathlib.Path(tempfile.mkdtemp()) / "run")
    >>> run.check(resume=False)  # a new directory: nothing to refuse
    >>> with hold(run.path):
    ...     run.write_metrics([{"step": 20, "loss": 1.5}])
    >>> run.read_metrics(until=100)
    [{'loss': 1.5, 'step': 20}]
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from collapse_theory._core.io import atomic_write, atomic_write_json, atomic_write_text
from collapse_theory._core.results import json_value
from collapse_theory.errors import DataFileError
from collapse_theory.training.config import TrainingError

__all__ = [
    "CHECKPOINT_FILE",
    "CHECKPOINT_FORMAT",
    "CONFIG_FILE",
    "DIAGNOSTICS_FILE",
    "FIGURE_FILE",
    "HELDOUT_REWARDS_FILE",
    "LOCK_FILE",
    "METRICS_FILE",
    "SNAPSHOT_FOLDER",
    "RunDirectory",
    "RunDirectoryBusyError",
    "hold",
]

#: Version of the checkpoint layout, checked on resume.
CHECKPOINT_FORMAT = 1

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.npz"
SNAPSHOT_FOLDER = "snapshots"
LOCK_FILE = "train.lock"
HELDOUT_REWARDS_FILE = "heldout_rewards.jsonl"
DIAGNOSTICS_FILE = "diagnostics.json"
FIGURE_FILE = "rewards.png"

# What numpy and zipfile raise on a damaged .npz: truncated archive, bad CRC, bad header.
_DAMAGED = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


class RunDirectoryBusyError(TrainingError):
    """Another process holds the run directory's lock."""


# Locks this process holds: resolved path -> (file descriptor, depth). flock locks belong to
# an open file description, so a second flock from the same process on a new descriptor
# would refuse itself; nesting (the CLI holds the directory around train(), which holds it
# too) is counted instead.
_HELD: dict[str, list[int]] = {}


@contextlib.contextmanager
def hold(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the run directory's exclusive lock (creating the directory) until the block ends.

    Non-blocking: if another process holds it, raise :class:`RunDirectoryBusyError` at
    once. Re-entrant within one process. A directory this call created is removed again
    on exit if nothing but the lock file was written to it.
    """
    directory = Path(path)
    key = os.path.realpath(directory)
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    if directory.exists() and not directory.is_dir():
        raise TrainingError(f"{directory}: exists and is not a directory")
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    lock = directory / LOCK_FILE
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise RunDirectoryBusyError(
            f"{directory}: another process is training in this run directory (it holds {LOCK_FILE}); "
            "wait for it to finish or choose another directory"
        ) from None
    _HELD[key] = [descriptor, 1]
    try:
        yield
    finally:
        del _HELD[key]
        if created and {entry.name for entry in directory.iterdir()} == {LOCK_FILE}:
            with contextlib.suppress(OSError):
                lock.unlink()
                directory.rmdir()
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _read_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    """Every array of an .npz, or a TrainingError naming the file (never unpickles)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DataFileError("a single .npy array, not an .npz archive")
            return {key: archive[key] for key in archive.files}
    except _DAMAGED as error:
        raise TrainingError(
            f"{path}: damaged or unreadable {what} ({_first_line(error)}); "
            "remove the run directory and start again, or restore the file"
        ) from None


class RunDirectory:
    """The files of one run directory (see the module docstring for the layout)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def heldout_rewards_path(self) -> Path:
        return self.path / HELDOUT_REWARDS_FILE

    def snapshot_path(self, step: int) -> Path:
        return self.path / SNAPSHOT_FOLDER / f"step_{step:06d}.npz"

    # --- guards -------------------------------------------------------------------------

    def check(self, resume: bool) -> None:
        """Refuse to overwrite a run without ``resume``, or to resume where there is nothing."""
        if self.path.exists() and not self.path.is_dir():
            raise TrainingError(f"{self.path}: exists and is not a directory")
        has_checkpoint = self.checkpoint_path.exists()
        if resume and not has_checkpoint:
            raise TrainingError(f"{self.path}: no {CHECKPOINT_FILE} to resume from")
        if not resume and has_checkpoint:
            raise TrainingError(
                f"{self.path}: already holds a training run; pass resume (--resume) to continue it or choose another directory"
            )
        if not resume and self.metrics_path.exists():
            raise TrainingError(
                f"{self.path}: holds a run stopped before its first checkpoint; remove it or choose another directory"
            )

    def discard_unless_checkpointed(self) -> None:
        """After a failed run with no checkpoint: remove what it wrote, so no partial run is left."""
        if self.checkpoint_path.exists():
            return
        for path in (self.config_path, self.metrics_path, self.heldout_rewards_path):
            path.unlink(missing_ok=True)
        snapshots = self.path / SNAPSHOT_FOLDER
        if snapshots.is_dir():
            for path in snapshots.glob("step_*.npz"):
                path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                snapshots.rmdir()

    # --- configuration ------------------------------------------------------------------

    def write_config(self, config: Mapping[str, Any], fingerprint: str, utilities: Mapping[str, str]) -> None:
        atomic_write_json(self.config_path, json_value({**config, "dataset": fingerprint, "utilities": dict(utilities)}))

    def read_config(self) -> dict[str, Any] | None:
        """``config.json`` as a dict, None when absent; a damaged file is an error naming it."""
        if not self.config_path.exists():
            return None
        try:
            value = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise TrainingError(f"{self.config_path}: damaged configuration, not JSON ({_first_line(error)})") from None
        if not isinstance(value, dict):
            raise TrainingError(f"{self.config_path}: damaged configuration, not a JSON object")
        return value

    # --- metrics ------------------------------------------------------------------------

    def read_metrics(self, until: int) -> list[dict[str, Any]]:
        """The metrics entries up to step ``until``; a damaged line is an error naming file and line."""
        if not self.metrics_path.exists():
            return []
        entries = []
        try:
            text = self.metrics_path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise TrainingError(f"{self.metrics_path}: damaged metrics log ({_first_line(error)})") from None
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                step = int(entry["step"])
            except (ValueError, TypeError, KeyError) as error:
                raise TrainingError(
                    f"{self.metrics_path}: line {number} is damaged (not a JSON object with a step: {_first_line(error)})"
                ) from None
            if step <= until:
                entries.append(entry)
        return entries

    def write_metrics(self, entries: Sequence[Mapping[str, Any]]) -> None:
        text = "".join(json.dumps(json_value(entry), sort_keys=True, allow_nan=False) + "\n" for entry in entries)
        atomic_write_text(self.metrics_path, text)

    # --- snapshots ----------------------------------------------------------------------

    def save_snapshot(self, step: int, rewards: np.ndarray) -> None:
        arrays = {"rewards": rewards, "step": np.asarray(step)}
        atomic_write(self.snapshot_path(step), lambda stream: np.savez(stream, **arrays))  # type: ignore[arg-type]

    def read_snapshots(self, steps: Iterable[int]) -> dict[int, np.ndarray]:
        """The snapshots that exist among ``steps``; a damaged one is an error naming it."""
        snapshots = {}
        for step in steps:
            path = self.snapshot_path(step)
            if path.exists():
                arrays = _read_npz(path, "snapshot")
                if "rewards" not in arrays:
                    raise TrainingError(f"{path}: damaged snapshot (no rewards array)")
                snapshots[step] = np.asarray(arrays["rewards"], dtype=np.float64)
        return snapshots

    # --- checkpoints --------------------------------------------------------------------

    def save_checkpoint(
        self, step: int, losses: np.ndarray, leaves: Sequence[np.ndarray], config: Mapping[str, Any], fingerprint: str
    ) -> None:
        """Write the checkpoint: the state's leaves (parameters, optimizer state) and what identifies the run."""
        arrays: dict[str, np.ndarray] = {
            "format": np.asarray(CHECKPOINT_FORMAT),
            "step": np.asarray(step, dtype=np.int64),
            "losses": np.asarray(losses, dtype=np.float32),
            "config": np.asarray(json.dumps(json_value(config), sort_keys=True)),
            "dataset": np.asarray(fingerprint),
        }
        for index, leaf in enumerate(leaves):
            arrays[f"leaf_{index:04d}"] = np.asarray(leaf)
        atomic_write(self.checkpoint_path, lambda stream: np.savez(stream, **arrays))  # type: ignore[arg-type]

    def _checkpoint_contents(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        path = self.checkpoint_path
        contents = _read_npz(path, "checkpoint")
        required = ("format", "step", "losses", "config", "dataset")
        try:
            if any(key not in contents for key in required) or int(contents["format"]) != CHECKPOINT_FORMAT:
                raise ValueError
            saved = json.loads(str(contents["config"]))
            if not isinstance(saved, dict):
                raise ValueError
        except (ValueError, TypeError):
            raise TrainingError(f"{path}: not a checkpoint of this trainer (format {CHECKPOINT_FORMAT}) or damaged") from None
        return contents, saved

    def checkpoint_step(self, config: Mapping[str, Any]) -> int | None:
        """The checkpoint's step if it belongs to ``config``, else None (no or another run)."""
        if not self.checkpoint_path.exists():
            return None
        contents, saved = self._checkpoint_contents()
        current = json_value(config)
        if any(saved.get(key) != current[key] for key in current):
            return None
        return int(contents["step"])

    def load_checkpoint(
        self, template: Sequence[np.ndarray], config: Mapping[str, Any], steps: int, fingerprint: str
    ) -> tuple[int, np.ndarray, list[np.ndarray]]:
        """Step, per-step losses and the state's leaves, checked against the config, dataset and model."""
        path = self.checkpoint_path
        contents, saved = self._checkpoint_contents()
        current = json_value(config)
        differing = [key for key in current if saved.get(key) != current[key]]
        if differing:
            key = differing[0]
            raise TrainingError(
                f"{path}: cannot resume with a different configuration ({key}: checkpoint {saved.get(key)!r}, now {current[key]!r})"
            )
        if str(contents["dataset"]) != fingerprint:
            raise TrainingError(f"{path}: cannot resume on a different dataset (fingerprint mismatch)")
        loaded = [contents.get(f"leaf_{index:04d}") for index in range(len(template))]
        for index, (leaf, value) in enumerate(zip(template, loaded, strict=True)):
            if value is None or value.shape != np.shape(leaf) or value.dtype != np.asarray(leaf).dtype:
                raise TrainingError(f"{path}: checkpoint array leaf_{index:04d} does not match the model")
        step = int(contents["step"])
        losses = np.asarray(contents["losses"], dtype=np.float32)
        if not (0 <= step <= steps) or losses.shape != (step,):
            raise TrainingError(f"{path}: inconsistent checkpoint (step {step}, {losses.shape[0]} losses)")
        if not np.all(np.isfinite(losses)) or not all(np.all(np.isfinite(value)) for value in loaded if value is not None):
            raise TrainingError(f"{path}: damaged checkpoint (non-finite values)")
        return step, losses, [value for value in loaded if value is not None]

    # --- held-out rewards ---------------------------------------------------------------

    def write_heldout_rewards(self, records: Iterable[Mapping[str, Any]]) -> None:
        """``heldout_rewards.jsonl``: one strict-JSON object per held-out prompt."""
        text = "".join(json.dumps(json_value(record), allow_nan=False) + "\n" for record in records)
        atomic_write_text(self.heldout_rewards_path, text)
