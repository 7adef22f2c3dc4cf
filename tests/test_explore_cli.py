"""Claims of the explore library function and of the converge / explore / design commands:
right answers, one-line errors with exit code 2, no partial output files.

Time budget: 45 s on two busy cores (n = 10 and 16, padded size 8 as in the other test files;
one custom utility compiled, one numerical limit).
"""

from __future__ import annotations

import csv
import io
import json
import textwrap

import pytest
import scipy.stats

from collapse_theory.cli import main
from collapse_theory.exploration.utility_exploration import exploration_figure, explore, fit_beta, load_utility, shape_on_grid


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_error(capsys, *argv: str) -> tuple[int, str]:
    """Run a command expected to fail on input; argparse errors exit through SystemExit."""
    try:
        code = main(list(argv))
    except SystemExit as stop:
        code = int(stop.code)
    return code, capsys.readouterr().err


@pytest.fixture()
def user_file(tmp_path):
    path = tmp_path / "my_utility.py"
    path.write_text(
        textwrap.dedent(
            """
            import jax.numpy as jnp
            from collapse_theory.problems.utilities import custom

            def my_log(x):
                return jnp.log(x)

            declared = custom(lambda x: jnp.sqrt(x), "declared-root", concave=True, singular=True)
            not_callable = 3
            """
        )
    )
    return path


# --- converge ------------------------------------------------------------------------------------


def test_converge_json_reports_ks_one_over_n_for_log(capsys):
    code, out, _ = run(capsys, "converge", "--utility", "log", "--n", "10", "--n", "16", "--format", "json")
    assert code == 0
    (study,) = json.loads(out)
    assert [p["n"] for p in study["points"]] == [10, 16]
    for point in study["points"]:  # oracle: Gauss-Lobatto nodes against the arcsine law, KS = 1/n
        assert point["kolmogorov_smirnov"] * point["n"] == pytest.approx(1.0, abs=1e-8)
    assert study["kolmogorov_smirnov_rate"]["slope"] == pytest.approx(-1.0, abs=0.1)


def test_converge_table_prints_the_rate(capsys):
    code, out, _ = run(capsys, "converge", "--utility", "log", "--n", "10", "--n", "16")
    assert code == 0
    assert "Beta(0.5, 0.5)" in out and "rate (log-log slope" in out


def test_converge_without_closed_form_is_a_one_line_error(capsys):
    code, err = run_error(capsys, "converge", "--utility", "log-sigmoid:4", "--n", "8")
    assert code == 2
    assert err.count("\n") == 1 and "no closed-form limit" in err
    code, err = run_error(capsys, "converge", "--utility", "log", "--n", "1")
    assert code == 2 and "n must be an integer >= 2" in err


# --- explore ---------------------------------------------------------------------------------------


def test_explore_prints_atoms_and_writes_the_plot(capsys, tmp_path):
    out_file = tmp_path / "plots" / "exp.png"
    code, out, _ = run(capsys, "explore", "--utility", "exp:2", "--n", "10", "--out", str(out_file))
    assert code == 0
    # oracle: atoms 1/(2+B) at 0 and 1 (derived closed form, docs/theory.md)
    assert "0.25 at 0, 0.25 at 1" in out
    assert "singular at 0  no" in out
    assert out_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out_file.parent.iterdir() if p.name != "exp.png"]  # no temporary left behind


def test_explore_json_for_a_closed_form(capsys):
    code, out, _ = run(capsys, "explore", "--utility", "log", "--n", "10", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["closed_form"] and data["law"] == "Beta(0.5, 0.5) (arcsine)"
    assert data["beta_fit"]["a"] == pytest.approx(0.5, abs=1e-4)
    assert data["solution"]["n"] == 10 and data["solution"]["certified"]


def test_explore_a_utility_from_a_file_reproduces_the_arcsine_law(capsys, user_file):
    code, out, _ = run(capsys, "explore", "--utility-file", f"{user_file}:my_log", "--n", "10", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert not data["closed_form"] and data["concave"] and data["singular"]
    assert data["variance"] == pytest.approx(1.0 / 8.0, abs=1e-4)  # arcsine law, computed numerically
    assert data["beta_fit"]["a"] == pytest.approx(0.5, abs=5e-3)
    assert data["atoms"] == []


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("missing.py:u", "utility file not found"),
        ("{file}:nothing_here", "has no function 'nothing_here'"),
        ("{file}:not_callable", "is not callable"),
        ("{file}", "expects path.py:function"),
    ],
)
def test_explore_file_errors_exit_2_with_one_line(capsys, user_file, tmp_path, reference, message):
    out_file = tmp_path / "never.png"
    code, err = run_error(capsys, "explore", "--utility-file", reference.format(file=user_file), "--out", str(out_file))
    assert code == 2
    assert err.count("\n") == 1 and message in err
    assert not out_file.exists()


def test_explore_rejects_unknown_plot_formats_before_any_work(capsys, tmp_path):
    out_file = tmp_path / "plot.txt"
    code, err = run_error(capsys, "explore", "--utility", "log", "--out", str(out_file))
    assert code == 2 and "--out must end in" in err
    assert not out_file.exists()


def test_load_utility_keeps_a_declared_utility(user_file):
    utility = load_utility(f"{user_file}:declared")
    assert utility.spec == "declared-root" and utility.concave and utility.singular


def test_shape_on_grid_and_beta_fit():
    assert shape_on_grid("exp:1") == (True, True)
    assert shape_on_grid("square") == (False, True)
    fit = fit_beta(scipy.stats.beta(0.25, 0.25))
    assert (fit.a, fit.b) == pytest.approx((0.25, 0.25), abs=1e-4)


