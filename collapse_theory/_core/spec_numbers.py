"""The numbers inside spec strings: read exactly, carried as the float typed, written back exactly.

A parameter such as the ``0.00123456789`` of ``l2:0.00123456789`` is read in one syntax,
plain ASCII decimal notation,

.. math::

    [+-]?\\,(d+[.d*] \\mid .d+)\\,([eE][+-]?d+)?, \\qquad d \\in \\{0, \\dots, 9\\},

and nothing else: no other script's digits (``١``), no full-width forms (``０.５``), no
underscores (``1_000``), no ``nan`` or ``inf``. It is carried as the nearest float64 x
(what ``float`` gives: correctly rounded), and written back by :func:`format_number`
with the shortest digits that read back as exactly x (``repr``), so a canonical spec
parses to the same numbers however often it travels between layers. Ranges are checked
on the exact decimal value (a :class:`~fractions.Fraction`) as well as on x, so
``power:0.99999999999999999999`` (below 1, but 1.0 in float64) is refused with the
reason rather than solved as ``power:1``. A nonzero number whose float64 is 0 or
subnormal (``1e-400``), or infinite (``1e400``), is refused: it is not the number typed.

Example:
    >>> number = read_number("0.00123456789")
    >>> number.value, format_number(number.value)
    (0.00123456789, '0.00123456789')
    >>> format_number(1e300), format_number(4.0)
    ('1e+300', '4')
    >>> read_number("1e-400")
    Traceback (most recent call last):
    ...
    collapse_theory._core.spec_numbers.SpecNumberError: '1e-400' underflows float64 (nonzero, but below 2.2e-308 in magnitude)
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from fractions import Fraction

from collapse_theory.errors import SpecError

__all__ = ["SpecNumber", "SpecNumberError", "format_number", "read_number"]

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_ASCII_SPACE = " \t\n\r\f\v"

#: The longest number text read: far more digits than float64 resolves (17), and short
#: enough that the exact fraction stays small (Python refuses integers of 4,300 digits).
MAX_NUMBER_CHARACTERS = 1000

#: Integers below this magnitude are written without a decimal point or exponent (``4``,
#: ``-20``); every such float64 is an integer that ``str(int(x))`` writes exactly.
_INTEGER_DIGITS_BELOW = 1e16


class SpecNumberError(SpecError):
    """A spec parameter that is not a plain finite decimal number representable in float64."""


@dataclass(frozen=True)
class SpecNumber:
    """A number read from a spec.

    Attributes:
        text: what was typed (surrounding whitespace removed).
        value: the nearest float64, the number the library computes with.
        exact: the decimal value typed, exactly (for range checks).
    """

    text: str
    value: float
    exact: Fraction


def read_number(text: str) -> SpecNumber:
    """Read one spec parameter: ASCII decimal syntax, finite and normal in float64.

    Raises:
        SpecNumberError: one line naming the text and what is wrong with it.

    Example:
        >>> read_number(" 2.5e-3 ").value
        0.0025
        >>> read_number("1_000")
        Traceback (most recent call last):
        ...
        collapse_theory._core.spec_numbers.SpecNumberError: '1_000' is not a number (plain ASCII decimal notation, e.g. 0.5 or 1e-3)
    """
    stripped = text.strip(_ASCII_SPACE)
    if len(stripped) > MAX_NUMBER_CHARACTERS:
        raise SpecNumberError(f"a number of {len(stripped)} characters is too long (at most {MAX_NUMBER_CHARACTERS})")
    if _NOT_FINITE.fullmatch(stripped):
        raise SpecNumberError(f"{stripped!r} is out of range: not a finite number")
    if not _DECIMAL.fullmatch(stripped):
        raise SpecNumberError(f"{stripped!r} is not a number (plain ASCII decimal notation, e.g. 0.5 or 1e-3)")
    value = float(stripped)
    mantissa = re.split("[eE]", stripped, maxsplit=1)[0]
    if value == 0.0:
        if mantissa.strip("+-.0"):
            raise SpecNumberError(f"{stripped!r} underflows float64 (nonzero, but below {sys.float_info.min:.2g} in magnitude)")
        # an exact zero: Fraction(stripped) would build 10^exponent, unbounded for "0e999999999"
        return SpecNumber(stripped, value, Fraction(0))
    if value in (float("inf"), float("-inf")):
        raise SpecNumberError(f"{stripped!r} overflows float64 (above {sys.float_info.max:.2g} in magnitude)")
    if abs(value) < sys.float_info.min:
        # a subnormal float64 keeps fewer than 53 bits: not the number typed
        raise SpecNumberError(f"{stripped!r} underflows float64 (nonzero, but below {sys.float_info.min:.2g} in magnitude)")
    # the value is a normal float64, so the decimal exponent is bounded by about 308 plus the
    # number of digits typed, and the exact fraction is cheap to build
    return SpecNumber(stripped, value, Fraction(stripped))


def format_number(value: float) -> str:
    """The canonical text of a parameter: it reads back as exactly ``value``.

    Integers below 10^16 in magnitude are written as integers (``4``), every other
    number with the shortest digits that round-trip (``repr``: ``0.1``, ``1e-05``,
    ``1e+300``), never as hundreds of digits.

    Example:
        >>> [format_number(v) for v in (0.5, 1.0, -20.0, 1e-5, 123456789.125, 1e16)]
        ['0.5', '1', '-20', '1e-05', '123456789.125', '1e+16']
    """
    value = float(value)
    if value.is_integer() and abs(value) < _INTEGER_DIGITS_BELOW:
        return str(int(value))
    return repr(value)
