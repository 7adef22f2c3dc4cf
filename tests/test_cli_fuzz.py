"""Fuzzing every command of the command line against its contract (issue "Reliability").

The contract, for any argv:

* either exit code 2, exactly one line on stderr, no traceback and no file created
  in the working folder (bad input is refused before any work or allocation);
* or exit code 0 (1 where the command says a result is not certified, not converged
  or not reachable) with strict JSON output (no NaN or Infinity tokens) whose status
  fields (``certified``, ``converged``, ``reachable``) say explicitly what holds.

Inputs: utility specs (valid, invalid, odd whitespace and case, huge, NaN and
negative parameters), n (0, 1, huge, non-integers, words), seeds, sizes and paths,
for solve, limit, converge, explore, design, make-data, train (tiny settings) and
reproduce (invalid arguments only: the work itself is replaced by a stub that fails
the test if reached). Commands run in-process (``collapse_theory.cli.main``) in a
fresh temporary working folder, with ``COLLAPSE_THEORY_MEMORY_LIMIT`` at 2 GB so
that huge sizes must be refused.

Hypothesis is derandomized (the same examples on every run) and does not shrink, so
the time is bounded: under a minute on two cores with a warm JAX compilation cache.
``COLLAPSE_THEORY_FUZZ_COLLECT=1`` records every broken example instead of stopping at
the first, and prints them at the end of each test (to list them all in a report).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from collapse_theory import cli

MEMORY_LIMIT = str(2 * 10**9)
TRACE = os.environ.get("COLLAPSE_THEORY_FUZZ_TRACE", "") not in ("", "0")  # print every run
COLLECT = os.environ.get("COLLAPSE_THEORY_FUZZ_COLLECT", "") not in ("", "0")


def fuzz(examples: int) -> settings:
    """Derandomized, no shrinking (bounded time), ``examples`` examples."""
    return settings(
        derandomize=True, deadline=None, database=None, phases=[Phase.explicit, Phase.generate], max_examples=examples
    )


# --- running one command --------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one in-process run of the command line did."""

    argv: list[str]
    code: int | None
    out: str
    err: str
    created: list[str]
    json_files: dict[str, str] = field(default_factory=dict)
    crash: str | None = None  # an exception other than SystemExit: a traceback for the user

    def describe(self) -> str:
        crash = f"\n  crash: {self.crash}" if self.crash else ""
        return (
            f"argv {self.argv!r}: exit {self.code}, stderr {self.err[-400:]!r}, created {self.created[:5]}"
            f"{crash}\n  stdout {self.out[:200]!r}"
        )


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@contextlib.contextmanager
def _working_folder() -> Iterator[Path]:
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as name:
        os.chdir(name)
        try:
            yield Path(name)
        finally:
            os.chdir(previous)


def invoke(argv: list[str], setup: Callable[[Path], None] | None = None) -> Outcome:
    """Run ``collapse-theory ARGV`` in a fresh working folder; never raises."""
    out, err = io.StringIO(), io.StringIO()
    code: int | None = None
    crash = None
    with _working_folder() as folder, mock.patch.dict(os.environ, {"COLLAPSE_THEORY_MEMORY_LIMIT": MEMORY_LIMIT}):
        if setup is not None:
            setup(folder)
        before = _files(folder)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
            except BaseException as error:  # every escape is a finding
                if isinstance(error, KeyboardInterrupt):
                    raise
                crash = f"{type(error).__name__}: {str(error)[:300]} at " + "".join(
                    traceback.format_tb(error.__traceback__, limit=-2)
                ).replace("\n", " | ")
        created = sorted(_files(folder) - before)
        json_files = {name: (folder / name).read_text() for name in created if name.endswith(".json")}
    outcome = Outcome(argv, code, out.getvalue(), err.getvalue(), created, json_files, crash)
    if TRACE:
        print(f"[fuzz] exit {code} {argv!r} {'CRASH ' + crash[:80] if crash else ''}")
    return outcome


# --- the contract ---------------------------------------------------------------------------------------


class ContractBroken(AssertionError):
    """An example that breaks the command-line contract."""


def _reject_constant(token: str) -> Any:
    raise ContractBroken(f"non-strict JSON token {token}")


