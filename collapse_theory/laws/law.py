"""Laws on [0, 1]: the one type every n -> infinity limit of optimal rewards has.

A limit law of reward collapse is a probability measure on [0, 1] made of point masses
(*atoms*, which the limits of utilities with a finite slope at 0 put at 0 and 1) and a
continuous part with a density. :class:`Law` is that object, whatever produced it:

* :class:`ClosedFormLaw` wraps a frozen :mod:`scipy.stats` law for the continuous part
  (the Beta and uniform limits) and adds atoms (the two-point law of ``linear``, the
  atoms-plus-uniform law of ``exp:B``);
* :class:`collapse_theory.laws.numerical_laws.NumericalLimit`, the law computed by energy
  maximisation for any utility.

Every law has :meth:`Law.cdf` (atoms included, right-continuous), :meth:`Law.ppf`,
:meth:`Law.pdf` (the density of the continuous part), :meth:`Law.pmf` (the atoms),
``atoms``, ``continuous_mass``, ``mean``, ``variance`` and ``support``, and one JSON form
(:meth:`Law.as_dict`: kind, parameters, atoms with masses, mean, variance). Atoms are
handled here and nowhere else: distances, plots and reports read ``law.atoms``.

Example:
    >>> law = exp_law(2.0)
    >>> [(atom.location, atom.mass) for atom in law.atoms]
    [(0.0, 0.25), (1.0, 0.25)]
    >>> float(law.cdf(0.5)), round(law.variance, 6)
    (0.5, 0.166667)
    >>> beta_law(0.5, 0.5).describe()
    'Beta(0.5, 0.5) (arcsine)'
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.special

from collapse_theory.errors import InputError

__all__ = [
    "Atom",
    "ClosedFormLaw",
    "Law",
    "UnitIntervalLaw",
    "as_law",
    "beta_law",
    "exp_law",
    "two_point_law",
    "uniform_law",
]


@dataclass(frozen=True)
class Atom:
    """A point mass of a law: ``mass`` at ``location``."""

    location: float
    mass: float


#: Halvings of [0, 1] in the generic quantile function: 64 reach the spacing of float64 near 1.
_BISECTION_STEPS = 64


class Law(abc.ABC):
    """A probability law on [0, 1]: atoms plus a continuous part with a density.

    Subclasses provide ``kind`` (a short name), ``parameters`` (a dict), ``atoms`` (a tuple
    of :class:`Atom`), ``mean``, ``variance``, :meth:`cdf` and :meth:`pdf`; the rest
    follows here.
    """

    kind: str
    atoms: tuple[Atom, ...]
    mean: float
    variance: float

    @property
    @abc.abstractmethod
    def parameters(self) -> dict[str, Any]:
        """The law's parameters by name (JSON-ready)."""

    @abc.abstractmethod
    def cdf(self, x: Any) -> np.ndarray:
        """F(x) = P(X <= x), atoms included (right-continuous)."""

    @abc.abstractmethod
    def pdf(self, x: Any) -> np.ndarray:
        """The density of the continuous part at x (atoms are not densities)."""

    @property
    def support(self) -> tuple[float, float]:
        """The smallest interval holding the law: [0, 1] for every limit of this library."""
        return (0.0, 1.0)

    @property
    def continuous_mass(self) -> float:
        """The mass of the continuous part, 1 minus the atoms' total mass."""
        return 1.0 - sum(atom.mass for atom in self.atoms)

    @property
    def unbounded_density(self) -> bool:
        """Whether the continuous part's density blows up at 0 or 1 (e.g. Beta(a, a), a < 1)."""
        if self.continuous_mass <= 0.0:
            return False
        with np.errstate(all="ignore"):
            ends = np.asarray(self.pdf(np.array([1e-200, 1.0 - 1e-16])), dtype=np.float64)
        return bool(np.any(~np.isfinite(ends) | (ends > 1e6)))

    def pmf(self, x: Any) -> np.ndarray:
        """The mass of the atom at x (0 where there is none)."""
        points = np.asarray(x, dtype=np.float64)
        masses = np.zeros(points.shape)
        for atom in self.atoms:
            masses = masses + np.where(points == atom.location, atom.mass, 0.0)
        return masses

    def ppf(self, q: Any) -> np.ndarray:
        """The quantile function inf{x : F(x) >= q} for q in [0, 1].

        Bisection on :meth:`cdf`, vectorised over the levels. Written by hand because it
        must hold for every law of this type, atoms and numerical CDFs included, where
        no inverse is known; scipy's scalar root finders would loop over the levels, and
        64 halvings of [0, 1] already reach the spacing of float64 numbers near 1.
        """
        levels = np.asarray(q, dtype=np.float64)
        low = np.zeros(levels.shape)
        high = np.ones(levels.shape)
        for _ in range(_BISECTION_STEPS):
            middle = 0.5 * (low + high)
            above = self.cdf(middle) >= levels
            high = np.where(above, middle, high)
            low = np.where(above, low, middle)
        return np.where(levels <= 0.0, 0.0, high)

    def snap_to_atoms(self, values: Any, tolerance: float) -> np.ndarray:
        """``values`` with those within ``tolerance`` of an atom moved onto it.

        The Kolmogorov-Smirnov distance is discontinuous at atoms: a reward the solver
        leaves 1e-12 below an atom at 1 would otherwise cost the atom's whole mass.
        """
        snapped = np.array(values, dtype=np.float64, copy=True)
        for atom in self.atoms:
            snapped[np.abs(snapped - atom.location) <= tolerance] = atom.location
        return snapped

    def quantiles(self, n: int) -> np.ndarray:
        """The law's quantiles at the n levels (i - 1/2)/n, descending (a reward vector)."""
        levels = (np.arange(n, 0, -1) - 0.5) / n
        return np.asarray(self.ppf(levels), dtype=np.float64)

    def describe(self) -> str:
        """A one-line human description, e.g. ``'Beta(0.25, 0.25)'``."""
        return self.kind

    def as_dict(self) -> dict[str, Any]:
        """The JSON form shared by every command: kind, parameters, atoms with masses, mean, variance."""
        return {
            "kind": self.kind,
            "parameters": {key: _finite_or_none(value) for key, value in self.parameters.items()},
            "atoms": [{"location": atom.location, "mass": atom.mass} for atom in self.atoms],
            "continuous_mass": self.continuous_mass,
            "mean": _finite_or_none(self.mean),
            "variance": _finite_or_none(self.variance),
            "description": self.describe(),
        }


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True, eq=False)
class ClosedFormLaw(Law):
    """A closed-form law: a frozen :mod:`scipy.stats` continuous part plus atoms.

    .. math::

        F(x) = \\sum_{a \\le x} m_a + (1 - \\textstyle\\sum_a m_a)\\, F_c(x)

    Attributes:
        kind: ``"beta"``, ``"uniform"``, ``"two-point"`` or ``"atoms and uniform"``.
        law_parameters: the parameters by name.
        continuous: the frozen :mod:`scipy.stats` law of the continuous part (for
            :func:`beta_law` and :func:`uniform_law`, one made on first use, whose CDF
            needs no :mod:`scipy.stats`), or None when the law is all atoms.
        atoms: the point masses, by location.
    """

    kind: str
    law_parameters: tuple[tuple[str, float], ...]
    continuous: Any = field(repr=False)
    atoms: tuple[Atom, ...] = ()

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.law_parameters)

    @property
    def mean(self) -> float:  # type: ignore[override]
        """E X."""
        value = sum(atom.mass * atom.location for atom in self.atoms)
        if self.continuous is not None:
            value += self.continuous_mass * float(self.continuous.mean())
        return float(value)

    @property
    def variance(self) -> float:  # type: ignore[override]
        """Var X (law of total variance over the atoms and the continuous part)."""
        second = sum(atom.mass * atom.location**2 for atom in self.atoms)
        if self.continuous is not None:
            c_mean = float(self.continuous.mean())
            second += self.continuous_mass * (float(self.continuous.var()) + c_mean**2)
        return float(second - self.mean**2)

    def cdf(self, x: Any) -> np.ndarray:
        points = np.asarray(x, dtype=np.float64)
        values = np.zeros(points.shape)
        for atom in self.atoms:
            values = values + np.where(points >= atom.location, atom.mass, 0.0)
        if self.continuous is not None:
            values = values + self.continuous_mass * np.asarray(self.continuous.cdf(points))
        return values

    def pdf(self, x: Any) -> np.ndarray:
        points = np.asarray(x, dtype=np.float64)
        if self.continuous is None:
            return np.zeros(points.shape)
        return self.continuous_mass * np.asarray(self.continuous.pdf(points), dtype=np.float64)

    def ppf(self, q: Any) -> np.ndarray:
        """Exact quantiles: scipy's ``ppf`` of the continuous part between the end atoms."""
        if self.continuous is None or any(0.0 < atom.location < 1.0 for atom in self.atoms):
            return super().ppf(q)
        levels = np.asarray(q, dtype=np.float64)
        at_zero = sum(atom.mass for atom in self.atoms if atom.location == 0.0)
        at_one = sum(atom.mass for atom in self.atoms if atom.location == 1.0)
        inner = np.clip((levels - at_zero) / self.continuous_mass, 0.0, 1.0)
        values = np.asarray(self.continuous.ppf(inner), dtype=np.float64)
        values = np.where(levels <= at_zero, 0.0, values)
        return np.where(levels > 1.0 - at_one, 1.0, values)

    def describe(self) -> str:
        p = self.parameters
        if self.kind == "beta":
            label = f"Beta({p['a']:g}, {p['b']:g})"
            return label + " (arcsine)" if p["a"] == p["b"] == 0.5 else label
        if self.kind == "uniform":
            return "Uniform(0, 1)"
        if self.kind == "two-point":
            return "two-point: mass 1/2 at 0 and 1/2 at 1"
        if self.kind == "atoms and uniform":
            return f"atoms {p['atom_mass']:.4g} at 0 and 1, uniform density {1 - 2 * p['atom_mass']:.4g} between"
        return self.kind


