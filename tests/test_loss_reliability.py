"""Reliability of the loss solver: the third round's cases, and a fuzz test of the ``solve --loss`` contract.

Every number is checked against an oracle written here without the code under test: the
loss summed pair by pair in NumPy from its definition (weights, margins and regularisers
included), its gradient from the formulas of ``tests/helpers.py``, the Frank-Wolfe gap by
enumerating the n + 1 step vectors, the strong-concavity bound by scipy's isotonic
regression, and closed forms where they exist (min-linear, IPO's equal gaps).

The contract (``collapse-theory solve --loss SPEC --n N --format json``): exit 0 or 1 with a
status for every valid problem (1 exactly when some status is ``not_converged`` or
``failed``), or exit 2 with one line on stderr and nothing on stdout; every certified answer
agrees with the independent evaluation.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.optimize
import scipy.special
from helpers import error_line, numpy_utility

from collapse_theory._core import compilation_cache as _compilation_cache
from collapse_theory.laws.loss_laws import NoLimitError, field_limit, loss_limit
from collapse_theory.problems.losses import Loss, LossSpecError, parse_loss
from collapse_theory.solver.loss_solver import estimated_memory, loss_value, solve_loss
from collapse_theory.solver.status import Status

ROOT = Path(__file__).resolve().parents[1]

#: The solver's tolerance, and the independent checks' allowance: ten times it, for the
#: rounding of a second evaluation summed in another order.
TOL = 1e-10
CHECK = 10 * TOL


# --- the independent oracle ----------------------------------------------------------------


def _weights(loss: Loss, n: int) -> np.ndarray:
    """w_ij (i < j), LiPO-lambda from its definition: abs(2^(n-i) - 2^(n-j)) abs(1/log2(1+i) - 1/log2(1+j))."""
    w = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            if loss.lipo:
                w[i, j] = abs(2.0 ** (n - 1 - i) - 2.0 ** (n - 1 - j)) * abs(1 / math.log2(2 + i) - 1 / math.log2(2 + j))
            else:
                w[i, j] = 1.0
    return w


def _pair_utility(loss: Loss) -> tuple[Any, Any]:
    """U and U' of the pairwise objective, from the formulas (helpers.numpy_utility for the families)."""
    if loss.objective == "ipo":
        tau = float(loss.parameter or 0.0)
        return (lambda x: -((x - tau) ** 2)), (lambda x: -2.0 * (x - tau))
    if loss.objective == "min-linear":
        t = float(loss.parameter or 0.0)
        return (lambda x: np.minimum(x, t)), (lambda x: np.where(x < t, 1.0, 0.0))
    assert loss.utility is not None
    family = numpy_utility(loss.utility.spec)
    return family.value, family.first


def oracle(loss: Loss, rewards: Any) -> tuple[float, np.ndarray, float]:
    """F(r), its gradient, and the scale abs(term) + abs(R) + sum abs(g) max(1, range r), pair by pair."""
    r = np.asarray(rewards, dtype=np.float64)
    n = r.size
    term, gradient = 0.0, np.zeros(n)
    if loss.objective == "plackett-luce":
        b = float(loss.parameter or 0.0)
        for i in range(n - 1):
            tail = b * r[i:]
            term += b * r[i] - scipy.special.logsumexp(tail)
            gradient[i] += b
            gradient[i:] -= b * scipy.special.softmax(tail)
    else:
        value, first = _pair_utility(loss)
        w = _weights(loss, n)
        for i in range(n):
            for j in range(i + 1, n):
                x = r[i] - r[j] - loss.margin - loss.rank_margin * (j - i)
                term += w[i, j] * float(value(x))
                slope = w[i, j] * float(first(x))
                gradient[i] += slope
                gradient[j] -= slope
    penalty = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            penalty += loss.l2 / 2 * (r[i] ** 2 + r[j] ** 2) + loss.center * (r[i] + r[j]) ** 2
            gradient[i] -= loss.l2 * r[i] + 2 * loss.center * (r[i] + r[j])
            gradient[j] -= loss.l2 * r[j] + 2 * loss.center * (r[i] + r[j])
    spread = float(r.max() - r.min())
    scale = abs(term) + abs(penalty) + float(np.abs(gradient).sum()) * max(1.0, spread)
    return term - penalty, gradient, scale


