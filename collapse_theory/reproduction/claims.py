"""The claims of the reproduction: each a stable id, a statement, the measured numbers in prose, a tolerance, a verdict.

Every claim is built from the cached steps' JSON alone (deterministic: the same results give the
same claims); summaries give three significant figures, ``measured`` the full values.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from collapse_theory.reproduction.settings import (
    GAUSS_LOBATTO_TOLERANCE,
    PROMPT_AWARE,
    SMOOTHED_ATOM_RANGE,
    SMOOTHED_MIN_KOLMOGOROV_SMIRNOV,
    SMOOTHED_TIE_TOLERANCE,
)

__all__ = ["Claim", "claims", "significant", "slug"]


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


def significant(value: float | None) -> str:
    """Three significant figures, short exponents, below 1e-3 in scientific notation.

    Example:
        >>> [significant(v) for v in (4.34e-15, 0.0625, -1.0, 0.000121, 0.00147)]
        ['4.34e-15', '0.0625', '-1', '1.21e-4', '0.00147']
    """
    if value is None:
        return "none"
    text = f"{value:.3g}" if value == 0 or abs(value) >= 1e-3 else f"{value:.2e}"
    mantissa, _, exponent = text.partition("e")
    return mantissa if not exponent else f"{mantissa}e{int(exponent)}"


def slug(spec: str) -> str:
    """A utility spec as part of a claim id: ``neg-power:0.5`` -> ``neg-power-0.5``."""
    return spec.replace(":", "-")


def _gauss_lobatto_claim(gauss: dict[str, Any]) -> Claim:
    errors = {int(n): e for n, e in gauss["max_abs_error"].items()}
    worst = max(errors, key=lambda n: errors[n])
    certified = sum(bool(c) for c in gauss["certified"].values())
    return Claim(
        id="gauss-lobatto",
        claim="U = log: the optimal rewards are the Gauss-Lobatto nodes on [0, 1] (certified solve vs scipy's Jacobi roots)",
        summary=f"max abs error {significant(errors[worst])} at n = {worst}; {certified} of {len(errors)} solves certified "
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
        summary = f"KS {significant(max(ks))} at every n ({ns[0]} to {ns[-1]}): exactly the limit; {certified}"
    else:
        summary = (
            f"KS {significant(ks[0])} at n = {ns[0]} down to {significant(ks[-1])} at n = {ns[-1]}, "
            f"fitted slope {significant(slope)}; {certified}"
        )
    return Claim(
        id=f"convergence-{slug(study['utility'])}",
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
        summary="KS " + ", ".join(f"{significant(value)} ({spec})" for spec, value in cross.items()) + f"; largest: {worst}",
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
        summary += f"; largest certified gap {significant(worst['gap'])} ({worst['spec']})"
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
        summary=f"atoms {significant(ends[0])} at 0 and {significant(ends[1])} at 1; KS to uniform "
        f"{significant(smoothed['kolmogorov_smirnov_to_uniform'])}; optimum at n = {n} ties {ties[0]} rewards at 0 "
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
        identifier = f"training-collapse-{slug(name)}"
        statement = f"One utility for every prompt ({name}) collapses the kinds onto one reward distribution"
        tolerance = "kinds' mean curves differ by < 0.05 at every rank; each within 0.05 of the optimum (training prompts)"
    measured = {
        "train": {"max_distance_to_optimum": train["max_distance_to_optimum"], "collapse_score": train["collapse_score"]},
        "held_out": {"max_distance_to_optimum": held["max_distance_to_optimum"], "collapse_score": held["collapse_score"]},
        "train_pair_accuracy": run["train_pair_accuracy"],
    }
    summary = (
        f"collapse score {significant(train['collapse_score'])} (held out {significant(held['collapse_score'])}); "
        f"distance to the optimum {significant(train['max_distance_to_optimum'])} "
        f"(held out {significant(held['max_distance_to_optimum'])}); pair accuracy {significant(run['train_pair_accuracy'])}"
    )
    return Claim(
        id=identifier, claim=statement, summary=summary, measured=measured, tolerance=tolerance, passed=bool(train["passed"])
    )


def claims(results: dict[str, Any]) -> list[Claim]:
    claims = [_gauss_lobatto_claim(results["gauss_lobatto"])]
    claims += [_convergence_claim(study) for study in results["convergence"]]
    claims.append(_cross_check_claim(results["numerical_cross_check"]))
    claims.append(_certified_solves_claim(results["limit_laws"]))
    claims.append(_smoothed_claim(results["smoothed_limit"]))
    claims += [_training_claim(name, run) for name, run in results["training"].items()]
    return claims
