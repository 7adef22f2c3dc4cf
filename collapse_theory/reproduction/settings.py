"""What one reproduction is: its sizes (:class:`Settings`), the code that runs it, and the fixed choices.

The cache key of every step is a hash of both (:meth:`Settings.key`): an entry written under
other sizes, or by other code (an edited library, another release), is never read back.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from collapse_theory._core.version import PACKAGE_ROOT, __version__

__all__ = ["FIGURES", "Settings", "code_version"]

#: The figures, by file stem, in the order they are made.
FIGURES = (
    "reward_curves",
    "training_snapshots",
    "limit_laws",
    "convergence",
    "family_map",
    "numerical_limits",
    "ranking_losses",
    "bradley_terry_divergence",
)

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
        hermite_ns: the n checked against the Hermite zeros (``log+free+l2:BETA``).
        loss_convergence_ns: the n of the ranking losses' convergence to their limit laws.
        loss_prompts: synthetic prompts of the ranking-loss training runs.
        divergence_steps: optimizer steps of the Bradley-Terry run (its rewards grow without bound).
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
    hermite_ns: tuple[int, ...]
    loss_convergence_ns: tuple[int, ...]
    loss_prompts: int
    divergence_steps: int

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
                hermite_ns=(8, 32, 128),
                loss_convergence_ns=(8, 16, 32, 64),
                loss_prompts=200,
                divergence_steps=400,
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
            hermite_ns=(8, 32, 128, 512),
            loss_convergence_ns=(8, 16, 32, 64, 128, 256),
            loss_prompts=2000,
            divergence_steps=600,
        )

    def key(self) -> str:
        """A short hash of the settings and of the code (cache entries of other settings or code are ignored)."""
        keyed = {"settings": asdict(self), "code": code_version()}
        return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:12]


@functools.cache
def code_version() -> str:
    """The package version and a hash of the library's source files.

    Part of every cache key, so a cache entry written by other code (an edited
    library, another release) is never read back as if this code had computed it.
    """
    package = PACKAGE_ROOT
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode() + b"\0")
        digest.update(source.read_bytes() + b"\0")
    return f"{__version__}+{digest.hexdigest()[:16]}"
