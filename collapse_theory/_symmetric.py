"""The ranking problem restricted to symmetric rewards, in padded coordinates.

For n rewards let m = floor(n / 2). A symmetric reward vector
(:math:`r_i + r_{n+1-i} = 1`) is fixed by its top half through
:math:`y_i = 1 - r_i` (i = 1..m); the bottom half is :math:`r_{n+1-i} = y_i` and,
for odd n, the middle reward is 1/2. Then

.. math::

    S(y) = 2 \\sum_{i<j \\le m} U(y_j - y_i) + \\sum_{i, j \\le m} U(1 - y_i - y_j)
           + [n \\text{ odd}]\\, 2 \\sum_{i \\le m} U(\\tfrac12 - y_i),

with the order constraints :math:`c_0 = y_1 \\ge 0`, :math:`c_k = y_{k+1} - y_k \\ge 0`,
and the middle gap :math:`c_m = r_m - r_{m+1}` (:math:`1 - 2y_m`, or
:math:`\\tfrac12 - y_m` for odd n). These :math:`c_k` are exactly the gaps
:math:`d_k` of the full reward vector, each counted twice by the mirror except the
middle one of even n.

Arrays are padded to a fixed size M >= m so that problems of different n share
one compiled function (and one ``vmap``); padded entries are masked out of every
sum and carry identity rows in the Newton systems. ``n`` is a traced integer.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from collapse_theory.utilities import UtilityFunction


class Layout:
    """Masks of one padded problem: m = n // 2 live coordinates out of M."""

    def __init__(self, n: jax.Array, size: int) -> None:
        self.n = n
        self.m = n // 2
        self.odd = (n % 2) == 1
        index = jnp.arange(size)
        self.index = index
        self.live = index < self.m
        self.constraint_index = jnp.arange(size + 1)
        self.constraint_live = self.constraint_index <= self.m
        self.pairs_within = jnp.triu(self.live[:, None] & self.live[None, :], k=1)
        self.pairs_across = self.live[:, None] & self.live[None, :]


def _masked(function: UtilityFunction, x: jax.Array, params: jax.Array, mask: jax.Array) -> jax.Array:
    """U on the masked entries and 0 elsewhere, with no NaN leaking into gradients."""
    return jnp.where(mask, function(jnp.where(mask, x, 0.5), params), 0.0)


def _packed(y: jax.Array, layout: Layout) -> tuple[jax.Array, jax.Array]:
    """Both kinds of pair differences in one M x M matrix, with their multiplicities.

    Above the diagonal, :math:`y_j - y_i` (pairs within the top half, counted twice by
    the mirror); on and below it, :math:`1 - y_i - y_j` (pairs across the middle, a
    symmetric matrix of which the lower triangle suffices: weight 2 off the diagonal,
    1 on it). Packing halves the evaluations of U, the dominant cost at large n.
    """
    upper = layout.pairs_within
    packed = jnp.where(upper, y[None, :] - y[:, None], 1.0 - y[:, None] - y[None, :])
    lower = layout.pairs_across & ~upper & (layout.index[:, None] >= layout.index[None, :])
    weight = jnp.where(upper, 2.0, jnp.where(lower, jnp.where(layout.index[:, None] == layout.index[None, :], 1.0, 2.0), 0.0))
    return packed, weight


def _arguments(y: jax.Array, layout: Layout) -> tuple[jax.Array, jax.Array]:
    """Every argument of U in S, flat: the packed pair matrix, then the M middle differences.

    One flat array means one evaluation of U (one ``lax.switch`` over the built-in
    families) per evaluation of S, which keeps the compiled program small.
    """
    packed, weight = _packed(y, layout)
    middle_weight = jnp.where(layout.live & layout.odd, 2.0, 0.0)
    return jnp.concatenate([packed.ravel(), 0.5 - y]), jnp.concatenate([weight.ravel(), middle_weight])


