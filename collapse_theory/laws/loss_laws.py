"""n -> infinity laws of the rewards of ranking losses: semicircle, uniform, and a numerical limit with a field.

**Scaling.** For free rewards with ``l2:BETA``, F(r) = sum_{i<j} U(r_i - r_j) - BETA (n-1)/2 sum r^2;
both sums are n^2/2 times an expectation under the empirical law mu_n of the rewards, so
the *unscaled* rewards have a limit law, the maximiser over laws mu on the real line of

.. math::

    J(\\mu) = \\mathbb{E}\\, U(abs(X - X')) - \\beta\\, \\mathbb{E} X^2
    \\qquad (X, X' \\sim \\mu \\text{ independent}),

with beta = BETA (``l2``) or 2C (``center:C``: C sum_{i<j} (r_i + r_j)^2 ~ n^2 C (E X^2 + (E X)^2),
and the mean is 0). No rescaling by n is needed because the regulariser's weight BETA (n-1)
already grows with n.

* ``log+free+l2:BETA``: the maximisers are the zeros of H_n over sqrt(BETA (n-1))
  (Stieltjes); the zeros over sqrt(2n) follow the semicircle on [-1, 1] (Wigner; Szego's
  asymptotics), so the rewards follow the **semicircle on [-sqrt(2/BETA), sqrt(2/BETA)]**.
* ``ipo:BETA`` (target margin TAU = 1/(2 BETA)) or ``ipo-margin:TAU``, with ``margin:M`` and a
  regulariser (l2's coefficient written L here, center's C): on mean-zero rewards
  sum_{i<j} (r_i - r_j)^2 = n ‖r‖^2 and sum_{i<j} (r_i - r_j) = sum_i (n + 1 - 2i) r_i, so
  F = -(n + rho) ‖r‖^2 + 2 (TAU + M) sum_i (n + 1 - 2i) r_i + const (rho = L (n-1)/2 + C (n-2))
  is maximised by r_i = (TAU + M)(n + 1 - 2i) / (n + rho): equal gaps, range
  2 (TAU + M)(n-1)/(n + rho) -> 4 (TAU + M)/(2 + beta), beta = L + 2C the field strength above:
  **uniform on [-a, a], a = 2 (TAU + M)/(2 + beta)** (a = TAU alone). Bounded (``+bounded``) with
  a <= 1/2 this maximiser fits in [0, 1] up to a common shift; the one centred in [0, 1] (the
  solver's) is uniform on [1/2 - a, 1/2 + a].
* ``plackett-luce:B`` on [0, 1]: in the continuum limit with S(u) = int_u^1 e^{B r}, Phi(u) =
  int_0^u 1/S (u the rank / n) the untied rewards satisfy e^{B r} Phi = 1, so B r is linear in u;
  matching r = 1 and r = 0 at the ends of that part gives **atoms (e - 1)/(e + B) at 1 and
  1/(e + B) at 0, and mass B/(e + B) uniform on (0, 1)** (:func:`plackett_luce_law`).
* Any other concave U with a regulariser: :func:`field_limit`, J maximised numerically.
* Bounded losses that are plain utilities: :func:`collapse_theory.laws.limits.limit`.

Where no law exists, or none is implemented, :func:`loss_limit` raises :class:`NoLimitError`
saying which: free rewards without a strongly concave part have no maximiser; a singular U
with margins is infeasible on [0, 1] once (n - 1)(M + M_rank) >= 1; rank margins M (j - i)
and LiPO's weights 2^(n-i) change with n, so the n^2/2 scaling above does not apply; other
bounded losses have no law implemented (``explore`` shows their answer at finite n).
A numerical law whose window cannot be made to hold it raises the same error, never a law.

Example:
    >>> law = loss_limit("log+free+l2:0.5")
    >>> law.describe(), law.support
    ('semicircle on [-2, 2]', (-2.0, 2.0))
    >>> loss_limit("ipo:1").describe()
    'uniform on [-0.5, 0.5]'
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.stats

from collapse_theory.laws._energy_quadrature import energy_matrix
from collapse_theory.laws._simplex_energy import maximise_energy
from collapse_theory.laws.law import Atom, ClosedFormLaw, Law
from collapse_theory.problems.losses import Loss, LossSpecError, parse_loss
from collapse_theory.problems.utilities import custom
from collapse_theory.solver.loss_solver import solve_loss

__all__ = [
    "FieldLaw",
    "NoLimitError",
    "RealLineLaw",
    "field_limit",
    "loss_limit",
    "no_limit_reason",
    "plackett_luce_law",
    "semicircle_law",
    "symmetric_uniform_law",
]


class NoLimitError(LossSpecError):
    """A loss without a limit law, or one whose law is not implemented or could not be computed; the message says which."""


#: Window doublings of :func:`field_limit` before it gives up.
WINDOW_DOUBLINGS = 6


@dataclass(frozen=True, eq=False)
class RealLineLaw(ClosedFormLaw):
    """A closed-form law on an interval of the real line (a scipy.stats continuous part, no atoms)."""

    interval: tuple[float, float] = (0.0, 1.0)
    label: str = ""

    @property
    def support(self) -> tuple[float, float]:
        """The interval holding the law."""
        return self.interval

    def ppf(self, q: Any) -> np.ndarray:
        """scipy's exact quantiles."""
        return np.asarray(self.continuous.ppf(np.clip(np.asarray(q, dtype=np.float64), 0.0, 1.0)), dtype=np.float64)

    def describe(self) -> str:
        return self.label


