"""Test configuration: deterministic hypothesis, and an opt-in exhaustive oracle sweep.

* Hypothesis runs derandomized (the same examples on every run and machine), with
  a modest number of examples and no deadline: the first example of a property
  pays for a JAX compilation, which a deadline would misread as slowness.
* ``pytest --exhaustive`` widens the Gauss-Lobatto oracle of ``test_solver.py`` from
  a dense sample to every n from 2 to 2000 (issue 2, item 3); it takes far longer
  than the default suite's budget and is meant for a quiet machine.

* JAX's persistent compilation cache is switched on (for this process and the
  console-script subprocesses) in ``~/.cache/collapse_theory/jax-compilation``
  (or ``$XDG_CACHE_HOME/...``): every new (utility family, padded n) costs the
  solver a 5-25 s XLA compilation, which dominates the suite's time; a cache hit
  costs about 2 s. Entries are keyed by the compiled program, so a changed solver
  never meets a stale entry. A ``JAX_COMPILATION_CACHE_DIR`` already set wins;
  ``COLLAPSE_THEORY_TEST_JAX_CACHE=off`` switches the cache off (cold timings).
  A test that runs the CLI in this process also switches on, for the rest of the
  session, the CLI's store of traced programs (``collapse_theory._core.exported_programs``,
  which gives the same answers; ``test_compilation_cache.py`` checks that).

JAX's global ``jax_enable_x64`` flag is deliberately left off: the library must
produce float64 by itself (``test_solver.py`` checks that the flag stays off).
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import pytest
from hypothesis import HealthCheck, settings


def _compilation_cache() -> str | None:
    if os.environ.get("COLLAPSE_THEORY_TEST_JAX_CACHE", "").lower() in ("off", "0", "no", "false"):
        return None
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return str(base / "collapse_theory" / "jax-compilation")


_CACHE = _compilation_cache()
if _CACHE is not None:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE  # inherited by the console-script subprocesses
    jax.config.update("jax_compilation_cache_dir", _CACHE)

settings.register_profile(
    "collapse_theory",
    derandomize=True,
    max_examples=12,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("collapse_theory")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--exhaustive``: every n from 2 to 2000 in the Gauss-Lobatto oracle test."""
    parser.addoption(
        "--exhaustive",
        action="store_true",
        default=False,
        help="check the log oracle at every n in 2..2000 (slow; default: a dense sample)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers used by the suite."""
    config.addinivalue_line("markers", "exhaustive: runs only with --exhaustive (every n from 2 to 2000)")
    config.addinivalue_line(
        "markers", "slow: end-to-end runs of a minute or more (the quick reproduction); `pytest -m slow` runs them"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of the quick reproduction slow; skip the exhaustive sweep unless ``--exhaustive``."""
    for item in items:
        # every test on the quick run shares its module fixture (a full `reproduce --quick`)
        if "quick_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
    if config.getoption("--exhaustive"):
        return
    skip = pytest.mark.skip(reason="needs --exhaustive (every n from 2 to 2000; slow)")
    for item in items:
        if "exhaustive" in item.keywords:
            item.add_marker(skip)
