"""Claims of the command line's reliability (issues "Reliability" and "Architecture").

* Only input errors (ValueError and subclasses, OSError, argparse errors) become one
  line on stderr and exit code 2; a programming error (KeyError, TypeError, ...) is a
  traceback, so a bug is never reported as the user's fault.
* ``--version`` prints the package version; ``--help`` lists the commands in the
  order of the workflow, an unknown command module last.
* Seeds share one range [0, 2**32 - 1] and are refused while parsing.
* Output locations are checked before any work: a run that could never write its
  output fails at once, one line, no files.
* ``converge`` reports no standard error for a slope fitted on two points, and no
  distance for a row that is not certified.
* ``--utility-file`` says in its help that the file's code runs.

Time budget: a few seconds (no solve; the expensive work is replaced by stubs that
fail the test if they are reached).
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

import pytest

import collapse_theory
from collapse_theory import cli
from collapse_theory.commands import _arguments, converge, design, explore
from collapse_theory.commands import reproduce as reproduce_command
from collapse_theory.laws.convergence_studies import ConvergencePoint, ConvergenceStudy, Rate
from collapse_theory.laws.law import beta_law


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout, stderr of ``collapse-theory ARGV`` in-process (argparse errors exit via SystemExit)."""
    try:
        code = cli.main(list(argv))
    except SystemExit as stop:
        code = int(stop.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def never(*args: object, **kwargs: object) -> None:
    raise AssertionError("the work started although the input was invalid")


# --- 1. only input errors are exit code 2 ----------------------------------------------------


@pytest.mark.parametrize("bug", [KeyError("kind"), TypeError("unsupported operand"), AttributeError("x")])
def test_a_programming_error_surfaces_as_a_traceback_not_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], bug: Exception
) -> None:
    def buggy(arguments: argparse.Namespace) -> int:
        raise bug

    monkeypatch.setattr(design, "run_design", buggy)
    with pytest.raises(type(bug)):  # the console script prints the traceback and exits 1
        cli.main(["design", "--target", "uniform"])
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "error", [ValueError("bad target\nsecond line"), FileNotFoundError(2, "No such file or directory", "data.npz")]
)
def test_an_input_error_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: Exception
) -> None:
    def refusing(arguments: argparse.Namespace) -> int:
        raise error

    monkeypatch.setattr(design, "run_design", refusing)
    code, out, err = run(capsys, "design", "--target", "uniform")
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert line.startswith("collapse-theory: error: ")
    assert "bad target" in line or "No such file or directory: data.npz" in line


# --- 2. --version and the order of --help -----------------------------------------------------


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"collapse-theory {collapse_theory.__version__}"


def _listed_commands(help_text: str) -> list[str]:
    names = []
    for line in help_text.splitlines():
        words = line.split()
        if line.startswith("    ") and not line.startswith("     ") and words:
            names.append(words[0])
    return names


def test_help_lists_the_commands_in_workflow_order(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    listed = _listed_commands(out)
    assert listed == ["solve", "losses", "limit", "converge", "explore", "design", "make-data", "train", "audit", "reproduce"], (
        out
    )


def test_a_command_module_not_in_the_order_list_goes_last(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = types.ModuleType("collapse_theory.commands.extra")

    def register(subparsers: object) -> None:
        parser = subparsers.add_parser("extra", help="a command the order list does not know")  # type: ignore[attr-defined]
        parser.set_defaults(handler=lambda arguments: 0)

    extra.register = register  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "collapse_theory.commands.extra", extra)
    known = cli._command_modules()
    monkeypatch.setattr(cli, "_command_modules", lambda: sorted([*known, "extra"]))
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert _listed_commands(out)[-1] == "extra"
    assert _listed_commands(out)[:-1] == list(cli.COMMAND_ORDER)


# --- 3. one seed type ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [str(2**70), str(2**32), "-3", "1.5", "nan", ""])
def test_reproduce_refuses_a_seed_outside_0_to_2_32_before_any_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, seed: str
) -> None:
    import collapse_theory.reproduction.runner as library

    monkeypatch.setattr(library, "reproduce", never)
    code, _, err = run(capsys, "reproduce", "--quick", "--seed", seed, "--out", str(tmp_path / "out"))
    assert code == 2
    assert "seed must be an integer in [0, 4294967295]" in one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_the_seed_type_accepts_the_whole_range() -> None:
    assert _arguments.seed("0") == 0
    assert _arguments.seed(str(2**32 - 1)) == 2**32 - 1
    with pytest.raises(argparse.ArgumentTypeError):
        _arguments.seed(str(2**32))


def test_the_n_type_keeps_every_digit_and_refuses_non_integers() -> None:
    assert _arguments.completions("1e3") == 1000
    assert _arguments.completions(str(2**70 + 1)) == 2**70 + 1  # no float rounding of long integers
    for text in ("1", "0", "-4", "2.5", "nan", "inf", "eight", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="n must be an integer >= 2"):
            _arguments.completions(text)


# --- 4. output locations checked before the work ----------------------------------------------


def test_reproduce_refuses_an_existing_file_as_out_before_any_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import collapse_theory.reproduction.runner as library

    monkeypatch.setattr(library, "reproduce", never)
    existing = tmp_path / "figures"
    existing.write_text("not a folder")
    code, _, err = run(capsys, "reproduce", "--quick", "--out", str(existing))
    assert code == 2
    assert "is a file, not a folder" in one_error_line(err)
    assert [p.name for p in tmp_path.iterdir()] == ["figures"]


