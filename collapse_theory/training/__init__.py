"""Training reward models on rankings: collapse in a real loop, and the prompt-aware fix.

The public surface (Song, Cai, Lee, Su, arXiv 2305.17608, Section 5, on synthetic
embeddings): a dataset format and generator, the reward model, the trainer, its
diagnostics and the figure.

Example:
    >>> from collapse_theory.training import TrainingConfig, make_synthetic_dataset, train, diagnose
    >>> dataset = make_synthetic_dataset(prompts=40, n=4, seed=0)
    >>> result = train(dataset, TrainingConfig(utility="log", steps=10), progress=False)
    >>> diagnose(dataset, result.rewards, result.utilities).train.prompts
    36
"""

from typing import TYPE_CHECKING, Any

from collapse_theory.training.config import DEFAULT_TRAINING_HIDDEN, TrainingConfig, TrainingError, parse_prompt_aware
from collapse_theory.training.data import (
    DATASET_KEYS,
    SYNTHETIC_KINDS,
    Dataset,
    DatasetError,
    completion_lengths,
    load_dataset,
    make_synthetic_dataset,
    save_dataset,
)
from collapse_theory.training.diagnostics import (
    Diagnostics,
    KindCurve,
    SplitDiagnostics,
    collapse_score,
    diagnose,
    pair_accuracy,
    predict,
    range_normalised,
    sorted_rewards,
)
from collapse_theory.training.model import (
    Layer,
    RewardModel,
    init_reward_model,
    reward_logits,
    reward_model_rewards,
    rewards_from_logits,
)
from collapse_theory.training.run_directory import RunDirectoryBusyError
from collapse_theory.training.run_record import RunRecord, save_diagnostics
from collapse_theory.training.trainer import (
    TrainingDivergedError,
    TrainingResult,
    dataset_fingerprint,
    prompt_loss,
    train,
    training_memory,
)
from collapse_theory.training.verdicts import Acceptance, Verdict, acceptance, verdict

__all__ = [
    "DATASET_KEYS",
    "DEFAULT_TRAINING_HIDDEN",
    "SYNTHETIC_KINDS",
    "Acceptance",
    "Dataset",
    "DatasetError",
    "Diagnostics",
    "KindCurve",
    "Layer",
    "RewardModel",
    "RunDirectoryBusyError",
    "RunRecord",
    "SplitDiagnostics",
    "TrainingConfig",
    "TrainingDivergedError",
    "TrainingError",
    "TrainingResult",
    "Verdict",
    "acceptance",
    "collapse_score",
    "completion_lengths",
    "dataset_fingerprint",
    "diagnose",
    "init_reward_model",
    "load_dataset",
    "make_synthetic_dataset",
    "pair_accuracy",
    "parse_prompt_aware",
    "plot_divergence",
    "plot_rewards",
    "predict",
    "prompt_loss",
    "range_normalised",
    "reward_logits",
    "reward_model_rewards",
    "rewards_from_logits",
    "save_dataset",
    "save_diagnostics",
    "sorted_rewards",
    "train",
    "training_memory",
    "verdict",
]

if TYPE_CHECKING:
    from collapse_theory.training.divergence import plot_divergence
    from collapse_theory.training.plots import plot_rewards


def __getattr__(name: str) -> Any:
    # the figures pull in matplotlib (~2 s to import): load it only when asked for.
    if name == "plot_rewards":
        from collapse_theory.training.plots import plot_rewards  # matplotlib: only when asked for

        return plot_rewards
    if name == "plot_divergence":
        from collapse_theory.training.divergence import plot_divergence  # matplotlib: only when asked for

        return plot_divergence
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
