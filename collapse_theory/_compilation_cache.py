"""JAX's persistent compilation cache for the command line (and, on request, for notebooks).

Every new (utility family, padded n) costs the solver an XLA compilation of seconds, which
dominates a short command: without a cache, ``collapse-theory solve --utility log --n 8`` pays
it in every process. With the cache, a repeated call loads the compiled program from disk.

The cache lives in the user's cache directory, ``$XDG_CACHE_HOME/collapse_theory/jax-compilation``
(``~/.cache/...`` when ``XDG_CACHE_HOME`` is unset). ``COLLAPSE_THEORY_COMPILATION_CACHE=off``
turns it off; a ``JAX_COMPILATION_CACHE_DIR`` the user already set wins. Entries are keyed by
the compiled program, its compiler options and the JAX version, so a changed library never
meets a stale entry. The library itself never switches the cache on at import (it is JAX's
global configuration, the user's to set); the CLI does, and notebooks can call
:func:`enable_compilation_cache`.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_directory", "enable_compilation_cache"]

#: Programs compiling faster than this are not written (JAX's default is 1 s; the solver's
#: small programs take 0.2 to 1 s each and a command runs several).
MIN_COMPILE_SECONDS = 0.1

_OFF = ("off", "0", "no", "false")


def cache_directory() -> Path | None:
    """Where the cache lives, or None when ``COLLAPSE_THEORY_COMPILATION_CACHE`` turns it off."""
    if os.environ.get("COLLAPSE_THEORY_COMPILATION_CACHE", "").strip().lower() in _OFF:
        return None
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "collapse_theory" / "jax-compilation"


def enable_compilation_cache() -> Path | None:
    """Switch JAX's persistent compilation cache on in :func:`cache_directory`; return it (None: off).

    A directory that cannot be created leaves the cache off: the cache only saves time.
    """
    directory = cache_directory()
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return directory
