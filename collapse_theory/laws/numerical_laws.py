"""The n -> infinity law of the optimal rewards of any utility, by energy maximisation.

As n grows the empirical law of the optimal rewards
converges to a maximiser of the energy

.. math::

    I(\\mu) = \\iint U(|x - y|)\\, d\\mu(x)\\, d\\mu(y) = E\\, U(|X - X'|)

over probability measures on [0, 1] (Song, Cai, Lee, Su, arXiv 2305.17608: the limit of the optimal rewards as an energy maximiser).
:func:`numerical_limit` maximises I directly over a discretised measure: point masses
at the nodes of a mesh of [0, 1] (only when U(0) is finite; otherwise an atom has energy
-inf) plus a piecewise-constant density on its cells. The mesh is graded geometrically
towards 0 and 1 (smallest cell 1e-14), where the laws of singular utilities have
integrable density singularities, and uniform in the middle. The energy of the
discretised measure is an exact quadratic form w^T K w in the masses w: K holds the
cell-averaged kernel, each entry a one-dimensional integral of U against the
piecewise-linear density of X - X', computed by tanh-sinh quadrature for cells that
touch (it integrates the singularity of U at 0 to full precision) and by Gauss-Legendre
quadrature for cells far apart (U is analytic there).

For U concave and non-decreasing on (0, 1] (and integrable at 0, U(0) possibly -inf),
:math:`U(1) - U(|z|)` is a mixture of triangle functions, whose Fourier transforms (Fejer
kernels) are positive off a discrete set, so I is strictly concave on probability measures
(docs/theory.md, section 3, gives the proof; for finite U(0) this is Polya's criterion) and
w^T K w is concave on the simplex. The discretised problem is solved by a primal log-barrier
Newton method; its Frank-Wolfe gap ``2 (max_i (Kw)_i - w^T K w)`` certifies the discrete
optimum, and the gap between two mesh resolutions (Kolmogorov-Smirnov distance of the
two laws) is the reported error estimate. Symmetry (I is invariant under x -> 1 - x,
and for concave I the symmetrised optimum is optimal) halves the unknowns.

**Hypersingular utilities.** When U(x) falls like -x^(-G) with G >= 1 (``neg-power:G``,
G >= 1, or a custom U with that singularity), every probability measure has infinite
energy (the integral of :math:`|x - y|^{-G}` diverges on the diagonal), so there is nothing to
maximise. The limit of the finite-n optima is then known instead from the theory of
hypersingular Riesz energies: the normalised counting measures of optimal n-point
configurations converge to the uniform law, whatever G >= 1 (Hardin and Saff, Notices
AMS 2004; Adv. Math. 2005; lower-order terms of U do not change it, Borodachov, Hardin
and Saff, Trans. AMS 2008). :func:`numerical_limit` detects the singularity from the
decay of U at 0 and returns that uniform law, with ``method="hypersingular"``.

The result, :class:`NumericalLimit`, is a :class:`~collapse_theory.laws.law.Law` like the
closed forms.

Example:
    >>> lim = numerical_limit("exp:2")
    >>> [(atom.location, round(atom.mass, 4)) for atom in lim.atoms]
    [(0.0, 0.25), (1.0, 0.25)]
    >>> round(float(lim.pdf(0.5)), 3)
    0.5
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.interpolate
import scipy.linalg
import scipy.optimize

from collapse_theory._core.precision import float64
from collapse_theory.errors import InputError
from collapse_theory.laws._energy_quadrature import energy_matrix, mesh, utility_values
from collapse_theory.laws._simplex_energy import DiscreteOptimum, maximise_energy
from collapse_theory.laws.distances import law_distance
from collapse_theory.laws.law import Atom, Law
from collapse_theory.problems.utilities import Utility, parse_utility

__all__ = ["Atom", "NumericalLimit", "is_hypersingular", "is_singular_at_zero", "numerical_limit"]

Array = Any

#: Cells of the default mesh on [0, 1/2] (the other half is its mirror image).
DEFAULT_CELLS = 240
#: The smallest cell of the mesh, next to 0 and 1: the laws of singular utilities have
#: densities like x^(a-1) there, and the mass below this scale is resolved as one cell.
SMALLEST_CELL = 1e-14
#: Barrier Newton steps at most on one mesh (the crossover usually ends the path in 20 to 40).
DEFAULT_MAX_STEPS = 200
#: Atoms lighter than this are folded into the continuous part (the barrier leaves
#: unused point masses at about this size).
ATOM_THRESHOLD = 1e-6


@dataclass(frozen=True, eq=False)
class NumericalLimit(Law):
    """The n -> infinity law of the optimal rewards, computed numerically.

    A :class:`~collapse_theory.laws.law.Law` on [0, 1], symmetric about 1/2, made of point
    masses (:attr:`atoms`) and a continuous part with a density: :meth:`cdf`,
    :meth:`ppf`, :meth:`pdf` (the continuous part's density), :meth:`pmf` (the atoms), as
    for the closed forms.

    The continuous part is stored on [0, 1/2] (the other half is its mirror image, which
    also keeps x = 1 - 1e-14 resolvable: float64 cannot hold such points near 1): a
    monotone cubic (PCHIP) interpolant of its cumulative mass at the mesh nodes, and in
    the first cell [0, x_1] the power law F(x_1) (x / x_1)^a fitted on the graded cells
    above it (``endpoint_exponent``; the laws of singular utilities have densities
    ~ x^(a-1) at the ends, e.g. a = (1 - G)/2 for ``power:G``).

    Attributes:
        utility: the utility's spec string.
        atoms: point masses heavier than ``ATOM_THRESHOLD``, by location.
        half_grid: the mesh nodes on [0, 1/2].
        half_continuous_cdf: the continuous part's cumulative mass at ``half_grid``.
        endpoint_exponent: a of the first cell's power law, or None (uniform first cell).
        mean: E X (1/2: the law is symmetric).
        variance: Var X.
        energy: the maximised :math:`E\\, U(|X - X'|)` of the discretised law (-inf when hypersingular).
        certificate_gap: the Frank-Wolfe gap of the discretised problem (an upper bound on
            its suboptimality when ``certified``).
        certified: U is concave, so the energy is concave and the gap is a bound.
        error_estimate: Kolmogorov-Smirnov distance between the laws computed on the
            default mesh and on a coarser one (0 for the hypersingular case, where the law
            is a theorem).
        method: ``"discretised energy"`` or ``"hypersingular"``.
        seconds: wall-clock time.
    """

    utility: str
    atoms: tuple[Atom, ...]
    half_grid: np.ndarray = field(repr=False)
    half_continuous_cdf: np.ndarray = field(repr=False)
    endpoint_exponent: float | None
    mean: float
    variance: float
    energy: float
    certificate_gap: float
    certified: bool
    error_estimate: float
    method: str
    seconds: float

    @property
    def continuous_mass(self) -> float:
        """The mass of the continuous part, 1 - (total atom mass)."""
        return float(2.0 * self.half_continuous_cdf[-1])

    @property
    def grid(self) -> np.ndarray:
        """The mesh nodes on [0, 1] (the half mesh and its mirror image)."""
        return np.unique(np.concatenate([self.half_grid, 1.0 - self.half_grid]))

    @property
    def density(self) -> np.ndarray:
        """The continuous part's density at :attr:`grid`."""
        return self.pdf(self.grid)

    def _interpolant(self) -> scipy.interpolate.PchipInterpolator:
        return _continuous_part(self.half_grid.tobytes(), self.half_continuous_cdf.tobytes())

    def _continuous_left(self, y: np.ndarray) -> np.ndarray:
        """The continuous part's cumulative mass on [0, y] for 0 <= y <= 1/2."""
        values = self._interpolant()(y)
        if self.endpoint_exponent is not None:
            first = self.half_grid[1]
            tail = self.half_continuous_cdf[1] * (np.maximum(y, 0.0) / first) ** self.endpoint_exponent
            values = np.where(y < first, tail, values)
        return values

    def _left(self, y: np.ndarray, strict: bool) -> np.ndarray:
        """P(X <= y) (or P(X < y) when ``strict``) for 0 <= y <= 1/2."""
        values = self._continuous_left(y)
        for atom in self.atoms:
            if atom.location <= 0.5:
                hit = (y > atom.location) if strict else (y >= atom.location)
                values = values + np.where(hit, atom.mass, 0.0)
        return values

    def cdf(self, x: Any) -> np.ndarray:
        """F(x) = P(X <= x), atoms included (right-continuous).

        Above 1/2, F(x) = 1 - P(X < 1 - x) by symmetry; 1 - x is exact in float64 there.
        """
        points = np.asarray(x, dtype=np.float64)
        inside = np.clip(points, 0.0, 1.0)
        lower = self._left(np.minimum(inside, 0.5), strict=False)
        upper = 1.0 - self._left(np.minimum(1.0 - inside, 0.5), strict=True)
        values = np.where(inside <= 0.5, lower, upper)
        return np.where(points < 0.0, 0.0, np.where(points >= 1.0, 1.0, np.clip(values, 0.0, 1.0)))

    def pdf(self, x: Any) -> np.ndarray:
        """The density of the continuous part at x (atoms are not densities)."""
        points = np.asarray(x, dtype=np.float64)
        y = np.minimum(np.clip(points, 0.0, 1.0), 1.0 - np.clip(points, 0.0, 1.0))
        values = self._interpolant()(y, 1)
        if self.endpoint_exponent is not None:
            first = self.half_grid[1]
            a = self.endpoint_exponent
            with np.errstate(divide="ignore"):
                tail = a * self.half_continuous_cdf[1] / first * (y / first) ** (a - 1.0)
            values = np.where(y < first, tail, values)
        inside = (points >= 0.0) & (points <= 1.0)
        return np.where(inside, np.maximum(values, 0.0), 0.0)

    @property
    def kind(self) -> str:  # type: ignore[override]
        """``"numerical"``: computed, not a closed form."""
        return "numerical"

    @property
    def parameters(self) -> dict[str, Any]:
        """The computation's settings and certificate (JSON-ready)."""
        return {"utility": self.utility, "method": self.method, "endpoint_exponent": self.endpoint_exponent}

    def describe(self) -> str:
        """E.g. ``'numerical limit of exp:2 (atoms 0.25 at 0 and 1)'``."""
        atoms = ", ".join(f"{a.mass:.3g} at {a.location:g}" for a in self.atoms)
        return f"numerical limit of {self.utility}" + (f" (atoms {atoms})" if atoms else "")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (atoms, moments, energy, certificate, error estimate)."""
        return {
            "kind": self.kind,
            "utility": self.utility,
            "method": self.method,
            "atoms": [{"location": a.location, "mass": a.mass} for a in self.atoms],
            "continuous_mass": self.continuous_mass,
            "endpoint_exponent": self.endpoint_exponent,
            "mean": self.mean,
            "variance": self.variance,
            "energy": self.energy,
            "certificate_gap": self.certificate_gap,
            "certified": self.certified,
            "error_estimate": self.error_estimate,
            "seconds": self.seconds,
        }


@lru_cache(maxsize=32)
def _continuous_part(grid: bytes, cdf: bytes) -> scipy.interpolate.PchipInterpolator:
    # PCHIP keeps the interpolated CDF monotone, and on the geometric cells near 0
    # it follows x^a shapes far better than straight lines would.
    return scipy.interpolate.PchipInterpolator(np.frombuffer(grid), np.frombuffer(cdf))


def is_hypersingular(utility: Utility | str) -> bool:
    """Whether U(x) -> -inf at least as fast as -1/x, so every law has energy -inf.

    Decided from the local exponent d log|U| / d log x between x = 1e-100 and 1e-50
    (-G for ``neg-power:G``); an overflow of U at 1e-100 counts as hypersingular.

    Example:
        >>> is_hypersingular("neg-power:1"), is_hypersingular("neg-power:0.5"), is_hypersingular("log")
        (True, False, False)
    """
    utility = parse_utility(utility)
    record = utility.family_record
    if record is not None and record.hypersingular is not None:
        return record.hypersingular(utility.parameters)
    near, far = utility_values(utility, np.array([1e-100, 1e-50]))
    if np.isneginf(near):
        return True
    if not (np.isfinite(near) and np.isfinite(far)) or near >= 0.0 or far >= 0.0:
        return False
    exponent = math.log(abs(near) / abs(far)) / math.log(1e-50)
    return -exponent >= 1.0 - 1e-6  # |U| ~ x^(-G) with G >= 1


def _law_from_weights(nodes: np.ndarray, optimum: DiscreteOptimum, with_atoms: bool) -> tuple[tuple[Atom, ...], np.ndarray]:
    """Atoms (on all of [0, 1]) and the continuous cumulative mass on the half mesh."""
    half = nodes.size - 1
    cell_mass = optimum.weights[:half] / 2.0  # each basis measure puts half on each side
    atom_mass = optimum.weights[half:] / 2.0 if with_atoms else np.zeros(nodes.size)
    atom_mass[-1] *= 2.0  # the atom at 1/2 is its own mirror
    heavy = atom_mass > ATOM_THRESHOLD
    light = np.where(heavy, 0.0, atom_mass)
    # light atoms (barrier leftovers) join the continuous part, shared by the neighbouring cells
    share = cell_mass.copy()
    share[0] += light[0]
    share[1:] += light[1:-1] / 2.0
    share[:-1] += light[1:-1] / 2.0
    share[-1] += light[-1] / 2.0  # the other half of the middle atom lies in the mirror cell
    continuous = np.concatenate([[0.0], np.cumsum(share)])
    atoms = [Atom(float(nodes[i]), float(atom_mass[i])) for i in np.flatnonzero(heavy)]
    atoms += [Atom(float(1.0 - a.location), a.mass) for a in reversed(atoms) if a.location < 0.5]
    total = 2.0 * continuous[-1] + sum(atom.mass for atom in atoms)
    continuous = continuous / total  # rounding: make the masses sum to exactly 1
    return tuple(Atom(atom.location, float(atom.mass / total)) for atom in atoms), continuous


def _endpoint_exponent(nodes: np.ndarray, continuous: np.ndarray) -> float | None:
    """a in F(x) ~ F(x_1) (x / x_1)^a, from the cumulative masses at x_1 and ~1000 x_1."""
    far = int(np.searchsorted(nodes, 1e3 * nodes[1]))
    if far >= nodes.size or continuous[1] <= 0.0 or continuous[far] <= continuous[1]:
        return None
    exponent = math.log(continuous[far] / continuous[1]) / math.log(nodes[far] / nodes[1])
    return float(min(max(exponent, 1e-3), 1.0))


def _variance(atoms: tuple[Atom, ...], nodes: np.ndarray, continuous: np.ndarray) -> float:
    """E (X - 1/2)^2 for the symmetric law: twice the left half, integrated exactly on PCHIP.

    int_0^{1/2} (1/2 - x)^2 dF = 2 int_0^{1/2} (1/2 - x) F(x) dx (by parts, F(0) = 0),
    and by parts again int_0^{1/2} (1/2 - x) F(x) dx = G(1/2), G the second antiderivative of F.
    """
    cdf = _continuous_part(nodes.tobytes(), continuous.tobytes())
    left_half = 2.0 * float(cdf.antiderivative(2)(0.5))
    continuous_part = 2.0 * left_half
    atom_part = sum(a.mass * (a.location - 0.5) ** 2 for a in atoms)
    return continuous_part + atom_part


def is_singular_at_zero(utility: Utility | str) -> bool:
    """Whether U(0+) = -inf or U'(0+) = +inf (then the limit law has no atoms).

    Splitting an atom of mass m into two nearby halves at distance d changes the energy by
    about (m/2)^2 (U(d) - U(0)) to first order, which beats any smooth loss when U(0) = -inf
    or U'(0) = inf; so singular utilities have atomless limits, and the numerical limit
    uses a graded mesh without atoms for them. Checked on U itself (JAX value and
    derivative at 0), not on the declared ``singular`` flag.

    Example:
        >>> is_singular_at_zero("power:0.5"), is_singular_at_zero("exp:1")
        (True, False)
    """
    utility = parse_utility(utility)
    with float64():
        params = utility.parameter_array
        zero = jnp.asarray(0.0, dtype=jnp.float64)
        value = float(utility.function(zero, params))
        slope = float(jax.grad(lambda x: utility.function(x, params))(zero))
    return not (math.isfinite(value) and math.isfinite(slope))


#: Points of (0, 1] where a utility is checked to be non-decreasing.
_MONOTONE_CHECK = np.unique(np.concatenate([np.geomspace(1e-12, 1.0, 400), np.linspace(1e-3, 1.0, 400)]))


def _check_non_decreasing(utility: Utility) -> None:
    """Refuse a U that decreases on (0, 1]: the energy's concavity (Polya) and so the certificate need it.

    For a decreasing U the maximiser of E U(|X - X'|) is a point mass (all rewards tied),
    which the symmetric discretisation cannot represent; the limit is then not a law this
    method computes, and a certificate would lie.
    """
    values = utility_values(utility, _MONOTONE_CHECK)
    finite = np.isfinite(values)
    steps = np.diff(values[finite])
    scale = max(float(np.max(np.abs(values[finite]))) if finite.any() else 1.0, np.finfo(float).tiny)
    falling = steps < -1e-9 * scale
    if np.any(falling):
        raise InputError(
            f"utility {utility.spec} decreases on {_falling_intervals(_MONOTONE_CHECK[finite], falling)}; the limit law "
            "of the optimal rewards is computed for U non-decreasing on (0, 1] only (where U decreases, rewards tie)"
        )


def _falling_intervals(points: np.ndarray, falling: np.ndarray) -> str:
    """The grid intervals [points[i], points[j]] covered by consecutive falling steps, e.g. ``'[0.626, 1]'``.

    Example:
        >>> _falling_intervals(np.array([0.1, 0.5, 0.7, 1.0]), np.array([False, True, True]))
        '[0.5, 1]'
    """
    runs: list[str] = []
    index = 0
    while index < falling.size:
        if not falling[index]:
            index += 1
            continue
        end = index
        while end + 1 < falling.size and falling[end + 1]:
            end += 1
        runs.append(f"[{points[index]:.3g}, {points[end + 1]:.3g}]")
        index = end + 1
    shown = runs[:3] + ([f"{len(runs) - 3} more"] if len(runs) > 3 else [])
    return " and ".join([", ".join(shown[:-1]), shown[-1]] if len(shown) > 1 else shown)


def _solve_on_mesh(utility: Utility, cells: int, smallest: float, tol: float, max_steps: int) -> NumericalLimit:
    with_atoms = not is_singular_at_zero(utility)
    # laws of non-singular utilities have bounded densities: a uniform mesh of half as
    # many cells suffices, and leaves room for an atom candidate at every node
    nodes = mesh(max(cells // 2, 6), None) if with_atoms else mesh(cells, smallest)
    matrix = energy_matrix(utility, nodes, with_atoms)
    if not np.all(np.isfinite(matrix)):
        raise InputError(
            f"utility {utility.spec}: the cell energies are not finite (is U integrable near 0 and finite on (0, 1]?)"
        )
    # start from the uniform law, with a little mass on every atom
    start = np.diff(nodes)
    if with_atoms:
        start = np.concatenate([start, np.full(nodes.size, 1e-3 / nodes.size)])
    optimum = maximise_energy(matrix, start, tol, max_steps)
    atoms, continuous = _law_from_weights(nodes, optimum, with_atoms)
    return NumericalLimit(
        utility=utility.spec,
        atoms=atoms,
        half_grid=nodes,
        half_continuous_cdf=continuous,
        endpoint_exponent=None if with_atoms else _endpoint_exponent(nodes, continuous),
        mean=0.5,
        variance=_variance(atoms, nodes, continuous),
        energy=optimum.energy,
        certificate_gap=optimum.gap,
        certified=utility.concave,
        error_estimate=math.nan,
        method="discretised energy",
        seconds=0.0,
    )


def _hypersingular_limit(utility: Utility, seconds: float) -> NumericalLimit:
    nodes = np.linspace(0.0, 0.5, DEFAULT_CELLS + 1)
    return NumericalLimit(
        utility=utility.spec,
        atoms=(),
        half_grid=nodes,
        half_continuous_cdf=nodes.copy(),
        endpoint_exponent=None,
        mean=0.5,
        variance=1.0 / 12.0,
        energy=-math.inf,
        certificate_gap=0.0,
        certified=utility.concave,
        error_estimate=0.0,
        method="hypersingular",
        seconds=seconds,
    )


def numerical_limit(
    utility: Utility | str,
    *,
    cells: int = DEFAULT_CELLS,
    tol: float = 1e-12,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> NumericalLimit:
    """The n -> infinity law of the optimal rewards of any utility, by energy maximisation.

    Maximises :math:`I(\\mu) = E\\, U(|X - X'|)` over probability measures on [0, 1]
    discretised as atoms at mesh nodes (when U is finite with a finite slope at 0) plus a
    piecewise-constant density on graded cells (see the module docstring). The optimality
    (Euler-Lagrange) condition of the continuous problem,

    .. math::

        \\int U(|x - y|)\\, d\\mu(y) \\le I(\\mu) \\text{ on } [0, 1],
        \\text{ with equality on the support of } \\mu,

    is what the discrete Frank-Wolfe gap measures on the basis measures. The law is
    computed twice, on ``cells`` and on ``cells // 2`` cells per half (with a coarser
    smallest cell), and the Kolmogorov-Smirnov distance between the two is the
    ``error_estimate``. Reproduces the closed forms of :func:`collapse_theory.laws.limits.limit`
    to KS <= 1e-3 (tested on ``log``, ``power:G`` for G <= 0.75, ``neg-power:G``,
    ``linear``). Hypersingular utilities (U ~ -x^(-G), G >= 1) have no finite energy;
    they get the uniform law of Hardin and Saff, ``method="hypersingular"``.

    Args:
        utility: a :class:`Utility` or spec; for the certificate to be a bound, U must be
            concave and non-decreasing on (0, 1] (a decreasing U is refused with a
            ``ValueError``).
        cells: cells on [0, 1/2] of the fine mesh.
        tol: relative tolerance on the Frank-Wolfe gap of the discretised problem.
        max_steps: barrier Newton steps at most, per mesh.

    Reference: Song, Cai, Lee, Su, arXiv 2305.17608 (the limit as an energy
    maximiser); Hardin and Saff (2004, 2005) for the hypersingular case.

    Example:
        >>> lim = numerical_limit("log")
        >>> round(lim.mean, 6), round(lim.variance, 4)   # arcsine law: 1/2 and 1/8
        (0.5, 0.125)
    """
    start = time.perf_counter()
    utility = parse_utility(utility)
    cells = int(cells)
    if cells < 12:
        raise InputError(f"numerical_limit needs at least 12 cells, got {cells}")
    if not 0.0 < tol < 1.0:
        raise InputError(f"tol must be in (0, 1), got {tol!r}")
    _check_non_decreasing(utility)
    if is_hypersingular(utility):
        return _hypersingular_limit(utility, time.perf_counter() - start)
    fine = _solve_on_mesh(utility, cells, SMALLEST_CELL, tol, max_steps)
    coarse = _solve_on_mesh(utility, max(cells // 2, 12), math.sqrt(SMALLEST_CELL) * 1e-3, tol, max_steps)
    return dataclasses.replace(fine, error_estimate=law_distance(fine, coarse), seconds=time.perf_counter() - start)
