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
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from collapse_theory._core.checks import check_memory
from collapse_theory._core.precision import float64
from collapse_theory.errors import InputError
from collapse_theory.problems.utilities import Utility, member, parse_utility
from collapse_theory.solver import _interior_point
from collapse_theory.solver._compiled_phase import (
    _BUILTIN_FAMILIES,
    MIN_BATCH,
    SMALL_SIZE,
    _call_phase,
    _constant,
    _is_builtin,
    _PhaseResult,
    _unpack,
    batch_size,
    bucket_size,
)
from collapse_theory.solver._starting_points import (
    COARSE_LEVEL,
    _closed_form_quantiles,
    _interior_start,
    _interpolated_start,
    _plain_guess,
    _seeded_by_coarser,
)
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


#: Padded sizes up to this share the built-in families' one program (a run-time ``lax.switch``);
#: larger ones compile one program per family (see :func:`_run_phases`).
SWITCH_SIZE = 512


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
