"""The public namespace: curated, stable after any import, and every module says what it exports."""

from __future__ import annotations

import importlib
import pkgutil
import types

import collapse_theory as ct

_MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(ct.__path__, prefix="collapse_theory.")
    if not any(part.startswith("_") for part in info.name.split("."))
)


def test_names_stay_what_they_are_after_every_module_is_imported():
    """Before: `ct.explore` and `ct.reproduce` turned into modules once their modules were imported."""
    for name in _MODULES:
        importlib.import_module(name)
    for name in ct.__all__:
        value = getattr(ct, name)
        assert not isinstance(value, types.ModuleType), f"collapse_theory.{name} is a module after the imports"
    assert callable(ct.explore) and callable(ct.reproduce) and callable(ct.numerical_limit) and callable(ct.convergence)


def test_every_public_module_declares_what_it_exports():
    """Implementation modules are private (leading underscore) or declare __all__ (command modules excepted)."""
    missing = [
        name
        for name in _MODULES
        if not name.startswith("collapse_theory.commands") and not hasattr(importlib.import_module(name), "__all__")
    ]
    assert missing == []


def test_every_exported_name_exists():
    for name in _MODULES:
        module = importlib.import_module(name)
        for exported in getattr(module, "__all__", ()):
            assert hasattr(module, exported), f"{name}.__all__ names {exported!r}, which it does not define"


def test_every_public_name_is_listed_by_dir() -> None:
    import collapse_theory

    assert set(collapse_theory.__all__) <= set(dir(collapse_theory))
    assert all(getattr(collapse_theory, name) is not None for name in collapse_theory.__all__)
