"""The figures draw what they claim to (issue "What people read and see"): assertions on the axes' data.

Every figure is built here from small typed records (no solving, no training), then read
back from the matplotlib axes: the lines' data, legend entries, tick positions, scales.
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from collapse_theory import figures
from collapse_theory.laws.law import Atom
from collapse_theory.training.diagnostics import KindCurve, SplitDiagnostics

GAUSS_LOBATTO_8 = np.array([1.0, 0.936, 0.796, 0.605, 0.395, 0.204, 0.064, 0.0])  # the optimum of log, n = 8
LINEAR_8 = np.array([1.0] * 4 + [0.0] * 4)


def _curve(kind: str, utility: str, mean: np.ndarray, optimum: np.ndarray) -> KindCurve:
    return KindCurve(
        kind=kind,
        utility=utility,
        prompts=10,
        pair_accuracy=1.0,
        mean=np.asarray(mean, dtype=float),
        spread=np.full(len(mean), 0.01),
        optimum=np.asarray(optimum, dtype=float),
        distance_to_optimum=float(np.max(np.abs(np.asarray(mean) - np.asarray(optimum)))),
    )


def _split(*curves: KindCurve) -> SplitDiagnostics:
    gap = max(float(np.max(np.abs(a.mean - b.mean))) for a in curves for b in curves)
    return SplitDiagnostics(split="train", prompts=20, pair_accuracy=1.0, curves=curves, kind_distances={}, collapse_score=gap)


def collapsed() -> SplitDiagnostics:
    """One utility (log) for both kinds, both at the optimum: the panel where one kind used to hide the other."""
    return _split(
        _curve("open", "log", GAUSS_LOBATTO_8, GAUSS_LOBATTO_8), _curve("closed", "log", GAUSS_LOBATTO_8, GAUSS_LOBATTO_8)
    )


def prompt_aware() -> SplitDiagnostics:
    uniform = np.linspace(1.0, 0.0, 8)
    return _split(_curve("closed", "linear", LINEAR_8, LINEAR_8), _curve("open", "neg-power:1", uniform, uniform))


def _lines_by_label(axis: Axes) -> dict[str, object]:
    return {line.get_label(): line for line in axis.get_lines()}


def _legend_texts(axis: Axes) -> list[str]:
    legend = axis.get_legend()
    return [] if legend is None else [text.get_text() for text in legend.get_texts()]


# --- the reward-curve picture ------------------------------------------------------------


def test_collapsed_panel_shows_both_kinds_side_by_side_and_the_optimum_on_top() -> None:
    figure = Figure()
    axis = figure.subplots()
    figures.draw_reward_curves(axis, collapsed(), "collapsed")
    lines = _lines_by_label(axis)
    open_line, closed_line = lines["open-ended, U = log"], lines["closed-ended, U = log"]
    # the same values, at shifted x (offset), with different markers: both visible
    np.testing.assert_allclose(open_line.get_ydata(), closed_line.get_ydata())
    assert np.all(np.asarray(open_line.get_xdata()) != np.asarray(closed_line.get_xdata()))
    assert open_line.get_marker() != closed_line.get_marker()
    assert to_rgba(open_line.get_color()) == to_rgba(figures.KIND_COLOURS["open"])
    assert to_rgba(closed_line.get_color()) == to_rgba(figures.KIND_COLOURS["closed"])
    # one optimum shared by both kinds: black, dashed, above the curves, in the legend
    (optimum,) = [line for label, line in lines.items() if label.startswith("optimum")]
    assert to_rgba(optimum.get_color()) == to_rgba("black")
    assert optimum.get_linestyle() == "--"
    assert optimum.get_zorder() > max(open_line.get_zorder(), closed_line.get_zorder())
    np.testing.assert_allclose(optimum.get_xdata(), np.arange(1, 9))
    np.testing.assert_allclose(optimum.get_ydata(), GAUSS_LOBATTO_8)
    assert optimum.get_label() in _legend_texts(axis)
    assert axis.get_xlabel() == figures.RESPONSE_INDEX_LABEL == "response index, best first"
    np.testing.assert_array_equal(axis.get_xticks(), np.arange(1, 9))


def test_prompt_aware_panel_gives_each_kind_its_optimum_in_its_own_colour() -> None:
    figure = Figure()
    axis = figure.subplots()
    figures.draw_reward_curves(axis, prompt_aware(), "prompt-aware")
    optima = {label: line for label, line in _lines_by_label(axis).items() if label.startswith("optimum")}
    assert set(optima) == {"optimum of U = linear (closed-ended)", "optimum of U = neg-power:1 (open-ended)"}
    assert to_rgba(optima["optimum of U = linear (closed-ended)"].get_color()) == to_rgba(figures.KIND_COLOURS["closed"])
    assert to_rgba(optima["optimum of U = neg-power:1 (open-ended)"].get_color()) == to_rgba(figures.KIND_COLOURS["open"])
    assert set(optima) <= set(_legend_texts(axis))


def test_a_free_loss_without_optimum_is_drawn_as_a_limiting_direction_under_the_given_name() -> None:
    import dataclasses

    from collapse_theory.training import plots
    from collapse_theory.training.diagnostics import Diagnostics

    equal = np.linspace(1.0, 0.0, 8)
    curves = [
        dataclasses.replace(_curve(kind, "log-sigmoid:1+free", equal, equal), normalised=True, unbounded=True)
        for kind in ("open", "closed")
    ]
    split = _split(*curves)
    diagnostics = Diagnostics(
        n=8, utilities={"open": "log-sigmoid:1+free", "closed": "log-sigmoid:1+free"}, train=split, held_out=None
    )
    figure = plots.plot_rewards(diagnostics, names={"log-sigmoid:1+free": "trl"})
    (axis,) = figure.axes
    assert axis.get_ylabel() == "range-normalised reward"
    texts = _legend_texts(axis)
    assert "limiting direction (no optimum) of loss = trl (every kind)" in texts and "open-ended, loss = trl" in texts
    assert not any(text.startswith("optimum") for text in texts)
    assert figure.get_suptitle().startswith("one loss for every prompt: trl = log-sigmoid:1+free")
    unfinished = plots.plot_rewards(diagnostics, unfinished="NOT IN THE TERMINAL PHASE after 3 steps")
    assert unfinished.get_suptitle().endswith("\nNOT IN THE TERMINAL PHASE after 3 steps")


def test_the_reward_curve_picture_exists_once() -> None:
    """The run directory's figure and the reproduction's figures share one drawing function."""
    from collapse_theory.training import plots
    from collapse_theory.training.diagnostics import Diagnostics

    assert plots.draw_reward_curves is figures.draw_reward_curves
    diagnostics = Diagnostics(n=8, utilities={"open": "log", "closed": "log"}, train=collapsed(), held_out=collapsed())
    figure = plots.plot_rewards(diagnostics)
    for axis in figure.axes:
        assert axis.get_xlabel() == figures.RESPONSE_INDEX_LABEL
        assert any(text.startswith("optimum of U = log") for text in _legend_texts(axis))


def test_reward_curves_one_panel_per_run() -> None:
    panels = [figures.RewardPanel(title="U = log", split=collapsed()), figures.RewardPanel(title="aware", split=prompt_aware())]
    figure = figures.reward_curves(panels)
    visible = [axis for axis in figure.axes if axis.get_visible()]
    assert len(visible) == 2
    assert all(axis.get_xlabel() == figures.RESPONSE_INDEX_LABEL for axis in visible)


# --- training snapshots --------------------------------------------------------------------


def test_training_snapshots_have_a_collapse_score_panel_on_a_log_axis() -> None:
    history = figures.CollapseHistory(steps=np.array([20.0, 40.0, 60.0, 600.0]), train=np.array([0.46, 0.1, 0.047, 0.002]))
    runs = [
        figures.SnapshotRun(
            name=name,
            snapshots=(figures.Snapshot(step=20, split=prompt_aware()), figures.Snapshot(step=600, split=collapsed())),
            history=history,
        )
        for name in ("log-sigmoid:4", "prompt-aware")
    ]
    figure = figures.training_snapshots(runs)
    (score,) = [axis for axis in figure.axes if axis.get_yscale() == "log"]
    assert score.get_xlabel() == "training step"
    drawn = {line.get_label(): line for line in score.get_lines() if not line.get_label().startswith("_")}
    assert set(drawn) == {"log-sigmoid:4", "prompt-aware"}
    np.testing.assert_allclose(drawn["log-sigmoid:4"].get_ydata(), history.train)
    curves = [axis for axis in figure.axes if axis.get_xlabel() == figures.RESPONSE_INDEX_LABEL]
    assert len(curves) == 4
    assert any("step 20" in axis.get_title() for axis in curves)


# --- convergence -----------------------------------------------------------------------------


def test_convergence_ticks_are_the_n_values_and_an_exact_zero_is_listed_not_drawn() -> None:
    ns = np.array([8, 16, 32, 64])
    studies = [
        figures.ConvergenceSeries(
            utility="log",
            ns=ns,
            kolmogorov_smirnov=1.0 / ns,
            wasserstein=0.5 / ns,
            kolmogorov_smirnov_slope=-1.0,
            wasserstein_slope=-1.0,
        ),
        figures.ConvergenceSeries(
            utility="linear",
            ns=ns,
            kolmogorov_smirnov=np.zeros(4),
            wasserstein=np.zeros(4),
            kolmogorov_smirnov_slope=None,
            wasserstein_slope=None,
        ),
    ]
    figure = figures.convergence(studies)
    figure.canvas.draw()
    for axis in figure.axes:
        np.testing.assert_array_equal(axis.get_xticks(), ns)
        assert [label.get_text() for label in axis.get_xticklabels()] == ["8", "16", "32", "64"]
        assert len(axis.xaxis.get_minorticklocs()) == 0
        drawn = [line for line in axis.get_lines() if len(line.get_xdata())]
        assert [line.get_label() for line in drawn] == ["log (slope -1.00)"]
        (linear,) = [text for text in _legend_texts(axis) if text.startswith("linear")]
        assert "exactly 0" in linear and "not drawn" in linear


# --- laws ----------------------------------------------------------------------------------


def test_numerical_limits_label_each_ends_atom_mass() -> None:
    grid = np.linspace(0.01, 0.99, 20)
    atoms = (Atom(0.0, 0.21), Atom(1.0, 0.19))
    items = [
        figures.NumericalLawDrawing(utility="exp:1", law=figures.LawDrawing(grid=grid, density=np.ones(20), atoms=atoms)),
        figures.NumericalLawDrawing(utility="exp:4", law=figures.LawDrawing(grid=grid, density=np.ones(20), atoms=())),
    ]
    figure = figures.numerical_limits(items)
    texts = _legend_texts(figure.axes[0])
    assert texts == ["exp:1: atoms 0.21 at 0, 0.19 at 1", "exp:4: no atoms"]
    squares = [line for line in figure.axes[1].get_lines() if line.get_marker() == "s" and len(line.get_xdata())]
    assert len(squares) == 1
    np.testing.assert_allclose(squares[0].get_ydata(), [0.21, 0.19])


def test_limit_laws_legend_gives_each_atom() -> None:
    panel = figures.LimitPanel(
        utility="linear",
        rewards=np.array([1.0] * 50 + [0.0] * 50),
        law_name="two-point",
        law=figures.LawDrawing(grid=np.array([]), density=np.array([]), atoms=(Atom(0.0, 0.5), Atom(1.0, 0.5))),
    )
    figure = figures.limit_laws([panel], 100)
    assert "atoms: 0.5 at 0, 0.5 at 1" in _legend_texts(figure.axes[0])


def test_family_map_colour_bar_sits_beside_the_strip() -> None:
    exponents = np.linspace(-1.5, 0.9, 7)
    grid = np.linspace(0.005, 0.995, 50)
    sweep = figures.FamilyMap(
        n=64,
        exponents=exponents,
        closed_form_a=np.maximum((1 - exponents) / 2, 0.05),
        fitted_a=np.maximum((1 - exponents) / 2, 0.05),
        grid=grid,
        densities=np.ones((7, 50)),
    )
    figure = figures.family_map(sweep)
    figure.canvas.draw()
    top, bottom, bar = figure.axes
    assert bar.get_ylabel() == "limit density"
    strip, colour_bar = bottom.get_position(), bar.get_position()
    assert 0.0 <= colour_bar.x0 - strip.x1 < 0.1  # right beside it (figure fraction)
    assert colour_bar.y0 < strip.y1 and colour_bar.y1 > strip.y0  # at the strip's height
    assert top.get_position().x1 == pytest.approx(strip.x1)  # the two panels stay aligned


# --- ranking losses ---------------------------------------------------------------------------

EQUAL_GAPS_8 = np.linspace(1.0, 0.0, 8)


def _ranking_records() -> tuple[list[figures.LossOptimum], list[figures.LossLimitPanel]]:
    """Oracle shapes: equal gaps for the unbounded losses (docs/losses.md), the Hermite zeros' shape for log + L2."""
    import scipy.special

    hermite = np.sort(scipy.special.roots_hermite(8)[0])[::-1]
    optima = [
        figures.LossOptimum(loss="bradley-terry", frameworks="TRL default", status="unbounded", shape=EQUAL_GAPS_8),
        figures.LossOptimum(loss="listmle", frameworks="ListMLE", status="unbounded", shape=EQUAL_GAPS_8),
        figures.LossOptimum(loss="ipo:0.5", frameworks="IPO", status="shift_invariant", shape=EQUAL_GAPS_8),
        figures.LossOptimum(
            loss="log+free+l2:0.5",
            frameworks="Stieltjes",
            status="optimal",
            shape=(hermite - hermite.min()) / (hermite.max() - hermite.min()),
        ),
    ]
    grid = np.linspace(-2.0, 2.0, 101)
    semicircle = figures.LawDrawing(grid=grid, density=np.sqrt(4.0 - grid**2) / (2.0 * np.pi), atoms=())
    uniform = figures.LawDrawing(grid=np.linspace(-0.5, 0.5, 11), density=np.ones(11), atoms=())
    limits = [
        figures.LossLimitPanel(
            loss="ipo:0.5",
            frameworks="IPO",
            law_name="uniform on [-0.5, 0.5]",
            law=uniform,
            rewards=np.linspace(0.4375, -0.4375, 8),
        ),
        figures.LossLimitPanel(
            loss="log+free+l2:0.5", frameworks="Stieltjes", law_name="semicircle on [-2, 2]", law=semicircle, rewards=hermite / 2
        ),
    ]
    return optima, limits