def strict_json(text: str) -> Any:
    """Parse JSON, refusing NaN, Infinity and -Infinity."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise ContractBroken(f"output is not JSON ({error})") from None


_broken: list[str] = []


def check(outcome: Outcome, status: Callable[[Outcome], bool] | None, *, must_refuse: bool = False) -> None:
    """Assert the contract; ``status`` checks a successful output and says whether every result holds.

    ``must_refuse``: the input is invalid by the project's own rules (e.g. a seed outside
    [0, 2**32 - 1]), so only exit code 2 keeps the contract.
    """
    try:
        if outcome.crash is not None:
            raise ContractBroken("an exception escaped (traceback, exit 1)")
        if must_refuse and outcome.code != 2:
            raise ContractBroken("invalid input accepted")
        if outcome.code == 2:
            lines = outcome.err.splitlines()
            if len(lines) != 1 or not lines[0].strip():
                raise ContractBroken(f"exit 2 with {len(lines)} lines on stderr")
            if outcome.created:
                raise ContractBroken(f"exit 2 left files: {outcome.created}")
            return
        if outcome.code not in (0, 1):
            raise ContractBroken(f"exit code {outcome.code}")
        holds = True if status is None else status(outcome)
        if outcome.code == 1 and holds:
            raise ContractBroken("exit 1 although every status says the result holds")
    except ContractBroken as broken:
        message = f"{broken}: {outcome.describe()}"
        if COLLECT:
            _broken.append(message)
            return
        pytest.fail(message, pytrace=False)


@pytest.fixture(autouse=True)
def _report_collected() -> Iterator[None]:
    _broken.clear()
    yield
    if COLLECT and _broken:
        print("\nBROKEN EXAMPLES:\n" + "\n".join(dict.fromkeys(_broken)))


def _bool_field(record: dict[str, Any], key: str) -> bool:
    if not isinstance(record.get(key), bool):
        raise ContractBroken(f"no explicit boolean {key!r} in {sorted(record)}")
    return bool(record[key])


def solve_status(outcome: Outcome) -> bool:
    items = strict_json(outcome.out)
    if not isinstance(items, list) or not items:
        raise ContractBroken("solve --format json must print a non-empty list")
    for item in items:
        _bool_field(item, "certified")  # explicit either way (square: not certified by design)
    return all(_bool_field(item, "converged") for item in items)


def limit_status(outcome: Outcome) -> bool:
    record = strict_json(outcome.out)
    if not isinstance(record, dict) or "utility" not in record or "law" not in record:
        raise ContractBroken("limit --format json must name the utility and the law (null when none)")
    return True


def converge_status(outcome: Outcome) -> bool:
    studies = strict_json(outcome.out)
    return all(_bool_field(point, "converged") for study in studies for point in study["points"])


def explore_status(outcome: Outcome) -> bool:
    record = strict_json(outcome.out)
    solution = record.get("solution")
    if not isinstance(solution, dict):
        raise ContractBroken("explore --format json must hold the finite-n solution")
    _bool_field(solution, "certified")
    if outcome.code == 0 and "--out" in outcome.argv and outcome.argv[outcome.argv.index("--out") + 1] not in outcome.created:
        raise ContractBroken("exit 0 without the plot")
    return _bool_field(solution, "converged")


def design_status(outcome: Outcome) -> bool:
    return _bool_field(strict_json(outcome.out), "reachable")


def make_data_status(outcome: Outcome) -> bool:
    if "data.npz" not in outcome.created:
        raise ContractBroken("exit 0 without the dataset file")
    return True


def train_status(outcome: Outcome) -> bool:
    diagnostics = outcome.json_files.get("run/diagnostics.json")
    if diagnostics is None:
        raise ContractBroken("exit 0 without run/diagnostics.json")
    strict_json(diagnostics)
    if "terminal phase: yes" not in outcome.out and "terminal phase: no" not in outcome.out:
        raise ContractBroken("the summary does not say whether training reached the terminal phase")
    return True


# --- inputs ------------------------------------------------------------------------------------------------


def mostly(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` two times in three: most examples then differ from a valid call in one or two places."""
    return st.integers(0, 2).flatmap(lambda pick: invalid if pick == 0 else valid)


