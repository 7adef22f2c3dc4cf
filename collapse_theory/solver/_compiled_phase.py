"""The compiled phase program of the utility back end: padding, one program per family, packed results.

One phase of the barrier path (:mod:`collapse_theory.solver._interior_point`) for a batch of
problems of one padded size is one XLA program. Problems are padded to shared sizes
(:func:`bucket_size`, :func:`batch_size`) so that one compilation serves many n; the built-in
families share one program behind a run-time ``lax.switch``; a repeated command may read the
program back from the exported-program store; and the result comes back to the host as one
packed array.
"""

from __future__ import annotations

import sys
from functools import lru_cache, partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from collapse_theory._core import exported_programs as _exported_programs
from collapse_theory.problems.families import FAMILIES
from collapse_theory.problems.utilities import Utility, UtilityFunction
from collapse_theory.solver import _interior_point

__all__ = ["MIN_BATCH", "SMALL_SIZE", "batch_size", "bucket_size"]


def bucket_size(m: int) -> int:
    """Padded size of a problem with m = n // 2 free rewards.

    Small problems share power-of-two sizes (one compilation serves many n, and
    different n batch together); large ones round up to a multiple of 256, where
    padding would cost more than compiling.
    """
    if m <= 512:
        return max(16, 1 << (m - 1).bit_length())
    return -(-m // 256) * 256


#: Batches of small problems (padded size up to this) are padded to at least MIN_BATCH problems.
SMALL_SIZE = 128
MIN_BATCH = 8


def batch_size(count: int, size: int) -> int:
    """Padded batch length: a power of two, at least MIN_BATCH for small problems.

    Every distinct (batch length, padded size) is one compilation of several
    seconds, while a padded copy of a small problem costs milliseconds.
    """
    padded = 1 << (count - 1).bit_length()
    return max(padded, MIN_BATCH) if size <= SMALL_SIZE else padded


#: The families of the solver's compiled switch, in the order of their run-time code (read
#: from the registry: the records with ``solver_branch``).
_BUILTIN_FAMILIES = tuple(name for name, family in FAMILIES.items() if family.solver_branch)


def _builtin_utility(x: jax.Array, params: jax.Array, family_code: jax.Array) -> jax.Array:
    """U of the built-in family number ``family_code`` (a ``lax.switch``, not a select).

    Measured on CPU at n = 10^4: the switch, taken inside the pair loops, makes an evaluation
    of U and U' over the pairs 3.5 times and the Newton matrix 2 times slower than the
    family's own function (XLA's CPU conditionals; a switch around each tile of rows, with
    its sums inside the branches, was barely better: 0.72 against 0.87 CPU-s, where the
    family's own function takes 0.25): hence SWITCH_SIZE.
    """
    branches = [FAMILIES[name].function for name in _BUILTIN_FAMILIES]
    return jax.lax.switch(family_code, branches, x, params)


def _is_builtin(utility: Utility) -> bool:
    """A member of a switch family, by its record (a custom utility may carry any family name)."""
    record = utility.family_record
    return record is not None and record.solver_branch and utility.function is record.function


#: XLA options for the solver: LLVM's expensive passes roughly double the compile
#: time of this large loop and buy no run time on CPU (measured for log-sigmoid:4
#: at n = 1000: compile 54 s -> 42 s and run 3.7 s -> 2.8 s on 2 busy cores).
_COMPILER_OPTIONS = {"xla_llvm_disable_expensive_passes": True}


def _phase_program(
    start: _interior_point.Iterate,
    fresh: jax.Array,
    n: jax.Array,
    params: jax.Array,
    tol: jax.Array,
    skip_barrier: jax.Array,
    family_code: jax.Array,
    singular: jax.Array,
    *,
    function: UtilityFunction | None,
    max_steps: int,
    surrogate: bool,
    batched: bool,
) -> tuple[jax.Array, _interior_point.Iterate]:
    """One phase of every problem in the batch; the result packed (see :func:`_unpack`)."""
    if function is None:  # a built-in family, chosen at run time: one compilation serves them all
        function = partial(_builtin_utility, family_code=family_code)
    run = partial(
        _interior_point.solve_phase,
        function=function,
        max_steps=max_steps,
        surrogate=surrogate,
        singular=singular,
    )
    if batched:
        result, iterate = jax.vmap(run, in_axes=(0, None, 0, 0, None, 0))(start, fresh, n, params, tol, skip_barrier)
    else:
        result, iterate = run(start, fresh, n, params, tol, skip_barrier)
    # one array to bring back to the host: each device-to-host copy costs tens of microseconds
    scalars = [result.gap, result.objective, result.iterations, result.polished, result.scale]
    packed = jnp.concatenate([result.y, *(jnp.asarray(a, result.y.dtype)[..., None] for a in scalars)], axis=-1)
    return packed, iterate


_STATIC_OPTIONS = ("function", "max_steps", "surrogate", "batched")
_compiled_phase = jax.jit(_phase_program, static_argnames=_STATIC_OPTIONS, compiler_options=_COMPILER_OPTIONS)


def _flat_phase(*leaves: jax.Array, structure: Any, options: dict[str, Any]) -> tuple[jax.Array, ...]:
    """:func:`_phase_program` on the flat arrays of its arguments, returning flat arrays (for ``jax.export``)."""
    packed, iterate = _phase_program(*jax.tree_util.tree_unflatten(structure, leaves), **options)
    return (packed, *iterate)


def _program_name(function: UtilityFunction | None) -> str | None:
    """How a stored program names ``function``: ``"builtin"`` for the built-in switch (None).

    A module-level function of this package (``box-cox``'s) is named by its module and
    name; any other function (a custom utility, a lambda) has no name that means the same
    function in another process: None, and its program is not stored.
    """
    if function is None:
        return "builtin"
    module, qualname = getattr(function, "__module__", ""), getattr(function, "__qualname__", "")
    if (
        module.startswith("collapse_theory.")
        and "<" not in qualname
        and getattr(sys.modules.get(module), qualname, None) is function
    ):
        return f"{module}.{qualname}"
    return None


def _call_phase(arguments: tuple[Any, ...], options: dict[str, Any]) -> tuple[jax.Array, _interior_point.Iterate]:
    """:func:`_compiled_phase`, or where the program store is on (the command line) its exported program.

    The exported program (``_exported_programs``) is this very program, traced and lowered
    once and kept on disk, so that a repeated command skips Python's tracing; it computes
    the same numbers.
    """
    function_name = _program_name(options["function"]) if _exported_programs.directory() is not None else None
    if function_name is not None:
        leaves, structure = jax.tree_util.tree_flatten(arguments)
        static = {**options, "function": function_name, "structure": structure}
        flat = partial(_flat_phase, structure=structure, options=options)
        program = _exported_programs.program("solver-phase", flat, static, leaves, _COMPILER_OPTIONS)
        if program is not None:
            packed, *iterate = program(*leaves)
            return packed, jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(arguments[0]), iterate)
    return _compiled_phase(*arguments, **options)


