"""The collapse score: how far apart the mean reward shapes of different kinds of prompts are.

.. math::

    \\text{collapse score} = \\max_{a \\ne b} \\max_g |\\bar s_a(g) - \\bar s_b(g)|

over pairs of groups a, b (kinds of prompt, benchmark subsets) of their mean shapes
:math:`\\bar s` (rewards best first, range-normalised to [0, 1]) on a common grid of response
positions g. It is 0 when every group has the same mean shape (complete reward collapse) and at
most 1. The trainer's diagnostics and ``collapse-theory audit`` both use this one definition.

Example:
    >>> import numpy as np
    >>> collapse_score({"open": np.array([1.0, 0.5, 0.0]), "closed": np.array([1.0, 0.0, 0.0])})
    0.5
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np

__all__ = ["collapse_score", "group_distances"]


def group_distances(mean_shapes: Mapping[str, np.ndarray]) -> dict[str, float]:
    """``{"a vs b": max_g |mean_a - mean_b|}`` for every pair of groups, in order."""
    return {
        f"{a} vs {b}": float(np.max(np.abs(np.asarray(mean_shapes[a]) - np.asarray(mean_shapes[b]))))
        for a, b in itertools.combinations(mean_shapes, 2)
    }


def collapse_score(mean_shapes: Mapping[str, np.ndarray]) -> float | None:
    """The largest max-abs distance between two groups' mean shapes; None with fewer than two groups."""
    distances = group_distances(mean_shapes)
    return max(distances.values()) if distances else None
