"""The interpolating-regime solver: optimal rewards for one prompt, certified.

Problem (Song, Cai, Lee, Su, arXiv 2305.17608, the interpolating-regime problem):

.. math::

    \\max_r \\; S(r) = \\sum_{1 \\le i < j \\le n} U(r_i - r_j)
    \\quad \\text{s.t.} \\quad 1 \\ge r_1 \\ge r_2 \\ge \\dots \\ge r_n \\ge 0 .

**Certificate.** The feasible set is the convex hull of the n + 1 step vectors
:math:`e_k = (1,\\dots,1,0,\\dots,0)` (k ones). For concave S and any feasible r
with gradient g, concavity gives :math:`S^* - S(r) \\le \\max_k \\langle g, e_k - r\\rangle
= \\max_k G_k - \\langle g, r \\rangle` with prefix sums :math:`G_k = \\sum_{i \\le k} g_i`
(the Frank-Wolfe gap). Writing :math:`r = \\sum_k d_k e_k` with the gaps
:math:`d_k = r_k - r_{k+1} \\ge 0`, :math:`\\sum_k d_k = 1`, the gap is
:math:`\\sum_k d_k (\\max_j G_j - G_k)`, a sum of non-negative terms that we
evaluate without cancellation.

**Relative tolerance.** A concave solve is certified (``Status.OPTIMAL``) when

.. math::

    \\mathrm{gap} \\le \\mathrm{tol} \\cdot \\bigl(\\max_k G_k - \\min_k G_k\\bigr)

at the returned point: the spread of the linearised objective over the feasible
set (its values at the vertices :math:`e_k` are the :math:`G_k`), which bounds the
gap itself. U -> cU + b (c > 0) multiplies gap and spread alike by c, so the test
depends neither on the units nor on the origin of U (``power:1e-12``, which is
1 + 1e-12 log x to first order, is solved like ``log``). Every path uses it: the
barrier path, the polish, the batched solves and the exact vertex answers.

**Knobs.** Every solving function takes the same two: ``tol``, the relative
certificate tolerance above (default 1e-10), and ``max_steps``, the Newton steps
of the barrier path before it gives up (default 400). Requests whose dense solve would not fit in the available
memory (:func:`estimated_memory`) are refused before anything is allocated.

**Status.** Each :class:`Solution` carries one :class:`~collapse_theory.solver.status.Status`:
``OPTIMAL`` (certified), ``EXACT_VERTEX`` (convex U), ``NOT_CONVERGED``,
``NOT_CERTIFIED`` (U not concave) or ``FAILED`` (a non-finite S, gap or reward);
``converged`` and ``certified`` are read from it.

**Symmetry.** S is invariant under :math:`r \\mapsto 1 - \\mathrm{reverse}(r)`; for
concave S the average of an optimum and its reflection is optimal, so a
symmetric optimum :math:`r_i + r_{n+1-i} = 1` always exists. The solver works on
the top half in the coordinates :math:`y_i = 1 - r_i` (distance from the top),
which halves the work (the Newton system shrinks 2x, its factorisation 8x) and
keeps rewards that cluster at 0 or 1 accurate to their own size. For odd n the
middle reward is 1/2; for ``linear`` with odd n, where the middle reward is not
unique, this is the symmetric choice.

**Method.** Affine U (``linear``) makes S linear: the optimum is a step vector,
found exactly by comparing the n + 1 of them and symmetrised. Otherwise the
solver works on the symmetric top half (``_interior_point``):

1. a start: for ``exp:B`` the quantiles of its closed-form limit law with atoms
   (``design.exp_limit_law``), whose atom starts as exact ties and which certifies in
   1 to 4 Newton steps; otherwise, for m = n // 2 > 64, the solutions at n // 2 and
   n // 4 (themselves solved the same way, from the bottom up) interpolated in the
   bulk and extrapolated in the index near the top (about 3 Newton steps at n = 10^4),
   and for smaller m the closed-form law's quantiles where there is one;
2. a projected Newton method on the gaps between consecutive rewards, from a
   good start directly; from a plain start after a log-barrier path to a loose
   tolerance. Ties (active order constraints), which occur for utilities with
   finite slope at 0 (``log-sigmoid:B``, ``exp:B``), are held at 0 by projection
   and their cost shows up in the certificate;
3. where that does not certify the tolerance, the barrier path followed down to
   it and polished again.

The dense Newton system is built by hand from U'' (the Hessian of a sum over
pairs is a weighted graph Laplacian, O(n^2) to form; autodiff would need n
Hessian-vector products, O(n^3)) and solved by a Jacobi-scaled Cholesky
factorisation done in place. U, U' and U'' are evaluated in tiles of rows of the
pair matrix, so the Newton matrix is the only M x M array an evaluation writes,
and it is transformed, scaled and factorised where it lies (peak memory about 1.3
such arrays for one problem, :func:`estimated_memory`). The loops are ``lax.while_loop``, so many problems of one family
solve in one compiled ``vmap`` call, and every phase shares one compiled program per
padded size: one for every built-in family up to padded size SWITCH_SIZE (the family
chosen at run time), one per family above it, where a run-time choice inside the pair
loops would cost more than compiling.

Non-concave utilities (``square``, custom ones not declared concave) have no
certificate: the solver compares every step vector (exact for convex U, whose
maximum over a polytope is at a vertex) with a local ascent and marks the
result ``Status.NOT_CERTIFIED`` (convex U: ``Status.EXACT_VERTEX``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from functools import lru_cache, partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special

from collapse_theory._core import exported_programs as _exported_programs
from collapse_theory._core.checks import check_memory
from collapse_theory._core.precision import float64
from collapse_theory.errors import InputError
from collapse_theory.problems.families import FAMILIES, Family, box_cox_beta_parameter
from collapse_theory.problems.utilities import Utility, UtilityFunction, member, parse_utility
from collapse_theory.solver import _interior_point
from collapse_theory.solver._step_vectors import _affine_solution, _best_of_vertices, _convex_solution
from collapse_theory.solver.certificates import certificate_gap, objective_value, reward_gradient
from collapse_theory.solver.solution import DEFAULT_TOLERANCE, Solution, concave_status, within_tolerance

__all__ = [
    "COARSE_LEVEL",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_TOLERANCE",
    "MIN_BATCH",
    "SMALL_SIZE",
    "Solution",
    "SolverInputError",
    "batch_size",
    "bucket_size",
    "certificate_gap",
    "check_n",
    "estimated_memory",
    "objective_value",
    "reward_gradient",
    "solve",
    "solve_batch",
    "solve_family",
    "solve_many",
]

#: Newton steps of the barrier path before giving up (``Status.NOT_CONVERGED``).
DEFAULT_MAX_STEPS = 400


class SolverInputError(InputError):
    """Invalid solver input (n < 2, non-integer n, bad tolerance)."""


def check_n(n: object) -> int:
    """Validate the number of completions: an integer >= 2."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        if isinstance(n, (float, np.floating)) and float(n).is_integer():
            n = int(n)
        else:
            raise SolverInputError(f"n must be an integer >= 2, got {n!r}")
    if int(n) < 2:
        raise SolverInputError(f"n must be an integer >= 2, got {int(n)}")
    return int(n)