def test_ranking_losses_draw_every_loss_with_the_unbounded_ones_dashed() -> None:
    optima, limits = _ranking_records()
    figure = figures.ranking_losses(optima, limits)
    (shapes,) = [axis for axis in figure.axes if axis.get_xlabel() == figures.RESPONSE_INDEX_LABEL]
    drawn = {line.get_label().split(" ")[0]: line for line in shapes.get_lines()}
    assert set(drawn) == {item.loss for item in optima}  # every loss present
    for item in optima:
        line = drawn[item.loss]
        assert line.get_linestyle() == ("--" if item.unbounded else "-"), item.loss
        np.testing.assert_allclose(line.get_ydata(), item.shape)
        assert ("direction, unbounded" in line.get_label()) == item.unbounded
    # equal shapes drawn side by side, not on top of each other
    assert not np.allclose(drawn["bradley-terry"].get_xdata(), drawn["listmle"].get_xdata())
    laws = [axis for axis in figure.axes if axis.get_visible() and axis.get_ylabel() == "limit density"]
    assert [axis.get_title().split(" ")[0] for axis in laws] == ["ipo:0.5", "log+free+l2:0.5"]
    semicircle = _lines_by_label(laws[1])["semicircle on [-2, 2]"]
    np.testing.assert_allclose(semicircle.get_ydata(), limits[1].law.density)
    rug = _lines_by_label(laws[1])["optimum, n = 8"]
    np.testing.assert_allclose(rug.get_xdata(), limits[1].rewards)


