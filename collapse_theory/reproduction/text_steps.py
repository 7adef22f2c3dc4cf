"""The main job's real-text step: the paper's experiment on installed texts, its claim, figure and caption.

Two runs of the trainer on the real-text dataset (:mod:`collapse_theory.training.text_data`,
embedded by the frozen WordLlama embedder): one utility for every prompt (``log-sigmoid:4``, the
paper's baseline) and the prompt-aware scheme (closed-ended: ``linear``, open-ended:
``neg-power:1``).

The model sees the mean and the sum of the frozen WordLlama token vectors of the prompt and of
the completion (:meth:`collapse_theory.training.embedder.Embedder.pool`): the mean alone hides
a truncation's length, and on it the trainer's model stopped short of the interpolating regime
(training pair accuracy 0.97-0.99, log-sigmoid:4's verdict "not collapsed" after 2000 steps).
With the sum beside it the model interpolates the training rankings (pair accuracy 0.999 or
more) and the trainer's verdicts (:func:`collapse_theory.training.verdicts.verdict`, each
kind judged against the optima) hold for both runs: log-sigmoid:4 "collapsed", the
prompt-aware scheme "prompt-aware fix works". The verdicts are reported with the distances and
the pair accuracy; the claim is the comparison the paper's figures make between the two runs:
one utility for every prompt leaves the kinds' mean reward curves closer together than the
prompt-aware scheme does (a smaller collapse score on the training prompts).

The step needs the optional extra ``text``; without it the step records why it was skipped, and
the report says so (no claim, no figure): the main job passes on a bare installation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from matplotlib.figure import Figure

from collapse_theory import figures
from collapse_theory.reproduction.claims import Claim, significant
from collapse_theory.reproduction.figure_records import snapshot_run
from collapse_theory.reproduction.paper_steps import training_record
from collapse_theory.reproduction.settings import PROMPT_AWARE, Settings
from collapse_theory.training import TrainingConfig, acceptance, diagnose, embedder, train, verdict
from collapse_theory.training.text_data import make_text_dataset

__all__ = [
    "TEXT_FIGURE",
    "TextSizes",
    "real_text_step",
    "text_captions",
    "text_claims",
    "text_figures",
    "text_skipped",
    "text_step_name",
]

#: The figure's file stem.
TEXT_FIGURE = "real_text"
#: Optimizer steps of each real-text run in the full reproduction.
FULL_TEXT_STEPS = 2000
#: The runs, in the figure's order (rows).
TEXT_RUNS = ("log-sigmoid:4", "prompt-aware")


@dataclass(frozen=True)
class TextSizes:
    """Sizes of the real-text runs.

    Attributes:
        prompts: prompts drawn from the installed texts (None: every text, about 2,600).
        dim: leading coordinates of WordLlama's 256 kept in each pooling (its 64, 128, 256 are each trained to embed).
        steps: optimizer steps of each run.
        snapshot_steps: the figure's snapshot steps before the last.
    """

    prompts: int | None
    dim: int
    steps: int
    snapshot_steps: tuple[int, ...]


def text_sizes(settings: Settings) -> TextSizes:
    """The quick run: 400 prompts, 64 coordinates, the synthetic runs' steps; the full run: every text, all 256, 2000 steps.

    The full run trains longer than the synthetic runs because real text converges more
    slowly: both verdicts already hold at 600 steps, and at 2000 the training curves sit
    closer to the optima.
    """
    if settings.quick:
        return TextSizes(prompts=400, dim=64, steps=settings.steps, snapshot_steps=(60, 200))
    return TextSizes(prompts=None, dim=256, steps=FULL_TEXT_STEPS, snapshot_steps=(200, 1000))


def real_text_step(settings: Settings, stream: TextIO | None) -> dict[str, Any]:
    """Build the real-text dataset and train both runs; ``{"skipped": why}`` without the extra."""
    # the module's function, looked up at call time (a test hides the extra by replacing it)
    if not embedder.embedder_available():
        why = (
            f"the real-text claim needs the optional extra '{embedder.TEXT_EXTRA}' ({embedder.EMBEDDER_PACKAGE}, "
            f"not installed): pip install -e '.[{embedder.TEXT_EXTRA}]'"
        )
        if stream is not None:
            print(f"      skipped: {why}", file=stream, flush=True)
        return {"skipped": why}
    sizes = text_sizes(settings)
    data = make_text_dataset(prompts=sizes.prompts, seed=settings.seed, held_out=0.1, dim=sizes.dim)
    dataset = data.dataset
    configurations = {
        "log-sigmoid:4": TrainingConfig(utility="log-sigmoid:4", steps=sizes.steps, seed=settings.seed),
        "prompt-aware": TrainingConfig(prompt_aware=PROMPT_AWARE, steps=sizes.steps, seed=settings.seed),
    }
    runs: dict[str, Any] = {}
    for name, config in configurations.items():
        if stream is not None:
            print(f"      training {name} on real text ({dataset.prompts} prompts, {sizes.steps} steps)", file=stream, flush=True)
        result = train(dataset, config, progress=False)
        final = diagnose(dataset, result.rewards, result.losses_by_kind)
        outcome = verdict(final)
        runs[name] = {
            **training_record(dataset, result, final, sizes.snapshot_steps),
            "verdict": {"outcome": outcome.outcome, "passed": outcome.passed, "message": outcome.message},
            "acceptance_train": asdict(acceptance(final, "train")),
            "terminal_phase": result.terminal_phase,
            "train_pair_accuracy": result.train_pair_accuracy,
        }
    info = data.metadata
    return {
        "prompts": dataset.prompts,
        "held_out": int(dataset.held_out.sum()),
        "texts_available": info["texts_available"],
        "dim": sizes.dim,
        "steps": sizes.steps,
        "embedder": info["embedder"],
        "versions": info["versions"],
        "runs": runs,
    }


def text_step_name() -> str:
    """The step's cache name: another when the extra is missing, so installing it later runs the step anew."""
    return "real_text" if embedder.embedder_available() else "real_text_without_extra"


