"""Scores handed to :func:`collapse_theory.auditing.audit` as arrays instead of a file.

One sequence of scores per prompt (best first, or with ``ranks``), optionally one group
name per prompt. The records are the same :class:`ScoreRecord` a file gives, so every
check of the file readers applies; a problem names the prompt by its index (1-based).

Example:
    >>> source = in_memory_scores([[2.0, 1.0, 0.0], [5.0, 4.0]], groups=["a", "b"])
    >>> [(r.group, r.scores) for r in source.records()]
    [('a', [2.0, 1.0, 0.0]), ('b', [5.0, 4.0])]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from collapse_theory.auditing.score_files import DEFAULT_GROUP, ScoreFile, ScoreRecord
from collapse_theory.errors import InputError

__all__ = ["in_memory_scores"]


class _Arrays(ScoreFile):
    def __init__(self, scores: list[list[Any]], groups: list[Any], ranks: list[list[Any]] | None) -> None:
        super().__init__(Path("<arrays>"), "arrays", "prompt")
        self._scores, self._groups, self._ranks = scores, groups, ranks

    def records(self) -> Iterator[ScoreRecord]:
        for index, scores in enumerate(self._scores):
            ranks = None if self._ranks is None else self._ranks[index]
            floats = self._read_scores(index + 1, scores)  # the file readers' checks: finite floats, no bools or strings
            yield ScoreRecord(index + 1, self._read_group(index + 1, self._groups[index], "group"), floats, ranks, None)

    def most_prompts(self) -> int:
        return len(self._scores)


def _rows(values: Any, name: str) -> list[list[Any]]:
    if isinstance(values, np.ndarray):
        if values.ndim != 2:
            raise InputError(f"{name} as an array must be 2-D (prompts x completions), got shape {values.shape}")
        return values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise InputError(f"{name} must be a sequence with one sequence per prompt")
    rows = []
    for index, row in enumerate(values):
        if isinstance(row, np.ndarray):
            row = row.tolist()
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
            raise InputError(f"{name}: prompt {index + 1} is not a sequence")
        rows.append(list(row))
    return rows


def in_memory_scores(scores: Any, groups: Sequence[Any] | None = None, ranks: Any = None) -> ScoreFile:
    """A :class:`ScoreFile` over scores held in memory (see the module)."""
    rows = _rows(scores, "scores")
    if not rows:
        raise InputError("scores: no prompts")
    if groups is None:
        names = [DEFAULT_GROUP] * len(rows)
    else:
        if isinstance(groups, (str, bytes)) or len(groups) != len(rows):
            raise InputError(f"groups must give one name per prompt ({len(rows)} prompts)")
        names = [group.item() if isinstance(group, np.generic) else group for group in groups]
    rank_rows = None if ranks is None else _rows(ranks, "ranks")
    if rank_rows is not None and len(rank_rows) != len(rows):
        raise InputError(f"ranks must give one sequence per prompt ({len(rows)} prompts)")
    return _Arrays(rows, names, rank_rows)
