"""Train the reward-collapse demo at scale on a GPU: speed and the acceptance figures.

When JAX sees a GPU, this trains the default synthetic demo (n = 8) at P = 100000
prompts for each configuration of issue 4 (one utility for every prompt: ``linear``,
``log``, ``neg-power:1``, ``log-sigmoid:4``; prompt-aware: ``closed=linear,
open=neg-power:1``), prints the steps per second and the acceptance figures (distance of
each kind's mean reward curve to its utility's optimum; the collapse score), and ends with
one JSON object. On a machine without a GPU it says so and exits 0.

Usage::

    python benchmarks/gpu_check.py [--prompts 100000] [--steps 600] [--json FILE]

Exit status: 0 when every configuration meets its acceptance figures (or no GPU), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from typing import Any

import jax

from collapse_theory._core.io import atomic_write_text
from collapse_theory.training import (
    TrainingConfig,
    acceptance,
    diagnose,
    make_synthetic_dataset,
    parse_prompt_aware,
    train,
)

CONFIGURATIONS = ("linear", "log", "neg-power:1", "log-sigmoid:4", "closed=linear,open=neg-power:1")


def _gpu_present() -> bool:
    try:
        return any(device.platform == "gpu" for device in jax.devices())
    except RuntimeError:
        return False


def _config(text: str, steps: int) -> TrainingConfig:
    if "=" in text:
        return TrainingConfig(prompt_aware=parse_prompt_aware(text), steps=steps)
    return TrainingConfig(utility=text, steps=steps)


def _run_one(text: str, dataset: Any, steps: int) -> dict[str, Any]:
    started = time.perf_counter()
    result = train(dataset, _config(text, steps), progress=False)
    trained = time.perf_counter() - started
    diagnostics = diagnose(dataset, result.rewards, result.utilities)
    verdicts = {split: acceptance(diagnostics, split) for split in ("train", "held_out")}
    record: dict[str, Any] = {
        "configuration": text,
        "mode": diagnostics.mode,
        "steps": result.step,
        "train_seconds": round(trained, 3),
        "steps_per_second": round(result.steps_per_second, 2),
        "terminal_phase": result.terminal_phase,
        "train_pair_accuracy": result.train_pair_accuracy,
        "held_out_pair_accuracy": result.held_out_pair_accuracy,
        "accepted": verdicts["train"].passed,
    }
    for split, verdict in verdicts.items():
        record[split] = {
            "passed": verdict.passed,
            "max_distance_to_optimum": verdict.max_distance_to_optimum,
            "collapse_score": verdict.collapse_score,
            "distance_to_optimum": {curve.kind: curve.distance_to_optimum for curve in getattr(diagnostics, split).curves},
            "mean_curves": {curve.kind: [round(float(x), 4) for x in curve.mean] for curve in getattr(diagnostics, split).curves},
        }
    return record


def main(argv: list[str] | None = None) -> int:
    """Run the check; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--prompts", type=int, default=100_000, help="prompts P (default: 100000)")
    parser.add_argument("--steps", type=int, default=TrainingConfig.steps, help=f"steps (default: {TrainingConfig.steps})")
    parser.add_argument("--json", metavar="FILE", help="also write the JSON summary to FILE")
    parser.add_argument("--force", action="store_true", help="run even without a GPU (slow on a CPU)")
    arguments = parser.parse_args(argv)
    if not _gpu_present() and not arguments.force:
        print(f"gpu_check: JAX sees no GPU (devices: {', '.join(str(d) for d in jax.devices())}); nothing to do.")
        return 0
    devices = jax.devices()
    print(f"devices: {', '.join(f'{d.platform}:{d.device_kind}' for d in devices)}; jax {jax.__version__}", flush=True)
    started = time.perf_counter()
    dataset = make_synthetic_dataset(prompts=arguments.prompts, seed=0)
    held = int(dataset.held_out.sum())
    print(f"dataset: P = {dataset.prompts} ({held} held out), n = {dataset.n}, d = {dataset.dim}", flush=True)
    records = []
    for text in CONFIGURATIONS:
        try:
            record = _run_one(text, dataset, arguments.steps)
        except Exception as error:  # report every configuration, even when one breaks
            traceback.print_exc()
            record = {"configuration": text, "accepted": False, "error": f"{type(error).__name__}: {error}"}
        records.append(record)
        if "error" in record:
            print(f"{text:<32} ERROR {record['error']}", flush=True)
            continue
        train_figures, held_figures = record["train"], record["held_out"]
        print(
            f"{text:<32} {record['steps_per_second']:>9.1f} steps/s  train {record['train_seconds']:6.1f} s  "
            f"terminal {record['terminal_phase']!s:<5}  "
            f"train: dist {train_figures['max_distance_to_optimum']:.4f} collapse {train_figures['collapse_score']:.4f}  "
            f"held-out: dist {held_figures['max_distance_to_optimum']:.4f} collapse {held_figures['collapse_score']:.4f}  "
            f"{'PASS' if record['accepted'] else 'FAIL'}",
            flush=True,
        )
    summary = {
        "devices": [f"{d.platform}:{d.device_kind}" for d in devices],
        "jax": jax.__version__,
        "prompts": dataset.prompts,
        "n": dataset.n,
        "total_seconds": round(time.perf_counter() - started, 2),
        "all_accepted": all(record["accepted"] for record in records),
        "configurations": records,
    }
    text = json.dumps(summary, indent=1)
    print(text)
    if arguments.json:
        atomic_write_text(arguments.json, text + "\n")
    return 0 if summary["all_accepted"] else 1


if __name__ == "__main__":
    sys.exit(main())