def _text(results: dict[str, Any]) -> dict[str, Any]:
    value = results.get("real_text", results.get("real_text_without_extra"))
    return value if isinstance(value, dict) else {"skipped": "the real-text step did not run"}


def text_skipped(results: dict[str, Any]) -> list[str]:
    """Why the real-text claim was skipped (empty when it ran)."""
    skipped = _text(results).get("skipped")
    return [str(skipped)] if skipped else []


def _run_summary(name: str, run: dict[str, Any]) -> str:
    train = run["acceptance_train"]
    return (
        f"{name}: verdict '{run['verdict']['outcome']}', collapse score {significant(train['collapse_score'])}, "
        f"max distance to the optimum {significant(train['max_distance_to_optimum'])}, "
        f"pair accuracy {significant(run['train_pair_accuracy'])}"
    )


def text_claims(results: dict[str, Any]) -> list[Claim]:
    """The real-text claim (none when the step was skipped)."""
    text = _text(results)
    if text.get("skipped"):
        return []
    runs = text["runs"]
    single = runs["log-sigmoid:4"]["acceptance_train"]["collapse_score"]
    aware = runs["prompt-aware"]["acceptance_train"]["collapse_score"]
    closer = single is not None and aware is not None and single < aware
    utilities = ", ".join(f"{kind} = {spec}" for kind, spec in PROMPT_AWARE)
    summary = (
        f"{text['prompts']} prompts of real text, {text['steps']} steps; "
        + "; ".join(_run_summary(name, runs[name]) for name in TEXT_RUNS)
        + "; interpolating regime (pair accuracy 1): "
        + ("reached" if all(runs[name]["terminal_phase"] for name in TEXT_RUNS) else "not reached")
    )
    measured = {
        "prompts": text["prompts"],
        "steps": text["steps"],
        "dim": text["dim"],
        "runs": {
            name: {
                "verdict": runs[name]["verdict"]["outcome"],
                "verdict_passed": runs[name]["verdict"]["passed"],
                "collapse_score": runs[name]["acceptance_train"]["collapse_score"],
                "max_distance_to_optimum": runs[name]["acceptance_train"]["max_distance_to_optimum"],
                "train_pair_accuracy": runs[name]["train_pair_accuracy"],
                "terminal_phase": runs[name]["terminal_phase"],
            }
            for name in TEXT_RUNS
        },
    }
    return [
        Claim(
            id="real-text-prompt-aware",
            claim=(
                "On real text with a pretrained embedder, one utility for every prompt (log-sigmoid:4) leaves the kinds "
                f"closer together than the prompt-aware scheme ({utilities}) does"
            ),
            summary=summary,
            measured=measured,
            tolerance=(
                "training prompts: log-sigmoid:4's collapse score below the prompt-aware one's; the trainer's verdicts "
                "(each kind judged against the optima) are reported, not required"
            ),
            passed=bool(closer),
        )
    ]


def text_figures(results: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """The real-text figure's drawing (none when the step was skipped): snapshots of both runs, as the paper's."""
    text = _text(results)
    if text.get("skipped"):
        return {}
    return {TEXT_FIGURE: functools.partial(_draw, text)}


def _draw(text: dict[str, Any]) -> Figure:
    figure = figures.training_snapshots([snapshot_run(name, text["runs"][name]) for name in TEXT_RUNS])
    figure.suptitle(
        f"Real text ({text['prompts']} prompts, WordLlama embeddings): one utility for every prompt vs the prompt-aware scheme"
    )
    return figure


def text_captions(results: dict[str, Any]) -> dict[str, str]:
    """The real-text figure's caption (none when the step was skipped)."""
    text = _text(results)
    if text.get("skipped"):
        return {}
    steps = ", ".join(sorted(text["runs"]["log-sigmoid:4"]["snapshots"], key=int))
    return {
        TEXT_FIGURE: (
            f"The paper's experiment on real text: {text['prompts']} questions about installed scientific packages and "
            "Python's own documentation, each answered by its documentation truncated at 8 lengths (open-ended: 10 to 80 "
            "words; closed-ended: 16-34 and 56-74 words), embedded by the frozen WordLlama table "
            f"(mean and sum of the token vectors, {text['dim']} coordinates each). Reward against response index on the training prompts at steps {steps}: "
            "log-sigmoid:4 for every prompt (top) against the prompt-aware scheme (bottom; closed-ended: linear, "
            "open-ended: neg-power:1), mean and one standard deviation per kind, each utility's optimum dashed. "
            "Right: the collapse score against step."
        )
    }
