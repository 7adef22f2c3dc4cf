"""Argument types and checks every subcommand shares.

argparse types (``completions``, ``utility_spec``, ``seed``) turn a bad value into
one line and exit code 2 while the command line is parsed, before any work. A spec
is parsed once, here: ``utility_spec`` and ``loss_spec`` return the
:class:`~collapse_theory.problems.utilities.Utility` or
:class:`~collapse_theory.problems.losses.Loss` the command hands on, and its
``.spec`` is what the command shows. Numbers
are read in plain ASCII decimal notation only, exactly as typed
(:mod:`collapse_theory._core.spec_numbers`). The
output checks (``check_output_file``, ``check_output_directory``) look at the file
system without writing to it, so a command refuses an output it could never write
before it computes anything, instead of failing at the end and losing the work.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from collapse_theory._core.checks import check_seed
from collapse_theory._core.spec_numbers import SpecNumberError, read_number
from collapse_theory.errors import InputError
from collapse_theory.problems.losses import Loss, parse_loss
from collapse_theory.problems.utilities import Utility, parse_utility
from collapse_theory.solver.utility_solver import check_n

#: An integer in ASCII digits (``int`` alone would take other scripts' digits and ``1_000``).
_INTEGER = re.compile(r"[+-]?[0-9]+")
_ASCII_SPACE = " \t\n\r\f\v"


def completions(text: str) -> int:
    """argparse type for n: an integer >= 2, with a one-line message otherwise.

    Example:
        >>> completions("8"), completions("1e3")
        (8, 1000)
    """
    message = f"n must be an integer >= 2, got {text!r}"
    if _INTEGER.fullmatch(text.strip(_ASCII_SPACE)):
        exact = int(text)  # every digit of a long integer
    else:
        try:
            number = read_number(text)  # forms like 1e3, read exactly
        except SpecNumberError:
            raise argparse.ArgumentTypeError(message) from None
        if number.exact.denominator != 1:
            raise argparse.ArgumentTypeError(message) from None
        exact = int(number.exact)
    try:
        return check_n(exact)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def utility_spec(text: str) -> Utility:
    """argparse type for a utility spec: parsed here, once; the command passes the :class:`Utility` on.

    Example:
        >>> utility_spec("power:0.50").spec
        'power:0.5'
    """
    try:
        return parse_utility(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def loss_spec(text: str) -> Loss:
    """argparse type for a ranking-loss spec (``log-sigmoid:1+free+l2:0.001``, a preset): parsed here, once.

    Example:
        >>> loss_spec("bradley-terry").spec
        'log-sigmoid:1+free'
    """
    try:
        return parse_loss(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def named_loss_spec(text: str) -> str:
    """argparse type for a ranking-loss spec kept as the user wrote it (validated; for legends and titles).

    Example:
        >>> named_loss_spec(" oasst ")
        'oasst'
    """
    loss_spec(text)
    return text.strip()


def integer(minimum: int, what: str) -> Callable[[str], int]:
    """argparse type for an integer >= ``minimum``, named ``what`` in its one-line error.

    Example:
        >>> integer(1, "steps")("20")
        20
    """

    def parse(text: str) -> int:
        if not _INTEGER.fullmatch(text.strip(_ASCII_SPACE)):
            raise argparse.ArgumentTypeError(f"{what} must be an integer >= {minimum}, got {text!r}")
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{what} must be an integer >= {minimum}, got {text!r}")
        return value

    return parse


def number(what: str, lower: float, upper: float, upper_open: bool, lower_open: bool = False) -> Callable[[str], float]:
    """argparse type for a finite number in an interval, named ``what`` in its one-line error.

    Example:
        >>> number("alpha", 0.0, 1.0, upper_open=True, lower_open=True)("0.01")
        0.01
    """
    interval = f"{'(' if lower_open else '['}{lower:g}, {upper:g}{')' if upper_open else ']'}"

    def parse(text: str) -> float:
        try:
            number = read_number(text)
        except SpecNumberError:
            raise argparse.ArgumentTypeError(f"{what} must be a number in {interval}, got {text!r}") from None
        # the exact value typed and its float64 must both be inside (a decimal can round onto an open end)
        smallest = min(Fraction(number.value), number.exact)
        largest = max(Fraction(number.value), number.exact)
        too_low = smallest <= lower if lower_open else smallest < lower
        too_high = largest >= upper if upper_open else largest > upper
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"{what} must be a number in {interval}, got {text!r}")
        return number.value

    return parse


def seed(text: str) -> int:
    """argparse type for a seed: an integer in [0, 2**32 - 1] (:func:`collapse_theory._core.checks.check_seed`).

    Example:
        >>> seed("7")
        7
    """
    try:
        return check_seed(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (a relative path ends at the working folder)."""
    candidate = path
    while not candidate.exists() and not candidate.is_symlink():
        parent = candidate.parent
        if parent == candidate:
            break
        candidate = parent
    return candidate


def _check_creatable_folder(folder: Path, option: str, target: Path) -> None:
    """``folder`` exists as a writable folder, or can be made inside one (``target`` names the output)."""
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise InputError(f"{option}: cannot create {target}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option}: cannot write in {existing} (permission denied)")


def check_output_file(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Refuse an output file that could not be written, without writing anything.

    The target must not be a folder, and its folder must exist as a writable folder
    or be creatable (every existing ancestor a folder, the nearest one writable).
    Files are written atomically (a temporary beside the target, then a rename),
    so only the folder's permissions matter, not the old file's.

    Raises:
        ValueError: one line naming the option and the problem.
    """
    target = Path(path)
    if not str(path).strip():
        raise InputError(f"{option}: the path is empty")
    if target.is_dir():
        raise InputError(f"{option}: {target} is a folder, not a file")
    _check_creatable_folder(target.parent, option, target)
    return target


def check_output_directory(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Refuse an output folder that could not be created or written, without creating it.

    Raises:
        ValueError: one line naming the option and the problem.
    """
    folder = Path(path)
    if not str(path).strip():
        raise InputError(f"{option}: the path is empty")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{option}: {folder} is a file, not a folder")
    _check_creatable_folder(folder, option, folder)
    return folder
