"""The ranking losses' claims (issue "Ranking losses"), built from the loss steps' cached JSON.

Tolerances were set from measured values (quick and full runs), with room for rounding only
where the answer is exact: the Hermite zeros within the distance the solver's certificate
guarantees (its gap stops at a relative 1e-10; measured errors 6.7e-16 to 2.6e-8), IPO's gaps
and KS distances to about 1e-16, Open-Assistant's trained shape about 0.013 from the optimum
(the trainer's acceptance is 0.05).
"""

from __future__ import annotations

import itertools
from typing import Any

from collapse_theory.reproduction.claims import Claim, significant

__all__ = ["loss_claims"]

#: Largest allowed |reward - Hermite zero / sqrt(BETA (n - 1))| whatever the certificate says (measured: 5.4e-11,
#: 6.7e-16, 3.3e-10, 2.6e-8, 5.9e-12 at n = 8, 32, 128, 256, 512, each below its certificate's bound).
HERMITE_TOLERANCE = 1e-6
#: Float64 rounding of rewards of order 1.
ROUNDING = 1e-12
#: Exact answers (IPO's equal gaps, mean zero, KS = 1/(2n); Bradley-Terry's direction): float64 rounding.
EXACT_TOLERANCE = 1e-12
#: The trainer's acceptance: range-normalised mean shape within this of the solver's optimum.
TRAINED_TOLERANCE = 0.05
#: Bradley-Terry's shape distance may wobble by this between logged steps (float32 training).
SHAPE_WOBBLE = 1e-3


def _power(value: float) -> str:
    """A power of ten as the report writes it: ``1e-8``, not ``1e-08``."""
    mantissa, _, exponent = f"{value:.0e}".partition("e")
    return f"{mantissa}e{int(exponent)}"


def _shrinking(ks: list[float], slope: float | None) -> bool:
    return all(b < a for a, b in itertools.pairwise(ks)) and slope is not None and slope <= -0.5


def _hermite_claim(hermite: dict[str, Any]) -> Claim:
    errors = {int(n): e for n, e in hermite["max_abs_error"].items()}
    bounds = {int(n): b for n, b in hermite["certificate_bound"].items()}
    worst = max(errors, key=lambda n: errors[n])
    within = all(errors[n] <= bounds[n] + ROUNDING and errors[n] <= HERMITE_TOLERANCE for n in errors)
    certified = sum(bool(c) for c in hermite["certified"].values())
    ks, ns, slope = hermite["kolmogorov_smirnov"], hermite["ns"], hermite["kolmogorov_smirnov_slope"]
    return Claim(
        id="hermite",
        claim=f"{hermite['loss']}: the maximiser is the zeros of the Hermite polynomial H_n over sqrt(BETA (n - 1)) "
        f"(certified solve vs scipy's roots_hermite), and the rewards converge to the {hermite['law']}",
        summary=f"max abs error {significant(errors[worst])} at n = {worst} (the certificate allows "
        f"{significant(bounds[worst])}); {certified} of {len(errors)} solves certified "
        f"(n = {', '.join(str(n) for n in sorted(errors))}); KS to the semicircle {significant(ks[0])} at "
        f"n = {ns[0]} down to {significant(ks[-1])} at n = {ns[-1]}, fitted slope {significant(slope)}",
        measured={
            "max_abs_error_by_n": hermite["max_abs_error"],
            "certificate_bound_by_n": hermite["certificate_bound"],
            "certified_by_n": hermite["certified"],
            "ns": ns,
            "kolmogorov_smirnov": ks,
            "fitted_slope": slope,
            "all_certified": hermite["all_certified"],
        },
        tolerance="at every n, max abs error <= the certificate's bound sqrt(2 gap / (BETA (n - 1))) (F is "
        f"BETA (n - 1)-strongly concave) + {_power(ROUNDING)}, and <= {_power(HERMITE_TOLERANCE)}; every solve "
        "certified; KS strictly decreasing in n with fitted log-log slope <= -0.5",
        passed=bool(within and certified == len(errors) and _shrinking(ks, slope) and hermite["all_certified"]),
    )


def _ipo_claim(ipo: dict[str, Any]) -> Claim:
    by_n = {int(n): value for n, value in ipo["by_n"].items()}
    tau = ipo["tau"]
    deviation = max(value["gap_deviation"] for value in by_n.values())
    mean = max(abs(value["mean"]) for value in by_n.values())
    statuses = sorted({value["status"] for value in by_n.values()})
    ks_error = max(abs(ks - 1.0 / (2 * n)) for n, ks in zip(ipo["ns"], ipo["kolmogorov_smirnov"], strict=True))
    ns = ", ".join(str(n) for n in sorted(by_n))
    return Claim(
        id="ipo-equal-gaps",
        claim=f"IPO ({ipo['loss']}, free rewards): the maximiser has equal gaps 2 TAU / n and mean zero, unique up to "
        f"a common shift; its limit law is {ipo['law']}, at Kolmogorov-Smirnov distance 1/(2n)",
        summary=f"largest gap deviation from 2 TAU / n {significant(deviation)}, largest absolute mean {significant(mean)}, "
        f"status {', '.join(statuses)} (n = {ns}); KS to the uniform law within {significant(ks_error)} of 1/(2n)",
        measured={"tau": tau, "by_n": ipo["by_n"], "ns": ipo["ns"], "kolmogorov_smirnov": ipo["kolmogorov_smirnov"]},
        tolerance=f"at every n, each gap within {_power(EXACT_TOLERANCE)} of 2 TAU / n, the mean within "
        f"{_power(EXACT_TOLERANCE)} of 0 and KS within {_power(EXACT_TOLERANCE)} of 1/(2n); status shift_invariant, certified",
        passed=bool(
            deviation <= EXACT_TOLERANCE
            and mean <= EXACT_TOLERANCE
            and ks_error <= EXACT_TOLERANCE
            and statuses == ["shift_invariant"]
            and all(value["certified"] for value in by_n.values())
        ),
    )


