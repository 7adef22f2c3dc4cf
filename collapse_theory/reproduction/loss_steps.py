"""The ranking losses' computations of the reproduction (issue "Ranking losses"), one function per cached step.

Per prompt, completions are ranked 1 (best) to n with rewards r; docs/losses.md lists the
framework losses and what :func:`~collapse_theory.solver.loss_solver.solve_loss` and
:func:`~collapse_theory.laws.loss_laws.loss_limit` say of each. The steps:

* ``hermite``: the maximiser of ``log+free+l2:BETA`` is the zeros of the Hermite polynomial
  H_n over sqrt(BETA (n - 1)) (Stieltjes' electrostatic problem), and the rewards converge to
  the semicircle on [-sqrt(2/BETA), sqrt(2/BETA)].
* ``ipo_equal_gaps``: all-pairs IPO's maximiser has equal gaps 2 TAU / n (unique up to a shift,
  mean zero reported); its limit is uniform on [-TAU, TAU], at Kolmogorov distance 1/(2n).
* ``ranking_losses``: the n = 8 answer of every framework loss (optimum, or the direction when
  unbounded) and the limit law where one exists.
* ``loss_training``: free Bradley-Terry trained (its rewards grow, its normalised shape creeps
  towards the direction) and Open-Assistant's loss trained to its optimum.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, TextIO

import numpy as np
import scipy.special

from collapse_theory.laws.convergence_studies import loss_convergence
from collapse_theory.laws.law import ClosedFormLaw
from collapse_theory.laws.loss_laws import FieldLaw, loss_limit
from collapse_theory.laws.numerical_laws import numerical_limit
from collapse_theory.problems.losses import Loss, LossSpecError, parse_loss
from collapse_theory.reproduction.paper_steps import law_on_grid
from collapse_theory.reproduction.settings import Settings
from collapse_theory.solver.loss_solver import solve_loss
from collapse_theory.training import TrainingConfig, acceptance, diagnose, make_synthetic_dataset, train
from collapse_theory.training.divergence import divergence_curves

__all__ = [
    "BRADLEY_TERRY",
    "DIVERGENCE_LEARNING_RATE",
    "FRAMEWORK_LOSSES",
    "HERMITE_BETA",
    "HERMITE_LOSS",
    "IPO_LOSS",
    "IPO_TAU",
    "OPEN_ASSISTANT",
    "hermite_step",
    "ipo_step",
    "loss_training_step",
    "ranking_losses_step",
]

#: The field strength of the Hermite claim: ``log+free+l2:0.5``, semicircle on [-2, 2].
HERMITE_BETA = 0.5
HERMITE_LOSS = f"log+free+l2:{HERMITE_BETA:g}"
IPO_TAU = 0.5
#: IPO with target margin TAU = 1/(2 BETA): ``ipo:1``.
IPO_LOSS = f"ipo:{1.0 / (2.0 * IPO_TAU):g}"
BRADLEY_TERRY = "bradley-terry"
OPEN_ASSISTANT = "open-assistant"
#: The Bradley-Terry run's learning rate: at the default 1e-2 the range jumps to about 95 within
#: 40 steps, the loss underflows in float32 and the shape freezes (docs/training.md).
DIVERGENCE_LEARNING_RATE = 1e-3
#: The n of the framework losses' optima drawn in the ranking-loss figure.
FRAMEWORK_N = 8
#: The framework losses of docs/losses.md's table (one row per distinct loss) and the Hermite
#: claim's loss, each with the frameworks that train it. InstructGPT's all-pairs loss on free
#: rewards is ``bradley-terry`` itself (both read ``log-sigmoid:1+free``).
FRAMEWORK_LOSSES = (
    (BRADLEY_TERRY, "TRL default, OpenRLHF, InstructGPT"),
    ("trl-center:0.01", "TRL, centred"),
    (OPEN_ASSISTANT, "Open-Assistant"),
    ("log-sigmoid:1", "InstructGPT on [0, 1]"),
    (IPO_LOSS, "IPO"),
    ("listmle", "ListMLE / PRO"),
    ("log-sigmoid:1+free+lipo", "LiPO-lambda"),
    (HERMITE_LOSS, "log + L2 (Stieltjes)"),
)


def hermite_rewards(n: int, beta: float = HERMITE_BETA) -> np.ndarray:
    """The zeros of the (physicists') Hermite polynomial H_n over sqrt(beta (n - 1)), best first.

    The maximiser of sum_{i<j} log(r_i - r_j) - beta (n - 1)/2 sum_i r_i^2 (Stieltjes 1885;
    Szego, *Orthogonal Polynomials*, section 6.7), via :func:`scipy.special.roots_hermite`.

    Example:
        >>> [round(float(x), 4) for x in hermite_rewards(2)]   # H_2 = 4x^2 - 2: zeros -+1/sqrt(2)
        [1.0, -1.0]
    """
    zeros = np.sort(scipy.special.roots_hermite(n)[0])[::-1]
    return zeros / np.sqrt(beta * (n - 1))


def hermite_step(settings: Settings) -> dict[str, Any]:
    """Certified solves of ``log+free+l2:BETA`` against the Hermite zeros, and the convergence to the semicircle."""
    errors, bounds, certified = {}, {}, {}
    for n in settings.hermite_ns:
        solution = solve_loss(HERMITE_LOSS, n)
        assert solution.rewards is not None and solution.gap is not None, solution.message
        errors[str(n)] = float(np.max(np.abs(solution.rewards - hermite_rewards(n))))
        # F is mu-strongly concave with mu = BETA (n - 1) (the l2 term), so F* - F(r) >= mu/2 |r - r*|^2:
        # the certificate's gap bounds the distance to the exact maximiser
        bounds[str(n)] = float(np.sqrt(2.0 * max(solution.gap, 0.0) / (HERMITE_BETA * (n - 1))))
        certified[str(n)] = bool(solution.status.value == "optimal" and solution.certified)
    study = loss_convergence(HERMITE_LOSS, settings.loss_convergence_ns)
    return {
        "loss": HERMITE_LOSS,
        "max_abs_error": errors,
        "certificate_bound": bounds,
        "certified": certified,
        "law": study.law,
        **_convergence_values(study),
    }


def _convergence_values(study: Any) -> dict[str, Any]:
    rate = study.kolmogorov_smirnov_rate
    return {
        "ns": [p.n for p in study.points],
        "kolmogorov_smirnov": [p.kolmogorov_smirnov for p in study.points],
        "kolmogorov_smirnov_slope": None if rate is None else rate.slope,
        "all_certified": all(p.converged for p in study.points),
    }


def ipo_step(settings: Settings) -> dict[str, Any]:
    """IPO's maximiser at each n: status, largest deviation of a gap from 2 TAU / n, mean; KS to uniform."""
    by_n = {}
    for n in settings.loss_convergence_ns:
        solution = solve_loss(IPO_LOSS, n)
        assert solution.rewards is not None, solution.message
        gaps = -np.diff(solution.rewards)
        by_n[str(n)] = {
            "status": solution.status.value,
            "certified": bool(solution.certified),
            "gap_deviation": float(np.max(np.abs(gaps - 2.0 * IPO_TAU / n))),
            "mean": float(np.mean(solution.rewards)),
        }
    study = loss_convergence(IPO_LOSS, settings.loss_convergence_ns)
    return {"loss": IPO_LOSS, "tau": IPO_TAU, "by_n": by_n, "law": study.law, **_convergence_values(study)}


def _law_values(spec: str, law: Any) -> dict[str, Any]:
    """A limit law as drawn: density on a fine mesh of its support (or its own mesh) and atoms."""
    low, high = law.support
    if (low, high) == (0.0, 1.0):
        drawn = law_on_grid(law, np.linspace(0.0025, 0.9975, 400))
    else:
        edges = np.linspace(low, high, 401)
        grid = (edges[:-1] + edges[1:]) / 2.0  # midpoints: a field law's density is constant per cell
        drawn = {"grid": grid, "density": law.pdf(grid), "atoms": [], "atom_mass": 0.0}
    if isinstance(law, FieldLaw):
        name = "numerical field limit"
    else:
        name = law.describe() if isinstance(law, ClosedFormLaw) else "numerical limit"
    return {"name": name, "support": [low, high], **drawn}


def _limit_of(loss: Loss) -> Any:
    """The loss's n -> infinity law, or None (unbounded losses have none)."""
    try:
        return loss_limit(loss)
    except LossSpecError:
        if loss.is_plain_utility:  # a bounded utility without a closed form (log-sigmoid:1)
            assert loss.utility is not None
            return numerical_limit(loss.utility)
        return None


def ranking_losses_step(settings: Settings) -> list[dict[str, Any]]:
    """Every framework loss at n = 8 (status, rewards or direction, range-normalised shape) and its limit law."""
    items = []
    for spec, frameworks in FRAMEWORK_LOSSES:
        loss = parse_loss(spec)  # the table's specs enter here
        solution = solve_loss(loss, FRAMEWORK_N)
        values = solution.rewards if solution.rewards is not None else solution.direction
        assert values is not None, solution.message
        values = np.asarray(values, dtype=float)
        spread = float(values.max() - values.min())
        law = None if solution.rewards is None else _limit_of(loss)
        items.append(
            {
                "spec": spec,
                "loss": solution.loss,
                "frameworks": frameworks,
                "n": FRAMEWORK_N,
                "status": solution.status.value,
                "certified": bool(solution.certified),
                "rewards": solution.rewards,
                "direction": solution.direction,
                "shape": (values - values.min()) / spread if spread > 0 else np.zeros_like(values),
                "law": None if law is None else _law_values(spec, law),
            }
        )
    return items


def _say(stream: TextIO | None, line: str) -> None:
    if stream is not None:
        print(line, file=stream, flush=True)


def loss_training_step(settings: Settings, stream: TextIO | None) -> dict[str, Any]:
    """Free Bradley-Terry trained (range and shape distance by step) and Open-Assistant's loss trained to its optimum."""
    dataset = make_synthetic_dataset(prompts=settings.loss_prompts, seed=settings.seed)
    _say(stream, f"      training {BRADLEY_TERRY} ({settings.loss_prompts} prompts, {settings.divergence_steps} steps)")
    config = TrainingConfig(
        loss=BRADLEY_TERRY, learning_rate=DIVERGENCE_LEARNING_RATE, steps=settings.divergence_steps, seed=settings.seed
    )
    divergent = train(dataset, config, progress=False)
    steps, ranges, distances = divergence_curves(divergent.metrics)
    _say(stream, f"      training {OPEN_ASSISTANT} ({settings.loss_prompts} prompts, {settings.steps} steps)")
    result = train(dataset, TrainingConfig(loss=OPEN_ASSISTANT, steps=settings.steps, seed=settings.seed), progress=False)
    final = diagnose(dataset, result.rewards, result.losses_by_kind)
    train_rewards = result.train_rewards
    return {
        "bradley_terry": {
            "prompts": settings.loss_prompts,
            "learning_rate": DIVERGENCE_LEARNING_RATE,
            "steps": steps,
            "reward_range": ranges,
            "shape_distance": distances,
        },
        "open_assistant": {
            "prompts": settings.loss_prompts,
            "steps": settings.steps,
            "acceptance_train": asdict(acceptance(final, "train")),
            "acceptance_held_out": asdict(acceptance(final, "held_out")),
            "mean_range": float(np.mean(train_rewards.max(axis=1) - train_rewards.min(axis=1))),
            "train_pair_accuracy": result.train_pair_accuracy,
        },
    }
