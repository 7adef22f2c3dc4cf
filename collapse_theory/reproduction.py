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
The report holds measured numbers only (no timings), so two runs with the same
seed give identical reports; timings go to ``timings.json``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from collapse_theory._io import atomic_savefig, atomic_write_json, atomic_write_text
from collapse_theory.laws import Law

__all__ = ["Claim", "Reproduction", "Settings", "reproduce"]

#: The figures, by file stem, in the order they are made.
FIGURES = ("reward_curves", "training_snapshots", "limit_laws", "convergence", "family_map", "numerical_limits")

SINGLE_UTILITIES = ("linear", "log", "neg-power:1", "log-sigmoid:4")
PROMPT_AWARE = (("closed", "linear"), ("open", "neg-power:1"))
LIMIT_UTILITIES = ("linear", "power:0.5", "log", "neg-power:0.5", "neg-power:1", "log-sigmoid:4", "exp:1", "square")
CONVERGENCE_UTILITIES = ("power:0.5", "log", "neg-power:0.5", "neg-power:2", "linear")
NUMERICAL_UTILITIES = ("log-sigmoid:1", "log-sigmoid:4", "log-sigmoid:16", "exp:1", "exp:4", "exp:16")
GAUSS_LOBATTO_TOLERANCE = 1e-10


