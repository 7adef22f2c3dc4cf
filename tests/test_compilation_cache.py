"""The command line's caches: where they live, the off switches, damaged and concurrent files.

Speed is shown in ``benchmarks/first_answer.py``, not tested here; these tests check that
the caches never change an answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.stats

from collapse_theory import solve
from collapse_theory._core import compilation_cache as _compilation_cache
from collapse_theory._core import exported_programs as _exported_programs
from collapse_theory.laws.law import _UnitLaw

ROOT = Path(__file__).resolve().parents[1]
#: One compiled program (the built-in switch, padded size 16) for every problem here.
SOLVE = ["solve", "--utility", "log", "--utility", "log-sigmoid:4", "--n", "8", "--n", "33", "--format", "json"]


def _cli(cache_home: Path, *, wait: bool = True, **variables: str) -> Any:
    """``collapse-theory SOLVE`` in a fresh process with ``XDG_CACHE_HOME=cache_home``.

    The JAX compilation cache stays the suite's (``JAX_COMPILATION_CACHE_DIR``, set by
    conftest), so only the exported programs start cold. The process also reports whether
    the command imported scipy.stats or matplotlib (it needs neither).
    """
    script = textwrap.dedent(f"""
        import sys
        from collapse_theory.cli import main
        code = main({SOLVE!r})
        print("heavy modules:", [m for m in ("scipy.stats", "matplotlib") if m in sys.modules], file=sys.stderr)
        sys.exit(code)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(cache_home), **variables}
    process = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return _finish(process) if wait else process


def _finish(process: Any) -> list[dict[str, Any]]:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert "heavy modules: []" in err, err
    records = json.loads(out)
    for record in records:
        record.pop("seconds")  # wall time, the one field allowed to differ
    return records


def _stored(cache_home: Path) -> list[Path]:
    return sorted((cache_home / "collapse_theory" / "jax-exported").iterdir())


def _whole_key(path: Path) -> str:
    """The key of a stored program, checked to be whole (its module's checksum matches)."""
    data = path.read_bytes()
    assert data.startswith(_exported_programs._MAGIC)
    header_line, module = data[len(_exported_programs._MAGIC) :].split(b"\n", 1)
    header = json.loads(header_line)
    assert hashlib.sha256(module).hexdigest() == header["sha256"]
    return str(header["key"])


def test_directories_honour_xdg_cache_home_and_the_off_switches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in ("JAX_COMPILATION_CACHE_DIR", "COLLAPSE_THEORY_COMPILATION_CACHE", "COLLAPSE_THEORY_PROGRAM_CACHE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _compilation_cache.cache_directory() == tmp_path / "collapse_theory" / "jax-compilation"
    assert _compilation_cache.program_directory() == tmp_path / "collapse_theory" / "jax-exported"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert _compilation_cache.program_directory() == Path.home() / ".cache" / "collapse_theory" / "jax-exported"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))
    assert _compilation_cache.cache_directory() == tmp_path / "jax"
    monkeypatch.setenv("COLLAPSE_THEORY_PROGRAM_CACHE", "off")
    assert _compilation_cache.program_directory() is None
    assert _compilation_cache.cache_directory() == tmp_path / "jax"
    monkeypatch.delenv("COLLAPSE_THEORY_PROGRAM_CACHE")
    monkeypatch.setenv("COLLAPSE_THEORY_COMPILATION_CACHE", "OFF")
    assert _compilation_cache.cache_directory() is None and _compilation_cache.program_directory() is None
    monkeypatch.setattr(_exported_programs, "_directory", tmp_path)  # restored after the test
    assert _compilation_cache.enable_compilation_cache() is None
    assert _exported_programs.directory() is None


