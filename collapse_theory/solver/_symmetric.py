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

from collapse_theory.problems.utilities import UtilityFunction
from collapse_theory.solver import _engine as engine


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


#: Rows of the pair matrix evaluated at once: the pair quantities (U, U', U'' and their
#: arguments) live as (PAIR_BLOCK x M) tiles, never as M x M arrays; the Hessian is the
#: only M x M array an evaluation writes.
PAIR_BLOCK = 256


def _derivatives(
    function: UtilityFunction, params: jax.Array, x: jax.Array, mask: jax.Array, order: int
) -> tuple[jax.Array, ...]:
    """U and its first ``order`` derivatives elementwise on the masked entries (0 elsewhere), by forward mode.

    One pass evaluates them together (their common subexpressions once); the
    masked entries see 1/2, so no NaN leaks into a derivative.
    """
    safe = jnp.where(mask, x, 0.5)

    def value(t: jax.Array) -> jax.Array:
        return function(t, params)

    def value_and_slope(t: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jax.jvp(value, (t,), (jnp.ones_like(t),))

    if order == 0:
        outputs: tuple[jax.Array, ...] = (value(safe),)
    elif order == 1:
        outputs = value_and_slope(safe)
    else:
        (value_, slope), (_, curvature) = jax.jvp(value_and_slope, (safe,), (jnp.ones_like(safe),))
        outputs = (value_, slope, curvature)
    return tuple(jnp.where(mask, output, 0.0) for output in outputs)


class _Tile:
    """Rows [start, start + B) of the packed pair matrix: its arguments of U and their weights.

    Above the diagonal, :math:`y_j - y_i` (pairs within the top half, counted twice by
    the mirror); on and below it, :math:`1 - y_i - y_j` (pairs across the middle, a
    symmetric matrix of which the lower triangle suffices: weight 2 off the diagonal,
    1 on it). Packing halves the evaluations of U, the dominant cost of an evaluation.
    """

    def __init__(self, y: jax.Array, layout: Layout, start: jax.Array | int, block: int) -> None:
        rows = start + jnp.arange(block)
        y_rows = jax.lax.dynamic_slice(y, (start,), (block,))
        live_rows = rows < layout.m
        columns = layout.index[None, :]
        pair = live_rows[:, None] & layout.live[None, :]
        self.rows = rows
        self.upper = pair & (columns > rows[:, None])
        self.diagonal = columns == rows[:, None]
        self.arguments = jnp.where(self.upper, y[None, :] - y_rows[:, None], 1.0 - y_rows[:, None] - y[None, :])
        self.weight = jnp.where(self.upper, 2.0, jnp.where(pair & ~self.upper, jnp.where(self.diagonal, 1.0, 2.0), 0.0))

    def evaluate(self, function: UtilityFunction, params: jax.Array, order: int) -> tuple[jax.Array, ...]:
        return _derivatives(function, params, self.arguments, self.weight > 0, order)


def _block(size: int) -> int:
    """Tile height: PAIR_BLOCK, or the whole matrix when smaller (every padded size is a multiple)."""
    return min(size, PAIR_BLOCK)


def _middle(y: jax.Array, params: jax.Array, function: UtilityFunction, layout: Layout, order: int) -> tuple[jax.Array, ...]:
    """The odd-n middle terms: 2 U(1/2 - y_i) and its derivatives (weight 0 for even n)."""
    weight = jnp.where(layout.live & layout.odd, 2.0, 0.0)
    return (weight, *_derivatives(function, params, 0.5 - y, weight > 0, order))


def objective(y: jax.Array, params: jax.Array, function: UtilityFunction, layout: Layout) -> jax.Array:
    """S at the symmetric rewards given by the top half y (U only, tile by tile).

    .. math::

        S(y) = 2 \\sum_{i<j \\le m} U(y_j - y_i) + \\sum_{i, j \\le m} U(1 - y_i - y_j)
               + [n \\text{ odd}]\\, 2 \\sum_{i \\le m} U(\\tfrac12 - y_i)
    """
    size = y.shape[0]
    block = _block(size)

    def row_block(k: int, total: jax.Array) -> jax.Array:
        tile = _Tile(y, layout, k * block, block)
        (value,) = tile.evaluate(function, params, 0)
        return total + jnp.sum(tile.weight * value)

    pairs = jax.lax.fori_loop(0, size // block, row_block, jnp.zeros((), y.dtype))
    weight, middle = _middle(y, params, function, layout, 0)
    return pairs + jnp.sum(weight * middle)


def value_and_gradient(y: jax.Array, params: jax.Array, function: UtilityFunction, layout: Layout) -> tuple[jax.Array, jax.Array]:
    """S(y) and its gradient from one evaluation of U and U' per pair, tile by tile.

    .. math::

        \\partial S / \\partial y_k = 2 \\sum_{i<k} U'(y_k - y_i) - 2 \\sum_{j>k} U'(y_j - y_k)
            - 2 \\sum_j U'(1 - y_k - y_j) - 2 U'(\\tfrac12 - y_k)

    (the last term for odd n only). In the packed tiles the pairs within enter a column
    sum (the later reward) and a row sum (the earlier one), the pairs across both.
    """
    size = y.shape[0]
    block = _block(size)

    def row_block(k: int, carry: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array, jax.Array]:
        total, columns, rows = carry
        start = k * block
        tile = _Tile(y, layout, start, block)
        value, slope = tile.evaluate(function, params, 1)
        total = total + jnp.sum(tile.weight * value)
        columns = columns + jnp.sum(jnp.where(tile.upper, slope, -slope), axis=0)
        own = jnp.sum(jnp.where(tile.diagonal, slope, 0.0), axis=1) - jnp.sum(slope, axis=1)
        return total, columns, jax.lax.dynamic_update_slice(rows, own, (start,))

    zeros = jnp.zeros_like(y)
    total, columns, rows = jax.lax.fori_loop(0, size // block, row_block, (jnp.zeros((), y.dtype), zeros, zeros))
    weight, middle, middle_slope = _middle(y, params, function, layout, 1)
    gradient = 2.0 * (columns + rows) - 2.0 * middle_slope
    return total + jnp.sum(weight * middle), jnp.where(layout.live, gradient, 0.0)


def newton_matrix(y: jax.Array, params: jax.Array, function: UtilityFunction, layout: Layout, surrogate: bool) -> jax.Array:
    """-Hessian of S at y (see :func:`newton_matrix_and_upper_sums`)."""
    return newton_matrix_and_upper_sums(y, params, function, layout, surrogate)[0]


def newton_matrix_and_upper_sums(
    y: jax.Array,
    params: jax.Array,
    function: UtilityFunction,
    layout: Layout,
    surrogate: bool,
    workspace: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """-Hessian of S at y, from one evaluation of U'' per pair, written tile by tile into one M x M array;
    and the sums of each of its rows right of the diagonal (from the tiles: a masked reduction
    over the finished matrix would be another pass and, in XLA, an M x M temporary). The
    matrix is written over ``workspace`` where given (every entry is written before any is
    read), so a loop that carries an M x M array it no longer needs (the polish's last
    factor) forms the next matrix in that array instead of a new one.

    Written by hand because autodiff would form the Hessian with M Hessian-vector
    products, O(M^3). With :math:`W_{ij} = U''(y_j - y_i)` (i < j, symmetrised) the pairs
    within give the weighted graph Laplacian :math:`2(\\mathrm{diag}(W1) - W)`; with
    :math:`B_{ij} = U''(1 - y_i - y_j)` the pairs across give
    :math:`2B + 2\\,\\mathrm{diag}(B1)`; the middle reward adds
    :math:`2\\,\\mathrm{diag}(U''(1/2 - y))`. With ``surrogate`` every U'' is replaced by
    -abs(U''): a negative semidefinite stand-in that yields ascent directions when U is
    not concave.

    Memory: the packed tiles hold K (-U'' within above the diagonal, U'' across on and
    below it) in the output array; a second sweep turns it into the symmetric
    :math:`-(2(K + K^T) + \\mathrm{diag})` in place, row block by row block (row block b
    reads column block b, whose rows above b are already final and equal their
    transposes, and whose rows from b on still hold K). Padded rows and columns are 0.
    """
    size = y.shape[0]
    block = _block(size)
    count = size // block
    index = layout.index

    def curvature_block(k: int, carry: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        matrix, columns, rows, upper_rows, lower_columns = carry
        start = k * block
        tile = _Tile(y, layout, start, block)
        (_, _, curvature) = tile.evaluate(function, params, 2)
        if surrogate:
            curvature = -jnp.abs(curvature)
        columns = columns + jnp.sum(curvature, axis=0)
        own = jnp.sum(curvature, axis=1) - 2.0 * jnp.sum(jnp.where(tile.diagonal, curvature, 0.0), axis=1)
        signed = jnp.where(tile.upper, -curvature, curvature)
        # K right of the diagonal by rows, left of it by columns: the sums right of the diagonal of K + K^T
        upper_rows = jax.lax.dynamic_update_slice(upper_rows, jnp.sum(jnp.where(tile.upper, signed, 0.0), axis=1), (start,))
        strictly_lower = index[None, :] < tile.rows[:, None]
        lower_columns = lower_columns + jnp.sum(jnp.where(strictly_lower, signed, 0.0), axis=0)
        return (
            jax.lax.dynamic_update_slice(matrix, signed, (start, 0)),
            columns,
            jax.lax.dynamic_update_slice(rows, own, (start,)),
            upper_rows,
            lower_columns,
        )

    zeros = jnp.zeros_like(y)
    matrix = jnp.zeros((size, size), y.dtype) if workspace is None else workspace
    initial = (matrix, zeros, zeros, zeros, zeros)
    matrix, columns, rows, upper_rows, lower_columns = jax.lax.fori_loop(0, count, curvature_block, initial)
    _, _, _, middle_curvature = _middle(y, params, function, layout, 2)
    if surrogate:
        middle_curvature = -jnp.abs(middle_curvature)
    # diag(Hessian) beyond 2 (K + K^T): 2 (column + row sums of U'') - 4 U''(1 - 2 y_i) + 2 U''(1/2 - y_i)
    diagonal = 2.0 * (columns + rows) + 2.0 * middle_curvature

    def symmetrised_block(k: int, matrix: jax.Array) -> jax.Array:
        start = k * block
        rows_ = start + jnp.arange(block)
        own = jax.lax.dynamic_slice(matrix, (start, 0), (block, size))
        transposed = jax.lax.dynamic_slice(matrix, (0, start), (size, block)).T
        extra = jnp.where(index[None, :] == rows_[:, None], jax.lax.dynamic_slice(diagonal, (start,), (block,))[:, None], 0.0)
        final = jnp.where(index[None, :] < start, transposed, -(2.0 * (own + transposed) + extra))
        return jax.lax.dynamic_update_slice(matrix, final, (start, 0))

    return jax.lax.fori_loop(0, count, symmetrised_block, matrix), -2.0 * (upper_rows + lower_columns)


def derivatives(
    y: jax.Array, params: jax.Array, function: UtilityFunction, layout: Layout, surrogate: bool
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """S(y), its gradient and its Hessian (:func:`value_and_gradient`, :func:`newton_matrix`)."""
    value, gradient = value_and_gradient(y, params, function, layout)
    return value, gradient, -newton_matrix(y, params, function, layout, surrogate)


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
    (1 for the middle gap of even n): non-negative terms, no cancellation
    (``_engine.frank_wolfe_gap``).
    """
    weights = jnp.where((layout.constraint_index == layout.m) & ~layout.odd, 1.0, 2.0)
    steps = weights * constraints(y, layout)
    return engine.frank_wolfe_gap(_prefix_sums(gradient_y, layout), steps, layout.constraint_live)


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
    ``gap <= tol * spread`` depends neither on the units nor on the origin of U; abs(S)
    would depend on the origin (``power:1e-12`` is 1 + 1e-12 log x to first order,
    whose abs(S) measures the constant 1). The mirror makes :math:`G_{n-k} = G_k`, so
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
