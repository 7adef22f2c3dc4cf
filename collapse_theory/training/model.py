"""The reward model: an MLP on [prompt embedding, completion embedding] with rewards in (0, 1).

.. math::

    r(x, y) = \\sigma\\big(f_\\theta([e_x, e_y])\\big), \\qquad
    f_\\theta = W_L \\circ \\mathrm{gelu} \\circ W_{L-1} \\circ \\dots \\circ \\mathrm{gelu} \\circ W_1

for a prompt x with embedding :math:`e_x` and a completion y with embedding
:math:`e_y`. The sigmoid keeps rewards in (0, 1) as in the paper's experiment
(Song, Cai, Lee, Su, arXiv 2305.17608, Section 5: reward = sigmoid of the model's
logit); the interpolating regime of the theory needs the model wide enough to give
each completion of each training prompt the reward it wants.

Example:
    >>> import jax, jax.numpy as jnp
    >>> params = init_reward_model(jax.random.key(0), dim=4, hidden=(8,))
    >>> logits = reward_logits(params, jnp.ones((2, 4)), jnp.ones((2, 3, 4)))
    >>> logits.shape
    (2, 3)
    >>> bool(((rewards_from_logits(logits) > 0) & (rewards_from_logits(logits) < 1)).all())
    True
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["DEFAULT_HIDDEN", "Layer", "init_reward_model", "reward_logits", "reward_model_rewards", "rewards_from_logits"]

#: Hidden widths of the default reward model.
DEFAULT_HIDDEN = (128, 128)


class Layer(NamedTuple):
    """One affine layer ``x @ weights + bias``."""

    weights: jax.Array
    bias: jax.Array


RewardModel = tuple[Layer, ...]
"""The parameters: a tuple of layers (a JAX pytree)."""


def init_reward_model(
    key: jax.Array, dim: int, hidden: Sequence[int] = DEFAULT_HIDDEN, dtype: jnp.dtype = jnp.float32
) -> RewardModel:
    """Random initial parameters (LeCun-normal weights, zero biases) for embeddings of size ``dim``.

    The input is the concatenation of the two embeddings (2 * dim numbers); the last
    layer has one output, the logit, and starts at zero so every reward starts at 1/2.
    """
    return _init(key, int(dim), tuple(int(w) for w in hidden), jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _init(key: jax.Array, dim: int, hidden: tuple[int, ...], dtype: jnp.dtype) -> RewardModel:
    # One compiled call: run op by op, the dozen small random ops would each compile.
    widths = [2 * dim, *hidden, 1]
    keys = jax.random.split(key, len(widths) - 1)
    layers = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        last = index == len(widths) - 2
        scale = 0.0 if last else 1.0 / math.sqrt(fan_in)
        weights = (scale * jax.random.normal(keys[index], (fan_in, fan_out), dtype=dtype)).astype(dtype)
        layers.append(Layer(weights, jnp.zeros((fan_out,), dtype)))
    return tuple(layers)


def reward_logits(params: RewardModel, prompt_embeddings: jax.Array, completion_embeddings: jax.Array) -> jax.Array:
    """Logits f for prompts [..., d] and their completions [..., n, d]; shape [..., n]."""
    prompt = jnp.broadcast_to(prompt_embeddings[..., None, :], completion_embeddings.shape)
    hidden = jnp.concatenate([prompt, completion_embeddings], axis=-1).astype(params[0].weights.dtype)
    for layer in params[:-1]:
        hidden = jax.nn.gelu(hidden @ layer.weights + layer.bias)
    last = params[-1]
    return (hidden @ last.weights + last.bias)[..., 0]


def rewards_from_logits(logits: jax.Array) -> jax.Array:
    """The rewards sigma(f) in (0, 1)."""
    return jax.nn.sigmoid(logits)


def reward_model_rewards(params: RewardModel, prompt_embeddings: jax.Array, completion_embeddings: jax.Array) -> jax.Array:
    """Rewards in (0, 1) for prompts [..., d] and their completions [..., n, d]; shape [..., n]."""
    return rewards_from_logits(reward_logits(params, prompt_embeddings, completion_embeddings))
