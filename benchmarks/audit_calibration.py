"""Calibration of the audit's verdict: verdict rates over simulated score files whose answer is known.

Each prompt's scores are a utility's optimum at its n (the solver's certified answer),
plus Gaussian noise, then mapped by a random per-prompt scale and offset drawn alike in
every group (what a reward model's free offset and scale do). For each scenario the
audit runs on ``--seeds`` independent files and the share of each verdict is tabulated:

* ``same``: every group from one utility: "differ" is a false alarm (target <= 5%);
* ``distinct``: groups from utilities whose optima are a known distance apart: "collapsed"
  is false when that distance is at or above the resolution the verdict prints (target
  <= 5%), and the share of "differ" is the power;
* ``none``: scores unrelated to the ranking: the verdict should be "no signal".

Run ``python benchmarks/audit_calibration.py`` (100 seeds per scenario, about 5 minutes
on 2 cores); ``--write-docs`` replaces the table in docs/audit.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.optimize

from collapse_theory.auditing import audit
from collapse_theory.auditing.features import prompt_features
from collapse_theory.solver.utility_solver import solve

DOCS = Path(__file__).resolve().parents[1] / "docs" / "audit.md"
START, END = "<!-- calibration table: start -->", "<!-- calibration table: end -->"


@dataclass(frozen=True)
class Group:
    """Prompts of one group: a utility, its n (one or several), prompts, noise, margin factor."""

    utility: str
    sizes: tuple[int, ...]
    prompts: int
    noise: float = 0.01
    margin: float = 1.0


@dataclass(frozen=True)
class Scenario:
    name: str
    truth: str  # same, distinct, none
    groups: dict[str, Group]
    distance: float | None = None
    note: str = ""
    signal: bool = True
    extra: dict[str, object] = field(default_factory=dict)


_OPTIMA: dict[tuple[str, int], np.ndarray] = {}


def optimum(utility: str, n: int) -> np.ndarray:
    if (utility, n) not in _OPTIMA:
        _OPTIMA[(utility, n)] = np.asarray(solve(utility, n).rewards, dtype=np.float64)
    return _OPTIMA[(utility, n)]


def shape_distance(a: str, b: str, n: int) -> float:
    x = prompt_features(optimum(a, n)[None, :])[0, :-1]
    y = prompt_features(optimum(b, n)[None, :])[0, :-1]
    return float(np.max(np.abs(x - y)))


def partner_at(distance: float, n: int) -> str:
    """A power member (box-cox G in (0, 1]) whose optimum at n is ``distance`` from log's (sup-norm of the shapes)."""
    gap = lambda g: shape_distance("log", f"box-cox:{g:.10g}", n) - distance  # noqa: E731
    root = scipy.optimize.brentq(gap, 1e-3, 0.99, xtol=1e-7)  # towards linear: the power members
    return f"box-cox:{root:.10g}"


def scores_for(scenario: Scenario, seed: int) -> tuple[list[list[float]], list[str]]:
    rng = np.random.default_rng(seed)
    scores: list[list[float]] = []
    names: list[str] = []
    for name, group in scenario.groups.items():
        for number in range(group.prompts):
            n = group.sizes[number % len(group.sizes)]
            if scenario.signal:
                rewards = optimum(group.utility, n) * group.margin + rng.normal(0.0, group.noise, n)
            else:
                rewards = rng.normal(0.0, 1.0, n)
            scores.append((rewards * rng.uniform(0.5, 2.0) + rng.normal(0.0, 3.0)).tolist())
            names.append(name)
    return scores, names