def semicircle_law(radius: float) -> RealLineLaw:
    """Wigner's semicircle on [-radius, radius] (``scipy.stats.semicircular`` scaled)."""
    return RealLineLaw(
        kind="semicircle",
        law_parameters=(("radius", float(radius)),),
        continuous=scipy.stats.semicircular(loc=0.0, scale=radius),
        interval=(-float(radius), float(radius)),
        label=f"semicircle on [-{radius:.6g}, {radius:.6g}]",
    )


def symmetric_uniform_law(half_width: float) -> RealLineLaw:
    """Uniform on [-half_width, half_width] (``scipy.stats.uniform``)."""
    return RealLineLaw(
        kind="uniform",
        law_parameters=(("half_width", float(half_width)),),
        continuous=scipy.stats.uniform(loc=-half_width, scale=2.0 * half_width),
        interval=(-float(half_width), float(half_width)),
        label=f"uniform on [-{half_width:.6g}, {half_width:.6g}]",
    )


@dataclass(frozen=True, eq=False)
class LabelledLaw(ClosedFormLaw):
    """A closed-form law on [0, 1] (atoms and a scipy.stats part) with its own description."""

    label: str = ""

    def describe(self) -> str:
        return self.label


def plackett_luce_law(beta: float) -> LabelledLaw:
    """Bounded Plackett-Luce's limit: atoms (e - 1)/(e + B) at 1 and 1/(e + B) at 0, the rest uniform.

    Example:
        >>> law = plackett_luce_law(1.0)
        >>> round(law.cdf(0.0).item(), 4), round(1.0 - law.cdf(np.nextafter(1.0, 0.0)).item(), 4)
        (0.2689, 0.4621)
    """
    total = math.e + beta
    top, bottom = (math.e - 1.0) / total, 1.0 / total
    return LabelledLaw(
        kind="atoms and uniform",
        law_parameters=(("top_mass", top), ("bottom_mass", bottom)),
        continuous=scipy.stats.uniform(loc=0.0, scale=1.0),
        atoms=(Atom(0.0, bottom), Atom(1.0, top)),
        label=f"atoms {top:.4g} at 1 and {bottom:.4g} at 0, uniform mass {beta / total:.4g} between",
    )


@dataclass(frozen=True, eq=False)
class FieldLaw(Law):
    """The numerical maximiser of J(mu) = E U(abs(X - X')) - beta E X^2 on a mesh of [-L, L].

    Attributes:
        grid: mesh nodes on [-L, L]; cdf: the cumulative mass at each node (piecewise-uniform density).
        loss: the loss's spec; beta: the field's strength; energy: J at the optimum;
        gap: the discrete problem's certificate; seconds: time taken.
    """

    grid: np.ndarray = field(repr=False)
    cumulative: np.ndarray = field(repr=False)
    loss: str = ""
    beta: float = 0.0
    energy: float = 0.0
    gap: float = 0.0
    seconds: float = 0.0
    kind: str = "numerical limit with a field"
    atoms: tuple = ()

    @property
    def parameters(self) -> dict[str, Any]:
        return {"loss": self.loss, "beta": self.beta, "half_width": float(self.grid[-1]), "energy": self.energy, "gap": self.gap}

    @property
    def support(self) -> tuple[float, float]:
        inside = np.flatnonzero(np.diff(self.cumulative) > 1e-12)
        return float(self.grid[inside[0]]), float(self.grid[inside[-1] + 1])

    def cdf(self, x: Any) -> np.ndarray:
        return np.interp(np.asarray(x, dtype=np.float64), self.grid, self.cumulative, left=0.0, right=1.0)

    def pdf(self, x: Any) -> np.ndarray:
        points = np.asarray(x, dtype=np.float64)
        density = np.diff(self.cumulative) / np.diff(self.grid)
        cell = np.clip(np.searchsorted(self.grid, points, side="right") - 1, 0, density.size - 1)
        inside = (points >= self.grid[0]) & (points <= self.grid[-1])
        return np.where(inside, density[cell], 0.0)

    def ppf(self, q: Any) -> np.ndarray:
        levels = np.clip(np.asarray(q, dtype=np.float64), 0.0, 1.0)
        keep = np.concatenate([[True], np.diff(self.cumulative) > 0])
        return np.interp(levels, self.cumulative[keep], self.grid[keep])

    @property
    def mean(self) -> float:  # type: ignore[override]
        middle = 0.5 * (self.grid[1:] + self.grid[:-1])
        return float(np.sum(np.diff(self.cumulative) * middle))

    @property
    def variance(self) -> float:  # type: ignore[override]
        a, b = self.grid[:-1], self.grid[1:]
        second = np.sum(np.diff(self.cumulative) * (a * a + a * b + b * b) / 3.0)
        return float(second - self.mean**2)

    def describe(self) -> str:
        low, high = self.support
        return f"numerical limit of {self.loss} on [{low:.4g}, {high:.4g}] (variance {self.variance:.4g})"