def step_gap(gradient: np.ndarray, rewards: np.ndarray) -> float:
    """max_k <g, e_k - r> over the n + 1 step vectors, enumerated."""
    n = rewards.size
    return max(float(np.dot(gradient, np.r_[np.ones(k), np.zeros(n - k)] - rewards)) for k in range(n + 1))


def strong_concavity_bound(loss: Loss, gradient: np.ndarray, rewards: np.ndarray) -> float:
    """F* - F(r) for free rewards, from F's strong concavity on the order cone (the test's own moduli).

    On mean-zero directions F is at least mu = BETA (n-1) + 2 C (n-2) (+ 2 n min w for IPO)
    strongly concave; along the mean it is the quadratic -(kappa/2) n m^2, kappa = BETA (n-1)
    + 2 C (2n - 2). With lower gap bounds l (a singular U with margins), K = {y_k - y_{k+1} >= l_k}.
    """
    n = rewards.size
    mu = loss.l2 * (n - 1) + 2 * loss.center * (n - 2)
    if loss.objective == "ipo":
        w = _weights(loss, n)
        mu += 2 * n * w[np.triu_indices(n, 1)].min()
    kappa = loss.l2 * (n - 1) + 2 * loss.center * (2 * n - 2)
    lower = np.full(n - 1, loss.margin + loss.rank_margin if loss.singular else 0.0)
    offset = np.r_[np.cumsum(lower[::-1])[::-1], 0.0]
    mean = rewards.mean()
    centred = rewards - mean
    g = gradient - gradient.mean()
    projected = offset + scipy.optimize.isotonic_regression(centred + g / mu - offset, increasing=False).x
    step = projected - centred
    return max(0.0, float(g @ step - mu / 2 * step @ step)) + kappa / 2 * n * mean**2


def min_linear_optimum(loss: Loss, n: int) -> tuple[float, bool]:
    """max F for min-linear, and whether it is exact: a closed form, or scipy's LP in the kink's units (the test's own)."""
    t = float(loss.parameter or 0.0)
    w = _weights(loss, n)
    total = float(w[np.triu_indices(n, 1)].sum())
    if loss.free or (n - 1) * (t + loss.margin + loss.rank_margin) <= 1.0:
        return t * total, True  # min(x - m, T) <= T, attained by gaps T + M + M_rank (bounded: they fit in [0, 1])
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    unit = min(t, 1.0)
    # variables: n gaps-and-base d (r_i = sum_{k >= i} d_k), then t_ij; all in units of `unit`
    rows, upper = [], []
    for p, (i, j) in enumerate(pairs):
        row = np.zeros(n + len(pairs))
        row[i:j] = -1.0
        row[n + p] = 1.0
        rows.append(row)
        upper.append(-(loss.margin + loss.rank_margin * (j - i)) / unit)
    top = np.r_[np.ones(n), np.zeros(len(pairs))]
    cost = np.r_[np.zeros(n), -np.array([w[i, j] for i, j in pairs])]
    bounds = [(0, None)] * n + [(None, t / unit)] * len(pairs)
    result = scipy.optimize.linprog(cost, A_ub=np.vstack([*rows, top]), b_ub=np.r_[upper, 1.0 / unit], bounds=bounds)
    assert result.status == 0, result.message
    return -float(result.fun) * unit, False


