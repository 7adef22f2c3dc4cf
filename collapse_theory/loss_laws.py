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
* ``ipo:BETA`` (target margin TAU = 1/(2 BETA)): equal gaps 2 TAU / n, range 2 TAU (n-1)/n: **uniform on [-TAU, TAU]**.
* Any other concave U with a regulariser: :func:`field_limit`, J maximised numerically.
* Bounded losses that are plain utilities: :func:`collapse_theory.limits.limit`.

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

from collapse_theory.laws import ClosedFormLaw, Law
from collapse_theory.losses import Loss, LossSpecError, parse_loss
from collapse_theory.utilities import custom

__all__ = ["FieldLaw", "RealLineLaw", "field_limit", "loss_limit", "semicircle_law", "symmetric_uniform_law"]


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

    Discretisation (as :func:`collapse_theory.numerical_laws.numerical_limit`): ``cells``
    uniform cells on [0, L], each paired with its mirror (the optimum is symmetric: J is
    invariant under x -> -x and concave), the cell-averaged energy matrix of U(2L abs(s - t))
    on [0, 1], the field's cell averages folded into the quadratic form (sum w = 1), and
    the same barrier-plus-crossover maximiser over the simplex.

    The interval: L = 1.5 max ‖r‖ of the n = 64 solution unless given. The support of the
    optimum is compact (the field grows like x^2, the potential of a concave U at most
    linearly); if the outermost cells carry mass, L is doubled and the problem solved again.

    Example:
        >>> law = field_limit("log+free+l2:0.5", cells=60)
        >>> round(law.variance, 2)      # the semicircle of radius 2 has variance 1
        1.0
    """
    from collapse_theory._energy_quadrature import energy_matrix
    from collapse_theory._simplex_energy import maximise_energy
    from collapse_theory.loss_solver import solve_loss

    loss = parse_loss(loss)
    if not loss.free or loss.objective != "utility" or loss.has_margins or loss.lipo:
        raise LossSpecError(f"field_limit needs a free pairwise loss without margins or weights, got {loss.spec!r}")
    beta = _field_strength(loss)
    if beta <= 0.0:
        raise LossSpecError(f"loss {loss.spec!r} has no regulariser: its rewards have no limit law (no maximiser)")
    started = time.perf_counter()
    if half_width is None:
        rewards = solve_loss(loss, 64).rewards
        assert rewards is not None
        half_width = 1.5 * float(np.abs(rewards).max())
    assert loss.utility is not None
    base = loss.utility
    for _ in range(6):
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
        from collapse_theory.limits import limit

        assert loss.utility is not None
        law = limit(loss.utility)
        if law is None:
            raise LossSpecError(f"no closed-form limit is known for {loss.spec!r}; use numerical_limit")
        return law
    if loss.objective == "ipo" and loss.free and not loss.has_regulariser and not loss.has_margins and not loss.lipo:
        assert loss.parameter is not None
        return symmetric_uniform_law(loss.parameter)
    log_family = loss.utility is not None and loss.utility.family_record is not None and loss.utility.family_record.name == "log"
    if log_family and loss.free and not loss.has_margins and not loss.lipo and _field_strength(loss) > 0:
        return semicircle_law(math.sqrt(2.0 / _field_strength(loss)))
    if loss.free and loss.objective == "utility" and _field_strength(loss) > 0:
        return field_limit(loss, **options)
    raise LossSpecError(f"no limit law is implemented for {loss.spec!r} (free unregularised losses have no maximiser)")
