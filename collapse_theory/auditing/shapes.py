"""Reward shapes: each prompt's scores, sorted best first and mapped affinely to [0, 1].

A prompt's *shape* is its reward curve as in Song, Cai, Lee, Su (arXiv 2305.17608,
Figures 3-5) and in the trainer's diagnostics: the scores sorted in decreasing order
(reward against response index), then mapped affinely so the largest is 1 and the
smallest 0,

.. math::

    v_i = \\frac{s_{(i)} - s_{(n)}}{s_{(1)} - s_{(n)}}, \\qquad s_{(1)} \\ge \\dots \\ge s_{(n)},

which removes what no ranking loss fixes (a reward model's offset and scale per
prompt) and keeps what collapse is about. Ranks do not enter the shape (a misordered
completion still sits where its score puts it); they enter the ranking accuracy.

**A fixed grid for every n.** Prompts with different numbers of completions are
compared on G points: the shape is a function of the position :math:`x_i = (i - 1/2)/n`
of the i-th response, interpolated linearly to the grid :math:`u_g = (g - 1/2)/G`,
held constant beyond the first and last positions. With n = G the grid is the
response index itself, so the grid shape is the sorted, rescaled scores.

**Prompts skipped.** Fewer than two scores, or all scores equal (no shape to speak
of: a constant reward carries no preference), are counted and left out.

Example:
    >>> import numpy as np
    >>> np.round(prompt_shape([3.0, 1.0, 2.0, 0.0], grid=4), 3).tolist()
    [1.0, 0.667, 0.333, 0.0]
    >>> np.round(prompt_shape([5.0, 1.0], grid=4), 3).tolist()
    [1.0, 0.75, 0.25, 0.0]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from collapse_theory.auditing.features import CellMoments, normalised, prompt_features
from collapse_theory.auditing.score_files import AuditInputError, ScoreFile, ScoreRecord
from collapse_theory.errors import InputError

__all__ = [
    "DEFAULT_GRID",
    "SKIPPED_TIED",
    "SKIPPED_TOO_FEW",
    "PromptShapes",
    "ShapeAccumulator",
    "grid_positions",
    "interpolation_matrix",
    "prompt_shape",
    "read_shapes",
]

DEFAULT_GRID = 8
SKIPPED_TOO_FEW = "fewer than two scores"
SKIPPED_TIED = "all scores tied"
_BATCH = 4096
_PAIR_CELLS = 1 << 22  # comparisons held at once when counting correctly ordered pairs


def grid_positions(grid: int) -> np.ndarray:
    """The grid :math:`u_g = (g - 1/2)/G`, g = 1..G."""
    return (np.arange(grid, dtype=np.float64) + 0.5) / grid


@functools.lru_cache(maxsize=256)
def interpolation_matrix(n: int, grid: int) -> np.ndarray:
    """W [G, n] with ``W @ v`` the shape v (length n) interpolated to the grid (see the module).

    Built in O(G + n): each grid point weighs the two positions around it (one beyond the ends).
    """
    positions = (np.arange(n, dtype=np.float64) + 0.5) / n
    targets = grid_positions(grid)
    right = np.clip(np.searchsorted(positions, targets, side="right"), 1, n - 1)
    left = right - 1
    fraction = np.clip((targets - positions[left]) / (positions[right] - positions[left]), 0.0, 1.0)
    weights = np.zeros((grid, n))
    rows = np.arange(grid)
    weights[rows, left] += 1.0 - fraction
    weights[rows, right] += fraction
    weights.flags.writeable = False
    return weights


def prompt_shape(scores: Sequence[float] | np.ndarray, grid: int = DEFAULT_GRID) -> np.ndarray:
    """One prompt's shape on the grid: sorted best first, mapped to [0, 1], interpolated.

    Raises ``ValueError`` for fewer than two scores, non-finite scores or all scores tied.
    """
    values = np.asarray(scores, dtype=np.float64).ravel()
    if values.size < 2 or not np.all(np.isfinite(values)):
        raise InputError("a shape needs at least two finite scores")
    ordered = -np.sort(-values)
    spread = ordered[0] - ordered[-1]
    if spread <= 0.0:
        raise InputError("all scores are tied: no shape")
    return interpolation_matrix(values.size, grid) @ ((ordered - ordered[-1]) / spread)


@dataclass(frozen=True, eq=False)
class PromptShapes:
    """Every audited prompt's shape and what the statistics need of it.

    Attributes:
        grid: the grid positions :math:`u_g`.
        shapes: float64 [P, G], one shape per audited prompt.
        groups: int [P], the index of each prompt's group in ``group_names``.
        group_names: the groups, in order of first appearance.
        completions: int [P], each prompt's number of scores n.
        correct_pairs: int [P], pairs of known order that the scores order right (strictly).
        known_pairs: int [P], pairs of known order.
        tied_pairs: int [P], pairs of known order whose scores tie.
        best_of_n: float [P], 1.0 when every better completion scores above every other
            (RewardBench's own accuracy), 0.0 when not, NaN for a total order.
        cells: ``{(group, n): CellMoments}`` of the features of :mod:`.features`.
        sums_by_n: ``{(group, n): (prompts, sum of their rescaled sorted scores [n])}``,
            the mean shape at each n without the grid (for inverse design).
        skipped: ``{reason: prompts}`` left out.
    """

    grid: np.ndarray
    shapes: np.ndarray
    groups: np.ndarray
    group_names: tuple[str, ...]
    completions: np.ndarray
    correct_pairs: np.ndarray
    known_pairs: np.ndarray
    tied_pairs: np.ndarray
    best_of_n: np.ndarray
    cells: dict[tuple[int, int], CellMoments] = field(repr=False)
    sums_by_n: dict[tuple[int, int], tuple[int, np.ndarray]] = field(repr=False)
    skipped: dict[str, int]

    @property
    def prompts(self) -> int:
        """Number of audited prompts."""
        return int(self.shapes.shape[0])

    def cells_of(self) -> dict[int, list[tuple[int, int]]]:
        """``{group: [(group, n), ...]}``: each group's cells, in n order."""
        found: dict[int, list[tuple[int, int]]] = {}
        for cell in self.cells:
            found.setdefault(cell[0], []).append(cell)
        return found


class PairCounts(NamedTuple):
    """Per prompt: pairs of known order ordered right (strictly), tied, known; best-of-n (NaN: undefined)."""

    correct: np.ndarray
    tied: np.ndarray
    known: np.ndarray
    best_of_n: np.ndarray


def _partial_order_counts(values: np.ndarray, k: int) -> tuple[int, int, float]:
    """RewardBench's order for one prompt: the first k beat the rest; O(n log n)."""
    better, worse = values[:k], np.sort(values[k:])
    below = np.searchsorted(worse, better, side="left")
    not_above = np.searchsorted(worse, better, side="right")
    best = float(better.min() > worse[-1]) if 0 < k < values.size else np.nan
    return int(below.sum()), int((not_above - below).sum()), best


def _total_order_counts(values: np.ndarray) -> tuple[int, int]:
    """A total order, best first, for one long prompt: O(n^2) time in O(n x chunk) memory."""
    n = values.size
    correct = tied = 0
    chunk = max(1, _PAIR_CELLS // n)
    index = np.arange(n)
    for start in range(0, n, chunk):
        rows = values[start : start + chunk, None]
        later = index[None, :] > index[start : start + chunk, None]
        correct += int(np.count_nonzero((rows > values[None, :]) & later))
        tied += int(np.count_nonzero((rows == values[None, :]) & later))
    return correct, tied


def _ordered_pair_counts(ordered: np.ndarray, num_correct: np.ndarray) -> PairCounts:
    """Pair counts per prompt; ``ordered`` is [B, n] in the known order.

    ``num_correct[b] < 0``: a total order, best first (pairs i < j). Otherwise
    RewardBench's partial order: the first ``num_correct`` beat the rest, and the prompt
    is a best-of-n success when every one of them scores above every other.
    """
    rows, n = ordered.shape
    correct = np.empty(rows, dtype=np.int64)
    tied = np.empty(rows, dtype=np.int64)
    best = np.full(rows, np.nan)
    partial = num_correct >= 0
    known = np.where(partial, num_correct * (n - num_correct), n * (n - 1) // 2).astype(np.int64)
    for row in np.flatnonzero(partial):
        correct[row], tied[row], best[row] = _partial_order_counts(ordered[row], int(num_correct[row]))
    total = np.flatnonzero(~partial)
    if total.size and n * n > _PAIR_CELLS:
        for row in total:
            correct[row], tied[row] = _total_order_counts(ordered[row])
    elif total.size:
        upper = np.triu(np.ones((n, n), dtype=bool), 1)
        step = max(1, _PAIR_CELLS // (n * n))
        for start in range(0, total.size, step):
            block = total[start : start + step]
            values = ordered[block]
            correct[block] = np.count_nonzero((values[:, :, None] > values[:, None, :]) & upper, axis=(1, 2))
            tied[block] = np.count_nonzero((values[:, :, None] == values[:, None, :]) & upper, axis=(1, 2))
    return PairCounts(correct, tied, known, best)


class ShapeAccumulator:
    """Turns records into shapes in batches of equal n, holding O(prompts x grid) memory.

    Records are buffered per n and converted in vectorised batches; per prompt only the
    grid shape, the group, n and two pair counts are kept.
    """

    def __init__(self, grid: int, error: Callable[[int | None, str], AuditInputError]) -> None:
        if isinstance(grid, bool) or not isinstance(grid, int) or grid < 2:
            raise InputError(f"grid must be an integer >= 2, got {grid!r}")
        self.grid = grid
        self._error = error
        self._group_index: dict[str, int] = {}
        self._buffers: dict[int, tuple[list[list[Any]], list[int], list[int], list[int]]] = {}
        self._shapes: list[np.ndarray] = []
        self._groups: list[np.ndarray] = []
        self._completions: list[np.ndarray] = []
        self._correct: list[np.ndarray] = []
        self._known: list[np.ndarray] = []
        self._tied: list[np.ndarray] = []
        self._best: list[np.ndarray] = []
        self._cells: dict[tuple[int, int], CellMoments] = {}
        self._sums: dict[int, np.ndarray] = {}
        self._counts: dict[int, np.ndarray] = {}
        self.skipped = {SKIPPED_TOO_FEW: 0, SKIPPED_TIED: 0}

    def add(self, record: ScoreRecord) -> None:
        """Buffer one prompt (ranks applied and checked here; the rest in the batch)."""
        scores = record.scores
        n = len(scores)
        if n < 2:
            if n == 1 and not (isinstance(scores[0], (int, float)) and np.isfinite(scores[0])):
                raise self._error(record.location, f"score must be a finite number, got {scores[0]!r}")
            self.skipped[SKIPPED_TOO_FEW] += 1
            return
        if record.ranks is not None:
            ranks = record.ranks
            if len(ranks) != n:
                raise self._error(record.location, f"{len(ranks)} ranks for {n} scores")
            if any(isinstance(r, bool) or not isinstance(r, int) for r in ranks) or sorted(ranks) != list(range(1, n + 1)):
                raise self._error(record.location, f"ranks must be a permutation of 1..{n}, got {ranks}")
            ordered: list[Any] = [None] * n
            for rank, score in zip(ranks, scores, strict=True):
                ordered[rank - 1] = score
            scores = ordered
        group = self._group_index.setdefault(record.group, len(self._group_index))
        buffer = self._buffers.get(n)
        if buffer is None:
            buffer = self._buffers[n] = ([], [], [], [])
        buffer[0].append(scores)
        buffer[1].append(group)
        buffer[2].append(-1 if record.num_correct is None else record.num_correct)
        buffer[3].append(record.location)
        if len(buffer[0]) >= _BATCH:
            self._flush(n)

    def _as_array(self, rows: list[list[Any]], locations: list[int]) -> np.ndarray:
        try:
            values = np.array(rows, dtype=np.float64)
            if values.ndim == 2:
                return values
        except (TypeError, ValueError):
            pass
        for row, location in zip(rows, locations, strict=True):
            for value in row:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise self._error(location, f"scores must be numbers, got {value!r}")
        raise self._error(locations[0], "scores must be a list of numbers")  # pragma: no cover

    def _flush(self, n: int) -> None:
        rows, groups, corrects, locations = self._buffers.pop(n)
        values = self._as_array(rows, locations)
        finite = np.isfinite(values).all(axis=1)
        if not finite.all():
            bad = int(np.argmin(finite))
            raise self._error(locations[bad], f"non-finite score {float(values[bad][~np.isfinite(values[bad])][0])}")
        labels = np.asarray(groups, dtype=np.int64)
        num_correct = np.asarray(corrects, dtype=np.int64)
        pairs = _ordered_pair_counts(values, num_correct)
        ordered = -np.sort(-values, axis=1)
        informative = ordered[:, 0] > ordered[:, -1]
        self.skipped[SKIPPED_TIED] += int(np.count_nonzero(~informative))
        if not informative.all():
            ordered, labels = ordered[informative], labels[informative]
            pairs = PairCounts(*(part[informative] for part in pairs))
        if ordered.shape[0] == 0:
            return
        rescaled, _ = normalised(ordered)
        self._shapes.append(rescaled @ interpolation_matrix(n, self.grid).T)
        self._groups.append(labels.astype(np.int32))
        self._completions.append(np.full(labels.size, n, dtype=np.int32))
        self._correct.append(pairs.correct)
        self._known.append(pairs.known)
        self._tied.append(pairs.tied)
        self._best.append(pairs.best_of_n)
        features = prompt_features(ordered)
        order = np.argsort(labels, kind="stable")
        present, starts = np.unique(labels[order], return_index=True)
        for group, members in zip(present, np.split(order, starts[1:]), strict=True):
            moments = CellMoments.of(features[members])
            cell = self._cells.get((int(group), n))
            if cell is None:
                self._cells[(int(group), n)] = moments
            else:
                cell.merge(moments)
        groups_now = len(self._group_index)
        sums = self._sums.get(n)
        if sums is None or sums.shape[0] < groups_now:
            grown = np.zeros((groups_now, n))
            counts = np.zeros(groups_now, dtype=np.int64)
            if sums is not None:
                grown[: sums.shape[0]] = sums
                counts[: sums.shape[0]] = self._counts[n]
            self._sums[n], self._counts[n] = grown, counts
        np.add.at(self._sums[n], labels, rescaled)
        self._counts[n] += np.bincount(labels, minlength=self._counts[n].size)

    def finish(self) -> PromptShapes:
        """Flush every buffer and return the shapes."""
        for n in list(self._buffers):
            self._flush(n)
        names = tuple(self._group_index)

        def joined(parts: list[np.ndarray], dtype: Any, width: int | None = None) -> np.ndarray:
            if parts:
                return np.concatenate(parts).astype(dtype, copy=False)
            return np.empty((0, width) if width else (0,), dtype=dtype)

        shapes = joined(self._shapes, np.float64, self.grid)
        self._shapes.clear()
        sums_by_n = {
            (group, n): (int(self._counts[n][group]), self._sums[n][group].copy())
            for n in sorted(self._sums)
            for group in range(self._sums[n].shape[0])
            if self._counts[n][group] > 0
        }
        return PromptShapes(
            grid=grid_positions(self.grid),
            shapes=shapes,
            groups=joined(self._groups, np.int32),
            group_names=names,
            completions=joined(self._completions, np.int32),
            correct_pairs=joined(self._correct, np.int64),
            known_pairs=joined(self._known, np.int64),
            tied_pairs=joined(self._tied, np.int64),
            best_of_n=joined(self._best, np.float64),
            cells=dict(sorted(self._cells.items())),
            sums_by_n=sums_by_n,
            skipped=dict(self.skipped),
        )


def read_shapes(source: ScoreFile, grid: int = DEFAULT_GRID) -> PromptShapes:
    """Stream a score file into :class:`PromptShapes` (see :func:`open_score_file`)."""
    accumulator = ShapeAccumulator(grid, source.error)
    add = accumulator.add
    for record in source.records():
        add(record)
    return accumulator.finish()