def test_reproduce_refuses_a_cache_folder_that_is_a_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import collapse_theory.reproduction.runner as library

    monkeypatch.setattr(library, "reproduce", never)
    (tmp_path / ".cache").write_text("")
    code, _, err = run(capsys, "reproduce", "--quick", "--out", str(tmp_path))
    assert code == 2 and ".cache is a file" in one_error_line(err)


def test_reproduce_refuses_an_out_below_a_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import collapse_theory.reproduction.runner as library

    monkeypatch.setattr(library, "reproduce", never)
    (tmp_path / "file").write_text("")
    code, _, err = run(capsys, "reproduce", "--out", str(tmp_path / "file" / "figures"))
    assert code == 2 and "cannot create" in one_error_line(err)


def test_explore_refuses_a_plot_path_below_a_file_before_any_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(explore, "explore_utility", never)
    (tmp_path / "file").write_text("")
    code, out, err = run(capsys, "explore", "--utility", "log", "--out", str(tmp_path / "file" / "x.png"))
    assert code == 2 and out == ""
    assert "file is a file, not a folder" in one_error_line(err)
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_explore_refuses_a_folder_as_the_plot_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(explore, "explore_utility", never)
    (tmp_path / "plot.png").mkdir()
    code, _, err = run(capsys, "explore", "--utility", "log", "--out", str(tmp_path / "plot.png"))
    assert code == 2 and "is a folder, not a file" in one_error_line(err)


def test_output_checks_accept_creatable_paths_and_create_nothing(tmp_path: Path) -> None:
    _arguments.check_output_file(tmp_path / "new" / "deeper" / "plot.png")
    _arguments.check_output_directory(tmp_path / "new" / "figures")
    (tmp_path / "old.png").write_text("")
    _arguments.check_output_file(tmp_path / "old.png")  # overwritten atomically
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.png"]


@pytest.mark.skipif(sys.platform == "win32" or not hasattr(__import__("os"), "geteuid"), reason="POSIX permissions")
def test_output_checks_refuse_a_read_only_folder(tmp_path: Path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="permission denied"):
            _arguments.check_output_file(locked / "plot.png")
    finally:
        locked.chmod(0o700)


# --- 6. converge: standard errors and uncertified rows --------------------------------------------


def _study(converged: tuple[bool, ...], ns: tuple[int, ...]) -> ConvergenceStudy:
    points = tuple(
        ConvergencePoint(n=n, kolmogorov_smirnov=1.0 / n, wasserstein=0.5 / n, seconds=0.01, converged=ok)
        for n, ok in zip(ns, converged, strict=True)
    )
    rate = Rate(slope=-1.0, standard_error=None if len(ns) < 3 else 0.0, points=len(ns))  # as fit_rate returns
    return ConvergenceStudy(
        utility="log",
        law="Beta(0.5, 0.5) (arcsine)",
        limit=beta_law(0.5, 0.5),
        points=points,
        kolmogorov_smirnov_rate=rate,
        wasserstein_rate=rate,
    )


def test_converge_with_two_values_of_n_reports_no_standard_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(converge, "convergence_many", lambda specs, ns, tol: [_study((True, True), (10, 16))])
    code, out, _ = run(capsys, "converge", "--utility", "log", "--n", "10", "--n", "16", "--format", "json")
    assert code == 0
    (study,) = json.loads(out)
    assert study["kolmogorov_smirnov_rate"]["standard_error"] is None
    assert study["wasserstein_rate"]["standard_error"] is None
    assert study["kolmogorov_smirnov_rate"]["slope"] == -1.0
    code, out, _ = run(capsys, "converge", "--utility", "log", "--n", "10", "--n", "16")
    assert "-1.000 ± - (2 points)" in out and "± 0.000" not in out


def test_converge_keeps_the_standard_error_of_three_points(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    study = _study((True, True, True), (8, 16, 32))
    monkeypatch.setattr(converge, "convergence_many", lambda specs, ns, tol: [study])
    code, out, _ = run(capsys, "converge", "--utility", "log", "--format", "json")
    assert code == 0 and json.loads(out)[0]["kolmogorov_smirnov_rate"]["standard_error"] == 0.0


def test_converge_table_shows_no_distance_for_a_row_that_did_not_converge(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(converge, "convergence_many", lambda specs, ns, tol: [_study((True, False), (10, 16))])
    code, out, err = run(capsys, "converge", "--utility", "log", "--n", "10", "--n", "16")
    assert code == 1 and "warning: log n=16" in err
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()[:2] in ("10", "16")}
    assert "1.0000e-01" in rows["10"] and "certified" in rows["10"]
    assert "e-0" not in rows["16"] and "NOT CONVERGED" in rows["16"]  # 1/16 = 6.25e-02 is not shown
    code, out, _ = run(capsys, "converge", "--utility", "log", "--n", "10", "--n", "16", "--format", "json")
    points = json.loads(out, parse_constant=lambda token: pytest.fail(f"non-strict JSON token {token}"))[0]["points"]
    assert [p["converged"] for p in points] == [True, False]  # JSON keeps the number with its status


# --- 7. --utility-file runs code ---------------------------------------------------------------------


def test_utility_file_help_says_the_file_code_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explore", "--help")
    assert code == 0
    flat = " ".join(out.split())
    assert "its Python code runs" in flat and "files you trust" in flat


# --- 3 (continued). the shared types are the ones the commands use ----------------------------------


def test_commands_use_the_shared_argument_types() -> None:
    assert reproduce_command.seed is _arguments.seed
    assert converge.completions is _arguments.completions and explore.completions is _arguments.completions