NUMBERS = st.sampled_from(
    ["0.5", "1", "2", "4", "0", "-1", "-0.5", "nan", "NaN", "inf", "-inf", "1e308", "1e400", "1e-320", "abc", "", "0.5,1", "١"]
)
FAMILIES = ["power", "neg-power", "log-sigmoid", "exp", "log", "linear", "square", "POWER", "Log"]


def _odd(text: str, how: int) -> str:
    return [text, f" {text} ", text.upper(), f"\t{text}", text.replace(":", " : "), f"{text}\n"][how % 6]


VALID_SPECS = st.sampled_from(["log", "linear", "square", "power:0.5", "neg-power:1", "exp:2", "log-sigmoid:4"])
SPECS = mostly(
    VALID_SPECS,
    st.one_of(
        st.builds(lambda family, number: f"{family}:{number}", st.sampled_from(FAMILIES), NUMBERS),
        st.builds(_odd, st.sampled_from(["log", "power:0.5", "neg-power:2", "exp:1"]), st.integers(0, 5)),
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12),
    ),
)
#: n: small valid values share one padded size (one compilation); huge ones must be refused by the memory check
HUGE = [str(10**12), str(2**70), "1" + "0" * 100]
NS = mostly(
    st.sampled_from(["2", "3", "5", "8", " 8", "1e1", "+6"]),
    st.sampled_from(["0", "1", "-5", "2.5", "nan", "inf", "-inf", "1e400", "eight", "", "0x10", "8.000001", *HUGE, *HUGE]),
)
BAD_SEEDS = (str(2**32), str(2**70), "-1", "1.5", "nan", "", "seed")
SEEDS = mostly(
    st.sampled_from(["0", "7", str(2**32 - 1)]), st.sampled_from([str(2**32), str(2**70), "-1", "1.5", "nan", "", "seed"])
)
TOLERANCES = mostly(st.sampled_from(["1e-10", "1e-6"]), st.sampled_from(["0", "-1", "1", "nan", "inf", "1e-400", "x"]))


def _opt(name: str, value: str) -> str:
    return f"--{name}={value}"  # '=' keeps values such as '-1' from being read as options


# --- one test per command ---------------------------------------------------------------------------------


@fuzz(30)
@given(specs=st.lists(SPECS, min_size=1, max_size=2), n=NS, tol=st.one_of(st.none(), TOLERANCES))
@example(specs=["log"], n=str(10**12), tol=None)
@example(specs=["exp:2"], n=str(2**70), tol=None)
@example(specs=["power:nan"], n="8", tol=None)
def test_solve_keeps_the_contract(specs: list[str], n: str, tol: str | None) -> None:
    argv = ["solve", *[_opt("utility", s) for s in specs], _opt("n", n), "--format", "json"]
    check(invoke(argv + ([] if tol is None else [_opt("tol", tol)])), solve_status)


@fuzz(30)
@given(spec=SPECS)
def test_limit_keeps_the_contract(spec: str) -> None:
    check(invoke(["limit", _opt("utility", spec), "--format", "json"]), limit_status)


CLOSED_FORM = st.one_of(st.sampled_from(["log", "power:0.5", "neg-power:2", "linear"]), SPECS)


@fuzz(20)
@given(spec=CLOSED_FORM, ns=st.lists(NS, min_size=0, max_size=3), tol=st.one_of(st.none(), TOLERANCES))
@example(spec="log", ns=["8", str(10**12)], tol=None)
@example(spec="log", ns=["8", "16"], tol=None)
def test_converge_keeps_the_contract(spec: str, ns: list[str], tol: str | None) -> None:
    argv = ["converge", _opt("utility", spec), *[_opt("n", n) for n in ns], "--format", "json"]
    if not ns:
        argv += ["--n=4", "--n=8", "--n=16"]  # the default ns cost a compilation each
    check(invoke(argv + ([] if tol is None else [_opt("tol", tol)])), converge_status)


PLOTS = st.sampled_from([None, "plot.png", "plots/deeper/plot.svg", "plot.txt", "taken/plot.png", "taken", ".", ""])


