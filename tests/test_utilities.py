"""Claims about utilities (issue 2, item 2): specs, values, the extended form, custom utilities.

Oracles: NumPy transcriptions of each formula (``helpers.numpy_utility``), finite
differences, and the definitions themselves (continuity, monotonicity, the midpoint
inequality for concavity). Budget: under 15 s.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import BUILT_IN_SPECS, numpy_utility
from hypothesis import given
from hypothesis import strategies as st

from collapse_theory._core.precision import float64
from collapse_theory.problems.utilities import (
    DEFAULT_EXTENSION_EPS,
    DEFAULT_SPECS,
    VALID_FORMS,
    Utility,
    UtilitySpecError,
    custom,
    parse_utility,
    power_law,
)

#: Points on (0, 1], where every reward difference lives, plus a few above 1.
POSITIVE = np.concatenate([np.geomspace(1e-6, 1e-2, 9), np.linspace(0.02, 1.0, 50), [1.5, 2.0]])
#: Points on the whole line for the extended form, straddling 0 and eps.
WHOLE_LINE = np.concatenate([np.linspace(-2.0, 2.0, 401), [0.0, DEFAULT_EXTENSION_EPS]])


def extended(spec: str, x: np.ndarray) -> np.ndarray:
    with float64():
        return np.asarray(parse_utility(spec).extended(jnp.asarray(x, dtype=jnp.float64)))


# --- specs ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", BUILT_IN_SPECS)
def test_spec_round_trips(spec: str) -> None:
    """parse_utility(u.spec) == u for every built-in (the spec is the utility's identity)."""
    utility = parse_utility(spec)
    assert utility.spec == spec
    assert parse_utility(utility.spec) == utility
    assert parse_utility(utility) is utility


def test_default_specs_are_built_ins() -> None:
    """The default set shown by the CLI covers every built-in family once."""
    families = {parse_utility(spec).family for spec in DEFAULT_SPECS}
    assert families == {"linear", "power", "log", "neg-power", "log-sigmoid", "exp", "square"}


INVALID_SPECS = {
    "unknown name": "quadratic",
    "empty": "",
    "missing parameter": "power",
    "missing parameter after colon": "neg-power:",
    "extra parameter": "power:0.5,0.2",
    "parameter on a parameterless family": "log:1",
    "parameter not a number": "exp:fast",
    "power G = 1": "power:1",
    "power G = 0": "power:0",
    "power G > 1": "power:1.5",
    "power G < 0": "power:-0.5",
    "neg-power G = 0": "neg-power:0",
    "neg-power G < 0": "neg-power:-1",
    "log-sigmoid B = 0": "log-sigmoid:0",
    "log-sigmoid B < 0": "log-sigmoid:-4",
    "exp B = 0": "exp:0",
    "exp B < 0": "exp:-1",
    "NaN parameter": "power:nan",
    "NaN parameter, unbounded family": "neg-power:nan",
    "infinite parameter": "exp:inf",
    "negative infinite parameter": "log-sigmoid:-inf",
}


@pytest.mark.parametrize("spec", INVALID_SPECS.values(), ids=INVALID_SPECS.keys())
def test_invalid_spec_raises_with_valid_forms(spec: str) -> None:
    """Bad specs raise UtilitySpecError (a ValueError) on one line listing every valid form."""
    with pytest.raises(UtilitySpecError) as raised:
        parse_utility(spec)
    message = str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert "\n" not in message
    for form in VALID_FORMS:
        assert form in message


@pytest.mark.parametrize("spec", ["power:1", "neg-power:-1", "exp:0", "log-sigmoid:nan"])
def test_out_of_range_message_names_the_range(spec: str) -> None:
    """A parameter out of range is named with its allowed range, e.g. (0<G<1)."""
    family = spec.partition(":")[0]
    allowed = {"power": "0<G<1", "neg-power": "G>0", "exp": "B>0", "log-sigmoid": "B>0"}[family]
    with pytest.raises(UtilitySpecError, match="out of range") as raised:
        parse_utility(spec)
    assert f"({allowed})" in str(raised.value)


def test_non_string_spec_raises() -> None:
    """Anything but a string or a Utility is rejected with the valid forms."""
    with pytest.raises(UtilitySpecError, match="valid forms"):
        parse_utility(0.5)  # type: ignore[arg-type]


# --- values --------------------------------------------------------------------------


@pytest.mark.parametrize("spec", BUILT_IN_SPECS)
def test_values_match_numpy_formulas(spec: str) -> None:
    """U(x) equals its NumPy formula on (0, 2] to 1e-13 relative (oracle: numpy_utility)."""
    expected = numpy_utility(spec).value(POSITIVE)
    with float64():
        actual = np.asarray(parse_utility(spec)(POSITIVE))
    assert actual.dtype == np.float64
    np.testing.assert_allclose(actual, expected, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("spec", BUILT_IN_SPECS)
def test_shape_flags_match_the_formulas(spec: str) -> None:
    """concave / convex / singular / increasing agree with the formula on (0, 1]."""
    utility = parse_utility(spec)
    formulas = numpy_utility(spec)
    curvature = formulas.second(POSITIVE)
    assert np.all(formulas.first(POSITIVE) > 0)  # every built-in is increasing
    if utility.concave:
        assert np.all(curvature <= 0)
    if utility.convex:
        assert np.all(curvature >= 0)
    # U'(0+) = inf shows as a huge slope at 1e-200 (x^(G-1) >= 1e50 for G <= 3/4); finite slopes stay O(B)
    with np.errstate(over="ignore"):
        near_zero = formulas.first(np.array([1e-200]))[0]
    with np.errstate(divide="ignore", over="ignore"):
        at_zero = formulas.value(np.array([0.0]))[0]
    singular = near_zero > 1e10 or at_zero == -np.inf
    assert utility.singular == singular


def test_call_is_float64_without_global_x64() -> None:
    """Issue 2: results are float64 whatever the user's JAX settings (here: x64 off)."""
    assert not jax.config.jax_enable_x64  # type: ignore[attr-defined]
    assert np.asarray(parse_utility("power:0.5")(POSITIVE)).dtype == np.float64


@pytest.mark.parametrize("spec", BUILT_IN_SPECS)
def test_autodiff_derivatives_match_numpy_formulas(spec: str) -> None:
    """U' and U'' by JAX autodiff (the solver's nested jvp sees the same rules) equal the formulas to 1e-12."""
    formulas = numpy_utility(spec)
    utility = parse_utility(spec)
    with float64():
        first = jax.vmap(jax.grad(utility))(jnp.asarray(POSITIVE))
        second = jax.vmap(jax.grad(jax.grad(utility)))(jnp.asarray(POSITIVE))
    np.testing.assert_allclose(np.asarray(first), formulas.first(POSITIVE), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(np.asarray(second), formulas.second(POSITIVE), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("exponent", [-2.0, -1.0, 0.5, 1.0, 2.5])
def test_power_law_derivatives(exponent: float) -> None:
    """power_law's own derivative rule: d/dx = a x^(a-1), d/da = x^a log x, and the limit at x = 0."""
    x = POSITIVE[POSITIVE <= 1.0]
    with float64():
        slope = np.asarray(jax.vmap(jax.grad(power_law), in_axes=(0, None))(jnp.asarray(x), exponent))
        by_exponent = np.asarray(jax.vmap(jax.grad(power_law, argnums=1), in_axes=(0, None))(jnp.asarray(x), exponent))
        at_zero = float(jax.grad(power_law)(0.0, exponent))
    np.testing.assert_allclose(slope, exponent * x ** (exponent - 1.0), rtol=1e-13)
    np.testing.assert_allclose(by_exponent, x**exponent * np.log(x), rtol=1e-13)
    with np.errstate(divide="ignore"):
        expected = exponent * np.float64(0.0) ** (exponent - 1.0) if exponent != 1.0 else 1.0
    assert at_zero == expected


# --- the extended form ---------------------------------------------------------------


@pytest.mark.parametrize("spec", BUILT_IN_SPECS)
def test_extended_equals_u_above_eps(spec: str) -> None:
    """U_ext(x) = U(x) for x >= eps (to rounding), oracle: the NumPy formula."""
    above = WHOLE_LINE[WHOLE_LINE >= DEFAULT_EXTENSION_EPS]
    np.testing.assert_allclose(extended(spec, above), numpy_utility(spec).value(above), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("spec", BUILT_IN_SPECS)
def test_extended_is_continuous_at_eps(spec: str) -> None:
    """|U_ext(eps - h) - U_ext(eps)| -> 0 like h: at h = 1e-9 below eps it is <= 1e-9 * (|U'(eps)| + 1)."""
    eps, h = DEFAULT_EXTENSION_EPS, 1e-9
    left, right = extended(spec, np.array([eps - h, eps]))
    slope = abs(numpy_utility(spec).first(np.array([eps]))[0])
    assert abs(right - left) <= h * (slope + 1.0)


@pytest.mark.parametrize("spec", BUILT_IN_SPECS)
def test_extended_is_increasing_on_the_whole_line(spec: str) -> None:
    """U_ext is strictly increasing on [-2, 2] (a grid of spacing 0.01 through 0 and eps)."""
    grid = np.unique(WHOLE_LINE)
    assert np.all(np.diff(extended(spec, grid)) > 0)


@pytest.mark.parametrize("spec", [spec for spec in BUILT_IN_SPECS if parse_utility(spec).concave])
def test_extended_is_concave_where_u_is(spec: str) -> None:
    """Midpoint inequality U_ext((a+b)/2) >= (U_ext(a) + U_ext(b))/2 for all grid pairs (slack 1e-12)."""
    grid = np.unique(WHOLE_LINE)[::8]
    a, b = np.meshgrid(grid, grid)
    middle = extended(spec, (a + b) / 2)
    average = (extended(spec, a) + extended(spec, b)) / 2
    assert np.all(middle >= average - 1e-12 * (1 + np.abs(average)))


@pytest.mark.parametrize("spec", BUILT_IN_SPECS)
def test_extended_gradient_is_finite_everywhere(spec: str) -> None:
    """jax.grad of U_ext is finite (no NaN from the unused branch) at negative x, at 0 and at eps."""
    utility = parse_utility(spec)
    points = jnp.asarray([-1.0, -1e-3, 0.0, DEFAULT_EXTENSION_EPS / 2, DEFAULT_EXTENSION_EPS, 0.5])
    with float64():
        slopes = np.asarray(jax.vmap(jax.grad(lambda x: utility.extended(x)))(points.astype(jnp.float64)))
    assert np.all(np.isfinite(slopes))
    assert np.all(slopes > 0)


@pytest.mark.parametrize("spec", BUILT_IN_SPECS)
def test_extended_slope_below_eps_is_u_prime_at_eps(spec: str) -> None:
    """Below eps the extension is the tangent at eps: slope U'(eps) (oracle: NumPy derivative)."""
    utility = parse_utility(spec)
    if utility.defined_everywhere:
        pytest.skip("defined on the whole line: its own extension")
    with float64():
        slope = float(jax.grad(lambda x: utility.extended(x))(jnp.asarray(-0.3, dtype=jnp.float64)))
    expected = numpy_utility(spec).first(np.array([DEFAULT_EXTENSION_EPS]))[0]
    assert slope == pytest.approx(expected, rel=1e-12)


@given(eps=st.floats(min_value=1e-3, max_value=0.2), spec=st.sampled_from(BUILT_IN_SPECS))
def test_extended_matches_u_above_any_eps(eps: float, spec: str) -> None:
    """For any eps in [1e-3, 0.2]: U_ext = U on x >= eps and continuous at eps (oracle: NumPy)."""
    x = np.array([eps, eps + 1e-3, 0.5, 1.0])
    with float64():
        values = np.asarray(parse_utility(spec).extended(jnp.asarray(x), eps=eps))
        just_below = float(parse_utility(spec).extended(jnp.asarray(eps - 1e-10), eps=eps))
    np.testing.assert_allclose(values, numpy_utility(spec).value(x), rtol=1e-12, atol=1e-14)
    slope = abs(numpy_utility(spec).first(np.array([eps]))[0])
    assert abs(values[0] - just_below) <= 1e-10 * (slope + 1.0) + 1e-14


# --- custom utilities ----------------------------------------------------------------


@pytest.mark.parametrize("concave", [True, False])
def test_custom_utility_honours_the_concave_flag(concave: bool) -> None:
    """custom(fn, concave=...) keeps the flag, evaluates fn, and is not a built-in spec."""
    utility = custom(lambda x: jnp.sqrt(x) + x, "sqrt-plus-linear", concave=concave)
    assert isinstance(utility, Utility)
    assert utility.concave is concave
    assert utility.spec == "sqrt-plus-linear"
    with float64():
        values = np.asarray(utility(POSITIVE))
    np.testing.assert_allclose(values, np.sqrt(POSITIVE) + POSITIVE, rtol=1e-14)


@pytest.mark.parametrize("bad", ["", "two words", "tab\tname"])
def test_custom_utility_rejects_bad_names(bad: str) -> None:
    """A custom name must be one non-empty token (it is used as a spec in reports)."""
    with pytest.raises(UtilitySpecError):
        custom(jnp.log, bad, concave=True)


def test_custom_utility_rejects_non_callables() -> None:
    """custom() needs a callable U(x)."""
    with pytest.raises(UtilitySpecError):
        custom(3.0, "three")  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["log", "LOG", " log ", "Log"])
def test_spelling_rule_ignores_case_and_surrounding_whitespace(text):
    """One rule for every spelling: ' log' and 'LOG' are both log (before, one passed and one failed)."""
    assert parse_utility(text) == parse_utility("log")


def test_box_cox_is_a_family_spec_with_the_optimum_of_its_member():
    """box-cox:G, one registry record, parses; its limit is that of power/log/neg-power at the same G."""
    from collapse_theory.laws.limits import limit

    assert parse_utility("box-cox:-0.5").family_record is not None
    assert limit("box-cox:-0.5").describe() == limit("neg-power:0.5").describe()
    assert limit("box-cox:0").describe() == "Beta(0.5, 0.5) (arcsine)"
    with pytest.raises(UtilitySpecError, match="G<=1"):
        parse_utility("box-cox:2")


# --- the hand-written derivative rules of the fast formulas -----------------------------------


def test_log_sigmoid_and_its_derivatives_on_the_whole_line() -> None:
    """log-sigmoid:B's formula and its derivative rules against the closed forms, negative arguments too.

    The free ranking losses evaluate U at negative differences; U = log sigmoid(Bx), U' = B sigmoid(-Bx),
    U'' = -B^2 sigmoid(Bx) sigmoid(-Bx), written with ``np.logaddexp`` and exp (oracle), to 1e-13
    relative, including Bx < -33 where ``jax.nn.log_sigmoid``'s U'' rounded to 0.
    """
    beta = 4.0
    x = np.concatenate([np.linspace(-60.0, 60.0, 2401), [0.0, -1e-300, 1e-300]])
    z = beta * x
    sigmoid_minus = np.exp(-np.logaddexp(0.0, z))  # sigmoid(-z)
    sigmoid_plus = np.exp(-np.logaddexp(0.0, -z))
    utility = parse_utility(f"log-sigmoid:{beta}")
    with float64():
        value = np.asarray(utility(jnp.asarray(x)))
        first = np.asarray(jax.vmap(jax.grad(utility))(jnp.asarray(x)))
        second = np.asarray(jax.vmap(jax.grad(jax.grad(utility)))(jnp.asarray(x)))
    np.testing.assert_allclose(value, -np.logaddexp(0.0, -z), rtol=1e-13, atol=0)
    np.testing.assert_allclose(first, beta * sigmoid_minus, rtol=1e-13, atol=0)
    np.testing.assert_allclose(second, -(beta**2) * sigmoid_plus * sigmoid_minus, rtol=1e-13, atol=0)
    assert np.all(second[z < -33.0] < 0.0)


@pytest.mark.parametrize("exponent", [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5])
def test_power_law_values_from_exp_of_log(exponent: float) -> None:
    """power_law = x^a to 1e-14 relative on [1e-8, 2] (exp(a log x) errs by about |a log x| ulp), and 0^a exactly."""
    x = np.concatenate([np.geomspace(1e-8, 1.0, 200), np.linspace(1.0, 2.0, 11)])
    with float64():
        values = np.asarray(power_law(jnp.asarray(x), exponent))
        at_zero = float(power_law(jnp.asarray(0.0), exponent))
    np.testing.assert_allclose(values, x**exponent, rtol=1e-14, atol=0)
    with np.errstate(divide="ignore"):
        assert at_zero == np.float64(0.0) ** exponent
