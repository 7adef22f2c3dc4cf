"""The outcome of a training run: :class:`TrainingResult`, its rewards, and whether it reached the terminal phase.

The model's rewards are the sigmoid of its logits, or the logits themselves on prompts whose
loss trains free rewards (:func:`head_rewards`, in float64). A run is in the *terminal phase*
(Song, Cai, Lee, Su, arXiv 2305.17608, Section 5) when every training pair is ordered right
and the loss is flat: :func:`terminal_phase`, from :func:`loss_change`.

Example:
    >>> import numpy as np
    >>> head_rewards(np.array([[0.0, 2.0]]), np.array([True])), loss_change(np.array([2.0, 1.0, 1.0]))
    (array([[0., 2.]]), 0.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from collapse_theory.problems.losses import Loss
from collapse_theory.training.config import TrainingConfig
from collapse_theory.training.model import RewardModel

__all__ = ["TrainingResult", "head_rewards", "loss_change", "terminal_phase"]


@dataclass(frozen=True, eq=False, kw_only=True)
class TrainingResult:
    """The outcome of :func:`train`.

    Attributes:
        config: the configuration.
        kind_names: the dataset's kinds.
        utilities: each kind's utility or loss spec.
        losses_by_kind: each kind's :class:`~collapse_theory.problems.losses.Loss` (a custom
            utility's too, which has no spec to parse back).
        params: the final reward model (NumPy arrays).
        step: the last step trained (``config.steps`` unless stopped early).
        logits: float64 [P, n], every prompt's final logits in the dataset's order.
        held_out: bool [P], the dataset's held-out mask.
        snapshots: ``{step: rewards [P, n] float64}`` at every snapshot step.
        metrics: the metrics log, one dict per logged step.
        losses: float64 [step], the training loss before each optimizer step.
        train_pair_accuracy: fraction of ranked training pairs ordered right (on logits).
        held_out_pair_accuracy: the same on held-out prompts (None when there are none).
        loss_change: relative change of the loss over the last tenth of the steps.
        terminal_phase: training pair accuracy 1 and the loss flat (``loss_change`` at
            most 1e-3), the loss not underflowed (:attr:`loss_underflowed`).
        seconds: wall-clock time of this call.
        steps_per_second: optimizer steps per second, compilation excluded when possible.
        devices: number of devices the prompts were split over.
        platform: the devices' platform (``"cpu"``, ``"gpu"``, ``"tpu"``).
        device_kind: the first device's kind (e.g. ``"cpu"``, ``"NVIDIA H200"``).
        free: bool [P], prompts whose loss trains free rewards (reward = logit, no sigmoid).
    """

    config: TrainingConfig
    kind_names: tuple[str, ...]
    utilities: dict[str, str]
    params: RewardModel
    step: int
    logits: np.ndarray
    held_out: np.ndarray
    snapshots: dict[int, np.ndarray]
    metrics: tuple[dict[str, Any], ...]
    losses: np.ndarray
    train_pair_accuracy: float
    held_out_pair_accuracy: float | None
    loss_change: float
    terminal_phase: bool
    seconds: float
    steps_per_second: float
    devices: int
    platform: str
    device_kind: str = ""
    losses_by_kind: dict[str, Loss] = field(default_factory=dict)
    free: np.ndarray | None = None

    @property
    def loss_underflowed(self) -> bool:
        """The last training loss is exactly 0: float32 saturated (a sigmoid or log-sigmoid past its last digit).

        Its gradient is then 0 too, so a flat loss says the arithmetic stopped, not that training
        reached the terminal phase (no loss here reaches 0 at a finite optimum with n >= 3).
        """
        return bool(self.losses.size and self.losses[-1] == 0.0)

    @property
    def rewards(self) -> np.ndarray:
        """float64 [P, n], every prompt's rewards: sigmoid(logits), or the logits where the loss is free."""
        return head_rewards(self.logits, self.free)

    @property
    def train_rewards(self) -> np.ndarray:
        """The training prompts' rewards."""
        return self.rewards[~self.held_out]

    @property
    def held_out_rewards(self) -> np.ndarray:
        """The held-out prompts' rewards."""
        return self.rewards[self.held_out]


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -logits))


def head_rewards(logits: np.ndarray, free: np.ndarray | None) -> np.ndarray:
    """Rewards from logits: sigmoid, except the raw logits on prompts whose loss is free."""
    rewards = _sigmoid(logits)
    if free is None or not np.any(free):
        return rewards
    return np.where(np.asarray(free, dtype=bool)[:, None], np.asarray(logits, dtype=np.float64), rewards)


def terminal_phase(train_accuracy: float, loss_change: float, losses: np.ndarray) -> bool:
    """Every training pair ordered right and the loss flat (relative change <= 1e-3), the loss not underflowed.

    A loss exactly 0 in float32 is a saturated sigmoid or log-sigmoid (a huge learning rate):
    its gradient is 0 too, so its flatness says the arithmetic stopped, not that training
    reached the terminal phase.

    Example:
        >>> terminal_phase(1.0, 0.0, np.array([0.3, 0.2])), terminal_phase(1.0, 0.0, np.array([0.3, 0.0]))
        (True, False)
    """
    underflowed = bool(losses.size and losses[-1] == 0.0)
    return bool(train_accuracy == 1.0 and loss_change <= 1e-3 and not underflowed)


def loss_change(losses: np.ndarray) -> float:
    """Relative change of the loss over the last tenth of the steps (a flat loss has ~0)."""
    if losses.size < 2:
        return math.inf
    start = losses[max(0, losses.size - max(1, losses.size // 10) - 1)]
    end = losses[-1]
    return float(abs(end - start) / max(1.0, abs(end)))