def _taken(folder: Path) -> None:
    (folder / "taken").write_text("an existing file")


@fuzz(15)
@given(spec=st.one_of(st.sampled_from(["log", "neg-power:2", "power:0.5"]), SPECS), n=NS, plot=PLOTS)
@example(spec="log", n=str(10**12), plot=None)
@example(spec="log", n="8", plot="taken/plot.png")
@example(spec="neg-power:2", n="8", plot="plots/deeper/plot.svg")
def test_explore_keeps_the_contract(spec: str, n: str, plot: str | None) -> None:
    argv = ["explore", _opt("utility", spec), _opt("n", n), "--format", "json"]
    check(invoke(argv + ([] if plot is None else ["--out", plot]), setup=_taken), explore_status)


def test_explore_with_a_broken_utility_file_keeps_the_contract() -> None:
    def setup(folder: Path) -> None:
        (folder / "bad.py").write_text(
            "import jax.numpy as jnp\ndef nan(x):\n    return jnp.nan * x\ndef boom(x):\n    raise KeyError(x)\n"
        )
        (folder / "syntax.py").write_text("def u(x) return x\n")

    for reference in ("bad.py:nan", "bad.py:boom", "syntax.py:u", "bad.py:", ":u", "bad.py:1x"):
        check(invoke(["explore", "--utility-file", reference, "--n", "4", "--format", "json"], setup=setup), explore_status)


TARGETS = st.one_of(
    st.sampled_from(["uniform", "two-point", "beta:0.25", "beta:0.5,0.5", "rewards:1,0.5,0"]),
    st.builds(lambda number: f"beta:{number}", NUMBERS),
    st.builds(lambda a, b: f"rewards:{a},{b}", NUMBERS, NUMBERS),
    st.sampled_from(["beta:", "rewards:", "gamma:2", "", "UNIFORM", " uniform ", "rewards:0.5"]),
)


@fuzz(20)
@given(
    target=TARGETS,
    family=st.sampled_from(["box-cox", "exp", "power", "unknown"]),
    tolerance=st.one_of(st.none(), TOLERANCES),
)
@example(target="rewards:1,0.5,0", family="box-cox", tolerance=None)
@example(target="beta:1e308", family="box-cox", tolerance=None)
def test_design_keeps_the_contract(target: str, family: str, tolerance: str | None) -> None:
    argv = ["design", _opt("target", target), _opt("family", family), "--format", "json"]
    check(invoke(argv + ([] if tolerance is None else [_opt("tolerance", tolerance)])), design_status)


SIZES = mostly(st.sampled_from(["2", "3", "10"]), st.sampled_from(["0", "1", "-1", "1.5", "nan", "", *HUGE, *HUGE]))
FRACTIONS = mostly(st.sampled_from(["0", "0.1", "0.5"]), st.sampled_from(["1", "-0.1", "nan", "inf"]))


@fuzz(25)
@given(
    prompts=SIZES,
    n=NS,
    dim=mostly(st.sampled_from(["8", "16"]), st.sampled_from(["7", "0", *HUGE])),
    seed=SEEDS,
    held_out=FRACTIONS,
)
@example(prompts=str(10**12), n="4", dim="8", seed="0", held_out="0.1")
@example(prompts="3", n=str(10**12), dim="8", seed="0", held_out="0.1")
@example(prompts="3", n="4", dim="8", seed=str(2**32), held_out="0.1")
@example(prompts="3", n="4", dim="8", seed="0", held_out="0.1")
def test_make_data_keeps_the_contract(prompts: str, n: str, dim: str, seed: str, held_out: str) -> None:
    argv = ["make-data", "--out", "data.npz", _opt("prompts", prompts), _opt("n", n), _opt("dim", dim)]
    check(invoke([*argv, _opt("seed", seed), _opt("held-out", held_out)]), make_data_status, must_refuse=seed in BAD_SEEDS)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    assert cli.main(["make-data", "--out", str(path), "--prompts", "6", "--n", "4", "--dim", "8"]) == 0
    return path