# --- the contract --------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``collapse-theory ARGUMENTS`` in-process (argparse's exits included)."""
    from collapse_theory.cli import main

    try:
        code = main(list(arguments))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def check_answer(record: dict[str, Any]) -> None:
    """A solve's JSON record against the oracle: its status's promises, and every certified number."""
    loss = parse_loss(record["loss"])
    n = record["n"]
    status = Status(record["status"])
    assert record["converged"] == (status not in (Status.NOT_CONVERGED, Status.FAILED))
    if status is Status.UNBOUNDED:
        direction = np.asarray(record["direction"])
        assert record["rewards"] is None and direction.shape == (n,)
        assert direction[0] == pytest.approx(1.0) and direction[-1] == pytest.approx(0.0)
        assert np.all(np.diff(direction) <= 1e-12)
        shape = direction - direction.mean()  # the mean is free, and a regulariser is least at mean 0
        # far enough out that every pair clears its margin (a singular U is defined only there)
        gaps = -np.diff(direction)
        far = (1.0 + loss.margin + loss.rank_margin * n) / float(np.min(gaps[gaps > 0]))
        values = [oracle(loss, s * far * shape)[0] for s in (1.0, 10.0, 100.0)]
        # F grows along the direction (no maximiser); a saturating U may reach its supremum in float64
        assert all(math.isfinite(v) for v in values) and values[0] <= values[1] <= values[2]
        return
    if not record["certified"]:
        return
    r = np.asarray(record["rewards"], dtype=np.float64)
    assert r.shape == (n,) and np.all(np.diff(r) <= 0.0)
    if not loss.free:
        assert r[0] <= 1.0 and r[-1] >= 0.0
    value, gradient, scale = oracle(loss, r)
    assert record["objective"] == pytest.approx(value, rel=0, abs=CHECK * scale)
    if loss.objective == "min-linear":
        best, exact = min_linear_optimum(loss, n)
        # HiGHS's own feasibility tolerance (1e-7, in the kink's units) bounds the LP oracle's error
        allowance = CHECK * scale + (0.0 if exact else 1e-7 * abs(best))
        assert abs(value - best) <= allowance
        return
    if loss.free:
        assert strong_concavity_bound(loss, gradient, r) <= CHECK * scale
    else:
        assert step_gap(gradient, r) <= CHECK * scale


def check_contract(code: int, out: str, err: str) -> list[dict[str, Any]]:
    """Exit 0 or 1 with strict JSON and a status each (1 iff one did not converge), or exit 2 and one line."""
    assert code in (0, 1, 2), (code, err)
    if code == 2:
        error_line(err)
        assert out == ""
        return []
    records = json.loads(out, parse_constant=lambda token: pytest.fail(f"non-strict JSON {token}"))
    statuses = [Status(record["status"]) for record in records]
    assert (code == 1) == any(s in (Status.NOT_CONVERGED, Status.FAILED) for s in statuses), err
    return records


def _spec(rng: np.random.Generator, objectives: list[str], heavy: bool) -> str:
    """A random loss spec: an objective with a parameter over many decades, a placement, and extra terms."""

    def decades(low: float, high: float) -> str:
        return f"{10 ** rng.uniform(low, high):.3g}"

    objective = str(rng.choice(objectives))
    if objective in ("log-sigmoid", "exp", "plackett-luce", "min-linear", "ipo"):
        objective += ":" + decades(-9 if objective == "min-linear" else -2, 1 if objective != "log-sigmoid" else 3)
    elif objective in ("power", "neg-power"):
        objective += ":" + f"{rng.uniform(0.05, 0.95 if objective == 'power' else 2.0):.3g}"
    terms = [objective]
    terms += [str(rng.choice(["free", "bounded", ""]))]
    for name, low, high in (("l2", -4, 2), ("center", -4, 1), ("margin", -3, -0.5), ("rank-margin", -4, -1)):
        if rng.uniform() < (0.4 if heavy else 0.25):
            terms.append(f"{name}:{decades(low, high)}")
    if rng.uniform() < 0.2:
        terms.append("lipo")
    return "+".join(term for term in terms if term)


