"""`collapse-theory reproduce --quick`: every file, every verdict, determinism, interruptions (issue 5)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from collapse_theory import figures
from collapse_theory.cli import main
from collapse_theory.reproduction import FIGURES, reproduce


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("quick")
    assert main(["reproduce", "--quick", "--out", str(out)]) == 0  # exit 0 only when every claim passes
    return out


def test_quick_run_writes_every_figure_and_the_report(quick_run: Path) -> None:
    for name in FIGURES:
        for suffix in (".png", ".svg"):
            path = quick_run / f"{name}{suffix}"
            assert path.stat().st_size > 5_000, path
    assert (quick_run / "report.md").read_text().startswith("# Reproduction report")
    assert not list(quick_run.glob(".*.tmp")) and not list(quick_run.glob("*.tmp"))


def test_every_claim_of_the_quick_report_passes(quick_run: Path) -> None:
    report = json.loads((quick_run / "report.json").read_text())
    claims = report["claims"]
    assert len(claims) == 13  # Gauss-Lobatto, 5 convergence, cross-check, certified solves, 4 collapse, prompt-aware
    assert [c["verdict"] for c in claims] == ["PASS"] * len(claims)
    assert report["passed"] is True
    markdown = (quick_run / "report.md").read_text()
    assert markdown.count("**PASS**") == len(claims) and "**FAIL**" not in markdown
    assert report["environment"]["versions"]["jax"]


def test_rerun_from_the_cache_gives_an_identical_report(quick_run: Path, tmp_path: Path) -> None:
    shutil.copytree(quick_run / ".cache", tmp_path / ".cache")
    reproduce(tmp_path, quick=True, stream=None)
    assert (tmp_path / "report.json").read_bytes() == (quick_run / "report.json").read_bytes()
    assert (tmp_path / "report.md").read_bytes() == (quick_run / "report.md").read_bytes()


def test_an_interrupted_run_leaves_no_half_written_file_and_a_rerun_finishes(
    quick_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(quick_run / ".cache", tmp_path / ".cache")

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(figures, "family_map", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reproduce(tmp_path, quick=True, stream=None)
    assert not (tmp_path / "report.md").exists() and not (tmp_path / "report.json").exists()
    assert not (tmp_path / "family_map.png").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    result = reproduce(tmp_path, quick=True, stream=None)
    assert result.passed
    assert (tmp_path / "report.json").read_bytes() == (quick_run / "report.json").read_bytes()


def test_a_bad_seed_is_one_line_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "--seed", "-3", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "seed" in error[0]
    assert not (tmp_path / "out").exists()


# --- the cache (issue "Reliability"): damaged entries, code version, --force ---------------------


def _steps(out: Path, stream: object = None) -> object:
    from collapse_theory.reproduction import Settings, _Steps

    return _Steps(out, Settings.make(True, 0), stream)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated by a crash or a full disk
        lambda text: "\x00\x01 not json",
        lambda text: '{"valid": "json", "but": "not an entry"}',
        lambda text: "[1, 2, 3]",
    ],
)
def test_a_damaged_cache_entry_is_discarded_and_recomputed_with_a_warning(tmp_path: Path, damage: object) -> None:
    import io

    calls = []

    def compute() -> dict[str, object]:
        calls.append(1)
        return {"answer": [1.0, 2.0]}

    steps = _steps(tmp_path)
    assert steps.run("step", 1, 1, compute) == {"answer": [1.0, 2.0]}  # type: ignore[attr-defined]
    (entry,) = (tmp_path / ".cache").glob("step-*.json")
    entry.write_text(damage(entry.read_text()))  # type: ignore[operator]
    stream = io.StringIO()
    assert _steps(tmp_path, stream).run("step", 1, 1, compute) == {"answer": [1.0, 2.0]}  # type: ignore[attr-defined]
    assert len(calls) == 2
    warning = [line for line in stream.getvalue().splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and str(entry) in warning[0] and "recomputing step" in warning[0]
    assert json.loads(entry.read_text())["value"] == {"answer": [1.0, 2.0]}  # rewritten whole
    assert _steps(tmp_path).run("step", 1, 1, compute) == {"answer": [1.0, 2.0]}  # type: ignore[attr-defined]
    assert len(calls) == 2  # and read back from then on


def test_a_damaged_cache_entry_warns_even_when_the_run_is_silent(tmp_path: Path) -> None:
    steps = _steps(tmp_path)
    steps.run("step", 1, 1, lambda: 1)  # type: ignore[attr-defined]
    (entry,) = (tmp_path / ".cache").glob("step-*.json")
    entry.write_text("{")
    with pytest.warns(RuntimeWarning, match="damaged cache entry"):
        assert _steps(tmp_path).run("step", 1, 1, lambda: 1) == 1  # type: ignore[attr-defined]


def test_the_cache_key_includes_the_code_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import collapse_theory
    import collapse_theory.reproduction as library

    settings = library.Settings.make(True, 0)
    version = library.code_version()
    assert version.startswith(collapse_theory.__version__ + "+")
    before = settings.key()
    monkeypatch.setattr(library, "code_version", lambda: version + "-edited")  # an edited library
    assert settings.key() != before


def test_the_code_version_hashes_the_library_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import collapse_theory.reproduction as library

    package = tmp_path / "package"
    package.mkdir()
    (package / "reproduce.py").write_text("x = 1\n")
    monkeypatch.setattr(library, "__file__", str(package / "reproduce.py"))
    library.code_version.cache_clear()
    try:
        first = library.code_version()
        (package / "solver.py").write_text("y = 2\n")
        library.code_version.cache_clear()
        assert library.code_version() != first
    finally:
        monkeypatch.undo()
        library.code_version.cache_clear()


def test_reproduce_force_ignores_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import collapse_theory.reproduction as library

    steps = _steps(tmp_path)
    steps.run("step", 1, 1, lambda: 1)  # type: ignore[attr-defined]
    assert list((tmp_path / ".cache").glob("step-*.json"))
    seen = []

    def fake_reproduce(out: Path, **kwargs: object) -> library.Reproduction:
        seen.append(sorted(p.name for p in (Path(out) / ".cache").glob("*.json")))
        return library.Reproduction(Path(out), (), ())

    monkeypatch.setattr(library, "reproduce", fake_reproduce)
    assert main(["reproduce", "--quick", "--out", str(tmp_path)]) == 0
    assert seen[-1] != []  # without --force the cache is used
    assert main(["reproduce", "--quick", "--force", "--out", str(tmp_path)]) == 0
    assert seen[-1] == []  # with --force every step is recomputed
