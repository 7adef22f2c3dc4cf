"""What the audit compares: each prompt's shape at its own n and its log-range, as cell moments.

A prompt with n scores :math:`s_{(1)} \\ge \\dots \\ge s_{(n)}` (sorted, whatever the
ranking) is split by the per-prompt affine normalisation into

* its **shape** :math:`v_i = (s_{(i)} - s_{(n)}) / (s_{(1)} - s_{(n)})`, whose first and
  last values are always 1 and 0, so its information is in the n - 2 interior values
  (none at n = 2: one pair has the shape (1, 0) whatever the model);
* its **log-range** :math:`\\log(s_{(1)} - s_{(n)})` (at n = 2 the log-margin), the scale
  that collapse makes prompt-independent as well (a bounded head: range 1; a
  regularised free loss: its optimum's range; an unregularised one: a range growing
  alike for every prompt).

The offset is dropped: every shift-invariant loss leaves it arbitrary.

Prompts are compared only with prompts of the same n (a *stratum*): one utility's
optimal shape depends on n, so shapes of different n are never pooled. Per cell
(group, n) the audit keeps the count, mean and centred sum of squares of the feature
vector :math:`x = (v_2, \\dots, v_{n-1}, \\log \\text{range})`, merged batch by batch
(Chan, Golub, LeVeque, "Algorithms for computing the sample variance", 1983), so
memory is O(cells x d^2) whatever the number of prompts. Above n = ``MAX_INTERIOR`` + 2
the shape is read at ``MAX_INTERIOR`` evenly spaced interior points of the normalised
index (i - 1)/(n - 1), linearly interpolated, so d stays bounded.

Example:
    >>> import numpy as np
    >>> x = prompt_features(np.array([[4.0, 3.0, 1.0, 0.0]]))
    >>> np.round(x, 4).tolist()
    [[0.75, 0.25, 1.3863]]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_INTERIOR", "CellMoments", "feature_count", "prompt_features", "shape_coordinates"]

#: Interior shape values kept per prompt (the rest interpolated): d <= MAX_INTERIOR + 1.
MAX_INTERIOR = 32


def shape_coordinates(n: int) -> int:
    """Interior shape values a prompt with n scores contributes: min(n - 2, MAX_INTERIOR)."""
    return min(n - 2, MAX_INTERIOR)


def feature_count(n: int) -> int:
    """d: the interior shape values plus the log-range."""
    return shape_coordinates(n) + 1


@functools.lru_cache(maxsize=64)
def _interior_reader(n: int) -> np.ndarray | None:
    """[n, MAX_INTERIOR] linear interpolation weights for n > MAX_INTERIOR + 2, else None."""
    if n - 2 <= MAX_INTERIOR:
        return None
    targets = np.arange(1, MAX_INTERIOR + 1) / (MAX_INTERIOR + 1) * (n - 1)  # positions in index units
    left = np.floor(targets).astype(np.int64)
    fraction = targets - left
    weights = np.zeros((n, MAX_INTERIOR))
    columns = np.arange(MAX_INTERIOR)
    weights[left, columns] += 1.0 - fraction
    weights[np.minimum(left + 1, n - 1), columns] += fraction
    weights.flags.writeable = False
    return weights


def normalised(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(shape [B, n], log_range [B])`` of rows sorted best first with a positive range.

    Rows are divided by their largest absolute value first, so scores near the float64
    limit (1e308 and -1e308 in one prompt) give a finite shape and log-range.
    """
    magnitude = np.max(np.abs(ordered), axis=1, keepdims=True)
    scaled = ordered / magnitude
    top, bottom = scaled[:, :1], scaled[:, -1:]
    width = top - bottom
    shape = (scaled - bottom) / width
    np.clip(shape, 0.0, 1.0, out=shape)
    return shape, np.log(magnitude[:, 0]) + np.log(width[:, 0])


def prompt_features(ordered: np.ndarray) -> np.ndarray:
    """[B, d] features of rows of n scores sorted best first, each with a positive range."""
    shape, log_range = normalised(ordered)
    n = ordered.shape[1]
    reader = _interior_reader(n)
    interior = shape[:, 1:-1] if reader is None else shape @ reader
    return np.concatenate([interior, log_range[:, None]], axis=1)


@dataclass
class CellMoments:
    """Count, mean and centred sum of squares of one cell's features, merged batch by batch.

    Attributes:
        count: prompts in the cell.
        mean: float64 [d].
        scatter: float64 [d, d], :math:`\\sum_p (x_p - \\bar x)(x_p - \\bar x)^\\top`.
    """

    count: int
    mean: np.ndarray
    scatter: np.ndarray

    @classmethod
    def of(cls, features: np.ndarray) -> CellMoments:
        """The moments of one batch [B, d]."""
        mean = features.mean(axis=0)
        centred = features - mean
        return cls(int(features.shape[0]), mean, centred.T @ centred)

    def merge(self, other: CellMoments) -> None:
        """Add another batch's moments (Chan et al.'s pairwise update)."""
        total = self.count + other.count
        delta = other.mean - self.mean
        self.scatter = self.scatter + other.scatter + np.outer(delta, delta) * (self.count * other.count / total)
        self.mean = self.mean + delta * (other.count / total)
        self.count = total

    def covariance_of_mean(self) -> np.ndarray:
        """:math:`S / m`, the sample covariance (ddof 1) over the count: the mean's covariance."""
        if self.count < 2:
            return np.full(self.scatter.shape, np.nan)
        return self.scatter / (self.count - 1) / self.count