def _cases(count: int, seed: int, objectives: list[str], largest: int, heavy: bool) -> list[tuple[str, int]]:
    rng = np.random.default_rng(seed)
    return [(_spec(rng, objectives, heavy), int(rng.integers(2, largest + 1))) for _ in range(count)]


#: The default run: objectives whose programs the loss tests compile anyway, n within one padded size.
FAST_CASES = _cases(48, 24, ["log-sigmoid", "ipo", "min-linear", "linear", "plackett-luce", "log"], 8, False)
#: The slow run: every objective, more terms, n up to 24 (three padded sizes).
SLOW_CASES = _cases(
    240,
    2024,
    ["log-sigmoid", "ipo", "min-linear", "linear", "plackett-luce", "log", "power", "neg-power", "exp", "square"],
    24,
    True,
)


@pytest.mark.parametrize(("spec", "n"), FAST_CASES)
def test_fuzzed_loss_specs_keep_the_contract(capsys: pytest.CaptureFixture[str], spec: str, n: int) -> None:
    code, out, err = run_cli(capsys, "solve", "--loss", spec, "--n", str(n), "--format", "json")
    for record in check_contract(code, out, err):
        check_answer(record)


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "n"), SLOW_CASES)
def test_fuzzed_loss_specs_keep_the_contract_widely(capsys: pytest.CaptureFixture[str], spec: str, n: int) -> None:
    code, out, err = run_cli(capsys, "solve", "--loss", spec, "--n", str(n), "--format", "json")
    for record in check_contract(code, out, err):
        check_answer(record)


# --- the linear-program path (W1, W2, C6) -----------------------------------------------------


@pytest.mark.parametrize("n", [3, 8, 20])
@pytest.mark.parametrize("t", [1e-8, 1e-12])
def test_tiny_kinks_are_solved_in_their_own_scale(t: float, n: int) -> None:
    # oracle: every gap >= T fits in [0, 1], so F* = T n (n-1)/2 (bounded) and = T n (n-1)/2 (free)
    for spec in (f"min-linear:{t}", f"min-linear:{t}+free"):
        solution = solve_loss(spec, n)
        assert solution.rewards is not None
        value, _, _ = oracle(parse_loss(spec), solution.rewards)
        optimum = t * n * (n - 1) / 2
        if solution.certified:
            assert value == pytest.approx(optimum, rel=1e-9)
            assert solution.objective == pytest.approx(value, rel=1e-12)


def test_a_wrong_linear_program_answer_is_not_certified() -> None:
    # the reported objective is F at the returned rewards, and the gap a bound from them: the
    # old answer (1,1,1,1,0,0,0,0) reaches 16 T of 28 T, so it cannot be certified
    from collapse_theory.solver._loss_lp import min_linear_bound, min_linear_value

    loss = parse_loss("min-linear:1e-8")
    wrong = np.r_[np.ones(4), np.zeros(4)]
    value, _ = min_linear_value(loss, wrong)
    assert value == pytest.approx(16e-8, rel=1e-12)
    # any slopes in [0, 1] give an upper bound: the tight ones reach 28 T
    assert min_linear_bound(loss, 8, np.ones(28)) >= 28e-8 * (1 - 1e-12)
    assert min(
        min_linear_bound(loss, 8, rng_slopes) for rng_slopes in np.random.default_rng(0).uniform(size=(20, 28))
    ) >= 28e-8 * (1 - 1e-12)


