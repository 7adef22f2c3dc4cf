"""The audit's verdict, read off the test and the intervals (never against them).

In order:

1. **No signal** (``None``): no group with enough prompts has scores that follow the
   ranking (pairwise accuracy consistent with 1/2): shapes of noise say nothing about
   collapse, whatever they look like.
2. **Nothing to compare** (``None``): fewer than two deciding groups, or deciding
   groups that share no n (one utility's optimal shape depends on n, so shapes of
   different n are not compared).
3. **Not collapsed** (``False``): the max-t test rejects "no difference" at ``alpha``
   (equivalently, some axis's interval excludes 0).
4. **Collapsed** (``True``): the test does not reject and every axis's interval lies
   below that axis's resolution: differences above it are ruled out.
5. **Inconclusive** (``None``) otherwise: no difference is detected, but differences up
   to the interval's upper end are not ruled out.

Example:
    >>> from collapse_theory.auditing.comparison import AxisEffect, MaxTTest
    >>> from collapse_theory.auditing.resolution import Resolution
    >>> test = MaxTTest(2.1, 0.4, 3.0, 999, 0, False, (AxisEffect("shape", 0.002, 0.0, 0.005, None),))
    >>> decide(test, Resolution(shape=0.01, scale=0.3), alpha=0.01, deciding=2, signal_groups=2, shared=True)[0]
    True
"""

from __future__ import annotations

from collapse_theory.auditing.comparison import AxisEffect, MaxTTest
from collapse_theory.auditing.resolution import Resolution

__all__ = ["axis_resolution", "decide", "describe_axis"]


def axis_resolution(resolution: Resolution, axis: str) -> float | None:
    """The resolution of ``axis`` (``shape`` or ``scale``)."""
    return resolution.shape if axis == "shape" else resolution.scale


def describe_axis(effect: AxisEffect, level: float) -> str:
    """``shape 0.043 [0.031, 0.055]`` with the confidence level's interval."""
    high = "inf" if effect.high is None else f"{effect.high:.3g}"
    unit = "" if effect.axis == "shape" else " log-range"
    return f"{effect.axis}{unit} {effect.effect:.3g} [{effect.low:.3g}, {high}] ({level:.0%} interval)"


def decide(
    test: MaxTTest,
    resolution: Resolution,
    alpha: float,
    *,
    deciding: int,
    signal_groups: int,
    shared: bool,
    no_signal: int = 0,
) -> tuple[bool | None, str]:
    """``(collapsed, reason)`` (see the module).

    Args:
        test: the max-t test over the strata.
        resolution: per-axis resolutions.
        alpha: the test's level (intervals at 1 - alpha).
        deciding: groups with enough prompts and a signal.
        signal_groups: groups with enough prompts whose scores follow the ranking.
        shared: whether two deciding groups share an n.
        no_signal: groups with enough prompts whose scores do not follow the ranking.
    """
    if signal_groups == 0 and no_signal > 0:
        return None, "no signal: the scores do not follow the ranking (pairwise accuracy consistent with 1/2)"
    if deciding < 2:
        return None, "fewer than two groups with enough prompts whose scores follow the ranking: nothing to compare"
    if not shared or test.p_value is None:
        return None, "the groups share no number of completions n, and shapes of different n are not comparable"
    level = 1.0 - alpha
    axes = "; ".join(describe_axis(effect, level) for effect in test.axes)
    if test.p_value < alpha:
        return False, f"the groups differ (p = {test.p_value:.3g} < alpha {alpha:g}): {axes}"
    open_axes = []
    for effect in test.axes:
        limit = axis_resolution(resolution, effect.axis)
        if limit is None or effect.high is None or not effect.high < limit:
            open_axes.append((effect, limit))
    if not open_axes:
        ruled = ", ".join(f"{e.axis} above {axis_resolution(resolution, e.axis):.3g}" for e in test.axes)
        return True, f"no difference (p = {test.p_value:.3g}); differences in {ruled} are ruled out: {axes}"
    missing = ", ".join(
        f"{effect.axis} up to {'inf' if effect.high is None else f'{effect.high:.3g}'}"
        + ("" if limit is None else f" (resolution {limit:.3g})")
        for effect, limit in open_axes
    )
    return None, f"no difference detected (p = {test.p_value:.3g}), but differences in {missing} are not ruled out: {axes}"
