"""The audit of a trained reward model: read, summarise, test, decide; and its report.

:func:`audit` reads a score file (:mod:`.score_files`), turns each prompt into a shape
(:mod:`.shapes`), summarises the groups and tests them (:mod:`.statistics`), and
decides:

* ``collapsed = True`` when the collapse score is below ``threshold`` (the groups' mean
  shapes differ by less than that at every grid point: one shape for every kind of
  prompt, whatever the test says about differences that small);
* ``collapsed = False`` when the score is at least ``threshold`` and the permutation
  test's p-value is below ``alpha`` (the difference is large and not noise);
* ``collapsed = None`` otherwise (a large difference the prompts cannot tell from
  noise) or with fewer than two groups; ``reason`` says which.

Optionally it compares each group with the optimum of the utility the model was
trained with, and suggests a utility per group (:mod:`.predictions`).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from collapse_theory._io import atomic_write
from collapse_theory._results import as_dict
from collapse_theory.auditing.predictions import LossComparison, Suggestions, compare_with_loss, suggest_utilities
from collapse_theory.auditing.score_files import AuditInputError, open_score_file
from collapse_theory.auditing.shapes import DEFAULT_GRID, read_shapes
from collapse_theory.auditing.statistics import (
    BAND_QUANTILES,
    DEFAULT_PERMUTATIONS,
    GroupSummary,
    PermutationTest,
    permutation_test,
    summarise_groups,
)
from collapse_theory.collapse_score import collapse_score, group_distances

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_THRESHOLD",
    "REPORT_FILES",
    "AuditReport",
    "audit",
    "format_table",
    "plot_audit",
    "report_markdown",
    "verdict",
    "verdict_line",
    "write_report",
]

DEFAULT_THRESHOLD = 0.05
DEFAULT_ALPHA = 0.01
REPORT_FILES = ("report.md", "report.json", "shapes.png")
_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray")


@dataclass(frozen=True, eq=False)
class AuditReport:
    """Is a trained reward model collapsed? Everything the audit measured.

    Attributes:
        source: the file read.
        input_format: ``rewardbench``, ``jsonl``, ``csv`` or ``run``.
        model: the model named in the file (RewardBench), else None.
        prompts: prompts audited.
        skipped: prompts left out (fewer than two scores, or all tied).
        skipped_reasons: ``{reason: prompts}``.
        grid: the grid positions :math:`(g - 1/2)/G` the shapes live on.
        groups: one :class:`GroupSummary` per group.
        group_distances: ``{"a vs b": max-abs distance of the mean shapes}``.
        collapse_score: the largest of ``group_distances``; None with fewer than two groups.
        between_groups: the permutation test.
        collapsed: the verdict (True, False, or None: inconclusive).
        reason: why the verdict is what it is.
        threshold: the collapse score below which the model counts as collapsed.
        alpha: the significance level for "not collapsed".
        loss: the comparison with ``--loss``'s optimum, when asked.
        suggest: the suggested utility per group, when asked.
    """

    source: str
    input_format: str
    model: str | None
    prompts: int
    skipped: int
    skipped_reasons: dict[str, int]
    grid: np.ndarray
    groups: tuple[GroupSummary, ...]
    group_distances: dict[str, float]
    collapse_score: float | None
    between_groups: PermutationTest
    collapsed: bool | None
    reason: str
    threshold: float
    alpha: float
    loss: LossComparison | None = None
    suggest: Suggestions | None = None

    def as_dict(self) -> dict[str, Any]:
        """Strict JSON (the ``--format json`` output and ``report.json``)."""
        data = as_dict(self)
        data["band"] = f"{BAND_QUANTILES[0]:.0%}-{BAND_QUANTILES[1]:.0%} quantiles of the group's shapes"
        if self.loss is None:
            del data["loss"]
        if self.suggest is None:
            del data["suggest"]
        return data


def verdict(score: float | None, p_value: float | None, threshold: float, alpha: float) -> tuple[bool | None, str]:
    """``(collapsed, reason)`` from the collapse score and the permutation p-value (see the module).

    Example:
        >>> verdict(0.01, 0.5, 0.05, 0.01)
        (True, 'collapse score 0.01 < threshold 0.05: every group has the same mean shape')
        >>> verdict(0.4, 0.001, 0.05, 0.01)[0], verdict(0.4, 0.2, 0.05, 0.01)[0], verdict(None, None, 0.05, 0.01)[0]
        (False, None, None)
    """
    if score is None or p_value is None:
        return None, "fewer than two groups: nothing to compare"
    if score < threshold:
        return True, f"collapse score {score:.3g} < threshold {threshold:g}: every group has the same mean shape"
    if p_value < alpha:
        return (
            False,
            f"collapse score {score:.3g} >= threshold {threshold:g} and p = {p_value:.3g} < alpha {alpha:g}: the groups differ",
        )
    return None, (
        f"collapse score {score:.3g} >= threshold {threshold:g} but p = {p_value:.3g} >= alpha {alpha:g}: "
        "too few prompts to tell the difference from noise"
    )


def _check_fraction(value: float, name: str, upper_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not (0.0 < value < 1.0 or (value == 1.0 and not upper_open)):
        raise ValueError(f"{name} must be in (0, 1{')' if upper_open else ']'}, got {value!r}")
    return float(value)


def audit(
    path: str | os.PathLike[str],
    *,
    input_format: str = "auto",
    grid: int = DEFAULT_GRID,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    loss: str | None = None,
    suggest: str | None = None,
) -> AuditReport:
    """Audit a reward model's scores for reward collapse.

    Args:
        path: a score file (RewardBench 2 JSON, JSONL, CSV) or a trainer run directory.
        input_format: ``auto`` (detect), ``rewardbench``, ``jsonl``, ``csv`` or ``run``.
        grid: G, the number of grid points shapes are compared on.
        permutations: K, relabellings in the permutation test.
        seed: the permutation test's seed.
        threshold: collapse score below which the model is collapsed.
        alpha: p-value below which a larger score means "not collapsed".
        loss: a utility spec the model was trained with: compare each group with its optimum.
        suggest: a family (``box-cox``, ...): suggest a utility per group.

    Raises:
        AuditInputError: a malformed file (one line naming the file, the place and the problem).
        ValueError: a bad argument.

    Example:
        >>> import json, pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "scores.jsonl"
        >>> rows = [{"scores": [3.0, 2.0, 0.0], "group": "a"}, {"scores": [1.0, 0.5, 0.0], "group": "b"}] * 10
        >>> _ = path.write_text("".join(json.dumps(row) + "\\n" for row in rows))
        >>> report = audit(path, permutations=199)
        >>> report.prompts, round(report.collapse_score, 3), report.between_groups.p_value, report.collapsed
        (20, 0.135, 0.005, False)
    """
    threshold = _check_fraction(threshold, "threshold", upper_open=False)
    alpha = _check_fraction(alpha, "alpha", upper_open=True)
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 1:
        raise ValueError(f"permutations must be an integer >= 1, got {permutations!r}")
    source = open_score_file(path, input_format)
    shapes = read_shapes(source, grid)
    skipped = sum(shapes.skipped.values())
    if shapes.prompts == 0:
        reasons = ", ".join(f"{count} with {reason}" for reason, count in shapes.skipped.items() if count)
        raise AuditInputError(f"{source.path}: no prompt has two or more distinct scores ({reasons})")
    groups = summarise_groups(
        shapes.shapes, shapes.groups, shapes.group_names, shapes.completions, shapes.correct_pairs, shapes.known_pairs
    )
    # relabel to 0..K-1 over the groups that kept prompts (a group whose prompts were all skipped has none)
    present = {name: number for number, name in enumerate(group.name for group in groups)}
    relabel = np.array([present.get(name, -1) for name in shapes.group_names], dtype=np.int32)
    labels = relabel[shapes.groups]
    test = permutation_test(shapes.shapes, labels, permutations, seed)
    means = {group.name: group.mean_shape for group in groups}
    score = collapse_score(means)
    collapsed, reason = verdict(score, test.p_value, threshold, alpha)
    model = source.metadata.get("model")
    return AuditReport(
        source=str(source.path),
        input_format=source.format,
        model=None if model is None else str(model),
        prompts=shapes.prompts,
        skipped=skipped,
        skipped_reasons={reason: count for reason, count in shapes.skipped.items()},
        grid=shapes.grid,
        groups=tuple(groups),
        group_distances=group_distances(means),
        collapse_score=score,
        between_groups=test,
        collapsed=collapsed,
        reason=reason,
        threshold=threshold,
        alpha=alpha,
        loss=None if loss is None else compare_with_loss(groups, loss, grid),
        suggest=None if suggest is None else suggest_utilities(groups, shapes, suggest),
    )


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _shape(values: np.ndarray) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def verdict_line(report: AuditReport) -> str:
    """``collapsed: yes/no/inconclusive (reason)``."""
    word = {True: "yes", False: "no", None: "inconclusive"}[report.collapsed]
    return f"collapsed: {word} ({report.reason})"


def format_table(report: AuditReport) -> str:
    """The terminal report: groups, the between-group test, the verdict."""
    lines = [
        f"source     {report.source} ({report.input_format}{'' if report.model is None else ', model ' + report.model})",
        f"prompts    {report.prompts} audited, {report.skipped} skipped"
        + "".join(f"; {count} {reason}" for reason, count in report.skipped_reasons.items() if count),
        f"grid       {report.grid.size} points at (g - 1/2)/G, response index best first",
        "",
        f"{'group':<20} {'prompts':>8} {'accuracy':>8} {'spread':>7}  mean shape",
    ]
    for group in report.groups:
        lines.append(
            f"{group.name[:20]:<20} {group.prompts:>8} {_number(group.accuracy):>8} {group.spread:>7.3f}  {_shape(group.mean_shape)}"
        )
    test = report.between_groups
    lines += [
        "",
        f"collapse score  {_number(report.collapse_score, 4)} (largest max-abs distance between two groups' mean shapes)",
        f"permutation     {test.statistic_name} {_number(test.statistic, 4)}, p = {_number(test.p_value, 4)} "
        f"({test.permutations} permutations, seed {test.seed})",
        verdict_line(report),
    ]
    if report.loss is not None:
        lines += ["", f"distance to the optimum of {report.loss.utility}:"]
        lines += [f"  {p.name[:20]:<20} {p.distance:.4f}  predicted {_shape(p.predicted_shape)}" for p in report.loss.groups]
    if report.suggest is not None:
        lines += ["", f"suggested {report.suggest.family} utility per group (fit at the group's most common n):"]
        lines += [
            f"  {s.name[:20]:<20} {s.utility or '-'} (n = {s.n}, RMS error {s.residual:.3g}{'' if s.reachable else ', not reached'})"
            for s in report.suggest.groups
        ]
    return "\n".join(lines)


def report_markdown(report: AuditReport) -> str:
    """``report.md``: the verdict, the groups, and the figure."""
    test = report.between_groups
    lines = [
        "# Reward collapse audit",
        "",
        f"- source: `{report.source}` ({report.input_format})" + ("" if report.model is None else f", model `{report.model}`"),
        f"- prompts: {report.prompts} audited, {report.skipped} skipped",
        f"- **{verdict_line(report)}**",
        f"- collapse score: {_number(report.collapse_score, 4)} (threshold {report.threshold:g})",
        f"- permutation test: {test.statistic_name} {_number(test.statistic, 4)}, p = {_number(test.p_value, 4)} "
        f"({test.permutations} permutations, seed {test.seed}; alpha {report.alpha:g})",
        "",
        "| group | prompts | accuracy | spread | mean shape (grid) |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {g.name} | {g.prompts} | {_number(g.accuracy)} | {g.spread:.3f} | {_shape(g.mean_shape)} |" for g in report.groups
    ]
    if report.loss is not None:
        lines += ["", f"Distance to the optimum of `{report.loss.utility}`:", ""]
        lines += [f"- {p.name}: {p.distance:.4f}" for p in report.loss.groups]
    if report.suggest is not None:
        lines += ["", f"Suggested `{report.suggest.family}` utilities:", ""]
        lines += [f"- {s.name}: `{s.utility}` (n = {s.n}, RMS error {s.residual:.3g})" for s in report.suggest.groups]
    lines += ["", f"![mean shapes]({REPORT_FILES[2]})", ""]
    return "\n".join(lines)


def plot_audit(report: AuditReport) -> Figure:
    """Mean shape per group against the response position, 10%-90% bands, the optimum dashed."""
    from matplotlib.figure import Figure  # matplotlib loads only when a figure is drawn

    figure = Figure(figsize=(6.0, 4.4), layout="constrained")
    axis = figure.subplots()
    x = report.grid
    for number, group in enumerate(report.groups):
        color = _COLORS[number % len(_COLORS)]
        axis.fill_between(x, group.band_low, group.band_high, color=color, alpha=0.15, linewidth=0)
        axis.plot(x, group.mean_shape, "o-", color=color, linewidth=2, label=f"{group.name} ({group.prompts} prompts)")
    if report.loss is not None:
        for number, prediction in enumerate(report.loss.groups):
            axis.plot(
                x,
                prediction.predicted_shape,
                color=_COLORS[number % len(_COLORS)],
                linestyle="--",
                linewidth=1.2,
                label=f"optimum of {report.loss.utility}" if number == 0 else None,
            )
    score = "" if report.collapse_score is None else f"collapse score {report.collapse_score:.3f}, "
    word = {True: "collapsed", False: "not collapsed", None: "inconclusive"}[report.collapsed]
    axis.set_title(f"{score}{word}", fontsize=10)
    axis.set_xlabel("response index, best first (position (i - 1/2)/n)")
    axis.set_ylabel("score, rescaled to [0, 1]")
    axis.set_xlim(0.0, 1.0)
    axis.set_ylim(-0.03, 1.03)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="upper right")
    return figure


def write_report(report: AuditReport, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``report.md``, ``report.json`` and ``shapes.png`` to ``out_dir``, all or none.

    Everything is rendered in memory first; each file is then written atomically, and
    if one write fails the files this call created are removed again (and ``out_dir``
    too when this call created it).
    """
    import json

    buffer = io.BytesIO()
    plot_audit(report).savefig(buffer, format="png", dpi=120)
    contents = {
        REPORT_FILES[0]: report_markdown(report).encode("utf-8"),
        REPORT_FILES[1]: (json.dumps(report.as_dict(), indent=2, allow_nan=False) + "\n").encode("utf-8"),
        REPORT_FILES[2]: buffer.getvalue(),
    }
    target = Path(out_dir)
    created = not target.exists()
    existed = {name for name in contents if (target / name).exists()}
    written: list[Path] = []
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name, data in contents.items():
            path = target / name
            atomic_write(path, lambda stream, data=data: stream.write(data))  # type: ignore[misc]
            written.append(path)
    except BaseException:
        for path in written:
            if path.name in existed:
                continue  # replaced whole by a newer report: keep it rather than lose both
            with contextlib.suppress(OSError):
                path.unlink()
        if created:
            with contextlib.suppress(OSError):
                target.rmdir()
        raise
    return written
