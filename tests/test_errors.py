"""One error base: every error class of the package is a CollapseTheoryError and a ValueError."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import pydoc
from pathlib import Path
from typing import Any

import pytest

import collapse_theory as ct
from collapse_theory import errors
from collapse_theory._core.checks import check_seed
from collapse_theory.cli import CommandLineError, main
from collapse_theory.commands import losses
from collapse_theory.problems.losses import parse_loss

# Error classes of the package that are not CollapseTheoryErrors, each with the reason (none today).
_NOT_ON_THE_BASE: dict[str, str] = {}


def _error_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in the package, private modules included, by qualified name."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(ct.__path__, prefix="collapse_theory."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("collapse_theory"):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


_ERROR_CLASSES = _error_classes()


def test_the_walk_finds_the_package_errors() -> None:
    names = {cls.__name__ for cls in _ERROR_CLASSES.values()}
    assert {"UtilitySpecError", "LossSpecError", "MemoryLimitError", "TrainingError", "CommandLineError"} <= names


@pytest.mark.parametrize("name", sorted(_ERROR_CLASSES))
def test_every_error_class_is_a_collapse_theory_error_and_a_value_error(name: str) -> None:
    error = _ERROR_CLASSES[name]
    if name in _NOT_ON_THE_BASE:
        pytest.skip(_NOT_ON_THE_BASE[name])
    assert issubclass(error, ct.CollapseTheoryError)
    assert issubclass(error, ValueError)


def _qualified(module: str, name: str) -> Any:
    return getattr(importlib.import_module(f"collapse_theory.{module}"), name)


@pytest.mark.parametrize(
    ("module", "name", "kind"),
    [
        ("problems.utilities", "UtilitySpecError", errors.SpecError),
        ("_core.spec_numbers", "SpecNumberError", errors.SpecError),
        ("problems.losses", "LossSpecError", errors.SpecError),
        ("laws.loss_laws", "NoLimitError", _qualified("problems.losses", "LossSpecError")),
        ("solver.loss_solver", "LossInfeasibleError", _qualified("problems.losses", "LossSpecError")),
        ("solver.utility_solver", "SolverInputError", errors.InputError),
        ("cli", "CommandLineError", errors.InputError),
        ("_core.checks", "MemoryLimitError", errors.MemoryLimitError),
        ("auditing.score_files", "AuditInputError", errors.DataFileError),
        ("training.data", "DatasetError", errors.DataFileError),
        ("training.config", "TrainingError", errors.CollapseTheoryError),
        ("training.trainer", "TrainingDivergedError", _qualified("training.config", "TrainingError")),
        ("training.run_directory", "RunDirectoryBusyError", _qualified("training.config", "TrainingError")),
        ("training.embedder", "EmbedderUnavailable", errors.CollapseTheoryError),
    ],
)
def test_each_error_keeps_its_import_path_and_sits_under_its_kind(module: str, name: str, kind: type) -> None:
    """The hierarchy the module docstring of collapse_theory.errors draws."""
    assert issubclass(_qualified(module, name), kind)


def test_the_memory_error_is_one_class_under_both_paths() -> None:
    assert _qualified("_core.checks", "MemoryLimitError") is errors.MemoryLimitError


def test_errors_imports_nothing_from_the_package() -> None:
    """collapse_theory.errors sits at the bottom of the import graph."""
    tree = ast.parse(Path(errors.__file__).read_text(encoding="utf-8"))
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [name for name in imported if name and name.split(".")[0] == "collapse_theory"]


@pytest.mark.parametrize(
    "call",
    [
        lambda: ct.solve("nonsense", 8),
        lambda: ct.solve("log", 1),
        lambda: ct.solve("log", 8, tol=-1.0),
        lambda: parse_loss("log+ipo:1"),
        lambda: parse_loss("log-sigmoid:1+l2:-1"),
        lambda: parse_loss("log-sigmoid:nan"),
        lambda: check_seed(-1),
    ],
    ids=["unknown-utility", "n-below-2", "bad-tol", "two-objectives", "bad-l2", "nan-parameter", "bad-seed"],
)
def test_bad_inputs_raise_the_base(call: Any) -> None:
    with pytest.raises(ct.CollapseTheoryError):
        call()


def test_a_size_that_cannot_fit_raises_the_base(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused before any allocation: the estimate is compared with a 1 GiB limit."""
    monkeypatch.setenv("COLLAPSE_THEORY_MEMORY_LIMIT", str(2**30))
    with pytest.raises(ct.CollapseTheoryError, match="largest n that fits is"):
        ct.solve("log", 10**9)


def test_the_command_line_reports_the_base_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(arguments: object) -> int:
        raise CommandLineError("refused for a test\nsecond line")

    monkeypatch.setattr(losses, "run_losses", refuse)
    assert main(["losses"]) == 2
    assert capsys.readouterr().err == "collapse-theory: error: refused for a test\n"


def test_the_command_line_lets_a_bug_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only input errors become one line; a KeyError is a bug and keeps its traceback."""

    def broken(arguments: object) -> int:
        raise KeyError("bug")

    monkeypatch.setattr(losses, "run_losses", broken)
    with pytest.raises(KeyError):
        main(["losses"])


def test_help_names_the_base() -> None:
    assert "CollapseTheoryError" in dir(ct)
    assert "CollapseTheoryError" in pydoc.render_doc(ct, renderer=pydoc.plaintext)


# Modules that may still raise a plain ValueError: each one only for an internal invariant or a
# signal caught a few lines below, never for bad input (which raises a kind of CollapseTheoryError).
_PLAIN_VALUE_ERROR_ALLOWED: dict[str, str] = {
    # Solution.__post_init__: a result the solver built with inconsistent fields is a bug
    "collapse_theory.solver.solution": "a Solution's fields must agree with its status",
    # Checkpoint reading: a bare ValueError caught at once and reported as a TrainingError
    "collapse_theory.training.run_directory": "a damaged checkpoint, re-raised as TrainingError",
}


def _raises_plain_value_error(tree: ast.AST) -> bool:
    """Whether the module has ``raise ValueError(...)`` or a bare ``raise ValueError``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(raised, ast.Name) and raised.id == "ValueError":
                return True
    return False


def test_bad_input_raises_a_kind_not_a_plain_value_error() -> None:
    """A new bad-input error must use a kind (InputError, SpecError, DataFileError, ...), not ValueError."""
    root = Path(ct.__file__).parent
    found = set()
    for path in sorted(root.rglob("*.py")):
        if _raises_plain_value_error(ast.parse(path.read_text(encoding="utf-8"))):
            found.add(".".join(("collapse_theory", *path.relative_to(root).with_suffix("").parts)))
    assert found == set(_PLAIN_VALUE_ERROR_ALLOWED)
