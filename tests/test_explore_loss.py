"""Claims of ``explore --loss`` and ``design --loss``: answers against exact oracles, strict JSON,
one-line errors with exit code 2 and no plot left behind.

Oracles: the optimum of log+free+l2:BETA is the zeros of H_n over sqrt(BETA (n-1)) (Stieltjes),
its law the semicircle on [-sqrt(2/BETA), sqrt(2/BETA)]; IPO's optimum has equal gaps 2 TAU / n,
its law is uniform on [-TAU, TAU]; free Bradley-Terry has no maximiser and its limiting direction
is equal gaps; the plain log optimum is the Gauss-Lobatto nodes. For the design: the range-normalised
shape of log+free+l2 is that of the Hermite zeros for every BETA, as is that of neg-power:2+free+l2
(Calogero: the zeros of H_n are the equilibrium of inverse-square repulsion in a harmonic well), and
log-sigmoid:B+l2:BETA has the shape of log-sigmoid:1+l2:BETA/B^2 (r -> B r).

Time budget: about 15 s on two busy cores (n <= 8, padded size 8: compilations for log and
box-cox with free rewards, ipo, log-sigmoid with free rewards, and the plain log solver).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.special
import scipy.stats
from helpers import error_line, run_cli

from collapse_theory.cli import main
from collapse_theory.design.loss_design import design_for_loss_rewards, loss_family
from collapse_theory.exploration.loss_exploration import explore_loss
from collapse_theory.solver.loss_solver import solve_loss


def strict_json(text: str):
    def refuse(constant: str):
        raise AssertionError(f"non-strict JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def run_error(capsys, *argv: str) -> tuple[int, str]:
    """Exit code and stderr of a command expected to fail (argparse errors exit through SystemExit)."""
    try:
        code = main(list(argv))
    except SystemExit as stop:
        code = int(stop.code)
    captured = capsys.readouterr()
    assert captured.out == ""  # no partial output
    return code, captured.err


def hermite_optimum(n: int, beta: float) -> np.ndarray:
    zeros = np.sort(scipy.special.roots_hermite(n)[0])[::-1]
    return zeros / np.sqrt(beta * (n - 1))


# --- explore --loss --------------------------------------------------------------------------------


def test_explore_loss_log_with_l2_is_the_hermite_zeros_and_the_semicircle(capsys):
    code, out, _ = run_cli(capsys, "explore", "--loss", "log+free+l2:0.5", "--n", "8", "--format", "json")
    assert code == 0
    data = strict_json(out)
    assert data["loss"] == "log+free+l2:0.5" and data["terms"] == ["log", "free", "l2:0.5"]
    assert data["status"] == "optimal" and data["solution"]["certified"]
    assert data["solution"]["rewards"] == pytest.approx(hermite_optimum(8, 0.5), abs=1e-9)
    assert data["law"] == "semicircle on [-2, 2]" and data["closed_form"]
    assert data["limit"]["kind"] == "semicircle" and data["limit"]["parameters"] == {"radius": pytest.approx(2.0)}
    assert data["variance"] == pytest.approx(1.0)  # radius^2 / 4
    assert data["beta_fit"] is None  # the law lives on the real line


def test_explore_loss_ipo_has_equal_gaps_a_uniform_law_and_a_plot(capsys, tmp_path):
    plot = tmp_path / "ipo.svg"
    code, out, _ = run_cli(capsys, "explore", "--loss", "ipo:1", "--n", "8", "--format", "json", "--out", str(plot))
    assert code == 0
    data = strict_json(out)
    assert data["status"] == "shift_invariant" and data["concave"] and data["increasing"] is False
    rewards = np.array(data["solution"]["rewards"])
    assert -np.diff(rewards) == pytest.approx(np.full(7, 2 * 0.5 / 8), abs=1e-12)
    assert rewards.mean() == pytest.approx(0.0, abs=1e-12)
    assert data["law"] == "uniform on [-0.5, 0.5]" and data["variance"] == pytest.approx(1.0 / 12.0)
    assert plot.read_text().lstrip().startswith("<?xml")
    assert [p.name for p in tmp_path.iterdir()] == ["ipo.svg"]


def test_explore_loss_bradley_terry_is_unbounded_with_equal_gaps(capsys):
    code, out, _ = run_cli(capsys, "explore", "--loss", "bradley-terry", "--n", "6", "--format", "json")
    assert code == 0
    data = strict_json(out)
    assert data["loss"] == "log-sigmoid:1+free" and data["status"] == "unbounded"
    assert data["solution"]["rewards"] is None and data["solution"]["gap"] is None
    assert data["solution"]["direction"] == pytest.approx(np.linspace(1.0, 0.0, 6), abs=1e-15)
    assert data["limit"] is None and data["law"] is None and data["mean"] is None
    assert "diverge" in data["limit_note"]
    code, out, _ = run_cli(capsys, "explore", "--loss", "bradley-terry", "--n", "6")
    assert code == 0
    assert "unbounded" in out and "direction      [1.0000, 0.8000" in out and "rewards diverge" in out


def test_explore_loss_of_a_plain_utility_is_explore_utility(capsys):
    code, out, _ = run_cli(capsys, "explore", "--loss", "log", "--n", "8", "--format", "json")
    assert code == 0
    as_loss = strict_json(out)
    code, out, _ = run_cli(capsys, "explore", "--utility", "log", "--n", "8", "--format", "json")
    as_utility = strict_json(out)
    shared = set(as_loss) & set(as_utility)
    assert shared >= {"utility", "concave", "law", "limit", "atoms", "mean", "variance", "beta_fit", "solution"}
    for key in shared - {"solution"}:
        assert as_loss[key] == as_utility[key], key
    for key in set(as_utility["solution"]) - {"seconds"}:
        assert as_loss["solution"][key] == as_utility["solution"][key], key
    # oracle: the Gauss-Lobatto nodes, (1 + x)/2 with x = -1, 1 and the zeros of P'_7 = Jacobi^(1,1)_6
    inner = scipy.special.roots_jacobi(6, 1.0, 1.0)[0]
    nodes = np.sort((1.0 + np.concatenate([[-1.0, 1.0], inner])) / 2.0)[::-1]
    assert as_loss["solution"]["rewards"] == pytest.approx(nodes, abs=1e-9)
    assert as_loss["status"] == "optimal" and as_loss["law"] == "Beta(0.5, 0.5) (arcsine)"


def test_explore_loss_table_names_terms_status_and_certificate(capsys):
    code, out, _ = run_cli(capsys, "explore", "--loss", "ipo:1", "--n", "8")
    assert code == 0
    assert "terms          ipo:1 (objective)" in out
    assert "status, n=8    shift_invariant" in out and "certificate    certified" in out
    assert "limit law      uniform on [-0.5, 0.5]" in out and "best Beta fit  - (the law lives on the real line" in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--loss", "log+nope"], "unknown term 'nope'"),
        (["--loss", "log+ipo:1"], "two objective terms"),
        (["--loss", "free+l2:0.1"], "no objective term"),
        (["--loss", "log+free+l2:-1"], "l2 needs a finite number >= 0"),
        (["--loss", "log+free+l2:nan"], "l2 needs a finite number >= 0"),
        (["--loss", "ipo:inf"], "ipo needs a finite number > 0"),
        (["--loss", "log", "--utility", "log"], "not allowed with argument"),
        (["--loss", "log+margin:0.2"], "infeasible on [0, 1]"),
        (["--loss", "square+free"], "need a concave U"),
    ],
)
def test_explore_loss_bad_input_is_one_line_with_exit_code_2_and_no_plot(capsys, tmp_path, arguments, message):
    plot = tmp_path / "never.png"
    code, err = run_error(capsys, "explore", *arguments, "--n", "8", "--out", str(plot))
    assert code == 2
    assert message in error_line(err)
    assert not plot.exists() and not list(tmp_path.iterdir())


def test_explore_loss_library_result():
    summary = explore_loss("plackett-luce:1+free+l2:0.5", n=4)
    assert summary.objective == "plackett-luce" and summary.singular is None and summary.increasing is None
    assert summary.status.value == "optimal" and summary.solution.certified


# --- design --loss ---------------------------------------------------------------------------------


def test_design_loss_recovers_log_from_the_hermite_shape_for_every_beta(capsys):
    zeros = hermite_optimum(6, 1.0)
    shape = (zeros - zeros[-1]) / (zeros[0] - zeros[-1])
    target = "rewards:" + ",".join(f"{value:.15f}" for value in shape)
    code, out, _ = run_cli(capsys, "design", "--loss", "log+free+l2:0.5", "--target", target, "--format", "json")
    assert code == 0
    design = strict_json(out)
    assert design["family"] == "box-cox" and design["reachable"]
    assert design["parameter"] == pytest.approx(0.0, abs=1e-6)  # G = 0 is log
    assert design["loss"].endswith("+free+l2:0.5") and design["loss"].startswith("box-cox:")
    assert design["rewards"] == pytest.approx(shape, abs=1e-8)
    # the shape does not depend on BETA; neg-power:2 (G = -2) has the Hermite zeros too (Calogero's
    # harmonic equilibrium), so the member nearest the loss's own term is reported and the other named
    other = design_for_loss_rewards(shape, "power:0.5+free+l2:2")
    assert other.reachable and other.parameter == pytest.approx(0.0, abs=1e-6)
    assert "also matched by box-cox parameter -2 " in other.message
    calogero = design_for_loss_rewards(shape, "neg-power:3+free+l2:2")
    assert calogero.reachable and calogero.parameter == pytest.approx(-2.0, abs=1e-6)


def test_design_loss_log_sigmoid_temperature_follows_the_scaling_law():
    # log-sigmoid:B + l2:BETA has the shape of log-sigmoid:1 + l2:BETA/B^2, so BETA = 0.01 needs B = 0.5
    target = solve_loss("log-sigmoid:1+free+l2:0.04", 6).rewards
    design = design_for_loss_rewards(target, "log-sigmoid:1+free+l2:0.01")
    assert design.family == "log-sigmoid" and design.reachable
    assert design.parameter == pytest.approx(0.5, rel=1e-6)


def test_design_loss_of_a_plain_utility_is_design(capsys):
    code, out, _ = run_cli(capsys, "design", "--loss", "log", "--target", "beta:0.25", "--format", "json")
    assert code == 0
    with_loss = strict_json(out)
    code, out, _ = run_cli(capsys, "design", "--target", "beta:0.25", "--format", "json")
    without = strict_json(out)
    assert with_loss.pop("loss") == "power:0.5" and with_loss == without
    assert loss_family("open-assistant") == ("log-sigmoid", 1.0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--loss", "bradley-terry", "--target", "rewards:1,0.5,0"], "has no maximiser at n = 3"),
        (["--loss", "log+free+l2:0.5", "--target", "beta:1.5"], "with a limit target"),
        (["--loss", "ipo:0.5", "--target", "rewards:1,0.5,0"], "is in none of them"),
        (["--loss", "log+free+l2:0.5", "--family", "exp", "--target", "rewards:1,0.5,0"], "does not contain"),
        (["--loss", "log+l2:-1", "--target", "rewards:1,0.5,0"], "l2 needs a finite number >= 0"),
    ],
)
def test_design_loss_refusals_are_one_line_with_exit_code_2(capsys, arguments, message):
    code, err = run_error(capsys, "design", *arguments)
    assert code == 2
    assert message in error_line(err)
