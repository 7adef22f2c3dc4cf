"""The report's text: captions, settings, software and device, and report.md itself.

Everything but the last section of report.md (``This run``: date, run time, steps read from
the cache) depends on the settings, the cached results and the code only, so two runs of the
same code and seed write the same text.
"""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import jax

from collapse_theory._core.version import PACKAGE_ROOT, __version__
from collapse_theory.reproduction.claims import Claim
from collapse_theory.reproduction.settings import PROMPT_AWARE, SMOOTHING, Settings, code_version

__all__ = ["captions", "environment", "report_markdown"]


def captions(settings: Settings, results: dict[str, Any]) -> dict[str, str]:
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
        "ranking_losses": _ranking_losses_caption(results),
        "bradley_terry_divergence": _divergence_caption(results),
    }


def _ranking_losses_caption(results: dict[str, Any]) -> str:
    items = results["ranking_losses"]
    unbounded = ", ".join(item["spec"] for item in items if item["status"] == "unbounded")
    laws = ", ".join(f"{item['spec']} ({item['law']['name']})" for item in items if item["law"] is not None)
    return (
        f"The ranking losses frameworks train with (docs/losses.md) at n = {items[0]['n']}: left, each loss's optimum, "
        "range-normalised and best first; dashed where the loss has no maximiser and the line is the direction its "
        f"rewards grow along (equal gaps: {unbounded}). Right, the n -> infinity law of each loss that has one, on "
        f"its own reward scale, the n = {items[0]['n']} optimum as ticks: {laws}."
    )


def _divergence_caption(results: dict[str, Any]) -> str:
    run = results["loss_training"]["bradley_terry"]
    steps, ranges, distances = run["steps"], run["reward_range"], run["shape_distance"]
    return (
        f"Free Bradley-Terry (bradley-terry) trained on {run['prompts']} synthetic prompts (n = 8) with Adam at learning "
        f"rate {run['learning_rate']:g}, cosine-decayed, steps on a log scale. Left: the mean reward range (max r - min r) "
        f"grows at every logged step, from {ranges[0]:.3g} at step {steps[0]:g} to {ranges[-1]:.3g} at step {steps[-1]:g}, "
        "levelling off as the learning rate decays. Right: the distance of the range-normalised mean shape to the "
        f"solver's direction (equal gaps) falls from {distances[0]:.2g} to {distances[-1]:.2g} and levels off with it. "
        "Dashed: least-squares trends a + b log(step) and c / log(step), the rates of plain gradient descent at a "
        "constant learning rate (Soudry et al. 2018); this run stops short of the direction: no maximiser exists, and "
        "where training stops decides the shape."
    )


def _project_version() -> dict[str, str | None]:
    """The package version, the code hash of the cache keys, and ``git describe`` of a checkout (else None)."""
    package = PACKAGE_ROOT
    described = None
    try:
        # only when this very file is tracked: a package installed inside another repository is not its checkout
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", Path(__file__).resolve().relative_to(package).as_posix()],
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


def environment() -> dict[str, Any]:
    versions = {"python": platform.python_version()}
    for package in ("collapse_theory", "jax", "jaxlib", "jaxopt", "optax", "numpy", "scipy", "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
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
        f"- ranking losses: Hermite check at n = {', '.join(str(n) for n in settings.hermite_ns)}; convergence to the "
        f"limit laws at n = {', '.join(str(n) for n in settings.loss_convergence_ns)}; training on "
        f"{settings.loss_prompts} synthetic prompts, {settings.divergence_steps} steps (bradley-terry) and "
        f"{settings.steps} steps (open-assistant)",
    ]


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def report_markdown(
    claims: list[Claim],
    software: dict[str, Any],
    settings: Settings,
    captions: dict[str, str],
    run: dict[str, Any],
    *,
    skipped: Sequence[str] = (),
) -> str:
    passed = sum(c.passed for c in claims)
    project = software["project"]
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
    lines += [""]
    lines += [f"Skipped: {why}." for why in skipped] + ([""] if skipped else [])
    lines += ["Full measured values, by claim id: `report.json`.", "", "## Settings", ""]
    lines += _settings_lines(settings)
    lines += ["", "## Software and device", ""]
    lines.append(
        f"- project: collapse_theory {project['package']}, git {project['git'] or 'unavailable'}, code {project['code']}"
    )
    lines += [f"- {name}: {value}" for name, value in software["versions"].items()]
    lines += [f"- device: {software['device']} (x{software['device_count']})", ""]
    lines += ["## Figures", ""]
    for name in captions:  # the paper's figures (FIGURES), then the real-text figure when it ran
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
