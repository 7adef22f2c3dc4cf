"""The energy of a discretised law: quadrature of U over mesh cells (private to numerical_laws).

The discretised measure is point masses at mesh nodes plus a piecewise-constant density on
the cells; its energy E U(|X - X'|) is a quadratic form w^T K w in the masses. Each entry of
K is a one-dimensional integral of U against the piecewise-linear density of X - X', computed
by tanh-sinh quadrature for cells that touch (it integrates the singularity of U at 0 to full
precision) and by Gauss-Legendre for cells far apart (U is analytic there).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from collapse_theory._core.precision import float64
from collapse_theory.problems.utilities import Utility, UtilityFunction

Array = Any

# --- quadrature rules on [0, 1] ----------------------------------------------------------------


def _tanh_sinh(step: float = 1.0 / 8.0, left: float = -5.5, right: float = 3.6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes u, 1 - u and weights of the tanh-sinh rule on [0, 1] (Takahasi and Mori 1974).

    The range is lopsided on purpose: integrable singularities of U sit at u = 0, and
    the rule reaches u ~ 1e-167 there, enough for |U| ~ u^(-G) with G up to 0.9.
    """
    t = np.arange(math.ceil(left / step), math.floor(right / step) + 1) * step
    exponent = np.pi * np.sinh(t)
    u = 1.0 / (1.0 + np.exp(-exponent))
    v = 1.0 / (1.0 + np.exp(exponent))  # 1 - u without cancellation
    weights = step * np.pi * np.cosh(t) * u * v
    return u, v, weights


