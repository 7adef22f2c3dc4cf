"""Statistics of shapes per group and between groups: the collapse score and a permutation test.

Per group (prompts of one subset or kind), on the grid of :mod:`.shapes`:

* the **mean shape** :math:`\\bar v_g`;
* a **band**: the 10% and 90% quantiles over the group's prompts at each grid point
  (where most of its prompts lie), and the standard error of the mean;
* the **spread**: the mean over prompts of :math:`\\max_g |v_g - \\bar v_g|`, the same
  sup-norm as the collapse score (0 when every prompt has the group's shape);
* the **ranking accuracy**: the fraction of pairs of known order whose scores order them
  right (strictly: a tie counts as wrong), as the trainer's ``pair_accuracy``.

Between groups:

* the **collapse score**, :func:`collapse_score`: the largest distance
  :math:`\\max_g |\\bar v^{(a)}_g - \\bar v^{(b)}_g|` between two groups' mean shapes,
  the definition of the trainer's diagnostics (0 = complete collapse);
* a **permutation test** of "every group draws its shapes from one distribution": the
  statistic is the between-group sum of squares
  :math:`T = \\sum_k m_k \\lVert \\bar v^{(k)} - \\bar v \\rVert^2` (m_k prompts in group k;
  more powerful than the collapse score, which a small group's noise dominates), its
  null distribution from K uniformly random relabellings of the prompts that keep the
  group sizes (drawn without a full shuffle: see ``_random_labelling``),
  and the p-value :math:`(1 + \\#\\{T_\\pi \\ge T\\})/(1 + K)` (never 0; exact under
  the null). Each relabelling costs O(prompts): new labels are drawn and the group sums
  taken as one matrix product per batch of relabellings.

Example:
    >>> import numpy as np
    >>> from collapse_theory.collapse_score import collapse_score
    >>> collapse_score({"closed": np.array([1.0, 0.5, 0.0]), "open": np.array([1.0, 0.8, 0.0])})
    0.30000000000000004
    >>> collapse_score({"only": np.array([1.0, 0.0])}) is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.stats

from collapse_theory._core.checks import check_seed
from collapse_theory.errors import InputError

__all__ = [
    "BAND_QUANTILES",
    "DEFAULT_PERMUTATIONS",
    "GroupSummary",
    "PermutationTest",
    "between_group_statistic",
    "permutation_test",
    "summarise_groups",
]

BAND_QUANTILES = (0.1, 0.9)
DEFAULT_PERMUTATIONS = 1000
_PERMUTATION_BATCH = 16
_COLUMN_CHUNK = 1 << 16
_CODES = 1 << 16


@dataclass(frozen=True, eq=False)
class GroupSummary:
    """The shapes of one group of prompts.

    Attributes:
        name: the group (subset, kind).
        prompts: prompts audited in the group.
        mean_shape: float64 [G], the mean shape on the grid.
        band_low: float64 [G], the 10% quantile of the group's shapes at each grid point.
        band_high: float64 [G], the 90% quantile.
        standard_error: float64 [G], the standard error of the mean shape.
        spread: mean over prompts of the max-abs distance to ``mean_shape``.
        accuracy: fraction of pairs of known order ranked right; None when no pair's order is known.
        completions: ``{n: prompts}``, how many prompts have n scores.
        signal: the scores follow the ranking: the mean per-prompt pairwise accuracy (ties
            counted as half) has a one-sided lower confidence bound above 1/2; None with
            fewer than two prompts or no pair of known order.
        accuracy_bound: that lower bound (None as for ``signal``).
        best_of_n_accuracy: RewardBench's own accuracy, the fraction of prompts whose every
            correct completion scores above every incorrect one (None without a partial order).
    """

    name: str
    prompts: int
    mean_shape: np.ndarray
    band_low: np.ndarray
    band_high: np.ndarray
    standard_error: np.ndarray
    spread: float
    accuracy: float | None
    completions: dict[int, int]
    signal: bool | None = None
    accuracy_bound: float | None = None
    best_of_n_accuracy: float | None = None


def summarise_groups(
    shapes: np.ndarray,
    labels: np.ndarray,
    names: tuple[str, ...],
    completions: np.ndarray,
    correct_pairs: np.ndarray,
    known_pairs: np.ndarray,
    tied_pairs: np.ndarray | None = None,
    best_of_n: np.ndarray | None = None,
    alpha: float = 0.01,
) -> list[GroupSummary]:
    """One :class:`GroupSummary` per group with at least one prompt, in ``names`` order.

    The signal check is one-sided at level ``alpha``: the group's scores follow the
    ranking when :math:`\\bar a - z_{1-\\alpha} s_a / \\sqrt{m} > 1/2`, with
    :math:`a_p = (\\text{right} + \\text{tied}/2) / \\text{known}` per prompt.
    """
    tied_pairs = np.zeros_like(correct_pairs) if tied_pairs is None else tied_pairs
    with np.errstate(divide="ignore", invalid="ignore"):
        per_prompt = np.where(known_pairs > 0, (correct_pairs + 0.5 * tied_pairs) / known_pairs, np.nan)
    z = float(scipy.stats.norm.ppf(1.0 - alpha))
    count = len(names)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(count + 1))
    correct = np.bincount(labels, weights=correct_pairs, minlength=count)
    known = np.bincount(labels, weights=known_pairs, minlength=count)
    summaries = []
    for index, name in enumerate(names):
        members = order[bounds[index] : bounds[index + 1]]
        if members.size == 0:
            continue
        group = shapes[members]
        mean = group.mean(axis=0)
        low, high = np.quantile(group, BAND_QUANTILES, axis=0)
        error = group.std(axis=0, ddof=1) / np.sqrt(members.size) if members.size > 1 else np.full(mean.shape, np.nan)
        values, counts = np.unique(completions[members], return_counts=True)
        signal, bound = _signal(per_prompt[members], z)
        hits = best_of_n[members] if best_of_n is not None else np.empty(0)
        hits = hits[np.isfinite(hits)]
        summaries.append(
            GroupSummary(
                name=name,
                prompts=int(members.size),
                mean_shape=mean,
                band_low=low,
                band_high=high,
                standard_error=error,
                spread=float(np.mean(np.max(np.abs(group - mean), axis=1))),
                accuracy=float(correct[index] / known[index]) if known[index] > 0 else None,
                completions={int(v): int(c) for v, c in zip(values, counts, strict=True)},
                signal=signal,
                accuracy_bound=bound,
                best_of_n_accuracy=float(hits.mean()) if hits.size else None,
            )
        )
    return summaries


def _signal(accuracies: np.ndarray, z: float) -> tuple[bool | None, float | None]:
    """Whether per-prompt accuracies are above 1/2 beyond noise, and the one-sided lower bound."""
    values = accuracies[np.isfinite(accuracies)]
    if values.size < 2:
        return None, None
    bound = float(values.mean() - z * values.std(ddof=1) / np.sqrt(values.size))
    return bound > 0.5, bound


@dataclass(frozen=True)
class PermutationTest:
    """The test of "the groups share one shape distribution".

    Attributes:
        statistic: the observed between-group sum of squares T.
        p_value: ``(1 + #{T_perm >= T}) / (1 + permutations)``; None with fewer than two groups.
        permutations: relabellings drawn (K).
        seed: the seed of the relabellings.
        statistic_name: what ``statistic`` is.
    """

    statistic: float | None
    p_value: float | None
    permutations: int
    seed: int
    statistic_name: str = "between-group sum of squares"


def _group_sums(centred: np.ndarray, label_rows: np.ndarray, groups: int) -> np.ndarray:
    """[B, groups - 1, G] sums of ``centred`` over each labelling's groups 0..groups-2."""
    batch, prompts = label_rows.shape
    width = centred.shape[1]
    sums = np.zeros((batch, groups - 1, width))
    for start in range(0, prompts, _COLUMN_CHUNK):
        block = slice(start, start + _COLUMN_CHUNK)
        rows, columns = label_rows[:, block], centred[block]
        for group in range(groups - 1):
            sums[:, group] += (rows == group).astype(columns.dtype) @ columns
    return sums


def _random_labelling(rng: np.random.Generator, table: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """A uniformly random relabelling with group sizes ``sizes``, in O(prompts) cheap steps.

    Replaces a Fisher-Yates shuffle of the labels (``rng.shuffle``: one bounded random
    integer and one random memory access per prompt, 5-8x slower here). Each prompt draws
    a group independently (a random 16-bit code looked up in ``table``, which gives group
    k about m_k / P of the codes); then a uniformly chosen surplus of each over-full group
    is moved, in random order, to the under-full ones. Every step treats the prompts
    alike, so the result's law is invariant under permuting the prompts; the labellings
    with the sizes ``sizes`` are one orbit of those permutations, so the law is uniform on
    them: exactly the law of a shuffle, whatever the table's proportions.
    """
    labels = table[rng.integers(0, _CODES, int(sizes.sum()), dtype=np.uint16)]
    surplus = np.bincount(labels, minlength=sizes.size) - sizes
    if np.any(surplus):
        moved = np.concatenate(
            [rng.choice(np.flatnonzero(labels == group), surplus[group], replace=False) for group in np.flatnonzero(surplus > 0)]
        )
        rng.shuffle(moved)
        deficit = np.flatnonzero(surplus < 0)
        labels[moved] = np.repeat(deficit, -surplus[deficit]).astype(labels.dtype)
    return labels


def between_group_statistic(shapes: np.ndarray, labels: np.ndarray) -> float:
    """:math:`T = \\sum_k m_k \\lVert \\bar v^{(k)} - \\bar v \\rVert^2` for labels 0..K-1."""
    groups = int(labels.max()) + 1 if labels.size else 0
    sizes = np.bincount(labels, minlength=groups).astype(np.float64)
    centred = shapes - shapes.mean(axis=0)
    sums = np.stack([np.bincount(labels, weights=centred[:, g], minlength=groups) for g in range(shapes.shape[1])], axis=1)
    present = sizes > 0
    return float(np.sum(sums[present] ** 2 / sizes[present, None]))


def permutation_test(
    shapes: np.ndarray, labels: np.ndarray, permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0
) -> PermutationTest:
    """Permutation test of equal shape distributions across groups (labels 0..K-1, each non-empty).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> shapes = np.concatenate([rng.normal(0.0, 0.1, (50, 4)), rng.normal(0.3, 0.1, (50, 4))])
        >>> labels = np.repeat([0, 1], 50)
        >>> permutation_test(shapes, labels, permutations=99, seed=1).p_value
        0.01
    """
    seed = check_seed(seed)
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 1:
        raise InputError(f"permutations must be an integer >= 1, got {permutations!r}")
    labels = np.asarray(labels)
    groups = int(labels.max()) + 1 if labels.size else 0
    if groups < 2:
        return PermutationTest(statistic=None, p_value=None, permutations=permutations, seed=seed)
    sizes = np.bincount(labels, minlength=groups).astype(np.float64)
    if np.any(sizes == 0):
        raise InputError("every group label 0..K-1 needs at least one prompt")
    # float32 products for speed: the observed labelling goes through the same arithmetic
    # (it is row 0 of the first batch), so rounding cannot favour either side.
    centred = (shapes - shapes.mean(axis=0)).astype(np.float32)
    working = labels.astype(np.int8 if groups < 128 else np.int32)
    rng = np.random.default_rng(seed)
    # 2^16 codes shared out between the groups in proportion to their sizes (see _random_labelling)
    shares = np.floor(sizes / labels.size * _CODES).astype(np.int64)
    shares[np.argmax(sizes)] += _CODES - shares.sum()
    table = np.repeat(np.arange(groups), shares).astype(working.dtype)

    def statistics(rows: np.ndarray) -> np.ndarray:
        sums = _group_sums(centred, rows, groups)
        last = -sums.sum(axis=1)  # the centred sums of all groups add to 0
        total = np.einsum("bkg,bkg->b", sums, sums / sizes[None, :-1, None])
        return total + np.einsum("bg,bg->b", last, last) / sizes[-1]

    observed: float | None = None
    exceed = 0
    drawn = 0
    while drawn < permutations:
        batch = min(_PERMUTATION_BATCH, permutations - drawn)
        rows = np.empty((batch + (observed is None), labels.size), dtype=working.dtype)
        offset = 0
        if observed is None:
            rows[0] = working
            offset = 1
        for row in range(offset, rows.shape[0]):
            rows[row] = _random_labelling(rng, table, sizes.astype(np.int64))
        values = statistics(rows)
        if observed is None:
            observed = float(values[0])
            values = values[1:]
        # a relative tolerance so that relabellings equal to the observed one in exact
        # arithmetic count as at least as extreme despite float32 rounding
        exceed += int(np.count_nonzero(values >= observed * (1 - 1e-5)))
        drawn += batch
    exact = between_group_statistic(shapes, labels)
    return PermutationTest(statistic=exact, p_value=(1 + exceed) / (1 + permutations), permutations=permutations, seed=seed)