def test_bradley_terry_divergence_draws_the_range_growing_and_the_distance_shrinking() -> None:
    history = figures.DivergenceHistory(
        loss="bradley-terry",
        prompts=200,
        learning_rate=1e-3,
        steps=np.array([20.0, 100.0, 200.0, 400.0]),
        reward_range=np.array([0.46, 15.4, 26.5, 31.2]),
        shape_distance=np.array([0.225, 0.144, 0.110, 0.105]),
    )
    figure = figures.bradley_terry_divergence(history)
    ranges, distances = figure.axes
    range_line, _ = ranges.get_lines()
    distance_line, _ = distances.get_lines()
    np.testing.assert_allclose(range_line.get_xdata(), history.steps)
    assert np.all(np.diff(range_line.get_ydata()) > 0)  # the range increases
    np.testing.assert_allclose(distance_line.get_ydata(), history.shape_distance)
    assert "range" in ranges.get_ylabel() and "direction" in distances.get_ylabel()
    assert ranges.get_xscale() == "log" and distances.get_xscale() == "log"
    assert "approaches" not in distances.get_title()  # the title says what is drawn, nothing more


def test_bradley_terry_divergence_trends_recover_the_theory_rates() -> None:
    """Oracle: data exactly a + b log t and c / log t give back a, b and c (least squares is exact)."""
    steps = np.array([20.0, 50.0, 100.0, 300.0, 1000.0])
    history = figures.DivergenceHistory(
        loss="bradley-terry",
        prompts=10,
        learning_rate=1e-3,
        steps=steps,
        reward_range=-4.0 + 3.0 * np.log(steps),
        shape_distance=0.7 / np.log(steps),
    )
    ranges, distances = figures.bradley_terry_divergence(history).axes
    _, range_trend = ranges.get_lines()
    _, distance_trend = distances.get_lines()
    np.testing.assert_allclose(range_trend.get_ydata(), -4.0 + 3.0 * np.log(steps), rtol=1e-12)
    np.testing.assert_allclose(distance_trend.get_ydata(), 0.7 / np.log(steps), rtol=1e-12)
    assert range_trend.get_label() == "-4 + 3 log(step)" and distance_trend.get_label() == "c / log(step), c = 0.7"


