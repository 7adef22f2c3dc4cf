"""Framework conventions: presets named after the frameworks, IPO's beta, and `collapse-theory losses`.

Oracles: TRL's and Azar et al.'s IPO target margin 1/(2 beta) (so TRL's default beta = 0.1 has
margin 5, and n equal gaps 2 TAU / n, as the IPO tests of test_loss_solver.py check for the margin
form); the presets' definitions in docs/losses.md; docs/losses.md's table, read back row by row.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from collapse_theory.cli import main
from collapse_theory.problems.frameworks import FRAMEWORK_CONVENTIONS
from collapse_theory.problems.losses import parse_loss
from collapse_theory.solver.loss_solver import solve_loss

DOCS = Path(__file__).resolve().parents[1] / "docs" / "losses.md"


@pytest.mark.parametrize(
    ("name", "same_as"),
    [
        ("trl", "bradley-terry"),
        ("openrlhf", "bradley-terry"),
        ("oasst", "open-assistant"),
        ("oasst+margin:0.1", "open-assistant+margin:0.1"),
    ],
)
def test_framework_presets_are_the_existing_losses(name: str, same_as: str) -> None:
    assert parse_loss(name) == parse_loss(same_as)


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_ipo_beta_has_target_margin_one_over_two_beta(beta: float) -> None:
    loss = parse_loss(f"ipo:{beta}")
    assert loss.parameter == pytest.approx(1.0 / (2.0 * beta), rel=1e-15)
    assert loss.ipo_beta == pytest.approx(beta, rel=1e-15)
    assert loss.spec == f"ipo:{beta:g}"
    margin = parse_loss(f"ipo-margin:{1.0 / (2.0 * beta)!r}")
    assert margin.parameter == loss.parameter and margin.spec.startswith("ipo-margin:")
    # the maximiser: equal gaps 2 TAU / n with TAU = 1/(2 beta), i.e. gaps 1 / (beta n)
    n = 6
    rewards = solve_loss(loss, n).rewards
    assert rewards is not None
    np.testing.assert_allclose(-np.diff(rewards), 1.0 / (beta * n), rtol=1e-10)


def test_trl_default_ipo_beta_is_margin_five() -> None:
    assert parse_loss("ipo:0.1").parameter == pytest.approx(5.0, rel=1e-15)
    assert parse_loss("ipo:0.1+bounded").spec == "ipo:0.1+bounded"


@pytest.mark.parametrize(
    ("spec", "message"), [("ipo", "ipo:BETA"), ("ipo-margin", "ipo-margin:TAU"), ("ipo:1e-320", "underflows")]
)
def test_ipo_parameters_are_checked(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_loss(spec)


def test_every_convention_example_parses_and_matches_its_spec_form() -> None:
    for row in FRAMEWORK_CONVENTIONS:
        loss = row.parsed()
        # the spec with its parameter letter replaced by the example's value reads the same loss
        assert row.spec.split(":")[0].split("+")[0] in {
            "trl",
            "trl-center",
            "ipo",
            "openrlhf",
            "log-sigmoid",
            "plackett-luce",
            "min-linear",
        }
        assert loss.free, row


def test_docs_table_lists_every_convention() -> None:
    text = DOCS.read_text()
    section = text[text.index("## Framework conventions") : text.index("## The framework losses")]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| framework")]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    assert [(c[0], c[3].strip("`"), c[4].strip("`")) for c in cells] == [
        (row.framework, row.spec, row.example) for row in FRAMEWORK_CONVENTIONS
    ]


def test_losses_command_lists_the_conventions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["losses", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["example"] for r in records] == [row.example for row in FRAMEWORK_CONVENTIONS]
    ipo = next(r for r in records if r["spec"] == "ipo:BETA")
    assert ipo["option"] == 'DPOConfig(loss_type="ipo", beta=BETA)' and ipo["canonical"] == "ipo:0.1"
    assert main(["losses", "--framework", "openrlhf"]) == 0
    out = capsys.readouterr().out
    assert "PairWiseLoss" in out and "LogExpLoss" in out and "TRL" not in out
    assert main(["losses", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "framework,option,loss,spec,example,canonical,note"


def test_losses_command_refuses_an_unknown_framework(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["losses", "--framework", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "matches none of TRL" in err
