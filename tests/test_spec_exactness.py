"""Spec parameters are solved as typed, written back exactly, and refused in one line otherwise.

The claims (issue "Reliability, third round": W5, P4, P5, P8, P11, C7, P14, P10):

* a parameter is the float64 nearest the decimal typed, whatever its number of digits, from
  the spec string through the command line's canonical spec to the solver;
* a canonical spec parses back to exactly the same utility or loss (round trip);
* ranges are checked on the exact decimal: a decimal inside the range whose float64 is
  not is refused with the reason, never solved as its rounded neighbour;
* only plain ASCII decimal numbers are read; underflow (``1e-400``), overflow, NaN and
  infinities are refused as out of range, in one line, exit code 2 on the command line;
* a utility file that exits at import or returns integers or complex numbers is refused in
  one line, exit code 2; warnings reach the command line's user as one line each.

Oracles: the stationarity condition of the symmetric n = 3 optimum solved by ``brentq``
(independent of the library's solvers), closed-form objectives, ``float`` and
``fractions.Fraction`` of the typed text, and a model of the number syntax written here.
"""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import scipy.optimize
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_theory import cli
from collapse_theory._core.spec_numbers import SpecNumberError, format_number, read_number
from collapse_theory.commands._arguments import completions, loss_spec, number, utility_spec
from collapse_theory.exploration.utility_exploration import load_utility
from collapse_theory.problems.families import FAMILIES
from collapse_theory.problems.losses import LossSpecError, parse_loss
from collapse_theory.problems.utilities import UtilitySpecError, parse_utility


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``collapse-theory ARGV`` run in-process."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse errors exit from inside parse_args
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_exit_2(code: int, out: str, err: str) -> None:
    assert code == 2, err
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1 and "Traceback" not in err, err


# --- W5: the parameter solved is the one typed ------------------------------------------------

EXACT_L2 = 0.00123456789


def symmetric_top_reward(beta: float) -> float:
    """r_1 of the optimum (a, 0, -a) of ``log-sigmoid:1+free+l2:BETA`` at n = 3.

    F = 2 log sigma(a) + log sigma(2a) - BETA (n-1)/2 (2 a^2); dF/da = 0 reads
    sigma(-a) + sigma(-2a) = 2 BETA a (strictly concave, so the root is unique).
    """
    sigma = scipy.special.expit
    return scipy.optimize.brentq(lambda a: sigma(-a) + sigma(-2 * a) - 2 * beta * a, 0.0, 50.0, xtol=1e-15, rtol=1e-15)


def test_the_command_line_solves_the_l2_typed_not_its_six_digit_rounding(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["solve", "--loss", f"log-sigmoid:1+free+l2:{EXACT_L2!r}", "--n", "3", "--format", "json"], capsys)
    assert code == 0, err
    (result,) = json.loads(out)
    assert result["loss"] == "log-sigmoid:1+free+l2:0.00123456789"
    expected, rounded = symmetric_top_reward(EXACT_L2), symmetric_top_reward(0.00123457)
    assert abs(expected - rounded) > 1e-6  # the two answers are told apart by the tolerance below
    assert result["rewards"][0] == pytest.approx(expected, rel=1e-10)
    assert result["rewards"][2] == pytest.approx(-expected, rel=1e-10)


def test_the_command_line_solves_a_power_just_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    """power:0.9999999 was refused as power:1; at n = 3, S(1, 1/2, 0) = 1 + 2 (1/2)^G."""
    code, out, err = run(["solve", "--utility", "power:0.9999999", "--n", "3", "--format", "json"], capsys)
    assert code == 0, err
    (result,) = json.loads(out)
    assert result["utility"] == "power:0.9999999"
    assert result["objective"] == pytest.approx(1.0 + 2.0 * 0.5**0.9999999, rel=1e-13, abs=0.0)
    assert abs(result["objective"] - 2.0) > 6e-8  # not power:1's objective


@pytest.mark.parametrize(
    "spec",
    ["log-sigmoid:0.00123456789", "power:0.9999999", "neg-power:3.3333333333333335", "box-cox:-0.1", "exp:1e-300"],
)
def test_utility_parameters_are_the_float_typed_and_round_trip(spec: str) -> None:
    typed = float(spec.partition(":")[2])
    utility = parse_utility(spec)
    assert utility.parameters == (typed,)
    assert parse_utility(utility.spec) == utility
    assert parse_utility(utility_spec(spec)).parameters == (typed,)  # the argparse type keeps it too