def test_a_stored_program_computes_what_its_function_does(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import jax
    import jax.numpy as jnp

    monkeypatch.setattr(_exported_programs, "_directory", tmp_path)
    monkeypatch.setattr(_exported_programs, "_programs", {})

    def function(x: Any, y: Any) -> tuple[Any, ...]:
        return (jnp.cumsum(x) * y, jnp.sin(x))

    x, y = np.linspace(0.0, 1.0, 5), np.float32(3.0)
    program = _exported_programs.program("test", function, {}, [x, y], {})
    assert program is not None
    (stored,) = sorted(tmp_path.iterdir())
    monkeypatch.setattr(_exported_programs, "_programs", {})  # a new process: read, not traced
    export = _exported_programs._export
    monkeypatch.setattr(_exported_programs, "_export", lambda *_: pytest.fail("exported again"))
    again = _exported_programs.program("test", function, {}, [x, y], {})
    monkeypatch.setattr(_exported_programs, "_export", export)
    assert again is not None
    expected = jax.jit(function)(x, y)
    for got in (program(x, y), again(x, y)):
        assert all(np.asarray(a).tobytes() == np.asarray(b).tobytes() for a, b in zip(got, expected, strict=True))
    # another shape, dtype or static argument is another program
    _exported_programs.program("test", function, {"option": 1}, [x, y], {})
    _exported_programs.program("test", function, {}, [x[:4], y], {})
    assert len(list(tmp_path.iterdir())) == 3 and stored.exists()


def test_a_program_that_cannot_be_stored_is_called_the_plain_way(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import jax

    monkeypatch.setattr(_exported_programs, "_directory", tmp_path)
    monkeypatch.setattr(_exported_programs, "_programs", {})

    def with_effect(x: Any) -> tuple[Any, ...]:
        jax.debug.callback(lambda value: None, x)  # an effect: not stored
        return (x + 1.0,)

    assert _exported_programs.program("effect", with_effect, {}, [np.zeros(3)], {}) is None
    assert len(list(tmp_path.iterdir())) == 1  # the file saying so
    monkeypatch.setattr(_exported_programs, "_programs", {})  # a new process does not try again
    monkeypatch.setattr(_exported_programs, "_export", lambda *_: pytest.fail("tried again"))
    assert _exported_programs.program("effect", with_effect, {}, [np.zeros(3)], {}) is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # cut short (a crash while writing, without the rename)
        lambda data: data[:-100] + bytes(100),  # module bytes changed: the checksum no longer matches
        lambda data: b"not a program",
        lambda data: b"",
    ],
)
def test_a_damaged_stored_program_is_ignored_and_written_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, damage: Any
) -> None:
    monkeypatch.setattr(_exported_programs, "_directory", tmp_path)
    monkeypatch.setattr(_exported_programs, "_programs", {})
    expected = solve("log", 8)
    (path,) = sorted(tmp_path.iterdir())
    key = _whole_key(path)
    path.write_bytes(damage(path.read_bytes()))
    monkeypatch.setattr(_exported_programs, "_programs", {})  # a new process: read the file again
    again = solve("log", 8)
    assert again.rewards.tobytes() == expected.rewards.tobytes()
    assert (again.objective, again.gap, again.status) == (expected.objective, expected.gap, expected.status)
    # written again, whole (the module's bytes may differ: they record where it was traced from)
    assert sorted(tmp_path.iterdir()) == [path] and _whole_key(path) == key


def test_concurrent_cold_commands_agree_with_a_warm_one_and_with_no_cache(tmp_path: Path) -> None:
    # two processes trace, export and write the same program at once: both files whole
    first, second = (_cli(tmp_path, wait=False) for _ in range(2))
    cold = [_finish(first), _finish(second)]
    (stored,) = _stored(tmp_path)  # one program, no temporary file left behind
    _whole_key(stored)
    warm = _cli(tmp_path)
    assert _stored(tmp_path) == [stored]
    plain = _cli(tmp_path / "unused", COLLAPSE_THEORY_PROGRAM_CACHE="off")  # traced by jax.jit, as the library does
    assert not (tmp_path / "unused" / "collapse_theory" / "jax-exported").exists()
    assert cold[0] == cold[1] == warm == plain  # every number, to the last digit


def test_unit_law_cdf_is_scipys_to_the_last_digit() -> None:
    points = np.concatenate(
        [np.linspace(-0.5, 1.5, 2001), [0.0, -0.0, 1.0, 5e-324, np.nextafter(1.0, 0.0), np.inf, -np.inf, np.nan]]
    )
    for a, b in [(0.5, 0.5), (0.25, 0.25), (2.0, 2.0), (0.1, 3.0)]:
        for x in (points, 0.3, 1.0, np.nan):
            got, want = _UnitLaw("beta", a, b).cdf(x), scipy.stats.beta(a, b).cdf(x)
            assert np.array_equal(got, want, equal_nan=True) and np.shape(got) == np.shape(want)
    assert np.array_equal(_UnitLaw("uniform", 0.0, 1.0).cdf(points), scipy.stats.uniform(0.0, 1.0).cdf(points), equal_nan=True)
    assert _UnitLaw("beta", 0.5, 0.5).mean() == scipy.stats.beta(0.5, 0.5).mean()  # the rest is scipy's own
