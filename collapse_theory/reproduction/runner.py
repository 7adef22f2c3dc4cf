"""The main job: regenerate every figure and a claim-by-claim verification report.

:func:`reproduce` runs, in order, the steps below; each step's results are
cached (JSON, atomically written) under ``OUT/.cache`` keyed by the run's
settings and code, so an interrupted run loses at most the step it was in and a rerun
finishes the work. Figures (PNG and SVG) and ``report.md`` / ``report.json``
are written atomically at the end.

Steps: the Gauss-Lobatto optimum of ``log``; optimal rewards at a large n for
every built-in with its limit law; convergence to the closed forms; the family
map; numerical limits of ``log-sigmoid:B`` and ``exp:B``; and five training
runs on synthetic prompts (four single utilities, one prompt-aware scheme).
Then the smoothed utility -1/(x + 0.1) of the paper's experiments: its limit law has
atoms at the ends, unlike the uniform law of ``neg-power:1``. Then the ranking losses
practitioners train with (docs/losses.md): the Hermite zeros of ``log+free+l2:BETA``,
IPO's equal gaps, free Bradley-Terry's missing maximiser (and its training run, whose
rewards grow while their shape converges), the n = 8 optima of the framework losses with
their limit laws, and Open-Assistant's loss trained to its optimum.

The report (``report.md``, ``report.json``) gives every claim a stable id, a one-line
summary of the measured numbers (three significant figures; ``report.json`` keeps the
full values), the tolerance and the verdict, then the settings, the software versions
and the project's version, and a caption under every figure. It is deterministic: two
runs with the same seed and code give identical reports, except for the section
``This run`` (report.md) and the ``run`` object (report.json), which hold the date, the
wall-clock time and how many steps came from the cache. Step timings go to
``.cache/timings.json``.

The work is split by idea: the settings and the code version that key the cache
(``_reproduction_settings``), the cache (``_reproduction_cache``), the paper's steps
(``_reproduction_steps``), the ranking losses' steps (``_loss_steps``), the claims
(``_claims``), the figures' typed records (``_figure_records``) and the report's text
(``_report``); this module runs them in order.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from collapse_theory._core.checks import check_seed
from collapse_theory._core.io import atomic_savefig, atomic_write_json, atomic_write_text
from collapse_theory.errors import InputError
from collapse_theory.reproduction import loss_steps as _loss_steps
from collapse_theory.reproduction import paper_steps
from collapse_theory.reproduction import text_steps as _text_steps
from collapse_theory.reproduction.cache import Steps, clear_cache, plain
from collapse_theory.reproduction.claims import Claim, claims
from collapse_theory.reproduction.figure_records import drawings
from collapse_theory.reproduction.loss_claims import loss_claims
from collapse_theory.reproduction.paper_steps import smoothed_neg_power
from collapse_theory.reproduction.report import captions, environment, report_markdown
from collapse_theory.reproduction.settings import FIGURES, Settings, code_version

__all__ = [
    "FIGURES",
    "Claim",
    "Reproduction",
    "Settings",
    "clear_cache",
    "code_version",
    "reproduce",
    "smoothed_neg_power",
]


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


def _plan(settings: Settings, stream: TextIO | None) -> list[tuple[str, Callable[[], Any]]]:
    """Every step, by cache name, in the order run."""
    return [
        ("gauss_lobatto", lambda: paper_steps.gauss_lobatto_step(settings)),
        ("limit_laws", lambda: paper_steps.limit_laws_step(settings)),
        ("convergence", lambda: paper_steps.convergence_step(settings)),
        ("family_map", lambda: paper_steps.family_map_step(settings)),
        ("numerical_limits", lambda: paper_steps.numerical_limits_step(settings)),
        ("numerical_cross_check", lambda: paper_steps.numerical_cross_check_step(settings)),
        ("smoothed_limit", lambda: paper_steps.smoothed_limit_step(settings)),
        ("training", lambda: paper_steps.training_step(settings, stream)),
        ("hermite", lambda: _loss_steps.hermite_step(settings)),
        ("ipo_equal_gaps", lambda: _loss_steps.ipo_step(settings)),
        ("ranking_losses", lambda: _loss_steps.ranking_losses_step(settings)),
        ("loss_training", lambda: _loss_steps.loss_training_step(settings, stream)),
        (_text_steps.text_step_name(), lambda: _text_steps.real_text_step(settings, stream)),
    ]


def _write_figures(out: Path, results: dict[str, Any]) -> list[Path]:
    """Every figure as PNG and SVG (no date or software stamp: the files depend on the results only)."""
    written: list[Path] = []
    for name, draw in {**drawings(results), **_text_steps.text_figures(results)}.items():
        figure = draw()
        for suffix in (".png", ".svg"):
            path = out / f"{name}{suffix}"
            metadata = {"Date": None} if suffix == ".svg" else {"Software": None}
            atomic_savefig(figure, path, dpi=110, metadata=metadata)
            written.append(path)
    return written


def _write_report(out: Path, settings: Settings, results: dict[str, Any], found: list[Claim], run: dict[str, Any]) -> list[Path]:
    """report.json and report.md."""
    software = environment()
    figure_captions = {**captions(settings, results), **_text_steps.text_captions(results)}
    skipped = _text_steps.text_skipped(results)
    report = {
        "settings": asdict(settings),
        "claims": [dict(asdict(c), verdict=c.verdict) for c in found],
        "passed": all(c.passed for c in found),
        "environment": software,
        "figures": [
            {"name": name, "files": [f"{name}.png", f"{name}.svg"], "caption": caption}
            for name, caption in figure_captions.items()
        ],
        "skipped": skipped,
        "run": run,
    }
    atomic_write_json(out / "report.json", plain(report))
    atomic_write_text(out / "report.md", report_markdown(found, software, settings, figure_captions, run, skipped=skipped))
    return [out / "report.json", out / "report.md"]


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
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed must be an integer in [0, 2**32 - 1], got {seed!r}")
    seed = check_seed(seed)  # the one seed range of every command
    started = time.perf_counter()
    date = datetime.now(UTC).replace(microsecond=0).isoformat()
    out = Path(out)
    settings = Settings.make(quick, seed)
    steps = Steps(out, settings, stream)
    plan = _plan(settings, stream)
    total = len(plan) + 1
    results = {name: steps.run(name, i, total, compute) for i, (name, compute) in enumerate(plan, 1)}
    if stream is not None:
        print(f"[{total}/{total}] figures and report ...", file=stream, flush=True)
    written = _write_figures(out, results)
    found = claims(results) + loss_claims(results) + _text_steps.text_claims(results)
    run = {
        "date": date,
        "seconds": round(time.perf_counter() - started, 1),
        "steps": len(plan),
        "steps_from_cache": len(plan) - len(steps.timings),
    }
    written += _write_report(out, settings, results, found, run)
    atomic_write_json(out / ".cache" / "timings.json", steps.timings)
    if stream is not None:
        passed = sum(c.passed for c in found)
        print(f"done: {passed}/{len(found)} claims PASS; report at {out / 'report.md'}", file=stream, flush=True)
    return Reproduction(out, tuple(found), tuple(written))