LOSSES_TYPED = {
    "log-sigmoid:1+free+l2:0.00123456789": {"l2": 0.00123456789},
    "ipo:0.123456789012345": {"ipo_beta": 0.123456789012345},  # TRL's beta; the target margin is 1/(2 beta)
    "ipo-margin:0.123456789012345": {"parameter": 0.123456789012345},
    "plackett-luce:3.14159265358979+free+center:2.718281828459045": {"parameter": 3.14159265358979, "center": 2.718281828459045},
    "log+margin:0.1+rank-margin:0.30000000000000004": {"margin": 0.1, "rank_margin": 0.30000000000000004},
    "trl-center:1e+2": {"center": 100.0},
    "min-linear:1e-8+free": {"parameter": 1e-8},
    "log-sigmoid:1.0000000000000002": {},
}


@pytest.mark.parametrize(("spec", "typed"), LOSSES_TYPED.items(), ids=LOSSES_TYPED.keys())
def test_loss_parameters_are_the_float_typed_and_round_trip(spec: str, typed: dict[str, float]) -> None:
    loss = parse_loss(spec)
    for field, value in typed.items():
        assert getattr(loss, field) == value
    assert parse_loss(loss.spec) == loss
    assert parse_loss(loss_spec(spec)) == loss  # through the command line's argparse type


def test_a_designed_or_swept_exponent_is_solved_exactly() -> None:
    """The Box-Cox sweep solves through the equivalent built-in spec: it must carry every digit."""
    from collapse_theory.design.family_sweeps import exponent_spec

    for exponent in (0.123456789012345, -0.987654321987, 0.1 + 0.2):
        assert parse_utility(exponent_spec(exponent)).parameters == (abs(exponent),)


# --- ranges on the exact value, P4 underflow and overflow, P5 syntax, P8 NaN ------------------


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("power:0.99999999999999999999", "rounds to 1 in float64, outside the range (0<G<1)"),
        ("box-cox:1.00000000000000000001", "out of range (G<=1)"),
        ("power:1e-400", "underflows float64"),
        ("exp:1e400", "overflows float64"),
        ("log-sigmoid:4.9e-324", "underflows float64"),
        ("log-sigmoid:nan", "out of range: not a finite number"),
        ("exp:-Infinity", "out of range: not a finite number"),
        ("power:١", "not a number (plain ASCII decimal notation"),
        ("power:０.５", "not a number (plain ASCII decimal notation"),
        ("exp:1_000", "not a number (plain ASCII decimal notation"),
        ("exp:0x10", "not a number (plain ASCII decimal notation"),
    ],
)
def test_bad_utility_parameters_are_refused_with_the_reason(spec: str, words: str) -> None:
    with pytest.raises(UtilitySpecError) as raised:
        parse_utility(spec)
    assert words in str(raised.value) and "\n" not in str(raised.value)


def test_the_exact_range_check_accepts_what_is_inside() -> None:
    assert parse_utility("box-cox:0.99999999999999999999").parameters == (1.0,)  # inside, float64 1 also inside
    assert parse_utility("box-cox:1").parameters == (1.0,)


BAD_LOSS_SPECS = {
    "P4 underflow": ("log-sigmoid:1+free+l2:1e-400", "underflows float64"),
    "P4 subnormal": ("log-sigmoid:1+free+l2:1e-310", "underflows float64"),
    "overflow": ("log-sigmoid:1+free+center:1e309", "overflows float64"),
    "P5 Arabic-Indic digit": ("log-sigmoid:1+free+l2:١", "not a number"),
    "P5 full-width": ("log-sigmoid:1+free+l2:０.５", "not a number"),
    "P5 underscore": ("log-sigmoid:1+free+l2:1_000", "not a number"),
    "P8 NaN objective": ("log-sigmoid:nan", "out of range: not a finite number"),
    "P8 NaN term": ("log+margin:NaN", "out of range: not a finite number"),
    "infinite ipo": ("ipo:inf", "out of range: not a finite number"),
    "negative": ("log+l2:-0.5", "l2 needs a finite number >= 0"),
    "zero B": ("plackett-luce:0", "plackett-luce needs a finite number > 0"),
    "underflow to zero B": ("plackett-luce:1e-999", "underflows float64"),
}


