"""Is a trained reward model collapsed? Audit its scores on ranked completions.

Reward collapse (Song, Cai, Lee, Su, arXiv 2305.17608): a reward model trained on
rankings with one utility gives every kind of prompt the same reward shape, the
optimum of :math:`\\sum_{i<j} U(r_i - r_j)`; the prompt-aware fix gives kinds
different shapes. The audit reads a model's scores (a RewardBench 2 score file,
JSONL, CSV, or a trainer run directory), turns each prompt into a shape (sorted,
rescaled to [0, 1]) and a log-range, and compares the groups at equal n: effects
with simultaneous intervals, a max-t test, and a verdict that follows from them
against a derived resolution.

Modules, one idea each: :mod:`.score_files` and :mod:`.in_memory` (readers),
:mod:`.shapes` (a prompt's shape on the display grid), :mod:`.features` (what is
compared: shape at its own n and log-range, as cell moments), :mod:`.statistics` (per
group), :mod:`.comparison` (between groups: effects, intervals, the test),
:mod:`.resolution` (the derived resolution), :mod:`.verdict` (the decision),
:mod:`.predictions` (the loss's optimum, fitted and suggested utilities),
:mod:`.report` (tables, report files) and :mod:`.figure`.

Example:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "scores.jsonl"
    >>> rows = [{"scores": [2.0, 1.0, 0.0], "group": kind} for kind in ("closed", "open")] * 20
    >>> _ = path.write_text("".join(json.dumps(row) + "\\n" for row in rows))
    >>> report = audit(path)
    >>> report.collapsed, report.test.axis("shape").high
    (True, 0.0)
"""

from collapse_theory.auditing.comparison import DEFAULT_RESAMPLES, AxisEffect, MaxTTest, max_t_test
from collapse_theory.auditing.predictions import (
    Descriptions,
    LossComparison,
    Suggestions,
    compare_with_loss,
    describe_groups,
    suggest_utilities,
)
from collapse_theory.auditing.report import (
    DEFAULT_ALPHA,
    DEFAULT_MIN_PROMPTS,
    AuditReport,
    Stratum,
    audit,
    format_table,
    plot_audit,
    report_markdown,
    verdict_line,
    write_report,
)
from collapse_theory.auditing.resolution import Resolution, default_resolution
from collapse_theory.auditing.score_files import INPUT_FORMATS, RUN_REWARDS_FILE, AuditInputError, ScoreRecord, open_score_file
from collapse_theory.auditing.shapes import DEFAULT_GRID, PromptShapes, grid_positions, prompt_shape, read_shapes
from collapse_theory.auditing.statistics import DEFAULT_PERMUTATIONS, GroupSummary, PermutationTest, permutation_test
from collapse_theory.auditing.verdict import decide
from collapse_theory.collapse_score import collapse_score, group_distances

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_GRID",
    "DEFAULT_MIN_PROMPTS",
    "DEFAULT_PERMUTATIONS",
    "DEFAULT_RESAMPLES",
    "INPUT_FORMATS",
    "RUN_REWARDS_FILE",
    "AuditInputError",
    "AuditReport",
    "AxisEffect",
    "Descriptions",
    "GroupSummary",
    "LossComparison",
    "MaxTTest",
    "PermutationTest",
    "PromptShapes",
    "Resolution",
    "ScoreRecord",
    "Stratum",
    "Suggestions",
    "audit",
    "collapse_score",
    "compare_with_loss",
    "decide",
    "default_resolution",
    "describe_groups",
    "format_table",
    "grid_positions",
    "group_distances",
    "max_t_test",
    "open_score_file",
    "permutation_test",
    "plot_audit",
    "prompt_shape",
    "read_shapes",
    "report_markdown",
    "suggest_utilities",
    "verdict_line",
    "write_report",
]