def _bradley_terry_claim(solved: dict[str, Any], trained: dict[str, Any]) -> Claim:
    direction = solved["direction"] or []
    n = len(direction)
    gaps = [a - b for a, b in itertools.pairwise(direction)]
    deviation = max((abs(gap - 1.0 / (n - 1)) for gap in gaps), default=float("inf"))
    ranges, distances, steps = trained["reward_range"], trained["shape_distance"], trained["steps"]
    growing = len(ranges) >= 2 and all(b > a for a, b in itertools.pairwise(ranges))
    wobble = max((b - a for a, b in itertools.pairwise(distances)), default=float("inf"))
    approaching = len(distances) >= 2 and distances[-1] < distances[0] and wobble <= SHAPE_WOBBLE
    return Claim(
        id="bradley-terry-direction",
        claim="Free Bradley-Terry (bradley-terry: TRL's and OpenRLHF's default) has no maximiser: its rewards grow "
        "without bound in training while their range-normalised shape approaches the direction, equal gaps",
        summary=f"status {solved['status']} at n = {n}, direction's largest gap deviation from 1/(n - 1) "
        f"{significant(deviation)}; trained ({trained['prompts']} prompts, learning rate {trained['learning_rate']:g}): "
        f"mean reward range {significant(ranges[0])} at step {steps[0]:g} up to {significant(ranges[-1])} at step "
        f"{steps[-1]:g}, shape distance {significant(distances[0])} down to {significant(distances[-1])}",
        measured={
            "status": solved["status"],
            "direction": direction,
            "direction_gap_deviation": deviation,
            "steps": steps,
            "reward_range": ranges,
            "shape_distance": distances,
        },
        tolerance=f"status unbounded; direction's gaps equal within {_power(EXACT_TOLERANCE)}; range strictly increasing at "
        f"every logged step; shape distance lower at the last step than at the first, never up by more than "
        f"{SHAPE_WOBBLE:g} between logged steps",
        passed=bool(solved["status"] == "unbounded" and deviation <= EXACT_TOLERANCE and growing and approaching),
    )


def _open_assistant_claim(solved: dict[str, Any], trained: dict[str, Any]) -> Claim:
    train, held = trained["acceptance_train"], trained["acceptance_held_out"]
    optimum = solved["rewards"] or [0.0]
    solver_range = max(optimum) - min(optimum)
    return Claim(
        id="trained-vs-solved-open-assistant",
        claim="Training with Open-Assistant's loss (open-assistant: log sigmoid with L2 BETA = 0.001, free head) reaches "
        "the solver's optimum after range normalisation",
        summary=f"distance to the optimum {significant(train['max_distance_to_optimum'])} (held out "
        f"{significant(held['max_distance_to_optimum'])}) after {trained['steps']} steps on {trained['prompts']} "
        f"prompts; mean reward range {significant(trained['mean_range'])} (solver: {significant(solver_range)}); "
        f"solver {solved['status']}",
        measured={
            "train": {"max_distance_to_optimum": train["max_distance_to_optimum"], "collapse_score": train["collapse_score"]},
            "held_out": {"max_distance_to_optimum": held["max_distance_to_optimum"], "collapse_score": held["collapse_score"]},
            "mean_range": trained["mean_range"],
            "solver_range": solver_range,
            "solver_status": solved["status"],
            "train_pair_accuracy": trained["train_pair_accuracy"],
        },
        tolerance=f"the trainer's acceptance on the training prompts: within {TRAINED_TOLERANCE:g} of the optimum "
        "(range-normalised) at every rank; solver status optimal",
        passed=bool(train["passed"] and train["max_distance_to_optimum"] < TRAINED_TOLERANCE and solved["status"] == "optimal"),
    )


def loss_claims(results: dict[str, Any]) -> list[Claim]:
    """The ranking losses' claims, in report order."""
    solved = {item["spec"]: item for item in results["ranking_losses"]}
    trained = results["loss_training"]
    return [
        _hermite_claim(results["hermite"]),
        _ipo_claim(results["ipo_equal_gaps"]),
        _bradley_terry_claim(solved["bradley-terry"], trained["bradley_terry"]),
        _open_assistant_claim(solved["open-assistant"], trained["open_assistant"]),
    ]