@pytest.fixture(scope="module")
def malformed_files(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("malformed")
    files = {"empty": folder / "empty.npz", "text": folder / "text.npz", "truncated": folder / "truncated.npz"}
    files["empty"].write_bytes(b"")
    files["text"].write_text("not an archive")
    files["truncated"].write_bytes(tiny_dataset.read_bytes()[:200])
    with np.load(tiny_dataset) as archive:
        arrays = dict(archive)
    files["missing"] = folder / "missing.npz"
    np.savez(files["missing"], **{k: v for k, v in arrays.items() if k != "rankings"})
    files["nan"] = folder / "nan.npz"
    np.savez(files["nan"], **{**arrays, "prompt_embeddings": np.full_like(arrays["prompt_embeddings"], np.nan)})
    return files


@fuzz(12)
@given(
    mode=st.one_of(
        st.builds(lambda spec: ["--utility", spec], st.one_of(st.sampled_from(["log", "neg-power:1"]), SPECS)),
        st.sampled_from([["--prompt-aware", "closed=linear,open=neg-power:1"], ["--prompt-aware", "open=log"]]),
    ),
    data=mostly(st.just("tiny"), st.sampled_from(["empty", "text", "truncated", "missing", "nan", "absent"])),
    # huge step counts: test_train_refuses_a_huge_step_count (they exhaust memory today)
    steps=mostly(st.sampled_from(["1", "2"]), st.sampled_from(["0", "-1", "1.5"])),
    seed=SEEDS,
    hidden=mostly(st.sampled_from(["4", "4,4"]), st.sampled_from(["0", "", "x", HUGE[0], f"4,{HUGE[0]}"])),
    learning_rate=mostly(st.just("0.01"), st.sampled_from(["0", "-1", "nan", "inf"])),
)
@example(mode=["--utility", "log"], data="tiny", steps="2", seed=str(2**32), hidden="4", learning_rate="0.01")
@example(mode=["--utility", "log"], data="tiny", steps="2", seed="0", hidden=str(10**12), learning_rate="0.01")
@example(mode=["--utility", "log"], data="missing", steps="2", seed="0", hidden="4", learning_rate="0.01")
@example(mode=["--utility", "log"], data="tiny", steps="2", seed="0", hidden="4", learning_rate="0.01")
def test_train_keeps_the_contract(
    tiny_dataset: Path,
    malformed_files: dict[str, Path],
    mode: list[str],
    data: str,
    steps: str,
    seed: str,
    hidden: str,
    learning_rate: str,
) -> None:
    path = {"tiny": tiny_dataset, "absent": Path("absent.npz"), **malformed_files}[data]
    argv = ["train", *mode, "--data", str(path), _opt("steps", steps), _opt("seed", seed), _opt("hidden", hidden)]
    outcome = invoke([*argv, _opt("learning-rate", learning_rate), "--out", "run", "--quiet"])
    check(outcome, train_status, must_refuse=seed in BAD_SEEDS)


def test_train_refuses_a_huge_step_count(tiny_dataset: Path) -> None:
    argv = ["train", "--utility", "log", "--data", str(tiny_dataset), _opt("steps", str(10**12)), "--out", "run", "--quiet"]
    check(invoke(argv), train_status)


def _reproduce_stub(*args: object, **kwargs: object) -> None:
    raise AssertionError("reproduce started its work although the arguments are invalid")


@fuzz(20)
@given(
    case=st.one_of(
        st.builds(lambda seed: [_opt("seed", seed)], SEEDS.filter(lambda s: s not in ("0", "7", str(2**32 - 1)))),
        st.sampled_from([["--out", "taken"], ["--out", "taken/figures"], ["--out", ""], ["--unknown"], ["--quick=yes"]]),
    ),
    quick=st.booleans(),
)
def test_reproduce_refuses_invalid_arguments_before_any_work(case: list[str], quick: bool) -> None:
    with mock.patch("collapse_theory.reproduction.runner.reproduce", _reproduce_stub):
        outcome = invoke(["reproduce", *(["--quick"] if quick else []), *case], setup=_taken)
    if outcome.code != 2 and outcome.crash is None:
        outcome.crash = f"invalid arguments accepted (exit {outcome.code})"
    check(outcome, None)