class _UnitLaw:
    """A frozen :mod:`scipy.stats` law on [0, 1] (``beta(a, b)`` or ``uniform(0, 1)``), made on first use.

    Importing :mod:`scipy.stats` costs most of a second, more than a small solve, and a
    short command (``collapse-theory solve``'s distance to the limit) needs only the CDF:
    :meth:`cdf` is scipy's, computed as scipy computes it (``rv_continuous.cdf``: NaN
    stays NaN, 0 at and below 0, 1 at and above 1, ``scipy.special.betainc(a, b, x)`` or
    x between), without the import. Every other attribute (``ppf``, ``pdf``, ``mean``,
    ``var``, ``dist``, ``args``, ...) is the frozen law's.
    """

    def __init__(self, name: str, *args: float) -> None:
        self._name, self._args = name, args
        self._frozen: Any = None

    def frozen(self) -> Any:
        """The frozen :mod:`scipy.stats` law (imported and made here, once)."""
        if self._frozen is None:
            import scipy.stats  # here, not at the top: it costs `import collapse_theory` 0.4 s

            self._frozen = getattr(scipy.stats, self._name)(*self._args)
        return self._frozen

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # private names (copy, pickle) are not the frozen law's
            raise AttributeError(name)
        return getattr(self.frozen(), name)

    def cdf(self, x: Any) -> Any:
        points = np.asarray(x, dtype=np.promote_types(np.asarray(x).dtype, np.float64))
        output = np.where(points >= 1.0, 1.0, 0.0).astype(points.dtype)
        output[np.isnan(points)] = np.nan
        inside = (0.0 < points) & (points < 1.0)
        if np.any(inside):
            if self._name == "beta":
                output[inside] = scipy.special.betainc(*self._args, points[inside])
            else:
                output[inside] = points[inside]
        return output[()] if output.ndim == 0 else output


