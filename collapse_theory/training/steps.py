"""The compiled pieces of training: the ranking loss, a batch on the devices, Adam steps in ``lax.scan``.

The loss of one prompt with completions listed best first (Song, Cai, Lee, Su, arXiv
2305.17608, eq. (2.1)) is :math:`\\ell = -\\sum_{i<j} U_{ext}(r_i - r_j)`; a batch's loss is
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

from collapse_theory.training.data import Dataset
from collapse_theory.training.model import RewardModel, reward_logits
from collapse_theory.utilities import DEFAULT_EXTENSION_EPS, Utility, extended_value, parse_utility

__all__ = ["Batch", "adam_optimizer", "batch_loss", "evaluate_batch", "make_batch", "prompt_loss", "train_chunk"]


def prompt_loss(rewards: jax.Array, utility: Utility | str, eps: float = DEFAULT_EXTENSION_EPS) -> jax.Array:
    """The ranking loss of prompts whose rewards [..., n] are listed best first.

    .. math::

        \\ell = -\\sum_{1 \\le i < j \\le n} U_{ext}(r_i - r_j)

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(prompt_loss(jnp.array([0.9, 0.5, 0.1]), "linear")), 6)  # -(0.4 + 0.8 + 0.4)
        -1.6
    """
    utility = parse_utility(utility)
    n = rewards.shape[-1]
    better, worse = np.triu_indices(n, 1)
    differences = rewards[..., better] - rewards[..., worse]
    parameters = jnp.asarray(utility.parameters, dtype=differences.dtype)
    values = extended_value(utility.function, differences, parameters, eps, utility.defined_everywhere)
    return -jnp.sum(values, axis=-1)


class Batch(NamedTuple):
    """A split of the dataset on the devices, padded to a multiple of the device count."""

    prompt_embeddings: jax.Array  # [B, d]
    completion_embeddings: jax.Array  # [B, n, d]
    by_rank: jax.Array  # [B, n]: storage positions, best first
    utility_index: jax.Array  # [B]
    weight: jax.Array  # [B]: 1 for real prompts, 0 for padding


def make_batch(dataset: Dataset, indices: np.ndarray, utility_of_kind: np.ndarray, mesh: Mesh) -> Batch:
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
        utility_of_kind[dataset.kinds[rows]].astype(np.int32),
        weight,
    )
    sharding = NamedSharding(mesh, PartitionSpec("prompts"))
    return Batch(*(jax.device_put(array, sharding) for array in host))


def batch_loss(params: RewardModel, batch: Batch, utilities: tuple[Utility, ...], eps: float) -> jax.Array:
    """The weighted mean over the batch of each prompt's loss under its kind's utility."""
    logits = reward_logits(params, batch.prompt_embeddings, batch.completion_embeddings)
    rewards = jax.nn.sigmoid(jnp.take_along_axis(logits, batch.by_rank, axis=1))
    per_utility = jnp.stack([prompt_loss(rewards, utility, eps) for utility in utilities], axis=-1)
    per_prompt = jnp.take_along_axis(per_utility, batch.utility_index[:, None], axis=1)[:, 0]
    return jnp.sum(batch.weight * per_prompt) / jnp.sum(batch.weight)


@functools.lru_cache(maxsize=16)
def adam_optimizer(
    learning_rate: float, steps: int, final_fraction: float
) -> tuple[optax.Schedule, optax.GradientTransformation]:
    """Adam on a cosine-decayed learning rate; cached so equal configs reuse compiled chunks."""
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=final_fraction)
    return schedule, optax.adam(schedule)


@functools.partial(jax.jit, static_argnames=("optimizer", "utilities", "eps", "length"))
def train_chunk(
    params: RewardModel,
    optimizer_state: Any,
    batch: Batch,
    *,
    optimizer: optax.GradientTransformation,
    utilities: tuple[Utility, ...],
    eps: float,
    length: int,
) -> tuple[RewardModel, Any, jax.Array]:
    """``length`` full-batch optimizer steps in one compiled ``lax.scan``; returns the losses too."""

    def step(carry: tuple[RewardModel, Any], _: None) -> tuple[tuple[RewardModel, Any], jax.Array]:
        params, state = carry
        value, gradients = jax.value_and_grad(batch_loss)(params, batch, utilities, eps)
        updates, state = optimizer.update(gradients, state, params)
        return (optax.apply_updates(params, updates), state), value

    (params, optimizer_state), values = jax.lax.scan(step, (params, optimizer_state), length=length)
    return params, optimizer_state, values


@functools.partial(jax.jit, static_argnames=("utilities", "eps"))
def evaluate_batch(
    params: RewardModel, batch: Batch, *, utilities: tuple[Utility, ...], eps: float
) -> tuple[jax.Array, jax.Array]:
    """The batch's loss and its logits [B, n] (storage order), compiled."""
    loss = batch_loss(params, batch, utilities, eps)
    return loss, reward_logits(params, batch.prompt_embeddings, batch.completion_embeddings)
