"""Is a trained reward model collapsed? Audit its scores on ranked completions.

Reward collapse (Song, Cai, Lee, Su, arXiv 2305.17608): a reward model trained on
rankings with one utility gives every kind of prompt the same reward shape, the
optimum of :math:`\\sum_{i<j} U(r_i - r_j)`; the prompt-aware fix gives kinds
different shapes. The audit reads a model's scores (a RewardBench 2 score file,
JSONL, CSV, or a trainer run directory), turns each prompt into a shape (sorted,
rescaled to [0, 1], on a fixed grid), and compares the groups' mean shapes: the
collapse score (the trainer's definition), a permutation test, and a verdict.

Modules, one idea each: :mod:`.score_files` (readers), :mod:`.shapes` (a prompt's
shape on the grid), :mod:`.statistics` (per group, between groups),
:mod:`.predictions` (the optimum of the training utility, suggested utilities),
:mod:`.report` (the verdict, tables, the figure, the report files).

Example:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "scores.jsonl"
    >>> rows = [{"scores": [2.0, 1.0, 0.0], "group": kind} for kind in ("closed", "open")] * 20
    >>> _ = path.write_text("".join(json.dumps(row) + "\\n" for row in rows))
    >>> report = audit(path, permutations=99)
    >>> report.collapse_score, report.collapsed
    (0.0, True)
"""

from collapse_theory.auditing.predictions import LossComparison, Suggestions, compare_with_loss, suggest_utilities
from collapse_theory.auditing.report import (
    DEFAULT_ALPHA,
    DEFAULT_THRESHOLD,
    AuditReport,
    audit,
    format_table,
    plot_audit,
    report_markdown,
    verdict,
    write_report,
)
from collapse_theory.auditing.score_files import INPUT_FORMATS, RUN_REWARDS_FILE, AuditInputError, ScoreRecord, open_score_file
from collapse_theory.auditing.shapes import DEFAULT_GRID, PromptShapes, grid_positions, prompt_shape, read_shapes
from collapse_theory.auditing.statistics import (
    DEFAULT_PERMUTATIONS,
    GroupSummary,
    PermutationTest,
    permutation_test,
)
from collapse_theory.collapse_score import collapse_score, group_distances

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_GRID",
    "DEFAULT_PERMUTATIONS",
    "DEFAULT_THRESHOLD",
    "INPUT_FORMATS",
    "RUN_REWARDS_FILE",
    "AuditInputError",
    "AuditReport",
    "GroupSummary",
    "LossComparison",
    "PermutationTest",
    "PromptShapes",
    "ScoreRecord",
    "Suggestions",
    "audit",
    "collapse_score",
    "compare_with_loss",
    "format_table",
    "grid_positions",
    "group_distances",
    "open_score_file",
    "permutation_test",
    "plot_audit",
    "prompt_shape",
    "read_shapes",
    "report_markdown",
    "suggest_utilities",
    "verdict",
    "write_report",
]
