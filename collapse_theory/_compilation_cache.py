"""JAX's persistent compilation cache for the command line (and, on request, for notebooks).

Every new (utility family, padded n) costs the solver an XLA compilation of seconds, which
dominates a short command: without a cache, ``collapse-theory solve --utility log --n 8`` pays
it in every process. With the cache, a repeated call loads the compiled program from disk.

The cache lives in the user's cache directory, ``$XDG_CACHE_HOME/collapse_theory/jax-compilation``
(``~/.cache/...`` when ``XDG_CACHE_HOME`` is unset). ``COLLAPSE_THEORY_COMPILATION_CACHE=off``
turns it off; a ``JAX_COMPILATION_CACHE_DIR`` the user already set wins. Entries are keyed by
the compiled program, its compiler options and the JAX version, so a changed library never
meets a stale entry.

Beside it, ``.../collapse_theory/jax-exported`` keeps the solver's traced programs
(:mod:`collapse_theory._exported_programs`), so that a repeated command also skips tracing
the solver in Python; ``COLLAPSE_THEORY_PROGRAM_CACHE=off`` turns that part off alone.

The library itself never switches either on at import (the compilation cache is JAX's
global configuration, the user's to set); the CLI does, and notebooks can call
:func:`enable_compilation_cache`.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_directory", "enable_compilation_cache", "program_directory"]

#: Programs compiling faster than this are not written (JAX's default is 1 s; the solver's
#: small programs take 0.2 to 1 s each and a command runs several).
MIN_COMPILE_SECONDS = 0.1

_OFF = ("off", "0", "no", "false")


def _off(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() in _OFF


def _root() -> Path:
    """This package's folder in the user's cache directory (``XDG_CACHE_HOME`` honoured)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "collapse_theory"


def cache_directory() -> Path | None:
    """Where the cache lives, or None when ``COLLAPSE_THEORY_COMPILATION_CACHE`` turns it off."""
    if _off("COLLAPSE_THEORY_COMPILATION_CACHE"):
        return None
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    return _root() / "jax-compilation"


def program_directory() -> Path | None:
    """Where the exported programs live, or None when one of the two variables turns them off."""
    if _off("COLLAPSE_THEORY_COMPILATION_CACHE") or _off("COLLAPSE_THEORY_PROGRAM_CACHE"):
        return None
    return _root() / "jax-exported"


def enable_compilation_cache() -> Path | None:
    """Switch JAX's persistent compilation cache on in :func:`cache_directory`; return it (None: off).

    The store of exported programs is switched on with it (in :func:`program_directory`).
    A directory that cannot be created leaves the cache off: the cache only saves time.
    """
    from collapse_theory import _exported_programs

    directory = cache_directory()
    if directory is None:
        _exported_programs.enable(None)
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        _exported_programs.enable(None)
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    _exported_programs.enable(program_directory())
    return directory
