"""The ``collapse-theory`` command line: argument parsing and printing only.

Each subcommand lives in its own module under :mod:`collapse_theory.commands`
and exposes ``register(subparsers)``; this module finds them, parses, and turns
every input error into one line on stderr and exit code 2 (no traceback).

Input errors are :class:`~collapse_theory.errors.CollapseTheoryError` (bad specs, bad
arguments, sizes refused by the memory check, malformed files), any other ``ValueError``,
and ``OSError`` (files that cannot be read or written). Anything else, ``KeyError`` and
``TypeError`` included, is a bug in this package and surfaces as a traceback with exit
code 1, so it gets reported instead of being mistaken for the user's fault.

Warnings (Python's ``warnings``: NumPy's overflow RuntimeWarnings, JAX's note on a damaged
compilation-cache entry, the library's own) are printed as one line each, once per message,
``collapse-theory: warning: ...``, instead of Python's two lines with a source excerpt.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from collapse_theory import commands
from collapse_theory._core.compilation_cache import cache_directory, enable_compilation_cache
from collapse_theory._core.version import __version__
from collapse_theory.errors import CollapseTheoryError, InputError

__all__ = ["COMMAND_ORDER", "PROGRAM", "CommandLineError", "build_parser", "main"]

PROGRAM = "collapse-theory"

#: The subcommands in the order of the workflow (the order of ``--help``); commands
#: not listed here follow, by name.
COMMAND_ORDER = ("solve", "losses", "limit", "converge", "explore", "design", "make-data", "train", "audit", "reproduce")


class CommandLineError(InputError):
    """A user error detected by a command (reported as one line, exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _command_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))


def _rank(name: str) -> tuple[int, str]:
    return (COMMAND_ORDER.index(name), "") if name in COMMAND_ORDER else (len(COMMAND_ORDER), name)


#: The module of each command that lives in a module of another name.
_COMMAND_MODULE = {"limit": "solve", "make-data": "train"}


def _module_of(argv: Sequence[str]) -> str | None:
    """The one command module a command line needs (None: load all, for help or an unknown command).

    Importing every command module loads what each needs (the trainer, matplotlib, the
    audit): a quarter of a short command's time. A command line naming a known command
    loads only that command's module, and ``--version`` none (``""``).
    """
    if argv and argv[0] == "--version":
        return ""
    if not argv or argv[0].startswith("-"):
        return None
    module = _COMMAND_MODULE.get(argv[0], argv[0])
    return module if module in _command_modules() else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every registered subcommand in workflow order (or only module ``only``'s; ``""``: none)."""
    parser = _Parser(
        prog=PROGRAM,
        description="The numerical theory of reward collapse (Song, Cai, Lee, Su, arXiv 2305.17608).",
    )
    parser.add_argument("--version", action="version", version=f"{PROGRAM} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in _command_modules() if only is None else [only] if only else []:
        importlib.import_module(f"{commands.__name__}.{name}").register(subparsers)
    # argparse lists subcommands in the order they were added, and one module may add
    # several (train.py adds train, then make-data); its help reads this one list, so it
    # is put in workflow order here (a private attribute, unchanged since Python 2.7)
    listed = getattr(subparsers, "_choices_actions", None)
    if isinstance(listed, list):
        listed.sort(key=lambda action: _rank(action.dest))
    return parser


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.strerror}: {error.filename}"
    return text.splitlines()[0] if text else type(error).__name__


#: JAX's warnings on its persistent compilation cache start so (jax/_src/compiler.py): the
#: entry is skipped and the program compiled again, so the answer is unaffected.
_CACHE_WARNINGS = ("Error reading persistent compilation cache entry", "Error writing persistent compilation cache entry")


def _warning_line(message: Warning | str, category: type[Warning], filename: str) -> str:
    """The one line a warning is printed as (without the program's prefix)."""
    lines = str(message).strip().splitlines()
    text = lines[0] if lines else category.__name__
    if text.startswith(_CACHE_WARNINGS):
        folder = cache_directory()
        where = f" (delete {folder} to clear the cache)" if folder is not None else ""
        return f"a damaged compilation-cache entry was skipped and its program compiled again{where}: {text}"
    if text.startswith("warning: "):  # the library's own messages may carry the word already
        text = text[len("warning: ") :]
    return f"{text} ({category.__name__}, {Path(filename).name})"


def _one_line_warnings() -> Any:
    """A ``warnings.showwarning`` that prints each distinct warning once, as one line on stderr."""
    shown: set[str] = set()

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = _warning_line(message, category, filename)
        if text not in shown:
            shown.add(text)
            print(f"{PROGRAM}: warning: {text}", file=sys.stderr if file is None else file)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``collapse-theory`` console script; returns the exit code."""
    with warnings.catch_warnings():  # restores the caller's warning display (tests call main in-process)
        warnings.showwarning = _one_line_warnings()
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_module_of(argv))
    arguments = parser.parse_args(argv)
    # compiled programs are reused across processes (COLLAPSE_THEORY_COMPILATION_CACHE=off: not)
    enable_compilation_cache()
    try:
        return int(arguments.handler(arguments) or 0)
    # input errors only (CollapseTheoryError is a ValueError, named for the reader); any other exception is a bug
    except (CollapseTheoryError, ValueError, OSError) as error:
        print(f"{PROGRAM}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
