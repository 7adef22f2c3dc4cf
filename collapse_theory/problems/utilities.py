"""Utilities U of reward differences, the ingredient of every ranking loss.

A ranking loss for one prompt with n ranked completions is

.. math::

    S(r) = \\sum_{1 \\le i < j \\le n} U(r_i - r_j),

maximised over rewards :math:`1 \\ge r_1 \\ge \\dots \\ge r_n \\ge 0`
(Song, Cai, Lee, Su, "Reward Collapse in Aligning Large Language Models",
arXiv 2305.17608, Section 3). A :class:`Utility` carries U on x > 0, its name and
parameters (the *spec* string ``"power:0.5"`` used by the CLI, files and reports),
its shape (concave, convex, singular at 0) and an *extended* version defined on
the whole real line for training, where a model can misorder two completions.

Built-in specs::

    linear          U(x) = x
    power:G         U(x) = x^G,            0 < G < 1
    log             U(x) = log x
    neg-power:G     U(x) = -x^(-G),        G > 0
    log-sigmoid:B   U(x) = log sigmoid(Bx), B > 0  (Bradley-Terry on bounded rewards)
    exp:B           U(x) = 1 - exp(-Bx),   B > 0
    box-cox:G       U(x) = (x^G - 1)/G,    G <= 1  (log x at G = 0)
    square          U(x) = x^2             (convex: a contrast case)

Each family is one record of :data:`collapse_theory.problems.families.FAMILIES`.

Example:
    >>> u = parse_utility("power:0.5")
    >>> u.spec, u.concave, u.singular
    ('power:0.5', True, True)
    >>> float(u(0.25))
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any

import jax
import jax.numpy as jnp

from collapse_theory._core.spec_numbers import SpecNumberError, format_number, read_number
from collapse_theory.errors import SpecError
from collapse_theory.problems.families import FAMILIES, Family, UtilityFunction, power_law, valid_forms

Array = Any

#: Default threshold below which :meth:`Utility.extended` replaces U by its tangent.
#: Small enough that the n = 8 optima of the built-in utilities (smallest gap 0.064
#: for ``log``) are untouched, large enough that slopes stay moderate in training.
DEFAULT_EXTENSION_EPS = 0.05

#: The spec forms with their ranges, read from the family registry.
VALID_FORMS = tuple(family.form() for family in FAMILIES.values())


class UtilitySpecError(SpecError):
    """An unknown utility spec or a parameter out of range.

    Attributes:
        reason: the message without the list of valid forms (for a caller that names
            the context itself, e.g. a loss spec with a known utility family).
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason


def _valid_forms_message() -> str:
    return valid_forms()


@dataclass(frozen=True)
class Utility:
    """A utility U of reward differences.

    Attributes:
        family: the family name (``"power"``, ``"log"``, ... or a custom name).
        parameters: the family's parameters, e.g. ``(0.5,)`` for ``power:0.5``.
        function: ``function(x, parameters) -> U(x)``, JAX-traceable, elementwise,
            valid for x > 0.
        concave: U is concave on x > 0, so the ranking objective is concave and
            the solver's Frank-Wolfe gap certifies optimality.
        convex: U is convex on x >= 0 (the optimum is then a step vector);
            ``concave and convex`` means U is affine and S is linear.
        singular: U(0+) = -inf or U'(0+) = inf, so optimal rewards never tie.
        defined_everywhere: ``function`` is finite, continuous and increasing on
            the whole real line (then it is its own extended version).
        family_record: the :class:`~collapse_theory.problems.families.Family` of a built-in
            utility, None for a custom one.
    """

    family: str
    parameters: tuple[float, ...]
    # compared (by identity): two custom utilities of one name but different functions
    # must not share solver caches or compiled programs
    function: UtilityFunction = field(repr=False)
    concave: bool
    convex: bool = False
    singular: bool = False
    defined_everywhere: bool = False
    # the built-in family's record, or None for a custom utility: every layer dispatches on
    # it (by identity), never on the name, which a custom utility may share
    family_record: Family | None = field(default=None, repr=False)

    @property
    def affine(self) -> bool:
        """U is affine (both concave and convex), so S is a linear function of r."""
        return self.concave and self.convex

    @property
    def spec(self) -> str:
        """The spec string, e.g. ``"neg-power:1"``; parses back to exactly this utility.

        Parameters are written with the shortest digits that read back as the same
        float64 (:func:`~collapse_theory._core.spec_numbers.format_number`), never rounded.

        Example:
            >>> parse_utility("log-sigmoid:0.00123456789").spec
            'log-sigmoid:0.00123456789'
        """
        if not self.parameters:
            return self.family
        return self.family + ":" + ",".join(format_number(p) for p in self.parameters)

    @property
    def parameter_array(self) -> jax.Array:
        """The parameters as a float64 array (what ``function`` receives)."""
        with jax.enable_x64(True):
            return jnp.asarray(self.parameters, dtype=jnp.float64)

    def __call__(self, x: Array) -> jax.Array:
        """U(x) for x > 0, in float64 whatever the global JAX setting (use ``function`` inside ``jit``)."""
        with jax.enable_x64(True):
            return self.function(jnp.asarray(x, dtype=jnp.float64), self.parameter_array)

    def extended(self, x: Array, eps: float = DEFAULT_EXTENSION_EPS) -> jax.Array:
        """U extended to all real x, for training where rewards can be misordered.

        .. math::

            U_{ext}(x) = U(x) \\ (x \\ge \\epsilon), \\qquad
            U(\\epsilon) + U'(\\epsilon)(x - \\epsilon) \\ (x < \\epsilon)

        continuous, increasing (when U is) and concave when U is. Utilities that
        are already finite and increasing on the whole line (``linear``,
        ``log-sigmoid:B``, ``exp:B``) are returned unchanged. The official
        experiment uses a shift U(x + 0.1) with a steep linear piece instead;
        the tangent keeps U itself wherever x >= eps.
        """
        return extended_value(self.function, x, self.parameter_array, eps, self.defined_everywhere)


