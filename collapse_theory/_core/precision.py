"""float64 computation without touching the user's global JAX configuration.

Every public numerical entry point runs its JAX code inside :func:`float64`, a
context that switches 64-bit mode on for that block only (``jax.enable_x64``),
and hands results back as NumPy float64 arrays.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax


@contextlib.contextmanager
def float64() -> Iterator[None]:
    """Run the enclosed JAX code in float64, restoring the caller's setting after.

    Example:
        >>> import jax.numpy as jnp
        >>> with float64():
        ...     x = jnp.ones(2)
        >>> str(x.dtype)
        'float64'
    """
    with jax.enable_x64(True):
        yield
