"""What the barrier path and the projected-Newton polish share.

* :class:`Phase`: one padded symmetric problem (layout, utility, tolerance, step
  limit) with its evaluations: S and its gradient (``_symmetric.value_and_gradient``),
  the Newton matrix -Hessian (``_symmetric.newton_matrix``), each one tiled pass over
  the pairs, and the Frank-Wolfe certificate with its scale;
* :class:`Iterate` (the barrier's state, also the polish's start) and :class:`Result`;
* the linear algebra both Newton methods use: a Jacobi-scaled Cholesky solve and a
  blocked reverse cumulative sum.

Everything here is traced inside one jitted program (``solver._compiled_phase``);
:class:`Phase` is a plain Python object that only exists while tracing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from collapse_theory import _symmetric as problem
from collapse_theory.utilities import UtilityFunction

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
        surrogate: replace U'' by -|U''| (non-concave U: ascent directions only).
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

    def certificate(self, y: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(Frank-Wolfe gap, S, gradient) at y."""
        value, gradient = self.evaluate(y)
        return problem.frank_wolfe_gap(gradient, y, self.layout), value, gradient

    def scale(self, gradient: jax.Array) -> jax.Array:
        """The certificate's scale at a point with this gradient (``_symmetric.certificate_scale``)."""
        return problem.certificate_scale(gradient, self.layout)


def scaled_solve(matrix: jax.Array, rhs: jax.Array, keep: jax.Array) -> jax.Array:
    """Solve the symmetric positive definite system on the rows and columns in ``keep`` after Jacobi scaling.

    The other rows and columns are replaced by the identity (their solution is the
    right-hand side there). The scaling makes the factorisation insensitive to the
    huge spread of curvatures near clustered rewards (U'' ~ gap^-2 for log).

    Memory and time: the masking, the scaling and the jitter are one elementwise pass
    into one new M x M array, which LAPACK's Cholesky then overwrites with its factor
    (``symmetrize_input=False``: the matrix is symmetric by construction and potrf reads
    its lower triangle only; averaging it with its transpose would cost another M x M
    array and pass). This replaces ``jax.scipy.linalg.cho_factor``, which symmetrises.
    """
    tiny = jnp.finfo(matrix.dtype).tiny
    scale = jnp.where(keep, 1.0 / jnp.sqrt(jnp.maximum(jnp.diag(matrix), tiny)), 1.0)
    index = jnp.arange(matrix.shape[0])
    diagonal = index[:, None] == index[None, :]
    kept = keep[:, None] & keep[None, :]
    scaled = jnp.where(kept, matrix * scale[:, None] * scale[None, :], jnp.where(diagonal, 1.0, 0.0))
    scaled = scaled + jnp.where(diagonal, 1e-13, 0.0)
    factor = jax.lax.linalg.cholesky(scaled, symmetrize_input=False)
    scaled_rhs = (scale * rhs)[:, None]
    forward = jax.lax.linalg.triangular_solve(factor, scaled_rhs, left_side=True, lower=True)
    backward = jax.lax.linalg.triangular_solve(factor, forward, left_side=True, lower=True, transpose_a=True)
    return scale * backward[:, 0]


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
