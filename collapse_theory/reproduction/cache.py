"""The reproduction's steps, each cached as JSON under ``OUT/.cache`` and keyed by the run's settings and code.

An interrupted run loses at most the step it was in; a rerun reads every finished step back.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from collapse_theory._core.io import atomic_write_json
from collapse_theory.errors import DataFileError
from collapse_theory.reproduction.settings import Settings

__all__ = ["Steps", "clear_cache", "plain"]


def clear_cache(out: str | Path, settings: Settings) -> int:
    """Remove the cache entries of ``settings`` under ``out/.cache`` (``reproduce --force``); the count removed."""
    removed = 0
    for entry in (Path(out) / ".cache").glob(f"*-{settings.key()}.json"):
        entry.unlink(missing_ok=True)
        removed += 1
    return removed


class Steps:
    """Runs named steps with progress lines and a JSON cache under OUT/.cache.

    An entry is ``{"step": name, "key": settings key, "value": result}``. Since it is
    only a cache, an entry that cannot be read back whole (truncated, not JSON, not
    this step's) is discarded with a warning naming the file and the step recomputed.
    """

    def __init__(self, out: Path, settings: Settings, stream: TextIO | None) -> None:
        self.cache = out / ".cache"
        self.settings = settings
        self.stream = stream
        self.timings: dict[str, float] = {}

    def run(self, name: str, index: int, total: int, compute: Callable[[], Any]) -> Any:
        """The step's value: read from the cache, or computed, written to the cache and timed."""
        key = self.settings.key()
        path = self.cache / f"{name}-{key}.json"
        cached = self._read(path, name, key)
        if cached is not None:
            self._say(f"[{index}/{total}] {name}: cached")
            return cached["value"]
        self._say(f"[{index}/{total}] {name} ...")
        start = time.perf_counter()
        # the JSON round trip makes a fresh result identical to a cached one (report determinism)
        value = json.loads(json.dumps(plain(compute()), sort_keys=True))
        self.timings[name] = round(time.perf_counter() - start, 3)
        atomic_write_json(path, {"step": name, "key": key, "value": value})
        self._say(f"[{index}/{total}] {name}: done in {self.timings[name]:.1f} s")
        return value

    def _read(self, path: Path, name: str, key: str) -> dict[str, Any] | None:
        """The cache entry at ``path``, or None when absent or damaged (then removed)."""
        if not path.exists():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if not (isinstance(entry, dict) and entry.keys() == {"step", "key", "value"}):
                raise DataFileError("not a cache entry of this version")
            if entry["step"] != name or entry["key"] != key:
                raise DataFileError(f"an entry of step {entry['step']!r}, key {entry['key']!r}")
        except (ValueError, OSError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            message = f"warning: damaged cache entry {path} ({reason}): discarded, recomputing {name}"
            if self.stream is not None:
                print(message, file=self.stream, flush=True)
            else:
                warnings.warn(message, RuntimeWarning, stacklevel=3)
            path.unlink(missing_ok=True)
            return None
        return entry

    def _say(self, line: str) -> None:
        if self.stream is not None:
            print(line, file=self.stream, flush=True)


def plain(value: Any) -> Any:
    """JSON-ready copy: arrays to lists, NumPy scalars to Python numbers.

    Example:
        >>> plain({"a": np.arange(2), 3: (np.float64(0.5),)})
        {'a': [0, 1], '3': [0.5]}
    """
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value