# --- explore --------------------------------------------------------------------------------


def test_exploration_figure_puts_atoms_on_a_mass_axis_and_scales_by_the_continuous_density() -> None:
    from collapse_theory.exploration.utility_exploration import exploration_figure, explore

    summary = explore("exp:1", n=8)  # atoms 1/3 at each end, uniform density 1/3 between
    figure = exploration_figure(summary)
    figure.canvas.draw()
    left, right, masses = figure.axes
    assert masses.get_ylabel() == "atom mass"
    stems = masses.collections
    assert len(stems) == len(summary.atoms) == 2
    texts = [text.get_text() for text in masses.texts]
    assert texts == ["atom 0.333", "atom 0.333"]
    # the density axis is scaled by the continuous part (1/3), not by the Beta fit's spike at the ends
    beta_top = max(float(np.max(line.get_ydata())) for line in right.get_lines() if line.get_label().startswith("Beta"))
    assert right.get_ylim()[1] < 3.0 < beta_top
    # no overlapping atom labels, and the full title inside the figure
    first, second = (text.get_window_extent() for text in masses.texts)
    assert not first.overlaps(second)
    for axis in (left, right):
        extent = axis.title.get_window_extent()
        assert extent.x0 >= 0 and extent.x1 <= figure.bbox.x1
    assert "atoms" in right.get_title()
