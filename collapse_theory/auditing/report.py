"""The audit of a trained reward model: read, compare like with like, decide; and its report.

:func:`audit` reads scores (a file of :mod:`.score_files`, arrays, or a mapping of
columns), turns each prompt into its features (:mod:`.features`: the shape at its own
n and the log-range), keeps per (group, n) cell the moments of those features, and
compares the groups stratum by stratum (:mod:`.comparison`): effects with simultaneous
intervals and one max-t test. The verdict (:mod:`.verdict`) follows from the test and
the intervals against a derived resolution (:mod:`.resolution`).

Groups with fewer than ``min_prompts`` prompts at an n, and groups whose scores do not
follow the ranking, are reported but do not decide. Optionally each group is compared
with the optimum of the loss the model was trained with, at each of its n
(:mod:`.predictions`), and described by the family member that fits it best.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from collapse_theory._core.io import atomic_write
from collapse_theory._core.results import as_dict
from collapse_theory.auditing.bounds import check_audit_memory, check_grid
from collapse_theory.auditing.comparison import DEFAULT_RESAMPLES, MaxTTest, max_t_test, stratum_contrasts
from collapse_theory.auditing.features import MAX_INTERIOR
from collapse_theory.auditing.in_memory import in_memory_scores
from collapse_theory.auditing.predictions import (
    Descriptions,
    LossComparison,
    Suggestions,
    compare_with_loss,
    describe_groups,
    suggest_utilities,
)
from collapse_theory.auditing.resolution import Resolution, default_resolution
from collapse_theory.auditing.score_files import AuditInputError, open_score_file
from collapse_theory.auditing.shapes import DEFAULT_GRID, PromptShapes, read_shapes
from collapse_theory.auditing.statistics import BAND_QUANTILES, GroupSummary, summarise_groups
from collapse_theory.auditing.verdict import axis_resolution, decide, describe_axis
from collapse_theory.collapse_score import collapse_score, group_distances
from collapse_theory.errors import InputError
from collapse_theory.problems.losses import Loss
from collapse_theory.problems.utilities import Utility

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_MIN_PROMPTS",
    "REPORT_FILES",
    "AuditReport",
    "Stratum",
    "audit",
    "format_table",
    "plot_audit",
    "report_markdown",
    "verdict_line",
    "write_report",
]

DEFAULT_ALPHA = 0.01
#: Pairs of groups whose distances the report lists (the collapse score covers every pair).
MAX_LISTED_PAIRS = 1000
#: Prompts a (group, n) cell needs to decide: below this a cell's covariance is too
#: noisy for the multiplier bootstrap's level (the calibration table in docs/audit.md).
DEFAULT_MIN_PROMPTS = 20
REPORT_FILES = ("report.md", "report.json", "shapes.png")


@dataclass(frozen=True)
class Stratum:
    """One n at which deciding groups are compared.

    Attributes:
        n: completions per prompt.
        groups: the deciding groups with prompts at n, with their prompt counts.
        axes: ``("shape", "scale")``, or ``("scale",)`` at n = 2 (one pair has no shape).
    """

    n: int
    groups: dict[str, int]
    axes: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class AuditReport:
    """Is a trained reward model collapsed? Everything the audit measured.

    Attributes:
        source: the file read (or ``<arrays>``).
        input_format: ``rewardbench``, ``jsonl``, ``csv``, ``run`` or ``arrays``.
        model: the model named in the file (RewardBench), else None.
        prompts: prompts audited.
        skipped: prompts left out (fewer than two scores, or all tied).
        skipped_reasons: ``{reason: prompts}``.
        grid: the grid positions :math:`(g - 1/2)/G` of the displayed mean shapes.
        groups: one :class:`GroupSummary` per group.
        excluded: ``{group: why it does not decide}``.
        strata: the n at which groups are compared.
        test: the max-t test and the per-axis effects with intervals.
        resolution: the per-axis resolution the verdict uses.
        collapsed: the verdict (True, False, or None: inconclusive, no signal, not comparable).
        reason: why the verdict is what it is, with the effects and intervals.
        alpha: the test's level; intervals are at 1 - alpha.
        min_prompts: prompts a (group, n) cell needs to decide.
        group_distances: ``{"a vs b": max-abs distance of the grid mean shapes}`` between groups
            with at least ``min_prompts`` prompts (descriptive; listed up to ``MAX_LISTED_PAIRS`` pairs).
        collapse_score: the largest such distance (the trainer's figure; descriptive).
        loss: each group against ``--loss``'s optimum at its own n, when asked.
        describe: the family member each group behaves like, when asked.
        suggest: utilities that would train groups towards target laws, when asked.
    """

    source: str
    input_format: str
    model: str | None
    prompts: int
    skipped: int
    skipped_reasons: dict[str, int]
    grid: np.ndarray
    groups: tuple[GroupSummary, ...]
    excluded: dict[str, str]
    strata: tuple[Stratum, ...]
    test: MaxTTest
    resolution: Resolution
    collapsed: bool | None
    reason: str
    alpha: float
    min_prompts: int
    group_distances: dict[str, float]
    collapse_score: float | None
    loss: LossComparison | None = None
    describe: Descriptions | None = None
    suggest: Suggestions | None = None
    _shapes: PromptShapes | None = field(default=None, repr=False)

    @property
    def only_scale(self) -> bool:
        """Every stratum compared is n = 2: the margin is the only axis."""
        return bool(self.strata) and all(stratum.n == 2 for stratum in self.strata)

    def as_dict(self) -> dict[str, Any]:
        """Strict JSON (the ``--format json`` output and ``report.json``)."""
        data = as_dict(self, exclude=("_shapes",))
        data["band"] = f"{BAND_QUANTILES[0]:.0%}-{BAND_QUANTILES[1]:.0%} quantiles of the group's grid shapes"
        data["confidence"] = 1.0 - self.alpha
        data["axes"] = [
            {**as_dict(effect), "resolution": axis_resolution(self.resolution, effect.axis)} for effect in self.test.axes
        ]
        data["resolution"]["description"] = self.resolution.describe()
        data["only_scale"] = self.only_scale
        for key in ("loss", "describe", "suggest"):
            if data[key] is None:
                del data[key]
        return data

    def plot(self) -> Figure:
        """The figure of ``shapes.png`` (:func:`plot_audit`)."""
        return plot_audit(self)

    def save(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write ``report.md``, ``report.json`` and ``shapes.png`` (:func:`write_report`)."""
        return write_report(self, out_dir)


def _check_fraction(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{name} must be a number, got {value!r}")
    if not 0.0 < value < 1.0:
        raise InputError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


def _check_positive(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _source(data: Any, input_format: str, groups: Any, ranks: Any) -> Any:
    if isinstance(data, (str, os.PathLike)):
        if groups is not None or ranks is not None:
            raise InputError("groups and ranks go with arrays of scores, not with a file")
        return open_score_file(data, input_format)
    if isinstance(data, Mapping):
        if groups is not None or ranks is not None:
            raise InputError("a mapping of columns carries its own 'groups' and 'ranks'")
        unknown = sorted(set(data) - {"scores", "groups", "ranks"})
        if unknown or "scores" not in data:
            raise InputError(f"a mapping of columns needs 'scores' (optional 'groups', 'ranks'); got {sorted(data)}")
        return in_memory_scores(data["scores"], data.get("groups"), data.get("ranks"))
    return in_memory_scores(data, groups, ranks)


# Long: half of it is the signature and the docstring of its fourteen arguments; the body runs the steps
# (read, summarise, compare, decide) once each, in order.
def audit(
    data: Any,
    *,
    groups: Sequence[Any] | None = None,
    ranks: Sequence[Sequence[int]] | None = None,
    input_format: str = "auto",
    grid: int = DEFAULT_GRID,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
    resolution: float | None = None,
    scale_resolution: float | None = None,
    min_prompts: int = DEFAULT_MIN_PROMPTS,
    loss: Loss | Utility | str | None = None,
    describe: str | None = None,
    suggest: Mapping[str, str] | None = None,
) -> AuditReport:
    """Audit a reward model's scores for reward collapse.

    Args:
        data: a score file (RewardBench 2 JSON, JSONL, CSV) or a trainer run directory; or the
            scores themselves, one sequence per prompt best first (a 2-D array or a list of lists);
            or a mapping with ``scores``, optional ``groups`` and ``ranks``.
        groups: with scores: one group name per prompt (default: one group ``all``).
        ranks: with scores: 1-based ranks per prompt (1 = best) when the scores are not best first.
        input_format: for files: ``auto`` (detect), ``rewardbench``, ``jsonl``, ``csv`` or ``run``.
        grid: G, the grid points of the displayed mean shapes.
        resamples: B, draws of the multiplier bootstrap (test and intervals).
        seed: the bootstrap's seed.
        alpha: the test's level; the intervals are at 1 - alpha.
        resolution: the shape axis's resolution (default: derived, :mod:`.resolution`).
        scale_resolution: the scale axis's resolution in log-range (default: derived).
        min_prompts: prompts a (group, n) cell needs to decide the verdict.
        loss: the utility or ranking loss the model was trained with: each group against its
            optimum (or limiting direction) at each of its n.
        describe: a family (``box-cox``, ``log-sigmoid``, ...): the member each group behaves like.
        suggest: ``{group: target law}`` (``beta:A,B``, ``uniform``, ...): the utility that would train
            that group towards the law.

    Raises:
        AuditInputError: malformed scores (one line naming the file, the place and the problem).
        ValueError: a bad argument.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> shape = np.array([1.0, 0.94, 0.8, 0.6, 0.4, 0.2, 0.06, 0.0])
        >>> scores = shape + rng.normal(0.0, 0.01, (200, 8))
        >>> report = audit(scores, groups=["a", "b"] * 100, resamples=999)
        >>> report.collapsed, report.test.axis("shape").high < report.resolution.shape
        (True, True)
    """
    alpha = _check_fraction(alpha, "alpha")
    resolution = _check_positive(resolution, "resolution")
    scale_resolution = _check_positive(scale_resolution, "scale_resolution")
    if isinstance(min_prompts, bool) or not isinstance(min_prompts, int) or min_prompts < 2:
        raise InputError(f"min_prompts must be an integer >= 2, got {min_prompts!r}")
    grid = check_grid(grid)
    source = _source(data, input_format, groups, ranks)
    check_audit_memory(source, grid)
    shapes = read_shapes(source, grid)
    if shapes.prompts == 0:
        reasons = ", ".join(f"{count} with {reason}" for reason, count in shapes.skipped.items() if count)
        raise AuditInputError(f"{source.path}: no prompt has two or more distinct scores ({reasons})")
    summaries = summarise_groups(
        shapes.shapes,
        shapes.groups,
        shapes.group_names,
        shapes.completions,
        shapes.correct_pairs,
        shapes.known_pairs,
        shapes.tied_pairs,
        shapes.best_of_n,
        alpha,
    )
    deciding = _deciding_cells(shapes, summaries, min_prompts)
    excluded, deciding_cells = deciding.excluded, deciding.cells
    signal_groups, no_signal = deciding.signal_groups, deciding.no_signal
    contrasts = stratum_contrasts(shapes.cells, deciding_cells)
    names = shapes.group_names
    compared = sorted({cell[1] for cell in contrasts.cells})
    chosen = _chosen_resolution(compared, resolution, scale_resolution)
    where = functools.partial(_describe_contrast, names)
    test = max_t_test(contrasts, shapes.cells, alpha, resamples, seed, describe=where, margins=(chosen.shape, chosen.scale))
    compared_groups = {cell[0] for cell in contrasts.cells}
    for group in sorted({cell[0] for cell in deciding_cells} - compared_groups):
        sizes = ", ".join(str(cell[1]) for cell in deciding_cells if cell[0] == group)
        excluded[names[group]] = f"no other deciding group has prompts with n = {sizes}: not compared"
    strata = tuple(
        Stratum(
            n=n,
            groups={names[g]: shapes.cells[(g, m)].count for (g, m) in contrasts.cells if m == n},
            axes=("scale",) if n == 2 else ("shape", "scale"),
        )
        for n in compared
    )
    deciding_groups = len({cell[0] for cell in deciding_cells})
    collapsed, reason = decide(
        test, chosen, alpha, deciding=deciding_groups, signal_groups=signal_groups, shared=bool(compared), no_signal=no_signal
    )
    means = {summary.name: summary.mean_shape for summary in summaries if summary.prompts >= min_prompts}
    model = source.metadata.get("model")
    return AuditReport(
        source=str(source.path),
        input_format=source.format,
        model=None if model is None else str(model),
        prompts=shapes.prompts,
        skipped=sum(shapes.skipped.values()),
        skipped_reasons=dict(shapes.skipped),
        grid=shapes.grid,
        groups=tuple(summaries),
        excluded=excluded,
        strata=strata,
        test=test,
        resolution=chosen,
        collapsed=collapsed,
        reason=reason,
        alpha=alpha,
        min_prompts=min_prompts,
        group_distances=group_distances(means) if len(means) * (len(means) - 1) // 2 <= MAX_LISTED_PAIRS else {},
        collapse_score=_largest_distance(means),
        loss=None if loss is None else compare_with_loss(shapes, loss, alpha, resamples, seed, chosen),
        describe=None if describe is None else describe_groups(shapes, describe, chosen, alpha, resamples, seed, min_prompts),
        suggest=None if suggest is None else suggest_utilities(suggest, [s.name for s in summaries]),
        _shapes=shapes,
    )


class _Deciding(NamedTuple):
    """The (group, n) cells that decide the verdict, the groups left out and why, and the signal counts."""

    cells: list[tuple[int, int]]
    excluded: dict[str, str]
    signal_groups: int
    no_signal: int


def _deciding_cells(shapes: PromptShapes, summaries: Sequence[GroupSummary], min_prompts: int) -> _Deciding:
    """Each group's cells with ``min_prompts`` prompts, kept when its scores follow the ranking (a signal)."""
    by_name = {summary.name: summary for summary in summaries}
    excluded: dict[str, str] = {}
    deciding_cells: list[tuple[int, int]] = []
    signal_groups = no_signal = 0
    cells_of = shapes.cells_of()
    for index, name in enumerate(shapes.group_names):
        summary = by_name.get(name)
        if summary is None:
            continue
        cells = [cell for cell in cells_of.get(index, []) if shapes.cells[cell].count >= min_prompts]
        if not cells:
            excluded[name] = f"fewer than {min_prompts} prompts at every n"
            continue
        if summary.signal is False or summary.signal is None:
            no_signal += 1
            excluded[name] = "no signal: its scores do not follow the ranking (pairwise accuracy consistent with 1/2)"
            continue
        signal_groups += 1
        deciding_cells.extend(cells)
    return _Deciding(deciding_cells, excluded, signal_groups, no_signal)


def _chosen_resolution(compared: Sequence[int], resolution: float | None, scale_resolution: float | None) -> Resolution:
    """The resolution of each axis: the one given, else derived at the compared n (:mod:`.resolution`)."""
    derived = default_resolution(compared) if compared else Resolution(None, None)
    return Resolution(
        shape=derived.shape if resolution is None else resolution,
        scale=derived.scale if scale_resolution is None else scale_resolution,
        shape_between=derived.shape_between if resolution is None else None,
        scale_between=derived.scale_between if scale_resolution is None else None,
    )


def _describe_contrast(names: Sequence[str], first: tuple[int, int], second: tuple[int, int], feature: int) -> str:
    """Where a contrast lies: the two groups, the n and the feature (a response, an interior point, the log-range)."""
    n = first[1]
    if feature == min(n - 2, MAX_INTERIOR):
        return f"{names[first[0]]} vs {names[second[0]]} at n = {n}, log-range"
    position = f"response {feature + 2}" if n - 2 <= MAX_INTERIOR else f"interior point {feature + 1} of {MAX_INTERIOR}"
    return f"{names[first[0]]} vs {names[second[0]]} at n = {n}, {position}"


def _largest_distance(means: Mapping[str, np.ndarray]) -> float | None:
    """:func:`collapse_score` in O(groups x grid) memory per group: one row against the rest at a time."""
    if len(means) <= 64:
        return collapse_score(means)
    stacked = np.stack(list(means.values()))
    return float(max(np.max(np.abs(stacked[i + 1 :] - stacked[i])) for i in range(stacked.shape[0] - 1)))


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _shape(values: np.ndarray) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def verdict_line(report: AuditReport) -> str:
    """``collapsed: yes/no/inconclusive/no signal (reason)``."""
    if report.collapsed is None and report.reason.startswith("no signal: "):
        return f"collapsed: no signal ({report.reason.removeprefix('no signal: ')})"
    word = {True: "yes", False: "no", None: "inconclusive"}[report.collapsed]
    return f"collapsed: {word} ({report.reason})"


def _test_lines(report: AuditReport) -> list[str]:
    test = report.test
    level = 1.0 - report.alpha
    if not report.strata:
        return ["strata     none: no n is shared by two deciding groups"]
    lines = [
        "strata     " + "; ".join(f"n = {s.n}: " + ", ".join(f"{g} ({m})" for g, m in s.groups.items()) for s in report.strata),
    ]
    if report.only_scale:
        lines.append("axes       n = 2 only: one pair per prompt has no shape, so the margin (log-range) is the only axis")
    for effect in test.axes:
        limit = axis_resolution(report.resolution, effect.axis)
        lines.append(
            f"effect     {describe_axis(effect, level)}, at {effect.where}"
            + ("" if limit is None else f"; resolution {limit:.3g}")
        )
    lines.append(
        f"test       max-t {_number(test.statistic, 3) if not test.certain else 'inf (a difference without noise)'}, "
        f"p = {_number(test.p_value_above, 4)} for a difference above the resolution, {_number(test.p_value, 4)} for any "
        f"({test.resamples} multiplier-bootstrap draws, seed {test.seed}; alpha {report.alpha:g})"
    )
    lines.append(f"resolution {report.resolution.describe() or '-'}")
    return lines


def format_table(report: AuditReport) -> str:
    """The terminal report: groups, strata, effects with intervals, the test, the verdict."""
    lines = [
        f"source     {report.source} ({report.input_format}{'' if report.model is None else ', model ' + report.model})",
        f"prompts    {report.prompts} audited, {report.skipped} skipped"
        + "".join(f"; {count} {reason}" for reason, count in report.skipped_reasons.items() if count),
        "",
        f"{'group':<20} {'prompts':>8} {'n':>10} {'accuracy':>8} {'best-of-n':>9} {'signal':>6}  mean shape ({report.grid.size}-point grid)",
    ]
    for group in report.groups:
        sizes = ",".join(str(n) for n in sorted(group.completions))
        signal = {True: "yes", False: "no", None: "-"}[group.signal]
        lines.append(
            f"{group.name[:20]:<20} {group.prompts:>8} {sizes[:10]:>10} {_number(group.accuracy):>8} "
            f"{_number(group.best_of_n_accuracy):>9} {signal:>6}  {_shape(group.mean_shape)}"
        )
    for name, why in report.excluded.items():
        lines.append(f"  left out: {name}: {why}")
    lines += ["", *_test_lines(report), verdict_line(report)]
    if report.loss is not None:
        lines += ["", *report.loss.lines()]
    if report.describe is not None:
        lines += ["", *report.describe.lines()]
    if report.suggest is not None:
        lines += ["", *report.suggest.lines()]
    return "\n".join(lines)


def _markdown_cell(text: str) -> str:
    """Text safe inside a Markdown table cell or list item (pipes, newlines, backticks)."""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def report_markdown(report: AuditReport) -> str:
    """``report.md``: the verdict, the effects, the groups, and the figure."""
    source = _markdown_cell(report.source)
    lines = [
        "# Reward collapse audit",
        "",
        f"- source: {source} ({report.input_format})"
        + ("" if report.model is None else f", model {_markdown_cell(report.model)}"),
        f"- prompts: {report.prompts} audited, {report.skipped} skipped",
        f"- **{_markdown_cell(verdict_line(report))}**",
        "",
        "```",
        *_test_lines(report),
        "```",
        "",
        "| group | prompts | n | accuracy | best-of-n | signal | mean shape (grid) |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for g in report.groups:
        sizes = ", ".join(f"{n}: {m}" for n, m in sorted(g.completions.items()))
        signal = {True: "yes", False: "no", None: "-"}[g.signal]
        lines.append(
            f"| {_markdown_cell(g.name)} | {g.prompts} | {sizes} | {_number(g.accuracy)} | {_number(g.best_of_n_accuracy)} "
            f"| {signal} | {_shape(g.mean_shape)} |"
        )
    if report.excluded:
        lines += ["", "Left out of the comparison:", ""]
        lines += [f"- {_markdown_cell(name)}: {why}" for name, why in report.excluded.items()]
    for part in (report.loss, report.describe, report.suggest):
        if part is not None:
            lines += ["", *(_markdown_cell(line) for line in part.lines())]
    lines += ["", f"![mean shapes]({REPORT_FILES[2]})", ""]
    return "\n".join(lines)


def plot_audit(report: AuditReport) -> Figure:
    """Mean shape per group against the response index (one panel per group above three)."""
    from collapse_theory.auditing.figure import audit_figure  # matplotlib loads only when a figure is drawn

    return audit_figure(report)


def write_report(report: AuditReport, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``report.md``, ``report.json`` and ``shapes.png`` to ``out_dir``, all or none.

    Everything is rendered in memory first; each file is then written atomically, and
    if one write fails the files this call created are removed again (and ``out_dir``
    too when this call created it).
    """
    if not str(out_dir).strip():
        raise InputError("the output directory is an empty path")
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
