"""The audit's verdicts on score files whose right answer is known from how they were made.

Each prompt's scores are a utility's certified optimum at its n plus noise, then a random
per-prompt scale and offset drawn alike in every group. Oracles: the solver's optima,
Gauss-Lobatto nodes (log's exact optimum), brute-force pair counts, and a Monte Carlo
check of the intervals' coverage with a known difference.
"""

from __future__ import annotations

import numpy as np
import pytest

from collapse_theory.auditing import audit, default_resolution
from collapse_theory.auditing.comparison import max_t_test, stratum_contrasts
from collapse_theory.auditing.features import CellMoments, prompt_features
from collapse_theory.auditing.shapes import _ordered_pair_counts
from collapse_theory.solver.utility_solver import solve


def scores(groups: dict[str, tuple[str, int, int]], seed: int, noise: float = 0.01, margins: dict[str, float] | None = None):
    rng = np.random.default_rng(seed)
    rows, names = [], []
    for name, (utility, n, prompts) in groups.items():
        optimum = np.asarray(solve(utility, n).rewards) * (margins or {}).get(name, 1.0)
        for _ in range(prompts):
            rewards = optimum + rng.normal(0.0, noise, n)
            rows.append((rewards * rng.uniform(0.5, 2.0) + rng.normal(0.0, 3.0)).tolist())
            names.append(name)
    return rows, names


def gauss_lobatto(n: int) -> np.ndarray:
    """log's optimum at n: the Gauss-Lobatto nodes mapped to [0, 1], best first (exact oracle)."""
    interior = np.polynomial.legendre.Legendre.basis(n - 1).deriv().roots()
    nodes = np.concatenate([[-1.0], np.sort(interior), [1.0]])
    return (nodes[::-1] + 1.0) / 2.0


def test_one_utility_at_different_n_is_not_called_different() -> None:
    rows, names = scores({"n4": ("log-sigmoid:4", 4, 300), "n8": ("log-sigmoid:4", 8, 300)}, seed=0)
    report = audit(rows, groups=names)
    assert report.collapsed is None and "share no number of completions" in report.reason
    assert report.strata == ()


def test_two_utilities_at_n_4_differ_and_the_verdict_agrees_with_its_interval() -> None:
    rows, names = scores({"log": ("log", 4, 300), "inverse": ("neg-power:1", 4, 300)}, seed=1)
    report = audit(rows, groups=names)
    shape = report.test.axis("shape")
    assert shape is not None and report.resolution.shape is not None
    true_distance = float(np.max(np.abs(gauss_lobatto(4) - np.asarray(solve("neg-power:1", 4).rewards))))
    assert shape.low <= true_distance <= shape.high  # type: ignore[operator]
    assert report.collapsed is False and shape.low > report.resolution.shape
    assert report.test.p_value_above is not None and report.test.p_value_above < report.alpha


def test_prompt_aware_kinds_at_their_own_close_optima_differ() -> None:
    # log and neg-power:1 are 0.062 apart at n = 8, about twice the resolution
    rows, names = scores({"closed": ("log", 8, 300), "open": ("neg-power:1", 8, 300)}, seed=2)
    report = audit(rows, groups=names)
    assert report.collapsed is False, report.reason


def test_a_collapsed_model_with_tiny_groups_stays_collapsed() -> None:
    rows, names = scores({"a": ("log", 8, 300), "b": ("log", 8, 300), "tiny": ("linear", 8, 3)}, seed=3)
    report = audit(rows, groups=names)
    assert report.collapsed is True, report.reason
    assert set(report.excluded) == {"tiny"} and "fewer than 20 prompts" in report.excluded["tiny"]


def test_scores_unrelated_to_the_ranking_are_no_signal() -> None:
    rng = np.random.default_rng(4)
    report = audit(rng.normal(size=(400, 6)), groups=["a", "b"] * 200)
    assert report.collapsed is None and report.reason.startswith("no signal")
    assert all(group.signal is False for group in report.groups)


@pytest.mark.parametrize(("factor", "expected"), [(1.0, True), (3.0, False)])
def test_pairs_compare_their_margins_only(factor: float, expected: bool) -> None:
    rows, names = scores({"a": ("log", 2, 300), "b": ("log", 2, 300)}, seed=5, margins={"b": factor})
    report = audit(rows, groups=names)
    assert report.only_scale and [axis.axis for axis in report.test.axes] == ["scale"]
    assert report.collapsed is expected, report.reason
    scale = report.test.axis("scale")
    assert scale is not None and scale.high is not None
    assert scale.low <= np.log(factor) <= scale.high


def test_the_verdict_never_contradicts_its_intervals() -> None:
    for seed in range(6):
        spec = ("log", "power:0.3", "neg-power:1")[seed % 3]
        rows, names = scores({"a": ("log", 6, 40 + 30 * seed), "b": (spec, 6, 50)}, seed=seed, noise=0.03)
        report = audit(rows, groups=names, resamples=499, seed=seed)
        limits = {"shape": report.resolution.shape, "scale": report.resolution.scale}
        above = any(axis.low > limits[axis.axis] for axis in report.test.axes)
        below = all(axis.high is not None and axis.high < limits[axis.axis] for axis in report.test.axes)
        assert (report.collapsed is False) == above == (report.test.p_value_above < report.alpha)
        assert (report.collapsed is True) == below


