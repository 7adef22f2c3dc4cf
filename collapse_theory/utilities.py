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
    square          U(x) = x^2             (convex: a contrast case)

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
from functools import lru_cache
from typing import Any

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

Array = Any
UtilityFunction = Callable[[Array, Array], Array]

#: Default threshold below which :meth:`Utility.extended` replaces U by its tangent.
#: Small enough that the n = 8 optima of the built-in utilities (smallest gap 0.064
#: for ``log``) are untouched, large enough that slopes stay moderate in training.
DEFAULT_EXTENSION_EPS = 0.05

VALID_FORMS = (
    "linear",
    "power:G (0<G<1)",
    "log",
    "neg-power:G (G>0)",
    "log-sigmoid:B (B>0)",
    "exp:B (B>0)",
    "square",
)


class UtilitySpecError(ValueError):
    """An unknown utility spec or a parameter out of range."""


def _valid_forms_message() -> str:
    return "valid forms: " + ", ".join(VALID_FORMS)


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

    @property
    def affine(self) -> bool:
        """U is affine (both concave and convex), so S is a linear function of r."""
        return self.concave and self.convex

    @property
    def spec(self) -> str:
        """The spec string, e.g. ``"neg-power:1"``; parses back to this utility."""
        if not self.parameters:
            return self.family
        return self.family + ":" + ",".join(_format_number(p) for p in self.parameters)

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


def _format_number(value: float) -> str:
    return format(float(value), "g") if float(value) != int(value) else str(int(value))


# --- the built-in families (each U valid on x > 0) ---------------------------------


def _linear(x: Array, p: Array) -> Array:
    return x


@jax.custom_jvp
def power_law(x: Array, exponent: Array) -> jax.Array:
    """:math:`x^a` whose derivatives reuse the value: :math:`d x^a / dx = a\\, x^a / x`.

    ``x ** a`` differentiates to ``a * x ** (a - 1)``, a second power per element and a
    third for U''. The solver evaluates U, U' and U'' on every pair in each Newton
    step, where the powers dominate: this rule makes that one power per element
    (about 2.5x faster) and keeps the value exact. At x = 0 the first derivative is
    the limit :math:`a \\cdot 0^{a-1}`.
    """
    return jnp.power(x, exponent)


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


def _log_sigmoid(x: Array, p: Array) -> Array:
    return jax.nn.log_sigmoid(p[0] * x)


def _exp(x: Array, p: Array) -> Array:
    return -jnp.expm1(-p[0] * x)


def _square(x: Array, p: Array) -> Array:
    return x * x


def linear() -> Utility:
    """U(x) = x. The ranking objective is linear; the optimum puts the top half at 1."""
    return Utility("linear", (), _linear, concave=True, convex=True, defined_everywhere=True)


def power(gamma: float) -> Utility:
    """U(x) = x^G for 0 < G < 1 (concave, U'(0+) = inf)."""
    gamma = _check_parameter("power", gamma, lower=0.0, upper=1.0)
    return Utility("power", (gamma,), _power, concave=True, singular=True)


def log() -> Utility:
    """U(x) = log x (concave, U(0+) = -inf); optimum: the Gauss-Lobatto nodes."""
    return Utility("log", (), _log, concave=True, singular=True)


def neg_power(gamma: float) -> Utility:
    """U(x) = -x^(-G) for G > 0 (concave, U(0+) = -inf)."""
    gamma = _check_parameter("neg-power", gamma, lower=0.0)
    return Utility("neg-power", (gamma,), _neg_power, concave=True, singular=True)


def log_sigmoid(beta: float) -> Utility:
    """U(x) = log sigmoid(Bx), the Bradley-Terry log-likelihood on bounded rewards."""
    beta = _check_parameter("log-sigmoid", beta, lower=0.0)
    return Utility("log-sigmoid", (beta,), _log_sigmoid, concave=True, defined_everywhere=True)


def exp(beta: float) -> Utility:
    """U(x) = 1 - exp(-Bx) for B > 0 (concave, bounded, finite slope at 0)."""
    beta = _check_parameter("exp", beta, lower=0.0)
    return Utility("exp", (beta,), _exp, concave=True, defined_everywhere=True)


def square() -> Utility:
    """U(x) = x^2: convex, the contrast case (optimum: a step vector)."""
    return Utility("square", (), _square, concave=False, convex=True)


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


_ZERO_PARAMETER = {"linear": linear, "log": log, "square": square}
_ONE_PARAMETER: dict[str, Callable[[float], Utility]] = {
    "power": power,
    "neg-power": neg_power,
    "log-sigmoid": log_sigmoid,
    "exp": exp,
}
_RANGES = {"power": "0<G<1", "neg-power": "G>0", "log-sigmoid": "B>0", "exp": "B>0"}


def _check_parameter(family: str, value: float, lower: float, upper: float | None = None) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise UtilitySpecError(f"{family}: parameter must be a number ({_RANGES[family]})") from None
    if not math.isfinite(value) or value <= lower or (upper is not None and value >= upper):
        raise UtilitySpecError(f"{family}: parameter {value:g} out of range ({_RANGES[family]})")
    return value


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
    """parse_utility for strings; a Utility is immutable, so one spec maps to one shared object."""
    text = spec.strip()
    family, sep, argument = text.partition(":")
    if family in _ZERO_PARAMETER:
        if sep:
            raise UtilitySpecError(f"utility {family!r} takes no parameter (got {text!r}); {_valid_forms_message()}")
        return _ZERO_PARAMETER[family]()
    if family in _ONE_PARAMETER:
        if not sep or not argument.strip():
            raise UtilitySpecError(
                f"utility {family!r} needs a parameter, e.g. {family}:{_example(family)}; {_valid_forms_message()}"
            )
        try:
            value = float(argument)
        except ValueError:
            raise UtilitySpecError(
                f"utility {text!r}: parameter {argument!r} is not a number; {_valid_forms_message()}"
            ) from None
        try:
            return _ONE_PARAMETER[family](value)
        except UtilitySpecError as error:
            raise UtilitySpecError(f"utility {text!r}: {error}; {_valid_forms_message()}") from None
    raise UtilitySpecError(f"unknown utility {text!r}; {_valid_forms_message()}")


def _example(family: str) -> str:
    return {"power": "0.5", "neg-power": "1", "log-sigmoid": "4", "exp": "1"}[family]


def family_function(family: str) -> UtilityFunction:
    """The elementwise ``function(x, parameters)`` of a built-in family (for batching)."""
    table: dict[str, UtilityFunction] = {
        "linear": _linear,
        "power": _power,
        "log": _log,
        "neg-power": _neg_power,
        "log-sigmoid": _log_sigmoid,
        "exp": _exp,
        "square": _square,
    }
    if family not in table:
        raise UtilitySpecError(f"unknown utility family {family!r}; {_valid_forms_message()}")
    return table[family]


#: The default set of utilities shown by ``collapse-theory solve`` and the benchmarks.
DEFAULT_SPECS = ("linear", "power:0.5", "log", "neg-power:1", "log-sigmoid:4", "exp:1", "square")
