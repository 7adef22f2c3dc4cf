"""The API reference covers the package: every public name and every public module has its entry.

The sources in ``docs/api`` are read as text; Sphinx itself is not run here (CI builds the
reference with warnings as errors). A directive is *canonical* unless it carries ``:no-index:``.
"""

from __future__ import annotations

import pkgutil
import re
from collections import Counter
from pathlib import Path

import collapse_theory as ct

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs" / "api").glob("*.rst"))

_DIRECTIVE = re.compile(r"^\.\. (auto\w+|py:\w+):: (collapse_theory(?:\.\w+)*)\s*$")
_OPTION = re.compile(r"^\s+:([\w-]+):")


def _raise(name: str) -> None:
    raise ImportError(f"cannot import {name}")


def _public_modules() -> set[str]:
    found = {info.name for info in pkgutil.walk_packages(ct.__path__, prefix="collapse_theory.", onerror=_raise)}
    return {"collapse_theory"} | {name for name in found if not any(part.startswith("_") for part in name.split("."))}


def _directives() -> list[tuple[str, str, str, bool]]:
    """(page, directive, target, canonical) for every directive on a ``collapse_theory`` object."""
    found = []
    for page in PAGES:
        lines = page.read_text().splitlines()
        for index, line in enumerate(lines):
            match = _DIRECTIVE.match(line)
            if match is None:
                continue
            options = []
            for following in lines[index + 1 :]:
                option = _OPTION.match(following)
                if option is None:
                    break
                options.append(option.group(1))
            found.append((page.name, match.group(1), match.group(2), "no-index" not in options))
    return found


def test_the_reference_has_a_page_per_topic() -> None:
    names = {page.stem for page in PAGES}
    topics = {"problems", "solver", "laws", "design", "exploration", "training", "auditing", "reproduction", "cli"}
    assert topics <= names and "modules" not in names
    index = (ROOT / "docs" / "api" / "index.rst").read_text()
    for name in names - {"index"}:
        assert re.search(rf"^   {name}$", index, flags=re.M), f"{name}.rst is not in the index's table of contents"


def test_every_public_name_has_exactly_one_canonical_entry() -> None:
    entries = [
        (target.removeprefix("collapse_theory."), canonical)
        for _, kind, target, canonical in _directives()
        if kind != "automodule"
    ]
    top_level = [(name, canonical) for name, canonical in entries if "." not in name]
    documented = {name for name, _ in top_level}
    canonical = Counter(name for name, is_canonical in top_level if is_canonical)
    assert sorted(set(ct.__all__) - documented) == [], "public names missing from docs/api"
    assert sorted(documented - set(ct.__all__)) == [], "docs/api documents names collapse_theory no longer exports"
    assert {name: count for name, count in canonical.items() if count != 1} == {}
    assert sorted(set(ct.__all__) - set(canonical)) == [], "public names documented only with :no-index:"


def test_every_public_module_has_exactly_one_automodule_entry() -> None:
    modules = Counter(target for _, kind, target, canonical in _directives() if kind == "automodule" and canonical)
    public = _public_modules()
    assert sorted(public - set(modules)) == [], "public modules missing from docs/api"
    assert sorted(set(modules) - public) == [], "docs/api documents private or missing modules"
    assert {name: count for name, count in modules.items() if count != 1} == {}


def test_each_topic_page_says_what_it_is_for_before_its_entries() -> None:
    for page in PAGES:
        text = page.read_text()
        title_end = re.search(r"^=+$", text, flags=re.M)
        assert title_end is not None, page.name
        intro = text[title_end.end() : text.index("\n.. ")]
        assert intro.count(". ") + intro.count(".\n") >= 2, f"{page.name} has no introduction"


def test_the_readme_names_what_builds_the_reference() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "pip install -e '.[docs]'" in readme
    assert "sphinx-build -E -q -W --keep-going -b html docs/api runs/api-reference" in readme