def beta_law(a: float, b: float) -> ClosedFormLaw:
    """Beta(a, b) on [0, 1] (``scipy.stats.beta``)."""
    a, b = float(a), float(b)
    return ClosedFormLaw(kind="beta", law_parameters=(("a", a), ("b", b)), continuous=_UnitLaw("beta", a, b))


def uniform_law() -> ClosedFormLaw:
    """Uniform(0, 1) (``scipy.stats.uniform``)."""
    return ClosedFormLaw(kind="uniform", law_parameters=(), continuous=_UnitLaw("uniform", 0.0, 1.0))


def two_point_law() -> ClosedFormLaw:
    """Mass 1/2 at 0 and 1/2 at 1: the limit of ``linear`` and of every convex U."""
    return ClosedFormLaw(kind="two-point", law_parameters=(), continuous=None, atoms=(Atom(0.0, 0.5), Atom(1.0, 0.5)))


def exp_law(beta: float) -> ClosedFormLaw:
    """The limit law of ``exp:B``: atoms 1/(B+2) at 0 and at 1, uniform density B/(B+2) between.

    The potential of this law under the kernel :math:`e^{-B|x - y|}` is the constant 2/(2+B) on
    [0, 1] (the kernel is the Green's function of -d^2/dx^2 + B^2, and the atoms cancel
    the boundary terms), so it satisfies the Euler-Lagrange condition of maximising
    :math:`E[1 - e^{-B|X - X'|}]`; the kernel is positive definite, so it is the unique
    maximiser (docs/theory.md).

    Example:
        >>> law = exp_law(2.0)
        >>> float(law.cdf(0.0)), float(law.cdf(0.5)), round(law.variance, 6)
        (0.25, 0.5, 0.166667)
    """
    beta = float(beta)
    if not (math.isfinite(beta) and beta > 0.0):
        raise InputError(f"exp:B needs B > 0, got {beta!r}")
    atom = 1.0 / (2.0 + beta)
    return ClosedFormLaw(
        kind="atoms and uniform",
        law_parameters=(("atom_mass", atom),),
        continuous=_UnitLaw("uniform", 0.0, 1.0),
        atoms=(Atom(0.0, atom), Atom(1.0, atom)),
    )