def _field_strength(loss: Loss) -> float:
    return loss.l2 + 2.0 * loss.center


def field_limit(loss: Loss | str, *, cells: int = 200, half_width: float | None = None, tol: float = 1e-10) -> FieldLaw:
    """Maximise J(mu) = E U(abs(X - X')) - beta E X^2 over symmetric laws on [-L, L], numerically.

    Discretisation (as :func:`collapse_theory.laws.numerical_laws.numerical_limit`): ``cells``
    uniform cells on [0, L], each paired with its mirror (the optimum is symmetric: J is
    invariant under x -> -x and concave), the cell-averaged energy matrix of U(2L abs(s - t))
    on [0, 1], the field's cell averages folded into the quadratic form (sum w = 1), and
    the same barrier-plus-crossover maximiser over the simplex.

    The interval: L = 1.5 max ‖r‖ of the n = 64 solution unless given. The support of the
    optimum is compact (the field grows like x^2, the potential of a concave U at most
    linearly); if the outermost cells carry mass, L is doubled and the problem solved again,
    at most :data:`WINDOW_DOUBLINGS` times: a law still touching the window's edge is
    truncated, so :class:`NoLimitError` is raised instead of returning it.

    Example:
        >>> law = field_limit("log+free+l2:0.5", cells=60)
        >>> round(law.variance, 2)      # the semicircle of radius 2 has variance 1
        1.0
    """

    loss = parse_loss(loss)
    if not loss.free or loss.objective != "utility" or loss.has_margins or loss.lipo:
        raise LossSpecError(f"field_limit needs a free pairwise loss without margins or weights, got {loss.spec!r}")
    beta = _field_strength(loss)
    if beta <= 0.0:
        raise NoLimitError(f"loss {loss.spec!r} has no regulariser: its rewards have no limit law (no maximiser)")
    started = time.perf_counter()
    if half_width is None:
        rewards = solve_loss(loss, 64).rewards
        assert rewards is not None
        half_width = 1.5 * float(np.abs(rewards).max())
    assert loss.utility is not None
    base = loss.utility
    for attempt in range(WINDOW_DOUBLINGS + 1):
        width = 2.0 * half_width

        def stretched(x: Any, width: float = width) -> Any:
            return base.function(width * x, base.parameter_array)

        scaled = custom(stretched, f"scaled-{base.family}", concave=True)
        nodes = np.linspace(0.0, 0.5, cells + 1)
        matrix = energy_matrix(scaled, nodes, with_atoms=False)
        a, b = nodes[:-1] - 0.5, nodes[1:] - 0.5
        square = width**2 * (a * a + a * b + b * b) / 3.0  # cell average of x^2, x = 2L (s - 1/2)
        matrix = matrix - 0.5 * beta * (square[:, None] + square[None, :])
        optimum = maximise_energy(matrix, np.ones(cells), tol)
        if optimum.weights[0] <= 1e-9:  # the outermost cells are empty: the support is inside
            break
        if attempt == WINDOW_DOUBLINGS:
            raise NoLimitError(
                f"the limit law of {loss.spec!r} did not fit in [-{half_width:.4g}, {half_width:.4g}] after "
                f"{WINDOW_DOUBLINGS} doublings ({optimum.weights[0]:.3g} of the mass in the outermost cells): a truncated "
                "law is not returned"
            )
        half_width *= 2.0
    mass = optimum.weights / 2.0
    left = np.concatenate([[0.0], np.cumsum(mass)])  # cells from -L towards 0
    cumulative = np.concatenate([left, 1.0 - left[-2::-1]])
    grid = np.concatenate([width * (nodes - 0.5), -width * (nodes[-2::-1] - 0.5)])
    cumulative = cumulative / cumulative[-1]
    return FieldLaw(
        grid=grid,
        cumulative=cumulative,
        loss=loss.spec,
        beta=beta,
        energy=optimum.energy,
        gap=optimum.gap,
        seconds=time.perf_counter() - started,
    )