def test_exploration_library_result_and_figure():
    summary = explore("neg-power:2", n=10)
    assert summary.hypersingular and summary.closed_form and summary.law == "Uniform(0, 1)"
    assert summary.solution.converged
    figure = exploration_figure(summary)
    assert len(figure.axes) == 2


# --- design ------------------------------------------------------------------------------------------


def test_design_command_closed_form_and_unreachable(capsys):
    code, out, _ = run(capsys, "design", "--target", "beta:0.25")
    assert code == 0 and "power:0.5" in out
    code, out, _ = run(capsys, "design", "--target", "beta:2", "--format", "json")
    assert code == 1
    assert json.loads(out)["reachable"] is False


def test_design_command_rejects_bad_targets(capsys):
    code, err = run_error(capsys, "design", "--target", "gamma:2")
    assert code == 2 and "unknown target" in err
    code, err = run_error(capsys, "design", "--target", "rewards:1")
    assert code == 2 and "at least 2 values" in err


def test_converge_csv_has_one_row_per_n(capsys):
    code = main(["converge", "--utility", "log", "--n", "8", "--n", "16", "--format", "csv"])
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert code == 0 and rows[0][:3] == ["spec", "law", "n"] and len(rows) == 3
    assert float(rows[1][rows[0].index("kolmogorov_smirnov")]) == 0.125  # the Gauss-Lobatto nodes at n = 8: 1/n


def test_a_law_is_one_structure_in_limit_converge_and_explore(capsys):
    """limit, converge and explore print the law the same way: kind, parameters, atoms with masses, mean, variance."""
    main(["limit", "--utility", "exp:2", "--format", "json"])
    from_limit = json.loads(capsys.readouterr().out)["limit"]
    main(["converge", "--utility", "exp:2", "--n", "8", "--n", "16", "--n", "32", "--format", "json"])
    from_converge = json.loads(capsys.readouterr().out)[0]["limit"]
    main(["explore", "--utility", "exp:2", "--n", "4", "--format", "json"])
    from_explore = json.loads(capsys.readouterr().out)["limit"]
    assert from_limit == from_converge == from_explore
    assert set(from_limit) >= {"kind", "parameters", "atoms", "mean", "variance"}
    assert from_limit["atoms"] == [{"location": 0.0, "mass": 0.25}, {"location": 1.0, "mass": 0.25}]


# --- honest endings ------------------------------------------------------------------------------


def test_explore_that_did_not_converge_says_so_and_exits_1(capsys, monkeypatch, tmp_path):
    """Oracle: a solve stopped before its certificate (tol = 1e-300) is NOT_CONVERGED; nothing at n is claimed."""
    from collapse_theory.exploration import utility_exploration as exploration
    from collapse_theory.solver.utility_solver import solve

    monkeypatch.setattr(exploration, "solve", lambda utility, n: solve(utility, n, tol=1e-300))
    plot = tmp_path / "law.svg"
    code, out, err = run(capsys, "explore", "--utility", "log", "--n", "10", "--out", str(plot))
    assert code == 1
    assert "optimum, n=10  NOT CONVERGED" in out and "no optimum at n = 10 is claimed" in out
    assert err.startswith("warning: log n=10: not converged")
    assert "NOT CONVERGED at n = 10" in plot.read_text() and "NO optimum at n = 10" in plot.read_text()
    code, out, _ = run(capsys, "explore", "--utility", "log", "--n", "10", "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["converged"] is False and data["solution"]["status"] == "not_converged" and data["law_certified"] is True


def test_explore_hides_atoms_below_the_stated_mass():
    from collapse_theory.exploration.utility_exploration import SHOWN_ATOM_MASS, shown_atoms
    from collapse_theory.laws.law import Atom

    atoms = (Atom(0.0, 0.06), Atom(0.1, 1.8e-6), Atom(0.3, 0.0019), Atom(1.0, 0.06))
    heavy, light = shown_atoms(atoms)
    assert SHOWN_ATOM_MASS == 1e-3
    assert [a.location for a in heavy] == [0.0, 0.3, 1.0] and [a.location for a in light] == [0.1]


def test_a_partly_decreasing_utility_is_refused_with_the_interval(capsys, tmp_path):
    """Oracle: U = x - 0.8 x^2 has U' = 1 - 1.6 x < 0 exactly on (0.625, 1]."""
    path = tmp_path / "updown.py"
    path.write_text("def updown(x):\n    return x - 0.8 * x**2\n")
    code, err = run_error(capsys, "explore", "--utility-file", f"{path}:updown")
    assert code == 2 and err.count("\n") == 1
    low = float(err.split("decreases on [")[1].split(",")[0])
    assert 0.62 <= low <= 0.625 and "decreases on (0, 1]" not in err


def test_solve_takes_a_utility_file(capsys, user_file):
    """Oracle: a file's log is the built-in log (Gauss-Lobatto nodes), without a closed-form KS column."""
    code, out, _ = run(
        capsys, "solve", "--utility", "log", "--utility-file", f"{user_file}:my_log", "--n", "6", "--format", "csv"
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["utility"] for r in rows] == ["log", "my_log"]
    assert [float(x) for x in rows[1]["rewards"].split()] == pytest.approx(
        [float(x) for x in rows[0]["rewards"].split()], abs=1e-9
    )
    assert rows[0]["ks_to_limit"] != "" and rows[1]["ks_to_limit"] == ""
    code, err = run_error(capsys, "solve", "--loss", "log", "--utility-file", f"{user_file}:my_log")
    assert code == 2 and "not both" in err
