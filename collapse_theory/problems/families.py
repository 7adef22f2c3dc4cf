"""The utility families: one record per family, read by every layer of the library.

A :class:`Family` holds everything the library knows about a family of utilities U
(Song, Cai, Lee, Su, arXiv 2305.17608: the utilities and their limit laws): its JAX function, its
parameter and range, an example, its shape (concave, convex, singular at 0, defined on
the whole line), its closed-form n -> infinity law (or none), the parameter interval
inverse design searches, and its colour in figures. Parsing, the list of valid forms in
error messages, the solver's special paths, the limit laws, design and figures all read
:data:`FAMILIES`; a utility points at its record, so dispatch never goes by a name a
user can choose (``custom(f, "log")`` is not ``log``).

Adding a family is adding one :class:`Family` to :data:`FAMILIES` (and its tests).

===================  =====================================  ==========================================
family               limit law                              reference
===================  =====================================  ==========================================
``log``              arcsine = Beta(1/2, 1/2)               Fekete points of an interval (Stieltjes
                                                            1885; Fejer 1932): the finite-n optimum is
                                                            the Gauss-Lobatto-Legendre nodes
``power:G``          Beta((1-G)/2, (1-G)/2), 0 < G < 1      Bjorck (1956), maximising E|X-Y|^G
``neg-power:G``      Beta((1+G)/2, (1+G)/2), 0 < G < 1      Riesz equilibrium measure of [0, 1]
                     uniform on [0, 1], G >= 1              Hardin and Saff (2004, 2005)
``box-cox:G``        as power, log, neg-power, linear       the same optima (positive multiples)
``exp:B``            atoms 1/(B+2) at 0 and 1, uniform      Green's function of -d^2/dx^2 + B^2
                     density B/(B+2) between                (docs/theory.md)
``linear``           two-point, mass 1/2 at 0 and at 1      S is linear: a step vector is optimal
``square``           two-point, mass 1/2 at 0 and at 1      convex U: maximum at a step vector
``log-sigmoid:B``    none known (numerical limit)
===================  =====================================  ==========================================

Example:
    >>> FAMILIES["power"].parameter.describe()
    'G, 0<G<1'
    >>> FAMILIES["log"].law(()).describe()
    'Beta(0.5, 0.5) (arcsine)'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

from collapse_theory.laws.law import Law, beta_law, exp_law, two_point_law, uniform_law

Array = Any
UtilityFunction = Callable[[Array, Array], Array]

__all__ = ["FAMILIES", "Family", "Parameter", "UtilityFunction", "box_cox_beta_parameter", "power_law", "valid_forms"]


@dataclass(frozen=True)
class Parameter:
    """The one parameter of a family: its letter, its open or closed range, an example.

    ``lower``/``upper`` are None when unbounded; ``upper_closed`` includes the upper end.
    """

    letter: str
    lower: float | None
    upper: float | None
    example: float
    upper_closed: bool = False

    def describe(self) -> str:
        """The range as the CLI prints it, e.g. ``'G, 0<G<1'``."""
        upper = "" if self.upper is None else ("<=" if self.upper_closed else "<") + f"{self.upper:g}"
        if self.lower is None:
            text = f"{self.letter}{upper}"
        elif self.upper is None:
            text = f"{self.letter}>{self.lower:g}"
        else:
            text = f"{self.lower:g}<{self.letter}{upper}"
        return f"{self.letter}, {text}"

    def range_text(self) -> str:
        """The range alone, e.g. ``'0<G<1'``."""
        return self.describe().split(", ", 1)[1]

    def contains(self, value: float | Fraction) -> bool:
        """Whether ``value`` is finite and inside the range.

        A :class:`~fractions.Fraction` (the exact decimal a spec typed) is compared
        exactly with the float bounds, so ``0.99999999999999999999`` is inside 0<G<1
        though its float64 is 1.

        Example:
            >>> FAMILIES["power"].parameter.contains(Fraction("0.99999999999999999999"))
            True
            >>> FAMILIES["power"].parameter.contains(0.99999999999999999999)
            False
        """
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.lower is not None and value <= self.lower:
            return False
        if self.upper is not None:
            return value <= self.upper if self.upper_closed else value < self.upper
        return True


@dataclass(frozen=True, eq=False)
class Family:
    """Everything the library knows about one family of utilities.

    Attributes:
        name: the spec's family name (``"power"``).
        formula: U(x) in words (``"x^G"``), for help texts.
        function: ``function(x, parameters) -> U(x)``, JAX-traceable, elementwise, x > 0.
        parameter: the family's parameter, or None for a single utility.
        concave, convex, singular: the shape of U on x > 0 (``singular``: U(0+) = -inf or
            U'(0+) = inf); ``shape`` overrides them per parameter where they depend on it.
        defined_everywhere: ``function`` is finite, continuous and increasing on the whole
            real line (then it is its own extended version for training).
        law: the closed-form n -> infinity law of a member, or None where none is known.
        box_cox_exponent: G with the member equivalent to ``box-cox:G`` (the same optima),
            for the families of the Box-Cox scale, else None.
        hypersingular: whether a member falls like -x^(-G), G >= 1, at 0 (no finite energy).
        design_bounds: (low, high, start) of the parameter searched by inverse design.
        colour: the family's colour in every figure.
        solver_branch: the family is one branch of the solver's compiled switch.
        description: one line for listings.
    """

    name: str
    formula: str
    function: UtilityFunction
    parameter: Parameter | None
    concave: bool
    description: str
    colour: str
    convex: bool = False
    singular: bool = False
    defined_everywhere: bool = False
    law: Callable[[tuple[float, ...]], Law | None] | None = None
    box_cox_exponent: Callable[[tuple[float, ...]], float] | None = None
    hypersingular: Callable[[tuple[float, ...]], bool] | None = None
    shape: Callable[[tuple[float, ...]], tuple[bool, bool, bool]] | None = None
    design_bounds: tuple[float, float, float] | None = None
    solver_branch: bool = True

    def form(self) -> str:
        """The spec form with its range, e.g. ``'power:G (0<G<1)'``."""
        if self.parameter is None:
            return self.name
        return f"{self.name}:{self.parameter.letter} ({self.parameter.range_text()})"

    def flags(self, parameters: tuple[float, ...]) -> tuple[bool, bool, bool]:
        """(concave, convex, singular) of the member with these parameters."""
        if self.shape is not None:
            return self.shape(parameters)
        return self.concave, self.convex, self.singular

    def limit_law(self, parameters: tuple[float, ...]) -> Law | None:
        """The member's closed-form limit law, or None."""
        return None if self.law is None else self.law(parameters)


# --- the functions (each U valid on x > 0) --------------------------------------------------


def _linear(x: Array, p: Array) -> Array:
    return x


@jax.custom_jvp
def power_law(x: Array, exponent: Array) -> jax.Array:
    """:math:`x^a` as :math:`e^{a \\log x}`, whose derivatives reuse the value: :math:`d x^a / dx = a\\, x^a / x`.

    ``x ** a`` differentiates to ``a * x ** (a - 1)``, a second power per element and a
    third for U''. The solver evaluates U, U' and U'' on every pair in each Newton
    step, where the powers dominate: this rule makes that one power per element
    (about 2.5x faster). The power itself is exp(a log x): XLA's CPU ``pow`` takes
    11 ns per element against 1.8 ns for the exp of a log (measured at n = 10^4), at
    a relative error of about :math:`|a \\log x|` units in the last place, 1e-15 for
    the arguments a solve meets (x >= 1e-8). At x = 0 the value is :math:`0^a` (0, 1
    or inf) and the first derivative the limit :math:`a \\cdot 0^{a-1}`.
    """
    positive = x > 0
    at_zero = jnp.where(exponent > 0, 0.0, jnp.where(exponent < 0, jnp.inf, 1.0))
    value = jnp.exp(exponent * jnp.log(jnp.where(positive, x, 1.0)))
    return jnp.where(positive, value, jnp.where(x == 0, at_zero, jnp.nan))


def _power_law_jvp(primals: tuple[Array, Array], tangents: tuple[Any, Any]) -> tuple[jax.Array, jax.Array]:
    x, exponent = primals
    dx, d_exponent = tangents
    value = power_law(x, exponent)
    terms = []
    safe_x = jnp.where(x == 0, 1.0, x)  # no 0/0 or log 0, in this rule or in its derivatives
    if not isinstance(dx, SymbolicZero):
        # the limit a 0^(a-1) is piecewise constant in a (its derivative 0 almost everywhere)
        at_zero = jax.lax.stop_gradient(exponent * jnp.power(jnp.zeros_like(exponent), exponent - 1.0))
        terms.append(jnp.where(x == 0, at_zero, exponent * value / safe_x) * dx)
    if not isinstance(d_exponent, SymbolicZero):
        terms.append(value * jnp.log(safe_x) * d_exponent)  # 0 at x = 0, as for jnp.power
    return value, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(value)


power_law.defjvp(_power_law_jvp, symbolic_zeros=True)


def _power(x: Array, p: Array) -> Array:
    return power_law(x, p[0])


def _log(x: Array, p: Array) -> Array:
    return jnp.log(x)


def _neg_power(x: Array, p: Array) -> Array:
    return -power_law(x, -p[0])


@jax.custom_jvp
def _sigmoid_of_minus(z: Array) -> jax.Array:
    """:math:`\\sigma(-z) = 1 / (1 + e^z)` from :math:`e^{-|z|}` (no overflow, full relative precision)."""
    small = jnp.exp(-jnp.abs(z))
    return jnp.where(z >= 0, small, 1.0) / (1.0 + small)


@_sigmoid_of_minus.defjvp
def _sigmoid_of_minus_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[jax.Array, jax.Array]:
    (z,), (dz,) = primals, tangents
    small = jnp.exp(-jnp.abs(z))
    # d sigma(-z) / dz = -sigma(z) sigma(-z) = -e^{-|z|} / (1 + e^{-|z|})^2, the same exp
    return jnp.where(z >= 0, small, 1.0) / (1.0 + small), -small / (1.0 + small) ** 2 * dz


@jax.custom_jvp
def _log_sigmoid_z(z: Array) -> jax.Array:
    """:math:`\\log \\sigma(z) = -\\log(1 + e^{-|z|}) - \\max(-z, 0)`, with derivatives from the same exp.

    The utility ``log-sigmoid:B`` is log sigmoid(Bx). ``jax.nn.log_sigmoid`` goes through
    ``logaddexp`` (its checks for infinities and its own derivative rule): 17.5 ns per
    element on CPU against 3.4 ns for this formula, and its U'' is 0 instead of
    :math:`-\\sigma(z)\\sigma(-z)` once :math:`\\sigma(-z)` rounds to 1 (z < -33). Here
    :math:`d/dz = \\sigma(-z)` and :math:`d^2/dz^2 = -e^{-|z|}/(1 + e^{-|z|})^2`, every one
    from :math:`e^{-|z|}`, so XLA evaluates U, U' and U'' of a pair with one exp and one log1p.
    """
    return -(jnp.log1p(jnp.exp(-jnp.abs(z))) + jnp.maximum(-z, 0.0))


@_log_sigmoid_z.defjvp
def _log_sigmoid_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[jax.Array, jax.Array]:
    (z,), (dz,) = primals, tangents
    return _log_sigmoid_z(z), _sigmoid_of_minus(z) * dz


def _log_sigmoid(x: Array, p: Array) -> Array:
    return _log_sigmoid_z(p[0] * x)


def _exp(x: Array, p: Array) -> Array:
    return -jnp.expm1(-p[0] * x)


def _square(x: Array, p: Array) -> Array:
    return x * x


def _box_cox(x: Array, p: Array) -> Array:
    # (x^G - 1)/G = L * (e^(G L) - 1)/(G L) with L = log x; near G L = 0 the series
    # 1 + G L/2 + (G L)^2/6 keeps value and d/dG exact (log x at G = 0, d/dG = L^2/2)
    exponent = p[0]
    log_x = jnp.log(x)
    product = exponent * log_x
    small = jnp.abs(product) < 1e-5
    safe = jnp.where(small, 1.0, product)  # keeps the unused branch (and its gradient) finite
    relative = jnp.where(small, 1.0 + product / 2.0 + product * product / 6.0, jnp.expm1(safe) / safe)
    return log_x * relative


# --- the laws of the Box-Cox scale ----------------------------------------------------------


def box_cox_beta_parameter(exponent: float) -> float:
    """a of the Beta(a, a) limit of ``box-cox:G``: (1 - G)/2 on (-1, 1), 1 for G <= -1, 0 at G = 1.

    (a = 0 stands for the two-point law, the limit of Beta(a, a) as a -> 0.)

    Example:
        >>> [box_cox_beta_parameter(g) for g in (0.5, 0.0, -0.5, -2.0)]
        [0.25, 0.5, 0.75, 1.0]
    """
    exponent = float(exponent)
    if exponent <= -1.0:
        return 1.0
    return (1.0 - exponent) / 2.0


def _box_cox_law(exponent: float) -> Law:
    """The limit of ``box-cox:G`` (Song, Cai, Lee, Su, the closed-form limits; Hardin and Saff for G <= -1)."""
    if exponent >= 1.0:
        return two_point_law()
    if exponent <= -1.0:
        return uniform_law()
    a = box_cox_beta_parameter(exponent)
    return beta_law(a, a)


def _box_cox_shape(parameters: tuple[float, ...]) -> tuple[bool, bool, bool]:
    exponent = parameters[0]
    return True, exponent >= 1.0, exponent < 1.0


#: Every built-in family, in the order of the solver's compiled switch.
FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            name="linear",
            formula="x",
            function=_linear,
            parameter=None,
            concave=True,
            convex=True,
            defined_everywhere=True,
            law=lambda p: two_point_law(),
            box_cox_exponent=lambda p: 1.0,
            description="S is linear: the top half at 1, the bottom half at 0",
            colour="#1b9e77",
        ),
        Family(
            name="power",
            formula="x^G",
            function=_power,
            parameter=Parameter("G", 0.0, 1.0, 0.5),
            concave=True,
            singular=True,
            law=lambda p: _box_cox_law(p[0]),
            box_cox_exponent=lambda p: p[0],
            design_bounds=(1e-6, 1.0 - 1e-6, 0.5),
            description="Beta((1-G)/2, (1-G)/2) limit (Bjorck 1956)",
            colour="#d95f02",
        ),
        Family(
            name="log",
            formula="log x",
            function=_log,
            parameter=None,
            concave=True,
            singular=True,
            law=lambda p: beta_law(0.5, 0.5),
            box_cox_exponent=lambda p: 0.0,
            description="the arcsine limit; the Gauss-Lobatto nodes at every n",
            colour="#7570b3",
        ),
        Family(
            name="neg-power",
            formula="-x^(-G)",
            function=_neg_power,
            parameter=Parameter("G", 0.0, None, 1.0),
            concave=True,
            singular=True,
            law=lambda p: _box_cox_law(-p[0]),
            box_cox_exponent=lambda p: -p[0],
            hypersingular=lambda p: p[0] >= 1.0,
            design_bounds=(1e-6, 20.0, 1.0),
            description="Beta((1+G)/2, (1+G)/2) limit for G < 1, uniform for G >= 1",
            colour="#e7298a",
        ),
        Family(
            name="log-sigmoid",
            formula="log sigmoid(Bx)",
            function=_log_sigmoid,
            parameter=Parameter("B", 0.0, None, 4.0),
            concave=True,
            defined_everywhere=True,
            design_bounds=(1e-3, 1e3, 4.0),
            description="Bradley-Terry on bounded rewards; numerical limit with atoms",
            colour="#66a61e",
        ),
        Family(
            name="exp",
            formula="1 - exp(-Bx)",
            function=_exp,
            parameter=Parameter("B", 0.0, None, 1.0),
            concave=True,
            defined_everywhere=True,
            law=lambda p: exp_law(p[0]),
            design_bounds=(1e-3, 1e3, 1.0),
            description="atoms 1/(B+2) at 0 and 1, uniform between",
            colour="#e6ab02",
        ),
        Family(
            name="box-cox",
            formula="(x^G - 1)/G (log x at G = 0)",
            function=_box_cox,
            parameter=Parameter("G", None, 1.0, 0.0, upper_closed=True),
            concave=True,
            singular=True,
            shape=_box_cox_shape,
            law=lambda p: _box_cox_law(p[0]),
            box_cox_exponent=lambda p: p[0],
            hypersingular=lambda p: p[0] <= -1.0,
            design_bounds=(-20.0, 1.0, 0.0),
            description="power, log, neg-power and linear on one scale (Box and Cox 1964)",
            colour="#1f78b4",
            # solved through the generic (custom-function) path, so the solver's compiled
            # switch of the other families stays the program it was
            solver_branch=False,
        ),
        Family(
            name="square",
            formula="x^2",
            function=_square,
            parameter=None,
            concave=False,
            convex=True,
            law=lambda p: two_point_law(),
            description="convex, the contrast case: a step vector is optimal",
            colour="#a6761d",
            solver_branch=False,
        ),
    )
}


def valid_forms() -> str:
    """``'valid forms: linear, power:G (0<G<1), ...'`` for error messages."""
    return "valid forms: " + ", ".join(family.form() for family in FAMILIES.values())
