"""The default resolution of the audit: half the smallest distance between choices a user would make.

A verdict "collapsed" says that the groups' differences are smaller than something.
That something is derived, not tuned: at the data's n, the optima of the utilities and
losses a practitioner chooses between differ by some least amount on each axis, and a
difference smaller than half of it cannot tell any two of those choices apart.

* **Shape axis** (sup-norm distance of the interior shape values, units of the range):
  the reference optima are those of the paper's utilities and the listwise loss,
  ``REFERENCE_SHAPES`` (linear, log, -1/x, Bradley-Terry's log-sigmoid at 1 and the
  sharper log-sigmoid:4, Plackett-Luce). Optima that coincide (every plain utility is
  symmetric, so all of them put the middle of n = 3 at 1/2) are one choice, not two.
* **Scale axis** (difference of mean log-ranges): the references are a bounded head
  (range 1) and the frameworks' regularised free losses, ``REFERENCE_SCALES``
  (Open-Assistant's l2 and TRL's recommended centring coefficient 0.01), whose optimal
  ranges differ by fixed factors at each n.

The resolution of an axis is ``RESOLUTION_FRACTION`` (1/2) of the smallest non-zero
distance over the strata the comparison uses. References are solved at
min(n, ``REFERENCE_N_CAP``) (shapes above n = 34 are read at 32 points anyway).

Example:
    >>> resolution = default_resolution([4])
    >>> round(resolution.shape, 4), resolution.shape_between
    (0.0081, ('neg-power:1', 'log-sigmoid:4', 4))
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from collapse_theory.auditing.features import prompt_features
from collapse_theory.solver.loss_solver import solve_loss

__all__ = [
    "REFERENCE_SCALES",
    "REFERENCE_SHAPES",
    "RESOLUTION_FRACTION",
    "Resolution",
    "default_resolution",
    "reference_features",
]

REFERENCE_SHAPES = ("linear", "log", "neg-power:1", "log-sigmoid:1", "log-sigmoid:4", "plackett-luce:1")
REFERENCE_SCALES = ("log-sigmoid:1", "open-assistant", "trl-center:0.01")
RESOLUTION_FRACTION = 0.5
REFERENCE_N_CAP = 64
_DISTINCT = 1e-6


@functools.lru_cache(maxsize=128)
def reference_features(spec: str, n: int) -> tuple[np.ndarray | None, float | None]:
    """``(interior shape values, log-range)`` of a reference's optimum at n (None where it has none)."""
    solution = solve_loss(spec, min(n, REFERENCE_N_CAP))
    rewards = solution.rewards if solution.rewards is not None else solution.direction
    if rewards is None:
        return None, None
    values = np.sort(np.asarray(rewards, dtype=np.float64))[::-1]
    if not values[0] > values[-1]:
        return None, None
    features = prompt_features(values[None, :])[0]
    log_range = float(features[-1]) if solution.rewards is not None else None
    return features[:-1], log_range


@dataclass(frozen=True)
class Resolution:
    """The smallest difference each axis resolves, and where it comes from.

    Attributes:
        shape: the shape axis's resolution (None: no stratum with n >= 3).
        scale: the scale axis's resolution (log-range units).
        shape_between: ``(reference, reference, n)`` whose distance set ``shape``; None when set by the user.
        scale_between: the same for ``scale``.
    """

    shape: float | None
    scale: float | None
    shape_between: tuple[str, str, int] | None = None
    scale_between: tuple[str, str, int] | None = None

    def describe(self) -> str:
        """One line: the values and their derivation."""
        parts = []
        for name, value, between in (("shape", self.shape, self.shape_between), ("scale", self.scale, self.scale_between)):
            if value is None:
                continue
            origin = "set" if between is None else f"half the distance between {between[0]} and {between[1]} at n = {between[2]}"
            unit = "" if name == "shape" else " in log-range"
            parts.append(f"{name} {value:.3g}{unit} ({origin})")
        return "; ".join(parts)


def _smallest(pairs: Iterable[tuple[float, str, str, int]]) -> tuple[float, str, str, int] | None:
    distinct = [pair for pair in pairs if pair[0] > _DISTINCT]
    return min(distinct) if distinct else None


def default_resolution(strata: Iterable[int]) -> Resolution:
    """Half the smallest distance between distinct reference optima over ``strata`` (see the module)."""
    shapes: list[tuple[float, str, str, int]] = []
    scales: list[tuple[float, str, str, int]] = []
    for n in sorted(set(strata)):
        if n >= 3:
            found = {spec: reference_features(spec, n)[0] for spec in REFERENCE_SHAPES}
            present = [(spec, value) for spec, value in found.items() if value is not None]
            for (a, x), (b, y) in itertools.combinations(present, 2):
                shapes.append((float(np.max(np.abs(x - y))), a, b, n))
        ranges = {spec: reference_features(spec, n)[1] for spec in REFERENCE_SCALES}
        finite = [(spec, value) for spec, value in ranges.items() if value is not None and math.isfinite(value)]
        for (a, low), (b, high) in itertools.combinations(finite, 2):
            scales.append((abs(low - high), a, b, n))
    shape, scale = _smallest(shapes), _smallest(scales)
    return Resolution(
        shape=None if shape is None else RESOLUTION_FRACTION * shape[0],
        scale=None if scale is None else RESOLUTION_FRACTION * scale[0],
        shape_between=None if shape is None else shape[1:],
        scale_between=None if scale is None else scale[1:],
    )