@pytest.mark.parametrize("n", [46, 50, 61, 62, 100, 400])
def test_linear_with_lipo_is_the_best_step_vector(n: int) -> None:
    # oracle: F is linear in r, so its maximum is the best of the n + 1 step vectors, compared in
    # exact rational arithmetic on the weights (the top gains are exact powers of two)
    from fractions import Fraction

    solution = solve_loss("linear+lipo", n)
    assert solution.status is Status.OPTIMAL and solution.certified, solution.message
    w = _weights(parse_loss("linear+lipo"), n)
    g = [Fraction(0)] * n
    for i in range(n):
        for j in range(i + 1, n):
            g[i] += Fraction(w[i, j])
            g[j] -= Fraction(w[i, j])
    prefix = [sum(g[:k], Fraction(0)) for k in range(n + 1)]
    best = max(range(n + 1), key=lambda k: prefix[k])
    assert sum(1 for p in prefix if p == prefix[best]) == 1  # unique
    assert solution.rewards is not None
    np.testing.assert_array_equal(solution.rewards, np.r_[np.ones(best), np.zeros(n - best)])
    assert solution.objective == pytest.approx(float(prefix[best]), rel=1e-12)


def test_ties_between_step_vectors_are_a_face() -> None:
    # linear alone: P_k = k (n - k); odd n ties k = (n -+ 1)/2 exactly
    solution = solve_loss("linear+margin:0.1", 7)
    assert solution.status is Status.NON_UNIQUE and solution.certified


def test_min_linear_values_are_evaluated() -> None:
    assert loss_value("min-linear:0.3", [1, 0]) == pytest.approx(0.3)
    assert loss_value("min-linear:0.3+margin:0.8", [1, 0]) == pytest.approx(0.2)


# --- terms applied or refused, and the plain utilities (W6, P7) -------------------------------


@pytest.mark.parametrize("spec", ["plackett-luce:1+rank-margin:5", "plackett-luce:1+margin:0.1", "listmle+lipo"])
def test_plackett_luce_refuses_pair_terms(capsys: pytest.CaptureFixture[str], spec: str) -> None:
    with pytest.raises(LossSpecError, match="Plackett-Luce has no pairs"):
        parse_loss(spec)
    for command in (["solve", "--loss", spec, "--n", "4"], ["train", "--loss", spec, "--steps", "2"]):
        code, out, err = run_cli(capsys, *command)
        assert code == 2 and out == ""
        assert "Plackett-Luce has no pairs" in error_line(err)


@pytest.mark.parametrize("n", [4, 5])
def test_loss_square_is_utility_square(capsys: pytest.CaptureFixture[str], n: int) -> None:
    code, out, _ = run_cli(capsys, "solve", "--loss", "square", "--n", str(n), "--format", "json")
    (loss_record,) = json.loads(out)
    assert code == 0
    code, out, _ = run_cli(capsys, "solve", "--utility", "square", "--n", str(n), "--format", "json")
    (utility_record,) = json.loads(out)
    assert code == 0
    assert loss_record["rewards"] == utility_record["rewards"] and loss_record["objective"] == utility_record["objective"]
    # one status for both spellings of the problem: a convex U's best step vector is exact, not gap-certified
    assert loss_record["status"] == utility_record["status"] and loss_record["converged"]
    assert loss_record["status"] in ("exact_vertex", "optimal") and loss_record["certified"] == utility_record["certified"]
    # oracle: U = x^2 is convex, so the best of the n + 1 step vectors, enumerated
    values = [
        sum((a - b) ** 2 for i, a in enumerate(v) for b in v[i + 1 :])
        for v in (np.r_[np.ones(k), np.zeros(n - k)] for k in range(n + 1))
    ]
    assert loss_record["objective"] == max(values)


# --- well-posed problems converge (P15) ------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "n"),
    [
        ("log-sigmoid:1e8+free+l2:1", 4),
        ("log-sigmoid:1+free+l2:1e6", 3),
        ("log-sigmoid:1+free+l2:1e6", 8),
        ("power:1e-9+free+l2:1", 4),
        ("ipo-margin:0.5+center:1e-300", 4),
    ],
)
def test_well_posed_extremes_are_certified(spec: str, n: int) -> None:
    loss = parse_loss(spec)
    solution = solve_loss(spec, n)
    assert solution.certified and solution.status is Status.OPTIMAL, solution.message
    assert solution.gap is not None and math.isfinite(solution.gap)
    assert solution.rewards is not None
    value, gradient, scale = oracle(loss, solution.rewards)
    assert solution.objective == pytest.approx(value, rel=0, abs=CHECK * scale)
    assert strong_concavity_bound(loss, gradient, solution.rewards) <= CHECK * scale


