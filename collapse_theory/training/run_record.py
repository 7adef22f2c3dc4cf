"""A run's ``diagnostics.json``: the diagnostics, the verdict, and where and how the run was made.

Example:
    >>> import json, pathlib, tempfile
    >>> import numpy as np
    >>> from collapse_theory.training.data import make_synthetic_dataset
    >>> from collapse_theory.training.diagnostics import diagnose
    >>> data = make_synthetic_dataset(prompts=4, n=2, held_out=0.0)
    >>> ideal = np.where(data.rankings == 0, 1.0, 0.0)
    >>> report = diagnose(data, ideal, {"open": "linear", "closed": "linear"}, optima={"linear": [1.0, 0.0]})
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "diagnostics.json"
    >>> save_diagnostics(report, path)
    >>> json.loads(path.read_text())["mode"]
    'single'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import metadata

from collapse_theory._core.io import atomic_write_json
from collapse_theory._core.results import as_dict
from collapse_theory.training.diagnostics import Diagnostics
from collapse_theory.training.verdicts import Verdict

__all__ = ["RunRecord", "package_versions", "save_diagnostics"]


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """Where and how a run was made, for ``diagnostics.json``.

    Attributes:
        versions: package versions (``collapse_theory``, ``jax``, ``numpy``, ...).
        platform: the devices' platform (``"cpu"``, ``"gpu"``).
        device_kind: the first device's kind (e.g. ``"NVIDIA H200"``).
        devices: number of devices the prompts were split over.
        steps: the steps trained.
        seconds: wall-clock seconds of training (this call).
        steps_per_second: optimizer steps per second, compilation excluded when possible.
        terminal_phase: the run reached the terminal phase (training pair accuracy 1, loss flat);
            False: the rewards are not the trained end point (None: not recorded).
    """

    versions: dict[str, str] = field(default_factory=dict)
    platform: str
    device_kind: str
    devices: int
    steps: int
    seconds: float
    steps_per_second: float
    terminal_phase: bool | None = None


def package_versions() -> dict[str, str]:
    """Versions of the packages a run depends on (those installed)."""
    versions = {}
    for name in ("collapse_theory", "jax", "jaxlib", "numpy", "optax", "scipy"):
        try:
            versions[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            continue
    return versions


def save_diagnostics(
    diagnostics: Diagnostics,
    path: str | os.PathLike[str],
    *,
    verdict: Verdict | None = None,
    run: RunRecord | None = None,
) -> None:
    """Write ``diagnostics.as_dict()`` as JSON, atomically, with the verdict and the run record if given."""
    data = diagnostics.as_dict()
    if verdict is not None:
        data["verdict"] = as_dict(verdict)
    if run is not None:
        data["run"] = as_dict(run)
    atomic_write_json(path, data)
