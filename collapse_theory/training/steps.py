"""The compiled pieces of training: the ranking loss, a batch on the devices, Adam steps in ``lax.scan``.

The loss of one prompt with completions listed best first (Song, Cai, Lee, Su, arXiv
2305.17608, eq. (2.1)) is :math:`\\ell = -\\sum_{i<j} U_{ext}(r_i - r_j)` for a utility,
and :math:`\\ell = -F(r)` for any ranking loss (:mod:`collapse_theory.training.objectives`),
with r = sigmoid(logit) for bounded losses and r = logit for free ones; a batch's loss is
its weighted mean over prompts (padding prompts weigh 0). :mod:`collapse_theory.training.trainer`
drives these functions chunk by chunk.

Example:
    >>> import jax.numpy as jnp
    >>> round(float(prompt_loss(jnp.array([0.9, 0.1]), "linear")), 6)
    -0.8
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from collapse_theory.problems.losses import Loss
from collapse_theory.problems.utilities import DEFAULT_EXTENSION_EPS, Utility
from collapse_theory.training.data import Dataset
from collapse_theory.training.model import RewardModel, reward_logits
from collapse_theory.training.objectives import head_rewards, loss_objective

__all__ = ["Batch", "adam_optimizer", "batch_loss", "evaluate_batch", "make_batch", "prompt_loss", "train_chunk"]


def prompt_loss(rewards: jax.Array, loss: Loss | Utility | str, eps: float = DEFAULT_EXTENSION_EPS) -> jax.Array:
    """The ranking loss -F(r) of prompts whose rewards [..., n] are listed best first.

    .. math::

        \\ell = -\\sum_{1 \\le i < j \\le n} U_{ext}(r_i - r_j)
        \\qquad \\text{(a utility; any loss: } \\ell = -F(r)\\text{)}

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(prompt_loss(jnp.array([0.9, 0.5, 0.1]), "linear")), 6)  # -(0.4 + 0.8 + 0.4)
        -1.6
        >>> round(float(prompt_loss(jnp.array([0.5, 0.0]), "ipo:0.5")), 6)  # (0.5 - 1)^2, TAU = 1/(2 * 0.5)
        0.25
    """
    return -loss_objective(rewards, loss, eps)


class Batch(NamedTuple):
    """A split of the dataset on the devices, padded to a multiple of the device count."""

    prompt_embeddings: jax.Array  # [B, d]
    completion_embeddings: jax.Array  # [B, n, d]
    by_rank: jax.Array  # [B, n]: storage positions, best first
    loss_index: jax.Array  # [B]: the prompt's kind's loss, an index into the run's distinct losses
    weight: jax.Array  # [B]: 1 for real prompts, 0 for padding


def make_batch(dataset: Dataset, indices: np.ndarray, loss_of_kind: np.ndarray, mesh: Mesh) -> Batch:
    """Prompts ``indices`` of the dataset as float32 device arrays split over ``mesh``, padded with zero weight."""
    devices = mesh.devices.size
    padded = -(-len(indices) // devices) * devices
    rows = np.concatenate([indices, np.full(padded - len(indices), indices[0])])
    weight = np.zeros(padded, dtype=np.float32)
    weight[: len(indices)] = 1.0
    host = (
        dataset.prompt_embeddings[rows].astype(np.float32),
        dataset.completion_embeddings[rows].astype(np.float32),
        np.argsort(dataset.rankings[rows], axis=1).astype(np.int32),
        loss_of_kind[dataset.kinds[rows]].astype(np.int32),
        weight,
    )
    sharding = NamedSharding(mesh, PartitionSpec("prompts"))
    return Batch(*(jax.device_put(array, sharding) for array in host))


def batch_loss(params: RewardModel, batch: Batch, losses: tuple[Loss, ...], eps: float) -> jax.Array:
    """The weighted mean over the batch of each prompt's loss under its kind's loss (and head)."""
    logits = reward_logits(params, batch.prompt_embeddings, batch.completion_embeddings)
    ordered = jnp.take_along_axis(logits, batch.by_rank, axis=1)
    per_loss = jnp.stack([prompt_loss(head_rewards(ordered, loss), loss, eps) for loss in losses], axis=-1)
    per_prompt = jnp.take_along_axis(per_loss, batch.loss_index[:, None], axis=1)[:, 0]
    return jnp.sum(batch.weight * per_prompt) / jnp.sum(batch.weight)


@functools.lru_cache(maxsize=16)
def adam_optimizer(
    learning_rate: float, steps: int, final_fraction: float
) -> tuple[optax.Schedule, optax.GradientTransformation]:
    """Adam on a cosine-decayed learning rate; cached so equal configs reuse compiled chunks."""
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=final_fraction)
    return schedule, optax.adam(schedule)


@functools.partial(jax.jit, static_argnames=("optimizer", "losses", "eps", "length"))
def train_chunk(
    params: RewardModel,
    optimizer_state: Any,
    batch: Batch,
    *,
    optimizer: optax.GradientTransformation,
    losses: tuple[Loss, ...],
    eps: float,
    length: int,
) -> tuple[RewardModel, Any, jax.Array]:
    """``length`` full-batch optimizer steps in one compiled ``lax.scan``; returns the losses too."""

    def step(carry: tuple[RewardModel, Any], _: None) -> tuple[tuple[RewardModel, Any], jax.Array]:
        params, state = carry
        value, gradients = jax.value_and_grad(batch_loss)(params, batch, losses, eps)
        updates, state = optimizer.update(gradients, state, params)
        return (optax.apply_updates(params, updates), state), value

    (params, optimizer_state), values = jax.lax.scan(step, (params, optimizer_state), length=length)
    return params, optimizer_state, values


@functools.partial(jax.jit, static_argnames=("losses", "eps"))
def evaluate_batch(params: RewardModel, batch: Batch, *, losses: tuple[Loss, ...], eps: float) -> tuple[jax.Array, jax.Array]:
    """The batch's loss and its logits [B, n] (storage order), compiled."""
    loss = batch_loss(params, batch, losses, eps)
    return loss, reward_logits(params, batch.prompt_embeddings, batch.completion_embeddings)