def extended_value(
    function: UtilityFunction,
    x: Array,
    parameters: Array,
    eps: float = DEFAULT_EXTENSION_EPS,
    defined_everywhere: bool = False,
) -> jax.Array:
    """The extension of :meth:`Utility.extended` as a pure function (for ``jit``)."""
    x = jnp.asarray(x)
    if defined_everywhere:
        return function(x, parameters)
    eps_array = jnp.asarray(eps, dtype=x.dtype)
    value_at_eps = function(eps_array, parameters)
    slope_at_eps = jax.grad(lambda t: function(t, parameters))(eps_array)
    safe_x = jnp.maximum(x, eps_array)  # keeps U and its gradient finite on the unused branch
    return jnp.where(x >= eps_array, function(safe_x, parameters), value_at_eps + slope_at_eps * (x - eps_array))


# --- constructors of the built-in families (the records live in collapse_theory.problems.families) ---


def _member(family: Family, parameters: tuple[float, ...] = ()) -> Utility:
    """The utility of ``family`` with ``parameters`` (checked against the record's range)."""
    concave, convex, singular = family.flags(parameters)
    return Utility(
        family.name,
        parameters,
        family.function,
        concave=concave,
        convex=convex,
        singular=singular,
        defined_everywhere=family.defined_everywhere,
        family_record=family,
    )


def member(family: Family | str, parameter: float | None = None) -> Utility:
    """The member of a built-in family, by record or name, with its parameter checked.

    Example:
        >>> member("neg-power", 2).spec
        'neg-power:2'
    """
    record = family if isinstance(family, Family) else _record(family)
    if record.parameter is None:
        if parameter is not None:
            raise UtilitySpecError(f"utility {record.name!r} takes no parameter; {_valid_forms_message()}")
        return _member(record)
    if parameter is None:
        raise UtilitySpecError(f"utility {record.name!r} needs a parameter ({record.parameter.range_text()})")
    return _member(record, (_check_parameter(record, parameter),))


def _record(name: str) -> Family:
    if name not in FAMILIES:
        raise UtilitySpecError(f"unknown utility family {name!r}; {_valid_forms_message()}")
    return FAMILIES[name]


def linear() -> Utility:
    """U(x) = x. The ranking objective is linear; the optimum puts the top half at 1."""
    return member("linear")


def power(gamma: float) -> Utility:
    """U(x) = x^G for 0 < G < 1 (concave, U'(0+) = inf)."""
    return member("power", gamma)


def log() -> Utility:
    """U(x) = log x (concave, U(0+) = -inf); optimum: the Gauss-Lobatto nodes."""
    return member("log")


def neg_power(gamma: float) -> Utility:
    """U(x) = -x^(-G) for G > 0 (concave, U(0+) = -inf)."""
    return member("neg-power", gamma)


def log_sigmoid(beta: float) -> Utility:
    """U(x) = log sigmoid(Bx), the Bradley-Terry log-likelihood on bounded rewards."""
    return member("log-sigmoid", beta)


def exp(beta: float) -> Utility:
    """U(x) = 1 - exp(-Bx) for B > 0 (concave, bounded, finite slope at 0)."""
    return member("exp", beta)


def square() -> Utility:
    """U(x) = x^2: convex, the contrast case (optimum: a step vector)."""
    return member("square")


def box_cox(exponent: float) -> Utility:
    """U_G(x) = (x^G - 1)/G (log x at G = 0) for G <= 1: power, log, neg-power and linear in one.

    Example:
        >>> round(float(box_cox(0.5)(4.0)), 12)       # (4^0.5 - 1) / 0.5
        2.0
        >>> box_cox(0.0).spec
        'box-cox:0'
    """
    return member("box-cox", exponent)