@pytest.mark.parametrize(("spec", "words"), BAD_LOSS_SPECS.values(), ids=BAD_LOSS_SPECS.keys())
def test_bad_loss_parameters_exit_2_with_one_line(spec: str, words: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(LossSpecError, match=re.escape(words)):
        parse_loss(spec)
    code, out, err = run(["solve", "--loss", spec, "--n", "3"], capsys)
    assert_one_line_exit_2(code, out, err)
    assert words in err


def test_zero_typed_with_a_huge_exponent_is_zero_at_once() -> None:
    """0e999999999 is exactly 0 (reading it must not build 10^999999999)."""
    assert read_number("0e999999999").value == 0.0
    assert parse_loss("log+l2:0e999999999") == parse_loss("log")


@pytest.mark.parametrize("text", ["١٠", "1_000", "８", "1e400", "nan"])
def test_command_line_integers_and_numbers_are_ascii_only(text: str) -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        completions(text)
    with pytest.raises(argparse.ArgumentTypeError):
        number("alpha", 0.0, 1e6, upper_open=True)(text)
    assert completions("1e3") == 1000 and number("alpha", 0.0, 1.0, upper_open=True)("0.25") == 0.25


def test_an_open_range_refuses_a_decimal_that_rounds_onto_its_end() -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        number("alpha", 0.0, 1.0, upper_open=True, lower_open=True)("0.99999999999999999999")


# --- P11: numbers displayed sensibly --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [(1e300, "1e+300"), (4.0, "4"), (-20.0, "-20"), (1e16, "1e+16"), (123456789.125, "123456789.125"), (1e-5, "1e-05")],
)
def test_numbers_are_written_short_and_exact(value: float, text: str) -> None:
    assert format_number(value) == text
    assert float(text) == value


def test_a_huge_parameter_is_not_printed_as_hundreds_of_digits(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_utility("log-sigmoid:1e300").spec == "log-sigmoid:1e+300"
    assert parse_loss("log+l2:1e300").spec == "log+l2:1e+300"
    code, out, err = run(["solve", "--utility", "log-sigmoid:1e300", "--n", "3", "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)[0]["utility"] == "log-sigmoid:1e+300"


# --- the fuzz: parse and round-trip exactly, or one line ------------------------------------

#: An independent model of the number syntax: ASCII decimal notation only.
ASCII_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")

NUMBER_TEXTS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda v: format(v, ".20e")),
    st.from_regex(r"\A[+-]?[0-9]{0,22}(\.[0-9]{0,22})?([eE][+-]?[0-9]{1,4})?\Z"),
    st.sampled_from(
        ["١", "٣.٥", "０.５", "1_000", "nan", "-inf", "Infinity", "1e-400", "1e400", "0x1p3", " 2 ", "", ".", "1e", "4.9e-324"]
    ),
    st.text(max_size=5),
)
UTILITY_FAMILIES = [family for family, record in FAMILIES.items() if record.parameter is not None]
NAMED_TERMS = [
    *UTILITY_FAMILIES,
    "ipo",
    "plackett-luce",
    "min-linear",
    "l2",
    "center",
    "margin",
    "rank-margin",
    "trl-center",
    "wiggle",
]
BARE_TERMS = ["log", "linear", "square", "free", "bounded", "lipo", "bradley-terry", "open-assistant", "listmle", "power"]

TERMS = st.one_of(
    st.tuples(st.sampled_from(NAMED_TERMS), NUMBER_TEXTS).map(lambda t: f"{t[0]}:{t[1]}"),
    st.sampled_from(BARE_TERMS),
)
#: Numbers most of which are valid parameters, typed with up to 25 digits.
GOOD_NUMBER_TEXTS = st.one_of(
    st.floats(min_value=1e-300, max_value=1e300).map(repr),
    st.from_regex(r"\A0?\.[0-9]{1,25}\Z"),
    st.from_regex(r"\A[1-9][0-9]{0,3}(\.[0-9]{1,20})?(e[+-]?[0-9]{1,2})?\Z"),
)
OBJECTIVES = st.one_of(
    st.tuples(st.sampled_from([*UTILITY_FAMILIES, "ipo", "plackett-luce", "min-linear"]), GOOD_NUMBER_TEXTS).map(
        lambda t: f"{t[0]}:{t[1]}"
    ),
    st.sampled_from(["log", "linear", "square", "bradley-terry", "open-assistant", "listmle"]),
)
EXTRAS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["l2", "center", "margin", "rank-margin"]), GOOD_NUMBER_TEXTS).map(lambda t: f"{t[0]}:{t[1]}"),
        st.sampled_from(["free", "bounded", "lipo"]),
    ),
    max_size=3,
    unique_by=lambda term: term.partition(":")[0],
)
#: Specs that are mostly valid (one objective, distinct extra terms), then anything.
SPECS = st.one_of(
    st.tuples(OBJECTIVES, EXTRAS).map(lambda t: "+".join([t[0], *t[1]])),
    st.lists(TERMS, min_size=1, max_size=4).map("+".join),
    st.text(max_size=12),
)