class _PhaseResult(NamedTuple):
    """A phase's :class:`~collapse_theory.solver._interior_point.Result` on the host, one row per problem."""

    y: np.ndarray
    gap: np.ndarray
    objective: np.ndarray
    iterations: np.ndarray
    polished: np.ndarray
    scale: np.ndarray


def _unpack(packed: np.ndarray) -> _PhaseResult:
    """The fields of :func:`_compiled_phase`'s packed result, each with a leading batch axis."""
    packed = packed.reshape(-1, packed.shape[-1])
    y, gap, objective, iterations, polished, scale = (packed[:, :-5], *packed[:, -5:].T)
    return _PhaseResult(y, gap, objective, iterations.astype(np.int64), polished > 0, scale)


@lru_cache(maxsize=1024)
def _constant(value: bool | int | float | tuple[float, ...], dtype: str) -> jax.Array:
    """A run-time argument of the compiled program, kept on the device across calls.

    Host arguments are copied to the device on every call, which for a small solve
    costs more than the scalar operations themselves; repeated solves reuse these.
    A NumPy value put on the device, not ``jnp.asarray``: that is an eager JAX operation,
    compiled once per dtype and shape in every process (tens of milliseconds each).
    """
    return jax.device_put(np.asarray(value, dtype=dtype))