def custom(
    function: Callable[[Array], Array],
    name: str = "custom",
    *,
    concave: bool = False,
    singular: bool = False,
) -> Utility:
    """Wrap any JAX-traceable elementwise function of x > 0 as a :class:`Utility`.

    Declare ``concave=True`` only when U is concave on x > 0: solutions are then
    certified by the Frank-Wolfe gap. Otherwise they are marked not certified.

    Example:
        >>> import jax.numpy as jnp
        >>> u = custom(lambda x: jnp.sqrt(x) + x, "sqrt-plus-linear", concave=True)
        >>> u.spec
        'sqrt-plus-linear'
    """
    if not callable(function):
        raise UtilitySpecError("a custom utility must be a callable U(x)")
    if not name or any(ch.isspace() for ch in name):
        raise UtilitySpecError(f"custom utility name must be non-empty without spaces, got {name!r}")
    return Utility(name, (), lambda x, p: function(x), concave=concave, singular=singular)


def _check_parameter(family: Family, value: object) -> float:
    """The float64 parameter of ``family``: a number, or a spec's text read exactly.

    The range is checked on the exact value and on its float64, which must both lie
    inside it (a decimal just inside an open end can round onto it).
    """
    parameter = family.parameter
    assert parameter is not None
    if isinstance(value, str):
        try:
            number = read_number(value)
        except SpecNumberError as error:
            raise UtilitySpecError(f"{family.name}: parameter {error} ({parameter.range_text()})") from None
        text, exact, carried = number.text, number.exact, number.value
    else:
        try:
            carried = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            raise UtilitySpecError(f"{family.name}: parameter must be a number ({parameter.range_text()})") from None
        if not math.isfinite(carried):
            raise UtilitySpecError(f"{family.name}: parameter {carried} is not a finite number ({parameter.range_text()})")
        text, exact = format_number(carried), Fraction(carried)
    if not parameter.contains(exact):
        raise UtilitySpecError(f"{family.name}: parameter {text} out of range ({parameter.range_text()})")
    if not parameter.contains(carried):
        raise UtilitySpecError(
            f"{family.name}: parameter {text} rounds to {format_number(carried)} in float64, "
            f"outside the range ({parameter.range_text()})"
        )
    return carried


def parse_utility(spec: str | Utility) -> Utility:
    """Parse a spec string such as ``"neg-power:1"`` into a :class:`Utility`.

    A :class:`Utility` passes through unchanged. Raises :class:`UtilitySpecError`
    with a one-line message listing the valid forms for anything else.

    Example:
        >>> parse_utility("log-sigmoid:4").parameters
        (4.0,)
    """
    if isinstance(spec, Utility):
        return spec
    if not isinstance(spec, str):
        raise UtilitySpecError(f"utility spec must be a string, got {type(spec).__name__}; {_valid_forms_message()}")
    return _parse_spec(spec)


@lru_cache(maxsize=512)
def _parse_spec(spec: str) -> Utility:
    """parse_utility for strings; a Utility is immutable, so one spec maps to one shared object.

    The rule for spelling: surrounding whitespace is ignored and family names are
    case-insensitive (``" LOG "`` is ``log``); nothing else is forgiven.
    """
    text = spec.strip()
    name, sep, argument = text.partition(":")
    name = name.strip().lower()
    if name not in FAMILIES:
        raise UtilitySpecError(f"unknown utility {text!r}; {_valid_forms_message()}")
    family = FAMILIES[name]
    if family.parameter is None:
        if sep:
            raise UtilitySpecError(f"utility {name!r} takes no parameter (got {text!r}); {_valid_forms_message()}")
        return _member(family)
    if not sep or not argument.strip():
        raise UtilitySpecError(
            f"utility {name!r} needs a parameter, e.g. {name}:{format_number(family.parameter.example)}; {_valid_forms_message()}"
        )
    try:
        return _member(family, (_check_parameter(family, argument),))
    except UtilitySpecError as error:
        reason = f"utility {text!r}: {error}"
        raise UtilitySpecError(f"{reason}; {_valid_forms_message()}", reason=reason) from None


def family_function(family: str) -> UtilityFunction:
    """The elementwise ``function(x, parameters)`` of a built-in family (for batching)."""
    return _record(family).function


#: The default set of utilities shown by ``collapse-theory solve`` and the benchmarks.
DEFAULT_SPECS = ("linear", "power:0.5", "log", "neg-power:1", "log-sigmoid:4", "exp:1", "square")

__all__ = [
    "DEFAULT_EXTENSION_EPS",
    "DEFAULT_SPECS",
    "VALID_FORMS",
    "Utility",
    "UtilityFunction",
    "UtilitySpecError",
    "box_cox",
    "custom",
    "exp",
    "extended_value",
    "family_function",
    "linear",
    "log",
    "log_sigmoid",
    "member",
    "neg_power",
    "parse_utility",
    "power",
    "power_law",
    "square",
]
