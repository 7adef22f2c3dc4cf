"""The public namespace: curated, stable after any import, and every module says what it exports."""

from __future__ import annotations

import importlib
import pkgutil
import types

import numpy as np
import pytest

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


def test_help_lists_every_public_name() -> None:
    """help(collapse_theory) shows every exported name, the lazily loaded ones included (and the version)."""
    import pydoc
    import re

    import collapse_theory

    text = pydoc.render_doc(collapse_theory, renderer=pydoc.plaintext)
    names = [name for name in collapse_theory.__all__ if name != "__version__"]
    assert [name for name in names if not re.search(rf"\b{re.escape(name)}\b", text)] == []
    assert f"VERSION\n    {collapse_theory.__version__}" in text


def test_the_loss_only_twins_are_deprecated_aliases() -> None:
    """solve_loss and loss_limit still answer as before, with a DeprecationWarning naming what replaces them."""
    import collapse_theory as ct

    with pytest.warns(DeprecationWarning, match="collapse_theory.solve,"):
        solve_loss = ct.solve_loss
    with pytest.warns(DeprecationWarning, match="collapse_theory.limit,"):
        loss_limit = ct.loss_limit
    old, new = solve_loss("open-assistant", 4), ct.solve("open-assistant", 4)
    assert old.status is new.status and old.loss == new.loss
    np.testing.assert_array_equal(old.rewards, new.rewards)
    assert loss_limit("plackett-luce:1").describe() == ct.limit("plackett-luce:1").describe()
    assert "solve_loss" not in ct.__all__ and "loss_limit" not in ct.__all__