class UnitIntervalLaw(Law):
    """The law of (X - a)/(b - a) for X with support [a, b]: a law of the real line moved onto [0, 1].

    Free-reward losses have limit laws on an interval of the real line (a semicircle, a
    uniform law); comparing rewards with them on [0, 1] keeps every distance of
    :mod:`collapse_theory.laws.distances` (Kolmogorov-Smirnov is unchanged by the move;
    Wasserstein-1 is divided by b - a).

    Example:
        >>> import scipy.stats
        >>> law = UnitIntervalLaw(ClosedFormLaw(kind="uniform", law_parameters=(), continuous=scipy.stats.uniform(-2, 4)), (-2.0, 2.0))
        >>> float(law.cdf(0.25)), law.mean
        (0.25, 0.5)
    """

    def __init__(self, law: Law, support: tuple[float, float]) -> None:
        low, high = (float(v) for v in support)
        if not (math.isfinite(low) and math.isfinite(high) and high > low):
            raise InputError(f"a law moved onto [0, 1] needs a finite support, got {support}")
        self.law, self.low, self.width = law, low, high - low
        self.kind = law.kind
        self.atoms = tuple(Atom((atom.location - low) / self.width, atom.mass) for atom in law.atoms)

    @property
    def parameters(self) -> dict[str, Any]:
        return {**self.law.parameters, "support": [self.low, self.low + self.width]}

    @property
    def mean(self) -> float:  # type: ignore[override]
        return (self.law.mean - self.low) / self.width

    @property
    def variance(self) -> float:  # type: ignore[override]
        return self.law.variance / self.width**2

    def cdf(self, x: Any) -> np.ndarray:
        return np.asarray(self.law.cdf(self.low + np.asarray(x, dtype=np.float64) * self.width), dtype=np.float64)

    def pdf(self, x: Any) -> np.ndarray:
        return self.width * np.asarray(self.law.pdf(self.low + np.asarray(x, dtype=np.float64) * self.width), dtype=np.float64)

    def describe(self) -> str:
        return f"{self.law.describe()}, moved onto [0, 1]"