@dataclass(frozen=True)
class Settings:
    """Sizes of one reproduction (``quick`` is the reduced, two-minute version)."""

    quick: bool
    seed: int
    prompts: int
    steps: int
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
                True, seed, 400, 600, 200, (8, 64, 200), (8, 16, 32, 64), tuple(np.round(np.linspace(-1.5, 0.9, 13), 3)), 64
            )
        return cls(
            False,
            seed,
            2000,
            600,
            1000,
            (8, 64, 256, 1000, 2000),
            (16, 32, 64, 128, 256, 512, 1024),
            tuple(np.round(np.linspace(-2.0, 0.95, 60), 3)),
            200,
        )

    def key(self) -> str:
        """A short hash of the settings and of the code (cache entries of other settings or code are ignored)."""
        keyed = {"settings": asdict(self), "code": code_version()}
        return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, its measured numbers, the tolerance and the verdict."""

    claim: str
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
        record = study.as_dict()
        points = record["points"]
        studies.append(
            {
                "utility": study.utility,
                "ns": [p["n"] for p in points],
                "kolmogorov_smirnov": [p["kolmogorov_smirnov"] for p in points],
                "wasserstein": [p["wasserstein"] for p in points],
                "kolmogorov_smirnov_slope": None
                if study.kolmogorov_smirnov_rate is None
                else study.kolmogorov_smirnov_rate.slope,
                "wasserstein_slope": None if study.wasserstein_rate is None else study.wasserstein_rate.slope,
                "all_certified": all(p["converged"] for p in points),
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
        steps = sorted(result.snapshots)
        early = next((s for s in steps if s >= settings.steps // 4), steps[0])
        snapshots = {
            str(s): diagnose(dataset, result.snapshots[s], result.utilities).as_dict()["train"] for s in (early, steps[-1])
        }
        runs[name] = {
            "final": final.as_dict(),
            "snapshots": snapshots,
            "acceptance_train": asdict(acceptance(final, "train")),
            "acceptance_held_out": asdict(acceptance(final, "held_out")),
            "terminal_phase": result.terminal_phase,
            "train_pair_accuracy": result.train_pair_accuracy,
        }
    return runs


# --- claims ---------------------------------------------------------------------------


def _claims(results: dict[str, Any]) -> list[Claim]:
    claims = []
    gauss = results["gauss_lobatto"]
    worst = max(gauss["max_abs_error"].values())
    claims.append(
        Claim(
            "U = log: the optimal rewards are the Gauss-Lobatto nodes on [0, 1] (certified solve vs scipy's Jacobi roots)",
            {"max_abs_error_by_n": gauss["max_abs_error"], "certified_by_n": gauss["certified"]},
            f"max abs error <= {GAUSS_LOBATTO_TOLERANCE:g} at every n, every solve certified",
            bool(worst <= GAUSS_LOBATTO_TOLERANCE and all(gauss["certified"].values())),
        )
    )
    for study in results["convergence"]:
        slope = study["kolmogorov_smirnov_slope"]
        ks = study["kolmogorov_smirnov"]
        shrinking = all(b < a for a, b in itertools.pairwise(ks))
        exact = max(ks) <= 1e-12  # e.g. linear at even n: exactly the two-point law
        claims.append(
            Claim(
                f"{study['utility']}: the optimal rewards converge to the closed-form limit law",
                {"ns": study["ns"], "kolmogorov_smirnov": ks, "fitted_slope": slope, "all_certified": study["all_certified"]},
                "KS distance strictly decreasing in n with fitted log-log slope <= -0.5 (or KS <= 1e-12 at every n), "
                "every solve certified",
                bool((exact or (shrinking and slope is not None and slope <= -0.5)) and study["all_certified"]),
            )
        )
    cross = results["numerical_cross_check"]
    claims.append(
        Claim(
            "The numerical limit law (energy maximisation) reproduces every closed form",
            {"kolmogorov_smirnov": cross},
            "KS <= 1e-3 against each closed form",
            bool(max(cross.values()) <= 1e-3),
        )
    )
    limit_items = results["limit_laws"]["items"]
    claims.append(
        Claim(
            f"Every built-in utility is solved to a certified optimum at n = {results['limit_laws']['n']}",
            {item["spec"]: {"gap": item["gap"], "certified": item["certified"]} for item in limit_items},
            "converged; certified for every concave utility (square: exact vertex enumeration, not certified)",
            bool(all(item["converged"] for item in limit_items)),
        )
    )
    for name, run in results["training"].items():
        train, held = run["acceptance_train"], run["acceptance_held_out"]
        if name == "prompt-aware":
            statement = "Prompt-aware utilities (closed=linear, open=neg-power:1) undo the collapse"
            tolerance = (
                "each kind within 0.05 of its utility's optimum; the kinds differ by > 0.3 at some rank (training prompts)"
            )
        else:
            statement = f"One utility for every prompt ({name}) collapses the kinds onto one reward distribution"
            tolerance = "kinds' mean curves differ by < 0.05 at every rank; each within 0.05 of the optimum (training prompts)"
        measured = {
            "train": {"max_distance_to_optimum": train["max_distance_to_optimum"], "collapse_score": train["collapse_score"]},
            "held_out": {"max_distance_to_optimum": held["max_distance_to_optimum"], "collapse_score": held["collapse_score"]},
            "train_pair_accuracy": run["train_pair_accuracy"],
        }
        claims.append(Claim(statement, measured, tolerance, bool(train["passed"])))
    return claims


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
    return {"versions": versions, "device": f"{device.platform}: {device.device_kind}", "device_count": jax.device_count()}


def _report_markdown(claims: list[Claim], environment: dict[str, Any], settings: Settings) -> str:
    passed = sum(c.passed for c in claims)
    lines = [
        "# Reproduction report",
        "",
        f"Song, Cai, Lee, Su, *Reward Collapse in Aligning Large Language Models* (arXiv 2305.17608), reproduced by "
        f"`collapse-theory reproduce{' --quick' if settings.quick else ''}` (seed {settings.seed}).",
        "",
        f"**{passed} of {len(claims)} claims PASS.**",
        "",
        "| # | claim | measured | tolerance | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    for index, claim in enumerate(claims, 1):
        measured = json.dumps(claim.measured, sort_keys=True, default=float)
        lines.append(f"| {index} | {claim.claim} | `{_shorten(measured)}` | {claim.tolerance} | **{claim.verdict}** |")
    lines += ["", "Full measured values: `report.json`.", "", "## Software and device", ""]
    lines += [f"- {name}: {value}" for name, value in environment["versions"].items()]
    lines += [f"- device: {environment['device']} (x{environment['device_count']})", ""]
    lines += ["## Figures", ""] + [f"![{name}]({name}.png)" for name in FIGURES] + [""]
    return "\n".join(lines)


def _shorten(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    from collapse_theory import figures

    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
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
        ("training", lambda: _training(settings, stream)),
    ]
    results = {name: steps.run(name, i, len(plan) + 1, compute) for i, (name, compute) in enumerate(plan, 1)}
    if stream is not None:
        print(f"[{len(plan) + 1}/{len(plan) + 1}] figures and report ...", file=stream, flush=True)

    training = results["training"]
    drawings = {
        "reward_curves": lambda: figures.reward_curves(
            [
                (
                    f"U = {name}" if name != "prompt-aware" else "prompt-aware: closed = linear, open = neg-power:1",
                    training[name]["final"]["train"],
                )
                for name in ("linear", "log", "neg-power:1", "prompt-aware")
            ]
        ),
        "training_snapshots": lambda: figures.training_snapshots(
            [
                (name, [(int(step), split) for step, split in training[name]["snapshots"].items()])
                for name in ("log-sigmoid:4", "prompt-aware")
            ]
        ),
        "limit_laws": lambda: figures.limit_laws(results["limit_laws"]["items"], results["limit_laws"]["n"]),
        "convergence": lambda: figures.convergence(results["convergence"]),
        "family_map": lambda: figures.family_map(results["family_map"]),
        "numerical_limits": lambda: figures.numerical_limits(results["numerical_limits"]),
    }
    import matplotlib.pyplot as plt

    written: list[Path] = []
    for name in FIGURES:
        figure = drawings[name]()
        for suffix in (".png", ".svg"):
            path = out / f"{name}{suffix}"
            metadata = {"Date": None} if suffix == ".svg" else {"Software": None}
            atomic_savefig(figure, path, dpi=110, metadata=metadata)
            written.append(path)
        plt.close(figure)

    claims = _claims(results)
    environment = _environment()
    report = {
        "settings": asdict(settings),
        "claims": [dict(asdict(c), verdict=c.verdict) for c in claims],
        "passed": all(c.passed for c in claims),
        "environment": environment,
    }
    atomic_write_json(out / "report.json", _plain(report))
    atomic_write_text(out / "report.md", _report_markdown(claims, environment, settings))
    atomic_write_json(out / ".cache" / "timings.json", steps.timings)
    written += [out / "report.json", out / "report.md"]
    if stream is not None:
        print(
            f"done: {sum(c.passed for c in claims)}/{len(claims)} claims PASS; report at {out / 'report.md'}",
            file=stream,
            flush=True,
        )
    return Reproduction(out, tuple(claims), tuple(written))