# --- public solve ------------------------------------------------------------------


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


#: Padded sizes up to this share the built-in families' one program (a run-time ``lax.switch``);
#: larger ones compile one program per family (see :func:`_run_phases`).
SWITCH_SIZE = 512


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


#: Above this many free rewards (m = n // 2) the solutions at n // 2 and n // 4 seed the solve.
COARSE_LEVEL = 64


def _closed_form_quantiles(utility: Utility, n: int) -> np.ndarray | None:
    """Top-half start from the closed-form limit law, if there is one (a polish-ready guess)."""
    if not (_is_builtin(utility) and utility.concave) or utility.family_record is None:
        return None
    quantiles = _cached_quantiles(utility.family_record, utility.parameters, n)
    return None if quantiles is None else quantiles.copy()


@lru_cache(maxsize=256)
def _cached_quantiles(family: Family, parameters: tuple[float, ...], n: int) -> np.ndarray | None:
    # cached: freezing a scipy.stats law costs milliseconds, more than a small solve
    levels = (np.arange(n // 2) + 0.5) / n
    if family.box_cox_exponent is not None:
        # the Box-Cox scale's laws are Beta(a, a) (a = 1: uniform; a = 0: two points): their
        # quantiles straight from scipy.special (the same boost routine as scipy.stats.beta.ppf),
        # so a short command need not import scipy.stats, most of a second
        a = box_cox_beta_parameter(family.box_cox_exponent(parameters))
        if a <= 0.0:
            return None
        quantiles = scipy.special.betaincinv(a, a, levels)
    else:
        law = family.limit_law(parameters)
        if law is None or law.continuous_mass <= 0.0:  # the two-point law: no interior quantiles
            return None
        # exact quantiles: the atoms of exp:B's law start as exact ties at the top (U'(0) is
        # finite, so they tie), its uniform part from scipy's ppf
        quantiles = law.ppf(levels)
    # stretched so that y_1 = 0 (r_1 = 1, optimal for every increasing U) with y = 1/2 fixed
    quantiles = 0.5 * (quantiles - quantiles[0]) / (0.5 - quantiles[0])
    usable = np.all(np.isfinite(quantiles)) and np.all(np.diff(quantiles) >= 0) and quantiles[0] >= 0 and quantiles[-1] < 0.5
    return quantiles if usable else None


def _quantile_start(size: int, quantiles: np.ndarray) -> np.ndarray:
    """The closed-form quantiles as a top half padded to ``size`` (ties allowed: only polished)."""
    y = np.full(size, 0.25)
    y[: len(quantiles)] = quantiles
    return y


def _interior_start(n: int, size: int, quantiles: np.ndarray | None) -> np.ndarray:
    """A strictly feasible symmetric start for the barrier path: evenly spaced rewards, or their
    midpoint with the closed-form quantiles where given.

    The midpoint is strictly increasing with y_1 > 0 even where the quantiles tie or
    start at 0 (the log-barrier is infinite there).
    """
    y = np.full(size, 0.25)
    evenly_spaced = (np.arange(n // 2) + 0.5) / n
    y[: n // 2] = evenly_spaced if quantiles is None else 0.5 * (evenly_spaced + quantiles)
    return y


def _interpolated_start(half: Solution, quarter: Solution | None, n: int, size: int) -> np.ndarray:
    """Top half at n from the solutions at n // 2 (``half``) and n // 4 (``quarter``, or None).

    In the bulk, the rewards of ``half`` and ``quarter`` interpolated at the quantile
    levels of n by a monotone cubic (PCHIP: gaps vary smoothly, where piecewise-linear
    interpolation makes them piecewise constant, a relative error of about 1/k at the k-th
    reward) and extrapolated linearly in the level's finite-n correction
    (:math:`2 y_{n/2} - y_{n/4}`, a Richardson step). Near the top the optimum is not a
    function of the level but of the index: the k-th reward from the top scales like a
    power of n at fixed k (for ``log``, the Gauss-Lobatto nodes,
    :math:`y_k \\approx j_k^2 / (4 n^2)` with Bessel zeros :math:`j_k`), so there each y_k
    is extrapolated from its values at n // 4 and n // 2 (:math:`y_k^2 / y_k'`, one
    Richardson step in the index), blended into the bulk by a half cosine over the first
    half of the indices ``quarter`` has. Relative certificate gaps of the start at
    n = 4000, against the n // 2 solution's PCHIP alone and a quadratic blend over a
    quarter: 1e-2 against 6e-2 (``neg-power:1``), 1e-4 against 8e-3 (``log``), 2e-6
    against 3e-3 (``power:0.5``), 5e-7 against 4e-7 (``log-sigmoid:4``). Ties of the
    coarse solutions (rewards exactly 1) stay exact ties, so the polish starts on the
    right face.
    """
    import scipy.interpolate  # here: the short commands that never solve at large n need not import it

    m = n // 2
    fine_levels = (np.arange(m) + 0.5) / n

    def at_fine_levels(solution: Solution) -> np.ndarray:
        assert solution.rewards is not None  # a utility's solution always has rewards
        coarse = 1.0 - solution.rewards
        levels = (np.arange(solution.n) + 0.5) / solution.n
        return scipy.interpolate.PchipInterpolator(levels, coarse)(np.clip(fine_levels, levels[0], levels[-1]))

    top = at_fine_levels(half)
    if quarter is not None:
        top = 2.0 * top - at_fine_levels(quarter)
        length = min(quarter.n // 2, half.n // 2, m)
        assert half.rewards is not None and quarter.rewards is not None
        y_half, y_quarter = 1.0 - half.rewards[:length], 1.0 - quarter.rewards[:length]
        positive = y_quarter > 0
        edge = np.where(positive, y_half * (y_half / np.where(positive, y_quarter, 1.0)), top[:length])
        span = max(length // 2, 1)
        index = np.arange(length)
        weight = np.where(index < span, 0.5 * (1.0 + np.cos(np.pi * index / span)), 0.0)
        top[:length] = weight * edge + (1.0 - weight) * top[:length]
    y = np.full(size, 0.25)
    y[:m] = np.minimum(np.maximum.accumulate(np.clip(top, 0.0, 0.5)), 0.5 if n % 2 else 0.5 - 0.5 / n)
    y[0] = 0.0  # r_1 = 1: optimal for every increasing U
    return y


def _seeded_by_coarser(quantiles: np.ndarray | None, n: int) -> bool:
    """Whether a solve at n starts from the chain of coarser solutions (see :func:`_guesses`)."""
    if n // 2 <= COARSE_LEVEL:
        return False
    # a law with atoms starts as exact ties (exp:B: 1 to 4 Newton steps); a continuous law's
    # quantiles are good in the bulk only (the gaps next to the top are off by up to 100%)
    return quantiles is None or not np.any(np.diff(quantiles) == 0.0)


def _plain_guess(n: int, size: int, quantiles: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """The start of a problem not seeded by coarser solutions, and whether it is polish-ready."""
    return (_interior_start(n, size, None), False) if quantiles is None else (_quantile_start(size, quantiles), True)


def _guesses(members: list[tuple[Utility, int]], size: int, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Starting points, and whether each is good enough to polish without a barrier phase.

    For m = n // 2 > COARSE_LEVEL (and no closed-form law with atoms): the solutions at
    n // 2, n // 4, ... down to m <= COARSE_LEVEL, solved from the bottom up, each level
    seeded by the two below it (:func:`_interpolated_start`), and the start at n
    interpolated from n // 2 and n // 4. Each level costs about 1/8 of the next (the
    factorisation is cubic in n), and its start is close enough that the polish needs
    about 3 Newton steps (5 to 12 from the limit law's quantiles or from n // 4 alone).
    """
    quantiles = [_closed_form_quantiles(u, n) for u, n in members]
    seeded = [_seeded_by_coarser(q, n) for (_, n), q in zip(members, quantiles, strict=True)]
    chains = _coarse_chains([member for member, flag in zip(members, seeded, strict=True) if flag], tol)
    starts, good = [], []
    for (_, n), q, flag in zip(members, quantiles, seeded, strict=True):
        if flag:
            half, quarter = next(chains)
            starts.append(_interpolated_start(half, quarter, n, size))
            good.append(True)
        else:
            start, ready = _plain_guess(n, size, q)
            starts.append(start)
            good.append(ready)
    return np.stack(starts), np.array(good)


def _coarse_chains(members: list[tuple[Utility, int]], tol: float) -> Any:
    """For each member (u, n): the solutions at n // 2 and n // 4 (None where n // 4 is not solved).

    Solved level by level from the coarsest (m <= COARSE_LEVEL, started as a plain solve)
    up; problems of one level share compiled calls as in :func:`solve_batch`.
    """
    depths = []
    for _, n in members:
        depth = 1
        while (n >> depth) // 2 > COARSE_LEVEL:
            depth += 1
        depths.append(depth)
    solved: dict[tuple[int, int], Solution] = {}  # (member, depth) -> solution at n >> depth
    for depth in range(max(depths, default=0), 0, -1):
        level = [(k, u, n >> depth) for k, ((u, n), deepest) in enumerate(zip(members, depths, strict=True)) if depth <= deepest]
        groups: dict[tuple[Any, ...], list[tuple[int, Utility, int]]] = {}
        for k, u, n in level:
            function_key = u.family if _is_builtin(u) else id(u.function)
            groups.setdefault((function_key, u.concave, u.convex, len(u.parameters), bucket_size(n // 2)), []).append((k, u, n))
        for group in groups.values():
            size = bucket_size(group[0][2] // 2)
            guesses = []
            for k, u, n in group:
                below, further = solved.get((k, depth + 1)), solved.get((k, depth + 2))
                if below is None:
                    guesses.append(_plain_guess(n, size, _closed_form_quantiles(u, n)))
                else:
                    guesses.append((_interpolated_start(below, further, n, size), True))
            seeds = (np.stack([g for g, _ in guesses]), np.array([ready for _, ready in guesses]))
            group_members = [(u, n) for _, u, n in group]
            for (k, _, _), solution in zip(group, _solve_group(group_members, tol, DEFAULT_MAX_STEPS, seeds), strict=True):
                solved[(k, depth)] = solution
    return iter([(solved[(k, 1)], solved.get((k, 2))) for k in range(len(members))])


def _rewards_from_top(y: Any, n: int) -> np.ndarray:
    m = n // 2
    top = np.asarray(y[:m], dtype=np.float64)
    middle = [0.5] if n % 2 else []
    return np.concatenate([1.0 - top, middle, top[::-1]]).astype(np.float64)


def _validate_tolerance(tol: float) -> float:
    tol = float(tol)
    if not (math.isfinite(tol) and 0.0 < tol < 1.0):
        raise SolverInputError(f"tol must be in (0, 1), got {tol!r}")
    return tol


def _validate_steps(max_steps: int) -> int:
    """``max_steps``: a positive integer."""
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise SolverInputError(f"max_steps must be a positive integer, got {max_steps!r}")
    return int(max_steps)


# --- memory ------------------------------------------------------------------------

#: Bytes per entry of the M x M Newton matrix at the peak of a dense solve of one problem,
#: M = bucket_size(n // 2). Measured (peak RSS above the process's RSS after a small solve, log,
#: the first solve at that size, compilation and the chain of coarser solves included): n = 10^4
#: (M = 5120) 0.44 GiB, n = 2 x 10^4 (M = 10240) 1.19 GiB, i.e. 0.19 GiB + 1.28 x 8 M^2: the
#: polish forms, transforms, scales and factorises the Newton matrix in the one M x M array it
#: carries (XLA's temporaries of a phase: 1.26 x 8 M^2 at M = 5120, the rest tiles of
#: PAIR_BLOCK rows). 2 x 8 leaves a margin.
_BYTES_PER_PAIR = 2 * 8
#: The same for each problem of a batch (``vmap``): the batched loops select between old and new
#: M x M arrays, about 4 x 8 M^2 per problem in XLA's temporaries (measured at M = 1024 and 2560).
_BYTES_PER_BATCHED_PAIR = 4 * 8
#: The compiled program, its compilation and XLA's working memory besides the M x M arrays.
_FIXED_BYTES = 256 * 2**20
#: Bytes per reward of a step-vector answer (affine or convex U): the rewards and two step vectors.
_BYTES_PER_VERTEX_REWARD = 4 * 8


def estimated_memory(n: int, count: int = 1, *, vertex: bool = False) -> int:
    """Peak bytes of solving ``count`` problems of size n in one compiled call.

    A dense solve of one problem holds about one float64 array of M x M entries (M =
    ``bucket_size(n // 2)``, the padded top half), a batch about 4 per problem
    (calibrated at n = 10^4 and 2 x 10^4, see ``_BYTES_PER_PAIR``; the estimate allows 2
    and 4); a step-vector answer (``vertex``: affine or convex U) holds a few arrays of n
    rewards.

    Example:
        >>> estimated_memory(2000) / 2**20   # M = 1024
        272.0
    """
    if vertex:
        return count * _BYTES_PER_VERTEX_REWARD * n
    size = bucket_size(max(n // 2, 1))
    per_entry = _BYTES_PER_PAIR if count == 1 else _BYTES_PER_BATCHED_PAIR
    return _FIXED_BYTES + count * per_entry * size * size


def _check_memory(parsed: Sequence[tuple[Utility, int]], what: str) -> None:
    """Refuse a request whose largest compiled call would not fit in memory (before any allocation)."""
    groups: dict[tuple[bool, int], int] = {}
    for utility, n in parsed:
        vertex = utility.affine or utility.convex
        key = (vertex, n if vertex else bucket_size(n // 2))
        groups[key] = groups.get(key, 0) + 1
    for (vertex, size), count in groups.items():
        members = [(u, n) for u, n in parsed if (u.affine or u.convex) == vertex and (vertex or bucket_size(n // 2) == size)]
        utility, n = max(members, key=lambda member: member[1])
        batch = 1 if vertex else batch_size(count, size) if count > 1 else 1
        check_memory(f"{what} {utility.spec}", n, partial(estimated_memory, count=batch, vertex=vertex), lower=2)


# --- public solve ------------------------------------------------------------------


def solve(
    utility: Utility | str,
    n: int,
    *,
    tol: float = DEFAULT_TOLERANCE,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> Solution:
    """Optimal rewards of the interpolating-regime problem, with a certificate.

    Args:
        utility: a :class:`~collapse_theory.problems.utilities.Utility` or a spec such as ``"log"``.
        n: number of ranked completions (>= 2).
        tol: relative certificate tolerance (see the module docstring, "Knobs").
        max_steps: Newton steps of the barrier path before giving up.

    Returns:
        A :class:`Solution`; ``rewards`` are float64 and descending.

    Raises:
        SolverInputError: n, tol or max_steps invalid.
        MemoryLimitError: the solve would not fit in the available memory (refused
            before anything is allocated; the message names the largest n that fits).

    Example:
        >>> s = solve("log", 4)
        >>> np.round(s.rewards, 6).tolist()   # Gauss-Lobatto nodes on [0, 1]
        [1.0, 0.723607, 0.276393, 0.0]
        >>> s.status.value, s.converged and s.certified
        ('optimal', True)
    """
    # a group of one, without the batch's grouping: for step-vector answers (convex or
    # affine U) the call path is the whole cost
    tol = _validate_tolerance(tol)
    max_steps = _validate_steps(max_steps)
    problem = (parse_utility(utility), check_n(n))
    _check_memory([problem], "solving")
    return _solve_group([problem], tol, max_steps)[0]


def solve_many(
    utilities: Utility | str | Sequence[Utility | str],
    n: int,
    *,
    tol: float = DEFAULT_TOLERANCE,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> list[Solution]:
    """Solve several utilities at one n (utilities of one family share one ``vmap`` call).

    A single utility (a spec string or a :class:`~collapse_theory.problems.utilities.Utility`)
    counts as a list of one.

    Example:
        >>> [s.utility for s in solve_many(["power:0.3", "power:0.6"], 6)]
        ['power:0.3', 'power:0.6']
        >>> [s.utility for s in solve_many("log", 4)]
        ['log']
    """
    if isinstance(utilities, (str, Utility)):
        utilities = [utilities]
    max_steps = _validate_steps(max_steps)
    return solve_batch([(u, n) for u in utilities], tol=tol, max_steps=max_steps)


def solve_family(
    family: str,
    parameters: float | Sequence[float],
    ns: int | Sequence[int],
    *,
    tol: float = DEFAULT_TOLERANCE,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> list[Solution]:
    """Solve a grid of one built-in family's parameters (and several n) in one compiled call.

    Returns the solutions in the order (parameter, n) with n varying fastest. A single
    parameter or a single n counts as a list of one.

    Example:
        >>> [round(float(s.rewards[1]), 4) for s in solve_family("power", [0.25, 0.75], 4)]
        [0.7563, 0.9429]
    """
    members = [member(family, p) for p in ([parameters] if isinstance(parameters, (int, float, np.number)) else parameters)]
    n_values = list(ns) if isinstance(ns, Sequence) or (isinstance(ns, np.ndarray) and ns.ndim == 1) else [check_n(ns)]
    max_steps = _validate_steps(max_steps)
    return solve_batch([(u, n) for u in members for n in n_values], tol=tol, max_steps=max_steps)


def solve_batch(
    problems: Sequence[tuple[Utility | str, int]],
    *,
    tol: float = DEFAULT_TOLERANCE,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> list[Solution]:
    """Solve many (utility, n) problems; those sharing a family and padded size run in one ``vmap``.

    The answers are the same as solving one at a time (the batch only pads and
    stacks; each problem keeps its own iteration count and certificate).
    """
    tol = _validate_tolerance(tol)
    max_steps = _validate_steps(max_steps)
    parsed = [(parse_utility(u), check_n(n)) for u, n in problems]
    _check_memory(parsed, "solving")
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, (utility, n) in enumerate(parsed):
        function_key = utility.family if _is_builtin(utility) else id(utility.function)
        key = (function_key, utility.concave, utility.convex, len(utility.parameters), bucket_size(n // 2))
        groups.setdefault(key, []).append(index)
    results: list[Solution | None] = [None] * len(parsed)
    for indices in groups.values():
        members = [parsed[i] for i in indices]
        for index, solution in zip(indices, _solve_group(members, tol, max_steps), strict=True):
            results[index] = solution
    return [r for r in results if r is not None]


def _solve_group(
    members: list[tuple[Utility, int]], tol: float, max_steps: int, seeds: tuple[np.ndarray, np.ndarray] | None = None
) -> list[Solution]:
    """One compiled call for problems of one family function and one padded size (``seeds``: the starts, see
    :func:`_guesses`, when the caller has them)."""
    start = time.perf_counter()
    first = members[0][0]
    if first.affine:  # S is linear: an optimal vertex, symmetrised
        return [_affine_solution(u, n, tol, start) for u, n in members]
    if first.convex:  # the maximum of a convex function over a polytope is at a vertex
        return [_convex_solution(u, n, start) for u, n in members]
    size = bucket_size(members[0][1] // 2)
    batched = len(members) > 1
    count = len(members)
    if batched:  # pad the batch (repeating the last problem): fewer distinct programs to compile
        padding = batch_size(count, size) - count
        members = members + [members[-1]] * padding
        if seeds is not None:
            seeds = (
                np.concatenate([seeds[0], np.repeat(seeds[0][-1:], padding, 0)]),
                np.concatenate([seeds[1], np.repeat(seeds[1][-1:], padding)]),
            )
    with float64():
        result = _run_phases(members, size, tol, max_steps, batched, seeds)
    seconds = (time.perf_counter() - start) / count
    return [_solution(utility, n, k, result, tol, seconds) for k, (utility, n) in enumerate(members[:count])]


def _run_phases(
    members: list[tuple[Utility, int]],
    size: int,
    tol: float,
    max_steps: int,
    batched: bool,
    seeds: tuple[np.ndarray, np.ndarray] | None = None,
) -> _PhaseResult:
    """Up to three compiled phases (see the module docstring, "Method"); the result on the host."""
    first = members[0][0]
    guesses, polish_only = _guesses(members, size, tol) if seeds is None else seeds
    ns = np.array([n for _, n in members])
    params = np.array([u.parameters or (0.0,) for u, _ in members], dtype=np.float64).reshape(len(members), -1)
    # the built-in switch serves small sizes (one compilation for every family); a large problem
    # gets its family's own program, since XLA's CPU conditionals inside the pair loops cost 2
    # to 4 times the pair evaluations they choose between
    builtin = _is_builtin(first) and size <= SWITCH_SIZE
    options = {
        "function": None if builtin else first.function,
        "max_steps": max_steps,
        "surrogate": not first.concave,
        "batched": batched,
    }
    # device-resident constants, or NumPy for batches: jit takes either without the
    # dispatch cost of eager JAX operations
    family_code = _constant(_BUILTIN_FAMILIES.index(first.family) if builtin else 0, "int64")
    singular, tol_ = _constant(first.singular, "bool"), _constant(tol, "float64")
    ns_: Any
    params_: Any
    if batched:
        ns_, params_ = ns, params

        def flags(values: np.ndarray) -> Any:
            return values

    else:
        ns_, params_ = _constant(int(ns[0]), "int64"), _constant(tuple(float(p) for p in params[0]), "float64")

        def flags(values: np.ndarray) -> Any:
            return _constant(bool(values[0]), "bool")

    def run(start: Any, skip_barrier: np.ndarray) -> tuple[_PhaseResult, _interior_point.Iterate]:
        """One compiled phase; the result comes back to the host as NumPy arrays with a batch axis."""
        fresh = not isinstance(start, _interior_point.Iterate)
        if fresh:
            start = _interior_point.fresh_iterate(start if batched else start[0])
        arguments = (ns_, params_, tol_, flags(skip_barrier), family_code, singular)
        packed, iterate = _call_phase((start, _constant(fresh, "bool"), *arguments), options)
        return _unpack(np.asarray(packed)), iterate

    def merge(result: _PhaseResult, better: _PhaseResult, where: np.ndarray) -> _PhaseResult:
        return _PhaseResult(
            *(np.where(where.reshape(where.shape + (1,) * (a.ndim - 1)), b, a) for a, b in zip(result, better, strict=True))
        )

    # 1. polish the guesses that are close to the optimum (large n, known limit law)
    result, iterate = run(guesses, polish_only)
    # 2. where that did not certify tol (or there was no good guess): barrier path to a loose tolerance, polish
    retry = ~within_tolerance(result.gap, result.scale, tol) & polish_only
    if retry.any():
        interior = np.stack([_interior_start(n, size, _closed_form_quantiles(u, n)) for u, n in members])
        second, iterate = run(interior, np.zeros(len(members), bool))
        result = merge(result, second, retry)
    # 3. still short of tol: follow the barrier path down to tol, polish again
    retry = ~within_tolerance(result.gap, result.scale, tol)
    if retry.any():
        third, _ = run(iterate, np.zeros(len(members), bool))
        result = merge(result, third, retry)
    return result


def _solution(utility: Utility, n: int, k: int, result: _PhaseResult, tol: float, seconds: float) -> Solution:
    rewards = _rewards_from_top(result.y[k], n)
    objective = float(result.objective[k])
    gap = float(result.gap[k])
    iterations = int(result.iterations[k])
    if not utility.concave:
        finite = bool(np.all(np.isfinite(rewards)) and math.isfinite(objective))
        return _best_of_vertices(utility, n, rewards, objective, gap, iterations, finite, seconds)
    status, message = concave_status(utility, rewards, objective, gap, float(result.scale[k]), tol, iterations)
    return Solution(
        utility=utility.spec,
        n=n,
        rewards=rewards,
        objective=objective,
        gap=gap,
        status=status,
        iterations=iterations,
        seconds=seconds,
        message=message,
    )
