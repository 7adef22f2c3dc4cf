"""One problem type: solve, limit, explore, convergence and the designs take a utility or a ranking loss.

Oracles: Gauss-Lobatto nodes for log (the paper's problem), IPO's equal gaps 2 TAU / n with mean
zero (shift-invariant), bounded Plackett-Luce's closed-form atoms (e - 1)/(e + B) and
1/(e + B), the semicircle of radius sqrt(2 / beta) for log+free+l2, and the back ends'
own answers, which the one entry point must return unchanged.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import run_cli

import collapse_theory as ct
from collapse_theory.laws.limits import gauss_lobatto_rewards
from collapse_theory.problems.losses import parse_loss
from collapse_theory.solver import loss_solver, utility_solver


def test_a_utility_spec_is_the_papers_problem() -> None:
    s = ct.solve("log", 8)
    assert s.loss is None and s.problem == "log" and s.status is ct.Status.OPTIMAL
    np.testing.assert_allclose(s.rewards, gauss_lobatto_rewards(8), rtol=0, atol=1e-9)


@pytest.mark.parametrize("spec", ["open-assistant", "trl-center:0.01", "ipo:1", "log-sigmoid:1+free+l2:0.001"])
def test_a_loss_spec_is_solved_by_the_loss_back_end_unchanged(spec: str) -> None:
    one, back_end = ct.solve(spec, 8), loss_solver.solve_loss(spec, 8)
    assert one.loss == parse_loss(spec).spec and one.status is back_end.status and one.certified
    np.testing.assert_array_equal(one.rewards, back_end.rewards)
    assert one.gap == back_end.gap and one.scale == back_end.scale


def test_ipo_is_shift_invariant_with_equal_gaps() -> None:
    """IPO (TAU = 1/(2 BETA) = 0.5): gaps 2 TAU / n = 0.125 and mean 0, up to a common shift."""
    s = ct.solve("ipo:1", 8)
    assert s.status is ct.Status.SHIFT_INVARIANT and s.converged and s.certified
    np.testing.assert_allclose(-np.diff(s.rewards), 0.125, rtol=0, atol=1e-12)
    assert abs(float(s.rewards.mean())) <= 1e-12


def test_an_unbounded_loss_has_a_direction_and_no_rewards() -> None:
    s = ct.solve("bradley-terry", 4)
    assert s.status is ct.Status.UNBOUNDED and s.rewards is None and s.converged and not s.certified
    np.testing.assert_allclose(s.direction, [1.0, 2 / 3, 1 / 3, 0.0], rtol=0, atol=1e-12)


def test_a_loss_object_is_answered_in_the_loss_form() -> None:
    """The paper's utility written as a loss: the same rewards, named as the loss."""
    plain, as_loss = ct.solve("log", 8), ct.solve(parse_loss("log"), 8)
    assert as_loss.loss == "log" and as_loss.status is plain.status
    np.testing.assert_array_equal(as_loss.rewards, plain.rewards)


def test_tol_and_max_steps_reach_each_back_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """One meaning of the knobs: given, they are passed on; left out, each back end's documented default."""
    calls: list[tuple[str, float, int]] = []
    monkeypatch.setattr(utility_solver, "solve", lambda u, n, *, tol, max_steps: calls.append(("utility", tol, max_steps)))
    monkeypatch.setattr(loss_solver, "solve_loss", lambda u, n, *, tol, max_steps: calls.append(("loss", tol, max_steps)))
    ct.solve("log", 8, tol=1e-8, max_steps=7)
    ct.solve("open-assistant", 8, tol=1e-8, max_steps=7)
    ct.solve("log", 8)
    ct.solve("open-assistant", 8)
    assert calls == [
        ("utility", 1e-8, 7),
        ("loss", 1e-8, 7),
        ("utility", 1e-10, utility_solver.DEFAULT_MAX_STEPS),
        ("loss", 1e-10, loss_solver.DEFAULT_MAX_STEPS),
    ]
    monkeypatch.undo()
    assert ct.solve("log-sigmoid:1+margin:0.1", 64, max_steps=1).status is ct.Status.NOT_CONVERGED


def test_bounded_plackett_luce_has_a_law() -> None:
    """Atoms (e - 1)/(e + B) at 1 and 1/(e + B) at 0, the rest uniform on [0, 1]."""
    for beta in (1.0, 4.0):
        law = ct.limit(f"plackett-luce:{beta:g}")
        assert law is not None
        masses = {atom.location: atom.mass for atom in law.atoms}
        assert masses[1.0] == pytest.approx((math.e - 1.0) / (math.e + beta), rel=1e-15)
        assert masses[0.0] == pytest.approx(1.0 / (math.e + beta), rel=1e-15)
        assert float(law.cdf(0.5)) == pytest.approx(masses[0.0] + 0.5 * beta / (math.e + beta), rel=1e-12)


def test_limit_explore_and_convergence_take_losses() -> None:
    assert ct.limit("log").describe() == "Beta(0.5, 0.5) (arcsine)"
    assert ct.limit("log+free+l2:0.5").describe() == "semicircle on [-2, 2]"  # radius sqrt(2 / 0.5)
    summary = ct.explore("trl-center:0.01", 4)
    np.testing.assert_array_equal(summary.solution.rewards, ct.solve("trl-center:0.01", 4).rewards)
    study = ct.convergence("log+free+l2:0.5", [8, 16, 32])
    assert study.law == "semicircle on [-2, 2]" and study.kolmogorov_smirnov_rate.slope < -0.5


def test_the_designs_take_a_loss() -> None:
    target = ct.solve("power:0.3", 6).rewards
    assert ct.design_for_rewards(target, loss="power:0.3").utility == ct.design_for_rewards(target).utility == "power:0.3"
    import scipy.stats

    assert ct.design_for_limit(scipy.stats.beta(0.25, 0.25), loss="log").utility == "power:0.5"


@pytest.mark.parametrize(
    ("spec", "error", "words"),
    [
        ("nonsense", ct.UtilitySpecError, "unknown utility or loss 'nonsense'"),
        ("power:2", ct.UtilitySpecError, "out of range"),
        ("ipo:-1", ct.LossSpecError, "ipo needs a finite number > 0"),
        ("log-sigmoid:1+l2:-1", ct.LossSpecError, "l2 needs a finite number >= 0"),
    ],
)
def test_a_bad_spec_says_what_is_wrong_with_it(spec: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        ct.solve(spec, 4)
    with pytest.raises(ct.CollapseTheoryError):
        ct.parse_problem(spec)


def test_the_status_is_spelt_one_way_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "solve", "--loss", "ipo:1", "--loss", "bradley-terry", "--n", "4", "--format", "json")
    assert code == 0
    assert [record["status"] for record in json.loads(out)] == ["shift_invariant", "unbounded"]
    assert all(status.value == status.value.lower() and "-" not in status.value for status in ct.Status)
