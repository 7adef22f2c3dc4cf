"""Claims about ``collapse-theory solve`` and ``collapse-theory limit`` (issue 2, item 6).

In-process through ``collapse_theory.cli.main`` and once through the installed
console script in a real subprocess. Oracles: the JSON contract of the issue, the
Gauss-Lobatto nodes for ``log``, the library's own solutions (the CLI must only
format them) and the closed-form limit laws. Budget: under 40 s (the subprocess
pays one JAX start-up and one compilation).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import solved

from collapse_theory.cli import main
from collapse_theory.laws.distances import distance
from collapse_theory.laws.limits import gauss_lobatto_rewards, limit
from collapse_theory.problems.utilities import DEFAULT_SPECS, VALID_FORMS
from collapse_theory.solver.status import Status
from collapse_theory.solver.utility_solver import Solution, solve

JSON_KEYS = {"utility", "n", "rewards", "objective", "gap", "converged", "iterations", "seconds"}
#: The full JSON contract, in order: today's keys, then the status.
JSON_ORDER = [
    "utility",
    "n",
    "rewards",
    "objective",
    "gap",
    "converged",
    "certified",
    "iterations",
    "seconds",
    "message",
    "status",
]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``collapse-theory ARGV`` run in-process."""
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse errors exit from inside parse_args
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def console_script() -> str:
    """The installed ``collapse-theory`` script of this environment."""
    beside_python = Path(sys.executable).with_name("collapse-theory")
    found = str(beside_python) if beside_python.exists() else shutil.which("collapse-theory")
    assert found, "the collapse-theory console script is not installed"
    return found


# --- solve --format json -------------------------------------------------------------


def test_json_has_one_object_per_utility_and_n(capsys: pytest.CaptureFixture[str]) -> None:
    """--format json: a list with one object per (utility, n), with the keys and types of the contract."""
    code, out, _ = run(
        ["solve", "--utility", "log", "--utility", "power:0.5", "--n", "16", "--n", "17", "--format", "json"], capsys
    )
    records = json.loads(out)
    assert code == 0
    assert isinstance(records, list)
    assert sorted((r["utility"], r["n"]) for r in records) == sorted((u, n) for u in ("log", "power:0.5") for n in (16, 17))
    for record in records:
        assert JSON_KEYS <= set(record)
        assert isinstance(record["utility"], str) and isinstance(record["n"], int)
        assert isinstance(record["converged"], bool) and isinstance(record["iterations"], int)
        assert all(isinstance(value, float) for value in (record["objective"], record["gap"], record["seconds"]))
        assert len(record["rewards"]) == record["n"]
        assert all(a >= b for a, b in zip(record["rewards"], record["rewards"][1:], strict=False))  # descending
        assert record["converged"] is True and record["seconds"] >= 0.0
        assert list(record) == JSON_ORDER and record["status"] == "optimal"