def _gauss_legendre(points: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(points)
    u = (nodes + 1.0) / 2.0
    return u, 1.0 - u, weights / 2.0


_NEAR_RULE = _tanh_sinh()
_FAR_RULE = _gauss_legendre()
#: A piece [p, p + L] is integrated by Gauss-Legendre when p >= FAR * L: the singularity of
#: U at 0 is then outside a Bernstein ellipse with rho ~ 10, so 8 points reach ~1e-16.
_FAR = 2.0
#: Pieces per compiled quadrature call.
_CHUNK = 1 << 14


@partial(jax.jit, static_argnames=("function",))
def moments(
    start: jax.Array, length: jax.Array, params: jax.Array, u: jax.Array, v: jax.Array, w: jax.Array, *, function: UtilityFunction
) -> jax.Array:
    """[int U, int u U, int (1-u) U] over u in [0, 1] of U(start + length * u)."""
    z = start[:, None] + length[:, None] * u[None, :]
    values = function(jnp.where(length[:, None] > 0, z, 1.0), params)
    values = jnp.where(length[:, None] > 0, values, 0.0)
    return jnp.stack([values @ w, values @ (w * u), values @ (w * v)], axis=1)


def integrals(utility: Utility, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The three moments of U on the pieces [start, start + length], each by its rule."""
    out = np.zeros((start.size, 3))
    far = start >= _FAR * length
    with float64():
        params = utility.parameter_array
        for mask, rule in ((far, _FAR_RULE), (~far, _NEAR_RULE)):
            count = int(np.count_nonzero(mask))
            if count == 0:
                continue
            # fixed-size chunks: one compiled shape per rule and utility, whatever the mesh
            chunk = _CHUNK
            starts = np.zeros(-(-count // chunk) * chunk)
            lengths = np.zeros(starts.size)
            starts[:count] = start[mask]
            lengths[:count] = length[mask]
            u, v, w = (jnp.asarray(a) for a in rule)
            values = [
                np.asarray(
                    moments(
                        jnp.asarray(starts[i : i + chunk]),
                        jnp.asarray(lengths[i : i + chunk]),
                        params,
                        u,
                        v,
                        w,
                        function=utility.function,
                    )
                )
                for i in range(0, starts.size, chunk)
            ]
            out[mask] = np.concatenate(values)[:count]
    return out


def mesh(cells: int, smallest: float | None) -> np.ndarray:
    """Nodes on [0, 1/2]: 0, geometric cells growing from ``smallest``, then uniform cells.

    With ``smallest=None`` the mesh is uniform (utilities with a finite slope at 0, whose
    laws have bounded densities and possibly atoms).
    """
    if smallest is None:
        return np.linspace(0.0, 0.5, cells + 1)
    uniform = max(cells // 3, 2)
    geometric = max(cells - uniform - 1, 1)
    spacing = 0.5 / uniform
    # the geometric ratio is chosen so that the last geometric cell is as wide as a uniform one
    log_ratio = scipy.optimize.brentq(
        lambda q: math.log(smallest) + geometric * q + math.log(-math.expm1(-q)) - math.log(spacing), 1e-12, 50.0
    )
    graded = smallest * np.exp(log_ratio * np.arange(geometric + 1))
    junction = graded[-1]
    count = max(1, round((0.5 - junction) / spacing))
    return np.concatenate([[0.0], graded, np.linspace(junction, 0.5, count + 1)[1:]])


def cell_pair_energies(
    utility: Utility, gap: np.ndarray, h_left: np.ndarray, h_right: np.ndarray, same: np.ndarray
) -> np.ndarray:
    """Averages of U(|x - y|) over x, y uniform on two cells of widths h_left, h_right.

    The cells are equal (``same``) or disjoint, ``gap`` apart. The difference of the two
    points has a trapezoidal density: rising on [g, g + m], flat on [g + m, g + M], falling
    on [g + M, g + m + M] (m, M the smaller and larger width), so the average is three
    one-dimensional integrals. For equal cells it is 2 int_0^1 (1 - s) U(h s) ds. Widths
    are passed, not endpoints, so that cells of width 1e-14 next to 1 keep their size.
    """
    z0 = np.where(same, 0.0, gap)
    small = np.minimum(h_left, h_right)
    large = np.maximum(h_left, h_right)
    rising = integrals(utility, z0, small)
    flat = integrals(utility, z0 + small, large - small)
    falling = integrals(utility, z0 + large, small)
    # divide by the larger width first: small / large <= 1 cannot underflow
    ratio = small / large
    disjoint = ratio * (rising[:, 1] + falling[:, 2]) + (1.0 - ratio) * flat[:, 0]
    return np.where(same, 2.0 * rising[:, 2], disjoint)


def utility_values(utility: Utility, x: np.ndarray) -> np.ndarray:
    with float64():
        return np.asarray(utility.function(jnp.asarray(x, dtype=jnp.float64), utility.parameter_array))


def energy_matrix(utility: Utility, nodes: np.ndarray, with_atoms: bool) -> np.ndarray:
    """K of the symmetric basis: cells then (optionally) atoms, each paired with its mirror.

    Basis measure k is half of its piece on [0, 1/2] and half of the mirror piece, so
    K_kl = (c(k, l) + c(k, mirror l)) / 2 with c the averaged U of the two pieces.
    """
    half = nodes.size - 1
    a, b = nodes[:-1], nodes[1:]
    widths = np.diff(nodes)
    row = np.repeat(np.arange(half), half)
    col = np.tile(np.arange(half), half)
    # same side: the gap between the cells (left one first); mirror side: 1 - b_k - b_l
    same_side = cell_pair_energies(
        utility, np.where(row <= col, a[col] - b[row], a[row] - b[col]), widths[row], widths[col], row == col
    ).reshape(half, half)
    mirror_side = cell_pair_energies(
        utility, np.maximum((1.0 - b[row]) - b[col], 0.0), widths[row], widths[col], np.zeros(row.size, dtype=bool)
    ).reshape(half, half)
    cells = 0.5 * (same_side + mirror_side)
    if not with_atoms:
        return cells
    t = np.repeat(nodes, half)  # atoms at every node t of [0, 1/2], each with its mirror 1 - t
    cell = np.tile(np.arange(half), nodes.size)
    near_start = np.where(t <= a[cell], a[cell] - t, t - b[cell])
    far_start = (1.0 - b[cell]) - t
    atom_cell = 0.5 * (
        integrals(utility, near_start, widths[cell])[:, 0] + integrals(utility, far_start, widths[cell])[:, 0]
    ).reshape(nodes.size, half)
    near = utility_values(utility, np.abs(nodes[:, None] - nodes[None, :]))
    across = utility_values(utility, 1.0 - nodes[:, None] - nodes[None, :])
    atom_atom = 0.5 * (near + across)
    return np.block([[cells, atom_cell.T], [atom_cell, atom_atom]])
