"""JAX's persistent compilation cache for the command line (and, on request, for notebooks).

Every new (utility family, padded n) costs the solver an XLA compilation of seconds, which
dominates a short command: without a cache, ``collapse-theory solve --utility log --n 8`` pays
it in every process. With the cache, a repeated call loads the compiled program from disk.

The cache lives in the user's cache directory, ``$XDG_CACHE_HOME/collapse_theory/jax-compilation``
(``~/.cache/...`` when ``XDG_CACHE_HOME`` is unset). ``COLLAPSE_THEORY_COMPILATION_CACHE=off``
turns it off; a ``JAX_COMPILATION_CACHE_DIR`` the user already set wins. Entries are keyed by
the compiled program, its compiler options and the JAX version, so a changed library never
meets a stale entry.

JAX's own file store trusts a file's name: an entry renamed or copied over another of the
same signature would run the other program (a wrong answer), and one of another signature
fails every later run. The command line therefore stores entries through
:class:`KeyedEntries`: each file holds its key and the SHA-256 of its contents, so a
swapped, renamed, truncated or stale file is a miss (compiled again and rewritten), never
a program run in another's place. Files are written atomically (a temporary file renamed
into place). Where JAX's private cache hook is not there, the persistent cache stays off
(it only saves time).

Beside it, ``.../collapse_theory/jax-exported`` keeps the solver's traced programs
(:mod:`collapse_theory._core.exported_programs`), so that a repeated command also skips tracing
the solver in Python; ``COLLAPSE_THEORY_PROGRAM_CACHE=off`` turns that part off alone.

The library itself never switches either on at import (the compilation cache is JAX's
global configuration, the user's to set); the CLI does, and notebooks can call
:func:`enable_compilation_cache`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import jax

from collapse_theory._core import exported_programs as _exported_programs
from collapse_theory._core.io import atomic_path

__all__ = ["KeyedEntries", "cache_directory", "enable_compilation_cache", "program_directory"]

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
    directory = cache_directory()
    if directory is None:
        _exported_programs.enable(None)
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        _exported_programs.enable(None)
        return None
    jax.config.update("jax_compilation_cache_dir", str(directory))
    if not _install(KeyedEntries(directory)):
        jax.config.update("jax_compilation_cache_dir", None)
        _exported_programs.enable(None)
        return None
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    _exported_programs.enable(program_directory())
    return directory


#: The first line of every entry (with the format's version).
_ENTRY_MAGIC = b"collapse-theory compilation entry 1\n"
#: Entries' file suffix: JAX's own files (``-cache``) in a shared folder are never read as ours.
_ENTRY_SUFFIX = "-keyed"


class KeyedEntries:
    """A persistent store of compiled programs in which every file names its own key.

    A file is ``MAGIC``, the key, the SHA-256 of the value, and the value; :meth:`get` returns
    the value only when the key and the checksum match, so a file moved under another
    key's name, cut short or left by another format is a miss (with a warning), and :meth:`put`
    replaces it.

    Example:
        >>> import tempfile
        >>> entries = KeyedEntries(Path(tempfile.mkdtemp()))
        >>> entries.put("a", b"program a"); entries.put("b", b"program b")
        >>> (entries._path / "a-keyed").write_bytes((entries._path / "b-keyed").read_bytes()) > 0
        True
        >>> import warnings
        >>> with warnings.catch_warnings(record=True):
        ...     entries.get("a") is None, entries.get("b")
        (True, b'program b')
    """

    def __init__(self, directory: Path) -> None:
        self._path = Path(directory)

    def _file(self, key: str) -> Path:
        return self._path / f"{key}{_ENTRY_SUFFIX}"

    def get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or None (absent, or a file that is not ``key``'s whole entry)."""
        try:
            data = self._file(key).read_bytes()
        except OSError:
            return None
        header = _ENTRY_MAGIC + key.encode() + b"\n"
        digest, newline, value = data[len(header) :].partition(b"\n")
        if not data.startswith(header) or not newline or hashlib.sha256(value).hexdigest().encode() != digest:
            # JAX's wording for an unreadable entry, which the command line prints as one line
            warnings.warn(
                f"Error reading persistent compilation cache entry for '{key}': not this key's whole entry "
                "(damaged, renamed or left by another version); compiled again",
                UserWarning,
                stacklevel=2,
            )
            return None
        return value

    def put(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key`` atomically; a failure only loses the speed-up."""
        data = _ENTRY_MAGIC + key.encode() + b"\n" + hashlib.sha256(value).hexdigest().encode() + b"\n" + value
        with contextlib.suppress(OSError), atomic_path(self._file(key)) as temporary:
            temporary.write_bytes(data)

    def clear(self) -> None:
        """Nothing is kept in memory (JAX calls this when it resets its cache)."""


def _install(entries: KeyedEntries) -> bool:
    """Make ``entries`` JAX's persistent compilation cache (a private hook; False where it is missing)."""
    try:
        from jax._src import compilation_cache  # private: looked up here, where its absence is caught
    except ImportError:  # a JAX without the hook: no persistent cache rather than an unkeyed one
        return False
    if not all(hasattr(compilation_cache, name) for name in ("_cache", "_cache_initialized", "_cache_initialized_mutex")):
        return False
    adapter: Any = entries  # JAX calls get, put and reads _path: duck-typed, its interface allows no virtual subclass
    with compilation_cache._cache_initialized_mutex:
        compilation_cache._cache = adapter
        compilation_cache._cache_initialized = True
    return True