def test_ipo_with_a_negligible_center_keeps_ipos_equal_gaps() -> None:
    solution = solve_loss("ipo-margin:0.5+center:1e-300", 5)
    assert solution.rewards is not None
    np.testing.assert_allclose(-np.diff(solution.rewards), 2 * 0.5 / 5, rtol=1e-12)


# --- limit laws (P6, W4) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "half_width"), [("ipo-margin:0.5+l2:1", 1 / 3), ("ipo-margin:0.3+margin:0.1+center:0.5", 0.8 / 3)]
)
def test_ipo_with_terms_has_its_uniform_law(spec: str, half_width: float) -> None:
    # oracle: r_i = (TAU + M)(n + 1 - 2i) / (n + rho) in closed form, at n = 4000
    loss = parse_loss(spec)
    n = 4000
    rho = loss.l2 * (n - 1) / 2 + loss.center * (n - 2)
    assert loss.parameter is not None
    top = (loss.parameter + loss.margin) * (n - 1) / (n + rho)
    law = loss_limit(spec)
    assert law.support == pytest.approx((-half_width, half_width), rel=1e-12)
    assert top == pytest.approx(half_width, rel=1e-3)
    assert law.variance == pytest.approx(half_width**2 / 3, rel=1e-12)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("plackett-luce:1+l2:0.1", "bounded losses beyond a plain utility"),
        ("ipo-margin:0.7+bounded", "exceeds [0, 1]"),
        ("log+margin:0.1", "no maximiser for large n"),
        ("bradley-terry", "no maximiser at any n"),
        ("min-linear:0.3+free", "unbounded face"),
        ("log-sigmoid:1+rank-margin:0.1", "change with n"),
    ],
)
def test_losses_without_a_law_say_why(spec: str, reason: str) -> None:
    with pytest.raises(NoLimitError, match=re.escape(reason)):
        loss_limit(spec)


def test_bounded_ipo_that_fits_has_a_shifted_uniform_law() -> None:
    law = loss_limit("ipo-margin:0.25+bounded")
    assert law.support == pytest.approx((0.25, 0.75))
    solution = solve_loss("ipo-margin:0.25+bounded", 200)
    assert solution.rewards is not None
    assert solution.rewards.max() == pytest.approx(0.75, abs=0.25 * 2 / 200 + 1e-12)


def test_bounded_plackett_luce_has_its_atoms_and_uniform_law() -> None:
    # oracle: the certified solve at n = 32 (fractions at 1 and 0 approach the law's atoms like 1/n: 0.007 and 0.012 off here)
    law = loss_limit("plackett-luce:1")
    top, bottom = (math.e - 1) / (math.e + 1), 1 / (math.e + 1)
    assert law.cdf(0.0) == pytest.approx(bottom, rel=1e-12)
    assert 1 - law.cdf(np.nextafter(1.0, 0.0)) == pytest.approx(top, rel=1e-12)
    solution = solve_loss("plackett-luce:1", 32)
    assert solution.certified and solution.rewards is not None
    assert np.mean(solution.rewards >= 1 - 1e-9) == pytest.approx(top, abs=0.025)
    assert np.mean(solution.rewards <= 1e-9) == pytest.approx(bottom, abs=0.02)


def test_a_law_outside_its_window_is_an_error() -> None:
    with pytest.raises(NoLimitError, match="did not fit"):
        field_limit("log-sigmoid:1+free+l2:0.5", cells=20, half_width=1e-6)