def numbers_in(spec: str) -> list[str]:
    """The parameter texts of a spec's terms (after the first ':' of each '+'-separated term)."""
    terms = (term.strip() for term in re.split(r"\+(?=\s*[A-Za-z])", spec.strip()))  # whitespace around terms is not the number's
    return [term.partition(":")[2] for term in terms if ":" in term]


def check_loss_contract(spec: str) -> bool:
    """parse_loss either succeeds and round-trips exactly, or raises LossSpecError on one line."""
    try:
        loss = parse_loss(spec)
    except LossSpecError as error:
        message = str(error)
        assert message and "\n" not in message and "\r" not in message, repr(message)
        return False
    canonical = loss.spec
    assert parse_loss(canonical) == loss
    assert parse_loss(canonical).spec == canonical
    carried = {loss.parameter, *(loss.utility.parameters if loss.utility else ()), loss.l2, loss.center}
    carried |= {loss.margin, loss.rank_margin, loss.ipo_beta}
    for text in numbers_in(spec):
        assert ASCII_DECIMAL.fullmatch(text.strip()), text  # only ASCII decimals are read
        value = float(text)
        assert math.isfinite(value) and (value == 0.0 or abs(value) >= sys.float_info.min)
        assert value == 0.0 or value in carried  # the float typed, exactly
    return True


@settings(max_examples=600)
@given(SPECS)
def test_fuzz_loss_specs_parse_and_round_trip_or_refuse_in_one_line(spec: str) -> None:
    check_loss_contract(spec)


@settings(max_examples=300)
@given(st.sampled_from(UTILITY_FAMILIES), NUMBER_TEXTS)
def test_fuzz_utility_parameters_are_exact_or_refused_in_one_line(family: str, text: str) -> None:
    spec = f"{family}:{text}"
    try:
        utility = parse_utility(spec)
    except UtilitySpecError as error:
        assert "\n" not in str(error) and "\r" not in str(error)
        stripped = text.strip()
        if ASCII_DECIMAL.fullmatch(stripped) and math.isfinite(float(stripped)):
            value, exact = float(stripped), Fraction(stripped)
            record = FAMILIES[family].parameter
            assert record is not None
            # refused only when the exact value or its float64 is outside, or the float64 is not normal
            assert not (record.contains(exact) and record.contains(value) and abs(value) >= sys.float_info.min)
        return
    stripped = text.strip()  # whitespace around a spec is not the number's
    assert ASCII_DECIMAL.fullmatch(stripped), text
    assert utility.parameters == (float(stripped),)
    assert parse_utility(utility.spec) == utility
    assert FAMILIES[family].parameter.contains(Fraction(stripped))  # type: ignore[union-attr]


@settings(max_examples=60)
@given(SPECS)
def test_fuzz_the_command_line_refuses_bad_loss_specs_with_exit_2_and_one_line(spec: str) -> None:
    if spec.startswith("-") or check_loss_contract(spec):
        return  # an option-like value is argparse's; valid specs are solved elsewhere
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.object(sys, "stdout", out), mock.patch.object(sys, "stderr", err), pytest.raises(SystemExit) as exit_:
        cli.main(["solve", "--loss", spec, "--n", "3"])
    assert exit_.value.code == 2
    assert out.getvalue() == "" and err.getvalue().count("\n") == 1, err.getvalue()


