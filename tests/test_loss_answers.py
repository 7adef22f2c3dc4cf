"""The one-sentence answer of solve / limit / explore --loss.

Oracles: the statuses of docs/losses.md's table (Open-Assistant optimal with range 17.14 at
n = 8; Bradley-Terry unbounded with equal gaps; IPO shift_invariant with gaps 2 TAU / n, so at
n = 2 the margin TAU = 1/(2 BETA)); a solve stopped before its certificate (tol = 1e-300) says
"no answer".
"""

from __future__ import annotations

import json

import pytest

from collapse_theory.cli import main
from collapse_theory.exploration.answers import limit_answer, loss_answer
from collapse_theory.solver.loss_solver import solve_loss


@pytest.mark.parametrize(
    ("spec", "n", "expected"),
    [
        ("open-assistant", 8, "collapse: every prompt with n = 8 ranked completions ends at this shape, range 17.14"),
        ("bradley-terry", 6, "no optimum: rewards grow without bound while their shape tends to equal gaps"),
        ("bradley-terry", 2, "no optimum: the margin r_1 - r_2 grows without bound"),
        ("ipo:0.1", 2, "collapse: every prompt with n = 2 ends at the margin r_1 - r_2 = 5,"),
        ("ipo:1", 8, "range 0.875, whatever the prompt (up to a common shift)"),
        ("min-linear:0.3", 8, "no single optimum: a face of maximisers"),
        ("log", 4, "ends at the same rewards (1, 0.7236, 0.2764, 0)"),
    ],
)
def test_loss_answer_says_collapse_or_no_optimum(spec: str, n: int, expected: str) -> None:
    assert expected in loss_answer(solve_loss(spec, n))


def test_an_unfinished_solve_claims_nothing() -> None:
    solution = solve_loss("log-sigmoid:1+free+l2:0.01", 10, tol=1e-300)
    assert not solution.converged
    assert loss_answer(solution).startswith("no answer:")


def test_limit_answer_names_the_law_or_why_there_is_none() -> None:
    assert limit_answer(None, "bradley-terry").startswith("no limit law: the rewards diverge")
    assert limit_answer(None, "plackett-luce:1+free+l2:0.1").startswith("no limit law: no limit law is implemented")
    assert "no maximiser for large n" in limit_answer(None, "log+margin:0.1")


def test_every_loss_command_has_an_answer_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", "--loss", "oasst", "--loss", "trl", "--n", "8", "--format", "json"]) == 0
    oasst, trl = json.loads(capsys.readouterr().out)
    assert oasst["answer"].startswith("collapse:") and trl["answer"].startswith("no optimum:")
    assert main(["solve", "--loss", "trl", "--n", "2"]) == 0
    assert "answer    no optimum: the margin r_1 - r_2 grows without bound" in capsys.readouterr().out
    assert main(["limit", "--loss", "ipo:1", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["answer"].endswith("uniform on [-0.5, 0.5]")
    assert main(["explore", "--loss", "ipo:1", "--n", "4", "--format", "json"]) == 0
    answer = json.loads(capsys.readouterr().out)["answer"]
    assert "range 0.75" in answer and answer.endswith("as n grows, the rewards follow uniform on [-0.5, 0.5]")


def test_the_loss_figure_carries_the_answer_and_the_given_name() -> None:
    from collapse_theory.exploration.loss_exploration import explore_loss, loss_exploration_figure

    summary = explore_loss("trl", n=6)
    figure = loss_exploration_figure(summary, "trl")
    left = figure.axes[0]
    assert left.get_ylabel() == "range-normalised reward"
    assert left.get_title() == "trl (= log-sigmoid:1+free): unbounded at n = 6"
    assert [line.get_label() for line in left.get_lines()] == ["limiting direction (no optimum), n = 6"]
    assert figure.get_suptitle().replace("\n", " ") == summary.answer