# --- memory (C4) -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        ["solve", "--loss", "open-assistant", "--n", "100000"],
        ["explore", "--loss", "open-assistant", "--n", "100000"],
        ["solve", "--loss", "bradley-terry", "--n", "1e10"],
        ["solve", "--loss", "linear+margin:0.1", "--n", "1000000"],
    ],
)
def test_sizes_beyond_memory_are_refused_before_any_work(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, arguments: list[str]
) -> None:
    monkeypatch.setenv("COLLAPSE_THEORY_MEMORY_LIMIT", str(8 * 2**30))
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *arguments)
    assert code == 2 and out == ""
    assert "needs about" in error_line(err)
    assert list(tmp_path.iterdir()) == []


def test_the_memory_estimate_grows_with_every_path() -> None:
    for spec in ("open-assistant", "ipo:0.5", "log+l2:0.1", "bradley-terry", "min-linear:0.3", "linear+lipo", "log"):
        small, large = estimated_memory(spec, 100), estimated_memory(spec, 10_000)
        assert 0 < small < large


# --- the compilation cache (W7, C9) ----------------------------------------------------------


def test_swapped_cache_entries_are_misses(tmp_path: Path) -> None:
    entries = _compilation_cache.KeyedEntries(tmp_path)
    entries.put("first", b"program one")
    entries.put("second", b"program two")
    one, two = (tmp_path / "first-keyed").read_bytes(), (tmp_path / "second-keyed").read_bytes()
    (tmp_path / "first-keyed").write_bytes(two)
    (tmp_path / "second-keyed").write_bytes(one)
    with pytest.warns(UserWarning, match="Error reading persistent compilation cache entry"):
        assert entries.get("first") is None
    with pytest.warns(UserWarning, match="not this key's whole entry"):
        assert entries.get("second") is None
    (tmp_path / "first-keyed").write_bytes(one[:-3])  # cut short
    with pytest.warns(UserWarning):
        assert entries.get("first") is None
    entries.put("first", b"program one")  # a miss is rewritten in place
    assert entries.get("first") == b"program one"


def _solve_in_a_fresh_process(cache_home: Path, spec: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(cache_home)}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    command = [sys.executable, "-m", "collapse_theory.cli", "solve", "--loss", spec, "--n", "6", "--format", "json"]
    process = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert process.returncode == 0, process.stderr
    (record,) = json.loads(process.stdout)
    return record


@pytest.mark.slow
def test_swapped_compiled_programs_never_answer_for_each_other(tmp_path: Path) -> None:
    # two programs of one signature (the free Newton loop of exp and of log-sigmoid at padded size 8)
    first = _solve_in_a_fresh_process(tmp_path, "exp:1+free+l2:1")
    second = _solve_in_a_fresh_process(tmp_path, "log-sigmoid:1+free+l2:1")
    folder = tmp_path / "collapse_theory" / "jax-compilation"
    a, b = sorted(folder.glob("jit_projected_newton-*-keyed"))
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    assert _solve_in_a_fresh_process(tmp_path, "exp:1+free+l2:1")["rewards"] == first["rewards"]
    assert _solve_in_a_fresh_process(tmp_path, "log-sigmoid:1+free+l2:1")["rewards"] == second["rewards"]


# --- training (P15) ---------------------------------------------------------------------------


def test_a_loss_underflowed_to_zero_is_not_the_terminal_phase() -> None:
    from collapse_theory.training.trainer import terminal_phase

    # a learning rate of 1e30 saturates the log-sigmoid: the float32 loss is exactly 0 and flat
    assert not terminal_phase(1.0, 0.0, np.array([3.2, 0.0, 0.0], dtype=np.float32))
    assert terminal_phase(1.0, 0.0, np.array([3.2, 1e-30, 1e-30], dtype=np.float32))
    assert not terminal_phase(0.99, 0.0, np.array([3.2, 0.1, 0.1]))