def test_default_resolution_is_half_the_distance_between_reference_optima() -> None:
    resolution = default_resolution([8])
    assert resolution.shape_between == ("log", "neg-power:1", 8)
    inverse = np.asarray(solve("neg-power:1", 8).rewards)
    assert resolution.shape == pytest.approx(0.5 * np.max(np.abs(gauss_lobatto(8) - inverse)[1:-1]), abs=1e-8)
    # every plain utility is symmetric, so at n = 3 only Plackett-Luce's optimum differs from 1/2 in the middle
    assert default_resolution([3]).shape_between[1] == "plackett-luce:1"  # type: ignore[index]


def test_intervals_cover_a_known_difference() -> None:
    rng = np.random.default_rng(6)
    delta, covered, trials = 0.05, 0, 200
    for trial in range(trials):
        a = CellMoments.of(rng.normal(0.0, 0.1, (40, 3)) * [1.0, 2.0, 0.5])
        b = CellMoments.of(rng.normal([delta, 0.0, 0.0], 0.1, (60, 3)))
        moments = {(0, 4): a, (1, 4): b}
        test = max_t_test(stratum_contrasts(moments, [(0, 4), (1, 4)]), moments, alpha=0.05, resamples=499, seed=trial)
        effects = {axis.axis: axis for axis in test.axes}
        shape = effects["shape"]
        covered += shape.low <= delta <= shape.high  # type: ignore[operator]
    assert covered / trials >= 0.9  # nominal 95%; Monte Carlo error about 1.5%


def test_features_survive_scores_near_the_float_limit() -> None:
    features = prompt_features(np.array([[1e308, 0.0, -1e308]]))
    assert np.all(np.isfinite(features)) and features[0, 0] == 0.5
    assert features[0, 1] == pytest.approx(np.log(2.0) + np.log(1e308))  # log(2e308) without overflow


def test_pair_counts_of_a_long_prompt_match_brute_force() -> None:
    rng = np.random.default_rng(7)
    values = np.round(rng.normal(size=(1, 2500)), 1)  # rounded: many ties
    counts = _ordered_pair_counts(values, np.array([-1]))
    upper = np.triu(np.ones((2500, 2500), dtype=bool), 1)
    assert counts.correct[0] == np.count_nonzero((values[0][:, None] > values[0][None, :]) & upper)
    assert counts.tied[0] == np.count_nonzero((values[0][:, None] == values[0][None, :]) & upper)
    partial = _ordered_pair_counts(np.array([[3.0, 1.0, 2.0, 0.0, 1.0]]), np.array([2]))
    # better {3, 1} against worse {2, 0, 1}: 3 beats all 3, 1 beats 0 and ties 1; best-of-n fails (1 < 2)
    assert (partial.correct[0], partial.tied[0], partial.known[0], partial.best_of_n[0]) == (4, 1, 6, 0.0)


# --- the trainer's verdict, on the same principle --------------------------------------------


def _rewards_at(dataset, optima: dict[str, np.ndarray], kinds: dict[str, str], noise: float, seed: int) -> np.ndarray:
    """Each prompt's rewards at its kind's optimum (by rank) plus noise: what a trained model in the regime gives."""
    rng = np.random.default_rng(seed)
    rewards = np.empty(dataset.rankings.shape)
    for prompt in range(dataset.prompts):
        optimum = optima[kinds[dataset.kind_names[dataset.kinds[prompt]]]]
        rewards[prompt] = optimum[dataset.rankings[prompt]] + rng.normal(0.0, noise, dataset.n)
    return rewards


@pytest.mark.parametrize("pair", [("log", "neg-power:1"), ("linear", "neg-power:1")])
def test_trainer_verdict_shows_the_fix_for_close_optima(pair: tuple[str, str]) -> None:
    from collapse_theory.training.data import make_synthetic_dataset
    from collapse_theory.training.diagnostics import diagnose
    from collapse_theory.training.verdicts import verdict

    data = make_synthetic_dataset(prompts=200, n=8, held_out=0.1, seed=1)
    kinds = dict(zip(data.kind_names, pair, strict=True))
    optima = {spec: np.asarray(solve(spec, 8).rewards) for spec in pair}
    report = diagnose(data, _rewards_at(data, optima, kinds, 0.01, seed=2), kinds, optima=optima)
    outcome = verdict(report)
    assert outcome.outcome == "prompt-aware fix works", outcome.message
    assert "> 0.3 wanted" not in outcome.message and "< 0.05 wanted" not in outcome.message


def test_trainer_verdict_one_utility_collapses_and_wrong_optimum_does_not() -> None:
    from collapse_theory.training.data import make_synthetic_dataset
    from collapse_theory.training.diagnostics import diagnose
    from collapse_theory.training.verdicts import verdict

    data = make_synthetic_dataset(prompts=200, n=8, held_out=0.1, seed=3)
    kinds = dict.fromkeys(data.kind_names, "log")
    exact = {"log": gauss_lobatto(8)}
    collapsed = verdict(diagnose(data, _rewards_at(data, exact, kinds, 0.01, seed=4), kinds, optima=exact))
    assert collapsed.outcome == "collapsed", collapsed.message
    # every prompt at neg-power:1's optimum, judged against log's: not collapsed at log's optimum
    inverse = {"log": np.asarray(solve("neg-power:1", 8).rewards)}
    wrong = verdict(diagnose(data, _rewards_at(data, inverse, kinds, 0.01, seed=5), kinds, optima=exact))
    assert wrong.outcome == "not collapsed", wrong.message