# --- C7, P14: utility files -----------------------------------------------------------------

UTILITY_FILES = {
    "returns an int": ("def u(x):\n    return 3\n", "returns int64 values"),
    "returns int arrays": ("def u(x):\n    return (x * 10).astype(int)\n", "returns int64 values"),
    "returns complex arrays": ("def u(x):\n    return x + 1j\n", "returns complex128 values"),
    "returns a complex scalar": ("def u(x):\n    return complex(1, 2)\n", "returns complex128 values"),
    "exits 0 at import": ("import sys\nsys.exit(0)\ndef u(x):\n    return x\n", "called sys.exit(0)"),
    "exits when called": ("import sys\ndef u(x):\n    sys.exit(3)\n", "SystemExit"),
    "numpy inside": ("import numpy as np\ndef u(x):\n    return np.sqrt(np.asarray(x))\n", "cannot be differentiated"),
}


@pytest.mark.parametrize(("source", "words"), UTILITY_FILES.values(), ids=UTILITY_FILES.keys())
def test_bad_utility_files_exit_2_with_one_line(
    source: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mine.py"
    path.write_text(source)
    with pytest.raises(ValueError, match=re.escape(words)):
        load_utility(f"{path}:u")
    code, out, err = run(["explore", "--utility-file", f"{path}:u", "--n", "4", "--format", "json"], capsys)
    assert_one_line_exit_2(code, out, err)
    assert words in err
    assert list(tmp_path.iterdir()) == [path]  # no partial files


# --- P10: warnings reach the command line's user as one line each ---------------------------


def test_warnings_are_printed_as_one_line_each_once(capsys: pytest.CaptureFixture[str]) -> None:
    def noisy(arguments: object) -> int:
        np.float64(1e308) * np.float64(10.0)  # NumPy's overflow RuntimeWarning
        np.float64(1e308) * np.float64(10.0)  # the same warning: shown once
        warnings.warn("first line\nsecond line", UserWarning, stacklevel=1)
        warnings.warn("Error reading persistent compilation cache entry for 'jit_f': error: bad data", UserWarning, stacklevel=1)
        return 0

    parser = cli._Parser(prog=cli.PROGRAM)
    parser.set_defaults(handler=noisy)
    with mock.patch.object(cli, "build_parser", return_value=parser), np.errstate(over="warn"):
        code, out, err = run([], capsys)
    assert code == 0 and out == ""
    lines = err.splitlines()
    assert len(lines) == 3 and all(line.startswith("collapse-theory: warning: ") for line in lines), err
    assert "overflow encountered" in lines[0] and "RuntimeWarning" in lines[0]
    assert lines[1].startswith("collapse-theory: warning: first line (UserWarning")
    assert "damaged compilation-cache entry was skipped" in lines[2]


def test_a_damaged_compilation_cache_entry_is_one_warning_line(tmp_path: Path) -> None:
    """End to end: a corrupted JAX cache entry used to print Python's two-line warning."""
    import os

    environment = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache"), "XDG_CACHE_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "collapse_theory.cli", "solve", "--utility", "exp:2", "--n", "3", "--format", "json"]
    first = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stderr
    entries = [p for p in (tmp_path / "cache").iterdir() if p.is_file()]
    assert entries, "the first run wrote no compilation-cache entry"
    for entry in entries:
        data = bytearray(entry.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 64] = b"x" * len(data[middle : middle + 64])
        entry.write_bytes(bytes(data))
    second = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)[0]["rewards"] == json.loads(first.stdout)[0]["rewards"]
    lines = second.stderr.splitlines()
    assert lines and all(line.startswith("collapse-theory: warning: ") for line in lines), second.stderr
    assert any("damaged compilation-cache entry" in line for line in lines)


def test_spec_number_error_is_a_value_error() -> None:
    """The command line turns ValueErrors into one line and exit code 2."""
    assert issubclass(SpecNumberError, ValueError)