def loss_limit(loss: Loss | str, **options: Any) -> Law:
    """The n -> infinity law of a loss's maximisers, on the reward scale of the module docstring.

    Closed forms where known (semicircle, uniform, the plain utilities' laws), otherwise
    :func:`field_limit` for free regularised pairwise losses. Raises :class:`LossSpecError`
    where no limit exists (unbounded losses) or none is implemented.

    Example:
        >>> loss_limit("log").describe()
        'Beta(0.5, 0.5) (arcsine)'
    """
    loss = parse_loss(loss)
    if loss.is_plain_utility:
        assert loss.utility is not None
        record = loss.utility.family_record
        law = None if record is None else record.limit_law(loss.utility.parameters)
        if law is None:
            raise LossSpecError(f"no closed-form limit is known for {loss.spec!r}; use numerical_limit")
        return law
    if loss.objective == "plackett-luce" and not loss.free and not loss.has_regulariser:
        assert loss.parameter is not None
        return plackett_luce_law(loss.parameter)
    if loss.objective == "ipo" and not loss.rank_margin and not loss.lipo:
        law = _ipo_limit(loss)
        if law is not None:
            return law
    log_family = loss.utility is not None and loss.utility.family_record is not None and loss.utility.family_record.name == "log"
    if log_family and loss.free and not loss.has_margins and not loss.lipo and _field_strength(loss) > 0:
        return semicircle_law(math.sqrt(2.0 / _field_strength(loss)))
    if loss.free and loss.objective == "utility" and _field_strength(loss) > 0 and not loss.has_margins and not loss.lipo:
        return field_limit(loss, **options)
    raise NoLimitError(f"{loss.spec!r}: {no_limit_reason(loss)}")


def _ipo_limit(loss: Loss) -> Law | None:
    """IPO's uniform law (module docstring), or None where the bounded maximiser does not fit in [0, 1]."""
    assert loss.parameter is not None
    half_width = 2.0 * (loss.parameter + loss.margin) / (2.0 + _field_strength(loss))
    if loss.free:
        return symmetric_uniform_law(half_width)
    if loss.has_regulariser or half_width > 0.5:
        return None
    law = RealLineLaw(
        kind="uniform",
        law_parameters=(("low", 0.5 - half_width), ("high", 0.5 + half_width)),
        continuous=scipy.stats.uniform(loc=0.5 - half_width, scale=2.0 * half_width),
        interval=(0.5 - half_width, 0.5 + half_width),
        label=f"uniform on [{0.5 - half_width:.6g}, {0.5 + half_width:.6g}] (any common shift within [0, 1] is optimal too)",
    )
    return law


def no_limit_reason(loss: Loss | str) -> str:
    """Why :func:`loss_limit` has no law for ``loss``: none exists, or none is implemented (and why).

    Example:
        >>> no_limit_reason("min-linear:0.3+free")
        'its maximisers form an unbounded face (every wide enough spread is optimal), so no limit law'
    """
    loss = parse_loss(loss)
    if loss.free and not loss.has_regulariser and loss.objective not in ("ipo", "min-linear"):
        return "free rewards without l2 or center have no maximiser at any n >= 3, so no limit law"
    if loss.objective == "min-linear" and loss.free:
        return "its maximisers form an unbounded face (every wide enough spread is optimal), so no limit law"
    if not loss.free and loss.singular and loss.has_margins:
        return (
            "U is singular at 0, so every adjacent gap must exceed M + M_rank, and no ordered point of [0, 1] "
            f"does once n - 1 >= 1 / {loss.margin + loss.rank_margin:.6g}: no maximiser for large n, so no limit law"
        )
    if loss.rank_margin or loss.lipo:
        what = "rank margins M (j - i)" if loss.rank_margin else "LiPO's weights 2^(n-i)"
        return f"{what} change with n, so the n^2/2 scaling of a limit law does not apply; no limit law is implemented"
    if loss.free:
        return "no limit law is implemented for free losses with margins or this objective (explore shows finite n)"
    if loss.objective == "ipo":
        return (
            "bounded IPO whose free maximiser (range 4 (TAU + M)/(2 + beta)) exceeds [0, 1], or with a regulariser: "
            "no limit law is implemented (explore shows finite n)"
        )
    return "no limit law is implemented for bounded losses beyond a plain utility (explore shows finite n)"