def _derivatives(
    function: UtilityFunction, params: jax.Array, x: jax.Array, mask: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """U, U' and U'' elementwise on the masked entries (0 elsewhere), by nested forward mode."""
    safe = jnp.where(mask, x, 0.5)

    def value_and_slope(t: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jax.jvp(lambda s: function(s, params), (t,), (jnp.ones_like(t),))

    (value, slope), (_, curvature) = jax.jvp(value_and_slope, (safe,), (jnp.ones_like(safe),))
    return jnp.where(mask, value, 0.0), jnp.where(mask, slope, 0.0), jnp.where(mask, curvature, 0.0)


def objective(y: jax.Array, params: jax.Array, function: UtilityFunction, layout: Layout) -> jax.Array:
    """S at the symmetric rewards given by the top half y.

    .. math::

        S(y) = 2 \\sum_{i<j \\le m} U(y_j - y_i) + \\sum_{i, j \\le m} U(1 - y_i - y_j)
               + [n \\text{ odd}]\\, 2 \\sum_{i \\le m} U(\\tfrac12 - y_i)
    """
    arguments, weight = _arguments(y, layout)
    return jnp.sum(weight * _masked(function, arguments, params, weight > 0))


def derivatives(
    y: jax.Array, params: jax.Array, function: UtilityFunction, layout: Layout, surrogate: bool
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """S(y), its gradient and its Hessian from one evaluation of U, U', U'' per pair.

    Written by hand because autodiff would form the Hessian with M Hessian-vector
    products, O(M^3). With :math:`W_{ij} = U''(y_j - y_i)` (i < j, symmetrised) the pairs
    within give the weighted graph Laplacian :math:`2(\\mathrm{diag}(W1) - W)`; with
    :math:`B_{ij} = U''(1 - y_i - y_j)` the pairs across give
    :math:`2B + 2\\,\\mathrm{diag}(B1)`; the middle reward adds
    :math:`2\\,\\mathrm{diag}(U''(1/2 - y))`. With ``surrogate`` every U'' is replaced by
    -|U''|: a negative semidefinite stand-in that yields ascent directions when U is
    not concave (the value and gradient stay exact).
    """
    arguments, weight = _arguments(y, layout)
    value, slope, curvature = _derivatives(function, params, arguments, weight > 0)
    if surrogate:
        curvature = -jnp.abs(curvature)
    total = jnp.sum(weight * value)
    size = y.shape[0]
    slope, middle_slope = slope[: size * size].reshape(size, size), slope[size * size :]
    curvature, middle_curvature = curvature[: size * size].reshape(size, size), curvature[size * size :]
    upper = layout.pairs_within
    # dS/dy_k = 2 sum_{i<k} U'(y_k - y_i) - 2 sum_{j>k} U'(y_j - y_k) - 2 sum_j U'(1 - y_k - y_j) - 2 U'(1/2 - y_k)
    signed_slope = jnp.where(upper, slope, -slope)
    gradient = 2.0 * (jnp.sum(signed_slope, axis=0) - jnp.sum(slope, axis=1) + jnp.diagonal(slope)) - 2.0 * middle_slope
    # Hessian = 2 (K + K^T) + diag(...) with K = -U'' above the diagonal (within), U'' on and below (across)
    signed = jnp.where(upper, -curvature, curvature)
    diagonal = 2.0 * (jnp.sum(curvature, axis=0) + jnp.sum(curvature, axis=1)) - 4.0 * jnp.diagonal(curvature)
    hessian = 2.0 * (signed + signed.T) + jnp.diag(diagonal + 2.0 * middle_curvature)
    return total, jnp.where(layout.live, gradient, 0.0), hessian


def constraints(y: jax.Array, layout: Layout) -> jax.Array:
    """The order constraints c_0..c_m (padded with 1 beyond c_m); all >= 0 when feasible."""
    last_y = jnp.take(y, jnp.maximum(layout.m - 1, 0))
    last = jnp.where(layout.odd, 0.5 - last_y, 1.0 - 2.0 * last_y)
    base = jnp.concatenate([y[:1], jnp.diff(y), jnp.zeros(1, y.dtype)])
    k = layout.constraint_index
    return jnp.where(k < layout.m, base, jnp.where(k == layout.m, last, 1.0))


def middle_coefficient(layout: Layout) -> jax.Array:
    """d c_m / d y_m: -1 for odd n, -2 for even n."""
    return jnp.where(layout.odd, -1.0, -2.0)


def frank_wolfe_gap(gradient_y: jax.Array, y: jax.Array, layout: Layout) -> jax.Array:
    """Frank-Wolfe gap of the full problem at the symmetric rewards y.

    With the top-half reward gradient :math:`g = -\\tfrac12 \\nabla_y S` (the bottom
    half mirrors it with opposite sign, the middle derivative is 0), prefix sums
    :math:`G_k`, and gaps :math:`d_k = c_k`, the gap is
    :math:`\\sum_k w_k d_k (\\max_j G_j - G_k)` with mirror weights :math:`w_k = 2`
    (1 for the middle gap of even n): non-negative terms, no cancellation.
    """
    prefix = _prefix_sums(gradient_y, layout)
    best = jnp.max(jnp.where(layout.constraint_live, prefix, -jnp.inf))
    weights = jnp.where((layout.constraint_index == layout.m) & ~layout.odd, 1.0, 2.0)
    terms = jnp.where(layout.constraint_live, weights * constraints(y, layout) * (best - prefix), 0.0)
    return jnp.sum(terms)


def _prefix_sums(gradient_y: jax.Array, layout: Layout) -> jax.Array:
    """G_0 = 0, G_1, ..., G_m of the full reward gradient (the top half is g = -dS/dy / 2)."""
    g = jnp.where(layout.live, -0.5 * gradient_y, 0.0)
    return jnp.concatenate([jnp.zeros(1, gradient_y.dtype), jnp.cumsum(g)])


def certificate_scale(gradient_y: jax.Array, layout: Layout) -> jax.Array:
    """The scale of the relative certificate: the spread :math:`\\max_k G_k - \\min_k G_k` of the prefix sums.

    The linearised objective takes the value :math:`G_k = \\langle g, e_k \\rangle` at the
    vertex e_k, so the spread is its variation over the feasible set and bounds the
    gap itself (``gap <= spread``: the gap is a convex combination of
    :math:`\\max_j G_j - G_k`). U -> cU + b (c > 0) multiplies both by c, so
    ``gap <= tol * spread`` depends neither on the units nor on the origin of U; |S|
    would depend on the origin (``power:1e-12`` is 1 + 1e-12 log x to first order,
    whose |S| measures the constant 1). The mirror makes :math:`G_{n-k} = G_k`, so
    the top half's prefix sums give the full spread.
    """
    prefix = _prefix_sums(gradient_y, layout)
    live = layout.constraint_live
    return jnp.max(jnp.where(live, prefix, -jnp.inf)) - jnp.min(jnp.where(live, prefix, jnp.inf))


def within_tolerance(gap: jax.Array, scale: jax.Array, tol: jax.Array) -> jax.Array:
    """``gap <= tol * scale`` with both finite (an infinite scale certifies nothing)."""
    return jnp.isfinite(gap) & jnp.isfinite(scale) & (gap <= tol * scale)


def pad_top_half(y: Any, size: int, fill: float = 0.25) -> jax.Array:
    """Pad a top half to length ``size`` (padded entries are never read)."""
    y = jnp.asarray(y)
    return jnp.concatenate([y, jnp.full((size - y.shape[0],), fill, y.dtype)])
