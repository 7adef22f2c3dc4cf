"""Sphinx configuration of the API reference (built by .ci/run with warnings as errors)."""

from __future__ import annotations

import importlib.metadata

project = "collapse_theory"
author = "the collapse_theory developers"
release = importlib.metadata.version("collapse_theory")
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# "Attributes:" as :ivar: fields: dataclass and NamedTuple fields are documented once
napoleon_use_ivar = True
# the reference is read offline: MathJax is named, not fetched, at build time
html_theme = "alabaster"
exclude_patterns = ["_build"]
nitpicky = False
suppress_warnings = ["ref.python"]