def test_json_rewards_are_the_solutions(capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON numbers are the solver's (log: the Gauss-Lobatto nodes to 1e-10), printed to full precision."""
    _, out, _ = run(["solve", "--utility", "log", "--utility", "power:0.5", "--n", "16", "--format", "json"], capsys)
    by_utility = {record["utility"]: record for record in json.loads(out)}
    assert np.max(np.abs(np.array(by_utility["log"]["rewards"]) - gauss_lobatto_rewards(16))) <= 1e-10
    expected = solved("power:0.5", 16)
    np.testing.assert_array_equal(by_utility["power:0.5"]["rewards"], expected.rewards)
    assert by_utility["power:0.5"]["objective"] == expected.objective


def test_not_converged_is_reported_with_exit_code_1(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A solution that missed the tolerance: JSON says converged false, stderr warns, exit code 1."""
    stalled = Solution(
        utility="log",
        n=4,
        rewards=np.array([1.0, 0.7, 0.3, 0.0]),
        objective=-3.0,
        gap=1e-3,
        status=Status.NOT_CONVERGED,
        iterations=400,
        seconds=0.0,
        message="not converged: gap 0.001",
    )
    monkeypatch.setattr("collapse_theory.commands.solve.solve_many", lambda specs, n, tol: [stalled])
    code, out, err = run(["solve", "--utility", "log", "--n", "4", "--format", "json"], capsys)
    assert code == 1
    record = json.loads(out)[0]
    assert record["converged"] is False and record["certified"] is False and record["status"] == "not_converged"
    assert "log" in err and "not converged" in err


def _reject_non_finite(constant: str) -> None:
    raise ValueError(f"non-strict JSON: {constant}")


def test_neg_power_1e6_json_is_strict_and_failed(capsys: pytest.CaptureFixture[str]) -> None:
    """solve --utility neg-power:1e6 --n 4 (G inside the documented range): U overflows float64.

    The JSON has no NaN/Infinity (non-finite numbers are null), status "failed", never
    certified beside converged false; exit code 1 with a warning.
    """
    code, out, err = run(["solve", "--utility", "neg-power:1e6", "--n", "4", "--format", "json"], capsys)
    (record,) = json.loads(out, parse_constant=_reject_non_finite)
    assert record["status"] == "failed" and record["certified"] is False and record["converged"] is False
    assert record["objective"] is None and "non-finite" in record["message"]
    assert code == 1 and "failed" in err


def test_huge_n_is_refused_before_memory_is_spent(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """solve --utility log --n 1000000000 was killed by the kernel: now exit 2 within a second, one line naming the largest n."""
    monkeypatch.setenv("COLLAPSE_THEORY_MEMORY_LIMIT", str(2 * 2**30))
    started = time.perf_counter()
    code, out, err = run(["solve", "--utility", "log", "--n", "1000000000"], capsys)
    assert time.perf_counter() - started < 1.0
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and "largest n that fits is" in err and "Traceback" not in err


# --- solve --format table and limit --------------------------------------------------


def test_table_has_a_row_per_problem_with_distance_to_the_limit(capsys: pytest.CaptureFixture[str]) -> None:
    """Default utilities at n = 16: one row each with objective, gap, KS to the limit ('-' if none), status, rewards."""
    code, out, _ = run(["solve", "--n", "16"], capsys)
    lines = out.strip().splitlines()
    header, rows = lines[0], lines[2:-1]
    assert code == 0
    for column in ("utility", "n", "objective", "gap", "KS to limit", "status", "rewards"):
        assert column in header
    assert [row.split()[0] for row in rows] == list(DEFAULT_SPECS)
    by_utility = {row.split()[0]: row for row in rows}
    assert " - " in by_utility["log-sigmoid:4"] + " "
    ks = distance(gauss_lobatto_rewards(16), limit("log")).kolmogorov_smirnov
    assert f"{ks:.4f}" in by_utility["log"]
    exp_ks = distance(solve("exp:1", 16).rewards, limit("exp:1")).kolmogorov_smirnov  # exp:B's closed form now
    assert f"{exp_ks:.4f}" in by_utility["exp:1"]
    assert "exact vertex" in by_utility["square"]
    # the rewards, the main result, are in the table (the first four and last four at n = 16)
    assert "1.000 0.990" in by_utility["log"] or "1.000" in by_utility["log"].split("certified")[1]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("log", "Beta(0.5, 0.5) (arcsine)"),
        ("power:0.5", "Beta(0.25, 0.25)"),
        ("neg-power:2", "Uniform(0, 1)"),
        ("linear", "two-point"),
        ("exp:1", "atoms 0.3333 at 0 and 1, uniform density 0.3333 between"),
        ("log-sigmoid:4", "no closed form known"),
    ],
)
def test_limit_prints_the_law(spec: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    """collapse-theory limit --utility SPEC names the closed-form law (or says none is known)."""
    code, out, _ = run(["limit", "--utility", spec], capsys)
    assert code == 0 and out.startswith(f"{spec}: {expected}")


def test_limit_json_gives_the_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    """collapse-theory limit --format json: the law's name and parameters."""
    code, out, _ = run(["limit", "--utility", "power:0.5", "--format", "json"], capsys)
    record = json.loads(out)
    assert code == 0 and {k: record[k] for k in ("utility", "law", "a", "b")} == {
        "utility": "power:0.5",
        "law": "beta",
        "a": 0.25,
        "b": 0.25,
    }
    # the law in the structure every command shares
    assert record["limit"]["kind"] == "beta" and record["limit"]["variance"] == pytest.approx(0.25**2 / (0.5**2 * 1.5))


def test_limit_answers_each_of_several_utilities(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["limit", "--utility", "log", "--utility", "exp:2", "--format", "json"], capsys)
    records = json.loads(out)
    assert code == 0 and [r["utility"] for r in records] == ["log", "exp:2"]
    assert records[1]["limit"]["atoms"] == [{"location": 0.0, "mass": 0.25}, {"location": 1.0, "mass": 0.25}]


def test_solve_csv_has_a_header_and_one_row_per_problem(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["solve", "--utility", "log", "--n", "4", "--format", "csv"], capsys)
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0][:2] == ["utility", "n"] and len(rows) == 2
    rewards = [float(x) for x in rows[1][rows[0].index("rewards")].split()]
    assert rewards == pytest.approx(gauss_lobatto_rewards(4).tolist(), abs=1e-10)


def test_solve_loss_json_says_which_case_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    """--loss: an optimum (Open-Assistant), or no maximiser with the limiting direction (Bradley-Terry)."""
    code, out, _ = run(["solve", "--loss", "open-assistant", "--loss", "bradley-terry", "--n", "8", "--format", "json"], capsys)
    oa, bt = json.loads(out)
    assert code == 0 and oa["status"] == "optimal" and bt["status"] == "unbounded"
    # the oracle: Open-Assistant's range at n = 8 in docs/losses.md's table
    assert max(oa["rewards"]) - min(oa["rewards"]) == pytest.approx(17.14, abs=0.01)
    assert bt["rewards"] is None and bt["direction"] == pytest.approx(np.linspace(1.0, 0.0, 8).tolist(), abs=1e-9)


def test_solve_loss_refuses_two_objective_terms(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["solve", "--loss", "log+ipo:1", "--n", "8"], capsys)
    assert code == 2 and err.count("\n") == 1


# --- error exits ---------------------------------------------------------------------

BAD_INPUTS = {
    "unknown spec": (["solve", "--utility", "quadratic", "--n", "8"], "quadratic"),
    "G out of range": (["solve", "--utility", "power:1.5", "--n", "8"], "out of range"),
    "NaN parameter": (["solve", "--utility", "neg-power:nan", "--n", "8"], "out of range"),
    "n < 2": (["solve", "--utility", "log", "--n", "1"], "n must be an integer >= 2"),
    "non-integer n": (["solve", "--utility", "log", "--n", "2.5"], "n must be an integer >= 2"),
    "n not a number": (["solve", "--utility", "log", "--n", "eight"], "n must be an integer >= 2"),
    "bad tolerance": (["solve", "--utility", "log", "--n", "8", "--tol", "2"], "tol"),
    "limit of unknown spec": (["limit", "--utility", "quadratic"], "quadratic"),
}


@pytest.mark.parametrize(("argv", "needle"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_exits_2_with_one_line(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Bad input: exit code 2, exactly one line on stderr naming the problem, no traceback, nothing on stdout."""
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1 and err.endswith("\n")
    assert err.startswith("collapse-theory") and "error" in err and needle in err
    assert "Traceback" not in err


def test_unknown_spec_message_lists_the_valid_forms(capsys: pytest.CaptureFixture[str]) -> None:
    """The one line for an unknown spec lists every valid form."""
    _, _, err = run(["solve", "--utility", "quadratic", "--n", "8"], capsys)
    for form in VALID_FORMS:
        assert form in err


# --- the installed console script ----------------------------------------------------


def test_console_script_solves_in_a_subprocess() -> None:
    """The real `collapse-theory` script: JSON on stdout, exit 0 (log, n = 3: rewards 1, 1/2, 0)."""
    done = subprocess.run(
        [console_script(), "solve", "--utility", "log", "--n", "3", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (record,) = json.loads(done.stdout)
    assert record["utility"] == "log" and record["n"] == 3
    np.testing.assert_allclose(record["rewards"], [1.0, 0.5, 0.0], rtol=0, atol=1e-10)


@pytest.mark.parametrize("argv", [["solve", "--utility", "power:2", "--n", "8"], ["solve", "--utility", "log", "--n", "1"]])
def test_console_script_error_exit(argv: list[str]) -> None:
    """The real script on bad input: exit 2, one stderr line, no traceback, empty stdout."""
    done = subprocess.run([console_script(), *argv], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
