"""The README's promises: its library column names what the package really exports, and it defines its terms."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import collapse_theory as ct

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _library_names() -> list[str]:
    section = README[README.index("## What is inside") : README.index("Commands are listed")]
    rows = [line for line in section.splitlines() if line.startswith("| `collapse-theory")]
    return [name for row in rows for name in re.findall(r"`([^`]+)`", row.split("|")[2])]


def _resolve(name: str) -> object:
    if "." not in name:
        return getattr(ct, name)
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def test_every_name_of_the_library_column_exists() -> None:
    names = _library_names()
    assert len(names) >= 15 and "explore_loss" not in names and "design" not in names
    for name in names:
        assert _resolve(name) is not None, name
        if "." not in name:
            assert name in ct.__all__, name


def test_the_readme_defines_its_three_terms_and_names_the_docs_extra() -> None:
    for term in ("**Interpolating regime**", "**Collapse score**", "**Certificate**"):
        assert term in README
    assert "pip install -e '.[docs]'" in README
