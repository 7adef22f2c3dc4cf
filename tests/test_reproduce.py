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
