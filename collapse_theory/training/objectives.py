"""Ranking losses inside the compiled training step: -F(r) per prompt, for any :class:`~collapse_theory.problems.losses.Loss`.

For one prompt with completions listed best first and rewards r (docs/losses.md),

.. math::

    F(r) = \\sum_{i<j} w_{ij}\\, U_{ext}(r_i - r_j - m_{ij}) - R(r)
    \\qquad \\text{(pairwise: a utility, ``ipo:BETA``, ``min-linear:T``)}

    F(r) = \\sum_{i=1}^{n-1} \\Big[ B r_i - \\log \\sum_{j \\ge i} e^{B r_j} \\Big] - R(r)
    \\qquad \\text{(Plackett-Luce)}

with :math:`R = \\tfrac{\\beta}{2} \\sum_{i<j} (r_i^2 + r_j^2) + C \\sum_{i<j} (r_i + r_j)^2`,
margins m from :func:`~collapse_theory.problems.losses.margin_matrix` and weights w from
:func:`~collapse_theory.problems.losses.lipo_weights` (or 1). The training loss of a prompt is
:math:`-F(r)`. :math:`U_{ext}` is the utility's tangent extension below ``eps``
(:meth:`~collapse_theory.problems.utilities.Utility.extended`), so misordered pairs, and gaps below a
margin, have finite loss and gradient; ``ipo`` and ``min-linear`` are finite everywhere.

The *head* turns the model's logit f into the reward: sigmoid(f) in (0, 1) for a bounded
loss (the paper's setting), f itself for a free one (``free``, ``ipo`` unless ``bounded``,
the presets ``bradley-terry``, ``open-assistant``, ``trl-center:C``, ``listmle``).

A plain utility (the paper's problem) takes exactly today's formula,
:math:`-\\sum_{i<j} U_{ext}(r_i - r_j)`, bit for bit.

Example:
    >>> import jax.numpy as jnp
    >>> round(float(loss_objective(jnp.array([0.5, 0.0]), "ipo:0.5")), 6)  # F = -(0.5 - 1)^2, TAU = 1/(2 * 0.5)
    -0.25
    >>> round(float(loss_objective(jnp.array([3.0, 1.0, 0.0]), "listmle")), 4)
    -0.4831
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from collapse_theory.problems.losses import Loss, lipo_weights, margin_matrix, parse_loss
from collapse_theory.problems.utilities import DEFAULT_EXTENSION_EPS, Utility, extended_value

__all__ = ["free_head", "head_rewards", "loss_objective"]


def free_head(loss: Loss | Utility | str) -> bool:
    """The loss trains free rewards: the head is the raw logit (no sigmoid).

    Example:
        >>> free_head("log"), free_head("bradley-terry"), free_head("ipo:0.5"), free_head("ipo:0.5+bounded")
        (False, True, True, False)
    """
    return parse_loss(loss).free


def head_rewards(logits: jax.Array, loss: Loss | Utility | str) -> jax.Array:
    """The rewards the loss sees: sigmoid(logits) (bounded) or the logits themselves (free)."""
    return logits if free_head(loss) else jax.nn.sigmoid(logits)


def _plain_utility_objective(rewards: jax.Array, utility: Utility, eps: float) -> jax.Array:
    n = rewards.shape[-1]
    better, worse = np.triu_indices(n, 1)
    differences = rewards[..., better] - rewards[..., worse]
    parameters = jnp.asarray(utility.parameters, dtype=differences.dtype)
    values = extended_value(utility.function, differences, parameters, eps, utility.defined_everywhere)
    return jnp.sum(values, axis=-1)


def _regulariser(rewards: jax.Array, loss: Loss) -> jax.Array:
    n = rewards.shape[-1]
    square = loss.l2 * (n - 1) / 2.0 + loss.center * (n - 2)
    value = jnp.zeros(rewards.shape[:-1], rewards.dtype)
    if square:
        value = value + square * jnp.sum(rewards**2, axis=-1)
    if loss.center:
        value = value + loss.center * jnp.sum(rewards, axis=-1) ** 2
    return value


def _pairwise_values(x: jax.Array, loss: Loss, eps: float) -> jax.Array:
    if loss.objective == "ipo":
        return -((x - float(loss.parameter or 0.0)) ** 2)
    if loss.objective == "min-linear":
        return jnp.minimum(x, float(loss.parameter or 0.0))
    utility = loss.utility
    assert utility is not None
    parameters = jnp.asarray(utility.parameters, dtype=x.dtype)
    return extended_value(utility.function, x, parameters, eps, utility.defined_everywhere)


def loss_objective(rewards: jax.Array, loss: Loss | Utility | str, eps: float = DEFAULT_EXTENSION_EPS) -> jax.Array:
    """F(r) of prompts whose rewards [..., n] are listed best first (maximised; the training loss is -F).

    JAX-traceable; margins and weights are constants of n taken from :mod:`collapse_theory.problems.losses`.

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(loss_objective(jnp.array([0.9, 0.5, 0.1]), "linear")), 6)  # 0.4 + 0.8 + 0.4
        1.6
    """
    loss = parse_loss(loss)
    if loss.is_plain_utility:
        assert loss.utility is not None
        return _plain_utility_objective(rewards, loss.utility, eps)
    n = rewards.shape[-1]
    if loss.objective == "plackett-luce":
        beta = float(loss.parameter or 0.0)
        scores = beta * rewards
        suffix = jax.lax.cumlogsumexp(scores, axis=scores.ndim - 1, reverse=True)  # log sum_{j >= i} e^{B r_j}
        objective = jnp.sum((scores - suffix)[..., : n - 1], axis=-1)
    else:
        better, worse = np.triu_indices(n, 1)
        margins = margin_matrix(loss, n)[better, worse]
        weights = lipo_weights(n)[better, worse] if loss.lipo else None
        x = rewards[..., better] - rewards[..., worse] - jnp.asarray(margins, dtype=rewards.dtype)
        values = _pairwise_values(x, loss, eps)
        if weights is not None:
            values = values * jnp.asarray(weights, dtype=rewards.dtype)
        objective = jnp.sum(values, axis=-1)
    return objective - _regulariser(rewards, loss)
