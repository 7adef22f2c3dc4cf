"""One base for the package's errors, and one subclass per kind of bad input.

Every error class of this package derives from :class:`CollapseTheoryError`, itself a
``ValueError``: ``except collapse_theory.CollapseTheoryError`` catches all of them and
``except ValueError`` keeps working. Each message is one line. The kinds:

.. code-block:: text

    CollapseTheoryError (ValueError)
    +-- SpecError          a utility or loss spec that cannot be read
    |   +-- UtilitySpecError, SpecNumberError
    |   +-- LossSpecError
    |       +-- NoLimitError, LossInfeasibleError
    +-- InputError         a bad argument: n < 2, a tolerance, options that do not go together
    |   +-- SolverInputError, CommandLineError
    +-- MemoryLimitError   a size whose estimated memory exceeds what is available
    +-- DataFileError      a data or score file that does not follow its format
    |   +-- AuditInputError, DatasetError
    +-- TrainingError      a training configuration, run directory or checkpoint that cannot be used
    |   +-- TrainingDivergedError, RunDirectoryBusyError
    +-- EmbedderUnavailable  the optional extra ``text`` is not installed

The named subclasses live beside the code that raises them (``UtilitySpecError`` in
:mod:`collapse_theory.problems.utilities`, and so on). Python's own exceptions that
signal a bug, ``TypeError`` and ``KeyError`` among them, and ``OSError`` for files
that cannot be read or written, stay what they are.

Example:
    >>> from collapse_theory.errors import CollapseTheoryError, SpecError
    >>> issubclass(SpecError, CollapseTheoryError) and issubclass(SpecError, ValueError)
    True
"""

from __future__ import annotations

__all__ = ["CollapseTheoryError", "DataFileError", "InputError", "MemoryLimitError", "SpecError"]


class CollapseTheoryError(ValueError):
    """The base of every error class this package raises for bad input (a ``ValueError``).

    ``except collapse_theory.CollapseTheoryError`` catches them all; ``except ValueError``
    keeps working, since each is a ``ValueError`` too.
    """


class SpecError(CollapseTheoryError):
    """An unknown or malformed utility or loss spec, or a spec parameter out of range."""


class InputError(CollapseTheoryError):
    """A bad argument: a number out of range (n < 2, a tolerance <= 0) or options that do not go together."""


class MemoryLimitError(CollapseTheoryError):
    """A request whose estimated memory exceeds what this machine has available."""


class DataFileError(CollapseTheoryError):
    """A data or score file, or the arrays read from it, that does not follow its format."""
