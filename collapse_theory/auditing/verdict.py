"""The audit's verdict, read off the test and the intervals (never against them).

In order:

1. **No signal** (``None``): no group with enough prompts has scores that follow the
   ranking (pairwise accuracy consistent with 1/2): shapes of noise say nothing about
   collapse, whatever they look like.
2. **Nothing to compare** (``None``): fewer than two deciding groups, or deciding
   groups that share no n (one utility's optimal shape depends on n, so shapes of
   different n are not compared).
3. **Not collapsed** (``False``): the groups differ by more than the resolution: the
   minimum-effect max-t test rejects "no difference above the resolution" at ``alpha``
   (equivalently, some axis's interval lies wholly above its resolution).
4. **Collapsed** (``True``): that test does not reject and every axis's interval lies
   below its resolution: differences at or above it are ruled out.
5. **Inconclusive** (``None``) otherwise: an interval straddles the resolution.

The resolution is the smallest difference that matters (half the distance between the
optima of two utilities a user would choose between, :mod:`.resolution`). Testing
against it rather than against exactly 0 is what keeps the verdict right when groups
trained with one utility differ in something the utility does not set: a noisier group
sorts its near-ties differently, so its mean shape moves by a real but small amount,
which the intervals show and the test of "no difference at all" (``p_value``, reported
beside) detects. This is the logic of equivalence and minimum-effect tests (Schuirmann,
"A comparison of the two one-sided tests procedure", J. Pharmacokinet. Biopharm. 1987;
Murphy and Myors, "Testing the hypothesis that treatments have negligible effects",
J. Appl. Psychol. 1999), with simultaneous intervals in place of one-sided ones.

Example:
    >>> from collapse_theory.auditing.comparison import AxisEffect, MaxTTest
    >>> from collapse_theory.auditing.resolution import Resolution
    >>> test = MaxTTest(2.1, 0.4, 0.9, 3.0, 999, 0, False, (AxisEffect("shape", 0.002, 0.0, 0.005, None),))
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
    if not shared or test.p_value is None or test.p_value_above is None:
        return None, "the groups share no number of completions n, and shapes of different n are not comparable"
    level = 1.0 - alpha
    axes = "; ".join(describe_axis(effect, level) for effect in test.axes)
    limits = {effect.axis: axis_resolution(resolution, effect.axis) for effect in test.axes}
    if test.p_value_above < alpha:
        above = ", ".join(
            f"{e.axis} by more than {limits[e.axis]:.3g}" if limits[e.axis] is not None else f"{e.axis}"
            for e in test.axes
            if e.low > (limits[e.axis] or 0.0)
        )
        return False, f"the groups differ: {above} (p = {test.p_value_above:.3g} < alpha {alpha:g}): {axes}"
    open_axes = [e for e in test.axes if limits[e.axis] is None or e.high is None or not e.high < limits[e.axis]]  # type: ignore[operator]
    if not open_axes:
        ruled = ", ".join(f"{e.axis} at or above {limits[e.axis]:.3g}" for e in test.axes)
        detected = "" if test.p_value >= alpha else f"; a smaller difference is detected (p = {test.p_value:.3g})"
        return True, f"differences in {ruled} are ruled out{detected}: {axes}"
    missing = ", ".join(
        f"{e.axis} up to {'inf' if e.high is None else f'{e.high:.3g}'}"
        + ("" if limits[e.axis] is None else f" (resolution {limits[e.axis]:.3g})")
        for e in open_axes
    )
    return None, f"inconclusive: differences in {missing} are neither shown nor ruled out: {axes}"
