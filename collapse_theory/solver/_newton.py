"""What the barrier path and the projected-Newton polish share.

* :class:`Phase`: one padded symmetric problem (layout, utility, tolerance, step
  limit) with its evaluations: S and its gradient (``_symmetric.value_and_gradient``),
  the Newton matrix -Hessian (``_symmetric.newton_matrix``), each one tiled pass over
  the pairs, and the Frank-Wolfe certificate with its scale;
* :class:`Iterate` (the barrier's state, also the polish's start) and :class:`Result`;
* the linear algebra both Newton methods use: a Jacobi-scaled Cholesky factorisation
  in place and its solve, and a blocked reverse cumulative sum.

Everything here is traced inside one jitted program (``solver._compiled_phase``);
:class:`Phase` is a plain Python object that only exists while tracing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from collapse_theory.problems.utilities import UtilityFunction
from collapse_theory.solver import _symmetric as problem

#: Block length of the reverse cumulative sums (matrix products on blocks).
CUMSUM_BLOCK = 64


class Iterate(NamedTuple):
    """State of the barrier path.

    No Hessian: it is formed where a Newton step needs it and dies with the
    factorisation, so a solve holds one M x M matrix at a time (and no M x M array
    crosses between phases or to the host).
    """

    y: jax.Array
    mu: jax.Array
    iteration: jax.Array
    gap: jax.Array
    objective: jax.Array
    gradient: jax.Array
    stalled: jax.Array


class Result(NamedTuple):
    """Final symmetric iterate and its certificate (``scale``: see :meth:`Phase.scale`)."""

    y: jax.Array
    gap: jax.Array
    objective: jax.Array
    iterations: jax.Array
    polished: jax.Array
    scale: jax.Array


def fresh_iterate(y: np.ndarray) -> Iterate:
    """An :class:`Iterate` holding only a start vector (``fresh=True`` in ``solve_phase``).

    The other fields are zeros that stay on the device between calls: small solves
    are dominated by per-call overheads, a host-to-device copy per argument among them.
    """
    y = np.asarray(y, dtype=np.float64)
    leaves: tuple[Any, ...] = (y, *_zero_fields(y.shape))
    return Iterate(*leaves)


@lru_cache(maxsize=64)
def _zero_fields(shape: tuple[int, ...]) -> tuple[jax.Array, ...]:
    # NumPy zeros put on the device: jnp.zeros is an eager operation compiled in every process
    zero = jax.device_put(np.zeros(shape[:-1], np.float64))
    fields = (zero, jax.device_put(np.zeros(shape[:-1], np.int64)), zero, zero, jax.device_put(np.zeros(shape, np.float64)))
    return (*fields, jax.device_put(np.zeros(shape[:-1], bool)))


class Phase:
    """One padded problem as the Newton methods see it (built while tracing).

    Attributes:
        layout: masks of the padded problem (``_symmetric.Layout``).
        params, function: the utility.
        surrogate: replace U'' by -abs(U'') (non-concave U: ascent directions only).
        singular: U'(0+) is infinite, so rewards never tie.
        tol: the relative certificate tolerance.
        max_steps: the barrier's Newton step limit.
    """

    def __init__(
        self,
        n: jax.Array,
        size: int,
        params: jax.Array,
        tol: jax.Array,
        *,
        function: UtilityFunction,
        max_steps: int,
        surrogate: bool,
        singular: jax.Array,
    ) -> None:
        self.n = n
        self.size = size
        self.layout = problem.Layout(n, size)
        self.m = self.layout.m
        self.params = params
        self.tol = tol
        self.function = function
        self.max_steps = max_steps
        self.surrogate = surrogate
        self.singular = singular

    def objective(self, y: jax.Array) -> jax.Array:
        """S at the symmetric rewards with top half y."""
        return problem.objective(y, self.params, self.function, self.layout)

    def evaluate(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        """S and its gradient, from one pass over the pairs (U and U' together)."""
        return problem.value_and_gradient(y, self.params, self.function, self.layout)

    def newton_matrix(self, y: jax.Array) -> jax.Array:
        """-Hessian of S at y (the surrogate's for non-concave U), from one pass over the pairs."""
        return problem.newton_matrix(y, self.params, self.function, self.layout, self.surrogate)

    def newton_matrix_and_upper_sums(self, y: jax.Array, workspace: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """:meth:`newton_matrix` and the sums of its rows right of the diagonal (same pass), written over
        ``workspace`` (an M x M array no longer needed) where given."""
        return problem.newton_matrix_and_upper_sums(y, self.params, self.function, self.layout, self.surrogate, workspace)

    def certificate(self, y: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(Frank-Wolfe gap, S, gradient) at y."""
        value, gradient = self.evaluate(y)
        return problem.frank_wolfe_gap(gradient, y, self.layout), value, gradient

    def scale(self, gradient: jax.Array) -> jax.Array:
        """The certificate's scale at a point with this gradient (``_symmetric.certificate_scale``)."""
        return problem.certificate_scale(gradient, self.layout)


class Factor(NamedTuple):
    """A Jacobi-scaled Cholesky factorisation: ``matrix[keep, keep] = D^-1 L L^T D^-1`` with D = diag(scale).

    ``lower`` holds L in its lower triangle (the upper one is not read); ``ok`` is False
    where the factorisation failed (the matrix is not positive definite to rounding).
    """

    lower: jax.Array
    scale: jax.Array
    ok: jax.Array


def _potrf_cpu(scaled: jax.Array) -> tuple[jax.Array, jax.Array]:
    """LAPACK's potrf in place on the row-major buffer, with no copy and no check pass.

    The buffer of a symmetric matrix read column-major is the same matrix, so the factor
    LAPACK writes into its "upper" triangle is, row-major, the lower factor L. The target
    is the one ``jax.lax.linalg.cholesky`` calls on CPU (``lapack_dpotrf_ffi``, among the
    custom calls JAX keeps stable for exported programs); through ``lax.linalg`` the
    factorisation costs two transposing copies (LAPACK is column-major) and a select that
    writes NaN where it failed, each a pass over M x M entries and one of them a second
    M x M array.
    """
    # private jaxlib module: imported only where factorise has checked that it is there
    from jaxlib import lapack

    target = lapack.prepare_lapack_call("potrf_ffi", np.dtype(scaled.dtype))
    shapes = (jax.ShapeDtypeStruct(scaled.shape, scaled.dtype), jax.ShapeDtypeStruct(scaled.shape[:-2], jnp.int32))
    call = jax.ffi.ffi_call(target, shapes, input_output_aliases={0: 0}, vmap_method="broadcast_all")
    lower, info = call(scaled, uplo=np.uint8(ord("U")))
    return lower, info == 0


def _potrf_portable(scaled: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``jax.lax.linalg.cholesky`` (GPU, TPU): the lower factor, NaN where it failed."""
    lower = jax.lax.linalg.cholesky(scaled, symmetrize_input=False)
    return lower, jnp.all(jnp.isfinite(jnp.diagonal(lower, axis1=-2, axis2=-1)), axis=-1)


#: Rows of the matrix scaled at once by :func:`factorise`.
SCALE_BLOCK = 256


def _scale_in_place(matrix: jax.Array, scale: jax.Array, keep: jax.Array) -> jax.Array:
    """``matrix * scale scale^T`` on the kept rows and columns, 0 elsewhere, row block by row block in place.

    A loop of dynamic-update-slices, which XLA performs on the array itself: one
    elementwise expression over the whole matrix would be written to a second M x M
    array whenever XLA cannot prove the input dead and read only elementwise.
    """
    size = matrix.shape[0]
    block = min(size, SCALE_BLOCK)
    column_scale = jnp.where(keep, scale, 0.0)

    def scale_rows(k: jax.Array, a: jax.Array) -> jax.Array:
        start = k * block
        rows = jax.lax.dynamic_slice(a, (start, 0), (block, size))
        row_keep = jax.lax.dynamic_slice(keep, (start,), (block,))
        row_scale = jax.lax.dynamic_slice(scale, (start,), (block,))
        scaled = jnp.where(row_keep[:, None] & keep[None, :], rows * row_scale[:, None] * column_scale[None, :], 0.0)
        return jax.lax.dynamic_update_slice(a, scaled, (start, 0))

    return jax.lax.fori_loop(0, size // block, scale_rows, matrix)


def factorise(matrix: jax.Array, keep: jax.Array, band: tuple[jax.Array, jax.Array] | None = None) -> Factor:
    """The Jacobi-scaled Cholesky factor of ``matrix`` (plus the symmetric tridiagonal ``band``:
    its diagonal and superdiagonal) on the rows and columns in ``keep``.

    The other rows and columns are replaced by the identity (their solution is the
    right-hand side there). The scaling makes the factorisation insensitive to the
    huge spread of curvatures near clustered rewards (U'' ~ gap^-2 for log). The band
    (the log-barrier's Hessian) is added to the scaled copy, by scatters on its three
    diagonals.

    Memory and time: the masking and the scaling are one elementwise pass into one
    M x M array (the matrix's own where it is not used after), which LAPACK then
    overwrites with its factor in place (on
    CPU, :func:`_potrf_cpu`); the matrix is symmetric by construction and potrf reads
    one triangle, so nothing is symmetrised; no M x M array is copied.
    """
    tiny = jnp.finfo(matrix.dtype).tiny
    index = jnp.arange(matrix.shape[0])
    band_diagonal, superdiagonal = (jnp.zeros_like(keep, matrix.dtype), None) if band is None else band
    scale = jnp.where(keep, 1.0 / jnp.sqrt(jnp.maximum(jnp.diag(matrix) + band_diagonal, tiny)), 1.0)
    scaled = _scale_in_place(matrix, scale, keep)
    # the diagonal (dropped rows: 1; jitter 1e-13) and the band by O(M) scatters in place:
    # a mask such as i == j would be an M x M constant, which XLA hoists out of the loops
    diagonal = jnp.where(keep, band_diagonal * scale**2 + 1e-13, 1.0 + 1e-13)
    scaled = scaled.at[index, index].add(diagonal)
    if superdiagonal is not None:
        coupled = jnp.where(keep[:-1] & keep[1:], superdiagonal * scale[:-1] * scale[1:], 0.0)
        scaled = scaled.at[index[:-1], index[1:]].add(coupled).at[index[1:], index[:-1]].add(coupled)
    try:
        # the CPU kernels and the private helper naming them; a jaxlib without either takes the portable path
        from jaxlib.lapack import prepare_lapack_call  # noqa: F401
    except (ImportError, AttributeError):  # pragma: no cover - the jaxlib versions tested have both
        lower, ok = _potrf_portable(scaled)
    else:
        lower, ok = jax.lax.platform_dependent(scaled, cpu=_potrf_cpu, default=_potrf_portable)
    return Factor(lower, scale, ok)


def factored_solve(factor: Factor, rhs: jax.Array) -> jax.Array:
    """The solution of the factorised system (NaN where the factorisation failed)."""
    # through U = L^T, which on CPU is L's row-major buffer read column-major (what LAPACK's
    # triangular solves take): no copy of the factor
    upper = factor.lower.T
    scaled_rhs = (factor.scale * rhs)[:, None]
    forward = jax.lax.linalg.triangular_solve(upper, scaled_rhs, left_side=True, lower=False, transpose_a=True)
    backward = jax.lax.linalg.triangular_solve(upper, forward, left_side=True, lower=False)
    return jnp.where(factor.ok, factor.scale * backward[:, 0], jnp.nan)


def scaled_solve(
    matrix: jax.Array, rhs: jax.Array, keep: jax.Array, band: tuple[jax.Array, jax.Array] | None = None
) -> jax.Array:
    """Solve the symmetric positive definite system on the rows and columns in ``keep`` after Jacobi scaling
    (:func:`factorise`, :func:`factored_solve`; NaN where it is not positive definite)."""
    return factored_solve(factorise(matrix, keep, band), rhs)


def to_gaps_in_place(matrix: jax.Array, enabled: jax.Array) -> jax.Array:
    """R A R^T with R the reverse cumulative sum (:func:`reverse_cumsum` along both axes), in place,
    where ``enabled`` (``matrix`` unchanged otherwise, at no cost).

    The Hessian in the gaps d (y = cumsum(d)) of a function with Hessian A in y. Row
    blocks from the bottom, then column blocks from the right, each summed within by a
    product with a triangular matrix of ones and carried over by the running total, and
    written back into the same array (a loop's dynamic-update-slice, which XLA does in
    place): no second M x M array. The loops run zero times where not ``enabled``.
    """
    size = matrix.shape[0]
    block = min(size, CUMSUM_BLOCK)
    count = jnp.where(enabled, size // block, 0)
    ones = jnp.triu(jnp.ones((block, block), matrix.dtype))  # ones[i, j] = 1 for j >= i
    highest = jax.lax.Precision.HIGHEST

    def rows(k: jax.Array, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        a, below = carry
        start = size - (k + 1) * block
        part = jax.lax.dynamic_slice(a, (start, 0), (block, size))
        summed = jnp.matmul(ones, part, precision=highest) + below[None, :]
        return jax.lax.dynamic_update_slice(a, summed, (start, 0)), below + jnp.sum(part, axis=0)

    def columns(k: jax.Array, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        a, right = carry
        start = size - (k + 1) * block
        part = jax.lax.dynamic_slice(a, (0, start), (size, block))
        summed = jnp.matmul(part, ones.T, precision=highest) + right[:, None]
        return jax.lax.dynamic_update_slice(a, summed, (0, start)), right + jnp.sum(part, axis=1)

    zeros = jnp.zeros(size, matrix.dtype)
    matrix, _ = jax.lax.fori_loop(0, count, rows, (matrix, zeros))
    matrix, _ = jax.lax.fori_loop(0, count, columns, (matrix, zeros))
    return matrix


def reverse_cumsum(x: jax.Array, axis: int) -> jax.Array:
    """sum_{j >= i} x_j along ``axis`` (length a multiple of the block, or shorter).

    Written by hand: XLA's CPU cumsum is a reduce-window, slow on an M x M matrix.
    Here each block of CUMSUM_BLOCK entries is summed by a product with a triangular
    matrix of ones (BLAS speed), and the block totals carry over by a short cumsum.
    """
    x = jnp.moveaxis(x, axis, 0)
    length = x.shape[0]
    block = min(length, CUMSUM_BLOCK)
    if length % block:
        return jnp.moveaxis(jnp.flip(jnp.cumsum(jnp.flip(x, 0), axis=0), 0), 0, axis)
    blocks = x.reshape(length // block, block, *x.shape[1:])
    upper = jnp.triu(jnp.ones((block, block), x.dtype))
    within = jnp.einsum("ij,pj...->pi...", upper, blocks, precision=jax.lax.Precision.HIGHEST)
    totals = jnp.sum(blocks, axis=1)
    later = jnp.flip(jnp.cumsum(jnp.flip(totals, 0), axis=0), 0) - totals
    return jnp.moveaxis((within + later[:, None]).reshape(x.shape), 0, axis)