def scenarios() -> list[Scenario]:
    same = "log-sigmoid:4"
    out = [
        Scenario("one utility, n = 8", "same", {"a": Group(same, (8,), 300), "b": Group(same, (8,), 300)}),
        Scenario("one utility, n = 4", "same", {"a": Group(same, (4,), 300), "b": Group(same, (4,), 300)}),
        Scenario(
            "one utility, n = 4 and 8 in each group", "same", {"a": Group(same, (4, 8), 300), "b": Group(same, (4, 8), 300)}
        ),
        Scenario("one utility, n = 4 in a, n = 8 in b", "same", {"a": Group(same, (4,), 300), "b": Group(same, (8,), 300)}),
        Scenario(
            "one utility, noise 0.01 and 0.03, 300 and 60 prompts",
            "same",
            {"a": Group(same, (8,), 300, noise=0.01), "b": Group(same, (8,), 60, noise=0.03)},
        ),
        Scenario(
            "one utility, noise 0.01 and 0.05 (log-sigmoid:4's near-tied top pair)",
            "same",
            {"a": Group(same, (8,), 300, noise=0.01), "b": Group(same, (8,), 300, noise=0.05)},
        ),
        Scenario(
            "one utility plus three 3-prompt groups of another",
            "same",
            {
                "a": Group(same, (8,), 300),
                "b": Group(same, (8,), 300),
                "c": Group("linear", (8,), 3),
                "d": Group("linear", (8,), 3),
                "e": Group("linear", (8,), 3),
            },
        ),
        Scenario("pairs (n = 2), equal margins", "same", {"a": Group("log", (2,), 300), "b": Group("log", (2,), 300)}),
        Scenario(
            "no signal (scores unrelated to the ranking)",
            "none",
            {"a": Group("log", (8,), 300), "b": Group("log", (8,), 300)},
            signal=False,
        ),
        Scenario(
            "pairs (n = 2), margins 3x apart",
            "distinct",
            {"a": Group("log", (2,), 300), "b": Group("log", (2,), 300, margin=3.0)},
            distance=float(np.log(3.0)),
            note="log-range",
        ),
        Scenario(
            "log vs neg-power:1, n = 4",
            "distinct",
            {"a": Group("log", (4,), 300), "b": Group("neg-power:1", (4,), 300)},
            distance=shape_distance("log", "neg-power:1", 4),
        ),
    ]
    for n in (4, 8):
        for distance in (0.01, 0.02, 0.05, 0.1, 0.2):
            partner = partner_at(distance, n)
            out.append(
                Scenario(
                    f"log vs {partner.split(':')[0]}:{float(partner.split(':')[1]):.3g}, n = {n}",
                    "distinct",
                    {"a": Group("log", (n,), 300), "b": Group(partner, (n,), 300)},
                    distance=distance,
                )
            )
    partner = partner_at(0.05, 4)
    out.append(
        Scenario(
            "log vs a member 0.05 apart at n = 4, mixed n = 4 and 8",
            "distinct",
            {"a": Group("log", (4, 8), 300), "b": Group(partner, (4, 8), 300)},
            distance=0.05,
        )
    )
    return out


def run(seeds: int, resamples: int) -> tuple[str, list[dict[str, object]]]:
    rows = []
    for scenario in scenarios():
        counts = {"collapsed": 0, "differ": 0, "inconclusive": 0, "no signal": 0}
        resolution: list[float] = []
        started = time.perf_counter()
        for seed in range(seeds):
            scores, names = scores_for(scenario, seed)
            report = audit(scores, groups=names, resamples=resamples, seed=seed)
            if report.collapsed is True:
                counts["collapsed"] += 1
            elif report.collapsed is False:
                counts["differ"] += 1
            elif report.reason.startswith("no signal"):
                counts["no signal"] += 1
            else:
                counts["inconclusive"] += 1
            value = report.resolution.scale if scenario.note == "log-range" else report.resolution.shape
            if value is not None:
                resolution.append(value)
        res = float(np.median(resolution)) if resolution else None
        rows.append(
            {
                "scenario": scenario.name,
                "truth": scenario.truth,
                "distance": scenario.distance,
                "axis": scenario.note or ("shape" if scenario.distance is not None else ""),
                "resolution": res,
                **{key: value / seeds for key, value in counts.items()},
                "seconds": time.perf_counter() - started,
            }
        )
        print(f"{scenario.name}: {counts} ({rows[-1]['seconds']:.1f} s)", file=sys.stderr, flush=True)
    return table(rows, seeds, resamples), rows


def _error(row: dict[str, object]) -> str:
    if row["truth"] == "same":
        return f"false differ {row['differ']:.0%}"
    if row["truth"] == "none":
        return f"not 'no signal' {1 - float(row['no signal']):.0%}"  # type: ignore[arg-type]
    distance, resolution = row["distance"], row["resolution"]
    if resolution is not None and distance is not None and float(distance) >= float(resolution):  # type: ignore[arg-type]
        return f"false collapsed {row['collapsed']:.0%}"
    return "below the resolution"


def table(rows: list[dict[str, object]], seeds: int, resamples: int) -> str:
    lines = [
        f"{seeds} seeds per scenario, {resamples} bootstrap draws, alpha 0.01, default resolution; "
        f"measured {datetime.date.today().isoformat()} on {platform.machine()} "
        f"({platform.python_implementation()} {platform.python_version()}) by `python benchmarks/audit_calibration.py`.",
        "",
        "| scenario | truth | distance | resolution | collapsed | differ | inconclusive | no signal | error rate |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        distance = "-" if row["distance"] is None else f"{row['distance']:.3g}"
        resolution = "-" if row["resolution"] is None else f"{row['resolution']:.3g}"
        lines.append(
            f"| {row['scenario']} | {row['truth']} | {distance} | {resolution} | {row['collapsed']:.0%} | {row['differ']:.0%} "
            f"| {row['inconclusive']:.0%} | {row['no signal']:.0%} | {_error(row)} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--write-docs", action="store_true", help="replace the calibration table in docs/audit.md")
    arguments = parser.parse_args()
    text, _ = run(arguments.seeds, arguments.resamples)
    print(text)
    if arguments.write_docs:
        document = DOCS.read_text()
        pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
        if not pattern.search(document):
            raise SystemExit(f"docs/audit.md has no {START} ... {END} block")
        DOCS.write_text(pattern.sub(lambda _: f"{START}\n{text}\n{END}", document))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