def as_law(law: Any) -> Law:
    """A :class:`Law` from a Law or a frozen :mod:`scipy.stats` law on [0, 1].

    Discrete scipy laws are read as atoms on {0, 1} (``scipy.stats.bernoulli(p)``);
    continuous ones become the continuous part.

    Example:
        >>> import scipy.stats
        >>> as_law(scipy.stats.bernoulli(0.5)).atoms
        (Atom(location=0.0, mass=0.5), Atom(location=1.0, mass=0.5))
    """
    if isinstance(law, Law):
        return law
    dist = getattr(law, "dist", None)
    if dist is None and callable(getattr(law, "cdf", None)):
        return _CdfLaw(law)
    if dist is None:
        raise TypeError(f"expected a Law or a frozen scipy.stats law, got {type(law).__name__}")
    name = getattr(dist, "name", "law")
    if hasattr(dist, "pmf"):
        masses = np.asarray(law.pmf(np.array([0.0, 1.0])), dtype=np.float64)
        if abs(float(masses.sum()) - 1.0) > 1e-12:
            raise InputError(f"a discrete law must live on {{0, 1}}; {name}{law.args} does not")
        if np.all(np.abs(masses - 0.5) <= 1e-15):  # scipy's bernoulli(0.5) gives 0.5000000000000001 at 0
            return two_point_law()
        atoms = tuple(Atom(float(x), float(m)) for x, m in zip((0.0, 1.0), masses, strict=True) if m > 0)
        return ClosedFormLaw(kind=name, law_parameters=(), continuous=None, atoms=atoms)
    if name == "beta" and len(law.args) == 2 and not law.kwds:
        return beta_law(float(law.args[0]), float(law.args[1]))
    if name == "uniform" and tuple(law.args) in ((), (0.0, 1.0), (0, 1)) and not law.kwds:
        return uniform_law()
    parameters = tuple((f"arg{i}", float(value)) for i, value in enumerate(law.args))
    return ClosedFormLaw(kind=name, law_parameters=parameters, continuous=law)


class _CdfLaw(Law):
    """Any object with a ``cdf`` on [0, 1], read as an atomless law (moments by quadrature).

    Atoms of such an object are not known; a law with atoms should be a :class:`Law`.
    """

    kind = "user law"
    atoms: tuple[Atom, ...] = ()

    def __init__(self, law: Any) -> None:
        self._law = law

    @property
    def parameters(self) -> dict[str, Any]:
        return {}

    def cdf(self, x: Any) -> np.ndarray:
        return np.asarray(self._law.cdf(np.asarray(x, dtype=np.float64)), dtype=np.float64)

    def pdf(self, x: Any) -> np.ndarray:
        if callable(getattr(self._law, "pdf", None)):
            return np.asarray(self._law.pdf(np.asarray(x, dtype=np.float64)), dtype=np.float64)
        step = 1e-7
        points = np.clip(np.asarray(x, dtype=np.float64), step, 1.0 - step)
        return (self.cdf(points + step) - self.cdf(points - step)) / (2.0 * step)

    @property
    def mean(self) -> float:  # type: ignore[override]
        """E X = int_0^1 (1 - F(x)) dx."""
        grid = np.linspace(0.0, 1.0, 20001)
        return float(np.trapezoid(1.0 - self.cdf(grid), grid))

    @property
    def variance(self) -> float:  # type: ignore[override]
        """E X^2 - (E X)^2, with E X^2 = int_0^1 2x (1 - F(x)) dx."""
        grid = np.linspace(0.0, 1.0, 20001)
        second = float(np.trapezoid(2.0 * grid * (1.0 - self.cdf(grid)), grid))
        return second - self.mean**2
