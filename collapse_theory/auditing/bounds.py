"""The audit's size bounds: the grid and the memory it needs.

An audit holds every audited prompt's shape on the grid, so its memory grows as
prompts x G. Both are bounded, and checked before the file is read (the bootstrap's
resamples are bounded where they are drawn, ``comparison.MAX_RESAMPLES``):

* the grid: :math:`2 \\le G \\le` :data:`MAX_GRID` (4096); a shape sampled at more points
  than that says nothing more about a reward curve;
* the memory: :func:`audit_memory` bytes for P prompts on G points, with P bounded from
  above by the file without parsing it (the lines of a JSONL or CSV file, the rows of a
  RewardBench document), refused when more than the memory available
  (``COLLAPSE_THEORY_MEMORY_LIMIT`` overrides the reading).

Example:
    >>> check_grid(8)
    8
    >>> check_grid(10**8)
    Traceback (most recent call last):
    ...
    collapse_theory.errors.InputError: grid must be an integer in [2, 4096], got 100000000
"""

from __future__ import annotations

from typing import Any

from collapse_theory._core.checks import check_memory
from collapse_theory.auditing.score_files import ScoreFile
from collapse_theory.errors import InputError

__all__ = ["MAX_GRID", "audit_memory", "check_audit_memory", "check_grid"]

#: The most grid points shapes are compared on.
MAX_GRID = 4096
#: Copies of the prompts x grid shapes alive at once: the batches, their concatenation, and
#: one working copy in the statistics.
_SHAPE_COPIES = 3
#: Bytes per prompt besides its shape: its group and n (4 bytes each), three pair counts and
#: best-of-n (8 bytes each), held twice (the batches and their concatenation).
_PER_PROMPT = 80


def _check_integer(value: Any, lower: int, upper: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lower <= value <= upper:
        raise InputError(f"{what} must be an integer in [{lower}, {upper}], got {value!r}")
    return value


def check_grid(grid: Any) -> int:
    """``grid`` if it is an integer in [2, :data:`MAX_GRID`]; ``ValueError`` otherwise."""
    return _check_integer(grid, 2, MAX_GRID, "grid")


def audit_memory(prompts: int, grid: int) -> float:
    """Bytes an audit of ``prompts`` prompts on ``grid`` points needs:
    :math:`P (3 \\cdot 8 G + 80)`, three float64 copies of the shapes and each prompt's counts.

    Example:
        >>> audit_memory(10**6, 8)
        272000000.0
    """
    return float(prompts) * (_SHAPE_COPIES * 8.0 * grid + _PER_PROMPT)


def check_audit_memory(source: ScoreFile, grid: int) -> None:
    """Refuse an audit of ``source`` on ``grid`` points that would not fit in memory.

    The prompts are bounded from above without parsing (:meth:`ScoreFile.most_prompts`),
    so the check runs before the audit's work. The message names the largest grid that fits.

    Raises:
        MemoryLimitError: one line naming the file, the estimate and the memory available.
    """
    prompts = source.most_prompts()
    check_memory(
        f"the audit of {source.path} (at most {prompts} prompts)",
        grid,
        lambda points: audit_memory(prompts, points),
        size_name="grid",
        lower=2,
    )
