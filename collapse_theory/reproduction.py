"""The main job: regenerate every figure and a claim-by-claim verification report.

:func:`reproduce` runs, in order, the steps below; each step's results are
cached (JSON, atomically written) under ``OUT/.cache`` keyed by the run's
settings, so an interrupted run loses at most the step it was in and a rerun
finishes the work. Figures (PNG and SVG) and ``report.md`` / ``report.json``
are written atomically at the end.

Steps: the Gauss-Lobatto optimum of ``log``; optimal rewards at a large n for
every built-in with its limit law; convergence to the closed forms; the family
map; numerical limits of ``log-sigmoid:B`` and ``exp:B``; and five training
runs on synthetic prompts (four single utilities, one prompt-aware scheme).
Then the smoothed utility -1/(x + 0.1) of the paper's experiments: its limit law has
atoms at the ends, unlike the uniform law of ``neg-power:1``.

The report (``report.md``, ``report.json``) gives every claim a stable id, a one-line
summary of the measured numbers (three significant figures; ``report.json`` keeps the
full values), the tolerance and the verdict, then the settings, the software versions
and the project's version, and a caption under every figure. It is deterministic: two
runs with the same seed and code give identical reports, except for the section
``This run`` (report.md) and the ``run`` object (report.json), which hold the date, the
wall-clock time and how many steps came from the cache. Step timings go to
``.cache/timings.json``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from collapse_theory._io import atomic_savefig, atomic_write_json, atomic_write_text
from collapse_theory.laws import Atom, Law

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from collapse_theory.training.diagnostics import SplitDiagnostics

__all__ = ["Claim", "Reproduction", "Settings", "reproduce", "smoothed_neg_power"]

#: The figures, by file stem, in the order they are made.
FIGURES = ("reward_curves", "training_snapshots", "limit_laws", "convergence", "family_map", "numerical_limits")

SINGLE_UTILITIES = ("linear", "log", "neg-power:1", "log-sigmoid:4")
PROMPT_AWARE = (("closed", "linear"), ("open", "neg-power:1"))
LIMIT_UTILITIES = ("linear", "power:0.5", "log", "neg-power:0.5", "neg-power:1", "log-sigmoid:4", "exp:1", "square")
CONVERGENCE_UTILITIES = ("power:0.5", "log", "neg-power:0.5", "neg-power:2", "linear")
NUMERICAL_UTILITIES = ("log-sigmoid:1", "log-sigmoid:4", "log-sigmoid:16", "exp:1", "exp:4", "exp:16")
GAUSS_LOBATTO_TOLERANCE = 1e-10
#: The snapshot steps of the training figure besides the last: collapse under way (log-sigmoid:4
#: on the synthetic prompts: collapse score about 0.46 at step 20, 0.05 at step 60, 0.002 at 200).
SNAPSHOT_STEPS = (20, 60)
#: The runs of the training figure.
SNAPSHOT_RUNS = ("log-sigmoid:4", "prompt-aware")
#: The smoothed -1/x of the paper's experiments: U(x) = -1/(x + SMOOTHING).
SMOOTHING = 0.1
#: The tolerances of the smoothed utility's claim: each end's atom mass in this range, the
#: Kolmogorov-Smirnov distance to the uniform law above this, and the finite-n optimum's tied
#: fraction at each end within this of the atom mass. Measured: atoms 0.0895, KS 0.0988; ties
#: 6 of 64 (0.094) and 18 of 200 (0.090).
SMOOTHED_ATOM_RANGE = (0.05, 0.15)
SMOOTHED_MIN_KOLMOGOROV_SMIRNOV = 0.05
SMOOTHED_TIE_TOLERANCE = 0.02
#: Rewards within this of 0 or 1 count as tied at that end.
TIE_TOLERANCE = 1e-8


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Sizes of one reproduction (``quick`` is the reduced, few-minute version).

    Attributes:
        quick: the reduced run.
        seed: the seed of the synthetic data and of training.
        prompts: synthetic prompts of the training runs (n = 8 completions each).
        steps: optimizer steps of each training run.
        snapshot_steps: the training figure's snapshot steps before the last.
        limit_n: n of the limit-law histograms and of the certified solves.
        gauss_lobatto_ns: the n checked against the Gauss-Lobatto nodes.
        convergence_ns: the n of the convergence studies.
        family_exponents: the exponents g of the family map.
        family_n: n of the family map's moment fits and of the smoothed utility's optimum.
    """

    quick: bool
    seed: int
    prompts: int
    steps: int
    snapshot_steps: tuple[int, ...]
    limit_n: int
    gauss_lobatto_ns: tuple[int, ...]
    convergence_ns: tuple[int, ...]
    family_exponents: tuple[float, ...]
    family_n: int

    @classmethod
    def make(cls, quick: bool, seed: int) -> Settings:
        """The settings of a full or a quick run."""
        if quick:
            return cls(
                quick=True,
                seed=seed,
                prompts=400,
                steps=600,
                snapshot_steps=SNAPSHOT_STEPS,
                limit_n=200,
                gauss_lobatto_ns=(8, 64, 200),
                convergence_ns=(8, 16, 32, 64),
                family_exponents=tuple(float(g) for g in np.round(np.linspace(-1.5, 0.9, 13), 3)),
                family_n=64,
            )
        return cls(
            quick=False,
            seed=seed,
            prompts=2000,
            steps=600,
            snapshot_steps=SNAPSHOT_STEPS,
            limit_n=1000,
            gauss_lobatto_ns=(8, 64, 256, 1000, 2000),
            convergence_ns=(16, 32, 64, 128, 256, 512, 1024),
            family_exponents=tuple(float(g) for g in np.round(np.linspace(-2.0, 0.95, 60), 3)),
            family_n=200,
        )

    def key(self) -> str:
        """A short hash of the settings and of the code (cache entries of other settings or code are ignored)."""
        keyed = {"settings": asdict(self), "code": code_version()}
        return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One claim of the paper, its measured numbers, the tolerance and the verdict.

    Attributes:
        id: a short stable slug (``gauss-lobatto``, ``convergence-log``, ``training-prompt-aware``).
        claim: the statement checked.
        summary: the measured numbers in one line of prose, three significant figures.
        measured: the full measured values (``report.json``).
        tolerance: what the measured numbers must satisfy.
        passed: whether they do.
    """

    id: str
    claim: str
    summary: str
    measured: dict[str, Any]
    tolerance: str
    passed: bool

    @property
    def verdict(self) -> str:
        """``PASS`` or ``FAIL``."""
        return "PASS" if self.passed else "FAIL"


@functools.cache
def code_version() -> str:
    """The package version and a hash of the library's source files.

    Part of every cache key, so a cache entry written by other code (an edited
    library, another release) is never read back as if this code had computed it.
    """
    from collapse_theory import __version__

    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode() + b"\0")
        digest.update(source.read_bytes() + b"\0")
    return f"{__version__}+{digest.hexdigest()[:16]}"


def clear_cache(out: str | Path, settings: Settings) -> int:
    """Remove the cache entries of ``settings`` under ``out/.cache`` (``reproduce --force``); the count removed."""
    removed = 0
    for entry in (Path(out) / ".cache").glob(f"*-{settings.key()}.json"):
        entry.unlink(missing_ok=True)
        removed += 1
    return removed


class _Steps:
    """Runs named steps with progress lines and a JSON cache under OUT/.cache.

    An entry is ``{"step": name, "key": settings key, "value": result}``. Since it is
    only a cache, an entry that cannot be read back whole (truncated, not JSON, not
    this step's) is discarded with a warning naming the file and the step recomputed.
    """

    def __init__(self, out: Path, settings: Settings, stream: TextIO | None) -> None:
        self.cache = out / ".cache"
        self.settings = settings
        self.stream = stream
        self.timings: dict[str, float] = {}

    def run(self, name: str, index: int, total: int, compute: Callable[[], Any]) -> Any:
        key = self.settings.key()
        path = self.cache / f"{name}-{key}.json"
        cached = self._read(path, name, key)
        if cached is not None:
            self._say(f"[{index}/{total}] {name}: cached")
            return cached["value"]
        self._say(f"[{index}/{total}] {name} ...")
        start = time.perf_counter()
        # the JSON round trip makes a fresh result identical to a cached one (report determinism)
        value = json.loads(json.dumps(_plain(compute()), sort_keys=True))
        self.timings[name] = round(time.perf_counter() - start, 3)
        atomic_write_json(path, {"step": name, "key": key, "value": value})
        self._say(f"[{index}/{total}] {name}: done in {self.timings[name]:.1f} s")
        return value

    def _read(self, path: Path, name: str, key: str) -> dict[str, Any] | None:
        """The cache entry at ``path``, or None when absent or damaged (then removed)."""
        if not path.exists():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if not (isinstance(entry, dict) and entry.keys() == {"step", "key", "value"}):
                raise ValueError("not a cache entry of this version")
            if entry["step"] != name or entry["key"] != key:
                raise ValueError(f"an entry of step {entry['step']!r}, key {entry['key']!r}")
        except (ValueError, OSError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            message = f"warning: damaged cache entry {path} ({reason}): discarded, recomputing {name}"
            if self.stream is not None:
                print(message, file=self.stream, flush=True)
            else:
                warnings.warn(message, RuntimeWarning, stacklevel=3)
            path.unlink(missing_ok=True)
            return None
        return entry

    def _say(self, line: str) -> None:
        if self.stream is not None:
            print(line, file=self.stream, flush=True)


def _plain(value: Any) -> Any:
    """JSON-ready copy: arrays to lists, NumPy scalars to Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


# --- the computations -----------------------------------------------------------------


def _gauss_lobatto(settings: Settings) -> dict[str, Any]:
    from collapse_theory.limits import gauss_lobatto_rewards
    from collapse_theory.solver import solve

    errors, certified = {}, {}
    for n in settings.gauss_lobatto_ns:
        solution = solve("log", n)
        errors[str(n)] = float(np.max(np.abs(solution.rewards - gauss_lobatto_rewards(n))))
        certified[str(n)] = bool(solution.converged and solution.certified)
    return {"max_abs_error": errors, "certified": certified}


def _law_on_grid(law: Law, grid: np.ndarray) -> dict[str, Any]:
    """The continuous part's density on a grid (a numerical law's own mesh) and the atoms."""
    grid = getattr(law, "grid", grid)
    continuous = law.continuous_mass > 0.0
    return {
        "grid": grid if continuous else [],
        "density": law.pdf(grid) if continuous else [],
        "atoms": [[atom.location, atom.mass] for atom in law.atoms],
        "atom_mass": float(sum(atom.mass for atom in law.atoms)),
    }


def _limit_laws(settings: Settings) -> dict[str, Any]:
    from collapse_theory.distances import distance
    from collapse_theory.limits import describe_limit, limit
    from collapse_theory.numerical_laws import numerical_limit
    from collapse_theory.solver import solve_many

    grid = np.linspace(0.0025, 0.9975, 400)
    items = []
    for solution in solve_many(LIMIT_UTILITIES, settings.limit_n):
        closed = limit(solution.utility)
        law: Law = numerical_limit(solution.utility) if closed is None else closed
        name = "numerical limit" if closed is None else describe_limit(closed)
        items.append(
            {
                "spec": solution.utility,
                "rewards": solution.rewards,
                "converged": solution.converged,
                "certified": solution.certified,
                "gap": solution.gap,
                "law_name": name,
                "law": _law_on_grid(law, grid),
                "kolmogorov_smirnov": distance(solution.rewards, law).kolmogorov_smirnov,
            }
        )
    return {"n": settings.limit_n, "items": items}


def _convergence(settings: Settings) -> list[dict[str, Any]]:
    from collapse_theory.convergence_studies import convergence_many

    studies = []
    for study in convergence_many(CONVERGENCE_UTILITIES, settings.convergence_ns):
        points = study.points
        studies.append(
            {
                "utility": study.utility,
                "ns": [p.n for p in points],
                "kolmogorov_smirnov": [p.kolmogorov_smirnov for p in points],
                "wasserstein": [p.wasserstein for p in points],
                "kolmogorov_smirnov_slope": None
                if study.kolmogorov_smirnov_rate is None
                else study.kolmogorov_smirnov_rate.slope,
                "wasserstein_slope": None if study.wasserstein_rate is None else study.wasserstein_rate.slope,
                "all_certified": all(p.converged for p in points),
            }
        )
    return studies


def _family_map(settings: Settings) -> dict[str, Any]:
    import scipy.stats

    from collapse_theory.design import beta_parameter_sweep, limit_beta_parameter

    sweep = beta_parameter_sweep(list(settings.family_exponents), settings.family_n)
    grid = np.linspace(0.005, 0.995, 199)
    closed = [limit_beta_parameter(g) for g in settings.family_exponents]
    densities = [scipy.stats.beta(max(a, 0.02), max(a, 0.02)).pdf(grid) for a in closed]
    return {
        "n": settings.family_n,
        "exponents": list(settings.family_exponents),
        "closed_form_a": closed,
        "fitted_a": [p.fitted_beta_parameter for p in sweep.points],
        "converged": [p.converged for p in sweep.points],
        "grid": grid,
        "densities": densities,
    }


def _numerical_limits(settings: Settings) -> list[dict[str, Any]]:
    from collapse_theory.numerical_laws import numerical_limit

    items = []
    for spec in NUMERICAL_UTILITIES:
        law = numerical_limit(spec)
        items.append({"spec": spec, "law": _law_on_grid(law, law.grid), "error_estimate": law.error_estimate, "mean": law.mean})
    return items


def _numerical_cross_check(settings: Settings) -> dict[str, float]:
    from collapse_theory.distances import law_distance
    from collapse_theory.limits import limit
    from collapse_theory.numerical_laws import numerical_limit

    return {spec: law_distance(numerical_limit(spec), limit(spec)) for spec in ("log", "power:0.5", "neg-power:0.5", "linear")}


def smoothed_neg_power(smoothing: float = SMOOTHING) -> Any:
    """The paper's smoothed -1/x for open-ended prompts: U(x) = -1/(x + smoothing), concave.

    Example:
        >>> smoothed_neg_power().spec
        'smoothed-neg-power'
    """
    from collapse_theory.utilities import custom

    return custom(lambda x: -1.0 / (x + smoothing), "smoothed-neg-power", concave=True)


def _smoothed_limit(settings: Settings) -> dict[str, Any]:
    """The smoothed utility's limit law (atoms at the ends) against neg-power:1's uniform law."""
    from collapse_theory.distances import law_distance
    from collapse_theory.limits import limit
    from collapse_theory.numerical_laws import numerical_limit
    from collapse_theory.solver import solve

    utility = smoothed_neg_power()
    law = numerical_limit(utility)
    uniform = limit("neg-power:1")
    assert uniform is not None  # neg-power:1 has the closed-form uniform limit
    solution = solve(utility, settings.family_n)
    rewards = np.asarray(solution.rewards)
    return {
        "smoothing": SMOOTHING,
        "atoms": [[atom.location, atom.mass] for atom in law.atoms],
        "error_estimate": law.error_estimate,
        "kolmogorov_smirnov_to_uniform": law_distance(law, uniform),
        "n": settings.family_n,
        "ties_at_one": int(np.sum(np.abs(rewards - 1.0) <= TIE_TOLERANCE)),
        "ties_at_zero": int(np.sum(np.abs(rewards) <= TIE_TOLERANCE)),
        "converged": bool(solution.converged),
        "certified": bool(solution.certified),
    }


def _training(settings: Settings, stream: TextIO | None) -> dict[str, Any]:
    from collapse_theory.training import TrainingConfig, acceptance, diagnose, make_synthetic_dataset, train

    dataset = make_synthetic_dataset(prompts=settings.prompts, seed=settings.seed)
    runs: dict[str, Any] = {}
    configurations: list[tuple[str, TrainingConfig]] = [
        (spec, TrainingConfig(utility=spec, steps=settings.steps, seed=settings.seed)) for spec in SINGLE_UTILITIES
    ]
    configurations.append(("prompt-aware", TrainingConfig(prompt_aware=PROMPT_AWARE, steps=settings.steps, seed=settings.seed)))
    for name, config in configurations:
        if stream is not None:
            print(f"      training {name} ({settings.prompts} prompts, {settings.steps} steps)", file=stream, flush=True)
        result = train(dataset, config, progress=False)
        final = diagnose(dataset, result.rewards, result.utilities)
        chosen = sorted({s for s in settings.snapshot_steps if s in result.snapshots} | {max(result.snapshots)})
        snapshots = {str(s): diagnose(dataset, result.snapshots[s], result.utilities).as_dict()["train"] for s in chosen}
        history = [entry for entry in result.metrics if entry.get("collapse_score") is not None]
        runs[name] = {
            "final": final.as_dict(),
            "snapshots": snapshots,
            "collapse_history": {
                "steps": [entry["step"] for entry in history],
                "train": [entry["collapse_score"] for entry in history],
                "held_out": [entry.get("held_out_collapse_score") for entry in history],
            },
            "acceptance_train": asdict(acceptance(final, "train")),
            "acceptance_held_out": asdict(acceptance(final, "held_out")),
            "terminal_phase": result.terminal_phase,
            "train_pair_accuracy": result.train_pair_accuracy,
        }
    return runs


# --- claims ---------------------------------------------------------------------------


def _number(value: float | None) -> str:
    """Three significant figures, short exponents, below 1e-3 in scientific notation.

    Example:
        >>> [_number(v) for v in (4.34e-15, 0.0625, -1.0, 0.000121, 0.00147)]
        ['4.34e-15', '0.0625', '-1', '1.21e-4', '0.00147']
    """
    if value is None:
        return "none"
    text = f"{value:.3g}" if value == 0 or abs(value) >= 1e-3 else f"{value:.2e}"
    mantissa, _, exponent = text.partition("e")
    return mantissa if not exponent else f"{mantissa}e{int(exponent)}"


def _slug(spec: str) -> str:
    """A utility spec as part of a claim id: ``neg-power:0.5`` -> ``neg-power-0.5``."""
    return spec.replace(":", "-")


def _gauss_lobatto_claim(gauss: dict[str, Any]) -> Claim:
    errors = {int(n): e for n, e in gauss["max_abs_error"].items()}
    worst = max(errors, key=lambda n: errors[n])
    certified = sum(bool(c) for c in gauss["certified"].values())
    return Claim(
        id="gauss-lobatto",
        claim="U = log: the optimal rewards are the Gauss-Lobatto nodes on [0, 1] (certified solve vs scipy's Jacobi roots)",
        summary=f"max abs error {_number(errors[worst])} at n = {worst}; {certified} of {len(errors)} solves certified "
        f"(n = {', '.join(str(n) for n in sorted(errors))})",
        measured={"max_abs_error_by_n": gauss["max_abs_error"], "certified_by_n": gauss["certified"]},
        tolerance=f"max abs error <= {GAUSS_LOBATTO_TOLERANCE:g} at every n, every solve certified",
        passed=bool(errors[worst] <= GAUSS_LOBATTO_TOLERANCE and certified == len(errors)),
    )


def _convergence_claim(study: dict[str, Any]) -> Claim:
    slope = study["kolmogorov_smirnov_slope"]
    ks, ns = study["kolmogorov_smirnov"], study["ns"]
    shrinking = all(b < a for a, b in itertools.pairwise(ks))
    exact = max(ks) <= 1e-12  # e.g. linear at even n: exactly the two-point law
    certified = "all certified" if study["all_certified"] else "not all certified"
    if exact:
        summary = f"KS {_number(max(ks))} at every n ({ns[0]} to {ns[-1]}): exactly the limit; {certified}"
    else:
        summary = (
            f"KS {_number(ks[0])} at n = {ns[0]} down to {_number(ks[-1])} at n = {ns[-1]}, "
            f"fitted slope {_number(slope)}; {certified}"
        )
    return Claim(
        id=f"convergence-{_slug(study['utility'])}",
        claim=f"{study['utility']}: the optimal rewards converge to the closed-form limit law",
        summary=summary,
        measured={"ns": ns, "kolmogorov_smirnov": ks, "fitted_slope": slope, "all_certified": study["all_certified"]},
        tolerance="KS distance strictly decreasing in n with fitted log-log slope <= -0.5 (or KS <= 1e-12 at every n), "
        "every solve certified",
        passed=bool((exact or (shrinking and slope is not None and slope <= -0.5)) and study["all_certified"]),
    )


def _cross_check_claim(cross: dict[str, float]) -> Claim:
    worst = max(cross, key=lambda spec: cross[spec])
    return Claim(
        id="numerical-limit-cross-check",
        claim="The numerical limit law (energy maximisation) reproduces every closed form",
        summary="KS " + ", ".join(f"{_number(value)} ({spec})" for spec, value in cross.items()) + f"; largest: {worst}",
        measured={"kolmogorov_smirnov": cross},
        tolerance="KS <= 1e-3 against each closed form",
        passed=bool(cross[worst] <= 1e-3),
    )


def _certified_solves_claim(limit_laws: dict[str, Any]) -> Claim:
    items = limit_laws["items"]
    converged = sum(bool(item["converged"]) for item in items)
    certified = [item["spec"] for item in items if item["certified"]]
    uncertified = [item["spec"] for item in items if not item["certified"]]
    worst = max((item for item in items if item["certified"]), key=lambda item: item["gap"], default=None)
    summary = f"{converged} of {len(items)} converged, {len(certified)} certified"
    if uncertified:
        summary += f" (not: {', '.join(uncertified)})"
    if worst is not None:
        summary += f"; largest certified gap {_number(worst['gap'])} ({worst['spec']})"
    return Claim(
        id="certified-solves",
        claim=f"Every built-in utility is solved to a certified optimum at n = {limit_laws['n']}",
        summary=summary,
        measured={item["spec"]: {"gap": item["gap"], "certified": item["certified"]} for item in items},
        tolerance="converged; certified for every concave utility (square: exact vertex enumeration, not certified)",
        passed=bool(converged == len(items)),
    )


def _smoothed_claim(smoothed: dict[str, Any]) -> Claim:
    masses = {float(location): float(mass) for location, mass in smoothed["atoms"]}
    ends = [masses.get(0.0, 0.0), masses.get(1.0, 0.0)]
    n = smoothed["n"]
    ties = [smoothed["ties_at_zero"], smoothed["ties_at_one"]]
    low, high = SMOOTHED_ATOM_RANGE
    atoms_ok = all(low <= mass <= high for mass in ends)
    ties_ok = all(count >= 2 and abs(count / n - mass) <= SMOOTHED_TIE_TOLERANCE for count, mass in zip(ties, ends, strict=True))
    apart = smoothed["kolmogorov_smirnov_to_uniform"] > SMOOTHED_MIN_KOLMOGOROV_SMIRNOV
    return Claim(
        id="smoothed-neg-power",
        claim=f"The paper's smoothed U = -1/(x + {smoothed['smoothing']:g}) ties rewards at the ends: its limit law has "
        "atoms at 0 and 1, unlike the uniform law of neg-power:1",
        summary=f"atoms {_number(ends[0])} at 0 and {_number(ends[1])} at 1; KS to uniform "
        f"{_number(smoothed['kolmogorov_smirnov_to_uniform'])}; optimum at n = {n} ties {ties[0]} rewards at 0 "
        f"and {ties[1]} at 1 ({'certified' if smoothed['certified'] else 'not certified'})",
        measured=smoothed,
        tolerance=f"each atom mass in [{low:g}, {high:g}]; KS to uniform > {SMOOTHED_MIN_KOLMOGOROV_SMIRNOV:g}; "
        f"at least 2 ties at each end, tied fraction within {SMOOTHED_TIE_TOLERANCE:g} of the atom mass; certified",
        passed=bool(atoms_ok and apart and ties_ok and smoothed["converged"] and smoothed["certified"]),
    )


def _training_claim(name: str, run: dict[str, Any]) -> Claim:
    train, held = run["acceptance_train"], run["acceptance_held_out"]
    if name == "prompt-aware":
        identifier = "training-prompt-aware"
        utilities = ", ".join(f"{kind} = {spec}" for kind, spec in PROMPT_AWARE)
        statement = f"Prompt-aware utilities ({utilities}) undo the collapse"
        tolerance = "each kind within 0.05 of its utility's optimum; the kinds differ by > 0.3 at some rank (training prompts)"
    else:
        identifier = f"training-collapse-{_slug(name)}"
        statement = f"One utility for every prompt ({name}) collapses the kinds onto one reward distribution"
        tolerance = "kinds' mean curves differ by < 0.05 at every rank; each within 0.05 of the optimum (training prompts)"
    measured = {
        "train": {"max_distance_to_optimum": train["max_distance_to_optimum"], "collapse_score": train["collapse_score"]},
        "held_out": {"max_distance_to_optimum": held["max_distance_to_optimum"], "collapse_score": held["collapse_score"]},
        "train_pair_accuracy": run["train_pair_accuracy"],
    }
    summary = (
        f"collapse score {_number(train['collapse_score'])} (held out {_number(held['collapse_score'])}); "
        f"distance to the optimum {_number(train['max_distance_to_optimum'])} "
        f"(held out {_number(held['max_distance_to_optimum'])}); pair accuracy {_number(run['train_pair_accuracy'])}"
    )
    return Claim(
        id=identifier, claim=statement, summary=summary, measured=measured, tolerance=tolerance, passed=bool(train["passed"])
    )


def _claims(results: dict[str, Any]) -> list[Claim]:
    claims = [_gauss_lobatto_claim(results["gauss_lobatto"])]
    claims += [_convergence_claim(study) for study in results["convergence"]]
    claims.append(_cross_check_claim(results["numerical_cross_check"]))
    claims.append(_certified_solves_claim(results["limit_laws"]))
    claims.append(_smoothed_claim(results["smoothed_limit"]))
    claims += [_training_claim(name, run) for name, run in results["training"].items()]
    return claims


# --- the figures' inputs: cached JSON -> typed records, in one place -------------------


def _split(value: dict[str, Any]) -> SplitDiagnostics:
    from collapse_theory.training.diagnostics import KindCurve, SplitDiagnostics

    curves = tuple(
        KindCurve(
            kind=curve["kind"],
            utility=curve["utility"],
            prompts=curve["prompts"],
            pair_accuracy=curve["pair_accuracy"],
            mean=np.asarray(curve["mean"], dtype=float),
            spread=np.asarray(curve["spread"], dtype=float),
            optimum=np.asarray(curve["optimum"], dtype=float),
            distance_to_optimum=curve["distance_to_optimum"],
        )
        for curve in value["curves"]
    )
    return SplitDiagnostics(
        split=value["split"],
        prompts=value["prompts"],
        pair_accuracy=value["pair_accuracy"],
        curves=curves,
        kind_distances=dict(value["kind_distances"]),
        collapse_score=value["collapse_score"],
    )


def _law_drawing(value: dict[str, Any]) -> Any:
    from collapse_theory.figures import LawDrawing

    return LawDrawing(
        grid=np.asarray(value["grid"], dtype=float),
        density=np.asarray(value["density"], dtype=float),
        atoms=tuple(Atom(float(location), float(mass)) for location, mass in value["atoms"]),
    )


def _optional_array(values: list[float | None]) -> np.ndarray | None:
    if not values or any(v is None for v in values):
        return None
    return np.asarray(values, dtype=float)


def _drawings(results: dict[str, Any]) -> dict[str, Callable[[], Figure]]:
    """Every figure's drawing, from the steps' cached JSON made into the figures' typed records."""
    from collapse_theory import figures

    training = results["training"]
    titles = {
        "prompt-aware": "prompt-aware: " + ", ".join(f"{kind} = {spec}" for kind, spec in PROMPT_AWARE),
        **{name: f"one utility for every prompt: U = {name}" for name in SINGLE_UTILITIES},
    }
    reward_panels = [
        figures.RewardPanel(title=titles[name], split=_split(training[name]["final"]["train"]))
        for name in ("linear", "log", "neg-power:1", "prompt-aware")
    ]
    snapshot_runs = [
        figures.SnapshotRun(
            name=name,
            snapshots=tuple(
                figures.Snapshot(step=int(step), split=_split(split))
                for step, split in sorted(training[name]["snapshots"].items(), key=lambda item: int(item[0]))
            ),
            history=figures.CollapseHistory(
                steps=np.asarray(training[name]["collapse_history"]["steps"], dtype=float),
                train=np.asarray(training[name]["collapse_history"]["train"], dtype=float),
                held_out=_optional_array(training[name]["collapse_history"]["held_out"]),
            ),
        )
        for name in SNAPSHOT_RUNS
    ]
    limit_panels = [
        figures.LimitPanel(
            utility=item["spec"],
            rewards=np.asarray(item["rewards"], dtype=float),
            law_name=item["law_name"],
            law=_law_drawing(item["law"]),
        )
        for item in results["limit_laws"]["items"]
    ]
    series = [
        figures.ConvergenceSeries(
            utility=study["utility"],
            ns=np.asarray(study["ns"]),
            kolmogorov_smirnov=np.asarray(study["kolmogorov_smirnov"], dtype=float),
            wasserstein=np.asarray(study["wasserstein"], dtype=float),
            kolmogorov_smirnov_slope=study["kolmogorov_smirnov_slope"],
            wasserstein_slope=study["wasserstein_slope"],
        )
        for study in results["convergence"]
    ]
    sweep = results["family_map"]
    family = figures.FamilyMap(
        n=sweep["n"],
        exponents=np.asarray(sweep["exponents"], dtype=float),
        closed_form_a=np.asarray(sweep["closed_form_a"], dtype=float),
        fitted_a=np.asarray(sweep["fitted_a"], dtype=float),
        grid=np.asarray(sweep["grid"], dtype=float),
        densities=np.asarray(sweep["densities"], dtype=float),
    )
    numerical = [
        figures.NumericalLawDrawing(utility=item["spec"], law=_law_drawing(item["law"])) for item in results["numerical_limits"]
    ]
    limit_n = results["limit_laws"]["n"]
    # looked up on the module at drawing time (the interruption test replaces one)
    return {
        "reward_curves": lambda: figures.reward_curves(reward_panels),
        "training_snapshots": lambda: figures.training_snapshots(snapshot_runs),
        "limit_laws": lambda: figures.limit_laws(limit_panels, limit_n),
        "convergence": lambda: figures.convergence(series),
        "family_map": lambda: figures.family_map(family),
        "numerical_limits": lambda: figures.numerical_limits(numerical),
    }


# --- the report ---------------------------------------------------------------------------


def _captions(settings: Settings, results: dict[str, Any]) -> dict[str, str]:
    """One caption per figure (deterministic: settings and cached results only)."""
    snapshot_steps = ", ".join(str(s) for s in sorted(int(s) for s in results["training"]["log-sigmoid:4"]["snapshots"]))
    aware = ", ".join(f"{kind}-ended: {spec}" for kind, spec in PROMPT_AWARE)
    return {
        "reward_curves": (
            f"Reward against response index (best first) on {settings.prompts} synthetic prompts with n = 8 completions, "
            f"after {settings.steps} training steps: the mean over each kind's prompts (open-ended: blue, closed-ended: "
            "red; one standard deviation shaded) and the solver's optimum dashed (black when shared by both kinds). "
            "With one utility for every prompt (linear, log, neg-power:1) the two kinds fall on one curve, the optimum: "
            f"reward collapse. The prompt-aware scheme ({aware}) gives each kind its own optimum."
        ),
        "training_snapshots": (
            f"Collapse as it happens: the same curves at steps {snapshot_steps} for log-sigmoid:4 (top; the kinds "
            "merge into one curve) and the prompt-aware scheme (bottom; the kinds move apart). Right: the collapse score "
            "(largest gap between the kinds' mean curves) against step, log scale, dots at the snapshots."
        ),
        "limit_laws": (
            f"Histograms of the certified optimal rewards at n = {settings.limit_n} for every built-in utility with the "
            "n -> infinity law: Beta densities (power, log, neg-power below 1), uniform (neg-power:1), atoms at 0 and 1 "
            "as bars of height mass / bin width (linear, square), numerical laws (log-sigmoid:4, exp:1)."
        ),
        "convergence": (
            "Kolmogorov-Smirnov and Wasserstein-1 distances of the optimal rewards to their closed-form limit against n "
            f"(n = {', '.join(str(n) for n in settings.convergence_ns)}), log-log, fitted slopes in the legend; linear's "
            "distance is exactly 0 (two-point law), so it is listed, not drawn."
        ),
        "family_map": (
            "The limit law across U = (x^g - 1)/g: the Beta(a, a) parameter against g (closed form and moment fits at "
            f"n = {settings.family_n}, top) and the limit densities as a strip (bottom): two-point as g -> 1, arcsine "
            "at g = 0 (log), uniform for g <= -1."
        ),
        "numerical_limits": (
            "Numerical n -> infinity laws of log-sigmoid:B and exp:B (B = 1, 4, 16): the continuous part's density "
            "(lines, left axis) and the atom at each end (squares, right axis; masses in the legend)."
        ),
    }


def _project_version() -> dict[str, str | None]:
    """The package version, the code hash of the cache keys, and ``git describe`` of a checkout (else None)."""
    from collapse_theory import __version__

    package = Path(__file__).resolve().parent
    described = None
    try:
        # only when this very file is tracked: a package installed inside another repository is not its checkout
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", Path(__file__).name],
            cwd=package,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if tracked.returncode == 0:
            result = subprocess.run(
                ["git", "describe", "--always", "--dirty", "--tags"], cwd=package, capture_output=True, text=True, timeout=10
            )
            described = result.stdout.strip() or None if result.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        described = None
    return {"package": __version__, "code": code_version(), "git": described}


def _environment() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    import jax

    versions = {"python": platform.python_version()}
    for package in ("collapse_theory", "jax", "jaxlib", "jaxopt", "optax", "numpy", "scipy", "matplotlib"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    device = jax.devices()[0]
    return {
        "project": _project_version(),
        "versions": versions,
        "device": f"{device.platform}: {device.device_kind}",
        "device_count": jax.device_count(),
    }


def _settings_lines(settings: Settings) -> list[str]:
    exponents = settings.family_exponents
    return [
        f"- run: {'quick' if settings.quick else 'full'}, seed {settings.seed}",
        f"- training: {settings.prompts} synthetic prompts (n = 8 completions, open- and closed-ended), "
        f"{settings.steps} steps per run; snapshots at steps {', '.join(str(s) for s in settings.snapshot_steps)} "
        "and the last",
        f"- Gauss-Lobatto check: n = {', '.join(str(n) for n in settings.gauss_lobatto_ns)}",
        f"- limit laws and certified solves: n = {settings.limit_n}",
        f"- convergence: n = {', '.join(str(n) for n in settings.convergence_ns)}",
        f"- family map: {len(exponents)} exponents g in [{exponents[0]:g}, {exponents[-1]:g}], n = {settings.family_n}",
        f"- smoothed utility -1/(x + {SMOOTHING:g}): optimum at n = {settings.family_n}",
    ]


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _report_markdown(
    claims: list[Claim], environment: dict[str, Any], settings: Settings, captions: dict[str, str], run: dict[str, Any]
) -> str:
    passed = sum(c.passed for c in claims)
    project = environment["project"]
    lines = [
        "# Reproduction report",
        "",
        f"Song, Cai, Lee, Su, *Reward Collapse in Aligning Large Language Models* (arXiv 2305.17608), reproduced by "
        f"`collapse-theory reproduce{' --quick' if settings.quick else ''}` (seed {settings.seed}).",
        "",
        f"**{passed} of {len(claims)} claims PASS.**",
        "",
        "| id | claim | measured | tolerance | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for claim in claims:
        cells = (f"`{claim.id}`", _cell(claim.claim), _cell(claim.summary), _cell(claim.tolerance), f"**{claim.verdict}**")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Full measured values, by claim id: `report.json`.", "", "## Settings", ""]
    lines += _settings_lines(settings)
    lines += ["", "## Software and device", ""]
    lines.append(
        f"- project: collapse_theory {project['package']}, git {project['git'] or 'unavailable'}, code {project['code']}"
    )
    lines += [f"- {name}: {value}" for name, value in environment["versions"].items()]
    lines += [f"- device: {environment['device']} (x{environment['device_count']})", ""]
    lines += ["## Figures", ""]
    for name in FIGURES:
        lines += [f"![{name}]({name}.png)", "", f"*{name}.* {captions[name]}", ""]
    lines += [
        "## This run",
        "",
        "(The only part that differs between two runs of the same code and seed.)",
        "",
        f"- date: {run['date']}",
        f"- run time: {run['seconds']:.1f} s ({run['steps_from_cache']} of {run['steps']} steps read from the cache)",
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Reproduction:
    """What :func:`reproduce` wrote and found."""

    out: Path
    claims: tuple[Claim, ...]
    files: tuple[Path, ...]

    @property
    def passed(self) -> bool:
        """Every claim passed."""
        return all(c.passed for c in self.claims)


def reproduce(
    out: str | Path = "figures", *, quick: bool = False, seed: int = 0, stream: TextIO | None = sys.stderr
) -> Reproduction:
    """Regenerate every figure and the verification report under ``out``.

    Args:
        out: output folder (created if needed).
        quick: the reduced run (smaller n, fewer prompts): a few minutes on 2 CPU cores.
        seed: the seed of the synthetic data and of training.
        stream: where progress lines go (None: silent).

    Returns:
        A :class:`Reproduction` with the claims and the files written.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    started = time.perf_counter()
    date = datetime.now(UTC).replace(microsecond=0).isoformat()
    out = Path(out)
    settings = Settings.make(quick, seed)
    steps = _Steps(out, settings, stream)
    plan: list[tuple[str, Callable[[], Any]]] = [
        ("gauss_lobatto", lambda: _gauss_lobatto(settings)),
        ("limit_laws", lambda: _limit_laws(settings)),
        ("convergence", lambda: _convergence(settings)),
        ("family_map", lambda: _family_map(settings)),
        ("numerical_limits", lambda: _numerical_limits(settings)),
        ("numerical_cross_check", lambda: _numerical_cross_check(settings)),
        ("smoothed_limit", lambda: _smoothed_limit(settings)),
        ("training", lambda: _training(settings, stream)),
    ]
    results = {name: steps.run(name, i, len(plan) + 1, compute) for i, (name, compute) in enumerate(plan, 1)}
    if stream is not None:
        print(f"[{len(plan) + 1}/{len(plan) + 1}] figures and report ...", file=stream, flush=True)

    written: list[Path] = []
    for name, draw in _drawings(results).items():
        figure = draw()
        for suffix in (".png", ".svg"):
            path = out / f"{name}{suffix}"
            metadata = {"Date": None} if suffix == ".svg" else {"Software": None}
            atomic_savefig(figure, path, dpi=110, metadata=metadata)
            written.append(path)

    claims = _claims(results)
    environment = _environment()
    captions = _captions(settings, results)
    run = {
        "date": date,
        "seconds": round(time.perf_counter() - started, 1),
        "steps": len(plan),
        "steps_from_cache": len(plan) - len(steps.timings),
    }
    report = {
        "settings": asdict(settings),
        "claims": [dict(asdict(c), verdict=c.verdict) for c in claims],
        "passed": all(c.passed for c in claims),
        "environment": environment,
        "figures": [{"name": name, "files": [f"{name}.png", f"{name}.svg"], "caption": captions[name]} for name in FIGURES],
        "run": run,
    }
    atomic_write_json(out / "report.json", _plain(report))
    atomic_write_text(out / "report.md", _report_markdown(claims, environment, settings, captions, run))
    atomic_write_json(out / ".cache" / "timings.json", steps.timings)
    written += [out / "report.json", out / "report.md"]
    if stream is not None:
        print(
            f"done: {sum(c.passed for c in claims)}/{len(claims)} claims PASS; report at {out / 'report.md'}",
            file=stream,
            flush=True,
        )
    return Reproduction(out, tuple(claims), tuple(written))
