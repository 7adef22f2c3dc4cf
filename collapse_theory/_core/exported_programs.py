"""Traced programs kept on disk (``jax.export``), so that a repeated command skips Python's tracing.

JAX's persistent compilation cache (:mod:`collapse_theory._core.compilation_cache`) stores
compiled executables keyed by the lowered program, so every process still traces the
solver in Python and lowers it to StableHLO before it can look the executable up: about
a second for the solver's program, a third of a short command. This store keeps the
lowered program itself: the first process exports it (``jax.export``: the StableHLO of
the traced function) and writes its bytes here; a later process reads them, and calling
them lowers only a call of that module, whose compilation then hits the persistent cache.

It is switched on with the persistent cache (:func:`enable`, called by
:func:`~collapse_theory._core.compilation_cache.enable_compilation_cache`, which the command
line calls), in ``$XDG_CACHE_HOME/collapse_theory/jax-exported``;
``COLLAPSE_THEORY_PROGRAM_CACHE=off`` turns it off alone, ``COLLAPSE_THEORY_COMPILATION_CACHE=off``
with the rest. Deleting the folder is always safe.

Safety:

* **Key.** A file's name is a hash of everything the traced program depends on: the
  program's name and static arguments, the shapes and dtypes of its arguments, the x64
  flag, every JAX setting except those of caching and logging, the JAX and jaxlib
  versions, the platform and device kind, this package's version and the text of its
  modules (an edited solver never meets a program traced from the old one).
* **Integrity.** A file holds a header (the key, the module's SHA-256, the metadata
  ``jax.export`` needs to call it) and the module bytes. A file that cannot be read, has
  another key or a wrong checksum is ignored and written again.
* **Atomic writes.** A file is written under a temporary name in the same folder and
  renamed into place, so a reader (or a second writer) sees either a whole file or none.
* **Programs that cannot be stored** (``jax.export`` refuses them, or they have effects)
  are called through their plain ``jax.jit``; a file saying so spares later processes
  the attempt.
* **The same numbers.** The stored module is the program a cold process traces and
  exports itself; a process calls the exported module whether it traced it or read it,
  and XLA compiles the same module either way. Its answers are those of the plain
  ``jax.jit`` too (``tests/test_compilation_cache.py`` compares the command's output
  with the store cold, warm and off).

The file format is this module's own, not ``Exported.serialize`` (which needs the optional
``flatbuffers`` package): the module bytes and the few fields of :class:`jax.export.Exported`
that differ between programs of one signature. The other fields are taken from a trivial
program of the same signature exported in the reading process, so they are always the
running JAX's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
from jax import export

from collapse_theory._core.io import atomic_path
from collapse_theory._core.version import PACKAGE_ROOT, __version__

__all__ = ["directory", "enable", "program"]

#: The first line of every file (with the format's version).
_MAGIC = b"collapse-theory exported program 1\n"

#: JAX settings left out of the key: where and whether things are cached or logged.
_UNKEYED_PREFIXES = (
    "jax_compilation_cache",
    "jax_persistent_cache",
    "jax_enable_compilation_cache",
    "jax_raise_persistent_cache_errors",
    "jax_log_compiles",
    "jax_explain_cache_misses",
    "jax_logging_level",
    "jax_debug_log_modules",
    "jax_dump_ir",
)

#: What :func:`_read` returns for a program stored as one that cannot be exported.
_UNEXPORTABLE = object()

_directory: Path | None = None
#: Per process: the callable of each key, full or quick (None: that program could not be exported).
_programs: dict[Any, Callable[..., Any] | None] = {}
_source_digest: str | None = None


def enable(folder: Path | None) -> None:
    """Keep exported programs in ``folder`` (None: off)."""
    global _directory
    _directory = folder


def directory() -> Path | None:
    """The folder of the exported programs, or None while the store is off."""
    return _directory


def program(
    name: str,
    function: Callable[..., Any],
    static: Mapping[str, Any],
    arguments: Sequence[Any],
    compiler_options: Mapping[str, Any],
) -> Callable[..., Any] | None:
    """A jitted callable for ``function(*arguments)`` from its exported program, or None.

    ``function`` takes flat arrays and returns a tuple of arrays; ``static`` names whatever
    else it depends on (its static arguments, as reprs). The program is read from the store
    or, on a miss, exported and written there. None: the store is off (or ``jax.disable_jit``
    is on) or the program cannot be exported; the caller then calls its plain ``jax.jit``.
    """
    if _directory is None:
        return None
    config: Any = jax.config  # settings are attributes made at run time
    if config.jax_disable_jit:
        return None
    signature = tuple((tuple(getattr(a, "shape", ())), jax.dtypes.canonicalize_dtype(a.dtype)) for a in arguments)
    # within a process, a cheap key first: the full one costs a fraction of a small solve
    context = _trace_context()
    quick = None if context is None else (name, repr(sorted(static.items())), signature, context, repr(compiler_options))
    if quick is not None and quick in _programs:
        return _programs[quick]
    avals = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in signature]
    key = _key(name, static, avals, compiler_options)
    if key in _programs:
        return _programs[key]
    path = _directory / f"{name}-{key}.bin"
    exported = _read(path, key, avals)
    if exported is None:
        exported = _export(function, avals)
        # a program that cannot be exported is written as such: later processes do not try again
        _write(path, key, exported if exported is not None else _UNEXPORTABLE)
    elif exported is _UNEXPORTABLE:
        exported = None
    callable_ = None if exported is None else jax.jit(exported.call, compiler_options=dict(compiler_options))
    _programs[key] = callable_
    if quick is not None:
        _programs[quick] = callable_
    return callable_


def _trace_context() -> Any:
    """What ``jax.jit`` keys its own in-memory cache on (every setting that changes a trace), or None.

    A private JAX function, so only a shortcut: without it every call computes the full key.
    """
    try:
        from jax._src.config import trace_context  # private: looked up here, where its absence is caught

        return trace_context()
    except Exception:  # an older or newer JAX without it
        return None


# --- the key -----------------------------------------------------------------------


def _key(name: str, static: Mapping[str, Any], avals: Sequence[Any], compiler_options: Mapping[str, Any]) -> str:
    config: Any = jax.config
    device = jax.devices()[0]
    parts = {
        "magic": _MAGIC.decode(),
        "name": name,
        "static": {key: repr(value) for key, value in static.items()},
        "arguments": [[list(a.shape), str(a.dtype)] for a in avals],
        "x64": bool(config.jax_enable_x64),
        "settings": _settings(),
        "compiler_options": {key: repr(value) for key, value in compiler_options.items()},
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "platform": [device.platform, device.device_kind],
        "package": __version__,
        "source": _source(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _settings() -> dict[str, str]:
    """Every JAX setting (its value in force here) but those of caching and logging."""
    values = jax.config.values
    return {
        name: repr(getattr(jax.config, name, values[name])) for name in sorted(values) if not name.startswith(_UNKEYED_PREFIXES)
    }


def _source() -> str:
    """SHA-256 of this package's modules (their text), once per process."""
    global _source_digest
    if _source_digest is None:
        digest = hashlib.sha256()
        for path in sorted(PACKAGE_ROOT.rglob("*.py")):
            digest.update(str(path.relative_to(PACKAGE_ROOT)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        _source_digest = digest.hexdigest()
    return _source_digest


# --- export, write, read -----------------------------------------------------------


def _platform() -> str:
    return jax.devices()[0].platform


def _export(function: Callable[..., Any], avals: Sequence[Any]) -> Any:
    """``function`` exported for this platform, or None where it cannot be stored."""
    try:
        exported = export.export(jax.jit(function), platforms=(_platform(),))(*avals)
    except Exception:  # a program that cannot be exported is called the plain way
        return None
    storable = not (
        exported.ordered_effects
        or exported.unordered_effects
        or exported.uses_global_constants
        or exported.disabled_safety_checks
    )
    return exported if storable else None


def _header(key: str, exported: Any) -> dict[str, Any]:
    if exported is _UNEXPORTABLE:
        return {"key": key, "sha256": hashlib.sha256(b"").hexdigest(), "exportable": False}
    return {
        "key": key,
        "sha256": hashlib.sha256(exported.mlir_module_serialized).hexdigest(),
        "fun_name": exported.fun_name,
        "module_kept_var_idx": list(exported.module_kept_var_idx),
        "out_avals": [[list(a.shape), str(a.dtype)] for a in exported.out_avals],
        "calling_convention_version": exported.calling_convention_version,
        "platforms": list(exported.platforms),
        "nr_devices": exported.nr_devices,
    }


def _write(path: Path, key: str, exported: Any) -> None:
    """Write atomically (a temporary file renamed into place); a failure only loses the speed-up."""
    module = b"" if exported is _UNEXPORTABLE else bytes(exported.mlir_module_serialized)
    data = _MAGIC + json.dumps(_header(key, exported)).encode() + b"\n" + module
    with contextlib.suppress(OSError), atomic_path(path) as temporary:
        temporary.write_bytes(data)


def _read(path: Path, key: str, avals: Sequence[Any]) -> Any:
    """The stored program of ``key``, :data:`_UNEXPORTABLE`, or None (no file, or one not whole and right)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        if not data.startswith(_MAGIC):
            return None
        header_line, module = data[len(_MAGIC) :].split(b"\n", 1)
        header = json.loads(header_line)
        if header["key"] != key or hashlib.sha256(module).hexdigest() != header["sha256"]:
            return None
        if header.get("exportable", True) is False:
            return _UNEXPORTABLE
        template = _template(avals, [(tuple(shape), np.dtype(dtype)) for shape, dtype in header["out_avals"]])
        if (
            template.calling_convention_version != header["calling_convention_version"]
            or list(template.platforms) != header["platforms"]
            or template.nr_devices != header["nr_devices"]
        ):
            return None
        return dataclasses.replace(
            template,
            fun_name=str(header["fun_name"]),
            mlir_module_serialized=module,
            module_kept_var_idx=tuple(int(i) for i in header["module_kept_var_idx"]),
        )
    except Exception:  # a damaged file is a miss: it is exported and written again
        return None


def _template(avals: Sequence[Any], outputs: Sequence[tuple[tuple[int, ...], Any]]) -> Any:
    """An exported trivial program of the given signature: the fields every such program shares."""

    def zeros(*arguments: Any) -> tuple[Any, ...]:
        return tuple(jnp.zeros(shape, dtype) for shape, dtype in outputs)

    return export.export(jax.jit(zeros), platforms=(_platform(),))(*avals)
